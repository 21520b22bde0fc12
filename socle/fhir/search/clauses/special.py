"""``_id`` and ``_lastUpdated``: answered from columns of the `resource` row itself.

The indexer does not index them (they are the row's identity and timestamp), which also
makes them the cheapest criteria of all.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, or_
from sqlalchemy.sql.expression import FromClause

from socle.fhir.search.clauses import date
from socle.fhir.search.clauses.base import ValueEnv
from socle.fhir.search.values import unescape

ID_MODIFIERS = frozenset({"not"})


def parse_id(raw: str, modifier: str | None, env: ValueEnv) -> str:
    return unescape(raw)


def id_match(owner: FromClause, ids: tuple[str, ...], modifier: str | None) -> ColumnElement:
    test = owner.c.res_id.in_(list(ids)) if len(ids) > 1 else owner.c.res_id == ids[0]
    return ~test if modifier == "not" else test


def last_updated_match(owner: FromClause, values: tuple[Any, ...]) -> ColumnElement:
    """An instant is its own range [t, t] (`date.point_match`)."""
    col = owner.c.last_updated
    return or_(*(date.point_match(col, v) for v in values))
