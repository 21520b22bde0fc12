"""capabilities: GET /metadata, a CapabilityStatement generated from what is implemented.

Everything listed comes from the live engine: the resource types of the model, the search
parameters of the registry (packages included), the registered operations and, as
`supportedProfile`, the resource profiles of the validator's conformance context. Services add
their own parts (security, SMART) through ``engine.capability_contributors``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

import socle
from socle.fhir.operations.registry import INSTANCE, SYSTEM, TYPE
from socle.fhir.rest.http import context, fhir_response
from socle.fhir.search.parameters import LIST, NOT_SUPPORTED

TYPE_INTERACTIONS = [
    "read",
    "vread",
    "update",
    "patch",
    "delete",
    "history-instance",
    "history-type",
    "create",
    "search-type",
]
SYSTEM_INTERACTIONS = ["transaction", "batch", "search-system", "history-system"]


async def capabilities(request: Request) -> Response:
    engine = request.app.state.engine
    mode = request.query_params.get("mode", "full")
    statement = capability_statement(engine, context(request).base_url)
    if mode == "terminology":
        return fhir_response(
            request,
            {
                "resourceType": "TerminologyCapabilities",
                "status": "active",
                "kind": "instance",
                "date": statement["date"],
            },
        )
    return fhir_response(request, statement)


def capability_statement(engine: Any, base_url: str) -> dict[str, Any]:
    profiles_key, profiles = _supported_profiles(engine)
    key = (
        base_url,
        engine.registry.fingerprint(),
        len(engine.operations.all()),
        len(engine.capability_contributors),
        profiles_key,
    )
    cached = getattr(engine, "_capability_cache", None)
    if cached and cached[0] == key:
        return cached[1]
    statement = _build(engine, base_url, profiles)
    for contribute in engine.capability_contributors:
        contribute(statement, base_url)
    engine._capability_cache = (key, statement)
    return statement


def _supported_profiles(engine: Any) -> tuple[Any, dict[str, list[str]]]:
    """The profiles the validator uses, by resource type: computed once per conformance
    context by the validation service (not per request); the key changes when the context
    is read again (after `socle packages install/remove`)."""
    validation = getattr(engine, "validation", None)
    if validation is None:
        return None, {}
    return validation.supported_profiles()


def _build(engine: Any, base_url: str, profiles: dict[str, list[str]]) -> dict[str, Any]:
    ops = engine.operations.all()
    lists = "item" in engine.registry.for_type("List")  # `_list` reads List.item rows
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "publisher": "Socle",
        "kind": "instance",
        "software": {"name": "Socle", "version": socle.__version__},
        "implementation": {"description": "Socle FHIR server", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["json", "application/fhir+json"],
        "patchFormat": ["application/json-patch+json"],
        "rest": [
            {
                "mode": "server",
                "resource": [
                    _resource(engine, t, ops, profiles.get(t), lists)
                    for t in sorted(engine.model.resource_types)
                ],
                "interaction": [{"code": code} for code in SYSTEM_INTERACTIONS],
                "operation": _operations(ops, SYSTEM, None),
            }
        ],
    }


def _resource(
    engine: Any, res_type: str, ops: list, profiles: list[str] | None, lists: bool
) -> dict[str, Any]:
    params = engine.registry.for_type(res_type)
    entry: dict[str, Any] = {
        "type": res_type,
        "profile": f"http://hl7.org/fhir/StructureDefinition/{res_type}",
    }
    if profiles:
        entry["supportedProfile"] = list(profiles)
    entry |= {
        "interaction": [{"code": code} for code in TYPE_INTERACTIONS],
        "versioning": "versioned-update",
        "readHistory": True,
        "updateCreate": True,
        "conditionalCreate": True,
        "conditionalRead": "not-supported",
        "conditionalUpdate": True,
        "conditionalDelete": "multiple",
        "searchInclude": sorted(
            f"{res_type}:{c}" for c, p in params.items() if p.type == "reference"
        ),
        "searchParam": _search_params(params, lists),
    }
    operations = _operations(ops, TYPE, res_type) + _operations(ops, INSTANCE, res_type)
    if operations:
        entry["operation"] = _dedupe(operations)
    return entry


def _search_params(params: dict[str, Any], lists: bool) -> list[dict[str, str]]:
    """What search really accepts: the registry's parameters minus those the engine refuses
    with 400 not-supported (`_text`, `_content`…), plus `_list`, which has no definition."""
    out = [
        {"name": code, "definition": p.url, "type": p.type}
        for code, p in sorted(params.items())
        if p.url and code not in NOT_SUPPORTED
    ]
    if lists:
        out.append({"name": LIST, "type": "special"})
    return out


def _operations(ops: list, level: str, res_type: str | None) -> list[dict[str, str]]:
    out = []
    for op in ops:
        if op.applies(level, res_type):
            item = {
                "name": op.name,
                "definition": op.definition_url or f"urn:socle:operation:{op.name}",
            }
            out.append(item)
    return out


def _dedupe(items: list[dict[str, str]]) -> list[dict[str, str]]:
    seen, out = set(), []
    for item in items:
        if item["name"] not in seen:
            seen.add(item["name"])
            out.append(item)
    return out
