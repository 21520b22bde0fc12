"""A small structural checker of FHIR R4 JSON, for testing generated data.

It reads the StructureDefinitions vendored in socle/data/fhir-r4 and checks element names
(choice types included), cardinality (arrays vs single values, required elements), JSON types
and the regex of every primitive. It is not a validator: no invariants, bindings or profiles.
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

_REGEX_EXT = "http://hl7.org/fhir/StructureDefinition/regex"
_FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
_NUMBERS = {"integer", "positiveInt", "unsignedInt", "decimal"}


@dataclass(frozen=True)
class _Element:
    name: str  # last path segment, with [x] for choices
    min: int
    max: str
    types: tuple[str, ...]
    content_ref: str | None


@dataclass(frozen=True)
class _Definitions:
    children: dict[str, dict[str, _Element]]  # element path -> child name -> element
    kinds: dict[str, str]  # type name -> kind
    regexes: dict[str, re.Pattern[str]]  # primitive type -> value regex


def _type_code(t: dict[str, Any]) -> str:
    code = t["code"]
    if code.startswith("http://hl7.org/fhirpath/System."):
        for ext in t.get("extension", ()):
            if ext["url"] == _FHIR_TYPE_EXT:
                return ext["valueUrl"]
        return "string"
    return code


@cache
def definitions() -> _Definitions:
    """Index the R4 resource and datatype definitions by element path."""
    children: dict[str, dict[str, _Element]] = {}
    kinds: dict[str, str] = {}
    regexes: dict[str, re.Pattern[str]] = {}
    base = resources.files("socle") / "data" / "fhir-r4"
    for name in ("profiles-types.json.gz", "profiles-resources.json.gz"):
        bundle = json.loads(gzip.decompress((base / name).read_bytes()))
        for entry in bundle["entry"]:
            sd = entry["resource"]
            if sd["resourceType"] != "StructureDefinition" or sd.get("derivation") == "constraint":
                continue
            kinds[sd["id"]] = sd["kind"]
            for el in sd["snapshot"]["element"]:
                path = el["path"]
                if "." not in path:
                    continue
                parent, _, leaf = path.rpartition(".")
                types = tuple(_type_code(t) for t in el.get("type", ()))
                children.setdefault(parent, {})[leaf] = _Element(
                    leaf, el["min"], el["max"], types, el.get("contentReference")
                )
                if sd["kind"] == "primitive-type" and leaf == "value":
                    for t in el.get("type", ()):
                        for ext in t.get("extension", ()):
                            if ext["url"] == _REGEX_EXT:
                                regexes[sd["id"]] = re.compile(ext["valueString"])
    return _Definitions(children, kinds, regexes)


def check_resource(resource: dict[str, Any]) -> list[str]:
    """Problems found in one resource (empty list when it is well-formed)."""
    rtype = resource.get("resourceType")
    defs = definitions()
    if rtype not in defs.kinds or defs.kinds[rtype] != "resource":
        return [f"unknown resourceType {rtype!r}"]
    problems: list[str] = []
    _check_object(resource, rtype, rtype, problems, skip={"resourceType"})
    return problems


def _match(children: dict[str, _Element], key: str) -> tuple[_Element, str] | None:
    """Element definition and concrete type for a JSON key (valueQuantity -> value[x])."""
    if key in children:
        el = children[key]
        return el, el.types[0] if len(el.types) == 1 else ""
    for el in children.values():
        if el.name.endswith("[x]"):
            stem = el.name[:-3]
            for t in el.types:
                if key == stem + t[0].upper() + t[1:]:
                    return el, t
    return None


def _check_object(
    obj: Any, def_path: str, where: str, problems: list[str], skip: frozenset | set = frozenset()
) -> None:
    if not isinstance(obj, dict):
        problems.append(f"{where}: expected an object")
        return
    defs = definitions()
    children = defs.children.get(def_path, {})
    for key, value in obj.items():
        if key in skip:
            continue
        found = _match(children, key)
        if found is None:
            problems.append(f"{where}.{key}: no such element in {def_path}")
            continue
        el, type_code = found
        if el.max == "0":
            problems.append(f"{where}.{key}: prohibited")
        if el.max == "1" and isinstance(value, list):
            problems.append(f"{where}.{key}: max 1 but an array")
            continue
        if el.max != "1" and not isinstance(value, list):
            problems.append(f"{where}.{key}: repeating element must be an array")
            continue
        for i, item in enumerate(value if isinstance(value, list) else [value]):
            at = f"{where}.{key}[{i}]" if isinstance(value, list) else f"{where}.{key}"
            _check_value(item, el, type_code, f"{def_path}.{el.name}", at, problems)
    for el in children.values():
        if el.min >= 1 and not _present(obj, el):
            problems.append(f"{where}: missing required {el.name}")


def _present(obj: dict[str, Any], el: _Element) -> bool:
    if el.name.endswith("[x]"):
        stem = el.name[:-3]
        return any(k.startswith(stem) and k[len(stem) : len(stem) + 1].isupper() for k in obj)
    return el.name in obj


def _check_value(
    item: Any, el: _Element, type_code: str, el_path: str, where: str, problems: list[str]
) -> None:
    defs = definitions()
    if el.content_ref:
        _check_object(item, el.content_ref.lstrip("#"), where, problems)
    elif type_code in ("BackboneElement", "Element") or (
        el_path in defs.children and type_code not in defs.kinds
    ):
        _check_object(item, el_path, where, problems)
    elif type_code == "Resource":
        inner = check_resource(item) if isinstance(item, dict) else ["not an object"]
        problems.extend(f"{where}: {p}" for p in inner)
    elif defs.kinds.get(type_code) == "primitive-type" or type_code in ("string", "uri"):
        _check_primitive(item, type_code, where, problems)
    elif type_code in defs.kinds:
        _check_object(item, type_code, where, problems)
    else:
        problems.append(f"{where}: cannot check type {type_code!r}")


def _check_primitive(value: Any, type_code: str, where: str, problems: list[str]) -> None:
    if type_code == "boolean":
        ok = isinstance(value, bool)
    elif type_code in _NUMBERS:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if ok and type_code != "decimal":
            ok = isinstance(value, int)
    else:
        ok = isinstance(value, str)
    if not ok:
        problems.append(f"{where}: {value!r} is not a JSON {type_code}")
        return
    regex = definitions().regexes.get(type_code)
    if regex and not regex.fullmatch(str(value).lower() if type_code == "boolean" else str(value)):
        problems.append(f"{where}: {value!r} does not match the {type_code} format")


def find_empty(node: Any, where: str = "$") -> list[str]:
    """Paths of empty strings, lists or objects, and of strings with outer whitespace."""
    found: list[str] = []
    if isinstance(node, dict):
        if not node:
            found.append(where)
        for key, value in node.items():
            found += find_empty(value, f"{where}.{key}")
    elif isinstance(node, list):
        if not node:
            found.append(where)
        for i, value in enumerate(node):
            found += find_empty(value, f"{where}[{i}]")
    elif isinstance(node, str) and (not node.strip() or node != node.strip()):
        found.append(where)
    return found
