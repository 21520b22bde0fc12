"""read: GET [type]/[id], with If-None-Match and If-Modified-Since (304)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from socle.fhir.resource_ids import parse_etag
from socle.fhir.rest.http import context, fhir_response, parse_http_date
from socle.fhir.rest.interactions.common import in_session, version_headers


async def read(request: Request) -> Response:
    engine = request.app.state.engine
    res_type, res_id = request.path_params["type"], request.path_params["id"]
    ctx = context(request)
    result = await in_session(request, lambda s: engine.crud.read(s, res_type, res_id, ctx))
    headers = version_headers(request, result, location=False)
    if _not_modified(request, result.version, result.last_updated):
        return Response(status_code=304, headers=headers)
    return fhir_response(request, result.resource, 200, headers)


def _not_modified(request: Request, version: int, last_updated: int) -> bool:
    none_match = request.headers.get("if-none-match")
    if none_match is not None:
        return any(parse_etag(tag) == version for tag in none_match.split(",")) or (
            none_match.strip() == "*"
        )
    since = request.headers.get("if-modified-since")
    if since is not None:
        stamp = parse_http_date(since)
        # HTTP dates have one-second precision: compare whole seconds
        return stamp is not None and last_updated // 1_000_000 <= stamp // 1_000_000
    return False
