"""The ASGI application: FHIR routes, error mapping, and the services' extra routes."""

from __future__ import annotations

import functools
import inspect
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from socle.config import Settings, load_settings
from socle.fhir.engine import FhirEngine
from socle.fhir.errors import FhirError, Issue, operation_outcome
from socle.fhir.guard import REQUEST_ACCESS, Access, AuditFailed, current_request, guard_flag
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


def _guarded(
    endpoint: Endpoint, action: str | None = None, *, fhir: bool = True, name: str | None = None
) -> Endpoint:
    """Refuse unsupported response formats (406) before any work is done (FHIR routes);
    then, when the guard keeps an audit trail (socle/security), make the request known to
    the layers below (`current_request`) and record it with its outcome. An access whose
    audit cannot be written fails; a write's audit commits with the write itself.

    Plugin routes (`fhir=False`) are also authorized first, as the operation `name`.
    The innermost guarded endpoint of a request records it (a plugin route may hand over
    to a FHIR interaction)."""
    action = action or _AUDITED.get(endpoint.__name__)

    @functools.wraps(endpoint)
    async def wrapper(request: Request) -> Response:
        if fhir:
            check_accept(request)
        guard = request.app.state.engine.guard
        if action is None or not guard_flag(guard, "audits"):
            return await endpoint(request)
        p = request.path_params
        ctx = context(request)
        access = Access(action, p.get("type"), p.get("id"), operation=p.get("op") or name)
        ctx.extras[REQUEST_ACCESS] = access
        token = current_request.set(ctx)
        response: Response | None = None
        error: Exception | None = None
        try:
            if not fhir:
                await run_in_threadpool(guard.authorize, ctx, access)
            response = await endpoint(request)
        except Exception as exc:  # noqa: BLE001 - recorded, then raised again
            error = exc
        finally:
            current_request.reset(token)
        if not ctx.extras.get(_RECORDED):  # else an inner guarded endpoint recorded it
            status = response.status_code if response is not None else _status_of(error)
            await _record(ctx, guard, access, status, error)
            ctx.extras[_RECORDED] = True
        if error is not None:
            raise error
        assert response is not None
        return response

    wrapper.fhir_guarded = True  # type: ignore[attr-defined]
    return wrapper


_RECORDED = "fhir.recorded"


def _status_of(error: Exception | None) -> int:
    return error.status if isinstance(error, FhirError) else 500


async def _record(
    ctx: Any, guard: Any, access: Access, status: int, error: Exception | None
) -> None:
    """Audit the request; if the trail is down, the request fails (503) whatever it did."""
    try:
        await run_in_threadpool(guard.record, ctx, access, status)
    except FhirError:
        raise
    except Exception as exc:
        log.exception("audit record failed")
        if isinstance(error, AuditFailed):
            return  # already the answer the client gets
        raise AuditFailed() from exc


def guarded_plugin_routes(routes: list[Any]) -> list[Any]:
    """Services' routes, authenticated (middleware), authorized and audited like FHIR
    ones: each becomes the operation named by its path (policy `operations`), unless it
    is already guarded (it hands over to a FHIR interaction)."""
    out = []
    for route in routes:
        endpoint = getattr(route, "endpoint", None)
        if not isinstance(route, Route) or getattr(endpoint, "fhir_guarded", False):
            out.append(route)
            continue
        if not (inspect.isfunction(endpoint) or inspect.ismethod(endpoint)):
            log.warning("route %s is not a request function: not audited", route.path)
            out.append(route)
            continue
        name = route.path.strip("/") or "/"
        wrapped = _guarded(route.endpoint, "operation", fhir=False, name=name)
        out.append(Route(route.path, wrapped, methods=route.methods, name=route.name))
    return out


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
    plugin_routes = guarded_plugin_routes(engine.routes)
    routes: list[Any] = [*extra, *plugin_routes, *fhir_routes()]
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
        if security.config.cors_origins:  # outermost: preflights need no token
            app.add_middleware(
                CORSMiddleware,
                allow_origins=list(security.config.cors_origins),
                allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                allow_headers=["Authorization", "Content-Type", "Accept", "If-Match", "Prefer"],
                expose_headers=["Location", "Content-Location", "ETag", "Last-Modified"],
            )
    return app


def app_factory() -> Starlette:
    """Entry point for uvicorn workers (`--factory`): settings come from SOCLE_* variables."""
    return create_app()
