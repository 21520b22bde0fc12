"""Fixed statements on the driver cursor, and the connection settings they rely on."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, bindparam, event, insert, select, text, update
from sqlalchemy.exc import DataError, IntegrityError

from socle.fhir.storage import database as D
from socle.fhir.storage import schema as S
from socle.fhir.storage.database import create_db_engine
from socle.fhir.storage.fixed import FixedStatement, pipeline

_R = S.resource.c
_INSERT = FixedStatement(
    insert(S.resource).values(
        {c: bindparam(c) for c in ("tenant", "res_type", "res_id", "version", "last_updated")}
        | {"deleted": bindparam("deleted")}
    )
)
_BY_ID = FixedStatement(
    select(_R.version, _R.deleted).where(
        _R.tenant == bindparam("t"), _R.res_type == "Patient", _R.res_id == bindparam("id")
    )
)
_BUMP = FixedStatement(
    update(S.resource)
    .where(_R.tenant == bindparam("t"), _R.res_id == bindparam("id"))
    .values(version=_R.version + 1)
)


def _row(tenant: str, res_id: str) -> dict:
    return {
        "tenant": tenant,
        "res_type": "Patient",
        "res_id": res_id,
        "version": 1,
        "last_updated": 1,
        "deleted": False,
    }


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A small engine of its own (pool of one) on the test database."""
    made = create_db_engine(db_url, pool_size=1)
    yield made
    made.dispose()


@pytest.fixture
def postgres_only(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL: prepared statements, pool pings, pipeline mode")


def test_runs_in_the_callers_transaction(engine: Engine, tenant: str) -> None:
    """Reads see the transaction's own writes, literals bound by the statement itself
    ('Patient') are sent, and a rollback takes the fixed statements' writes back."""
    with engine.connect() as conn:
        conn.begin()
        assert _INSERT.rowcount(conn, _row(tenant, "a")) == 1
        assert _BY_ID.first(conn, {"t": tenant, "id": "a"})[0] == 1
        assert _BUMP.rowcount(conn, {"t": tenant, "id": "a"}) == 1
        version, deleted = _BY_ID.first(conn, {"t": tenant, "id": "a"})
        assert (version, bool(deleted)) == (2, False)
        assert _BY_ID.first(conn, {"t": tenant, "id": "missing"}) is None
        conn.rollback()
    with engine.connect() as conn:
        conn.begin()
        assert _BY_ID.first(conn, {"t": tenant, "id": "a"}) is None
        conn.rollback()


def test_driver_errors_are_sqlalchemy_errors(engine: Engine, tenant: str) -> None:
    """The store tells a conflict (IntegrityError) from a failure as with SQLAlchemy."""
    with engine.connect() as conn:
        conn.begin()
        _INSERT.rowcount(conn, _row(tenant, "dup"))
        with pytest.raises(IntegrityError):
            _INSERT.rowcount(conn, _row(tenant, "dup"))
        conn.rollback()


def test_statement_listeners_see_fixed_statements(engine: Engine, tenant: str) -> None:
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda c, cur, sql, *a: seen.append(sql))
    with engine.connect() as conn:
        conn.begin()
        _BY_ID.first(conn, {"t": tenant, "id": "a"})
        conn.rollback()
    assert any(sql.lstrip().upper().startswith("SELECT RESOURCE.VERSION") for sql in seen)


def test_postgres_prepares_only_fixed_statements(
    engine: Engine, postgres_only: None, tenant: str
) -> None:
    """Searches (run through SQLAlchemy) are never server-prepared, so PostgreSQL plans
    each with its values; fixed statements are, so they may use a generic plan."""
    query = select(_R.pk).where(_R.tenant == bindparam("t"), _R.res_id == "searched")
    prepared = "SELECT statement FROM pg_prepared_statements"
    with engine.connect() as conn:
        conn.begin()
        for _ in range(10):  # psycopg's default would prepare it after 5
            conn.execute(query, {"t": tenant}).all()
        _BY_ID.first(conn, {"t": tenant, "id": "a"})
        statements = [r[0] for r in conn.execute(text(prepared))]
        conn.rollback()
    assert not any("searched" in s for s in statements)
    assert any("resource.version" in s.lower() for s in statements)


def test_postgres_pings_only_idle_connections(
    engine: Engine, postgres_only: None, monkeypatch
) -> None:  # noqa: ANN001
    pings: list[int] = []
    original = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda c: pings.append(1) or original(c))
    for _ in range(3):  # busy: checked out again at once
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    assert pings == []
    monkeypatch.setattr(D, "PG_PING_AFTER_IDLE_S", 0.0)
    time.sleep(0.01)
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    assert pings == [1]


def _checkpointers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "sqlite-checkpoint"]


def test_sqlite_checkpoints_the_wal_in_the_background(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """Commits below 4,000 WAL pages do not copy them back into the database file
    themselves: the checkpointer thread does (the file grows without any checkpoint of
    ours), and stops with the engine."""
    monkeypatch.setattr(D, "SQLITE_CHECKPOINT_INTERVAL_S", 0.05)
    path = tmp_path / "wal.db"
    before = set(_checkpointers())  # other engines' threads may still be stopping
    engine = create_db_engine(f"sqlite:///{path}", pool_size=1)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one() == 4000
        conn.exec_driver_sql("CREATE TABLE t (x BLOB)")
        conn.commit()
        for _ in range(50):  # some 100 pages of 4 KB: in the WAL until a checkpoint
            conn.begin()
            conn.exec_driver_sql("INSERT INTO t VALUES (zeroblob(8000))")
            conn.commit()
    deadline = time.monotonic() + 10
    while path.stat().st_size < 300_000 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert path.stat().st_size >= 300_000  # the pages reached the database file
    (ours,) = set(_checkpointers()) - before  # one thread for this engine
    engine.dispose()
    ours.join(5)
    assert not ours.is_alive()


def test_postgres_pipeline_sends_together_and_reports_errors(
    engine: Engine, postgres_only: None, tenant: str
) -> None:
    with engine.connect() as conn:
        conn.begin()
        with pipeline(conn):
            _INSERT.rowcount(conn, _row(tenant, "p1"))
            _INSERT.rowcount(conn, _row(tenant, "p2"))
        assert _BY_ID.first(conn, {"t": tenant, "id": "p2"})[0] == 1
        with pytest.raises(IntegrityError), pipeline(conn):
            _INSERT.rowcount(conn, _row(tenant, "p3"))
            _INSERT.rowcount(conn, _row(tenant, "p1"))  # already there
        conn.rollback()


def test_postgres_flush_of_one_resource_is_one_pipeline(fhir_engine, tenant) -> None:  # noqa: ANN001
    """A write of one resource sends its version and index rows in one round trip; a bulk
    flush (COPY) does not use the pipeline (COPY cannot run in one)."""
    from socle.fhir.context import RequestContext

    store = fhir_engine.store
    if store.sqlite:
        pytest.skip("psycopg pipeline mode")
    seen: dict[str, int] = {}

    def capture(conn, cursor, sql, *args) -> None:  # noqa: ANN001
        table = sql.split()[2].strip('"') if sql.startswith("INSERT INTO") else ""
        if table.startswith(("idx_", "resource_version")):
            seen[table] = int(conn.connection.dbapi_connection.pgconn.pipeline_status)

    patient = {"resourceType": "Patient", "name": [{"family": "Pipe"}], "gender": "female"}
    event.listen(store.engine, "before_cursor_execute", capture)
    try:
        with store.session(tenant, write=True) as s:
            fhir_engine.crud.create(s, RequestContext(tenant=tenant), "Patient", patient)
    finally:
        event.remove(store.engine, "before_cursor_execute", capture)
    assert seen and all(seen.values()), seen  # every insert sent in pipeline mode
    assert {"resource_version", "idx_string"} <= set(seen)


def test_postgres_first_statement_carries_the_begin(
    engine: Engine, postgres_only: None, tenant: str
) -> None:
    """The first fixed statement of a transaction goes in a pipeline with psycopg's BEGIN
    (one round trip, not two); later ones do not need one."""
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        opened: list[int] = []
        original = raw.pipeline
        raw.pipeline = lambda: opened.append(1) or original()
        try:
            conn.begin()
            assert _BY_ID.first(conn, {"t": tenant, "id": "none"}) is None
            assert raw.info.transaction_status != 0  # the BEGIN went with it
            assert _BY_ID.first(conn, {"t": tenant, "id": "none"}) is None
            conn.rollback()
        finally:
            del raw.pipeline
    assert opened == [1]


def test_postgres_update_of_a_locked_row_bumps_it_in_the_flush(fhir_engine, tenant) -> None:  # noqa: ANN001
    """An update whose row this transaction holds locked (`SELECT … FOR UPDATE`) sends the
    resource row's new version with the version and index rows, in the flush's pipeline:
    no round trip of its own; the row is at the new version once flushed."""
    from socle.fhir.context import RequestContext

    store = fhir_engine.store
    if store.sqlite:
        pytest.skip("psycopg pipeline mode")
    ctx = RequestContext(tenant=tenant)
    patient = {"resourceType": "Patient", "id": "bump1", "gender": "female"}
    with store.session(tenant, write=True) as s:
        fhir_engine.crud.update(s, ctx, "Patient", "bump1", patient)
    bumps: list[int] = []

    def capture(conn, cursor, sql, *args) -> None:  # noqa: ANN001
        if sql.startswith("UPDATE resource SET"):
            bumps.append(int(conn.connection.dbapi_connection.pgconn.pipeline_status))

    event.listen(store.engine, "before_cursor_execute", capture)
    try:
        with store.session(tenant, write=True) as s:
            fhir_engine.crud.update(s, ctx, "Patient", "bump1", {**patient, "gender": "other"})
            assert s.current("Patient", "bump1").version == 2  # a read flushes it first
    finally:
        event.remove(store.engine, "before_cursor_execute", capture)
    assert bumps == [1], bumps  # sent once, in pipeline mode (with the version's rows)
    with store.session(tenant) as s:
        assert s.current("Patient", "bump1").version == 2
        assert fhir_engine.crud.read(s, "Patient", "bump1").resource["gender"] == "other"


def test_postgres_creation_sends_the_resource_row_with_its_version(fhir_engine, tenant) -> None:  # noqa: ANN001
    """A created resource takes a key from the sequence ahead of need: its row goes in the
    flush's pipeline with its version and index rows (no INSERT … RETURNING of its own),
    and resources created by concurrent sessions get distinct keys."""
    from concurrent.futures import ThreadPoolExecutor

    from socle.fhir.context import RequestContext
    from socle.fhir.storage import schema as S

    store = fhir_engine.store
    if store.sqlite:
        pytest.skip("psycopg pipeline mode")
    ctx = RequestContext(tenant=tenant)
    seen: list[tuple[str, int]] = []

    def capture(conn, cursor, sql, *args) -> None:  # noqa: ANN001
        if sql.startswith("INSERT INTO resource ") or '"resource_version"' in sql:
            seen.append((sql, int(conn.connection.dbapi_connection.pgconn.pipeline_status)))

    def create(i: int) -> str:
        patient = {"resourceType": "Patient", "name": [{"family": f"Key{i}"}]}
        with store.session(tenant, write=True) as s:
            return fhir_engine.crud.create(s, ctx, "Patient", patient).res_id

    event.listen(store.engine, "before_cursor_execute", capture)
    try:
        create(0)
    finally:
        event.remove(store.engine, "before_cursor_execute", capture)
    assert len(seen) == 2 and all(status for _, status in seen), seen
    assert "RETURNING" not in seen[0][0]
    with ThreadPoolExecutor(4) as pool:
        ids = list(pool.map(create, range(1, 41)))
    with store.engine.connect() as conn:
        r = S.resource.c
        keys = conn.execute(select(r.pk).where(r.tenant == tenant)).scalars().all()
    assert len(keys) == len(set(keys)) == 41 and len(set(ids)) == 40


def test_postgres_first_after_tells_whose_error_it_is(
    engine: Engine, postgres_only: None, tenant: str
) -> None:
    """`first_after` sends writes and a query in one pipeline; an error of the writes
    (from the server, or raised in Python while sending them) comes as PrecedingFailed,
    the query's own error as itself, and a success gives the query's row."""
    from socle.fhir.storage.fixed import PrecedingFailed

    def insert_p1() -> None:
        _INSERT.rowcount(conn, _row(tenant, "p1"))

    def refused() -> None:
        raise ValueError("refused while sending")

    with engine.connect() as conn:
        conn.begin()
        assert _BY_ID.first_after(conn, {"t": tenant, "id": "p1"}, insert_p1) == (1, False)
        with pytest.raises(PrecedingFailed) as failed:
            _BY_ID.first_after(conn, {"t": tenant, "id": "p1"}, insert_p1)  # already there
        assert isinstance(failed.value.error, IntegrityError)
        conn.rollback()
        conn.begin()
        with pytest.raises(PrecedingFailed) as failed:
            _BY_ID.first_after(conn, {"t": tenant, "id": "p1"}, refused)
        assert isinstance(failed.value.error, ValueError)
        conn.rollback()
        conn.begin()
        with pytest.raises(DataError):  # the query's own: a NUL in its parameter
            _BY_ID.first_after(conn, {"t": tenant, "id": "p\x00"}, insert_p1)
        conn.rollback()
