"""Parsing of Reference.reference strings and canonical URLs (shared with the search side)."""

from __future__ import annotations

import re
from typing import NamedTuple

_ID = r"[A-Za-z0-9\-.]{1,64}"
_RELATIVE = re.compile(rf"([A-Z][A-Za-z]+)/({_ID})(?:/_history/({_ID}))?")
_ABSOLUTE_TAIL = re.compile(rf"/([A-Z][A-Za-z]+)/({_ID})(?:/_history/({_ID}))?$")


class ParsedReference(NamedTuple):
    """A literal reference: relative ones have no url; absolute ones keep it (sans _history)."""

    type: str | None
    id: str | None
    version: str | None
    url: str | None


def parse_reference(reference: str, base_url: str | None = None) -> ParsedReference | None:
    """Split ``Patient/1``, ``Patient/1/_history/2``, ``http://x/fhir/Patient/1``, ``urn:uuid:…``.

    An absolute URL under `base_url` (this server) is read as relative. Returns None for
    contained (``#id``) and unusable references (conditional ``Patient?x=y``, empty).
    """
    if not reference or reference[0] == "#":
        return None
    if base_url:
        base = base_url.rstrip("/") + "/"
        if reference.startswith(base):
            reference = reference[len(base) :]
    m = _RELATIVE.fullmatch(reference)
    if m is not None:
        return ParsedReference(m[1], m[2], m[3], None)
    if reference.startswith("urn:"):
        return ParsedReference(None, None, None, reference)
    if "://" not in reference:
        return None
    m = _ABSOLUTE_TAIL.search(reference)
    if m is None:
        return ParsedReference(None, None, None, reference)
    url = reference[: m.start()] + f"/{m[1]}/{m[2]}"
    return ParsedReference(m[1], m[2], m[3], url)


def reference_type(node: object) -> str | None:
    """The target type of a Reference dict: from its literal reference, else ``type``.

    This is what ``resolve() is T`` can know without a database: ``urn:uuid`` and
    ``#contained`` references carry no type unless ``Reference.type`` is set.
    """
    if type(node) is not dict:
        return None
    ref = node.get("reference")
    if type(ref) is str:
        parsed = parse_reference(ref)
        if parsed is not None and parsed.type is not None:
            return parsed.type
    declared = node.get("type")
    if type(declared) is str and declared:
        return declared.rsplit("/", 1)[-1]
    return None


def split_canonical(value: str) -> tuple[str, str | None]:
    """``http://x/StructureDefinition/y|1.0`` -> (url, "1.0"); no ``|`` -> (url, None)."""
    url, sep, version = value.partition("|")
    return url, (version or None) if sep else None
