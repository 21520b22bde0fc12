"""search: GET [type]?…, POST [type]/_search, system search and compartment search.

`run_search` builds the searchset Bundle inside a storage session; transaction/batch GET
entries call it too, so a search behaves the same wherever it comes from.

The self link lists exactly the parameters applied (as received, ``_count`` as clamped);
with ``Prefer: handling=lenient`` the parameters dropped instead of refused are reported,
as warnings, in an OperationOutcome entry with ``search.mode = outcome`` (first entry of
the page), which also warns when ``_include``/``_revinclude`` hit their cap.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request
from starlette.responses import Response

from socle.fhir.bundles.render import full_url, link, page_url
from socle.fhir.errors import FhirError, Issue, bad_request, operation_outcome
from socle.fhir.guard import SEARCH, Access, OpenGuard
from socle.fhir.rest.http import context, fhir_response, limits, media_type, read_limited
from socle.fhir.rest.interactions.common import in_session
from socle.fhir.rest.shaping import subset

if TYPE_CHECKING:
    from socle.fhir.context import RequestContext
    from socle.fhir.engine import FhirEngine
    from socle.fhir.storage.store import StoredVersion, StoreSession

FORM = "application/x-www-form-urlencoded"


def run_search(
    engine: FhirEngine,
    s: StoreSession,
    ctx: RequestContext,
    res_type: str | None,
    params: list[tuple[str, str]],
    *,
    compartment: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """Execute a search and render the searchset Bundle with its paging links."""
    query = engine.search.parse(res_type, params, lenient=ctx.lenient, compartment=compartment)
    _confine(engine, ctx, res_type, query)
    page = engine.search.search(s, query)
    path = _path(res_type, compartment)
    applied = list(page.applied)
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    total = page.total if _totals_are_safe(engine) else _visible_total(engine, s, ctx, query, page)
    if total is not None:
        bundle["total"] = total
    links = [link("self", page_url(ctx.base_url, path, applied))]
    if page.first_params is not None:
        links.append(link("first", page_url(ctx.base_url, path, page.first_params)))
    if page.previous_params is not None:
        links.append(link("previous", page_url(ctx.base_url, path, page.previous_params)))
    if page.next_params is not None:
        links.append(link("next", page_url(ctx.base_url, path, page.next_params)))
    bundle["link"] = links
    issues = list(query.issues)
    asked = query.total == "accurate" or query.summary_count
    if page.total is not None and total is None and asked:
        issues.append(_TOTAL_WITHHELD)
    outcome = _outcome_entry(issues, page.include_truncated, engine.search.limits)
    if query.summary_count:
        if outcome is not None:
            bundle["entry"] = [outcome]
        return bundle
    summary, elements = query.summary, query.elements
    entries = [
        _entry(engine, ctx, v, "match", summary, elements)
        for v in _visible(engine, ctx, s.fetch_current(page.pks))
    ]
    included = _visible(engine, ctx, s.fetch_current(page.included_pks))
    entries += [_entry(engine, ctx, v, "include", summary, elements) for v in included]
    if outcome is not None:
        entries.insert(0, outcome)
    bundle["entry"] = entries
    return bundle


def _confine(engine: FhirEngine, ctx: RequestContext, res_type: str | None, query: Any) -> None:
    """Ask the guard; add the criteria it confines this subject to (parsed strictly).

    They are criteria, not a filter on the page, so totals and paging honour them too.
    """
    engine.guard.authorize(ctx, Access(SEARCH, res_type))
    engine.guard.check_query(ctx, res_type, query.criteria)  # chains, _has, _list
    confine = engine.guard.search_criteria(ctx, res_type)
    if confine:
        query.criteria.extend(engine.search.parse(res_type, confine).criteria)


VISIBLE_TOTAL_LIMIT = 10_000  # matches examined one by one to count what a subject may see
_TOTAL_WITHHELD = Issue(
    "information",
    "informational",
    "The total is only counted against the access rules on the first page of "
    f"_total=accurate or _summary=count, and up to {VISIBLE_TOTAL_LIMIT} matches",
    ["_total"],
)


def _totals_are_safe(engine: FhirEngine) -> bool:
    """A count is only honest (and leaks nothing) if the guard filters by criteria alone.

    A guard that hides results one by one (`visible`) would otherwise let a total count
    masked or blocked resources; such a guard sets `exact_criteria = False` (the default).
    """
    return isinstance(engine.guard, OpenGuard) or getattr(engine.guard, "exact_criteria", False)


def _visible_total(
    engine: FhirEngine, s: StoreSession, ctx: RequestContext, query: Any, page: Any
) -> int | None:
    """Count only the matches the guard lets this subject see (bounded; None beyond).

    A guard that hides results one by one would otherwise let a total count masked or
    blocked resources, which leaks their existence.
    """
    if page.total is None or page.total > VISIBLE_TOTAL_LIMIT or query.cursor:
        return None
    if query.total != "accurate" and not query.summary_count:
        return None  # the scan is only paid for when the client asks for an exact count
    scan = replace(query, includes=[], cursor=None, total="none", summary=None)
    size = engine.search.limits.max_count
    seen, cursor = 0, None
    while True:
        chunk = engine.search.search(s, scan, count=size, cursor=cursor)
        seen += len(_visible(engine, ctx, s.fetch_current(chunk.pks)))
        if not chunk.next_cursor:
            return seen
        cursor = chunk.next_cursor


def _visible(engine: FhirEngine, ctx: RequestContext, found: list[StoredVersion]) -> list:
    """Drop what the guard hides (the open guard hides nothing and parses nothing)."""
    if isinstance(engine.guard, OpenGuard):
        return found
    return [v for v in found if engine.guard.visible(ctx, orjson.loads(v.content))]


def _outcome_entry(issues: list[Issue], truncated: bool, limits: Any) -> dict[str, Any] | None:
    """The ``search.mode = outcome`` entry: parameters dropped (lenient), includes cut."""
    found = list(issues)
    if truncated:
        found.append(
            Issue(
                "warning",
                "too-costly",
                f"Only the first {limits.max_included} resources of _include/_revinclude "
                "are in this page",
                ["_include"],
            )
        )
    if not found:
        return None
    return {
        "fullUrl": f"urn:uuid:{uuid.uuid4()}",
        "resource": operation_outcome(found),
        "search": {"mode": "outcome"},
    }


def _entry(engine, ctx, stored, mode: str, summary: str | None, elements: str | None) -> dict:
    resource: Any
    reshaped = engine.hooks.reshapes(stored.res_type, stored.content)
    if summary in (None, "false") and not elements and not reshaped:
        resource = orjson.Fragment(stored.content)  # spliced as stored, never re-parsed
    else:
        resource = orjson.loads(stored.content)
        if reshaped:
            resource = engine.hooks.present(ctx, resource)
        resource = subset(resource, summary, elements, engine.model)
    return {
        "fullUrl": full_url(ctx.base_url, stored.res_type, stored.res_id),
        "resource": resource,
        "search": {"mode": mode},
    }


def _path(res_type: str | None, compartment: tuple[str, str] | None) -> str:
    if compartment:
        return f"{compartment[0]}/{compartment[1]}/{res_type or '*'}"
    return res_type or ""


async def search_type(request: Request) -> Response:
    res_type = request.path_params["type"]
    request.app.state.engine.require_type(res_type)
    return await _search(request, res_type, list(request.query_params.multi_items()))


async def search_post(request: Request) -> Response:
    """POST [type]/_search with form-encoded parameters (plus any in the URL)."""
    res_type = request.path_params.get("type")
    if res_type:
        request.app.state.engine.require_type(res_type)
    if media_type(request.headers.get("content-type")) != FORM:
        raise FhirError(415, "not-supported", f"POST _search needs {FORM}")
    raw = await read_limited(request, limits(request)[0])
    try:
        form = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError as exc:
        raise bad_request("The search form is not UTF-8") from exc
    return await _search(request, res_type, list(request.query_params.multi_items()) + form)


async def search_system(request: Request) -> Response:
    return await _search(request, None, list(request.query_params.multi_items()))


async def search_compartment(request: Request) -> Response:
    engine = request.app.state.engine
    p = request.path_params
    engine.require_type(p["comp_type"])
    res_type = None if p["type"] == "*" else p["type"]
    if res_type:
        engine.require_type(res_type)
    params = list(request.query_params.multi_items())
    return await _search(request, res_type, params, compartment=(p["comp_type"], p["comp_id"]))


async def _search(
    request: Request,
    res_type: str | None,
    params: list[tuple[str, str]],
    compartment: tuple[str, str] | None = None,
) -> Response:
    engine, ctx = request.app.state.engine, context(request)
    bundle = await in_session(
        request,
        lambda s: run_search(engine, s, ctx, res_type, params, compartment=compartment),
    )
    return fhir_response(request, bundle, shape_resource=False)
