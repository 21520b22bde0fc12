"""``:contains`` and the trigram index of migration 0008 (PostgreSQL).

The engine's SQL must be one the index can answer (``LIKE '%…%'`` on the normalised
value, the pattern known when planning), and a server where pg_trgm cannot be installed
must still migrate, with ``:contains`` answered by a scan.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import make_url

from socle.fhir.search import SearchLimits, dialect
from socle.fhir.storage import schema as S
from socle.fhir.storage.database import create_db_engine, normalize_url
from socle.fhir.storage.migrate import migrate
from socle.fhir.storage.store import ResourceStore
from tests.fhir.search.conftest import PG_REASON, PG_URL, SearchDb, _libpq


def _names(db: SearchDb) -> None:
    for i, family in enumerate(["Perrin", "Ferrier", "Terrien", "Martin", "Dupont", "Perrot"]):
        db.put({"resourceType": "Patient", "id": f"p{i}", "name": [{"family": family}]})


def test_contains_finds_inner_text(db: SearchDb) -> None:
    _names(db)
    assert db.idset("Patient", [("name:contains", "ERRI")]) == {"p0", "p1", "p2"}
    assert db.idset("Patient", [("family:contains", "rr")]) == {"p0", "p1", "p2", "p5"}
    assert db.idset("Patient", [("family:contains", "%")]) == set()  # not a wildcard
    assert db.idset("Patient", [("family:contains", "e%r")]) == set()


def test_contains_sql_can_use_the_trigram_index(db: SearchDb) -> None:
    """Without the B-trees of idx_string (dropped inside a transaction rolled back) and
    with scans discouraged, the plan of the search's own statement reads the trigram
    index: a pattern the planner cannot see, or a function around the column, would
    leave it a sequential scan."""
    if db.backend != "postgresql":
        pytest.skip("pg_trgm is PostgreSQL's")
    _names(db)
    captured: list[tuple[str, object]] = []
    engine = db.store.engine

    def capture(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001, ARG001
        captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        assert db.idset("Patient", [("name:contains", "erri")]) == {"p0", "p1", "p2"}
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    sql, params = next((s, p) for s, p in captured if "LIKE" in s)
    assert "s0.param || ''" in sql  # the B-tree of the parameter's values is not offered
    with db.store.session(db.tenant) as s:
        raw = s.conn.connection.dbapi_connection
        with raw.cursor() as cur:
            cur.execute("SET LOCAL enable_seqscan = off")
            for btree in ("ix_idx_string_0", "ix_idx_string_resource"):
                cur.execute(f"DROP INDEX {btree}")  # rolled back with the session
            cur.execute("EXPLAIN " + sql, params)
            plan = "\n".join(row[0] for row in cur.fetchall())
        s.conn.rollback()
    assert f"Bitmap Index Scan on {S.TRIGRAM_INDEX}" in plan, plan


def test_short_contains_values_keep_the_btree(db: SearchDb) -> None:
    """Two letters have no trigram: the parameter's B-tree range answers them."""
    _names(db)
    seen: list[str] = []

    def capture(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001, ARG001
        seen.append(statement)

    event.listen(db.store.engine, "before_cursor_execute", capture)
    try:
        assert db.idset("Patient", [("family:contains", "rr")]) == {"p0", "p1", "p2", "p5"}
        assert db.idset("Patient", [("family:contains", "rri,ot")]) == {"p0", "p1", "p2", "p5"}
        assert db.idset("Patient", [("family:contains", "rri,rro")]) == {"p0", "p1", "p2", "p5"}
    finally:
        event.remove(db.store.engine, "before_cursor_execute", capture)
    # :contains is a LIKE on PostgreSQL, ``instr`` on SQLite (`clauses.string.contains`)
    opaque = ["|| ''" in sql for sql in seen if "LIKE" in sql or "instr(" in sql]
    with db.store.session(db.tenant) as s:
        expected = dialect.trigram_index(s)
    assert expected == (db.backend == "postgresql")
    assert opaque == [False, False, expected]


@pytest.fixture
def restricted_url() -> Iterator[str]:
    """A fresh database and a role that may create tables in its own schema but not
    install extensions (no CREATE on the database, none on ``public``)."""
    if PG_URL is None:
        pytest.skip(PG_REASON)
    import psycopg

    suffix = uuid.uuid4().hex[:10]
    dbname, role = f"socle_notrgm_{suffix}", f"socle_notrgm_{suffix}"
    admin = _libpq(PG_URL)
    with psycopg.connect(admin, autocommit=True) as conn:
        superuser = "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
        if not conn.execute(superuser).fetchone()[0]:
            pytest.skip("needs a superuser to create a database and a role")
        conn.execute(f'CREATE DATABASE "{dbname}"')
        conn.execute(f'CREATE ROLE "{role}" LOGIN')
    url = make_url(normalize_url(PG_URL)).set(database=dbname)
    with psycopg.connect(_libpq(url.render_as_string(hide_password=False)), autocommit=True) as c:
        c.execute(f'CREATE SCHEMA app AUTHORIZATION "{role}"')
    try:
        mine = url.set(username=role, password=None, query={"options": "-csearch_path=app"})
        yield mine.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
            conn.execute(f'DROP ROLE IF EXISTS "{role}"')


def test_migration_without_pg_trgm_skips_the_index(
    restricted_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    engine = create_db_engine(restricted_url, pool_size=1)
    try:
        with caplog.at_level("WARNING"):
            migrate(engine)
        assert any("pg_trgm could not be installed" in r.getMessage() for r in caplog.records)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT current_user")).scalar_one().startswith("socle_")
            indexes = conn.execute(
                text("SELECT indexname FROM pg_indexes WHERE tablename = 'idx_string'")
            ).scalars()
            assert S.TRIGRAM_INDEX not in set(indexes)
            none = "SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'"
            assert conn.execute(text(none)).scalar_one() == 0
        db = SearchDb(ResourceStore(engine), "t", SearchLimits())
        _names(db)
        with db.store.session(db.tenant) as s:
            assert dialect.trigram_index(s) is False
        assert db.idset("Patient", [("name:contains", "erri")]) == {"p0", "p1", "p2"}
    finally:
        engine.dispose()


def test_migration_0008_downgrades_and_upgrades_on_postgres(pg_module_url: str) -> None:
    from alembic import command

    from socle.fhir.storage.migrate import alembic_config

    engine = create_db_engine(pg_module_url, pool_size=1)
    try:
        migrate(engine)

        def indexes() -> set[str]:
            with engine.connect() as conn:
                sql = "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
                return set(conn.execute(text(sql)).scalars())

        assert S.TRIGRAM_INDEX in indexes() and "ix_idx_token_0" not in indexes()
        cfg = alembic_config(engine)
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0007")
        assert S.TRIGRAM_INDEX not in indexes() and "ix_idx_token_0" in indexes()
        migrate(engine)
        assert S.TRIGRAM_INDEX in indexes() and "ix_idx_token_0" not in indexes()
    finally:
        engine.dispose()


def test_contains_is_instr_on_sqlite_and_like_elsewhere() -> None:
    """``:contains`` compiles to ``instr`` on SQLite and to an escaped LIKE on PostgreSQL
    (whose trigram index answers it); ``%`` and ``_`` stay literal either way."""
    from sqlalchemy import select
    from sqlalchemy.dialects import postgresql, sqlite

    from socle.fhir.search.clauses.string import contains
    from socle.fhir.storage import schema as S

    stmt = select(S.idx_string.c.resource_pk).where(contains(S.idx_string.c.value, "a_b%"))
    lite = str(stmt.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
    pg = str(stmt.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    assert "(instr(idx_string.value, 'a_b%') > 0)" in lite and "LIKE" not in lite
    assert "LIKE" in pg and "a/_b/%" in pg and "ESCAPE '/'" in pg
