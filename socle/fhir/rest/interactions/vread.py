"""vread: GET [type]/[id]/_history/[vid]."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from socle.fhir.rest.http import context, fhir_response
from socle.fhir.rest.interactions.common import in_session, version_headers


async def vread(request: Request) -> Response:
    engine = request.app.state.engine
    p = request.path_params
    ctx = context(request)
    result = await in_session(
        request, lambda s: engine.crud.vread(s, p["type"], p["id"], p["vid"], ctx)
    )
    return fhir_response(
        request, result.resource, 200, version_headers(request, result, location=False)
    )
