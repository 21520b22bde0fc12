"""PAM FR (IHE PAM, national extension for France) messages as French senders write them.

Every person is invented; INS matricules are test NIRs (conftest.nir) under the test and
demo OIDs. Each test sends messages through `hl7feed.handle` and checks the ACK and the
Patient (or Encounter) stored."""

from __future__ import annotations

from typing import Any

import pytest

from socle.ins import index as X
from socle.ins import model as M
from socle.ins.hl7feed import handle
from tests.ins.conftest import nir

IPP_OID = "1.2.250.1.999.9"
IPP_SYSTEM = f"urn:oid:{IPP_OID}"
IPP = f"HOSP&{IPP_OID}&ISO"
INS_TEST = "ASIP-SANTE-INS-NIR-TEST&1.2.250.1.213.1.4.10&ISO"
INS_C = "ASIP-SANTE-INS-C&1.2.250.1.213.1.4.2&ISO"


def message(
    pid: str,
    control: str,
    *,
    event: str = "A28",
    structure: str | None = "ADT_A05",
    charset: str = "UNICODE UTF-8",
    extra: tuple[str, ...] = (),
    before_pid: tuple[str, ...] = (),
) -> str:
    msh9 = f"ADT^{event}" + (f"^{structure}" if structure else "")
    segs = [
        f"MSH|^~\\&|GAM|HOSP|SOCLE|SOCLE|20250102120000||{msh9}|{control}|P|2.5^FRA^2.11"
        f"||||||{charset}",
        "EVN||20250102120000",
        *before_pid,
        pid,
        *extra,
    ]
    return "\r".join(segs) + "\r"


def pid(
    ids: str,
    names: str,
    birth: str = "19790328",
    sex: str = "F",
    address: str = "^^^^^^BDL^^63220",
    status: str = "",
) -> str:
    """A PID segment: PID-3, PID-5, PID-7, PID-8, PID-11 and PID-32."""
    fields = ["PID", "", "", ids, "", names, "", birth, sex, "", "", address]
    fields += [""] * (32 - len(fields)) + [status]
    return "|".join(fields)


def send(engine: Any, tenant: str, text: str, codec: str = "utf-8") -> list[str]:
    ack = handle(engine, tenant, text.encode(codec), "127.0.0.1").ack.decode(codec)
    return next(s for s in ack.split("\r") if s.startswith("MSA")).split("|")


def accepted(engine: Any, tenant: str, text: str, codec: str = "utf-8") -> None:
    msa = send(engine, tenant, text, codec)
    assert msa[1] == "AA", msa


def patient(engine: Any, tenant: str, ipp: str) -> dict[str, Any]:
    with engine.store.session(tenant) as s:
        found = X.resource_by_identifier(s, "Patient", [(IPP_SYSTEM, ipp)])
    assert found is not None, ipp
    return found[1]


def stored(engine: Any, tenant: str, ipp: str) -> bool:
    with engine.store.session(tenant) as s:
        return X.resource_by_identifier(s, "Patient", [(IPP_SYSTEM, ipp)]) is not None


# ---------------------------------------------------------------- PID-5 names


@pytest.mark.parametrize(
    ("names", "given"),
    [
        # PAM FR 2.10+: 5.2 the first first name, 5.3 the whole list (first one included)
        ("SECLET^MARYSE^MARYSE BERTHE ALICE^^^^L", ["MARYSE", "BERTHE", "ALICE"]),
        ("PAT-TROIS^DOMINIQUE^DOMINIQUE^^^^L", ["DOMINIQUE"]),
        ("COLLET^JEAN-PIERRE^JEAN-PIERRE LOUIS^^^^L", ["JEAN-PIERRE", "LOUIS"]),
        # senders that repeat the whole list in 5.2 as well
        ("YEHOUESSI^HERMAS JEAN^HERMAS JEAN^^^^L", ["HERMAS", "JEAN"]),
        # older senders: 5.3 only the other first names
        ("DAVID^RAYMOND^CHRISTIAN^^^^L", ["RAYMOND", "CHRISTIAN"]),
        ("DAVID^RAYMOND^^^^^L", ["RAYMOND"]),
        # the list alone in 5.3
        ("DAVID^^RAYMOND CHRISTIAN^^^^L", ["RAYMOND", "CHRISTIAN"]),
    ],
)
def test_birth_first_names(ins_engine, tenant, names: str, given: list[str]) -> None:  # noqa: ANN001
    accepted(ins_engine, tenant, message(pid(f"N1^^^{IPP}^PI", names), "n1"))
    assert M.read_identity(patient(ins_engine, tenant, "N1")).given == given


def test_untyped_name_beside_a_birth_name(ins_engine, tenant) -> None:  # noqa: ANN001
    """A repetition without type code is the birth name only when none is typed L."""
    names = "AUBERT^NATHALIE~GUILLOT^NATHALIE^^^^^L^A"
    accepted(ins_engine, tenant, message(pid(f"N3^^^{IPP}^PI", names), "n3"))
    assert M.read_identity(patient(ins_engine, tenant, "N3")).birth_family == "GUILLOT"
    names = "AUBERT^NATHALIE^^^^^L~GUILLOT^NATHALIE"
    accepted(ins_engine, tenant, message(pid(f"N4^^^{IPP}^PI", names), "n4"))
    assert M.read_identity(patient(ins_engine, tenant, "N4")).birth_family == "AUBERT"
    accepted(ins_engine, tenant, message(pid(f"N5^^^{IPP}^PI", "GUILLOT^NATHALIE"), "n5"))
    assert M.read_identity(patient(ins_engine, tenant, "N5")).birth_family == "GUILLOT"


def test_used_name_first_and_without_first_name(ins_engine, tenant) -> None:  # noqa: ANN001
    names = "EPOUSE-DURAND^^^^MME^^D~SECLET^MARYSE^MARYSE BERTHE^^^^L"
    accepted(ins_engine, tenant, message(pid(f"N2^^^{IPP}^PI", names), "n2"))
    ident = M.read_identity(patient(ins_engine, tenant, "N2"))
    assert ident.birth_family == "SECLET" and ident.given == ["MARYSE", "BERTHE"]
    assert ident.used_family == "EPOUSE-DURAND"


# ---------------------------------------------------------------- PID-3 identifiers


def test_ins_c_is_not_the_ins_matricule(ins_engine, tenant) -> None:  # noqa: ANN001
    """INS-C (calculated INS, OID 1.2.250.1.213.1.4.2) is no INS matricule, nor an IPP."""
    matricule = nir(order=411)
    ins_c = "1121717802492545833548"
    names = "PAT-TROIS^DOMINIQUE^DOMINIQUE^^^^L"
    for ipp, ids in (
        ("C1", f"C1^^^{IPP}^PI~{matricule}^^^{INS_TEST}^INS~{ins_c}^^^{INS_C}^INS-C^^20170215"),
        ("C2", f"C2^^^{IPP}^PI~{ins_c}^^^{INS_C}^INS-C^^20170215~{matricule}^^^{INS_TEST}^INS"),
    ):
        accepted(ins_engine, tenant, message(pid(ids, names, status="QUAL"), ipp))
        p = patient(ins_engine, tenant, ipp)
        ident = M.read_identity(p)
        assert (ident.ins, ident.ins_system) == (matricule, "urn:oid:1.2.250.1.213.1.4.10")
        assert ins_c not in str(p["identifier"])
    # INS-C alone: a provisional identity, no INS
    ids = f"C3^^^{IPP}^PI~{ins_c}^^^{INS_C}^INS-C"
    accepted(ins_engine, tenant, message(pid(ids, names, status="PROV"), "c3"))
    p = patient(ins_engine, tenant, "C3")
    assert M.read_identity(p).ins == "" and ins_c not in str(p["identifier"])


def test_identifiers_that_are_not_the_ipp(ins_engine, tenant) -> None:  # noqa: ANN001
    """Only PI identifiers key the Patient: an NH/AN/PPN in PID-3 is no IPP."""
    ids = f"I1^^^{IPP}^PI~1850375238017^^^CPAM^NH~P123^^^FRA^PPN"
    accepted(ins_engine, tenant, message(pid(ids, "MARTIN^ANNE^ANNE^^^^L"), "i1"))
    p = patient(ins_engine, tenant, "I1")
    values = [i["value"] for i in p["identifier"]]
    assert "I1" in values and "1850375238017" not in values and "P123" not in values


def test_authority_whose_universal_id_is_no_oid(ins_engine, tenant) -> None:  # noqa: ANN001
    ids = "I2^^^AUT-AFFECTATION&1204567809&M^PI"
    accepted(ins_engine, tenant, message(pid(ids, "MARTIN^ANNE^ANNE^^^^L"), "i2"))
    with ins_engine.store.session(tenant) as s:
        found = X.resource_by_identifier(s, "Patient", [(f"{M.SOCLE}/sid/AUT-AFFECTATION", "I2")])
    assert found is not None
    assert "urn:oid:1204567809" not in str(found[1]["identifier"])


def test_nia_without_oid(ins_engine, tenant) -> None:  # noqa: ANN001
    """An INS typed INS-NIA without its OID is a NIA (1.2.250.1.213.1.4.9), not a NIR."""
    from socle.ins.hl7feed import identity_from_pid, parse

    text = message(pid(f"I3^^^{IPP}^PI~{nir(order=7)}^^^ASIP-SANTE-INS-NIA^INS-NIA", "A^B"), "x")
    ident, _ = identity_from_pid(parse(text)[0].segment("PID"))
    assert ident.ins_system == "urn:oid:1.2.250.1.213.1.4.9"


# ---------------------------------------------------------------- PID-32 reliability


@pytest.mark.parametrize(
    ("codes", "status", "attributes"),
    [
        ("VIDE", M.PROV, set()),
        ("PROV", M.PROV, set()),
        ("PROV~DOUTE", M.PROV, {M.DOUT}),
        ("PROV~FICTI", M.PROV, {M.FICT}),
        ("VALI", M.VALI, set()),
        # other codes of the French table 0445: valid, no RNIV status of their own
        ("PROV~HOMD", M.PROV, set()),
        ("PROV~DPOT", M.PROV, set()),
    ],
)
def test_reliability_codes(ins_engine, tenant, codes: str, status: str, attributes: set) -> None:  # noqa: ANN001
    text = message(pid(f"R1^^^{IPP}^PI", "MARTIN^ANNE^ANNE^^^^L", status=codes), "r1")
    accepted(ins_engine, tenant, text)
    ident = M.read_identity(patient(ins_engine, tenant, "R1"))
    assert ident.status == status and ident.attributes == attributes


def test_unknown_reliability_code_is_refused(ins_engine, tenant) -> None:  # noqa: ANN001
    text = message(pid(f"R2^^^{IPP}^PI", "MARTIN^ANNE^ANNE^^^^L", status="XYZ"), "r2")
    msa = send(ins_engine, tenant, text)
    assert msa[1] == "AE" and not stored(ins_engine, tenant, "R2")


# ---------------------------------------------------------------- PID-7, PID-8, PID-11


@pytest.mark.parametrize(
    ("birth", "expected"),
    [
        ("19600509000000", "1960-05-09"),
        ("196005091230+0100", "1960-05-09"),
        ("19790328^D", "1979-03-28"),
        # reduced precisions of a TS, and the 00 of an unknown day/month
        ("1960", "1960"),
        ("196005", "1960-05"),
        ("19600500", "1960-05"),
        ("19600000", "1960"),
    ],
)
def test_birth_date_forms(ins_engine, tenant, birth: str, expected: str) -> None:  # noqa: ANN001
    accepted(ins_engine, tenant, message(pid(f"B1^^^{IPP}^PI", "MARTIN^ANNE^^^^^L", birth), "b1"))
    assert patient(ins_engine, tenant, "B1")["birthDate"] == expected


def test_impossible_birth_dates_are_refused(ins_engine, tenant) -> None:  # noqa: ANN001
    for control, birth in (("b2", "19601301"), ("b3", "196013"), ("b4", "1960AB01"), ("b5", "60")):
        text = message(pid(f"B2^^^{IPP}^PI", "MARTIN^ANNE^^^^^L", birth), control)
        assert send(ins_engine, tenant, text)[1] == "AE", birth
    assert not stored(ins_engine, tenant, "B2")


@pytest.mark.parametrize(
    ("sex", "gender"),
    [("M", "male"), ("F", "female"), ("U", "unknown"), ("A", "other"), ("N", "unknown")],
)
def test_sex(ins_engine, tenant, sex: str, gender: str) -> None:  # noqa: ANN001
    accepted(ins_engine, tenant, message(pid(f"S1^^^{IPP}^PI", "MARTIN^ANNE^^^^^L", sex=sex), "s"))
    assert patient(ins_engine, tenant, "S1")["gender"] == gender


@pytest.mark.parametrize(
    ("address", "place"),
    [
        ("7 RUE DU BOUJONNIER^^FORMERIE^^60220^^H~^^^^^^BDL^^80606", "80606"),
        ("^^AJACCIO^^20000^FRA^BDL^^2A004", "2A004"),
        ("^^PORTO NOVO^^99327^BEN^BDL^^99327", "99327"),
    ],
)
def test_birthplace(ins_engine, tenant, address: str, place: str) -> None:  # noqa: ANN001
    text = message(pid(f"P1^^^{IPP}^PI", "MARTIN^ANNE^^^^^L", address=address), "p1")
    accepted(ins_engine, tenant, text)
    assert M.read_identity(patient(ins_engine, tenant, "P1")).birthplace == place


# ---------------------------------------------------------------- message forms


def test_french_segments_and_msh9_forms(ins_engine, tenant) -> None:  # noqa: ANN001
    names = "MARTIN^ANNE^ANNE^^^^L"
    text = message(
        pid(f"F1^^^{IPP}^PI", names),
        "f1",
        event="A31",
        structure=None,
        before_pid=(),
        extra=(
            "PD1||||||||||||N",
            "ZBE|MOV1^GAM^1.2.250.1.999.8^ISO|20250102120000||INSERT|N",
            "ZFA|||||||",
            "ZFP|1|41",
            "ZFD|||N|N|SM",
        ),
    )
    accepted(ins_engine, tenant, text)
    assert stored(ins_engine, tenant, "F1")


def test_latin9_message(ins_engine, tenant) -> None:  # noqa: ANN001
    """MSH-18 8859/15 (HL7 table 0211), which French GAMs send: Œ is a Latin-9 letter."""
    names = "CŒUR^ZOÉ^ZOÉ^^^^L"
    text = message(pid(f"L2^^^{IPP}^PI", names), "l2", charset="8859/15")
    assert send(ins_engine, tenant, text, "iso-8859-15")[1] == "AA"
    ident = M.read_identity(patient(ins_engine, tenant, "L2"))
    assert ident.birth_family == "COEUR" and ident.given == ["ZOE"]
    # the NAK is in Latin-9 too: the refused PID-8 value it quotes reads back as sent
    refused = message(pid(f"L3^^^{IPP}^PI", names, sex="Œ"), "l3", charset="8859/15")
    nak = handle(ins_engine, tenant, refused.encode("iso-8859-15"), "127.0.0.1").ack
    assert "MSA|AE|l3" in nak.decode("iso-8859-15") and "'Œ'" in nak.decode("iso-8859-15")


def test_latin1_message(ins_engine, tenant) -> None:  # noqa: ANN001
    names = "LEFÈVRE^HÉLÈNE^HÉLÈNE JOSÉE^^^^L"
    text = message(pid(f"L1^^^{IPP}^PI", names), "l1", charset="8859/1")
    accepted(ins_engine, tenant, text, "iso-8859-1")
    ident = M.read_identity(patient(ins_engine, tenant, "L1"))
    assert ident.birth_family == "LEFEVRE" and ident.given == ["HELENE", "JOSEE"]


# ---------------------------------------------------------------- A40, A47


def test_a47_keeps_the_ins_and_types_the_new_ipp(ins_engine, tenant) -> None:  # noqa: ANN001
    matricule = nir(order=512)
    names = "PAT-TROIS^DOMINIQUE^DOMINIQUE^^^^L"
    ids = f"OLD1^^^{IPP}^PI~{matricule}^^^{INS_TEST}^INS"
    accepted(ins_engine, tenant, message(pid(ids, names, status="QUAL"), "a1"))
    ids = f"NEW1^^^{IPP}^PI~{matricule}^^^{INS_TEST}^INS"
    text = message(
        pid(ids, names, status="QUAL"),
        "a2",
        event="A47",
        structure="ADT_A30",
        extra=(f"MRG|OLD1^^^{IPP}^PI~{matricule}^^^{INS_TEST}^INS",),
    )
    accepted(ins_engine, tenant, text)
    assert not stored(ins_engine, tenant, "OLD1")
    p = patient(ins_engine, tenant, "NEW1")
    assert M.read_identity(p).ins == matricule
    new = next(i for i in p["identifier"] if i["value"] == "NEW1")
    assert new["type"]["coding"][0]["code"] == "PI"


def test_a47_refusals(ins_engine, tenant) -> None:  # noqa: ANN001
    names = "PAT-TROIS^DOMINIQUE^DOMINIQUE^^^^L"
    for ipp in ("K1", "K2"):
        accepted(ins_engine, tenant, message(pid(f"{ipp}^^^{IPP}^PI", names), ipp))

    def a47(ids: str, mrg: str, control: str) -> list[str]:
        extra = (f"MRG|{mrg}",)
        text = message(pid(ids, names), control, event="A47", structure="ADT_A30", extra=extra)
        return send(ins_engine, tenant, text)

    # the new identifier already names another patient: no two patients share an IPP
    assert a47(f"K2^^^{IPP}^PI", f"K1^^^{IPP}^PI", "k3")[1] == "AE"
    # no new local identifier: the patient would lose its IPP
    assert a47(f"{nir(order=77)}^^^{INS_TEST}^INS", f"K1^^^{IPP}^PI", "k4")[1] == "AE"
    assert stored(ins_engine, tenant, "K1") and stored(ins_engine, tenant, "K2")


def test_a40_with_the_ins_in_mrg(ins_engine, tenant) -> None:  # noqa: ANN001
    """MRG-1 may repeat the INS: the source is its PI identifier."""
    names = "PAT-TROIS^DOMINIQUE^DOMINIQUE^^^^L"
    accepted(ins_engine, tenant, message(pid(f"M1^^^{IPP}^PI", names), "m1"))
    accepted(ins_engine, tenant, message(pid(f"M2^^^{IPP}^PI", names), "m2"))
    mrg = f"MRG|{nir(order=88)}^^^{INS_TEST}^INS~M1^^^{IPP}^PI"
    text = message(
        pid(f"M2^^^{IPP}^PI", names), "m3", event="A40", structure="ADT_A39", extra=(mrg,)
    )
    accepted(ins_engine, tenant, text)
    source = patient(ins_engine, tenant, "M1")
    assert source["active"] is False and source["link"][0]["type"] == "replaced-by"


def test_real_looking_admission(ins_engine, tenant) -> None:  # noqa: ANN001
    """An A01 as a French GAM writes it: INS-C beside the INS, D name first, PID-5.3 list,
    PID-11 home and birth addresses, PID-23, PID-32, PD1/ROL/ZBE/ZFD segments."""
    matricule = nir(sex="female", year=1948, month=9, place="80606", order=25)
    ids = (
        f"442777^^^CEGI&{IPP_OID}&ISO^PI~~{nir(order=1)[:13]}00^^^{INS_C}^INS-C^^20170215"
        f"~{matricule}^^^{INS_TEST}^INS^^^"
    )
    fields = [
        "PID",
        "1",
        "",
        ids,
        "",
        "SECLET^^^^MME^^D~SECLET^MARYSE^MARYSE BERTHE ALICE^^^^L",
        "",
        "19480909",
        "F",
        "",
        "",
        "7 RUE DU BOUJONNIER^^FORMERIE^^60220^^H~^^^^^^BDL^^80606",
        "",
        "^PRN^PH^^^^^^^^^0600000000",
    ]
    fields += [""] * (23 - len(fields)) + ["OISEMONT (80140)"]
    fields += [""] * (32 - len(fields)) + ["QUAL"]
    segs = [
        "MSH|^~\\&|CEGI|CEGI|SOCLE|SOCLE|20240326100615||ADT^A01^ADT_A01|56468389|P|2.5^FRA^2.11"
        "|||||FRA|8859/1",
        "EVN||20240326100603|||AGENT|20240326000000",
        "|".join(fields),
        "PD1||||||||||||N",
        "ROL|1|AD|ODRP|10100710366^LEFRANCOIS^PASCAL^^^DOC^^^ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO",
        f"PV1|1|I|CARDIO^204^A^CEGI||||||||||||||||V100^^^CEGI&{IPP_OID}.7&ISO^VN",
        "ZBE|MVT45^CEGI|20240326000000||INSERT|N",
        "ZFD|||N|N|INSI|20240326095954|CN",
    ]
    text = "\r".join(segs) + "\r"
    assert send(ins_engine, tenant, text, "iso-8859-1")[1] == "AA"
    ident = M.read_identity(patient(ins_engine, tenant, "442777"))
    assert ident.birth_family == "SECLET" and ident.given == ["MARYSE", "BERTHE", "ALICE"]
    assert ident.used_family == "SECLET" and ident.birth_date == "1948-09-09"
    assert ident.birthplace == "80606" and ident.status == M.QUAL
    assert (ident.ins, ident.ins_system) == (matricule, "urn:oid:1.2.250.1.213.1.4.10")


def test_record_number_keys_the_patient_when_there_is_no_pi(ins_engine, tenant) -> None:  # noqa: ANN001
    """Senders outside PAM FR give the IPP as an MR (medical record number): it keys the
    Patient when PID-3 has no PI; beside a PI it is not the IPP and is not stored."""
    accepted(ins_engine, tenant, message(pid(f"R1^^^{IPP}^MR", "MARTIN^ANNE^ANNE^^^^L"), "r1"))
    assert patient(ins_engine, tenant, "R1")["name"][0]["family"] == "MARTIN"
    update = message(pid(f"R1^^^{IPP}^MR", "MARTIN^ANNE^ANNE^^^^L", sex="M"), "r2", event="A31")
    accepted(ins_engine, tenant, update)
    assert patient(ins_engine, tenant, "R1")["gender"] == "male"  # the same Patient
    kinds = [
        i["type"]["coding"][0]["code"] for i in patient(ins_engine, tenant, "R1")["identifier"]
    ]
    assert kinds == ["MR"]  # stored with the type the sender gave it
    ids = f"R3^^^{IPP}^PI~R4^^^{IPP}^MR"
    accepted(ins_engine, tenant, message(pid(ids, "MARTIN^ANNE^ANNE^^^^L"), "r3"))
    values = [
        (i["value"], i["type"]["coding"][0]["code"])
        for i in patient(ins_engine, tenant, "R3")["identifier"]
    ]
    assert values == [("R3", "PI")]
    refused = send(ins_engine, tenant, message(pid(f"R5^^^{IPP}^AN", "MARTIN^ANNE"), "r5"))
    assert refused[1] == "AE" and "PID-3 has no local identifier" in refused[3]
