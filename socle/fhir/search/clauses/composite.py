"""composite parameters: ``code-value-quantity=http://loinc.org|8480-6$gt100``.

A value is one part per component, separated by ``$`` (escape a literal one as ``\\$``);
each part has the syntax of its component's type (prefixes included), and all parts must
match values taken from the *same* element (one Observation.component, one
DocumentReference.relatesTo...). Components are parsed and matched by their own type's
module: `idx_composite` keeps, per component type, columns standing for those of that
type's table (`socle.fhir.storage.schema.COMPOSITE_COLUMNS`), so the type modules' SQL
runs unchanged on a per-component alias.

SQL: ``owner.pk IN (SELECT c0.resource_pk FROM idx_composite c0 JOIN idx_composite c1
ON c1.resource_pk = c0.resource_pk AND c1.grp = c0.grp AND c1.pos = 1 … WHERE c0.param =
:code AND c0.pos = 0 AND (<part 0 on c0> AND <part 1 on c1>) OR …)`` when it drives the
query, else the same join probed per owner: ``EXISTS (… WHERE c0.resource_pk = owner.pk
…)`` (see `socle.fhir.search.clauses.base`).

No modifier is accepted but ``:missing``; composites cannot be sorted on.
"""

from __future__ import annotations

from functools import cache
from types import ModuleType, SimpleNamespace
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.sql.expression import FromClause

from socle.fhir.search.clauses import date, number, quantity, reference, string, token, uri
from socle.fhir.search.clauses.base import Scope, ValueEnv, correlated, index_rows, probe_rows
from socle.fhir.search.values import split_unescaped
from socle.fhir.storage import schema as S

MODIFIERS: frozenset[str] = frozenset()
NEGATING: frozenset[str] = frozenset()

COMPONENT_HANDLERS: dict[str, ModuleType] = {
    "string": string,
    "token": token,
    "date": date,
    "number": number,
    "quantity": quantity,
    "reference": reference,
    "uri": uri,
}


class Component(NamedTuple):
    """One component of a composite definition, as the search needs it."""

    code: str  # the component parameter's own code (e.g. ``component-value-quantity``)
    kind: str  # its type: token, quantity, date...
    targets: tuple[str, ...] = ()


class CompositeValue(NamedTuple):
    """One OR-alternative: the parsed value of each component, in definition order."""

    parts: tuple[Any, ...]


def parse(raw: str, modifier: str | None, env: ValueEnv) -> CompositeValue:
    parts = split_unescaped(raw, "$")
    components = env.components
    if len(parts) != len(components):
        raise ValueError(
            f"{env.code} expects {len(components)} values separated by $ "
            f"(escape a literal $ as \\$), got {len(parts)}"
        )
    parsed = []
    for part, component in zip(parts, components, strict=True):
        if part == "":
            raise ValueError(f"empty value for the {component.code} component")
        sub = ValueEnv(component.code, component.targets, env.base_url, env.now_us)
        parsed.append(COMPONENT_HANDLERS[component.kind].parse(part, None, sub))
    return CompositeValue(tuple(parsed))


@cache
def view(table: FromClause, kind: str) -> SimpleNamespace:
    """`table` (an idx_composite alias) seen with the column names of `kind`'s own table."""
    columns = {name: table.c[col] for name, col in S.COMPOSITE_COLUMNS[kind].items()}
    return SimpleNamespace(c=SimpleNamespace(**columns))


def condition(
    code: str,
    types: Any,
    components: tuple[Component, ...],
    values: tuple[CompositeValue, ...],
    owner: FromClause,
    scope: Scope,
    drive: bool = False,
) -> ColumnElement[bool]:
    """The owner has one combination of `code` whose components match one of `values`."""
    aliases = [scope.alias(S.idx_composite) for _ in components]
    first = aliases[0]
    joined: Any = first
    for pos, alias in enumerate(aliases[1:], start=1):
        joined = joined.join(
            alias,
            and_(
                alias.c.resource_pk == first.c.resource_pk,
                alias.c.grp == first.c.grp,
                alias.c.pos == pos,
            ),
        )
    views = [view(a, c.kind) for a, c in zip(aliases, components, strict=True)]
    alternatives = [
        and_(
            *(
                COMPONENT_HANDLERS[c.kind].match(v, part, None)
                for c, v, part in zip(components, views, value.parts, strict=True)
            )
        )
        for value in values
    ]
    tests = [first.c.pos == 0, or_(*alternatives)]
    if not drive:
        return correlated(scope, [*probe_rows(first, owner, scope, types, code), *tests], joined)
    query = select(first.c.resource_pk).select_from(joined)
    return owner.c.pk.in_(query.where(*index_rows(first, scope, types, code), *tests))
