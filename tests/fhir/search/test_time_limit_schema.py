"""The query-time limit on both backends, and the migrations against the schema module."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Index, Table, text

from socle.fhir.errors import FhirError
from socle.fhir.search.dialect import time_limit
from socle.fhir.storage import schema as S
from socle.fhir.storage.database import PG_NEVER_PREPARE
from socle.fhir.storage.migrate import alembic_config
from socle.fhir.storage.store import ResourceStore
from tests.fhir.search.conftest import SearchDb

SLOW = {
    "postgresql": "SELECT pg_sleep(2)",
    "sqlite": (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 500000000) "
        "SELECT count(*) FROM c"
    ),
}


def _timeout(s) -> str:  # noqa: ANN001
    return s.conn.execute(text("SHOW statement_timeout")).scalar_one()


def test_slow_statement_is_too_costly(search_store: ResourceStore) -> None:
    name = search_store.engine.dialect.name
    with pytest.raises(FhirError) as err, search_store.session("t") as s, time_limit(s, 0.05):
        s.execute(text(SLOW[name]))
    assert (err.value.status, err.value.code) == (400, "too-costly")
    # the connection is usable afterwards (rolled back, handler removed)
    with search_store.session("t") as s:
        assert s.execute(text("SELECT 1")).scalar_one() == 1


def test_no_limit_when_disabled(search_store: ResourceStore) -> None:
    with search_store.session("t") as s, time_limit(s, 0):
        assert s.execute(text("SELECT 2")).scalar_one() == 2


def test_postgres_timeout_is_local_and_restored(db: SearchDb) -> None:
    """Restored after each search in a write transaction; in a read-only one it stays set
    until the commit (see test_query_shape.py); either way it ends with the transaction."""
    if db.backend != "postgresql":
        pytest.skip("statement_timeout is PostgreSQL's")
    db.put({"resourceType": "Patient", "id": "p", "name": [{"family": "Durand"}]})
    with db.store.session(db.tenant, write=True) as s:
        before = _timeout(s)
        with time_limit(s, 3):
            assert _timeout(s) == "3s"
        assert _timeout(s) == before
        query = db.engine.parse("Patient", [("family", "durand")])
        assert len(db.engine.search(s, query).pks) == 1
        assert _timeout(s) == before
    with db.store.session(db.tenant) as s:
        assert _timeout(s) == before
        assert len(db.engine.search(s, query).pks) == 1
    with db.store.session(db.tenant) as s:
        assert _timeout(s) == before


def test_search_runs_under_the_limit(db: SearchDb, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[float] = []
    from socle.fhir.search import engine as engine_module

    real = engine_module.time_limit

    def spy(session, seconds):  # noqa: ANN001, ANN202
        seen.append(seconds)
        return real(session, seconds)

    monkeypatch.setattr(engine_module, "time_limit", spy)
    db.put({"resourceType": "Patient", "id": "p", "name": [{"family": "Durand"}]})
    db.ids("Patient", [("family", "durand")])
    with db.store.session(db.tenant) as s:
        db.engine.find_pks(s, "Patient", [("family", "durand")])
        db.engine.count(s, db.engine.parse("Patient", []))
    assert seen == [db.engine.limits.max_query_seconds] * 3


def _table_of(diff: Any) -> str | None:
    """The table an autogenerate difference is about (None if it cannot tell)."""
    if isinstance(diff, list):
        return _table_of(diff[0])
    for item in diff[1:]:
        if isinstance(item, Table):
            return item.name
        if isinstance(item, Index):
            return item.table.name
        if isinstance(item, str) and item in S.metadata.tables:
            return item
    return None


def _absent_here(diff: Any, conn: Any) -> bool:
    """A PostgreSQL-only index the schema declares, missing for a good reason: another
    backend, or a server where pg_trgm could not be installed (migration 0008 skips it)."""
    if diff[0] != "add_index" or diff[1].name not in S.POSTGRESQL_ONLY:
        return False
    if conn.dialect.name != "postgresql":
        return True
    installed = text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
    return conn.execute(installed).first() is None


def test_migrations_match_the_schema_module(search_store: ResourceStore) -> None:
    """The storage tables as migrated equal `schema.py` (other packages' tables aside)."""
    with search_store.engine.connect() as conn:
        context = MigrationContext.configure(conn)
        assert context.get_current_revision() is not None
        diffs = [
            d
            for d in compare_metadata(context, S.metadata)
            if _table_of(d) in S.metadata.tables and not _absent_here(d, conn)
        ]
        names = _index_names(conn, "idx_token") | _index_names(conn, "idx_string")
    assert diffs == []
    assert "ix_idx_token_pk" in names and "ix_idx_token_0" not in names
    if search_store.engine.dialect.name == "postgresql":
        assert S.TRIGRAM_INDEX in names  # pg_trgm is available on the test server
    else:
        assert S.TRIGRAM_INDEX not in names


def _index_names(conn: Any, table: str) -> set[str]:
    from sqlalchemy import inspect

    return {i["name"] for i in inspect(conn).get_indexes(table)}


def test_downgrade_and_upgrade_composite(tmp_path) -> None:  # noqa: ANN001
    from alembic import command

    from socle.fhir.storage.database import create_db_engine
    from socle.fhir.storage.migrate import migrate

    engine = create_db_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrate(engine)
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001")
    with engine.connect() as conn:
        names = {r[0] for r in conn.execute(text("SELECT name FROM sqlite_master"))}
    assert "idx_composite" not in names and "idx_token" in names
    migrate(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM idx_composite")).scalar_one() == 0
    engine.dispose()


def test_postgres_connections_plan_for_short_statements(search_store: ResourceStore) -> None:
    """Every pooled connection plans searches with the parameter values (psycopg never
    prepares them: tests/fhir/storage/test_fixed.py) and never JIT-compiles, before any
    search has run on it (database.py, not the search, sets both)."""
    if search_store.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL settings")
    with search_store.engine.connect() as conn:
        assert conn.execute(text("SHOW jit")).scalar_one() == "off"
        assert conn.connection.dbapi_connection.prepare_threshold == PG_NEVER_PREPARE
    with search_store.session("t", write=True) as s:
        assert s.conn.execute(text("SHOW jit")).scalar_one() == "off"
