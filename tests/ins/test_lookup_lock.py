"""The feed's Patient lookup by local identifier, in a write transaction: it locks the row
it finds (PostgreSQL), so the update that follows sends no `SELECT … FOR UPDATE` of its
own, and a lookup that waited for a concurrent writer returns that writer's version."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import event

from socle.fhir.context import RequestContext
from socle.ins import index as X
from socle.ins.hl7feed import handle
from tests.ins.test_mllp import adt

HOSP = "urn:oid:1.2.250.1.999.9"


def _accepted(engine, tenant: str, message: str) -> None:  # noqa: ANN001
    ack = handle(engine, tenant, message.encode(), "127.0.0.1").ack.decode()
    assert "MSA|AA|" in ack, ack


def test_an_update_by_the_feed_locks_its_patient_once(ins_engine, tenant) -> None:  # noqa: ANN001
    """SQLite: no row locks (writers are serialised), the lookup's row is used as is;
    PostgreSQL: the lookup is the only statement that locks the Patient's row."""
    _accepted(ins_engine, tenant, adt("A28", "L1", control="l1"))
    statements: list[str] = []

    def capture(conn, cursor, sql, *args) -> None:  # noqa: ANN001
        statements.append(" ".join(sql.split()))

    event.listen(ins_engine.store.engine, "before_cursor_execute", capture)
    try:
        _accepted(ins_engine, tenant, adt("A31", "L1", family="DUPONT", control="l2"))
    finally:
        event.remove(ins_engine.store.engine, "before_cursor_execute", capture)
    reads = [s for s in statements if s.startswith(("SELECT", "WITH found"))]
    locking = [s for s in reads if "FOR UPDATE" in s]
    assert reads and "FROM idx_token" in reads[0]  # the lookup comes first
    if ins_engine.store.sqlite:
        assert locking == []
    else:
        assert locking == [reads[0]], locking  # the lookup, and nothing after it
    assert not any(s.startswith("SELECT resource.pk, resource.version") for s in reads)
    with ins_engine.store.session(tenant) as s:
        found = X.resource_by_identifier(s, "Patient", [(HOSP, "L1")])
    assert found is not None and found[1]["name"][0]["family"] == "DUPONT"
    assert found[1]["meta"]["versionId"] == "2"


def test_a_lookup_that_waited_for_a_writer_returns_its_version(ins_engine, tenant) -> None:  # noqa: ANN001
    """PostgreSQL: the lookup blocks on the row a concurrent transaction updates; once that
    commits, it returns the new version (which its own snapshot could not see) and the
    update that follows is based on it: nothing of the concurrent write is lost."""
    if ins_engine.store.sqlite:
        pytest.skip("SQLite's writers are serialised: no concurrent writer to wait for")
    _accepted(ins_engine, tenant, adt("A28", "L2", control="m1"))
    ctx = RequestContext(tenant=tenant)
    found: list = []
    store = ins_engine.store

    def lookup() -> None:
        with store.session(tenant, write=True) as s:
            hit = X.resource_by_identifier(s, "Patient", [(HOSP, "L2")])
            found.append(hit)
            current = s.current("Patient", hit[0], lock=True)
            found.append(current.version)

    with store.session(tenant, write=True) as s:
        pid, patient = X.resource_by_identifier(s, "Patient", [(HOSP, "L2")])
        ins_engine.crud.update(s, ctx, "Patient", pid, {**patient, "gender": "other"})
        s.flush()
        waiter = threading.Thread(target=lookup)
        waiter.start()
        time.sleep(0.5)
        assert found == []  # waiting for this transaction's row lock
    waiter.join(10)
    assert not waiter.is_alive()
    (res_id, content), version = found
    assert res_id == pid and content["gender"] == "other" and version == 2
    assert content["meta"]["versionId"] == "2"
