"""Build the Bundles the server returns: searchset, history, and response entries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import orjson

from socle.fhir.datetime import format_instant
from socle.fhir.resource_ids import etag
from socle.fhir.storage.store import StoredVersion


def full_url(base: str, res_type: str, res_id: str) -> str:
    return f"{base.rstrip('/')}/{res_type}/{res_id}"


def link(relation: str, url: str) -> dict[str, str]:
    return {"relation": relation, "url": url}


def page_url(base: str, path: str, params: list[tuple[str, str]]) -> str:
    query = urlencode(params)
    return f"{base.rstrip('/')}/{path}" + (f"?{query}" if query else "")


def history_bundle(
    base: str,
    versions: list[StoredVersion],
    links: list[dict[str, str]],
    total: int | None,
    present: Callable[[StoredVersion], Any] | None = None,
) -> dict[str, Any]:
    """A `history` Bundle; tombstones appear as DELETE entries without a resource.

    `present` may return a reshaped resource for a version (None: serve it as stored).
    """
    entries = []
    for v in versions:
        entry: dict[str, Any] = {"fullUrl": full_url(base, v.res_type, v.res_id)}
        if v.content is not None:
            shown = present(v) if present else None
            entry["resource"] = shown if shown is not None else _raw(v.content)
        method = "DELETE" if v.content is None else v.method
        url = v.res_type if method == "POST" else f"{v.res_type}/{v.res_id}"
        entry["request"] = {"method": method, "url": url}
        created = v.version == 1 or method == "POST"
        entry["response"] = {
            "status": "410 Gone" if v.content is None else ("201 Created" if created else "200 OK"),
            "etag": etag(v.version),
            "lastModified": format_instant(v.last_updated),
        }
        entries.append(entry)
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "history"}
    if total is not None:
        bundle["total"] = total
    bundle["link"] = links
    bundle["entry"] = entries
    return bundle


def _raw(content: bytes) -> Any:
    """Stored JSON spliced into the response as is: no parse, no re-serialisation."""
    return orjson.Fragment(content)
