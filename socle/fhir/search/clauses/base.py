"""Building blocks shared by the per-type clauses.

Every criterion compiles to a boolean SQL expression about an *owner* alias of the
`resource` table. Index criteria become ``owner.pk IN (SELECT resource_pk FROM idx_…)``,
an uncorrelated semi-join that both PostgreSQL and SQLite plan from the
``(tenant, res_type, param, value…)`` indexes; negations (``:not``, ``:missing=true``)
become a correlated ``NOT EXISTS`` (an anti-join) because ``NOT IN`` plans badly on
PostgreSQL. Every table use is a fresh alias so SQLAlchemy's auto-correlation can never
confuse an inner ``resource`` with the owner.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, literal, select
from sqlalchemy.sql.expression import FromClause

from socle.fhir.search.values import next_prefix


@dataclass(frozen=True, slots=True)
class Scope:
    """What every clause needs besides the criterion: the session's tenant."""

    tenant: str


def in_types(column: Any, types: Sequence[str] | None) -> list[ColumnElement[bool]]:
    """``column = t`` / ``column IN (...)`` / nothing for 'any type'."""
    if types is None:
        return []
    if len(types) == 1:
        return [column == types[0]]
    return [column.in_(list(types))]


def index_rows(
    table: FromClause, scope: Scope, types: Sequence[str] | None, code: str
) -> list[ColumnElement[bool]]:
    """The rows of one parameter, in the column order of the composite indexes."""
    return [
        table.c.tenant == scope.tenant,
        *in_types(table.c.res_type, types),
        table.c.param == code,
    ]


def pk_in(owner: FromClause, query: Select) -> ColumnElement[bool]:
    return owner.c.pk.in_(query)


def owned_by(
    owner: FromClause, table: FromClause, conditions: Iterable[ColumnElement[bool]]
) -> ColumnElement[bool]:
    """At least one index row of `owner` meets `conditions` (semi-join)."""
    return owner.c.pk.in_(select(table.c.resource_pk).where(*conditions))


def not_owned_by(
    owner: FromClause, table: FromClause, conditions: Iterable[ColumnElement[bool]]
) -> ColumnElement[bool]:
    """No index row of `owner` meets `conditions` (anti-join)."""
    return ~exists(
        select(literal(1)).select_from(table).where(table.c.resource_pk == owner.c.pk, *conditions)
    )


def starts_with(column: Any, prefix: str) -> ColumnElement[bool]:
    """Index-friendly prefix match: a range instead of LIKE (no pattern characters)."""
    upper = next_prefix(prefix)
    low = column >= prefix
    return low if upper is None else and_(low, column < upper)


@dataclass(frozen=True, slots=True)
class ValueEnv:
    """Context for parsing one value: the parameter's targets, this server's base URL…"""

    code: str
    targets: tuple[str, ...] = ()
    base_url: str | None = None
    now_us: int = 0
    components: tuple[Any, ...] = ()  # composite parameters: their `Component`s
