"""The backend-specific pieces of search: ``_total=estimate`` and the query-time limit.

Estimates: PostgreSQL answers from the planner (``EXPLAIN (FORMAT JSON)``, no scan, so an
estimate costs milliseconds on any table size); SQLite has no usable row estimate, so it
counts. The statement keeps its bound parameters: EXPLAIN is compiled around it, never
by rendering values into SQL text.

Time limit (`time_limit`): on PostgreSQL a transaction-local ``statement_timeout``
(``SET LOCAL``) bounds each statement of the search. In a read-only transaction it is set
once, by the first search, and simply left until the commit (the transaction runs nothing
but reads): one round trip per transaction instead of two per search. In a write
transaction (a conditional create…) the previous value is read and put back after each
search, so the writes that follow keep their own. The store tells which sessions write
(``StoreSession.write_transaction``; anything else is treated as writing, the safe side).
(JIT compilation, which cost searches more than it saved, is off for every connection:
`socle.fhir.storage.database`.) On SQLite a progress handler aborts the running
statement once the deadline of the whole search has passed. Either way the client gets
a 400 ``too-costly``: the query, not the server, is the problem, and a 5xx would invite
clients to retry the same expensive query.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from sqlalchemy import Engine, Select, func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.elements import ClauseElement

from socle.fhir.errors import FhirError
from socle.fhir.storage.schema import TRIGRAM_INDEX

EXACT_BELOW = 1000
QUERY_CANCELED = "57014"  # PostgreSQL SQLSTATE of a statement_timeout
PROGRESS_STEPS = 1000  # SQLite VM instructions between two deadline checks
_SET_TIMEOUT = text(
    "SELECT current_setting('statement_timeout'), set_config('statement_timeout', :v, true)"
)
_RESTORE_TIMEOUT = text("SELECT set_config('statement_timeout', :v, true)")


_TRIGRAM_INDEX = text(
    "SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid"
    " WHERE c.relname = :name AND i.indisvalid AND pg_table_is_visible(c.oid))"
)
_trigram_indexes: weakref.WeakKeyDictionary[Engine, bool] = weakref.WeakKeyDictionary()


def trigram_index(session: Any) -> bool:
    """Whether ``:contains`` can count on the trigram index (PostgreSQL, migration 0008).

    The migration skips it when pg_trgm cannot be installed; the answer is looked up
    once per engine (an index built by hand later is used after a restart).
    """
    conn = session.conn
    if conn.dialect.name != "postgresql":
        return False
    known = _trigram_indexes.get(conn.engine)
    if known is None:
        known = bool(conn.execute(_TRIGRAM_INDEX, {"name": TRIGRAM_INDEX}).scalar())
        _trigram_indexes[conn.engine] = known
    return known


class Explain(Executable, ClauseElement):
    """``EXPLAIN (FORMAT JSON) <statement>`` (PostgreSQL only)."""

    inherit_cache = False

    def __init__(self, statement: Select) -> None:
        self.statement = statement


@compiles(Explain, "postgresql")
def _compile_explain(element: Explain, compiler: Any, **kw: Any) -> str:
    return "EXPLAIN (FORMAT JSON) " + compiler.process(element.statement, **kw)


def count_rows(session: Any, statement: Select) -> int:
    """Exact number of rows `statement` returns."""
    counted = select(func.count()).select_from(statement.subquery())
    return int(session.execute(counted).scalar_one())


def estimate_rows(session: Any, statement: Select) -> int:
    """The planner's row estimate on PostgreSQL, an exact count elsewhere.

    Small estimates are replaced by an exact count, which is cheap at that size and
    spares clients the planner's worst misses on small or freshly loaded tables.
    """
    if session.conn.dialect.name != "postgresql":
        return count_rows(session, statement)
    estimate = planner_rows(session, statement)
    return count_rows(session, statement) if estimate < EXACT_BELOW else estimate


def planner_rows(session: Any, statement: Select) -> int:
    """PostgreSQL's estimate of the rows of `statement` (planned, not run)."""
    plan = session.execute(Explain(statement)).scalar_one()
    if isinstance(plan, str | bytes):  # a driver that does not decode json
        plan = orjson.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def timed_out(seconds: float) -> FhirError:
    return FhirError(
        400,
        "too-costly",
        f"The search took longer than {seconds:g} s; add criteria or lower _count",
    )


@contextmanager
def time_limit(session: Any, seconds: float | None) -> Iterator[None]:
    """Bound the statements run inside the block; FhirError 400 too-costly past `seconds`.

    `seconds` None or <= 0 means no limit. Not re-entrant on PostgreSQL by design: an
    inner block simply sets and restores the same value.
    """
    if not seconds or seconds <= 0:
        yield
        return
    conn = session.conn
    name = conn.dialect.name
    if name == "postgresql":
        with _pg_timeout(session, seconds):
            yield
    elif name == "sqlite":
        with _sqlite_deadline(conn, seconds):
            yield
    else:
        yield


_TIMEOUT_MARK = "_socle_search_timeout"  # attribute of a read-only session: value set


def writes(session: Any) -> bool:
    """Whether `session`'s transaction may write (then settings are put back)."""
    return bool(getattr(session, "write_transaction", True))


@contextmanager
def _pg_timeout(session: Any, seconds: float) -> Iterator[None]:
    millis = str(max(1, int(seconds * 1000)))
    session.flush()  # pending writes are not the search's time
    restore = writes(session)
    previous: Any = None
    if restore:
        previous = session.conn.execute(_SET_TIMEOUT, {"v": millis}).one()
    elif getattr(session, _TIMEOUT_MARK, None) != millis:
        session.conn.exec_driver_sql(
            f"SELECT set_config('statement_timeout', '{int(millis)}', true)"
        )
        setattr(session, _TIMEOUT_MARK, millis)  # until the end of this transaction
    try:
        yield
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) == QUERY_CANCELED:
            raise timed_out(seconds) from exc  # the transaction is aborted: no restore
        raise
    if restore:
        session.conn.execute(_RESTORE_TIMEOUT, {"v": previous[0]})


@contextmanager
def _sqlite_deadline(conn: Any, seconds: float) -> Iterator[None]:
    raw = conn.connection.driver_connection
    deadline = time.monotonic() + seconds

    def expired() -> int:
        return 1 if time.monotonic() > deadline else 0

    raw.set_progress_handler(expired, PROGRESS_STEPS)
    try:
        yield
    except OperationalError as exc:
        if "interrupted" in str(exc.orig).lower():
            raise timed_out(seconds) from exc
        raise
    finally:
        raw.set_progress_handler(None, 0)
