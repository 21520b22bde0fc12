"""Fixed-shape statements run on the driver's cursor, below SQLAlchemy's execution layer.

SQLAlchemy builds and compiles these statements (once per dialect); only the execution
skips its layer: on the one-row reads and writes of a single-resource write (the current
row, the version bump, a plugin's index row, an audit entry), that layer cost more than
the statement itself: 40 µs a statement on SQLite where the driver takes 3 µs, and 60 µs
of the 160 µs a statement costs the client on PostgreSQL (measured 2026-11-26). A
one-resource write runs about ten of them. On PostgreSQL they are prepared on the server
(and may run with a generic plan), unlike the statements SQLAlchemy runs (database.py).

The caller's SQLAlchemy transaction must already be open (`conn.begin()`): the statement
runs on the same driver connection, inside it. Rows come back as plain tuples, without
SQLAlchemy's result processing: SQLite returns booleans as 0/1 and blobs as bytes.
Listeners of the engine's `before_cursor_execute` event see these statements too (their
return value is ignored). Driver errors are raised as SQLAlchemy's (IntegrityError,
OperationalError…), as `Connection.execute` would: callers tell conflicts from failures
the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement

_PG_IDLE = 0  # psycopg.pq.TransactionStatus.IDLE: no transaction open on the connection
_Compiled = tuple[str, tuple[str, ...] | None, dict[str, Any], dict[str, Any], bool]


class FixedStatement:
    """One statement with named bind parameters, compiled once per dialect."""

    __slots__ = ("statement", "_compiled")

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def _for(self, conn: Connection) -> _Compiled:
        dialect = conn.dialect
        found = self._compiled.get(dialect.name)
        if found is None:
            compiled = self.statement.compile(dialect=dialect)
            order = tuple(compiled.positiontup) if compiled.positional else None
            processors = {k: p for k, p in compiled._bind_processors.items() if p is not None}
            # values the statement carries itself (`id == 1` binds an anonymous `id_1`)
            binds = compiled.bind_names.items()
            fixed = {name: b.effective_value for b, name in binds if not b.required}
            found = (compiled.string, order, processors, fixed, dialect.name == "postgresql")
            self._compiled[dialect.name] = found
        return found

    def _parameters(self, conn: Connection, params: dict[str, Any]) -> tuple[str, Any, bool]:
        sql, order, processors, fixed, prepare = self._for(conn)
        if fixed:
            params = {**fixed, **params}
        if processors:
            params = {k: (processors[k](v) if k in processors else v) for k, v in params.items()}
        return sql, (tuple(params[k] for k in order) if order is not None else params), prepare

    def rowcount(self, conn: Connection, params: dict[str, Any]) -> int:
        """Run a write; the number of rows it changed."""
        sql, values, prepare = self._parameters(conn, params)
        return _run(conn, sql, values, fetch=False, prepare=prepare)

    def first(self, conn: Connection, params: dict[str, Any]) -> tuple | None:
        """Run a query; its first row (a tuple) or None."""
        sql, values, prepare = self._parameters(conn, params)
        return _run(conn, sql, values, fetch=True, prepare=prepare)

    def first_after(
        self, conn: Connection, params: dict[str, Any], send: Callable[[], None]
    ) -> tuple | None:
        """PostgreSQL: the statements `send` runs (writes whose results are not read),
        then this query, in one pipeline: one round trip where each would take one; the
        query's first row. Errors are raised as SQLAlchemy's; one of `send`'s statements
        (this query did not run then) as `PrecedingFailed`, so that callers tell them apart."""
        sql, values, _ = self._parameters(conn, params)
        raw = conn.connection.dbapi_connection
        cursor, marker = raw.cursor(), raw.cursor()
        try:
            with pipeline(conn):
                send()
                # answered only when every statement sent before it succeeded (a failure
                # aborts the rest of a pipeline): tells whose error it is
                marker.execute(_MARK, prepare=True)
                if conn.dispatch.before_cursor_execute:
                    conn.dispatch.before_cursor_execute(conn, cursor, sql, values, None, False)
                cursor.execute(sql, values, prepare=True)
            return cursor.fetchone()  # in hand once the pipeline's sync is answered
        except Exception as exc:  # a database error, or one the driver raised in Python
            if marker.pgresult is None:
                raise PrecedingFailed(exc) from exc
            raise
        finally:
            cursor.close()
            marker.close()


_MARK = "SELECT 1"


class PrecedingFailed(Exception):
    """A statement sent before the caller's own failed (the caller's did not run): its
    `error`, for the caller to hand on as it is instead of taking it for its own."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


@contextmanager
def pipeline(conn: Connection) -> Iterator[None]:
    """PostgreSQL: the statements sent inside go to the server together and are answered
    in one round trip (psycopg's pipeline mode), instead of one round trip each. Their
    results are not available inside; their errors are raised at the end, as
    SQLAlchemy's. Only for statements run on the driver (this module, bulk inserts)."""
    dbapi_error = conn.dialect.loaded_dbapi.Error
    try:
        with conn.connection.dbapi_connection.pipeline():
            yield
    except dbapi_error as exc:
        raise DBAPIError.instance(None, None, exc, dbapi_error, dialect=conn.dialect) from exc


def driver_execute(conn: Connection, sql: str, values: Any = None, many: bool = False) -> None:
    """A statement written for the driver's parameter style (BEGIN, a bulk INSERT…) on
    the driver connection; `many`: `values` is a list of parameter sets (executemany)."""
    _run(conn, sql, values, fetch=False, many=many)


def _run(
    conn: Connection, sql: str, values: Any, fetch: bool, prepare: bool = False, many: bool = False
) -> Any:
    cursor = conn.connection.dbapi_connection.cursor()
    dispatch = conn.dispatch
    if dispatch.before_cursor_execute:  # statement logging, tracing and tests still see it
        dispatch.before_cursor_execute(conn, cursor, sql, values, None, many)
    try:
        if many:
            cursor.executemany(sql, values)
        elif prepare:  # PostgreSQL: a server-side prepared statement (see database.py)
            raw = conn.connection.dbapi_connection
            if raw.info.transaction_status == _PG_IDLE and not raw.pgconn.pipeline_status:
                # psycopg would send its BEGIN and wait for it: in a pipeline, the BEGIN
                # and the statement take one round trip
                with raw.pipeline():
                    cursor.execute(sql, values, prepare=True)
            else:
                cursor.execute(sql, values, prepare=True)
        elif values is None:
            cursor.execute(sql)
        else:
            cursor.execute(sql, values)
        return cursor.fetchone() if fetch else cursor.rowcount
    except conn.dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(
            sql, values, exc, conn.dialect.loaded_dbapi.Error, dialect=conn.dialect
        ) from exc
    finally:
        cursor.close()
