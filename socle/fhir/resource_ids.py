"""Resource ids, references and version tags: small parsing helpers shared by the kernel."""

from __future__ import annotations

import re
import uuid

ID_RE = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
TYPE_RE = re.compile(r"^[A-Z][A-Za-z]{1,63}$")
_ETAG_RE = re.compile(r'^(?:W/)?"?([0-9]+)"?$')


def new_id() -> str:
    """A server-assigned logical id."""
    return str(uuid.uuid4())


def valid_id(value: object) -> bool:
    return isinstance(value, str) and bool(ID_RE.match(value))


def etag(version: int) -> str:
    return f'W/"{version}"'


def parse_etag(value: str) -> int | None:
    """`W/"3"` (or `"3"`, or `3`) -> 3; anything else -> None."""
    match = _ETAG_RE.match(value.strip())
    return int(match.group(1)) if match else None


def split_local_reference(ref: str) -> tuple[str, str, int | None] | None:
    """`Patient/1` or `Patient/1/_history/2` -> (type, id, version); else None."""
    parts = ref.split("/")
    if len(parts) == 2 and TYPE_RE.match(parts[0]) and ID_RE.match(parts[1]):
        return parts[0], parts[1], None
    if (
        len(parts) == 4
        and parts[2] == "_history"
        and TYPE_RE.match(parts[0])
        and ID_RE.match(parts[1])
        and parts[3].isdigit()
    ):
        return parts[0], parts[1], int(parts[3])
    return None
