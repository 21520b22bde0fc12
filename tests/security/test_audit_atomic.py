"""No audit, no access: a write and its AuditEvent commit together, on both backends.

The trail is made to fail for real: a database trigger refuses every insert into
`audit_log` (SQLite and PostgreSQL), so nothing short of a working trail lets a request
through.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import orjson
import pytest
from sqlalchemy import func, select, text

from socle.fhir.storage import schema as S
from socle.security import tables as T
from tests.security.conftest import bearer, document, pro


@contextmanager
def audit_trail_down(engine) -> Iterator[None]:  # noqa: ANN001
    """Every insert into audit_log fails until the block ends (a real database error)."""
    db = engine.store.engine
    sqlite = db.dialect.name == "sqlite"
    with db.begin() as conn:
        if sqlite:
            conn.execute(
                text(
                    "CREATE TRIGGER audit_down BEFORE INSERT ON audit_log "
                    "BEGIN SELECT RAISE(ABORT, 'audit trail down'); END"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE FUNCTION audit_down() RETURNS trigger AS "
                    "$$ BEGIN RAISE EXCEPTION 'audit trail down'; END $$ LANGUAGE plpgsql"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER audit_down BEFORE INSERT ON audit_log "
                    "FOR EACH ROW EXECUTE FUNCTION audit_down()"
                )
            )
    try:
        yield
    finally:
        with db.begin() as conn:
            if sqlite:
                conn.execute(text("DROP TRIGGER audit_down"))
            else:
                conn.execute(text("DROP TRIGGER audit_down ON audit_log"))
                conn.execute(text("DROP FUNCTION audit_down()"))


@contextmanager
def pg_inserts_fail(engine, table: str, when: str, error: str) -> Iterator[None]:  # noqa: ANN001
    """PostgreSQL: inserts into `table` that match `when` (SQL on NEW) fail with `error`
    (the tail of a plpgsql RAISE EXCEPTION) until the block ends."""
    db = engine.store.engine
    name = f"fail_{table}"
    with db.begin() as conn:
        conn.execute(
            text(
                f"CREATE FUNCTION {name}() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION "
                f"{error}; END $$ LANGUAGE plpgsql"
            )
        )
        conn.execute(
            text(
                f"CREATE TRIGGER {name} BEFORE INSERT ON {table} FOR EACH ROW "
                f"WHEN ({when}) EXECUTE FUNCTION {name}()"
            )
        )
    try:
        yield
    finally:
        with db.begin() as conn:
            conn.execute(text(f"DROP TRIGGER {name} ON {table}"))
            conn.execute(text(f"DROP FUNCTION {name}()"))


def audit_deadlocks(engine, when: str):  # noqa: ANN001, ANN201
    """PostgreSQL: inserts into audit_log that match `when` (SQL on NEW) fail as a
    deadlock victim would (SQLSTATE 40P01) until the block ends."""
    return pg_inserts_fail(engine, "audit_log", when, "'deadlock detected' USING ERRCODE = '40P01'")


def _stored(engine, tenant: str, res_type: str) -> int:  # noqa: ANN001
    with engine.store.engine.connect() as conn:
        return conn.execute(
            select(func.count())
            .select_from(S.resource)
            .where(S.resource.c.tenant == tenant, S.resource.c.res_type == res_type)
        ).scalar_one()


def _versions(engine, tenant: str, res_type: str, res_id: str) -> int:  # noqa: ANN001
    with engine.store.engine.connect() as conn:
        return conn.execute(
            select(func.count())
            .select_from(S.resource_version)
            .join(S.resource, S.resource.c.pk == S.resource_version.c.resource_pk)
            .where(
                S.resource.c.tenant == tenant,
                S.resource.c.res_type == res_type,
                S.resource.c.res_id == res_id,
            )
        ).scalar_one()


def _events(engine, tenant: str) -> list[dict]:  # noqa: ANN001
    with engine.store.engine.connect() as conn:
        rows = conn.execute(
            select(T.audit_log.c.content)
            .where(T.audit_log.c.tenant == tenant)
            .order_by(T.audit_log.c.seq)
        ).scalars()
        return [orjson.loads(row) for row in rows]


def _refused(r) -> None:  # noqa: ANN001
    assert r.status_code == 503, r.text
    outcome = r.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "transient"
    assert "audit trail is unavailable" in outcome["issue"][0]["diagnostics"]


def test_no_write_without_its_audit(api, world, token, sec_engine) -> None:  # noqa: ANN001
    gp = token("practitioner", **pro(world, "gp"))
    before = _stored(sec_engine, world.tenant, "DocumentReference")
    with audit_trail_down(sec_engine):
        r = api.post(
            "/fhir/DocumentReference",
            json=document(world.alice, "10", world.gp),
            headers=bearer(gp),
        )
        _refused(r)
        assert _stored(sec_engine, world.tenant, "DocumentReference") == before
        # update and delete of an existing document: no new version either
        doc_id = world.docs["report"]
        body = dict(document(world.alice, "10", world.gp), id=doc_id)
        _refused(api.put(f"/fhir/DocumentReference/{doc_id}", json=body, headers=bearer(gp)))
        _refused(api.delete(f"/fhir/DocumentReference/{doc_id}", headers=bearer(gp)))
        assert _versions(sec_engine, world.tenant, "DocumentReference", doc_id) == 1
        # a transaction Bundle: all or nothing, audit included
        bundle = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {
                    "resource": document(world.alice, "10", world.gp),
                    "request": {"method": "POST", "url": "DocumentReference"},
                }
            ],
        }
        _refused(api.post("/fhir", json=bundle, headers=bearer(gp)))
        assert _stored(sec_engine, world.tenant, "DocumentReference") == before
        # a read is not answered either, nor a refused token (its refusal is an event too)
        r = api.get(f"/fhir/DocumentReference/{doc_id}", headers=bearer(gp))
        _refused(r)
        assert "dGVzdA" not in r.text
        _refused(api.get(f"/fhir/DocumentReference/{doc_id}"))
    # the trail is back: the same write goes through, with its event
    r = api.post(
        "/fhir/DocumentReference", json=document(world.alice, "10", world.gp), headers=bearer(gp)
    )
    assert r.status_code == 201, r.text
    new_id = r.json()["id"]
    assert _stored(sec_engine, world.tenant, "DocumentReference") == before + 1
    created = [
        e
        for e in _events(sec_engine, world.tenant)
        if e["subtype"][0]["code"] == "create"
        and any(x["what"].get("reference") == f"DocumentReference/{new_id}" for x in e["entity"])
    ]
    assert len(created) == 1  # one event, committed with the write (not a second one after)
    assert created[0]["outcome"] == "0"


def test_a_failed_write_is_audited_as_failed(api, world, token, sec_engine) -> None:  # noqa: ANN001
    nurse = token("practitioner", **pro(world, "nurse"))
    # class 31 (imaging) is not writable by a nurse in the shipped matrix
    r = api.post("/fhir/DocumentReference", json=document(world.alice, "31"), headers=bearer(nurse))
    assert r.status_code == 403, r.text
    last = _events(sec_engine, world.tenant)[-1]
    assert last["subtype"][0]["code"] == "create" and last["outcome"] == "4"


def test_concurrent_writes_and_reads_keep_one_intact_chain(api, world, token, sec_engine) -> None:  # noqa: ANN001
    """Writes append inside their own transactions while reads use the group commit: no
    deadlock, one event per request, and the chain still verifies."""
    from concurrent.futures import ThreadPoolExecutor

    from socle.security.audit import verify
    from socle.security.keys import audit_key

    gp = token("practitioner", **pro(world, "gp"))
    start = len(_events(sec_engine, world.tenant))

    def write(_: int) -> int:
        body = document(world.alice, "10", world.gp)
        return api.post("/fhir/DocumentReference", json=body, headers=bearer(gp)).status_code

    def read(_: int) -> int:
        doc = world.docs["report"]
        return api.get(f"/fhir/DocumentReference/{doc}", headers=bearer(gp)).status_code

    with ThreadPoolExecutor(6) as pool:
        writes = list(pool.map(write, range(12)))
        reads = list(pool.map(read, range(12)))
        mixed = list(pool.map(lambda i: write(i) if i % 2 else read(i), range(12)))
    assert set(writes) == {201} and set(reads) == {200} and set(mixed) == {200, 201}
    assert len(_events(sec_engine, world.tenant)) - start == 36
    data_dir = sec_engine.socle_security.config.data_dir
    result = verify(sec_engine.store.engine, audit_key(data_dir).public_key())
    assert result.ok, result.problems


def test_a_deadlock_in_the_audit_append_is_a_conflict(sec_engine, tenant) -> None:  # noqa: ANN001
    """PostgreSQL cancels one of two deadlocked transactions: when it is the audit append
    that is cancelled, the write is retryable (WriteConflict), not refused as if the trail
    were down."""
    from socle.fhir.storage.store import WriteConflict
    from socle.security.audit import AuditRecord, AuditUnavailable

    if sec_engine.store.sqlite:
        pytest.skip("PostgreSQL's deadlock detection")
    record = AuditRecord(
        tenant="deadlocked", action="update", outcome=200, agent={"id": "u"},
        patients=[], entities=[], res_type="Patient",
    )  # fmt: skip
    try:
        with (
            audit_deadlocks(sec_engine, "NEW.tenant = 'deadlocked'"),
            pytest.raises(WriteConflict),
            sec_engine.store.session(tenant, write=True) as s,
        ):
            sec_engine.guard.audit.append_in(s.conn, record)
    except AuditUnavailable:
        pytest.fail("a deadlock was taken for a broken audit trail")
