"""Every HL7 message of the feed, accepted or refused, is one entry of the audit trail
(the security module's hash chain), naming the sender, the message and the patient."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select

from socle.ins import index as X
from socle.ins.mllp import MllpServer
from tests.ins.test_mllp import _exchange, _msa, adt


@pytest.fixture
def audited_engine(tmp_path: Path):  # noqa: ANN201
    """An engine of its own (SQLite) with the INS plugin and the security module."""
    from socle.config import Settings
    from socle.fhir.engine import FhirEngine
    from socle.fhir.storage.database import create_db_engine
    from socle.fhir.storage.migrate import migrate
    from socle.security import install

    url = f"sqlite:///{tmp_path / 'audit.db'}"
    db = create_db_engine(url, pool_size=1)
    migrate(db)
    db.dispose()
    engine = FhirEngine(Settings(data_dir=tmp_path, database_url=url))
    engine.load_plugins(["ins"])
    install(engine)
    yield engine
    engine.close()


def _trail(engine) -> list[dict]:  # noqa: ANN001
    from socle.security import tables as T

    with engine.store.engine.connect() as conn:
        rows = conn.execute(select(T.audit_log.c.content).order_by(T.audit_log.c.seq)).all()
    return [orjson.loads(r.content) for r in rows]


def test_each_message_is_audited(audited_engine) -> None:  # noqa: ANN001
    tenant = "t-audit"
    messages = [
        adt("A28", "IPPA1", control="ok1").encode(),
        adt("A28", "IPPA2", birth="19850230", control="bad2").encode(),  # AE
        b"MSH|^~\\&|GAM|HOSP|SOCLE|SOCLE|2025||ADT^A99^ADT_A01|bad3|P|2.5\rPID|||X^^^H^PI",  # AR
    ]

    async def scenario() -> list[bytes]:
        server = MllpServer(audited_engine, tenant, port=0)
        port = await server.start()
        try:
            return await _exchange(port, messages)
        finally:
            await server.close()

    codes = [_msa(a)[1] for a in asyncio.run(scenario())]
    assert codes == ["AA", "AE", "AR"]
    with audited_engine.store.session(tenant) as s:
        pid, _ = X.resource_by_identifier(s, "Patient", [("urn:oid:1.2.250.1.999.9", "IPPA1")])
    events = [e for e in _trail(audited_engine) if "HL7 v2" in e.get("outcomeDesc", "")]
    assert len(events) == 3
    ok, refused, unreadable = events
    who = ok["agent"][0]
    assert who["who"]["display"] == "HL7 v2 sender GAM/HOSP"
    assert who["network"]["address"] == "127.0.0.1"
    assert ok["outcome"] == "0"
    assert "ADT^A28^ADT_A01 control ok1" in ok["outcomeDesc"] and "AA accepted" in ok["outcomeDesc"]
    patients = [
        e["what"]["reference"] for e in ok["entity"] if e.get("role", {}).get("code") == "1"
    ]
    assert patients == [f"Patient/{pid}"]
    query = next(e for e in ok["entity"] if "query" in e)
    msh = base64.urlsafe_b64decode(query["query"] + "==").decode()
    assert msh.startswith("MSH|") and "|ok1|" in msh
    assert refused["outcome"] == "4"
    assert "control bad2" in refused["outcomeDesc"] and "AE refused (102)" in refused["outcomeDesc"]
    assert "urn:oid:1.2.250.1.999.9|IPPA2" in refused["outcomeDesc"]  # the patient it was about
    assert not [e for e in refused.get("entity", []) if e.get("role", {}).get("code") == "1"]
    assert "AR refused (201)" in unreadable["outcomeDesc"]


def test_a_trail_failure_refuses_the_message(audited_engine) -> None:  # noqa: ANN001
    from socle.ins.hl7feed import handle

    trail = audited_engine.guard.audit

    def broken(*_args, **_kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("disk full")

    trail.append_in = trail.append = broken
    outcome = handle(audited_engine, "t-broken", adt("A28", "IPPB1", control="b1").encode())
    assert not outcome.accepted and b"MSA|AR|b1" in outcome.ack and b"audited" in outcome.ack
    assert b"|207^Application internal error" in outcome.ack  # no fault of the message
    with audited_engine.store.session("t-broken") as s:  # no audit, no write
        assert (
            X.resource_by_identifier(s, "Patient", [("urn:oid:1.2.250.1.999.9", "IPPB1")]) is None
        )


def test_refusals_that_are_no_fault_of_the_message_are_recorded_as_such() -> None:
    """AR for a failure (207) or a concurrent change (206) is recorded as the server's
    failure or a conflict, not as a bad request (AR for a header not accepted)."""
    from socle.ins import audit
    from socle.ins.hl7feed import Hl7Error, Outcome

    def recorded(ack: str, code: str) -> int:
        error = Hl7Error(ack, code, "x", "MSH")
        return audit._entry("t", Outcome(b"", False, None, error), None, 0.0).outcome

    assert recorded("AR", "207") == 500 and recorded("AR", "206") == 409
    assert recorded("AR", "201") == 400 and recorded("AE", "102") == 422
