"""Database engines for the two backends: embedded SQLite (WAL) and PostgreSQL (psycopg 3)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

SQLITE_BUSY_TIMEOUT_MS = 30_000
PG_SESSION_SETTINGS = ("SET plan_cache_mode = force_custom_plan", "SET jit = off")


def normalize_url(url: str) -> str:
    """Use psycopg 3 for any PostgreSQL URL, whatever driver the user wrote."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql" and parsed.drivername != "postgresql+psycopg":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def create_db_engine(url: str, *, pool_size: int = 8) -> Engine:
    """Create a configured engine; SQLite gets WAL, a busy timeout and explicit BEGINs."""
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, parsed.database, pool_size)
    engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size * 2, pool_pre_ping=True)

    @event.listens_for(engine, "connect")
    def _on_pg_connect(dbapi_conn, _record) -> None:  # noqa: ANN001
        # psycopg prepares repeated statements; PostgreSQL then switches to a generic plan
        # that ignores the parameter values, which turned 4 ms searches into 300 ms ones.
        # JIT compiles any plan costed above jit_above_cost, i.e. any statement whose
        # estimates reach a few hundred thousand index rows, whatever it really reads:
        # 7 to 26 ms of LLVM compilation for a search that runs in 0.6 ms (measured at 1M
        # resources). Socle's statements are short by design, so it is off for them all.
        # A write transaction lets its fixed-shape statements use generic plans again
        # until it runs a search (store.py, `_PG_WRITE_PLANS`).
        with dbapi_conn.cursor() as cur:
            for setting in PG_SESSION_SETTINGS:
                cur.execute(setting)
        dbapi_conn.commit()

    return engine


def _sqlite_engine(url: str, database: str | None, pool_size: int) -> Engine:
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        pool_size=pool_size,
        max_overflow=pool_size * 2,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # noqa: ANN001
        dbapi_conn.isolation_level = None  # let us emit BEGIN ourselves (see _on_begin)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:  # noqa: ANN001
        # A writer takes the write lock up front: a deferred transaction that later
        # upgrades can fail with SQLITE_BUSY without waiting, which loses the update.
        immediate = conn.info.pop("socle_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"
