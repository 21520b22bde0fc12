"""`_summary` and `_elements`: return a subset of a resource, marked SUBSETTED."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from socle.fhir.errors import bad_request

SUBSETTED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "SUBSETTED",
}
_ALWAYS = ("resourceType", "id", "meta")
SUMMARY_VALUES = {"true", "false", "text", "data", "count"}


def shape(resource: dict[str, Any], params: Mapping[str, str], model: Any) -> dict[str, Any]:
    """Apply `_summary`/`_elements` from the query to one resource (Bundles: their entries)."""
    summary = params.get("_summary")
    elements = params.get("_elements")
    if summary is None and elements is None:
        return resource
    if summary is not None and summary not in SUMMARY_VALUES:
        raise bad_request(f"_summary must be one of {sorted(SUMMARY_VALUES)}", "_summary")
    if resource.get("resourceType") == "Bundle" and resource.get("type") in (
        "searchset",
        "history",
    ):
        return resource  # the search/history interactions shape their entries themselves
    return subset(resource, summary, elements, model)


def subset(
    resource: dict[str, Any], summary: str | None, elements: str | None, model: Any
) -> dict[str, Any]:
    """The subset itself; `model` tells summary and mandatory elements per type."""
    res_type = resource.get("resourceType", "")
    if summary in (None, "false", "count") and not elements:
        return resource
    if summary == "data":
        out = {k: v for k, v in resource.items() if k != "text"}
    elif summary == "text":
        keep = {"text", *_ALWAYS, *model.mandatory_elements(res_type)}
        out = {k: v for k, v in resource.items() if k in keep}
    elif summary == "true":
        keep = {*_ALWAYS, *model.summary_elements(res_type)}
        out = {k: v for k, v in resource.items() if k in keep}
    else:
        wanted = {e.strip().split(".")[-1] if "." in e else e.strip() for e in elements.split(",")}
        keep = {*_ALWAYS, *model.mandatory_elements(res_type), *wanted}
        out = {k: v for k, v in resource.items() if _base_name(k) in keep}
    return _mark_subsetted(out)


def _base_name(key: str) -> str:
    """Primitive extensions (`_birthDate`) travel with their element."""
    return key[1:] if key.startswith("_") else key


def _mark_subsetted(resource: dict[str, Any]) -> dict[str, Any]:
    meta = dict(resource.get("meta") or {})
    tags = [t for t in meta.get("tag", []) if t.get("code") != "SUBSETTED"]
    meta["tag"] = [*tags, SUBSETTED]
    return {**resource, "meta": meta}
