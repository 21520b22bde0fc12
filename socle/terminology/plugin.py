"""The terminology service as a Socle plugin (entry point `socle.plugins: terminology`)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from socle.terminology.catalog import TYPES
from socle.terminology.iti48 import routes
from socle.terminology.operations import register_operations
from socle.terminology.service import DEFAULT_MAX_EXPANSION, Terminology

if TYPE_CHECKING:
    from socle.fhir.context import RequestContext
    from socle.fhir.engine import FhirEngine


def service_for(engine: FhirEngine) -> Terminology:
    """The engine's terminology service (created on first use, also without the plugin)."""
    svc = getattr(engine, "terminology", None)
    if svc is None:
        svc = Terminology(
            engine.store,
            data_dir=engine.settings.data_dir,
            default_tenant=engine.settings.tenant,
            max_expansion=int(
                os.environ.get("SOCLE_TERMINOLOGY_MAX_EXPANSION", DEFAULT_MAX_EXPANSION)
            ),
            refresh_seconds=float(os.environ.get("SOCLE_TERMINOLOGY_REFRESH_SECONDS", "0.5")),
        )
        engine.terminology = svc  # type: ignore[attr-defined]
    return svc


class TerminologyPlugin:
    """Registers the operations, the ITI-48 route and `engine.terminology`."""

    name = "terminology"

    def register(self, engine: FhirEngine) -> None:
        svc = service_for(engine)
        register_operations(engine)
        engine.routes.extend(routes())
        validation = getattr(engine, "validation", None)
        if validation is not None:  # bindings are checked against the SMT (NOS, JDV…)
            from socle.terminology.validator import ValidatorTerminology

            validation.set_terminology(ValidatorTerminology(svc))

        def on_write(_s: Any, ctx: RequestContext, resource: dict[str, Any], _new: bool) -> None:
            if resource.get("resourceType") in TYPES:
                svc.changed(ctx.tenant)

        def on_delete(ctx: RequestContext, res_type: str, _res_id: str) -> None:
            if res_type in TYPES:
                svc.changed(ctx.tenant)

        engine.hooks.write.append(on_write)
        engine.hooks.delete.append(on_delete)


plugin = TerminologyPlugin()
