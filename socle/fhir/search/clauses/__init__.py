"""One module per search parameter type; this package dispatches a `Leaf` to its module.

Each type module exposes ``MODIFIERS`` (the ones it implements besides ``:missing``),
``NEGATING`` (modifiers answered with an anti-join), ``parse(raw, modifier, env)`` which
raises ValueError on a malformed value, ``match(table_alias, value, modifier)`` and
``sort_value(table_alias, descending)``. ``composite`` spans several index rows per
match, so it has its own ``condition`` instead of ``match`` and cannot be sorted on.
"""

from __future__ import annotations

from types import ModuleType

from sqlalchemy import ColumnElement, or_
from sqlalchemy.sql.expression import FromClause

from socle.fhir.search.clauses import (
    composite,
    date,
    number,
    quantity,
    reference,
    special,
    string,
    token,
    uri,
)
from socle.fhir.search.clauses.base import Scope, index_rows, not_owned_by, owned_by
from socle.fhir.search.model import Leaf
from socle.fhir.storage.schema import INDEX_TABLES

HANDLERS: dict[str, ModuleType] = {
    "string": string,
    "token": token,
    "date": date,
    "number": number,
    "quantity": quantity,
    "reference": reference,
    "uri": uri,
    "composite": composite,
}
SORTABLE = frozenset(HANDLERS) - {"composite"}
RESOURCE_COLUMNS = frozenset({"_id", "_lastUpdated"})


def leaf_condition(leaf: Leaf, owner: FromClause, scope: Scope) -> ColumnElement[bool]:
    """SQL test that the `owner` resource matches one (OR-ed) parameter."""
    if leaf.kind == "_id":
        return special.id_match(owner, leaf.values, leaf.modifier)
    if leaf.kind == "_lastUpdated":
        return special.last_updated_match(owner, leaf.values)
    t = INDEX_TABLES[leaf.kind].alias()
    rows = index_rows(t, scope, leaf.types, leaf.code)
    if leaf.missing is not None:
        return not_owned_by(owner, t, rows) if leaf.missing else owned_by(owner, t, rows)
    if leaf.kind == "composite":
        return composite.condition(
            leaf.code, leaf.types, leaf.components, leaf.values, owner, scope
        )
    handler = HANDLERS[leaf.kind]
    test = or_(*(handler.match(t, v, leaf.modifier) for v in leaf.values))
    if leaf.modifier in handler.NEGATING:
        return not_owned_by(owner, t, [*rows, test])
    return owned_by(owner, t, [*rows, test])
