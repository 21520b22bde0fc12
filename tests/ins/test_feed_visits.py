"""PAM movements A01/A04/A03 over MLLP: the Encounter of each visit (PV1-19), its status
and period, linked to the Patient; bad PV1 data refused with nothing stored."""

from __future__ import annotations

import asyncio

import orjson

from socle.ins import index as X
from socle.ins.mllp import MllpServer
from tests.ins.test_mllp import IPP, _exchange, _msa

VISITS = "HOSP&1.2.250.1.999.7&ISO"
VISIT_SYSTEM = "urn:oid:1.2.250.1.999.7"


def movement(
    event: str,
    ipp: str,
    control: str,
    *,
    visit: str = "",
    klass: str = "I",
    admit: str = "",
    discharge: str = "",
    evn: str = "20250102120000",
) -> bytes:
    """An ADT movement with a PV1 segment (PV1-2 class, PV1-19 visit, PV1-44/45 times)."""
    pv1 = ["PV1", "", klass] + [""] * 42
    if visit:
        pv1[19] = f"{visit}^^^{VISITS}^VN"
    pv1[44] = admit
    pv1.append(discharge)
    segs = [
        f"MSH|^~\\&|GAM|HOSP|SOCLE|SOCLE|20250102120000||ADT^{event}^ADT_A01|{control}|P|2.5"
        "|||||FRA|UNICODE UTF-8",
        f"EVN||{evn}",
        f"PID|||{ipp}^^^{IPP}^PI||DUBOIS^ANNE^^^^^L||19800101|F|||^^^^^^BDL^^35238",
        "|".join(pv1),
    ]
    return ("\r".join(segs) + "\r").encode()


def _run(engine, tenant: str, messages: list[bytes]) -> list[str]:  # noqa: ANN001
    async def scenario() -> list[bytes]:
        server = MllpServer(engine, tenant, port=0)
        port = await server.start()
        try:
            return await _exchange(port, messages)
        finally:
            await server.close()

    return [_msa(a)[1] for a in asyncio.run(scenario())]


def _encounter(engine, tenant: str, number: str) -> tuple[str, dict] | None:  # noqa: ANN001
    with engine.store.session(tenant) as s:
        return X.resource_by_identifier(s, "Encounter", [(VISIT_SYSTEM, number)])


def _patient_id(engine, tenant: str, ipp: str) -> str:  # noqa: ANN001
    with engine.store.session(tenant) as s:
        found = X.resource_by_identifier(s, "Patient", [("urn:oid:1.2.250.1.999.9", ipp)])
    assert found is not None
    return found[0]


def test_admission_then_discharge(ins_engine, tenant) -> None:  # noqa: ANN001
    codes = _run(
        ins_engine,
        tenant,
        [
            movement("A01", "IPPV1", "v1", visit="VN100", admit="202501021015"),
            movement("A04", "IPPV1", "v2", visit="VN200", klass="O"),
            movement("A03", "IPPV1", "v3", visit="VN100", discharge="20250105173000+0100"),
        ],
    )
    assert codes == ["AA", "AA", "AA"]
    pid = _patient_id(ins_engine, tenant, "IPPV1")
    enc_id, stay = _encounter(ins_engine, tenant, "VN100")
    assert stay["status"] == "finished"
    assert stay["subject"] == {"reference": f"Patient/{pid}"}
    assert stay["class"]["code"] == "IMP"
    assert stay["period"]["start"].startswith("2025-01-02T10:15:00")
    assert stay["period"]["end"] == "2025-01-05T17:30:00+01:00"
    assert stay["identifier"][0]["value"] == "VN100"
    assert stay["identifier"][0]["type"]["coding"][0]["code"] == "VN"
    with ins_engine.store.session(tenant) as s:
        assert s.read("Encounter", enc_id).version == 2  # admitted, then discharged
    _, consultation = _encounter(ins_engine, tenant, "VN200")
    assert consultation["status"] == "in-progress"
    assert consultation["class"]["code"] == "AMB"
    assert consultation["period"]["start"].startswith("2025-01-02T12:00:00")  # EVN-2
    assert "end" not in consultation["period"]


def test_discharge_without_visit_number_closes_the_open_stay(ins_engine, tenant) -> None:  # noqa: ANN001
    codes = _run(
        ins_engine,
        tenant,
        [
            movement("A01", "IPPV2", "w1", visit="VN300"),
            movement("A03", "IPPV2", "w2", evn="20250103080000"),
        ],
    )
    assert codes == ["AA", "AA"]
    _, stay = _encounter(ins_engine, tenant, "VN300")
    assert stay["status"] == "finished"
    assert stay["period"]["end"].startswith("2025-01-03T08:00:00")


def test_bad_movements_store_nothing(ins_engine, tenant) -> None:  # noqa: ANN001
    no_pv1 = movement("A01", "IPPV3", "x1", visit="VN400").replace(
        b"\rPV1|" + b"|".join([b"", b"I"]), b"\rZZ1|"
    )
    codes = _run(
        ins_engine,
        tenant,
        [
            movement("A01", "IPPV3", "x0", visit="VN400", admit="20250231"),  # 31 February
            no_pv1,
            movement("A01", "IPPV4", "x2", visit="VN500"),
            movement("A03", "IPPV5", "x3", visit="VN500"),  # another patient's visit
        ],
    )
    assert codes == ["AE", "AE", "AA", "AE"]  # format or content errors: AE
    assert _encounter(ins_engine, tenant, "VN400") is None
    with ins_engine.store.session(tenant) as s:
        for ipp in ("IPPV3", "IPPV5"):  # refused messages leave no Patient either
            assert (
                X.resource_by_identifier(s, "Patient", [("urn:oid:1.2.250.1.999.9", ipp)]) is None
            )
    _, stay = _encounter(ins_engine, tenant, "VN500")
    assert stay["status"] == "in-progress"
    assert orjson.dumps(stay).count(b"Patient/") == 1


def test_resent_message_writes_no_version_and_index_follows(ins_engine, tenant) -> None:  # noqa: ANN001
    from socle.ins import service
    from socle.ins.tables import ins_identity
    from tests.ins.test_mllp import adt

    first = adt("A28", "IPPR1", family="ROUSSEAU", control="r1").encode()
    again = adt("A28", "IPPR1", family="ROUSSEAU", control="r2").encode()
    renamed = adt("A31", "IPPR1", family="ROUSSO", control="r3").encode()
    assert _run(ins_engine, tenant, [first, again]) == ["AA", "AA"]
    pid = _patient_id(ins_engine, tenant, "IPPR1")
    with ins_engine.store.session(tenant) as s:
        assert s.read("Patient", pid).version == 1  # the resend changed nothing
    assert _run(ins_engine, tenant, [renamed]) == ["AA"]
    with ins_engine.store.session(tenant) as s:
        assert s.read("Patient", pid).version == 2
        row = s.execute(
            ins_identity.select().where(
                ins_identity.c.tenant == tenant, ins_identity.c.patient_id == pid
            )
        ).one()
    assert (row.version, row.family) == (2, "ROUSSO")  # indexed in the feed's transaction
    found = service.match(ins_engine, tenant, {"resourceType": "Patient", **_traits("ROUSSO")})
    assert [m.patient_id for m, _ in found] == [pid]


def _traits(family: str) -> dict:
    return {
        "name": [{"use": "official", "family": family, "given": ["MARIE"]}],
        "birthDate": "1985-03-07",
        "gender": "female",
    }


def test_times_without_offset_are_the_senders_local_time(ins_engine, tenant, monkeypatch) -> None:  # noqa: ANN001
    """HL7 v2.5 2.A.22: a time without an offset is local to the sender: Europe/Paris
    unless SOCLE_HL7_TIMEZONE names another zone (an overseas site)."""
    from socle.ins import hl7feed

    hl7feed.hl7_timezone.cache_clear()
    monkeypatch.delenv("SOCLE_HL7_TIMEZONE", raising=False)
    winter = movement("A01", "IPPT1", "t1", visit="VT1", admit="20241115110000")
    summer = movement("A01", "IPPT1", "t2", visit="VT2", admit="20240715110000")
    assert _run(ins_engine, tenant, [winter, summer]) == ["AA", "AA"]
    assert (
        _encounter(ins_engine, tenant, "VT1")[1]["period"]["start"] == "2024-11-15T11:00:00+01:00"
    )
    assert (
        _encounter(ins_engine, tenant, "VT2")[1]["period"]["start"] == "2024-07-15T11:00:00+02:00"
    )
    monkeypatch.setenv("SOCLE_HL7_TIMEZONE", "America/Martinique")
    hl7feed.hl7_timezone.cache_clear()
    try:
        overseas = movement("A01", "IPPT2", "t3", visit="VT3", admit="20241115110000")
        assert _run(ins_engine, tenant, [overseas]) == ["AA"]
    finally:
        hl7feed.hl7_timezone.cache_clear()
    assert (
        _encounter(ins_engine, tenant, "VT3")[1]["period"]["start"] == "2024-11-15T11:00:00-04:00"
    )
