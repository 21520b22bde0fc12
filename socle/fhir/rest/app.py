"""The ASGI application: FHIR routes, error mapping, and the services' extra routes."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from socle.config import Settings, load_settings
from socle.fhir.engine import FhirEngine
from socle.fhir.errors import FhirError, Issue, operation_outcome
from socle.fhir.guard import Access
from socle.fhir.rest.http import FHIR_JSON, check_accept, context
from socle.fhir.rest.interactions import (
    capabilities,
    create,
    delete,
    history,
    operation,
    patch,
    read,
    search,
    transaction,
    update,
    vread,
)

log = logging.getLogger("socle.http")
Endpoint = Callable[[Request], Awaitable[Response]]

_HTTP_CODES = {404: "not-found", 405: "not-supported", 406: "not-supported", 415: "not-supported"}


def fhir_routes(prefix: str = "/fhir") -> list[Route]:
    """Every FHIR interaction, most specific paths first ($operations before ids)."""
    p = prefix
    routes = [
        Route(f"{p}/metadata", capabilities.capabilities, methods=["GET"]),
        Route(f"{p}", search.search_system, methods=["GET"]),
        Route(f"{p}", transaction.transaction, methods=["POST"]),
        Route(f"{p}/", transaction.transaction, methods=["POST"]),
        Route(f"{p}/_history", history.history, methods=["GET"]),
        Route(f"{p}/_search", search.search_post, methods=["POST"]),
        Route(p + "/${op}", operation.operation, methods=["GET", "POST"]),
        Route(p + "/{type}/${op}", operation.operation, methods=["GET", "POST"]),
        Route(f"{p}/{{type}}/_history", history.history, methods=["GET"]),
        Route(f"{p}/{{type}}/_search", search.search_post, methods=["POST"]),
        Route(f"{p}/{{type}}", search.search_type, methods=["GET"]),
        Route(f"{p}/{{type}}", create.create, methods=["POST"]),
        Route(f"{p}/{{type}}", update.conditional_update, methods=["PUT"]),
        Route(f"{p}/{{type}}", delete.conditional_delete, methods=["DELETE"]),
        Route(p + "/{type}/{id}/${op}", operation.operation, methods=["GET", "POST"]),
        Route(f"{p}/{{type}}/{{id}}/_history", history.history, methods=["GET"]),
        Route(f"{p}/{{type}}/{{id}}/_history/{{vid}}", vread.vread, methods=["GET"]),
        Route(f"{p}/{{type}}/{{id}}", read.read, methods=["GET"]),
        Route(f"{p}/{{type}}/{{id}}", update.update, methods=["PUT"]),
        Route(f"{p}/{{type}}/{{id}}", patch.patch, methods=["PATCH"]),
        Route(f"{p}/{{type}}/{{id}}", delete.delete, methods=["DELETE"]),
        Route(
            f"{p}/{{comp_type}}/{{comp_id}}/{{type}}", search.search_compartment, methods=["GET"]
        ),
    ]
    return [Route(r.path, _guarded(r.endpoint), methods=r.methods) for r in routes]


def outcome_response(status: int, outcome: dict[str, Any], headers=None) -> Response:
    return JSONResponse(outcome, status_code=status, headers=headers, media_type=FHIR_JSON)


async def _fhir_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FhirError)
    return outcome_response(exc.status, exc.outcome(), exc.headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "processing")
    text = exc.detail if exc.status_code != 404 else f"No route for {request.url.path}"
    if exc.status_code == 405:
        text = f"{request.method} is not allowed on {request.url.path}"
    outcome = operation_outcome([Issue("error", code, str(text))])
    return outcome_response(exc.status_code, outcome, exc.headers)


async def _unexpected(request: Request, exc: Exception) -> Response:
    """Never a traceback to the client: log it, answer an OperationOutcome."""
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    outcome = operation_outcome([Issue("fatal", "exception", "Internal server error")])
    return outcome_response(500, outcome)


# Security (socle/security): the audit action of each interaction (None: not audited).
_AUDITED = {
    "read": "read",
    "vread": "vread",
    "search_system": "search",
    "search_type": "search",
    "search_post": "search",
    "search_compartment": "search",
    "create": "create",
    "update": "update",
    "conditional_update": "update",
    "patch": "patch",
    "delete": "delete",
    "conditional_delete": "delete",
    "history": "history",
    "operation": "operation",
    "transaction": "transaction",
}


def _guarded(endpoint: Endpoint) -> Endpoint:
    """Refuse unsupported response formats (406) before any work is done; then, when the
    guard keeps an audit trail (socle/security), record every interaction with its outcome:
    an access whose audit cannot be written fails."""
    action = _AUDITED.get(endpoint.__name__)

    @functools.wraps(endpoint)
    async def wrapper(request: Request) -> Response:
        check_accept(request)
        guard = request.app.state.engine.guard
        if action is None or not getattr(guard, "audits", False):
            return await endpoint(request)
        try:
            response = await endpoint(request)
        except FhirError as exc:
            await _record(request, guard, action, exc.status)
            raise
        except Exception:
            await _record(request, guard, action, 500)
            raise
        await _record(request, guard, action, response.status_code)
        return response

    return wrapper


async def _record(request: Request, guard: Any, action: str, status: int) -> None:
    p = request.path_params
    access = Access(action, p.get("type"), p.get("id"), operation=p.get("op"))
    try:
        await run_in_threadpool(guard.record, context(request), access, status)
    except Exception as exc:  # the trail is down: the access must fail
        log.exception("audit record failed")
        raise FhirError(
            500, "exception", "The access could not be audited (or was not guarded); refused"
        ) from exc


def create_app(
    settings: Settings | None = None,
    engine: FhirEngine | None = None,
    tenant: str | None = None,
    auth: str | None = None,
) -> Starlette:
    """Build the application; `engine` may be given (tests), else one is created.

    `tenant` pins the partition this app serves (default: SOCLE_TENANT). `auth` is the
    authentication mode (default: SOCLE_AUTH, else "none").
    """
    settings = settings or load_settings()
    engine = engine or FhirEngine(settings)
    if not engine.plugins:
        engine.load_plugins()
    app_tenant = tenant or engine.settings.tenant
    # Security (socle/security): with auth "oidc", authentication, the policy engine,
    # consent and audit are installed on the engine; "none" keeps the open guard.
    security = None
    if (auth or os.environ.get("SOCLE_AUTH") or "none") == "oidc":
        from socle.security import install

        security = install(engine)
    extra = security.routes(app_tenant) if security is not None else []
    routes: list[Any] = [*extra, *engine.routes, *fhir_routes()]
    app = Starlette(
        routes=routes,
        exception_handlers={
            FhirError: _fhir_error,
            HTTPException: _http_error,
            Exception: _unexpected,
        },
    )
    app.state.engine = engine
    app.state.tenant = app_tenant
    if security is not None:  # Security: bearer tokens on every non-public path
        from socle.security.service import AuthMiddleware

        app.add_middleware(AuthMiddleware, security=security)
    return app


def app_factory() -> Starlette:
    """Entry point for uvicorn workers (`--factory`): settings come from SOCLE_* variables."""
    return create_app()
