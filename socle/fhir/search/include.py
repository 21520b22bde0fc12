"""``_include`` and ``_revinclude`` (with ``:iterate`` and ``*``), for one page of matches.

Round 0 applies every spec to the matches; each further round applies the ``:iterate``
specs to what the previous round added, at most `SearchLimits.max_iterate_rounds` times.
At most `SearchLimits.max_included` resources are added (in pk order per spec, so the cut
is deterministic); past that the page is flagged `include_truncated` instead of failing,
since a client cannot know beforehand how many resources an include will pull in.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Select, false, select

from socle.fhir.search.chain import local_target
from socle.fhir.search.clauses.base import Scope, in_pks
from socle.fhir.search.limits import SearchLimits
from socle.fhir.search.model import IncludeSpec
from socle.fhir.storage import schema as S

_CHUNK = 500


def included_pks(
    session: Any,
    scope: Scope,
    specs: list[IncludeSpec],
    matched: list[int],
    limits: SearchLimits,
) -> tuple[list[int], bool]:
    """Resources to add to the page, and whether the cap cut the list short."""
    seen, out = set(matched), []
    frontier, active = list(matched), list(specs)
    for _ in range(1 + limits.max_iterate_rounds):
        if not active or not frontier:
            break
        added: list[int] = []
        for spec in active:
            remaining = limits.max_included - len(out) - len(added)
            for pk in _run(session, scope, spec, frontier, remaining + 1):
                if pk in seen:
                    continue
                if len(out) + len(added) >= limits.max_included:
                    return out + added, True
                seen.add(pk)
                added.append(pk)
        out += added
        frontier, active = added, [s for s in specs if s.iterate]
    return out, False


def _run(session: Any, scope: Scope, spec: IncludeSpec, pks: list[int], limit: int) -> Iterator:
    for i in range(0, len(pks), _CHUNK):
        chunk = pks[i : i + _CHUNK]
        stmt = _reverse(scope, spec, chunk) if spec.reverse else _forward(scope, spec, chunk)
        yield from session.execute(stmt.limit(limit)).scalars()


def _forward(scope: Scope, spec: IncludeSpec, sources: list[int]) -> Select:
    """Resources referenced by `sources` through the spec's parameter."""
    scope = scope.fresh()
    ref, target = scope.alias(S.idx_reference), scope.alias(S.resource)
    stmt = (
        select(target.c.pk)
        .select_from(ref.join(target, local_target(ref, target, scope)))
        .where(ref.c.tenant == scope.tenant, in_pks(ref.c.resource_pk, sources, scope))
        .where(ref.c.url.is_(None), target.c.deleted == false())
    )
    return _filters(stmt, ref, spec).distinct().order_by(target.c.pk)


def _reverse(scope: Scope, spec: IncludeSpec, targets: list[int]) -> Select:
    """Resources whose spec parameter references one of `targets`."""
    scope = scope.fresh()
    ref, target = scope.alias(S.idx_reference), scope.alias(S.resource)
    stmt = (
        select(ref.c.resource_pk)
        .select_from(ref.join(target, local_target(ref, target, scope)))
        .where(ref.c.tenant == scope.tenant, in_pks(target.c.pk, targets, scope))
        .where(ref.c.url.is_(None))
    )
    return _filters(stmt, ref, spec).distinct().order_by(ref.c.resource_pk)


def _filters(stmt: Select, ref: Any, spec: IncludeSpec) -> Select:
    if spec.source_type is not None:
        stmt = stmt.where(ref.c.res_type == spec.source_type)
    if spec.code is not None:
        stmt = stmt.where(ref.c.param == spec.code)
    if spec.target_type is not None:
        stmt = stmt.where(ref.c.target_type == spec.target_type)
    return stmt
