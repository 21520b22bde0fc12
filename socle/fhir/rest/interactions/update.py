"""update: PUT [type]/[id] (update-as-create allowed) and conditional PUT [type]?query."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from socle.fhir.errors import bad_request
from socle.fhir.rest.http import JSON_TYPES, context, limits, read_body
from socle.fhir.rest.interactions.common import if_match, in_session, write_response


async def update(request: Request) -> Response:
    engine = request.app.state.engine
    res_type, res_id = request.path_params["type"], request.path_params["id"]
    engine.require_type(res_type)
    body = await read_body(request, limits(request), JSON_TYPES)
    version, ctx = if_match(request), context(request)
    result = await in_session(
        request,
        lambda s: engine.crud.update(s, ctx, res_type, res_id, body, if_match=version),
        write=True,
    )
    return write_response(request, result)


async def conditional_update(request: Request) -> Response:
    engine = request.app.state.engine
    res_type = request.path_params["type"]
    engine.require_type(res_type)
    query = request.url.query
    if not query:
        raise bad_request("PUT on a type needs search criteria (conditional update) or an id")
    body = await read_body(request, limits(request), JSON_TYPES)
    version, ctx = if_match(request), context(request)
    result = await in_session(
        request,
        lambda s: engine.crud.conditional_update(s, ctx, res_type, query, body, if_match=version),
        write=True,
    )
    return write_response(request, result)
