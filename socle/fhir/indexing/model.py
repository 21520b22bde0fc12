"""Just enough of the R4 type model to compile FHIRPath member paths.

The path compiler needs, for ``Context.member``: is it a choice element (``value[x]``,
stored as ``valueQuantity`` etc.), which types can it hold, and where are the children
of each type defined (inline backbone elements live under the element path,
``contentReference`` elements under another path, datatypes under their type name).
Knowing the static type of every compiled path also lets the extractor pick a converter
once per parameter instead of guessing from the JSON shape on every write (an
``Identifier`` and a ``ContactPoint`` both look like ``{system, value}``).

Built once from the vendored StructureDefinitions (about 0.2 s, on first compile).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from functools import cache
from importlib import resources

import orjson

_DATA = "socle.data"
_FILES = ("fhir-r4/profiles-types.json.gz", "fhir-r4/profiles-resources.json.gz")
_INLINE = frozenset({"BackboneElement", "Element"})
_SYSTEM_TYPES = {
    "String": "string",
    "Boolean": "boolean",
    "Integer": "integer",
    "Decimal": "decimal",
    "Date": "date",
    "DateTime": "dateTime",
    "Time": "time",
    "Quantity": "Quantity",
}


@dataclass(frozen=True, slots=True)
class ElementInfo:
    """One element: its possible types and where each type's children are defined."""

    path: str  # e.g. "Observation.value" (choice elements without "[x]")
    types: tuple[str, ...]
    choice: bool
    many: bool
    children: str | None  # context of inline/contentReference children, else None

    def context_of(self, type_code: str) -> str:
        """The context under which members of a value of `type_code` are looked up."""
        if self.children is not None and type_code in _INLINE:
            return self.children
        return type_code


class TypeModel:
    """Element lookup by ``(context, member)`` plus the type hierarchy."""

    def __init__(self, structure_definitions: list[dict]) -> None:
        self._elements: dict[str, ElementInfo] = {}
        self._parent: dict[str, str] = {}
        self.resource_types: frozenset[str] = frozenset()
        self.primitive_types: frozenset[str] = frozenset()
        self._load(structure_definitions)

    def _load(self, sds: list[dict]) -> None:
        resources_, primitives = set(), set()
        refs: dict[str, str] = {}
        for sd in sds:
            if sd.get("derivation") == "constraint" or "snapshot" not in sd:
                continue
            name = sd.get("type") or sd.get("id")
            base = (sd.get("baseDefinition") or "").rsplit("/", 1)[-1]
            if base:
                self._parent[name] = base
            if sd.get("kind") == "resource":
                resources_.add(name)
            elif sd.get("kind") == "primitive-type":
                primitives.add(name)
            for el in sd["snapshot"].get("element", [])[1:]:
                self._add_element(el, refs)
        for path, target in refs.items():  # contentReference: reuse the target's shape
            tgt = self._elements.get(target)
            if tgt is not None:
                old = self._elements[path]
                self._elements[path] = ElementInfo(path, tgt.types, False, old.many, target)
        self.resource_types = frozenset(resources_)
        self.primitive_types = frozenset(primitives)

    def _add_element(self, el: dict, refs: dict[str, str]) -> None:
        path: str = el["path"]
        choice = path.endswith("[x]")
        if choice:
            path = path[:-3]
        types = tuple(_normalize_type(t.get("code", "")) for t in el.get("type", []))
        many = el.get("max") not in ("0", "1")
        ref = el.get("contentReference")
        if ref:
            refs[path] = ref.lstrip("#")
        children = path if any(t in _INLINE for t in types) else None
        self._elements[path] = ElementInfo(path, types, choice, many, children)

    def element(self, context: str, name: str) -> ElementInfo | None:
        """The element `name` of `context` (a type name or a backbone element path)."""
        info = self._elements.get(f"{context}.{name}")
        if info is not None:
            return info
        parent = self._parent.get(context)
        while parent:  # inherited members, e.g. DomainResource.text on a custom context
            info = self._elements.get(f"{parent}.{name}")
            if info is not None:
                return info
            parent = self._parent.get(parent)
        return None

    def is_a(self, type_code: str, ancestor: str) -> bool:
        """True if `type_code` is `ancestor` or specialises it (Age is a Quantity)."""
        while type_code:
            if type_code == ancestor:
                return True
            type_code = self._parent.get(type_code, "")
        return False

    def type_name(self, name: str) -> str | None:
        """Map a FHIRPath type specifier (``DateTime``, ``FHIR.string``) to a FHIR type."""
        name = name.rsplit(".", 1)[-1].strip("`")
        if name in self._parent or name in self.primitive_types:
            return name
        if name in _SYSTEM_TYPES:
            return _SYSTEM_TYPES[name]
        lowered = name[:1].lower() + name[1:]
        return lowered if lowered in self.primitive_types else None


def _normalize_type(code: str) -> str:
    if code.startswith("http://hl7.org/fhirpath/System."):
        return _SYSTEM_TYPES.get(code.rsplit(".", 1)[-1], "string")
    return code


def choice_key(name: str, type_code: str) -> str:
    """JSON key of a choice element for one type: ("value", "dateTime") -> "valueDateTime"."""
    return name + type_code[:1].upper() + type_code[1:]


def _read_bundle(path: str) -> list[dict]:
    raw = resources.files(_DATA).joinpath(path).read_bytes()
    bundle = orjson.loads(gzip.decompress(raw))
    return [
        e["resource"]
        for e in bundle.get("entry", [])
        if e.get("resource", {}).get("resourceType") == "StructureDefinition"
    ]


@cache
def default_model() -> TypeModel:
    """The R4 model from the vendored StructureDefinitions (cached)."""
    sds: list[dict] = []
    for path in _FILES:
        sds.extend(_read_bundle(path))
    return TypeModel(sds)
