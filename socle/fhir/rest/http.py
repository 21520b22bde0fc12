"""HTTP plumbing for the FHIR API: media types, bodies, Prefer, and FHIR responses."""

from __future__ import annotations

from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from socle.fhir.context import RequestContext
from socle.fhir.errors import FhirError
from socle.fhir.jsonio import parse_json
from socle.fhir.rest.shaping import shape

FHIR_JSON = "application/fhir+json"
JSON_TYPES = {"application/fhir+json", "application/json", "application/json+fhir", "text/json"}
XML_TYPES = {"application/fhir+xml", "application/xml", "text/xml", "xml"}
_FORMAT_ALIASES = {"json": FHIR_JSON, **{t: FHIR_JSON for t in JSON_TYPES}}


def media_type(value: str | None) -> str:
    return (value or "").split(";")[0].strip().lower()


def check_accept(request: Request) -> None:
    """Only JSON is served: `_format=xml` or an XML-only Accept gets 406."""
    fmt = request.query_params.get("_format")
    if fmt is not None:
        if media_type(fmt) not in _FORMAT_ALIASES:
            raise FhirError(406, "not-supported", f"_format {fmt!r} is not supported; use json")
        return
    accept = request.headers.get("accept")
    if not accept:
        return
    types = {media_type(part) for part in accept.split(",")}
    if types & (JSON_TYPES | {"*/*", "application/*"}):
        return
    raise FhirError(406, "not-supported", f"Cannot answer in {accept!r}; this server speaks JSON")


async def read_body(request: Request, ctx_limits: tuple[int, int], allowed: set[str]) -> Any:
    """Read and parse a JSON body within the size and depth limits; 415 for other types."""
    max_bytes, max_depth = ctx_limits
    ctype = media_type(request.headers.get("content-type"))
    if ctype not in allowed:
        if ctype in XML_TYPES:
            raise FhirError(
                415, "not-supported", "XML is not supported; send application/fhir+json"
            )
        raise FhirError(415, "not-supported", f"Unsupported Content-Type {ctype or '(none)'!r}")
    raw = await read_limited(request, max_bytes)
    return parse_json(raw, max_bytes=max_bytes, max_depth=max_depth)


async def read_limited(request: Request, max_bytes: int) -> bytes:
    """The raw body, refused with 413 as soon as it exceeds `max_bytes` (never buffered)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise FhirError(413, "too-costly", f"Body of {declared} bytes exceeds {max_bytes}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise FhirError(413, "too-costly", f"Body exceeds {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def prefer(request: Request) -> dict[str, str]:
    """Parse the Prefer header: {'return': 'minimal', 'handling': 'lenient', ...}."""
    out: dict[str, str] = {}
    for part in request.headers.get("prefer", "").split(";"):
        for token in part.split(","):
            key, _, value = token.strip().partition("=")
            if key:
                out[key.strip().lower()] = value.strip().strip('"')
    return out


def pretty(request: Request) -> bool:
    return request.query_params.get("_pretty", "false").lower() == "true"


def fhir_response(
    request: Request,
    body: Any,
    status: int = 200,
    headers: dict[str, str] | None = None,
    *,
    shape_resource: bool = True,
) -> Response:
    """Serialise a FHIR body (with _summary/_elements applied to a single resource)."""
    if body is None:
        return Response(status_code=status, headers=headers)
    if shape_resource and isinstance(body, dict):
        body = shape(body, request.query_params, request.app.state.engine.model)
    option = orjson.OPT_INDENT_2 if pretty(request) else 0
    content = orjson.dumps(body, option=option)
    return Response(content, status_code=status, headers=headers, media_type=FHIR_JSON)


def http_date(micros: int) -> str:
    from datetime import UTC, datetime

    return format_datetime(datetime.fromtimestamp(micros / 1e6, UTC), usegmt=True)


def parse_http_date(value: str) -> int | None:
    """An HTTP date (If-Modified-Since) -> µs since epoch, or None if unparsable."""
    try:
        return int(parsedate_to_datetime(value).timestamp() * 1_000_000)
    except (TypeError, ValueError, IndexError):
        return None


def base_url(request: Request) -> str:
    """Public base of the FHIR API: SOCLE_BASE_URL, else derived from the request."""
    configured = request.app.state.engine.settings.base_url
    if configured:
        return configured.rstrip("/")
    return str(request.base_url).rstrip("/") + "/fhir"


def context(request: Request) -> RequestContext:
    """The per-request context (`principal` is filled by socle/security when auth is on)."""
    ctx = getattr(request.state, "fhir_context", None)
    if ctx is None:
        engine = request.app.state.engine
        ctx = RequestContext(
            tenant=getattr(request.app.state, "tenant", engine.settings.tenant),
            base_url=base_url(request),
            lenient=prefer(request).get("handling") == "lenient",
        )
        # Security (socle/security): the authenticated subject and the request's facts
        principal = getattr(request.state, "socle_principal", None)
        if principal is not None:
            from socle.security.service import request_context_fields

            ctx.principal, extras = request_context_fields(request)
            ctx.extras.update(extras)
        request.state.fhir_context = ctx
    return ctx


def limits(request: Request) -> tuple[int, int]:
    settings = request.app.state.engine.settings
    return settings.max_body_bytes, settings.max_json_depth
