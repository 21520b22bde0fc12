"""Helpers shared by the generator tests: walk references and identifiers of bundles."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def references(node: Any) -> Iterator[str]:
    """Every Reference.reference string anywhere under `node`."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                yield value
            else:
                yield from references(value)
    elif isinstance(node, list):
        for item in node:
            yield from references(item)


def unresolved(bundle: dict[str, Any], known: frozenset[str] = frozenset()) -> list[str]:
    """References that point neither at an entry of the bundle nor at `known` ids."""
    full_urls = {e["fullUrl"] for e in bundle["entry"] if "fullUrl" in e}
    return [r for r in references(bundle) if r not in full_urls and r not in known]


def identifier_keys(resource: dict[str, Any]) -> list[tuple[str, str]]:
    """(system, value) of the resource's identifiers."""
    return [(i["system"], i["value"]) for i in resource.get("identifier", [])]


def resources(bundle: dict[str, Any], rtype: str | None = None) -> list[dict[str, Any]]:
    """Resources of the bundle, optionally of one type."""
    out = [e["resource"] for e in bundle["entry"]]
    return [r for r in out if rtype is None or r["resourceType"] == rtype]
