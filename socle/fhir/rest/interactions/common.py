"""Shared pieces of the interaction handlers: running storage work off the event loop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from socle.fhir.crud import Result
from socle.fhir.datetime import format_instant
from socle.fhir.errors import FhirError, operation_outcome
from socle.fhir.resource_ids import parse_etag
from socle.fhir.rest.http import context, fhir_response, http_date, prefer
from socle.fhir.storage.store import StoreSession, WriteConflict

T = TypeVar("T")
RETRIES = 3


async def in_session(
    request: Request, work: Callable[[StoreSession], T], *, write: bool = False
) -> T:
    """Run `work` in a storage session on a worker thread; retry write conflicts."""
    engine = request.app.state.engine
    ctx = context(request)

    def run() -> T:
        for attempt in range(RETRIES):
            try:
                with engine.store.session(ctx.tenant, write=write) as session:
                    return work(session)
            except WriteConflict as exc:
                if attempt == RETRIES - 1:
                    raise FhirError(
                        409, "conflict", "Concurrent modification, please retry"
                    ) from exc
        raise AssertionError("unreachable")

    return await run_in_threadpool(run)


def if_match(request: Request) -> int | None:
    raw = request.headers.get("if-match")
    if raw is None:
        return None
    version = parse_etag(raw)
    if version is None:
        raise FhirError(400, "invalid", f"Invalid If-Match header {raw!r}")
    return version


def version_headers(request: Request, result: Result, *, location: bool) -> dict[str, str]:
    headers = {"ETag": result.etag, "Last-Modified": http_date(result.last_updated)}
    if location:
        ctx = context(request)
        headers["Location"] = f"{ctx.base_url}/{result.location}"
        headers["Content-Location"] = headers["Location"]
    return headers


def write_response(request: Request, result: Result) -> Response:
    """Answer a write according to `Prefer: return=…` (default: the representation)."""
    headers = version_headers(request, result, location=True)
    wanted = prefer(request).get("return", "representation")
    if wanted == "minimal":
        return fhir_response(request, None, result.status, headers)
    if wanted == "OperationOutcome":
        return fhir_response(request, operation_outcome(result.warnings), result.status, headers)
    return fhir_response(request, result.resource, result.status, headers)


def last_modified(result: Result) -> str:
    return format_instant(result.last_updated)


__all__ = ["Any", "in_session", "if_match", "version_headers", "write_response"]
