"""`SearchEngine`: the query side of FHIR search, used by the REST layer and by
conditional create/update/delete.

``parse`` validates a request into a `SearchQuery`; ``search`` runs it against a
`StoreSession` with the same SQLAlchemy Core statements on SQLite and PostgreSQL:

    SELECT m.pk, m.k0… FROM (
        SELECT r0.pk, <sort keys> FROM resource r0
        WHERE r0.tenant = :t AND r0.deleted = false AND r0.res_type = :type
          AND r0.pk IN (SELECT resource_pk FROM idx_… WHERE …)       -- the driving criterion
          AND EXISTS (SELECT 1 FROM idx_… t WHERE t.resource_pk = r0.pk AND …)  -- the others
    ) m WHERE <keyset after the cursor> ORDER BY <keys>, m.pk LIMIT :count + 1

The driving criterion is the one `socle.fhir.search.plan` expects to match fewest
resources (measured on the index when the guess is unsure); `_rows` adapts the shape to
what is known of its size. The total (``_total=accurate``, the default) is only counted
for a first page: by the page query itself (the matches materialised once, read by the
page and by ``count(*)``) when that query evaluates every match anyway, else, and only
when the page is full, by a count read from the driving index table alone (otherwise it
is the number of rows on the page). docs/search-plans.md shows the plans at 1M resources.

Only current, non-deleted resources of the session's tenant are ever returned, and the
statements of one search run under `SearchLimits.max_query_seconds` (``dialect.time_limit``).
"""

from __future__ import annotations

import enum
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from sqlalchemy import ColumnElement, Select, distinct, false, func, literal, select
from sqlalchemy.sql.expression import FromClause

from socle.fhir.errors import FhirError
from socle.fhir.indexing.registry import SearchParamRegistry
from socle.fhir.search import chain, paging, plan
from socle.fhir.search.chain import (
    condition,
    leaf_pks,
    leaf_rows,
    leaf_set,
    pk_only,
    probed_has,
)
from socle.fhir.search.clauses import measure_test
from socle.fhir.search.clauses.base import Scope, index_rows, owner_rows
from socle.fhir.search.compartment import compartment_condition
from socle.fhir.search.dialect import (
    count_rows,
    estimate_rows,
    planner_rows,
    time_limit,
    trigram_index,
)
from socle.fhir.search.include import included_pks
from socle.fhir.search.limits import DEFAULT_LIMITS, SearchLimits
from socle.fhir.search.model import Chain, Criterion, Leaf, SearchPage, SearchQuery
from socle.fhir.search.paging import CURSOR_PARAM, Cursor, OrderKey
from socle.fhir.search.parameters import QueryParser
from socle.fhir.search.sort import CURSOR_TYPES, sort_expression
from socle.fhir.storage import schema as S
from socle.fhir.storage.schema import INDEX_TABLES

# SQLite understands AS MATERIALIZED from 3.35 (and materialises a CTE read twice anyway)
_MATERIALIZED = "MATERIALIZED" if sqlite3.sqlite_version_info >= (3, 35) else ""


class Size(enum.Enum):
    """What is known of how many resources the driving criterion matches."""

    sparse = "sparse"
    dense = "dense"
    unknown = "unknown"


class SearchEngine:
    """Thread-safe and stateless per request; one per process (shares the registry)."""

    def __init__(
        self,
        registry: SearchParamRegistry,
        *,
        limits: SearchLimits = DEFAULT_LIMITS,
        base_url: str | None = None,
        default_total: str = "accurate",
    ) -> None:
        self.registry = registry
        self.limits = limits
        self.base_url = base_url.rstrip("/") if base_url else None
        self.default_total = default_total
        self._types: tuple[int, frozenset[str]] = (-1, frozenset())

    @property
    def resource_types(self) -> frozenset[str]:
        """Types with search parameters, recomputed when the registry changes."""
        generation, types = self._types
        if generation != self.registry.generation:
            types = frozenset(self.registry.resource_types())
            self._types = (self.registry.generation, types)
        return types

    # --------------------------------------------------------------------------- parse

    def parse(
        self,
        res_type: str | None,
        params: Iterable[tuple[str, str]],
        lenient: bool = False,
        compartment: tuple[str, str] | None = None,
    ) -> SearchQuery:
        """Validate the raw ``(name, value)`` pairs (FhirError 400 unless `lenient`)."""
        parser = QueryParser(
            self.registry,
            self.limits,
            self.resource_types,
            base_url=self.base_url,
            lenient=lenient,
            now_us=time.time_ns() // 1000,
        )
        return parser.parse(res_type, params, compartment)

    # -------------------------------------------------------------------------- search

    def search(
        self,
        session: Any,
        query: SearchQuery,
        count: int | None = None,
        cursor: str | None = None,
    ) -> SearchPage:
        """One page of `query`: `count` overrides ``_count``, `cursor` a ``_cursor`` param."""
        scope = _scope(session)
        page_size = self._page_size(query, count)
        token = cursor if cursor is not None else query.cursor
        edge = self._decode(token, query) if token else None
        with time_limit(session, self.limits.max_query_seconds):
            drive, size, rows = self._driver(session, query, scope)
            scope = _hashing(session, query, scope, drive)
            scope = _pushing(session, query, scope, drive, size, rows)
            scope = _by_pk(query, scope, drive, size)
            if query.summary_count or page_size == 0:
                total = self._total(session, query, scope, edge, drive)
                return SearchPage([], None, total, applied=list(query.applied))
            mode = self._total_mode(query)
            windowed = edge is None and mode == "accurate" and not _count_apart(query, drive)
            rows, more, counted = self._rows(
                session, query, scope, page_size, edge, drive, size, windowed
            )
            total: int | None
            if windowed:
                total = counted  # counted by the page query itself: one pass, not two
            elif edge is None and not more and mode != "none":
                total = len(rows)  # the whole result is on this first page
            else:
                total = self._total(session, query, scope, edge, drive)
            page = SearchPage([], None, total, applied=list(query.applied))
            page.pks = [row[0] for row in rows]
            self._links(page, query, rows, more, edge, total)
            if query.includes and page.pks:
                page.included_pks, page.include_truncated = included_pks(
                    session, scope.fresh(), query.includes, page.pks, self.limits
                )
        return page

    def find_pks(
        self,
        session: Any,
        res_type: str,
        params: Iterable[tuple[str, str]] | SearchQuery,
        limit: int = 2,
    ) -> list[int]:
        """Matches of a conditional query (``If-None-Exist``, ``?identifier=…``), by pk;
        `params` may be the query already parsed (the caller checked its criteria).

        Result parameters are accepted and ignored; a query without any criterion is
        refused, since it would match every resource of the type.
        """
        query = params if isinstance(params, SearchQuery) else self.parse(res_type, params)
        if not query.criteria:
            raise FhirError(400, "invalid", f"The conditional query on {res_type} has no criteria")
        scope = _scope(session)
        with time_limit(session, self.limits.max_query_seconds):
            drive, size, rows = self._driver(session, query, scope)
            scope = _hashing(session, query, scope, drive)
            scope = _pushing(session, query, scope, drive, size, rows)
            scope = _by_pk(query, scope, drive, size)
            owner = scope.alias(S.resource)
            stmt = select(owner.c.pk).where(*self._filters(query, owner, scope, drive))
            # as in `_rows`: a sparse driver leads, not a walk of the primary key
            order = owner.c.pk + 0 if scope.postgres and size is Size.sparse else owner.c.pk
            return list(session.execute(stmt.order_by(order).limit(limit)).scalars())

    def count(self, session: Any, query: SearchQuery, estimate: bool = False) -> int:
        """Number of matches (planner estimate on PostgreSQL when `estimate`)."""
        scope = _scope(session)
        with time_limit(session, self.limits.max_query_seconds):
            drive, size, _ = self._driver(session, query, scope, pushing=False)
            scope = _hashing(session, query, scope, drive)
            scope = _by_pk(query, scope, drive, size)
            return self._count(session, query, scope, drive, estimate)

    # ------------------------------------------------------------------------ internals

    def _page_size(self, query: SearchQuery, count: int | None) -> int:
        size = count if count is not None else query.count
        if size is None:
            size = self.limits.default_count
        return max(0, min(size, self.limits.max_count))

    def _driver(
        self, session: Any, query: SearchQuery, scope: Scope, pushing: bool = True
    ) -> tuple[int | None, Size, int | None]:
        """The criterion the query starts from: the static guess of `plan.driver`, checked
        against the index when it is unsure (`plan.to_measure`); what is known of its
        size: `Size.sparse` for a sure guess or a driver measured below `plan.PROBE_CAP`
        rows, `Size.dense` for a lone criterion measured at `plan.DENSE_ROWS` or more
        (SQLite only, see `_rows`), else `Size.unknown`; and, when it was measured up to
        `SMALL_ROWS`, its number of rows (for `_pushing`, which then measures nothing).

        `pushing`: the search may push probes into the driver (`_pushing`). A guess that
        `_pushing` would measure up to `SMALL_ROWS` is then measured that far at once,
        rather than up to `plan.PROBE_CAP` here and again there."""
        static = plan.driver(query.criteria, query.compartment is not None)
        if static is None:
            return None, Size.unknown, None
        if plan.rank(query.criteria[static]) < plan.UNCERTAIN:
            return static, Size.sparse, None
        measured = plan.to_measure(query.criteria, static)
        if measured:
            wide = pushing and static in measured and _pushable(query, scope, static)
            caps = {static: max(plan.PROBE_CAP, SMALL_ROWS)} if wide else {}
            sizes = {
                i: _measure(session, query.criteria[i], scope.fresh(), caps.get(i))
                for i in measured
            }
            best = min(measured, key=lambda i: (sizes[i], plan.rank(query.criteria[i]), i))
            if sizes[best] < plan.PROBE_CAP:
                return best, Size.sparse, None
            return static, Size.unknown, sizes[static] if wide else None
        lone = len(query.criteria) == 1 and not query.sort and query.compartment is None
        if lone and not scope.postgres and plan.measurable(query.criteria[static]):
            rows = _measure(session, query.criteria[static], scope.fresh(), plan.DENSE_ROWS)
            if rows >= plan.DENSE_ROWS:
                return static, Size.dense, None
            return static, Size.sparse if rows < plan.PROBE_CAP else Size.unknown, None
        return static, Size.unknown, None

    def _filters(
        self, query: SearchQuery, owner: FromClause, scope: Scope, drive: int | None
    ) -> list[ColumnElement[bool]]:
        tests = [
            *owner_rows(owner, scope, query.res_types, scope.by_pk and drive is not None),
            owner.c.deleted == false(),
        ]
        if query.compartment is not None:
            comp_type, comp_id = query.compartment
            tests.append(compartment_condition(comp_type, comp_id, owner, query.res_types, scope))
        pushed = _driver_with_probes(query, owner, scope, drive)
        inside = pushed[1] if pushed is not None else frozenset()
        if pushed is not None:
            tests.append(pushed[0])
        tests.extend(
            condition(c, owner, scope, drive=i == drive)
            for i, c in enumerate(query.criteria)
            if i not in inside
        )
        return tests

    def _matches(self, query: SearchQuery, scope: Scope, drive: int | None) -> Select:
        """The pks of every match, for a count or an estimate."""
        scope = scope.fresh()
        by_index = _index_matches(query, scope, drive)
        if by_index is not None:
            return by_index
        owner = scope.alias(S.resource)
        return select(owner.c.pk).where(*self._filters(query, owner, scope, drive))

    def _total_mode(self, query: SearchQuery) -> str:
        mode = query.total or self.default_total
        if query.summary_count and mode == "none":
            mode = "accurate"
        return mode

    def _total(
        self,
        session: Any,
        query: SearchQuery,
        scope: Scope,
        edge: Cursor | None,
        drive: int | None,
    ) -> int | None:
        mode = self._total_mode(query)
        if mode == "none":
            return None
        if edge is not None and edge.total is not None:
            return edge.total  # counted once for the first page, carried by the cursor
        return self._count(session, query, scope, drive, mode == "estimate")

    def _count(
        self, session: Any, query: SearchQuery, scope: Scope, drive: int | None, estimate: bool
    ) -> int:
        """The exact number of matches, or the planner's estimate (`estimate`)."""
        if not estimate:
            counted = _index_count(query, scope.fresh(), drive)
            if counted is not None:
                return int(session.execute(counted).scalar_one())
        stmt = self._matches(query, scope, drive)
        return estimate_rows(session, stmt) if estimate else count_rows(session, stmt)

    def _rows(
        self,
        session: Any,
        query: SearchQuery,
        scope: Scope,
        size: int,
        edge: Cursor | None,
        drive: int | None,
        density: Size = Size.unknown,
        windowed: bool = False,
    ) -> tuple[list[Any], bool, int | None]:
        """Up to `size` rows (pk, sort values…) in page order, whether more follow, and
        (`windowed`) the number of matches, counted by the same statement (the
        matches are materialised once, read by the page and by its count).

        In pk order (no ``_sort``) the page can stop after `size` + 1 matches, and the
        best plan depends on how dense the matches are:

        - dense (one criterion with thousands of rows): walking the resources in pk
          order and probing each is cheapest, since matches come every few rows.
          PostgreSQL finds that plan itself (a merge semi-join on pk); SQLite would
          first materialise the whole driving list (all heart rates, every page), so on
          SQLite nothing drives: the criterion is a probe and the scan follows the rowid.
        - sparse (a sure guess, or measured small): start from the driver. PostgreSQL,
          misled by its estimates, may still prefer the walk in pk order hoping for
          early matches and read a million rows; ordering by ``pk + 0`` (the same order,
          which no index provides) removes that temptation.
        - unknown: the driver leads on SQLite; PostgreSQL chooses.
        """
        scope = scope.fresh()
        owner = scope.alias(S.resource)
        keys = [sort_expression(k, owner, scope).label(f"k{i}") for i, k in enumerate(query.sort)]
        page_drive = None if density is Size.dense and not query.sort else drive
        filters = self._filters(query, owner, scope, page_drive)
        matches = select(owner.c.pk, *keys).where(*filters)
        if windowed:
            # Every match is read once, into a materialised CTE that both the page and its
            # count read. (A ``count(*) OVER ()`` window does the same work, but
            # PostgreSQL costs LIMIT over a window as if it streamed, and then picks a
            # plan meant to stop early that reads every resource of the type.)
            inner: Any = matches.cte("m").prefix_with(_MATERIALIZED)
        else:
            inner = matches.subquery("m")
        order = [OrderKey(inner.c[f"k{i}"], k.descending) for i, k in enumerate(query.sort)]
        pk = OrderKey(inner.c.pk, False)
        unindexed = scope.postgres and not query.sort and density is Size.sparse and not windowed
        sort_pk = OrderKey(inner.c.pk + 0, False) if unindexed else pk
        backward = edge is not None and edge.backward
        if backward:
            order, pk, sort_pk = [k.reversed() for k in order], pk.reversed(), sort_pk.reversed()
        stmt = select(inner)
        if windowed:
            stmt = stmt.add_columns(select(func.count()).select_from(inner).scalar_subquery())
        if edge is not None:
            stmt = stmt.where(paging.after_condition(order, pk, edge))
        stmt = stmt.order_by(*(k.order() for k in order), sort_pk.order()).limit(size + 1)
        rows = list(session.execute(stmt).all())
        counted = None
        if windowed:
            counted = rows[0][-1] if rows else 0
            rows = [row[:-1] for row in rows]
        more = len(rows) > size
        rows = rows[:size]
        if backward:
            rows.reverse()
        return rows, more, counted

    def _links(
        self,
        page: SearchPage,
        query: SearchQuery,
        rows: list[Any],
        more: bool,
        edge: Cursor | None,
        total: int | None,
    ) -> None:
        """Cursors (and REST link parameters) for the pages around this one."""
        backward = edge is not None and edge.backward
        sort_text = _sort_text(query)
        page.first_params = list(query.applied)
        if rows and (more if not backward else True):
            last = rows[-1]
            nxt = Cursor(list(last[1:]), last[0], False, total)
            page.next_cursor = paging.encode(nxt, sort_text)
            page.next_params = [*query.applied, (CURSOR_PARAM, page.next_cursor)]
        if rows and (more if backward else edge is not None):
            first = rows[0]
            prev = Cursor(list(first[1:]), first[0], True, total)
            page.previous_params = [*query.applied, (CURSOR_PARAM, paging.encode(prev, sort_text))]

    def _decode(self, token: str, query: SearchQuery) -> Cursor:
        kinds = [CURSOR_TYPES[k.kind] for k in query.sort]
        return paging.decode(token, _sort_text(query), kinds)


def _measure(session: Any, leaf: Criterion, scope: Scope, cap: int | None = None) -> int:
    """How many index rows `leaf` has, counted up to `cap` (`plan.PROBE_CAP`)."""
    assert isinstance(leaf, Leaf)
    t = scope.alias(INDEX_TABLES[leaf.kind])
    rows = select(literal(1)).where(*index_rows(t, scope, leaf.types, leaf.code))
    rows = rows.where(measure_test(leaf, t)).limit(cap or plan.PROBE_CAP)
    return int(session.execute(select(func.count()).select_from(rows.subquery())).scalar_one())


def _count_apart(query: SearchQuery, drive: int | None) -> bool:
    """Count the first page's total with a statement of its own (from the index table)
    rather than by the page query (see `_rows`, `windowed`).

    Apart when the count can be read from the driving index alone and the page query may
    stop early: matches in pk order (no ``_sort``) starting from an index range (not a
    ``:contains`` scan). Otherwise the page query evaluates every match anyway, and the
    window count costs nothing more.
    """
    if query.sort or not _index_countable(query, drive):
        return False
    assert drive is not None
    return query.criteria[drive].modifier not in ("contains", "text")  # type: ignore[union-attr]


def _index_countable(query: SearchQuery, drive: int | None) -> bool:
    if query.compartment is not None or drive is None:
        return False
    leaf = query.criteria[drive]
    if not isinstance(leaf, Leaf) or leaf.kind not in INDEX_TABLES or leaf.kind == "composite":
        return False
    return all(pk_only(c) for i, c in enumerate(query.criteria) if i != drive)


def _index_matches(query: SearchQuery, scope: Scope, drive: int | None) -> Select | None:
    """The matches read from the driving criterion's index table alone, when possible.

    A count does not need the `resource` rows: index rows exist only for the current
    version of resources that are not deleted (a delete removes them, see
    `socle.fhir.storage.store`), and they carry the tenant and type. So when the driving
    criterion is an index leaf and every other criterion only needs the owner's pk (no
    ``_id``, ``_lastUpdated``, ``_has`` or compartment), the matches are ``SELECT
    DISTINCT t.resource_pk FROM idx_… t WHERE <driver> AND <probes on t.resource_pk>``:
    an index (only) scan instead of a join with a million-row table.
    """
    found = _index_tests(query, scope, drive)
    if found is None:
        return None
    pk, tests = found
    return select(pk).distinct().where(*tests)


def _index_count(query: SearchQuery, scope: Scope, drive: int | None) -> Select | None:
    """``SELECT count(DISTINCT resource_pk) FROM idx_… WHERE …`` (see `_index_matches`).

    The same count as ``SELECT count(*) FROM (SELECT DISTINCT …)``, in one aggregate: on
    PostgreSQL the Unique node and the subquery scan of that form cost 54 ms of backend
    CPU for the 140,700 body weights of the 1M benchmark, this one 48 ms, the bare
    index-only scan 41 ms (the rows arrive in ``resource_pk`` order, so the aggregate's
    own deduplication is a pass over sorted values); on SQLite both forms cost the same.
    The index may hold several rows per resource for one value (two codings of the same
    code with other displays, an identifier with two types), hence the DISTINCT.
    """
    found = _index_tests(query, scope, drive)
    if found is None:
        return None
    pk, tests = found
    return select(func.count(distinct(pk))).where(*tests)


def _index_tests(
    query: SearchQuery, scope: Scope, drive: int | None
) -> tuple[Any, list[ColumnElement[bool]]] | None:
    if not _index_countable(query, drive):
        return None
    assert drive is not None
    leaf = query.criteria[drive]
    assert isinstance(leaf, Leaf)
    others = [c for i, c in enumerate(query.criteria) if i != drive]
    t, tests = leaf_rows(leaf, scope, others)
    return t.c.resource_pk, tests


# Driving kinds whose rows PostgreSQL estimates well enough for `_driver_with_probes`
# (the interval terms of numbers and quantities make it expect thousands of rows where
# there are none, and then prefer a hash join over every resource of the type).
_PUSHABLE = frozenset({"string", "token", "date", "reference", "uri"})
SMALL_ROWS = 2048  # a driver with fewer rows may hold the pk-only probes (PostgreSQL)


def _pushing(
    session: Any,
    query: SearchQuery,
    scope: Scope,
    drive: int | None,
    size: Size,
    rows: int | None = None,
) -> Scope:
    """The scope with `Scope.pushed` when the driver should hold the pk-only probes
    (`_pushable`), known to be small (a sure guess, or measured below `SMALL_ROWS` rows:
    the probes then run on a bounded number of rows, never on every heart rate).
    `rows`: the driver's rows if `SearchEngine._driver` already measured them that far."""
    if size is Size.dense or not _pushable(query, scope, drive):
        return scope
    if size is not Size.sparse:
        assert drive is not None
        leaf = query.criteria[drive]
        if not plan.measurable(leaf):
            return scope
        if rows is None:
            rows = _measure(session, leaf, scope.fresh(), SMALL_ROWS)
        if rows >= SMALL_ROWS:
            return scope
    return replace(scope, pushed=True)


def _pushable(query: SearchQuery, scope: Scope, drive: int | None) -> bool:
    """Whether the driver could hold the pk-only probes (`_driver_with_probes`), its
    size aside: PostgreSQL, a driving index leaf of a `_PUSHABLE` kind (not
    ``:contains``) with other criteria that only need the owner's pk."""
    if not scope.postgres or drive is None:
        return False
    leaf = query.criteria[drive]
    if not leaf_set(leaf) or leaf.kind not in _PUSHABLE or leaf.modifier == "contains":  # type: ignore[union-attr]
        return False
    return any(pk_only(c) for i, c in enumerate(query.criteria) if i != drive)


def _by_pk(query: SearchQuery, scope: Scope, drive: int | None, size: Size) -> Scope:
    """The scope with `Scope.by_pk` when the owner's rows should only be read through
    their pk (`socle.fhir.search.clauses.base.owner_rows`): PostgreSQL, a driver known
    to be small (a sure guess, measured below `plan.PROBE_CAP`, or holding the probes,
    `_pushing`) that names its owners by pk (``r0.pk IN (…)``: an index leaf or a
    chain; ``_has`` and ``_list`` name them by type and id, which needs
    ``uq_resource_identity``)."""
    if not scope.postgres or drive is None or size is Size.dense:
        return scope
    if size is not Size.sparse and not scope.pushed:
        return scope
    if not isinstance(query.criteria[drive], Leaf | Chain):
        return scope
    return replace(scope, by_pk=True)


def _driver_with_probes(
    query: SearchQuery, owner: FromClause, scope: Scope, drive: int | None
) -> tuple[ColumnElement[bool], frozenset[int]] | None:
    """PostgreSQL: the driving index leaf as a semi-join that holds the probes which only
    need the owner's pk, and the indexes of the criteria it holds (the driver included).

    ``r0.pk IN (SELECT d0.resource_pk FROM idx_date d0 WHERE <driver> AND EXISTS (<probe
    on d0.resource_pk>))``: the candidates are filtered on the index rows, and only the
    matches are looked up in `resource` (the same test as probing each resource, since
    such a probe reads nothing of the resource but its pk; the count already has this
    shape, see `_index_matches`). ``population-code-date`` at 1M resources: 299 heights'
    dates, 18 matches; the page statement 3.0 → 1.9 ms. The subquery ends with ``OFFSET
    0``: pulled up, PostgreSQL could reorder it into a walk of every resource of the
    type probing each (1.8 s for ``quantity-ucum`` without the fence). Only when
    `_pushing` allowed it (`Scope.pushed`): never on SQLite, which materialises the
    ``IN`` list first either way, nor for a ``:contains`` driver (the trigram shape of
    `socle.fhir.search.clauses.leaf_condition`), nor for a large driver.
    """
    if not scope.pushed or drive is None:
        return None
    leaf = query.criteria[drive]
    probes = frozenset(i for i, c in enumerate(query.criteria) if i != drive and pk_only(c))
    if not probes:
        return None
    assert isinstance(leaf, Leaf)
    t, tests = leaf_rows(leaf, scope, [query.criteria[i] for i in sorted(probes)])
    fenced = select(t.c.resource_pk).where(*tests).offset(0)
    return owner.c.pk.in_(fenced), probes | {drive}


def _hashing(session: Any, query: SearchQuery, scope: Scope, drive: int | None) -> Scope:
    """The scope with the ``_has`` probes to run against a hashed set: those whose inner
    leaf is small enough (`_small_set`; see `socle.fhir.search.chain._has_inner`)."""
    hashed = {
        id(has)
        for has in probed_has(query.criteria, drive)
        if _small_set(session, has.inner, scope.fresh())
    }
    return replace(scope, hashed=frozenset(hashed)) if hashed else scope


def _small_set(session: Any, leaf: Criterion, scope: Scope) -> bool:
    """Whether PostgreSQL expects the leaf's set of pks to have fewer than
    `chain.HASHED_ROWS` rows (one EXPLAIN, planned but not run): it hashes a set only
    when it expects it to fit in memory, and otherwise rescans it for every referrer.

    Not on SQLite: it would build a temporary index of the set, whose size it cannot
    know without reading it; on the 1M benchmark that gained ≈ 15 % in-process for
    ``has-glucose-family`` and nothing measurable over HTTP, while a large set would
    cost more than the probes.
    """
    if not scope.postgres:
        return False
    assert isinstance(leaf, Leaf)
    return planner_rows(session, leaf_pks(leaf, scope)) < chain.HASHED_ROWS


def _scope(session: Any) -> Scope:
    name = session.conn.dialect.name
    return Scope(session.tenant, name, trigram=trigram_index(session))


def _sort_text(query: SearchQuery) -> str:
    return ",".join(k.text for k in query.sort)
