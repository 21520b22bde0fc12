"""Database engines for the two backends: embedded SQLite (WAL) and PostgreSQL (psycopg 3)."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import weakref
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError

from socle.fhir.storage.fixed import driver_execute

log = logging.getLogger("socle.storage")
SQLITE_BUSY_TIMEOUT_MS = 30_000
# A commit checkpoints the WAL itself only past this many pages (16 MB): the checkpointer
# thread below normally keeps it far smaller.
SQLITE_AUTOCHECKPOINT_PAGES = 4000
SQLITE_CHECKPOINT_INTERVAL_S = 0.25
PG_SESSION_SETTINGS = ("SET jit = off",)
# A pooled PostgreSQL connection idle for longer than this is pinged before use (a server
# restart or an idle-timeout firewall leaves dead ones in the pool); a busy one is not:
# the ping is a round trip, 13% of a one-resource write transaction when every checkout
# paid it (measured on the HL7 feed, docs/ins.md).
PG_PING_AFTER_IDLE_S = 2.0
PG_NEVER_PREPARE = 2**31 - 1  # psycopg's count of executions before it prepares on its own


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
    engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size * 2)

    @event.listens_for(engine, "connect")
    def _on_pg_connect(dbapi_conn, _record) -> None:  # noqa: ANN001
        # psycopg prepares a statement run 5 times; PostgreSQL may then switch to a generic
        # plan that ignores the parameter values, which turned 4 ms searches into 300 ms
        # ones. So nothing run through SQLAlchemy (every search) is prepared: it is always
        # planned with its values. Only the fixed-shape key lookups and one-row writes of
        # storage/fixed.py ask to be prepared, and there a generic plan is right.
        # JIT compiles any plan costed above jit_above_cost, i.e. any statement whose
        # estimates reach a few hundred thousand index rows, whatever it really reads:
        # 7 to 26 ms of LLVM compilation for a search that runs in 0.6 ms (measured at 1M
        # resources). Socle's statements are short by design, so it is off for them all.
        dbapi_conn.prepare_threshold = PG_NEVER_PREPARE  # unless asked (None: not even then)
        with dbapi_conn.cursor() as cur:
            for setting in PG_SESSION_SETTINGS:
                cur.execute(setting)
        dbapi_conn.commit()

    _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection before use when it sat idle (`PG_PING_AFTER_IDLE_S`).

    SQLAlchemy's `pool_pre_ping` pings at every checkout; a dead connection is one that
    sat idle, so here only those pay the round trip. A dead one is replaced by the pool
    (DisconnectionError at checkout); one that dies while busy fails its statement, and
    SQLAlchemy then invalidates the pool's connections."""

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn, record) -> None:  # noqa: ANN001
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn, record, _proxy) -> None:  # noqa: ANN001
        since = record.info.pop("idle_since", None)
        if dbapi_conn.closed or dbapi_conn.broken:
            raise DisconnectionError("connection closed while in the pool")
        if since is None or time.monotonic() - since < PG_PING_AFTER_IDLE_S:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError(f"connection lost while idle: {exc}") from exc


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
        cur.execute(f"PRAGMA wal_autocheckpoint={SQLITE_AUTOCHECKPOINT_PAGES}")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    if database and database != ":memory:" and not database.startswith("file:"):
        _Checkpointer(engine, database)

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:  # noqa: ANN001
        # A writer takes the write lock up front: a deferred transaction that later
        # upgrades can fail with SQLITE_BUSY without waiting, which loses the update.
        immediate = conn.info.pop("socle_write", False)
        driver_execute(conn, "BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


class _Checkpointer:
    """Copies the SQLite WAL back into the database file from a thread of its own.

    By default the commit that takes the WAL past 1,000 pages copies and syncs them all
    while its caller waits: one write in a few hundred paid tens of milliseconds, 0.6 ms a
    commit on average for one-resource writes. PASSIVE checkpoints never block readers or writers,
    and the sqlite3 module releases the GIL while they run, so here they cost the writers
    nothing. The thread starts with the first connection and stops when the engine is
    disposed or garbage-collected.
    """

    def __init__(self, engine: Engine, database: str) -> None:
        self.database = database
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()
        self.owner = weakref.ref(engine, lambda _ref: self.stop.set())
        event.listen(engine, "connect", self._on_connect)
        event.listen(engine, "engine_disposed", lambda _engine: self.stop.set())

    def _on_connect(self, _dbapi_conn, _record) -> None:  # noqa: ANN001
        """Start the thread, or a new one when the engine was disposed and is used again."""
        with self.lock:
            if self.thread is not None and self.thread.is_alive() and not self.stop.is_set():
                return
            self.stop = threading.Event()
            self.thread = threading.Thread(
                target=self._run, args=(self.stop,), name="sqlite-checkpoint", daemon=True
            )
            self.thread.start()

    def _run(self, stop: threading.Event) -> None:
        try:
            conn = sqlite3.connect(self.database, timeout=0.05, check_same_thread=False)
        except sqlite3.Error as exc:
            log.warning("WAL checkpointer not started", extra={"error": str(exc)})
            return
        try:
            while not stop.wait(SQLITE_CHECKPOINT_INTERVAL_S):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:  # busy or the file went away: try again later
                    log.debug("WAL checkpoint skipped", extra={"error": str(exc)})
        finally:
            conn.close()
