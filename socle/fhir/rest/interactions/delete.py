"""delete: DELETE [type]/[id] (a versioned tombstone) and conditional DELETE [type]?query."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from socle.fhir.errors import Issue, bad_request, operation_outcome
from socle.fhir.rest.http import context, fhir_response
from socle.fhir.rest.interactions.common import if_match, in_session


async def delete(request: Request) -> Response:
    engine = request.app.state.engine
    res_type, res_id = request.path_params["type"], request.path_params["id"]
    version, ctx = if_match(request), context(request)
    result = await in_session(
        request,
        lambda s: engine.crud.delete(s, ctx, res_type, res_id, if_match=version),
        write=True,
    )
    outcome = operation_outcome(
        [Issue("information", "informational", f"Deleted {res_type}/{res_id}")]
    )
    return fhir_response(request, outcome, 200, {"ETag": result.etag})


async def conditional_delete(request: Request) -> Response:
    engine = request.app.state.engine
    res_type = request.path_params["type"]
    engine.require_type(res_type)
    query, ctx = request.url.query, context(request)
    if not query:
        raise bad_request("DELETE on a type needs search criteria (conditional delete)")
    results = await in_session(
        request, lambda s: engine.crud.conditional_delete(s, ctx, res_type, query), write=True
    )
    text = f"Deleted {len(results)} {res_type} resource(s) matching {query}"
    return fhir_response(
        request, operation_outcome([Issue("information", "informational", text)]), 200
    )
