"""The whole platform as one ASGI app: the FHIR API plus operational endpoints."""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from socle.config import Settings, load_settings
from socle.fhir.engine import FhirEngine
from socle.fhir.rest.app import create_app
from socle.observability import MetricsMiddleware, configure_logging, metrics_endpoint


async def _home(_request) -> Response:  # noqa: ANN001
    return RedirectResponse("/fhir/metadata")


async def _health(request) -> Response:  # noqa: ANN001
    return JSONResponse({"status": "ok", "plugins": request.app.state.engine.plugins})


def create_server(
    settings: Settings | None = None,
    engine: FhirEngine | None = None,
    tenant: str | None = None,
    auth: str | None = None,  # Security: "oidc" or "none" (default: SOCLE_AUTH, else none)
) -> Starlette:
    """FHIR routes plus `/` and `/healthz`; services add their own routes through the engine."""
    app = create_app(settings, engine, tenant=tenant, auth=auth)
    app.router.routes[0:0] = [
        Route("/", _home),
        Route("/healthz", _health),
        Route("/metrics", metrics_endpoint),
    ]
    app.add_middleware(MetricsMiddleware)
    return app


def app_factory() -> Starlette:
    """uvicorn `--factory` entry point for each worker process.

    Secure by default: without SOCLE_AUTH (set by `socle serve`), tokens are required.
    """
    settings = load_settings()
    configure_logging(settings.log_level)
    return create_server(settings, auth=os.environ.get("SOCLE_AUTH", "oidc"))
