"""Package definitions served by the API (entry point `socle.plugins: conformance`).

The conformance resources of the active packages are written into the server's tenant
(`socle.fhir.packages.seed`) the first time a conformance type is read there
(`GET /fhir/StructureDefinition?url=…`, `GET /fhir/ValueSet/{id}`…), then served like
any resource. Doing it on first access rather than at start-up keeps `socle demo
--if-empty` meaningful and costs nothing to processes that never read definitions.
`socle packages seed` does the same ahead of time; `SOCLE_SEED_PACKAGES=0` turns the
automatic seeding off. Other tenants are only seeded on request (`socle packages seed
--tenant`), so that a tenant holds only what was put there.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from socle.fhir.packages.npm import CONFORMANCE_TYPES

if TYPE_CHECKING:
    from socle.fhir.engine import FhirEngine

log = logging.getLogger(__name__)

ENV_VAR = "SOCLE_SEED_PACKAGES"


class _FhirIdConvertor(Convertor[str]):
    """A FHIR resource id (so `_history`, `_search` and `$op` keep their own routes)."""

    regex = r"[A-Za-z0-9\-\.]{1,64}"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("fhirid", _FhirIdConvertor())


class Seeder:
    """Seeds a tenant once per process (thread-safe)."""

    def __init__(self) -> None:
        self._done: set[tuple[int, str]] = set()
        self._lock = threading.Lock()

    def ensure(self, engine: FhirEngine, tenant: str) -> None:
        key = (id(engine), tenant)
        if key in self._done:
            return
        with self._lock:
            if key in self._done:
                return
            from socle.fhir.packages.seed import seed_packages

            try:
                report = seed_packages(engine, tenant)
            except Exception:  # noqa: BLE001 - serving must go on without definitions
                log.exception("seeding package definitions into tenant %s failed", tenant)
            else:
                if report.written:
                    log.info("package definitions seeded into %s: %s", tenant, report.written)
            self._done.add(key)

    def forget(self) -> None:
        with self._lock:
            self._done.clear()


seeder = Seeder()


def _enabled() -> bool:
    return os.environ.get(ENV_VAR, "1").strip().lower() not in ("0", "false", "no", "off")


def conformance_routes(engine: FhirEngine, prefix: str = "/fhir") -> list[Route]:
    """Search and read routes of the conformance types that seed the tenant first.

    They hand over to the kernel's own (guarded and audited) search and read endpoints.
    """
    from socle.fhir.rest.app import fhir_routes
    from socle.fhir.rest.http import context

    kernel: dict[str, Callable[[Request], Awaitable[Response]]] = {}
    for route in fhir_routes(prefix):
        if "GET" in (route.methods or ()):
            if route.path == f"{prefix}/{{type}}":
                kernel["search"] = route.endpoint
            elif route.path == f"{prefix}/{{type}}/{{id}}":
                kernel["read"] = route.endpoint

    def wrap(
        res_type: str, endpoint: Callable[[Request], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(endpoint)  # keeps the kernel's mark: already guarded and audited
        async def handler(request: Request) -> Response:
            request.scope["path_params"] = {**request.path_params, "type": res_type}
            tenant = context(request).tenant
            if _enabled() and tenant == engine.settings.tenant:
                await run_in_threadpool(seeder.ensure, engine, tenant)
            return await endpoint(request)

        return handler

    routes = []
    for res_type in sorted(CONFORMANCE_TYPES):
        routes.append(
            Route(f"{prefix}/{res_type}", wrap(res_type, kernel["search"]), methods=["GET"])
        )
        routes.append(
            Route(
                f"{prefix}/{res_type}/{{id:fhirid}}",
                wrap(res_type, kernel["read"]),
                methods=["GET"],
            )
        )
    return routes


class ConformancePlugin:
    """Adds the seeding routes; validation itself is wired by the engine."""

    name = "conformance"

    def register(self, engine: FhirEngine) -> None:
        engine.routes.extend(conformance_routes(engine))


plugin = ConformancePlugin()
