"""The only backend-specific piece of search: ``_total=estimate``.

PostgreSQL answers from the planner (``EXPLAIN (FORMAT JSON)``, no scan, so an estimate
costs milliseconds on any table size); SQLite has no usable row estimate, so it counts.
The statement keeps its bound parameters: EXPLAIN is compiled around it, never by
rendering values into SQL text.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Select, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.elements import ClauseElement

EXACT_BELOW = 1000


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
    plan = session.execute(Explain(statement)).scalar_one()
    if isinstance(plan, str | bytes):  # a driver that does not decode json
        plan = orjson.loads(plan)
    estimate = int(plan[0]["Plan"]["Plan Rows"])
    return count_rows(session, statement) if estimate < EXACT_BELOW else estimate
