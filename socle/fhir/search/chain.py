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
more than its pk (a referrer with index rows is never deleted). On PostgreSQL a ``_has``
probe whose inner criterion is one index leaf with a small set of matches looks its
referrers up in that set, hashed once per statement (`_has_inner`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from types import SimpleNamespace

from sqlalchemy import ColumnElement, Select, and_, false, select, true, tuple_
from sqlalchemy.sql.expression import FromClause

from socle.fhir.search.clauses import HANDLERS, RESOURCE_COLUMNS, leaf_condition, value_test
from socle.fhir.search.clauses.base import Scope, correlated, in_types, index_rows, probe_rows
from socle.fhir.search.model import Chain, Criterion, Has, InList, Leaf
from socle.fhir.storage import schema as S
from socle.fhir.storage.schema import INDEX_TABLES


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
    if isinstance(criterion, InList):
        return _in_list(criterion, owner, scope, drive)
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
    tests.append(_has_inner(has, ref, source, scope, drive))  # type: ignore[arg-type]
    if drive:
        query = select(ref.c.target_type, ref.c.target_id).select_from(joined).where(*tests)
        return tuple_(owner.c.res_type, owner.c.res_id).in_(query)
    return correlated(
        scope,
        [ref.c.target_type == owner.c.res_type, ref.c.target_id == owner.c.res_id, *tests],
        joined,
    )


# A ``_has`` probe on PostgreSQL tests its referrers against the inner criterion's set of
# pks, hashed once per statement, when the planner expects fewer rows than this in it.
HASHED_ROWS = 50_000


def _has_inner(
    has: Has, ref: FromClause, source: FromClause, scope: Scope, drive: bool
) -> ColumnElement[bool]:
    """The inner criterion of a ``_has``, on the referring resource `source`.

    As a probe, every candidate owner's referrers are tested: the ≈ 10 Observations of
    each of 900 patients named Perrin for ``_has:Observation:subject:code=glucose``,
    ≈ 9,000 index lookups of 4 pages each. When the engine chose it (`hashed`: the inner
    criterion is one index leaf that PostgreSQL expects to be small, see `_small_set` in
    `socle.fhir.search.engine`), the referrer is instead looked up in the set of the
    leaf's pks, which PostgreSQL hashes once per statement (a "hashed SubPlan": 28,000
    glucose Observations read once, a quarter of the pages). ``IS TRUE`` keeps the
    ``IN`` a subplan: pulled up into a join, it would be planned again for every owner.
    """
    if drive or id(has) not in scope.hashed:
        return condition(has.inner, source, scope, drive)
    assert isinstance(has.inner, Leaf)
    return ref.c.resource_pk.in_(leaf_pks(has.inner, scope)).is_(true())


def probed_has(criteria: Sequence[Criterion], drive: int | None) -> Iterator[Has]:
    """The ``_has`` criteria that a search probes with an index leaf inside (candidates
    for the hashed form; the driving criterion and what it contains are semi-joins)."""
    for i, criterion in enumerate(criteria):
        yield from _probed(criterion, i == drive)


def _probed(criterion: Criterion, drive: bool) -> Iterator[Has]:
    if isinstance(criterion, Has):
        if not drive and leaf_set(criterion.inner):
            yield criterion
        yield from _probed(criterion.inner, drive)
    elif isinstance(criterion, Chain):
        yield from _probed(criterion.inner, drive)


def leaf_set(criterion: Criterion) -> bool:
    """An index leaf whose matches are the pks of its own rows (no anti-join)."""
    if not isinstance(criterion, Leaf) or criterion.missing is not None:
        return False
    kind = criterion.kind
    if kind not in INDEX_TABLES or kind == "composite":
        return False
    return criterion.modifier not in HANDLERS[kind].NEGATING


def leaf_pks(leaf: Leaf, scope: Scope) -> Select:
    """The pks of the resources an index leaf matches (with repeats), from its rows."""
    t, tests = leaf_rows(leaf, scope)
    return select(t.c.resource_pk).where(*tests)


def leaf_rows(
    leaf: Leaf, scope: Scope, probes: Iterable[Criterion] = ()
) -> tuple[FromClause, list[ColumnElement[bool]]]:
    """The index rows of an index leaf: `t`, a new alias of its table, and the tests on
    it (its value test, unless ``:missing``), with `probes` (criteria that only need the
    owner's pk, `pk_only`) tested on the rows' ``resource_pk``."""
    t = scope.alias(INDEX_TABLES[leaf.kind])
    tests = index_rows(t, scope, leaf.types, leaf.code)
    if leaf.missing is None:
        tests.append(value_test(leaf, t))
    owner = SimpleNamespace(c=SimpleNamespace(pk=t.c.resource_pk))
    tests.extend(condition(c, owner, scope) for c in probes)  # type: ignore[arg-type]
    return t, tests


LIST_TYPE, LIST_ITEM = "List", "item"


def _in_list(found: InList, owner: FromClause, scope: Scope, drive: bool) -> ColumnElement[bool]:
    """The owner is an ``entry.item`` of one of the Lists (local references only).

    Driving, the List is found by its unique key and its rows by ``resource_pk`` (the
    rows' own tenant and type are left out: they follow from the List, and stated they
    would let PostgreSQL, misled by its estimates, scan every List's items instead). As
    a probe, both sides are stated, so that the planner may start from the rows naming
    the owner (``ix_idx_reference_target``) or from the List.
    """
    ref, lst = scope.alias(S.idx_reference), scope.alias(S.resource)
    joined = ref.join(lst, lst.c.pk == ref.c.resource_pk)
    ids = list(found.ids)
    tests = [
        lst.c.tenant == scope.tenant,
        lst.c.res_type == LIST_TYPE,
        lst.c.res_id == ids[0] if len(ids) == 1 else lst.c.res_id.in_(ids),
        lst.c.deleted == false(),
        ref.c.param == LIST_ITEM,
        ref.c.url.is_(None),
        *in_types(ref.c.target_type, found.types),
    ]
    if drive:
        query = select(ref.c.target_type, ref.c.target_id).select_from(joined).where(*tests)
        return tuple_(owner.c.res_type, owner.c.res_id).in_(query)
    owner_is_item = [ref.c.target_type == owner.c.res_type, ref.c.target_id == owner.c.res_id]
    rows = index_rows(ref, scope, (LIST_TYPE,), LIST_ITEM)
    return correlated(scope, [*owner_is_item, *rows, *tests], joined)


def pk_only(criterion: Criterion) -> bool:
    """The criterion, probed on an owner, refers to nothing but the owner's pk."""
    if isinstance(criterion, Leaf):
        return criterion.kind not in RESOURCE_COLUMNS
    return isinstance(criterion, Chain)  # _has and _list match the owner's type and id
