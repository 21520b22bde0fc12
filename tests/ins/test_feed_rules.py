"""Feed rules a GAM relies on: one IPP per patient, merged records closed, MSH checked,
HL7 null and escapes, resent merges, the status a message without PID-32 leaves."""

from __future__ import annotations

from typing import Any

import pytest

from socle.ins import index as X
from socle.ins import model as M
from socle.ins.hl7feed import handle
from tests.ins.conftest import nir

H1, H2 = "urn:oid:1.2.250.1.999.41", "urn:oid:1.2.250.1.999.42"


def _msh(event: str, control: str, *, version: str = "2.5", processing: str = "P") -> str:
    structure = {"A40": "ADT_A39", "A47": "ADT_A30", "A01": "ADT_A01", "A03": "ADT_A03"}
    return (
        f"MSH|^~\\&|GAM|HOSP|EAI|CHU|20250102120000||ADT^{event}^"
        f"{structure.get(event, 'ADT_A05')}|{control}|{processing}|{version}"
    )


def _send(engine, tenant: str, *segments: str) -> str:  # noqa: ANN001
    return handle(engine, tenant, ("\r".join(segments) + "\r").encode(), "127.0.0.1").ack.decode()


def _pid(ipp: str, system: str = "1.2.250.1.999.41", rest: str = "") -> str:
    return f"PID|||{ipp}^^^H&{system}&ISO^PI||DURAND^LUC^^^^^L||19800101|M{rest}"


def _fields(**values: str) -> str:
    """A PID segment from its fields by number (f3="…", f32="…")."""
    top = max(int(k[1:]) for k in values)
    return "|".join(["PID"] + [values.get(f"f{n}", "") for n in range(1, top + 1)])


def _patient(engine, tenant: str, system: str, value: str) -> tuple[str, dict[str, Any]]:  # noqa: ANN001
    with engine.store.session(tenant) as s:
        found = X.resource_by_identifier(s, "Patient", [(system, value)])
    assert found is not None
    return found


def _holders(client, system: str, value: str) -> int:  # noqa: ANN001
    return client.get("/fhir/Patient", params={"identifier": f"{system}|{value}"}).json()["total"]


def test_pid3_naming_two_patients_is_refused(ins_engine, tenant, ins_client) -> None:  # noqa: ANN001
    assert "MSA|AA|" in _send(ins_engine, tenant, _msh("A28", "d1"), _pid("DA"))
    other = "PID|||DB^^^H2&1.2.250.1.999.42&ISO^PI||MOREAU^ANNE^^^^^L||19700101|F"
    assert "MSA|AA|" in _send(ins_engine, tenant, _msh("A28", "d2"), other)
    both = _pid("DA").replace("^PI||", "^PI~DB^^^H2&1.2.250.1.999.42&ISO^PI||")
    ack = _send(ins_engine, tenant, _msh("A31", "d3"), both)
    assert "MSA|AE|d3" in ack and "|205^" in ack
    assert _holders(ins_client, H2, "DB") == 1


def test_merged_patient_takes_no_more_messages(ins_engine, tenant) -> None:  # noqa: ANN001
    _send(ins_engine, tenant, _msh("A28", "m1"), _pid("MS"))
    _send(ins_engine, tenant, _msh("A28", "m2"), _pid("MT"))
    mrg = "MRG|MS^^^H&1.2.250.1.999.41&ISO^PI"
    assert "MSA|AA|m3" in _send(ins_engine, tenant, _msh("A40", "m3"), _pid("MT"), mrg)
    source_id, before = _patient(ins_engine, tenant, H1, "MS")
    update = _pid("MS").replace("LUC", "LUCIEN")
    ack = _send(ins_engine, tenant, _msh("A31", "m4"), update)
    assert "MSA|AE|m4" in ack and "merged into Patient/" in ack
    admission = "PV1|1|I|||||||||||||||||V9^^^H&1.2.250.1.999.41&ISO^VN"
    assert "MSA|AE|m5" in _send(ins_engine, tenant, _msh("A01", "m5"), _pid("MS"), admission)
    assert _patient(ins_engine, tenant, H1, "MS")[1]["meta"] == before["meta"]
    # the same A40 sent again (its ACK was lost): accepted, nothing changes
    assert "MSA|AA|m6" in _send(ins_engine, tenant, _msh("A40", "m6"), _pid("MT"), mrg)
    assert _patient(ins_engine, tenant, H1, "MS")[1]["meta"] == before["meta"]


def test_resent_a47_is_accepted_unchanged(ins_engine, tenant) -> None:  # noqa: ANN001
    _send(ins_engine, tenant, _msh("A28", "r1"), _pid("R-OLD"))
    a47 = (_msh("A47", "r2"), _pid("R-NEW"), "MRG|R-OLD^^^H&1.2.250.1.999.41&ISO^PI")
    assert "MSA|AA|" in _send(ins_engine, tenant, *a47)
    version = _patient(ins_engine, tenant, H1, "R-NEW")[1]["meta"]["versionId"]
    assert "MSA|AA|" in _send(ins_engine, tenant, *a47)
    assert _patient(ins_engine, tenant, H1, "R-NEW")[1]["meta"]["versionId"] == version


@pytest.mark.parametrize(
    ("msh", "answer"),
    [
        (_msh("A28", ""), "AE|"),  # a format error: AE (HL7 v2.5 2.9.2)
        (_msh("A28", "v1", version="9.9"), "AR|v1"),  # MSH-9/11/12 not accepted: AR
        (_msh("A28", "v2", version=""), "AR|v2"),
        (_msh("A28", "v3", processing="X"), "AR|v3"),
    ],
)
def test_msh_fields_are_checked(ins_engine, tenant, msh: str, answer: str) -> None:  # noqa: ANN001
    code = {"AE|": "101", "AR|v1": "203", "AR|v2": "101", "AR|v3": "202"}[answer]
    ack = _send(ins_engine, tenant, msh, _pid("V0"))
    assert f"MSA|{answer}|" in ack and f"|{code}^" in ack


def test_nak_after_a_readable_msh_names_the_message(ins_engine, tenant) -> None:  # noqa: ANN001
    ack = _send(ins_engine, tenant, _msh("A28", "KNOWN"), "pv1|1|N")
    msh, msa, err = ack.split("\r")[:3]
    assert msa.startswith("MSA|AE|KNOWN|")  # a format error: AE, at the bad segment
    assert err.startswith("ERR||pv1^1|100^")
    # the ACK answers from the receiver the message named, to its sender
    assert msh.startswith("MSH|^~\\&|EAI|CHU|GAM|HOSP|")
    latin = _msh("A28", "ASC") + "|||||FRA|ASCII\r" + _pid("V1").replace("LUC", "LÉO")
    ack = handle(ins_engine, tenant, latin.encode("latin-1"), None).ack.decode()
    assert "MSA|AE|ASC|" in ack and "ERR||MSH^1^18|102^" in ack


def test_ack_control_ids_are_unique(ins_engine, tenant) -> None:  # noqa: ANN001
    acks = [_send(ins_engine, tenant, _msh("A28", "u1"), "bad|") for _ in range(3)]
    assert len({a.split("\r")[0].split("|")[9] for a in acks}) == 3


def test_escapes_spaces_and_null_in_pid(ins_engine, tenant) -> None:  # noqa: ANN001
    ins = nir("male", 1980, 1)
    spaced = f"{ins[0]} {ins[1:3]} {ins[3:]}"
    pid = _fields(
        f3=f"X1\\T\\2^^^H&1.2.250.1.999.41&ISO^PI~{spaced}^^^ASIP-SANTE-INS-NIR&"
        "1.2.250.1.213.1.4.8&ISO^INS",
        f5="DURAND^LUC^LUC^^^^L",
        f7="19800101",
        f8="M",
        f11="1 RUE A^^RENNES^^35000^FRA^H",
        f13="0299999999^PRN^PH~^NET^Internet^luc@example.org",
        f29='""',
        f32="PROV",
    )
    assert "MSA|AA|" in _send(ins_engine, tenant, _msh("A28", "n1"), pid)
    _, patient = _patient(ins_engine, tenant, H1, "X1&2")
    assert any(i["value"] == ins for i in patient["identifier"])
    assert patient["address"][0]["city"] == "RENNES" and patient["address"][0]["use"] == "home"
    assert {c["system"]: c["value"] for c in patient["telecom"]} == {
        "phone": "0299999999",
        "email": "luc@example.org",
    }
    nulls = '||DURAND^LUC^^^^^L||""|M'
    ack = _send(
        ins_engine, tenant, _msh("A28", "n2"), f"PID|||N2^^^H&1.2.250.1.999.41&ISO^PI{nulls}"
    )
    assert "MSA|AE|n2" in ack and "ERR||PID^1^7|101^" in ack  # located at the missing field


def test_death_and_future_birth(ins_engine, tenant) -> None:  # noqa: ANN001
    dead = _pid("DD", rest="|||||||||||||||||||||20250101101500+0100|Y")
    assert "MSA|AA|" in _send(ins_engine, tenant, _msh("A31", "x1"), dead)
    assert _patient(ins_engine, tenant, H1, "DD")[1]["deceasedDateTime"].startswith("2025-01-01")
    future = _pid("DF").replace("19800101", "21000101")
    ack = _send(ins_engine, tenant, _msh("A28", "x2"), future)
    assert "MSA|AE|x2" in ack and "future" in ack


def test_discharge_before_admission_is_refused(ins_engine, tenant) -> None:  # noqa: ANN001
    pv1 = "PV1|1|I|||||||||||||||||V7^^^H&1.2.250.1.999.41&ISO^VN" + "|" * 25
    ack = _send(ins_engine, tenant, _msh("A03", "e1"), _pid("EE"), pv1 + "20240101100000|20231231")
    assert "MSA|AE|e1" in ack and "|102^" in ack


def test_statuses_and_ins_conflicts_in_one_message(ins_engine, tenant) -> None:  # noqa: ANN001
    two = _pid("TS", rest="||||||||||||||||||||||||VALI~PROV")
    assert "|103^" in _send(ins_engine, tenant, _msh("A28", "s1"), two)
    a, b = nir("male", 1980, 1, order=1), nir("male", 1980, 1, order=2)
    cx = "^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS"
    pid = f"PID|||TI^^^H&1.2.250.1.999.41&ISO^PI~{a}{cx}~{b}{cx}||DURAND^LUC^^^^^L||19800101|M"
    assert "|205^" in _send(ins_engine, tenant, _msh("A28", "s2"), pid)


def test_a08_without_pid32_keeps_the_status(ins_engine, tenant) -> None:  # noqa: ANN001
    ins = nir("male", 1980, 1, order=3)
    cx = f"~{ins}^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS"
    base = _fields(
        f3=f"KQ^^^H&1.2.250.1.999.41&ISO^PI{cx}",
        f5="DURAND^LUC^LUC^^^^L",
        f7="19800101",
        f8="M",
        f11="^^^^^^BDL^^35238",
    )
    assert "MSA|AA|" in _send(ins_engine, tenant, _msh("A28", "k1"), base + "|" * 21 + "QUAL")
    assert "MSA|AA|" in _send(ins_engine, tenant, _msh("A08", "k2"), base)
    _, patient = _patient(ins_engine, tenant, H1, "KQ")
    reliability = [e for e in patient["extension"] if e["url"] == M.EXT_RELIABILITY]
    assert reliability and M.read_identity(patient).status == M.QUAL
    # a strict trait changed without PID-32: the RNIV downgrade, the INS set aside
    assert "MSA|AA|" in _send(
        ins_engine, tenant, _msh("A08", "k3"), base.replace("LUC^LUC", "LUCAS^LUCAS")
    )
    _, patient = _patient(ins_engine, tenant, H1, "KQ")
    assert [i.get("use") for i in patient["identifier"] if i["value"] == ins] == ["old"]


def test_forwarded_messages_share_the_ins_only_when_qualified() -> None:
    from socle.ins.hl7feed import outgoing

    ins = nir("male", 1980, 1, order=4)
    cx = f"{ins}^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS"
    pid = _fields(f3=f"OQ^^^H&1.2.250.1.999.41&ISO^PI~{cx}", f5="HÉLÈNE^A^^^^^L", f32="{}")
    head = _msh("A28", "o1") + "|||||FRA|8859/1\r"
    qualified = (head + pid.format("QUAL") + "\r").encode("iso-8859-1")
    assert outgoing(qualified) is qualified
    for status in ("RECUP", "PROV", ""):
        sent = outgoing((head + pid.format(status) + "\r").encode("iso-8859-1")).decode("latin-1")
        assert ins not in sent and "OQ^^^H&1.2.250.1.999.41&ISO^PI|" in sent and "HÉLÈNE" in sent
    merge = (_msh("A40", "o2") + "\r" + _pid("OT") + f"\rMRG|{cx}~OS^^^H&1.2^PI\r").encode()
    assert ins not in outgoing(merge).decode() and "MRG|OS^^^H&1.2^PI" in outgoing(merge).decode()
    # a line feed inside a field is data: PID-32 after it still says whether to share
    lf = pid.replace("HÉLÈNE^A", "HÉLÈNE\nX^A")
    qualified = (head + lf.format("QUAL") + "\r").encode("iso-8859-1")
    assert outgoing(qualified) is qualified
    assert ins not in outgoing((head + lf.format("PROV") + "\r").encode()).decode()
    unix = (head + pid.format("PROV") + "\n").replace("\r", "\n").encode("iso-8859-1")
    assert ins not in outgoing(unix).decode("latin-1")


def test_forwarded_merge_never_shares_the_merged_records_ins() -> None:
    from socle.ins.hl7feed import outgoing

    kept, merged = nir("male", 1980, 1, order=5), nir("male", 1980, 1, order=6)
    cx = "^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS"
    pid = _fields(f3=f"OT^^^H&1.2^PI~{kept}{cx}", f5="A^B^^^^^L", f19=kept, f32="QUAL")
    sent = outgoing(f"{_msh('A40', 'o3')}\r{pid}\rMRG|{merged}{cx}~OS^^^H&1.2^PI\r".encode())
    text = sent.decode()
    assert merged not in text and f"{kept}{cx}" in text and f"|{kept}|" in text  # PID-19 kept
    unqualified = pid.replace("|QUAL", "|PROV")
    text = outgoing(f"{_msh('A31', 'o4')}\r{unqualified}\r".encode()).decode()
    assert kept not in text  # neither PID-3 nor PID-19


def _err(ack: str) -> list[str]:
    """The fields of the ACK's ERR segment."""
    return next(seg for seg in ack.split("\r") if seg.startswith("ERR|")).split("|")


def test_a_line_feed_inside_a_field_is_data(ins_engine, tenant) -> None:  # noqa: ANN001
    """HL7 ends a segment with <CR> only: the rest of PID after an LF in an address line
    is still PID (the birthplace and telecom after it are read)."""
    address = "12 RUE DE LA PAIX\nRESIDENCE LES PINS^^PARIS^^75002^FRA^H~^^^^^^BDL^^75102"
    pid = _fields(
        f3="LF1^^^H&1.2.250.1.999.41&ISO^PI",
        f5="LEFEBVRE^ANNE^ANNE^^^^L",
        f7="19700101",
        f8="F",
        f11=address,
        f13="0102030405^PRN^PH",
    )
    assert "MSA|AA|lf" in _send(ins_engine, tenant, _msh("A28", "lf"), pid)
    _, patient = _patient(ins_engine, tenant, H1, "LF1")
    assert patient["address"][0]["line"] == ["12 RUE DE LA PAIX\nRESIDENCE LES PINS"]
    assert M.read_identity(patient).birthplace == "75102"
    assert patient["telecom"] == [{"system": "phone", "value": "0102030405", "use": "home"}]


def test_one_message_per_block_and_bounded_repetitions(ins_engine, tenant, ins_client) -> None:  # noqa: ANN001
    two = _send(ins_engine, tenant, _msh("A28", "b1"), _pid("B1"), _msh("A28", "b2"), _pid("B2"))
    assert "MSA|AE|b1" in two and _err(two)[2:4] == ["MSH^1", "100^Segment sequence error^HL70357"]
    assert _holders(ins_client, H1, "B1") == _holders(ins_client, H1, "B2") == 0
    names = "~".join(["DURAND^LUC^^^^^L"] * 202)
    many = _send(
        ins_engine, tenant, _msh("A28", "b3"), _pid("B3").replace("DURAND^LUC^^^^^L", names)
    )
    assert "MSA|AE|b3" in many and "more than 200 repetitions" in many
    assert _holders(ins_client, H1, "B3") == 0


def test_content_refusals_name_their_code_and_field(ins_engine, tenant) -> None:  # noqa: ANN001
    """Table 0357 codes at the field (ERR-2 an ERL: segment^sequence^field), not 207."""
    ins = nir()
    wrong_key = ins[:13] + ("00" if ins[13:] != "00" else "01")
    nir_oid = "ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO"
    pid3 = f"Q1^^^H&1.2.250.1.999.41&ISO^PI~{wrong_key}^^^{nir_oid}^INS"
    bad_key = _fields(f3=pid3, f5="MOREAU^ANNE^ANNE^^^^L", f7="19850307", f8="F", f32="RECUP")
    ack = _send(ins_engine, tenant, _msh("A28", "q1"), bad_key)
    assert "MSA|AE|q1" in ack and _err(ack)[2:4] == ["PID^1^3", "102^Data type error^HL70357"]
    no_ins = _fields(
        f3="Q2^^^H&1.2.250.1.999.41&ISO^PI",
        f5="MOREAU^ANNE^ANNE^^^^L",
        f7="19850307",
        f8="F",
        f11="^^^^^^BDL^^35238",
        f32="QUAL",
    )
    ack = _send(ins_engine, tenant, _msh("A28", "q2"), no_ins)
    assert "MSA|AE|q2" in ack and _err(ack)[2:4] == [
        "PID^1^3",
        "101^Required field missing^HL70357",
    ]
    stay = "PV1|1|I|||||||||||||||||VQ^^^H&1.2.250.1.999.41&ISO^VN"
    assert "MSA|AA|q3" in _send(ins_engine, tenant, _msh("A01", "q3"), _pid("Q3"), stay)
    ack = _send(ins_engine, tenant, _msh("A01", "q4"), _pid("Q4"), stay)  # another's stay
    assert "MSA|AE|q4" in ack and _err(ack)[2:4] == [
        "PV1^1^19",
        "205^Duplicate key identifier^HL70357",
    ]
    ack = _send(ins_engine, tenant, _msh("A01", "q5"), _pid("Q5"), "PV1|1|I")
    assert "MSA|AE|q5" in ack and _err(ack)[2:4] == [
        "PV1^1^19",
        "101^Required field missing^HL70357",
    ]
    ack = _send(ins_engine, tenant, _msh("A28", "q6"), _pid("Q6"), "Z|^|x")
    assert "MSA|AE|q6" in ack and _err(ack)[2:4] == [
        "Z\\F\\\\S\\^1",
        "100^Segment sequence error^HL70357",
    ]


def test_a40_merges_every_patient_group_or_none(ins_engine, tenant) -> None:  # noqa: ANN001
    for n, ipp in enumerate(("G1", "G2", "G3", "G4", "G5")):
        assert "MSA|AA|" in _send(ins_engine, tenant, _msh("A28", f"g{n}"), _pid(ipp))

    def mrg(ipp: str) -> str:
        return f"MRG|{ipp}^^^H&1.2.250.1.999.41&ISO^PI"

    unknown = (_msh("A40", "g5"), _pid("G1"), mrg("G2"), _pid("G3"), mrg("NOBODY"))
    ack = _send(ins_engine, tenant, *unknown)
    assert "MSA|AE|g5" in ack and "|204^" in ack
    assert "link" not in _patient(ins_engine, tenant, H1, "G2")[1]  # the first group too
    both = (_msh("A40", "g6"), _pid("G1"), mrg("G2"), _pid("G3"), mrg("G4"))
    assert "MSA|AA|g6" in _send(ins_engine, tenant, *both)
    for source, target in (("G2", "G1"), ("G4", "G3")):
        survivor = _patient(ins_engine, tenant, H1, target)[0]
        links = _patient(ins_engine, tenant, H1, source)[1]["link"]
        assert links[0]["type"] == "replaced-by"
        assert links[0]["other"]["reference"] == f"Patient/{survivor}"
    lone = _send(ins_engine, tenant, _msh("A40", "g7"), _pid("G5"), mrg("G1"), _pid("G3"))
    assert "MSA|AE|g7" in lone and "group 2 has no MRG" in lone


def test_a_validated_identity_has_a_sex_of_the_ins(ins_engine, tenant) -> None:  # noqa: ANN001
    """The INS sex is the NIR's digit (1 or 2): PID-8 O (other) or U cannot be validated."""

    def vali(ipp: str, sex: str) -> str:
        return _fields(
            f3=f"{ipp}^^^H&1.2.250.1.999.41&ISO^PI",
            f5="MOREAU^ANNE^ANNE^^^^L",
            f7="19850307",
            f8=sex,
            f11="^^^^^^BDL^^35238",
            f32="VALI",
        )

    assert "MSA|AA|s1" in _send(ins_engine, tenant, _msh("A28", "s1"), vali("S1", "F"))
    for control, sex in (("s2", "O"), ("s3", "U")):
        ack = _send(ins_engine, tenant, _msh("A28", control), vali(control.upper(), sex))
        assert f"MSA|AE|{control}" in ack
        assert _err(ack)[2:4] == ["PID^1^8", "101^Required field missing^HL70357"]


def test_a28_at_recup_records_its_first_status(ins_engine, tenant, ins_client) -> None:  # noqa: ANN001
    """An identity created by the feed with a status other than provisoire: its first
    status is a recorded transition (Provenance, AuditEvent), as every later change is."""
    ins = nir(order=61)
    pid3 = f"R1^^^H&1.2.250.1.999.41&ISO^PI~{ins}^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS"
    recup = _fields(
        f3=pid3,
        f5="MOREAU^ANNE^ANNE^^^^L",
        f7="19850307",
        f8="F",
        f11="^^^^^^BDL^^35238",
        f32="RECUP",
    )
    assert "MSA|AA|rc" in _send(ins_engine, tenant, _msh("A28", "rc"), recup)
    pid, _ = _patient(ins_engine, tenant, H1, "R1")
    provs = ins_client.get("/fhir/Provenance", params={"target": f"Patient/{pid}"}).json()
    assert [e["resource"]["activity"]["text"] for e in provs["entry"]] == ["new -> RECUP"]
    assert "MSA|AA|pv" in _send(ins_engine, tenant, _msh("A28", "pv"), _pid("R2"))
    pid2, _ = _patient(ins_engine, tenant, H1, "R2")
    none = ins_client.get("/fhir/Provenance", params={"target": f"Patient/{pid2}"}).json()
    assert none["total"] == 0  # provisoire: nothing to record


def test_a40_of_a_record_merged_elsewhere_is_an_error_not_a_retry(ins_engine, tenant) -> None:  # noqa: ANN001
    """Resending will not mend a merge into another survivor: AE, never AR 206."""
    for n, ipp in enumerate(("E1", "E2", "E3")):
        _send(ins_engine, tenant, _msh("A28", f"e{n}"), _pid(ipp))
    mrg = "MRG|E2^^^H&1.2.250.1.999.41&ISO^PI"
    assert "MSA|AA|e4" in _send(ins_engine, tenant, _msh("A40", "e4"), _pid("E1"), mrg)
    ack = _send(ins_engine, tenant, _msh("A40", "e5"), _pid("E3"), mrg)
    assert "MSA|AE|e5" in ack and "|206^" not in ack


def test_forwarding_reads_segments_as_the_feed_does() -> None:
    from socle.ins.hl7feed import outgoing

    ins = nir("male", 1980, 1, order=8)
    cx = f"{ins}^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS"
    pid = _fields(f3=f"OL^^^H&1.2.250.1.999.41&ISO^PI~{cx}", f5="A^B^^^^^L", f32="PROV")
    text = outgoing((_msh("A28", "o9") + "\r\n\n" + pid + "\r").encode()).decode()
    assert ins not in text and "OL^^^H" in text
