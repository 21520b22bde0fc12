"""create: POST [type], with conditional create (If-None-Exist)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from socle.fhir.rest.http import JSON_TYPES, context, limits, read_body
from socle.fhir.rest.interactions.common import in_session, write_response


async def create(request: Request) -> Response:
    engine = request.app.state.engine
    res_type = request.path_params["type"]
    engine.require_type(res_type)
    body = await read_body(request, limits(request), JSON_TYPES)
    condition = request.headers.get("if-none-exist")
    ctx = context(request)
    result = await in_session(
        request,
        lambda s: engine.crud.create(s, ctx, res_type, body, if_none_exist=condition),
        write=True,
    )
    return write_response(request, result)
