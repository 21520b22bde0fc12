"""Safe JSON in and out: size and nesting limits before anything is trusted."""

from __future__ import annotations

import re
from itertools import accumulate
from typing import Any

import orjson

from socle.fhir.errors import FhirError

_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"{}[]")
_STEP = {ord("{"): 1, ord("["): 1, ord("}"): -1, ord("]"): -1}


def _check_depth(raw: bytes, limit: int) -> None:
    """Refuse nesting deeper than `limit`, scanning brackets outside strings (no recursion)."""
    brackets = _STRINGS.sub(b"", raw).translate(None, _NOT_BRACKETS)
    if len(brackets) <= limit:
        return
    if max(accumulate(_STEP[b] for b in brackets), default=0) > limit:
        raise FhirError(400, "too-costly", f"JSON nesting deeper than {limit} levels")


def parse_json(raw: bytes, *, max_bytes: int, max_depth: int) -> Any:
    """Parse a request body, refusing oversize or over-deep documents before parsing."""
    if len(raw) > max_bytes:
        raise FhirError(413, "too-costly", f"Body of {len(raw)} bytes exceeds {max_bytes}")
    if not raw.strip():
        raise FhirError(400, "invalid", "Empty body")
    _check_depth(raw, max_depth)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise FhirError(400, "invalid", f"Malformed JSON: {exc}") from exc


def dumps(obj: Any, pretty: bool = False) -> bytes:
    """Serialise to JSON bytes."""
    return orjson.dumps(obj, option=orjson.OPT_INDENT_2 if pretty else 0)
