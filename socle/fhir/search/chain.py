"""Criteria compilation, recursive through chains (``subject:Patient.name=x``) and reverse
chains (``_has:Observation:patient:code=x``).

Both walk `idx_reference` rows whose (target_type, target_id) name a local resource:

- a chain keeps owners with a reference row whose *target* matches the inner criterion:
  ``owner.pk IN (SELECT ref.resource_pk FROM idx_reference ref JOIN resource target …)``;
- ``_has`` keeps owners that are the target of a reference row whose *source* matches:
  ``(owner.res_type, owner.res_id) IN (SELECT ref.target_type, ref.target_id …)``.

The inner criterion is compiled against the joined alias, so any depth nests naturally
into semi-joins that PostgreSQL plans as hash or nested-loop joins on the indexes.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, false, select, tuple_
from sqlalchemy.sql.expression import FromClause

from socle.fhir.search.clauses import leaf_condition
from socle.fhir.search.clauses.base import Scope, in_types, index_rows
from socle.fhir.search.model import Chain, Criterion, Has, Leaf
from socle.fhir.storage import schema as S


def condition(criterion: Criterion, owner: FromClause, scope: Scope) -> ColumnElement[bool]:
    """SQL test that the `owner` resource (an alias of `resource`) matches `criterion`."""
    if isinstance(criterion, Leaf):
        return leaf_condition(criterion, owner, scope)
    if isinstance(criterion, Chain):
        return _chain(criterion, owner, scope)
    return _has(criterion, owner, scope)


def local_target(ref: FromClause, target: FromClause, scope: Scope) -> ColumnElement[bool]:
    """Join condition from a reference row to the local resource it names."""
    return and_(
        target.c.tenant == scope.tenant,
        target.c.res_type == ref.c.target_type,
        target.c.res_id == ref.c.target_id,
    )


def _chain(chain: Chain, owner: FromClause, scope: Scope) -> ColumnElement[bool]:
    ref, target = S.idx_reference.alias(), S.resource.alias()
    query = (
        select(ref.c.resource_pk)
        .select_from(ref.join(target, local_target(ref, target, scope)))
        .where(
            *index_rows(ref, scope, chain.types, chain.code),
            ref.c.url.is_(None),
            *in_types(ref.c.target_type, chain.targets),
            target.c.deleted == false(),
            condition(chain.inner, target, scope),
        )
    )
    return owner.c.pk.in_(query)


def _has(has: Has, owner: FromClause, scope: Scope) -> ColumnElement[bool]:
    ref, source = S.idx_reference.alias(), S.resource.alias()
    query = (
        select(ref.c.target_type, ref.c.target_id)
        .select_from(ref.join(source, source.c.pk == ref.c.resource_pk))
        .where(
            *index_rows(ref, scope, (has.source_type,), has.code),
            ref.c.url.is_(None),
            *in_types(ref.c.target_type, has.types),
            source.c.deleted == false(),
            condition(has.inner, source, scope),
        )
    )
    return tuple_(owner.c.res_type, owner.c.res_id).in_(query)
