"""Which patient a resource belongs to, from the R4 Patient CompartmentDefinition.

For each resource type, the compartment's search parameters (e.g. Observation: subject,
performer) are turned once into plain element paths (`subject`, `performer`), so finding
the patients of a resource is a dictionary walk, not a FHIRPath evaluation.
"""

from __future__ import annotations

import gzip
import re
from functools import cache
from importlib import resources
from typing import Any

import orjson

from socle.security.information import patient_of_reference

_WHERE = re.compile(r"\.where\([^)]*\)")


@cache
def _definition() -> dict[str, list[str]]:
    raw = resources.files("socle.data").joinpath("fhir-r4/compartmentdefinition-patient.json.gz")
    data = orjson.loads(gzip.decompress(raw.read_bytes()))
    return {r["code"]: list(r.get("param") or []) for r in data.get("resource", [])}


class Compartments:
    """Patient-compartment paths per resource type, derived from the search registry."""

    def __init__(self, registry: Any) -> None:
        self.registry = registry
        self._paths: dict[str, tuple[tuple[str, ...], ...]] = {}
        self._param: dict[str, str | None] = {}

    def in_compartment(self, res_type: str) -> bool:
        return res_type == "Patient" or bool(_definition().get(res_type))

    def search_param(self, res_type: str) -> str | None:
        """The parameter confining a search to one patient (`patient`, `subject`, `_id`)."""
        if res_type not in self._param:
            if res_type == "Patient":
                value: str | None = "_id"
            else:
                params = self.registry.for_type(res_type)
                names = _definition().get(res_type) or []
                value = (
                    "patient" if "patient" in params and names else (names[0] if names else None)
                )
            self._param[res_type] = value
        return self._param[res_type]

    def paths(self, res_type: str) -> tuple[tuple[str, ...], ...]:
        found = self._paths.get(res_type)
        if found is None:
            params = self.registry.for_type(res_type)
            out: list[tuple[str, ...]] = []
            for name in _definition().get(res_type) or []:
                param = params.get(name)
                if param is None or not param.expression:
                    continue
                for branch in param.expression.split("|"):
                    branch = _WHERE.sub("", branch.strip())
                    if branch.startswith("(") or " " in branch:
                        continue
                    parts = branch.split(".")
                    if parts[0] == res_type and len(parts) > 1:
                        out.append(tuple(parts[1:]))
            found = tuple(dict.fromkeys(out))
            self._paths[res_type] = found
        return found

    def patients(self, resource: dict[str, Any]) -> set[str]:
        """Ids of the patients whose compartment holds `resource`."""
        res_type = resource.get("resourceType")
        if res_type == "Patient":
            return {resource["id"]} if resource.get("id") else set()
        out: set[str] = set()
        for path in self.paths(res_type or ""):
            for value in _walk(resource, path):
                pid = patient_of_reference(value)
                if pid:
                    out.add(pid)
        return out


def _walk(node: Any, path: tuple[str, ...]) -> list[Any]:
    current = [node]
    for step in path:
        nxt: list[Any] = []
        for item in current:
            if isinstance(item, dict):
                value = item.get(step)
                if isinstance(value, list):
                    nxt.extend(value)
                elif value is not None:
                    nxt.append(value)
        current = nxt
    return current
