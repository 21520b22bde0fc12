"""A write's audit entry goes after its rows, in their round trip on PostgreSQL (one
pipeline), and a conflict of those rows is still reported as a conflict, not as a trail
that cannot be written."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import event, insert, select

from socle.fhir.storage import schema as S
from socle.ins.groupcommit import GroupWriter
from tests.ins.test_mllp import _msa, adt
from tests.security.conftest import bearer, document, pro
from tests.security.test_audit_atomic import pg_inserts_fail

HOSP = "urn:oid:1.2.250.1.999.9"


def _pipelined_statements(engine):  # noqa: ANN001, ANN202
    """(statement's first words, pipeline status) of every statement, in order."""
    seen: list[tuple[str, int]] = []

    def capture(conn, cursor, sql, *args) -> None:  # noqa: ANN001
        raw = conn.connection.dbapi_connection
        status = int(raw.pgconn.pipeline_status) if hasattr(raw, "pgconn") else 0
        seen.append((" ".join(sql.split()[:3]), status))

    return seen, capture


def test_a_rest_write_sends_its_audit_entry_with_its_rows(api, world, token, sec_engine) -> None:  # noqa: ANN001
    db = sec_engine.store.engine
    if db.dialect.name == "sqlite":
        pytest.skip("psycopg pipeline mode")
    gp = token("practitioner", **pro(world, "gp"))
    doc = document(world.alice, "10", world.gp)
    first = api.post("/fhir/DocumentReference", json=doc, headers=bearer(gp))
    assert first.status_code == 201, first.text  # the process now knows the trail's head
    seen, capture = _pipelined_statements(sec_engine)
    event.listen(db, "before_cursor_execute", capture)
    try:
        r = api.post("/fhir/DocumentReference", json=doc, headers=bearer(gp))
    finally:
        event.remove(db, "before_cursor_execute", capture)
    assert r.status_code == 201, r.text
    entry = [i for i, (sql, _) in enumerate(seen) if sql.startswith("WITH head AS")]
    assert len(entry) == 1, seen
    version = [i for i, (sql, _) in enumerate(seen) if '"resource_version"' in sql]
    assert version and version[-1] < entry[0]  # the rows first, then the entry
    tail = seen[version[-1] : entry[0] + 1]
    assert all(status for _, status in tail), "\n".join(map(str, seen))  # one pipeline


def test_a_conflict_flushed_with_the_entry_is_a_conflict(audited, tenant) -> None:  # noqa: ANN001
    """The Patient's next version already exists (a writer that got there first, as far as
    the unique key can tell): the message is refused as a concurrent update to send again,
    with nothing written, and not as an audit trail that failed."""
    writer = GroupWriter(audited, tenant)
    assert _msa(writer.handle(adt("A28", "F1", control="f1").encode()).ack)[1] == "AA"
    with audited.store.engine.begin() as conn:
        r = S.resource.c
        pk, res_id = conn.execute(
            select(r.pk, r.res_id).where(r.tenant == tenant, r.res_type == "Patient")
        ).one()
        squatter = {"resource_pk": pk, "tenant": tenant, "res_type": "Patient"}
        squatter |= {"res_id": res_id, "version": 2, "last_updated": 1, "method": "PUT"}
        conn.execute(insert(S.resource_version).values(**squatter, content=b"{}"))
    outcome = writer.handle(adt("A31", "F1", family="DUPONT", control="f2").encode())
    msa = _msa(outcome.ack)
    assert msa[1] == "AR", outcome.ack  # a conflict, not the content: the sender resends it
    assert "Concurrent updates" in outcome.ack.decode(), outcome.ack
    with audited.store.session(tenant) as s:
        assert s.current("Patient", res_id).version == 1  # nothing of the A31 kept


def test_a_failure_of_the_rows_is_not_an_audit_failure(audited, tenant, caplog) -> None:  # noqa: ANN001
    """The rows fail (not as a conflict) in the pipeline that also carries the audit entry:
    the message is answered as an internal error, not as an audit trail that could not
    be written, and nothing is logged as one."""
    if audited.store.sqlite:
        pytest.skip("the audit entry shares the rows' pipeline on PostgreSQL only")
    writer = GroupWriter(audited, tenant)
    assert _msa(writer.handle(adt("A28", "F3", control="f5").encode()).ack)[1] == "AA"
    refused = pytest.raises(Exception, match="version refused")
    when = f"NEW.tenant = '{tenant}'"
    versions_fail = pg_inserts_fail(audited, "resource_version", when, "'version refused'")
    with versions_fail, caplog.at_level(logging.ERROR), refused:
        writer.handle(adt("A31", "F3", family="DUPONT", control="f6").encode())
    assert not [r for r in caplog.records if "audit trail unavailable" in r.getMessage()]
