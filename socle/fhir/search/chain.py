"""Criteria compilation, recursive through chains (``subject:Patient.name=x``) and reverse
chains (``_has:Observation:patient:code=x``).

Both walk `idx_reference` rows whose (target_type, target_id) name a local resource:

- a chain keeps owners with a reference row whose *target* matches the inner criterion;
- ``_has`` keeps owners that are the target of a reference row whose *source* matches.

Like the leaves (`socle.fhir.search.clauses.base`), each has two shapes. When it drives
the query it is a semi-join started from its inner criterion, which drives in turn:
``owner.pk IN (SELECT ref.resource_pk FROM idx_reference ref JOIN resource target …
WHERE target.pk IN (<inner>))`` and ``(owner.res_type, owner.res_id) IN (SELECT
ref.target_type, ref.target_id … WHERE ref.resource_pk IN (<inner>))``. Otherwise it is
probed per owner, ``EXISTS (SELECT 1 FROM idx_reference ref JOIN resource target … WHERE
ref.resource_pk = owner.pk AND EXISTS (<inner on target>))``, the ``_has`` probe going
through the ``(tenant, res_type, param, target_id, target_type)`` index. Any depth nests
the same way. ``_has`` joins the referring resource only when its inner criterion needs
more than its pk (a referrer with index rows is never deleted).
"""

from __future__ import annotations

from types import SimpleNamespace

from sqlalchemy import ColumnElement, and_, false, select, tuple_
from sqlalchemy.sql.expression import FromClause

from socle.fhir.search.clauses import RESOURCE_COLUMNS, leaf_condition
from socle.fhir.search.clauses.base import Scope, correlated, in_types, index_rows, probe_rows
from socle.fhir.search.model import Chain, Criterion, Has, Leaf
from socle.fhir.storage import schema as S


def condition(
    criterion: Criterion, owner: FromClause, scope: Scope, drive: bool = False
) -> ColumnElement[bool]:
    """SQL test that the `owner` resource (an alias of `resource`) matches `criterion`.

    `drive`: the criterion starts the query (semi-join), else it is probed per owner.
    """
    if isinstance(criterion, Leaf):
        return leaf_condition(criterion, owner, scope, drive)
    if isinstance(criterion, Chain):
        return _chain(criterion, owner, scope, drive)
    return _has(criterion, owner, scope, drive)


def local_target(ref: FromClause, target: FromClause, scope: Scope) -> ColumnElement[bool]:
    """Join condition from a reference row to the local resource it names."""
    return and_(
        target.c.tenant == scope.tenant,
        target.c.res_type == ref.c.target_type,
        target.c.res_id == ref.c.target_id,
    )


def _chain(chain: Chain, owner: FromClause, scope: Scope, drive: bool) -> ColumnElement[bool]:
    ref, target = scope.alias(S.idx_reference), scope.alias(S.resource)
    joined = ref.join(target, local_target(ref, target, scope))
    tests = [
        ref.c.url.is_(None),
        *in_types(ref.c.target_type, chain.targets),
        target.c.deleted == false(),
        condition(chain.inner, target, scope, drive),
    ]
    if drive:
        rows = index_rows(ref, scope, chain.types, chain.code)
        return owner.c.pk.in_(select(ref.c.resource_pk).select_from(joined).where(*rows, *tests))
    return correlated(
        scope, [*probe_rows(ref, owner, scope, chain.types, chain.code), *tests], joined
    )


def _has(has: Has, owner: FromClause, scope: Scope, drive: bool) -> ColumnElement[bool]:
    ref = scope.alias(S.idx_reference)
    tests = [
        *index_rows(ref, scope, (has.source_type,), has.code),
        ref.c.url.is_(None),
        *in_types(ref.c.target_type, has.types),
    ]
    if pk_only(has.inner):
        # The referring resource is not deleted since it has index rows (a delete removes
        # them), and the inner criterion only needs its pk: no join with `resource`.
        joined: FromClause = ref
        source = SimpleNamespace(c=SimpleNamespace(pk=ref.c.resource_pk))
    else:
        source = scope.alias(S.resource)
        joined = ref.join(source, source.c.pk == ref.c.resource_pk)
        tests.append(source.c.deleted == false())
    tests.append(condition(has.inner, source, scope, drive))  # type: ignore[arg-type]
    if drive:
        query = select(ref.c.target_type, ref.c.target_id).select_from(joined).where(*tests)
        return tuple_(owner.c.res_type, owner.c.res_id).in_(query)
    return correlated(
        scope,
        [ref.c.target_type == owner.c.res_type, ref.c.target_id == owner.c.res_id, *tests],
        joined,
    )


def pk_only(criterion: Criterion) -> bool:
    """The criterion, probed on an owner, refers to nothing but the owner's pk."""
    if isinstance(criterion, Leaf):
        return criterion.kind not in RESOURCE_COLUMNS
    return isinstance(criterion, Chain)  # _has matches the owner's type and id
