"""Turn the vendored R4 StructureDefinition snapshots into a compact, JSON-serialisable table.

The raw snapshots are ~30 MB of JSON once parsed; the server only needs a few fields per
element. This module extracts them once (the result is cached on disk by `cache.py`) so
that worker start-up does not pay for parsing and walking the full definitions.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterable, Iterator
from importlib import resources
from typing import Any

import orjson

DATA_PACKAGE = "socle"  # socle/data has no __init__.py: resolve files from the top package
DATA_FILES = ("data/fhir-r4/profiles-types.json.gz", "data/fhir-r4/profiles-resources.json.gz")

FHIR_VERSION = "4.0.1"

PRIMITIVE_TYPES = frozenset(
    [
        "boolean",
        "integer",
        "string",
        "decimal",
        "uri",
        "url",
        "canonical",
        "base64Binary",
        "instant",
        "date",
        "dateTime",
        "time",
        "code",
        "oid",
        "id",
        "markdown",
        "unsignedInt",
        "positiveInt",
        "uuid",
        "xhtml",
    ]
)

# Snapshot element types use FHIRPath system types for `.value` and `.id`; the
# structuredefinition-fhir-type extension, when present, names the FHIR type.
_SYSTEM_PREFIX = "http://hl7.org/fhirpath/System."
_SYSTEM_TYPES = {
    "String": "string",
    "Boolean": "boolean",
    "Integer": "integer",
    "Decimal": "decimal",
    "Date": "date",
    "DateTime": "dateTime",
    "Time": "time",
}
_FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
_REGEX_EXT = "http://hl7.org/fhir/StructureDefinition/regex"
# Constraint profiles on datatypes that base resources reference through `type.profile`.
_DATATYPE_PROFILES = {
    "http://hl7.org/fhir/StructureDefinition/SimpleQuantity": "SimpleQuantity",
    "http://hl7.org/fhir/StructureDefinition/MoneyQuantity": "MoneyQuantity",
}
_BACKBONE_CODES = ("BackboneElement", "Element")

# Row layout of one element in the compact model (kept positional to stay small on disk).
ROW_FIELDS = (
    "name",
    "path",
    "min",
    "max",
    "types",
    "type_keys",
    "is_choice",
    "is_summary",
    "is_modifier",
    "is_array",
    "content_reference",
)


def read_data_files() -> list[bytes]:
    """Raw (gzipped) bytes of the vendored definition files, in a fixed order."""
    root = resources.files(DATA_PACKAGE)
    return [root.joinpath(name).read_bytes() for name in DATA_FILES]


def structure_definitions(raw_files: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    """Every StructureDefinition found in the given gzipped Bundles."""
    for raw in raw_files:
        bundle = orjson.loads(gzip.decompress(raw))
        for entry in bundle.get("entry", ()):
            res = entry.get("resource") or {}
            if res.get("resourceType") == "StructureDefinition":
                yield res


def build_compact(raw_files: Iterable[bytes]) -> dict[str, Any]:
    """Compact model: {"types": {key: {kind, abstract, elements: [row...]}}, "regexes": {...}}."""
    types: dict[str, Any] = {}
    regexes: dict[str, str] = {}
    for sd in structure_definitions(raw_files):
        kind = sd.get("kind")
        if kind not in ("resource", "complex-type", "primitive-type"):
            continue  # logical models (MetadataResource) are not instantiable
        if not str(sd.get("fhirVersion", FHIR_VERSION)).startswith("4.0."):
            continue  # the medplum bundle back-ports R4B's SubscriptionStatus: not R4
        key = sd["name"] if sd.get("derivation") == "constraint" else sd["type"]
        elements = sd["snapshot"]["element"]
        if kind == "primitive-type":
            regex = _primitive_regex(elements)
            if regex:
                regexes[key] = regex
        types.update(_tables_for(key, kind, bool(sd.get("abstract")), elements))
    return {"types": types, "regexes": regexes}


def _tables_for(
    key: str, kind: str, abstract: bool, elements: list[dict[str, Any]]
) -> dict[str, Any]:
    """One table for the type itself plus one per backbone element (keyed by its path)."""
    root = elements[0]["path"]  # "Quantity" for the SimpleQuantity profile

    def table_key(path: str) -> str:
        return key + path[len(root) :]

    by_path = {el["path"]: el for el in elements}
    parents = {el["path"].rpartition(".")[0] for el in elements[1:]}
    tables: dict[str, Any] = {key: {"kind": kind, "abstract": abstract, "elements": []}}
    for el in elements[1:]:
        path = el["path"]
        parent = path.rpartition(".")[0]
        if path in parents:
            tables[table_key(path)] = {"kind": "backbone", "abstract": False, "elements": []}
        row = _element_row(el, kind == "resource" and parent == root, by_path, parents, table_key)
        tables[table_key(parent)]["elements"].append(row)
    return tables


def _element_row(
    el: dict[str, Any],
    is_resource_root: bool,
    by_path: dict[str, dict[str, Any]],
    parents: set[str],
    table_key: Callable[[str], str],
) -> list[Any]:
    """Positional row (see ROW_FIELDS) for one ElementDefinition."""
    path: str = el["path"]
    name = path.rpartition(".")[2]
    is_choice = name.endswith("[x]")
    if is_choice:
        name = name[:-3]
    content_ref = el.get("contentReference")
    source = el
    if content_ref:
        content_ref = content_ref.lstrip("#")
        source = by_path[content_ref]
    codes: list[str] = []
    keys: list[str] = []
    for t in source.get("type", ()):
        code = _type_code(t)
        codes.append(code)
        keys.append(_type_key(code, t, source["path"], parents, table_key))
    if is_resource_root and name == "id":
        # R4 snapshots type Resource.id as System.String, but the spec defines it as `id`.
        codes, keys = ["id"], ["id"]
    base_max = (el.get("base") or {}).get("max", el["max"])
    max_ = el["max"] if el["max"] == "*" else int(el["max"])
    return [
        name,
        path,
        int(el.get("min", 0)),
        max_,
        codes,
        keys,
        is_choice,
        bool(el.get("isSummary")),
        bool(el.get("isModifier")),
        base_max != "1",
        table_key(content_ref) if content_ref else None,
    ]


def _type_code(t: dict[str, Any]) -> str:
    """FHIR type code of an ElementDefinition.type, mapping FHIRPath System types."""
    code: str = t["code"]
    if not code.startswith(_SYSTEM_PREFIX):
        return code
    for ext in t.get("extension", ()):
        if ext.get("url") == _FHIR_TYPE_EXT and ext.get("valueUrl"):
            return ext["valueUrl"]
    return _SYSTEM_TYPES.get(code[len(_SYSTEM_PREFIX) :], "string")


def _type_key(
    code: str,
    t: dict[str, Any],
    path: str,
    parents: set[str],
    table_key: Callable[[str], str],
) -> str:
    """Which table describes the children of a value of this type at this path."""
    if code in _BACKBONE_CODES and path in parents:
        return table_key(path)
    for profile in t.get("profile", ()):
        if profile in _DATATYPE_PROFILES:
            return _DATATYPE_PROFILES[profile]
    return code


def _primitive_regex(elements: list[dict[str, Any]]) -> str | None:
    """The spec regex carried by the `.value` element of a primitive type definition."""
    for el in elements:
        if not el["path"].endswith(".value"):
            continue
        for t in el.get("type", ()):
            for ext in t.get("extension", ()):
                if ext.get("url") == _REGEX_EXT:
                    return ext.get("valueString")
    return None
