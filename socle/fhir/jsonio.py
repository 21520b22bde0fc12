"""Safe JSON in and out: size and nesting limits before anything is trusted."""

from __future__ import annotations

from typing import Any

import orjson

from socle.fhir.errors import FhirError


def _check_depth(value: Any, limit: int) -> None:
    """Refuse nesting deeper than `limit`, walking iteratively (no recursion, linear time).

    orjson itself refuses documents nested deeper than 1024 levels, so the parse is safe;
    this applies the server's own, lower limit.
    """
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            raise FhirError(400, "too-costly", f"JSON nesting deeper than {limit} levels")
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node if isinstance(v, dict | list))


def parse_json(raw: bytes, *, max_bytes: int, max_depth: int) -> Any:
    """Parse a request body, refusing oversize documents before parsing, deep ones after."""
    if len(raw) > max_bytes:
        raise FhirError(413, "too-costly", f"Body of {len(raw)} bytes exceeds {max_bytes}")
    if not raw.strip():
        raise FhirError(400, "invalid", "Empty body")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if "depth" in str(exc).lower() or "recursion" in str(exc).lower():
            raise FhirError(400, "too-costly", "JSON nesting too deep") from exc
        raise FhirError(400, "invalid", f"Malformed JSON: {exc}") from exc
    _check_depth(value, max_depth)
    return value


def dumps(obj: Any, pretty: bool = False) -> bytes:
    """Serialise to JSON bytes."""
    return orjson.dumps(obj, option=orjson.OPT_INDENT_2 if pretty else 0)
