"""StructureDefinition snapshots compiled into element trees the validator walks quickly.

A snapshot is a flat list of ElementDefinitions; the validator needs, for each element,
its children by name, its slices and the few facts it checks (cardinality, types,
fixed/pattern values, binding, invariants, max length). `compile_profile` builds that tree
once per profile (the validator caches it) and marks which subtrees have anything to
check, so that validation only walks what matters.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from socle.fhir.definitions.builder import PRIMITIVE_TYPES

MISSING: Any = object()  # no fixed/pattern value

# Invariants checked natively by the structural validator (or always true in JSON).
NATIVE_INVARIANTS = frozenset({"ele-1", "ext-1", "dom-2", "dom-4"})
_SYSTEM_PREFIX = "http://hl7.org/fhirpath/System."
_FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
_BEST_PRACTICE = "http://hl7.org/fhir/StructureDefinition/elementdefinition-bestpractice"
_SYSTEM_TYPES = {
    "String": "string",
    "Boolean": "boolean",
    "Integer": "integer",
    "Decimal": "decimal",
    "Date": "date",
    "DateTime": "dateTime",
    "Time": "time",
}


@dataclass(frozen=True, slots=True)
class TypeRef:
    code: str
    profiles: tuple[str, ...] = ()
    target_profiles: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Constraint:
    key: str
    severity: str  # "error" or "warning"
    human: str
    expression: str
    source: str | None
    best_practice: bool


@dataclass(frozen=True, slots=True)
class Binding:
    strength: str
    value_set: str


@dataclass(frozen=True, slots=True)
class Discriminator:
    type: str  # value, pattern, type, profile, exists
    path: str


@dataclass(slots=True)
class Slicing:
    discriminators: tuple[Discriminator, ...]
    rules: str  # open, closed, openAtEnd
    ordered: bool


@dataclass(slots=True, eq=False)
class ElementDef:
    """One element of a profile, with its children and slices."""

    id: str
    path: str
    name: str  # last path segment, without [x]
    slice_name: str | None
    min: int
    max: int | None  # None: unbounded
    base_min: int
    base_max: int | None
    types: tuple[TypeRef, ...]
    is_choice: bool
    fixed: Any = MISSING
    pattern: Any = MISSING
    binding: Binding | None = None
    constraints: tuple[Constraint, ...] = ()
    max_length: int | None = None
    min_value: Any = MISSING  # (type suffix, value) of minValue[x]
    max_value: Any = MISSING  # (type suffix, value) of maxValue[x]
    content_reference: str | None = None
    children: dict[str, ElementDef] = field(default_factory=dict)
    slicing: Slicing | None = None
    slices: list[ElementDef] = field(default_factory=list)
    # filled by finish():
    active: bool = True
    active_children: tuple[ElementDef, ...] = ()
    type_codes: frozenset[str] = frozenset()
    ref: ElementDef | None = None  # target of a contentReference
    matchers: Any = None  # slice matchers, built lazily by the validator
    key_map: dict[str, ElementDef] | None = None  # JSON key -> active child (lazy)
    required: tuple[ElementDef, ...] = ()  # children checked even when absent

    @property
    def label(self) -> str:
        """`Patient.identifier:INS-NIR` style name for messages."""
        return self.id

    def has_own_checks(self) -> bool:
        return bool(
            self.min > self.base_min
            or (self.max is not None and (self.base_max is None or self.max < self.base_max))
            or self.fixed is not MISSING
            or self.pattern is not MISSING
            or self.binding is not None
            or self.constraints
            or self.max_length is not None
            or self.min_value is not MISSING
            or self.max_value is not MISSING
            or self.slicing is not None
            or self.slices
            or self.name in ("extension", "modifierExtension")
            or any(t.profiles or t.target_profiles for t in self.types)
        )


@dataclass(slots=True, eq=False)
class CompiledProfile:
    url: str
    version: str | None
    name: str
    type: str
    kind: str
    derivation: str | None
    base_definition: str | None
    root: ElementDef
    by_id: dict[str, ElementDef]
    contexts: tuple[tuple[str, str], ...] = ()  # extensions: (type, expression) allowed

    @property
    def canonical(self) -> str:
        return f"{self.url}|{self.version}" if self.version else self.url


class ProfileError(Exception):
    """The StructureDefinition cannot be used for validation."""


def type_code(t: dict[str, Any]) -> str:
    code = t.get("code") or ""
    if not code.startswith(_SYSTEM_PREFIX):
        return code
    for ext in t.get("extension") or ():
        if ext.get("url") == _FHIR_TYPE_EXT and ext.get("valueUrl"):
            return ext["valueUrl"]
    return _SYSTEM_TYPES.get(code[len(_SYSTEM_PREFIX) :], "string")


def _max(value: Any) -> int | None:
    if value in (None, "*"):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _limits(el: dict[str, Any]) -> tuple[Any, Any]:
    """(suffix, value) of minValue[x] and maxValue[x] (MISSING when absent)."""
    low = high = MISSING
    for key, value in el.items():
        if key.startswith("minValue") and len(key) > 8:
            low = (key[8:], value)
        elif key.startswith("maxValue") and len(key) > 8:
            high = (key[8:], value)
    return low, high


def _fixed_pattern(el: dict[str, Any]) -> tuple[Any, Any]:
    fixed = pattern = MISSING
    for key, value in el.items():
        if key.startswith("fixed") and len(key) > 5 and key[5].isupper():
            fixed = value
        elif key.startswith("pattern") and len(key) > 7 and key[7].isupper():
            pattern = value
    return fixed, pattern


def _element(el: dict[str, Any], profile_url: str) -> ElementDef:
    path: str = el["path"]
    last = path.rsplit(".", 1)[-1]
    is_choice = last.endswith("[x]")
    types = tuple(
        TypeRef(
            type_code(t),
            tuple(t.get("profile") or ()),
            tuple(t.get("targetProfile") or ()),
        )
        for t in el.get("type") or ()
        if isinstance(t, dict)
    )
    base = el.get("base") or {}
    fixed, pattern = _fixed_pattern(el)
    min_value, max_value = _limits(el)
    binding = None
    b = el.get("binding")
    if (
        isinstance(b, dict)
        and b.get("valueSet")
        and b.get("strength") in ("required", "extensible")
    ):
        binding = Binding(b["strength"], b["valueSet"])
    constraints = []
    for c in el.get("constraint") or ():
        key = c.get("key")
        expr = c.get("expression")
        if not key or not expr or key in NATIVE_INVARIANTS:
            continue
        best = any(
            e.get("url") == _BEST_PRACTICE and e.get("valueBoolean")
            for e in c.get("extension") or ()
        )
        constraints.append(
            Constraint(
                key,
                "warning" if c.get("severity") == "warning" or best else "error",
                c.get("human") or key,
                expr,
                c.get("source") or profile_url,
                best,
            )
        )
    slicing = None
    s = el.get("slicing")
    if isinstance(s, dict):
        slicing = Slicing(
            tuple(
                Discriminator(d.get("type", "value"), d.get("path", "$this"))
                for d in s.get("discriminator") or ()
                if isinstance(d, dict)
            ),
            s.get("rules", "open"),
            bool(s.get("ordered", False)),
        )
    ref = el.get("contentReference")
    max_ = _max(el.get("max", "*"))
    return ElementDef(
        id=el.get("id") or path,
        path=path,
        name=last[:-3] if is_choice else last,
        slice_name=el.get("sliceName"),
        min=int(el.get("min") or 0),
        max=max_,
        base_min=int(base.get("min", el.get("min") or 0) or 0),
        base_max=_max(base.get("max", el.get("max", "*"))),
        types=types,
        is_choice=is_choice,
        fixed=fixed,
        pattern=pattern,
        binding=binding,
        constraints=tuple(constraints),
        max_length=el.get("maxLength") if isinstance(el.get("maxLength"), int) else None,
        min_value=min_value,
        max_value=max_value,
        content_reference=ref.split("#", 1)[1] if isinstance(ref, str) and "#" in ref else None,
        slicing=slicing,
    )


def _split_last(element_id: str) -> tuple[str, str]:
    """`Patient.identifier:INS-NIR.system` -> (`Patient.identifier:INS-NIR`, `system`)."""
    depth = 0
    for i in range(len(element_id) - 1, -1, -1):
        ch = element_id[i]
        if ch == "]":
            depth += 1
        elif ch == "[":
            depth -= 1
        elif ch == "." and depth == 0:
            return element_id[:i], element_id[i + 1 :]
    return "", element_id


def compile_profile(sd: dict[str, Any]) -> CompiledProfile:
    """Build the element tree of a StructureDefinition that has a snapshot."""
    elements = (sd.get("snapshot") or {}).get("element")
    if not elements:
        raise ProfileError(f"StructureDefinition {sd.get('url')} has no snapshot")
    url = sd.get("url") or ""
    by_id: dict[str, ElementDef] = {}
    root: ElementDef | None = None
    for raw in elements:
        if not isinstance(raw, dict) or "path" not in raw:
            continue
        node = _element(raw, url)
        if root is None:
            root = node
            by_id[node.id] = node
            continue
        parent_id, last = _split_last(node.id)
        name, _, slice_name = last.partition(":")
        if slice_name:
            owner = by_id.get(f"{parent_id}.{name}" if parent_id else name)
            if owner is None:
                continue
            if "/" in slice_name:  # re-slice: attach to the slice it refines
                head = slice_name.rsplit("/", 1)[0]
                owner = by_id.get(f"{parent_id}.{name}:{head}") or owner
            node.slice_name = node.slice_name or slice_name.rsplit("/", 1)[-1]
            owner.slices.append(node)
        else:
            parent = by_id.get(parent_id)
            if parent is None:
                continue
            parent.children[node.name] = node
        by_id[node.id] = node
    if root is None:
        raise ProfileError(f"StructureDefinition {url} has an empty snapshot")
    _finish(root, by_id)
    return CompiledProfile(
        url=url,
        version=sd.get("version"),
        name=sd.get("name") or sd.get("id") or url,
        type=sd.get("type") or root.path,
        kind=sd.get("kind") or "",
        derivation=sd.get("derivation"),
        base_definition=sd.get("baseDefinition"),
        root=root,
        by_id=by_id,
        contexts=tuple(
            (c["type"], c["expression"])
            for c in sd.get("context") or ()
            if isinstance(c, dict)
            and isinstance(c.get("type"), str)
            and isinstance(c.get("expression"), str)
        ),
    )


def _finish(node: ElementDef, by_id: dict[str, ElementDef]) -> bool:
    """Resolve content references and compute `active` flags, bottom-up."""
    node.type_codes = frozenset(t.code for t in node.types)
    if node.content_reference:
        node.ref = by_id.get(node.content_reference)
    active_children = []
    for child in node.children.values():
        if _finish(child, by_id):
            active_children.append(child)
    slices_active = False
    for s in node.slices:
        _finish(s, by_id)
        slices_active = True
    node.active_children = tuple(active_children)
    complex_type = any(t.code not in PRIMITIVE_TYPES for t in node.types)
    node.active = bool(
        node.has_own_checks()
        or active_children
        or slices_active
        or node.ref is not None
        or complex_type
    )
    return node.active


def is_primitive(code: str) -> bool:
    return code in PRIMITIVE_TYPES


@functools.cache
def choice_suffixes() -> frozenset[str]:
    """Type names as they end a choice element's JSON name (`Quantity`, `DateTime`...)."""
    from socle.fhir.definitions.model import get_model

    model = get_model()
    names = {t[0].upper() + t[1:] for t in PRIMITIVE_TYPES}
    names |= set(model.datatypes) | {"Reference", "Meta", "Dosage", "Resource"}
    return frozenset(names)
