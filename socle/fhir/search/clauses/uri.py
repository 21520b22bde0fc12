"""uri parameters: exact match, ``:below`` (under a path) and ``:above`` (a parent of it).

``:below`` is a prefix range ending at a ``/`` boundary; ``:above`` lists the ancestors
of the search value, so both use the ``(…, param, uri)`` index instead of LIKE.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func, or_
from sqlalchemy.sql.expression import FromClause

from socle.fhir.search.clauses.base import ValueEnv, starts_with
from socle.fhir.search.values import unescape

MODIFIERS = frozenset({"below", "above"})
NEGATING: frozenset[str] = frozenset()
MAX_ANCESTORS = 64


def parse(raw: str, modifier: str | None, env: ValueEnv) -> str | tuple[str, ...]:
    uri = unescape(raw)
    if modifier == "above":
        return ancestors(uri)
    return uri


def ancestors(uri: str) -> tuple[str, ...]:
    """The uri and every prefix ending at a path separator, with and without the ``/``."""
    scheme_end = uri.find("://")
    start = scheme_end + 3 if scheme_end >= 0 else 0
    found = {uri}
    for i, ch in enumerate(uri):
        if i > start and ch == "/":
            found.update((uri[:i], uri[: i + 1]))
    if len(found) > MAX_ANCESTORS:
        raise ValueError(f"more than {MAX_ANCESTORS} path segments")
    return tuple(sorted(found))


def match(t: FromClause, value: Any, modifier: str | None) -> ColumnElement[bool]:
    if modifier == "above":
        return t.c.uri.in_(list(value))
    if modifier == "below":
        if value.endswith("/"):
            return starts_with(t.c.uri, value)
        return or_(t.c.uri == value, starts_with(t.c.uri, value + "/"))
    return t.c.uri == value


def sort_value(t: FromClause, descending: bool) -> Any:
    return (func.max if descending else func.min)(t.c.uri)
