"""Concurrent writers stay correct on both backends: no lost update, no duplicate create."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from socle.fhir.context import RequestContext
from socle.fhir.errors import FhirError
from socle.fhir.storage.store import WriteConflict

INS = "urn:oid:1.2.250.1.213.1.4.10"


def _patient(**extra):  # noqa: ANN003
    return {"resourceType": "Patient", "name": [{"family": "Concurrent"}], **extra}


def _retrying(fhir_engine, tenant, fn):  # noqa: ANN001
    for _ in range(20):
        try:
            with fhir_engine.store.session(tenant, write=True) as s:
                return fn(s)
        except WriteConflict:
            continue
    raise AssertionError("too many conflicts")


def test_parallel_updates_lose_nothing(fhir_engine, tenant) -> None:  # noqa: ANN001
    ctx = RequestContext(tenant=tenant)
    crud = fhir_engine.crud
    _retrying(
        fhir_engine, tenant, lambda s: crud.update(s, ctx, "Patient", "c1", _patient(id="c1"))
    )

    def bump(i: int) -> int:
        return _retrying(
            fhir_engine,
            tenant,
            lambda s: (
                crud.update(s, ctx, "Patient", "c1", _patient(id="c1", gender="other")).version
            ),
        )

    with ThreadPoolExecutor(8) as pool:
        versions = list(pool.map(bump, range(40)))
    assert sorted(versions) == list(range(2, 42))
    with fhir_engine.store.session(tenant) as s:
        assert crud.read(s, "Patient", "c1").version == 41


def test_parallel_if_match_only_one_wins(fhir_engine, tenant) -> None:  # noqa: ANN001
    ctx = RequestContext(tenant=tenant)
    crud = fhir_engine.crud
    _retrying(
        fhir_engine, tenant, lambda s: crud.update(s, ctx, "Patient", "c2", _patient(id="c2"))
    )

    def guarded(_i: int) -> str:
        try:
            _retrying(
                fhir_engine,
                tenant,
                lambda s: crud.update(s, ctx, "Patient", "c2", _patient(id="c2"), if_match=1),
            )
            return "ok"
        except FhirError as err:
            assert err.status == 412
            return "412"

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(guarded, range(16)))
    assert outcomes.count("ok") == 1 and outcomes.count("412") == 15


@pytest.mark.parametrize("n", [12])
def test_parallel_conditional_creates_make_one_resource(fhir_engine, tenant, n) -> None:  # noqa: ANN001
    ctx = RequestContext(tenant=tenant)
    res = _patient(identifier=[{"system": INS, "value": "190017512399994"}])
    cond = f"identifier={INS}|190017512399994"

    def create(_i: int) -> str:
        return _retrying(
            fhir_engine,
            tenant,
            lambda s: fhir_engine.crud.create(s, ctx, "Patient", res, if_none_exist=cond).res_id,
        )

    with ThreadPoolExecutor(6) as pool:
        ids = set(pool.map(create, range(n)))
    assert len(ids) == 1


def test_sqlite_writers_of_one_process_queue_before_the_database(fhir_engine, tenant) -> None:  # noqa: ANN001
    """A second writer thread waits on the store's lock, not in SQLite's busy handler
    (which sleeps up to 100 ms at a time): it takes no connection until the first commits."""
    import threading
    import time

    store = fhir_engine.store
    if not store.sqlite:
        pytest.skip("SQLite's single writer")
    pool = store.engine.pool
    inside, done = threading.Event(), threading.Event()

    def second() -> None:
        inside.wait()
        with store.session(tenant, write=True):
            pass
        done.set()

    worker = threading.Thread(target=second)
    worker.start()
    with store.session(tenant, write=True):
        base = pool.checkedout()
        inside.set()
        time.sleep(0.3)
        assert pool.checkedout() == base  # the second writer holds no connection yet
        assert not done.is_set()
    worker.join(10)
    assert done.is_set()


def test_sqlite_writer_waits_no_longer_than_the_busy_timeout(
    fhir_engine, tenant, monkeypatch
) -> None:  # noqa: ANN001
    """A writer thread that cannot get the store's lock gives up as SQLite would after its
    busy timeout: a retryable WriteConflict, not an endless wait."""
    import threading

    from socle.fhir.storage import store as ST

    store = fhir_engine.store
    if not store.sqlite:
        pytest.skip("SQLite's single writer")
    monkeypatch.setattr(ST, "SQLITE_BUSY_TIMEOUT_MS", 200)
    outcome: list[str] = []

    def second() -> None:
        try:
            with store.session(tenant, write=True):
                outcome.append("entered")
        except ST.WriteConflict:
            outcome.append("conflict")

    with store.session(tenant, write=True):
        worker = threading.Thread(target=second)
        worker.start()
        worker.join(10)
    assert outcome == ["conflict"]


def test_sqlite_write_sessions_share_one_connection(tmp_path) -> None:  # noqa: ANN001
    """SQLite's writers are serialised, so their sessions reuse one connection; a failed
    session closes it (the next one opens another) and nothing of the failure is kept."""
    from socle.fhir.storage.database import create_db_engine
    from socle.fhir.storage.migrate import migrate
    from socle.fhir.storage.store import ResourceStore

    db = create_db_engine(f"sqlite:///{tmp_path / 'w.db'}", pool_size=2)
    migrate(db)
    store = ResourceStore(db)
    drivers = []
    for _ in range(2):
        with store.session("t", write=True) as s:
            drivers.append(s.conn)
            s.conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS probe (v INTEGER)")
    assert drivers[0] is drivers[1]
    with pytest.raises(RuntimeError), store.session("t", write=True) as s:
        s.conn.exec_driver_sql("INSERT INTO probe VALUES (1)")
        raise RuntimeError("refused")
    with store.session("t", write=True) as s:
        assert s.conn is not drivers[0]  # a new one (its driver connection back to the pool)
        assert s.conn.exec_driver_sql("SELECT count(*) FROM probe").scalar() == 0
        s.conn.exec_driver_sql("INSERT INTO probe VALUES (2)")
    with store.session("t") as s:  # readers keep their pooled connections
        assert s.conn.exec_driver_sql("SELECT v FROM probe").scalars().all() == [2]
    store.dispose()
    assert store._writer_conn is None
