"""``_sort`` keys as SQL expressions on the owner resource.

A parameter can have several values per resource: ascending order uses the lowest,
descending the highest (dates: lowest ``low`` / highest ``high``), computed by a
correlated aggregate over the owner's index rows (``ix_idx_*_resource``). Resources
without a value sort last in both directions.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.sql.expression import FromClause

from socle.fhir.search.clauses import HANDLERS
from socle.fhir.search.clauses.base import Scope
from socle.fhir.search.model import SortKey
from socle.fhir.storage.schema import INDEX_TABLES

# Python types a cursor may carry for each kind of key (None is always allowed).
CURSOR_TYPES: dict[str, tuple[type, ...]] = {
    "_id": (str,),
    "_lastUpdated": (int,),
    "date": (int,),
    "number": (int, float),
    "quantity": (int, float),
    "string": (str,),
    "token": (str,),
    "reference": (str,),
    "uri": (str,),
}


def sort_expression(key: SortKey, owner: FromClause, scope: Scope | None = None) -> Any:
    if key.kind == "_id":
        return owner.c.res_id
    if key.kind == "_lastUpdated":
        return owner.c.last_updated
    table = INDEX_TABLES[key.kind]
    t = scope.alias(table) if scope is not None else table.alias()
    aggregate = HANDLERS[key.kind].sort_value(t, key.descending)
    return (
        select(aggregate)
        .where(t.c.resource_pk == owner.c.pk, t.c.param == key.code)
        .scalar_subquery()
    )
