"""transaction and batch: POST [base] with a Bundle.

GET entries are dispatched to read, vread, search and history inside the same session.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from socle.fhir.bundles.transaction import STATUS_TEXT, BundleProcessor
from socle.fhir.context import RequestContext
from socle.fhir.errors import FhirError, bad_request
from socle.fhir.rest.http import JSON_TYPES, context, fhir_response, limits, prefer, read_body
from socle.fhir.rest.interactions.search import run_search
from socle.fhir.storage.store import StoreSession


async def transaction(request: Request) -> Response:
    engine = request.app.state.engine
    body = await read_body(request, limits(request), JSON_TYPES)
    ctx = context(request)
    processor = bundle_processor(engine)
    wanted = prefer(request).get("return", "minimal")
    result = await run_in_threadpool(processor.process, ctx, body, wanted)
    return fhir_response(request, result, shape_resource=False)


def bundle_processor(engine: Any) -> BundleProcessor:
    """The engine's processor, with GET entries answered by this module."""
    processor = getattr(engine, "_bundle_processor", None)
    if processor is None:
        processor = BundleProcessor(engine, lambda s, ctx, url: get_entry(engine, s, ctx, url))
        engine._bundle_processor = processor
    return processor


def get_entry(engine: Any, s: StoreSession, ctx: RequestContext, url: str) -> dict[str, Any]:
    """Answer a GET entry: `Type/id`, `Type/id/_history/v`, `Type?query` or `Type`."""
    parts = urlsplit(url)
    path = [p for p in parts.path.strip("/").split("/") if p]
    params = parse_qsl(parts.query, keep_blank_values=True)
    if not path:
        raise bad_request(f"Unsupported GET entry url {url!r}")
    if len(path) == 1:
        engine.require_type(path[0])
        bundle = run_search(engine, s, ctx, path[0], params)
        return {"status": "200 OK", "_resource": bundle}
    if len(path) == 2:
        result = engine.crud.read(s, path[0], path[1], ctx)
    elif len(path) == 4 and path[2] == "_history":
        result = engine.crud.vread(s, path[0], path[1], path[3], ctx)
    else:
        raise FhirError(400, "not-supported", f"Unsupported GET entry url {url!r}")
    return {
        "status": STATUS_TEXT[200],
        "etag": result.etag,
        "location": result.location,
        "_resource": result.resource,
    }
