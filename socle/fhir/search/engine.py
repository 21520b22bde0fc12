"""`SearchEngine`: the query side of FHIR search, used by the REST layer and by
conditional create/update/delete.

``parse`` validates a request into a `SearchQuery`; ``search`` runs it against a
`StoreSession` with the same SQLAlchemy Core statements on SQLite and PostgreSQL:

    SELECT m.pk, m.k0… FROM (
        SELECT r.pk, <sort keys> FROM resource r
        WHERE r.tenant = :t AND r.deleted = false AND r.res_type = :type
          AND r.pk IN (SELECT resource_pk FROM idx_… WHERE …)   -- one per parameter
    ) m WHERE <keyset after the cursor> ORDER BY <keys>, m.pk LIMIT :count + 1

Only current, non-deleted resources of the session's tenant are ever returned, and the
statements of one search run under `SearchLimits.max_query_seconds` (``dialect.time_limit``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, Select, false, select
from sqlalchemy.sql.expression import FromClause

from socle.fhir.errors import FhirError
from socle.fhir.indexing.registry import SearchParamRegistry
from socle.fhir.search import paging
from socle.fhir.search.chain import condition
from socle.fhir.search.clauses.base import Scope, in_types
from socle.fhir.search.compartment import compartment_condition
from socle.fhir.search.dialect import count_rows, estimate_rows, time_limit
from socle.fhir.search.include import included_pks
from socle.fhir.search.limits import DEFAULT_LIMITS, SearchLimits
from socle.fhir.search.model import SearchPage, SearchQuery
from socle.fhir.search.paging import CURSOR_PARAM, Cursor, OrderKey
from socle.fhir.search.parameters import QueryParser
from socle.fhir.search.sort import CURSOR_TYPES, sort_expression
from socle.fhir.storage import schema as S


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
        scope = Scope(session.tenant)
        size = self._page_size(query, count)
        token = cursor if cursor is not None else query.cursor
        edge = self._decode(token, query) if token else None
        with time_limit(session, self.limits.max_query_seconds):
            total = self._total(session, query, scope, edge)
            page = SearchPage([], None, total, applied=list(query.applied))
            if query.summary_count or size == 0:
                return page
            rows, more = self._rows(session, query, scope, size, edge)
            page.pks = [row[0] for row in rows]
            self._links(page, query, rows, more, edge, total)
            if query.includes and page.pks:
                page.included_pks, page.include_truncated = included_pks(
                    session, scope, query.includes, page.pks, self.limits
                )
        return page

    def find_pks(
        self, session: Any, res_type: str, params: Iterable[tuple[str, str]], limit: int = 2
    ) -> list[int]:
        """Matches of a conditional query (``If-None-Exist``, ``?identifier=…``), by pk.

        Result parameters are accepted and ignored; a query without any criterion is
        refused, since it would match every resource of the type.
        """
        query = self.parse(res_type, params)
        if not query.criteria:
            raise FhirError(400, "invalid", f"The conditional query on {res_type} has no criteria")
        scope = Scope(session.tenant)
        owner = S.resource.alias("r")
        stmt = select(owner.c.pk).where(*self._filters(query, owner, scope))
        with time_limit(session, self.limits.max_query_seconds):
            return list(session.execute(stmt.order_by(owner.c.pk).limit(limit)).scalars())

    def count(self, session: Any, query: SearchQuery, estimate: bool = False) -> int:
        """Number of matches (planner estimate on PostgreSQL when `estimate`)."""
        scope = Scope(session.tenant)
        stmt = self._matches(query, scope)
        with time_limit(session, self.limits.max_query_seconds):
            return estimate_rows(session, stmt) if estimate else count_rows(session, stmt)

    # ------------------------------------------------------------------------ internals

    def _page_size(self, query: SearchQuery, count: int | None) -> int:
        size = count if count is not None else query.count
        if size is None:
            size = self.limits.default_count
        return max(0, min(size, self.limits.max_count))

    def _filters(
        self, query: SearchQuery, owner: FromClause, scope: Scope
    ) -> list[ColumnElement[bool]]:
        tests = [
            owner.c.tenant == scope.tenant,
            *in_types(owner.c.res_type, query.res_types),
            owner.c.deleted == false(),
        ]
        if query.compartment is not None:
            comp_type, comp_id = query.compartment
            tests.append(compartment_condition(comp_type, comp_id, owner, query.res_types, scope))
        tests.extend(condition(c, owner, scope) for c in query.criteria)
        return tests

    def _matches(self, query: SearchQuery, scope: Scope) -> Select:
        owner = S.resource.alias("r")
        return select(owner.c.pk).where(*self._filters(query, owner, scope))

    def _total(
        self, session: Any, query: SearchQuery, scope: Scope, edge: Cursor | None
    ) -> int | None:
        mode = query.total or self.default_total
        if query.summary_count and mode == "none":
            mode = "accurate"
        if mode == "none":
            return None
        if edge is not None and edge.total is not None:
            return edge.total  # counted once for the first page, carried by the cursor
        stmt = self._matches(query, scope)
        return estimate_rows(session, stmt) if mode == "estimate" else count_rows(session, stmt)

    def _rows(
        self, session: Any, query: SearchQuery, scope: Scope, size: int, edge: Cursor | None
    ) -> tuple[list[Any], bool]:
        """Up to `size` rows (pk, sort values…) in page order, and whether more follow."""
        owner = S.resource.alias("r")
        keys = [sort_expression(k, owner).label(f"k{i}") for i, k in enumerate(query.sort)]
        inner = select(owner.c.pk, *keys).where(*self._filters(query, owner, scope)).subquery("m")
        order = [OrderKey(inner.c[f"k{i}"], k.descending) for i, k in enumerate(query.sort)]
        pk = OrderKey(inner.c.pk, False)
        backward = edge is not None and edge.backward
        if backward:
            order, pk = [k.reversed() for k in order], pk.reversed()
        stmt = select(inner)
        if edge is not None:
            stmt = stmt.where(paging.after_condition(order, pk, edge))
        stmt = stmt.order_by(*(k.order() for k in order), pk.order()).limit(size + 1)
        rows = list(session.execute(stmt).all())
        more = len(rows) > size
        rows = rows[:size]
        if backward:
            rows.reverse()
        return rows, more

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


def _sort_text(query: SearchQuery) -> str:
    return ",".join(k.text for k in query.sort)
