"""patch: PATCH [type]/[id] with a JSON Patch document (application/json-patch+json)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from socle.fhir.rest.http import context, limits, read_body
from socle.fhir.rest.interactions.common import if_match, in_session, write_response

PATCH_TYPES = {"application/json-patch+json"}


async def patch(request: Request) -> Response:
    engine = request.app.state.engine
    res_type, res_id = request.path_params["type"], request.path_params["id"]
    engine.require_type(res_type)
    operations = await read_body(request, limits(request), PATCH_TYPES)
    version, ctx = if_match(request), context(request)
    result = await in_session(
        request,
        lambda s: engine.crud.patch(s, ctx, res_type, res_id, operations, if_match=version),
        write=True,
    )
    return write_response(request, result)
