"""The FHIR R4 model: which resource types exist and what elements each type may carry.

Built once per process from the vendored base StructureDefinition snapshots (through the
compact cache, see `cache.py`) and shared read-only by the REST layer and the validators.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from socle.fhir.definitions import builder, cache
from socle.fhir.definitions.builder import PRIMITIVE_TYPES

log = logging.getLogger(__name__)

Category = Literal["primitive", "complex", "resource"]
PRIMITIVE: Category = "primitive"
COMPLEX: Category = "complex"
RESOURCE: Category = "resource"


@dataclass(frozen=True, slots=True)
class ElementInfo:
    """One child element of a type, as the base definition states it."""

    name: str  # JSON name; a choice `value[x]` is named "value"
    path: str  # definition path, e.g. "Observation.value[x]", "Patient.contact.name"
    min: int
    max: int | str  # an int, or "*"
    types: tuple[str, ...]  # FHIR type codes ("date", "HumanName", "BackboneElement"...)
    type_keys: tuple[str, ...]  # per type: the model key describing its children
    is_choice: bool
    is_summary: bool
    is_modifier: bool
    is_array: bool  # JSON shape: an array unless the base max is "1"
    content_reference: str | None  # resolved target path, e.g. "Questionnaire.item"

    @property
    def max_count(self) -> int | None:
        """Upper bound as a number, None when unbounded."""
        return None if self.max == "*" else int(self.max)

    def json_names(self) -> tuple[str, ...]:
        """Property names this element may take in JSON (one per type for a choice)."""
        if not self.is_choice:
            return (self.name,)
        return tuple(choice_name(self.name, code) for code in self.types)


@dataclass(frozen=True, slots=True)
class JsonProperty:
    """What a JSON property name means inside an object of a given type."""

    element: ElementInfo
    type_code: str  # the one type this spelling selects ("Quantity" for valueQuantity)
    type_key: str  # model key of that type (a backbone path, "SimpleQuantity"...)
    category: Category
    max_count: int | None


@dataclass(frozen=True, slots=True)
class TypeInfo:
    """A resource, datatype or backbone element with its precomputed lookup tables."""

    key: str  # "Patient", "HumanName", "Patient.contact", "SimpleQuantity"
    kind: str  # "resource", "complex-type", "primitive-type" or "backbone"
    abstract: bool
    elements: Mapping[str, ElementInfo]  # by element name, definition order
    json_keys: Mapping[str, JsonProperty]  # by JSON property name (choices expanded)
    required: tuple[tuple[ElementInfo, tuple[str, ...]], ...]  # min>0, with JSON spellings
    choice_names: tuple[str, ...]


def choice_name(base: str, type_code: str) -> str:
    """`value` + `Quantity` -> `valueQuantity` (FHIR JSON spelling of a choice element)."""
    return base + type_code[0].upper() + type_code[1:]


class FhirModel:
    """Read-only view over the base R4 definitions, with the lookups the server needs."""

    def __init__(self, compact: dict[str, Any], source: str = "built") -> None:
        self.source = source  # "cache", "built+cached" or "built": handy when diagnosing start-up
        raw_types: dict[str, Any] = compact["types"]
        self.resource_types: frozenset[str] = frozenset(
            k for k, t in raw_types.items() if t["kind"] == "resource" and not t["abstract"]
        )
        self.abstract_resource_types: frozenset[str] = frozenset(
            k for k, t in raw_types.items() if t["kind"] == "resource" and t["abstract"]
        )
        self.primitive_types: frozenset[str] = frozenset(PRIMITIVE_TYPES)
        self.datatypes: frozenset[str] = frozenset(
            k for k, t in raw_types.items() if t["kind"] == "complex-type" and not t["abstract"]
        )
        self._regexes: dict[str, str] = dict(compact["regexes"])
        self._types: dict[str, TypeInfo] = {
            key: self._type_info(key, t) for key, t in raw_types.items()
        }
        self._summary: dict[str, frozenset[str]] = {}
        self._mandatory: dict[str, frozenset[str]] = {}

    # -- building -------------------------------------------------------------------------

    def _category(self, type_code: str) -> Category:
        if type_code in PRIMITIVE_TYPES:
            return PRIMITIVE
        if type_code == "Resource" or type_code in self.resource_types:
            return RESOURCE
        return COMPLEX

    def _type_info(self, key: str, raw: dict[str, Any]) -> TypeInfo:
        elements: dict[str, ElementInfo] = {}
        json_keys: dict[str, JsonProperty] = {}
        required: list[tuple[ElementInfo, tuple[str, ...]]] = []
        for row in raw["elements"]:
            el = _element_from_row(row)
            elements[el.name] = el
            for name, code, type_key in zip(el.json_names(), el.types, el.type_keys, strict=True):
                json_keys[name] = JsonProperty(
                    el, code, type_key, self._category(code), el.max_count
                )
            if el.min > 0:
                required.append((el, _spellings(el)))
        return TypeInfo(
            key=key,
            kind=raw["kind"],
            abstract=raw["abstract"],
            elements=MappingProxyType(elements),
            json_keys=MappingProxyType(json_keys),
            required=tuple(required),
            choice_names=tuple(e.name for e in elements.values() if e.is_choice),
        )

    # -- lookups --------------------------------------------------------------------------

    def is_resource_type(self, name: str) -> bool:
        """True for concrete resource types (Patient), false for Resource/DomainResource."""
        return name in self.resource_types

    def is_primitive(self, type_code: str) -> bool:
        return type_code in PRIMITIVE_TYPES

    def primitive_regex(self, type_code: str) -> str | None:
        """The R4 regex for a primitive's lexical form (None for xhtml)."""
        return self._regexes.get(type_code)

    @property
    def types(self) -> Mapping[str, TypeInfo]:
        """Every table by key: types by name, backbone elements by path."""
        return MappingProxyType(self._types)

    def type_info(self, type_or_path: str) -> TypeInfo | None:
        """Table for a type name or an element path (`Patient.contact`, `Patient.name`...).

        Paths are walked through datatypes and content references, so
        `Questionnaire.item.item` gives the `Questionnaire.item` table; choice elements
        need their typed spelling (`Observation.valueQuantity`).
        """
        info = self._types.get(type_or_path)
        if info is not None:
            return info
        head, *rest = type_or_path.split(".")
        info = self._types.get(head)
        for segment in rest:
            prop = self._property(info, segment) if info else None
            if prop is None:
                return None
            info = self._types.get(prop.type_key)
        return info

    def elements(self, type_or_path: str) -> Mapping[str, ElementInfo]:
        """Child elements by name; raises KeyError for an unknown type or path."""
        info = self.type_info(type_or_path)
        if info is None:
            raise KeyError(f"Unknown FHIR type or element path: {type_or_path}")
        return info.elements

    def element(self, path: str) -> ElementInfo | None:
        """The definition of the element at `path` (`Patient.contact.name`, `Observation.value`)."""
        parent, _, name = path.rpartition(".")
        info = self.type_info(parent) if parent else None
        if info is None:
            return None
        el = info.elements.get(name.removesuffix("[x]"))
        if el is not None:
            return el
        prop = info.json_keys.get(name)
        return prop.element if prop else None

    @staticmethod
    def _property(info: TypeInfo, segment: str) -> JsonProperty | None:
        prop = info.json_keys.get(segment)
        if prop is not None:
            return prop
        el = info.elements.get(segment)
        if el is not None and len(el.types) == 1:
            return info.json_keys[el.json_names()[0]]
        return None

    def summary_elements(self, resource_type: str) -> frozenset[str]:
        """Top-level names kept by `_summary=true` (elements flagged isSummary).

        Holds each element's name plus its JSON spellings (`deceasedBoolean`, `_birthDate`),
        so a filter can test JSON keys directly.
        """
        return self._names_cached(self._summary, resource_type, lambda e: e.is_summary)

    def mandatory_elements(self, resource_type: str) -> frozenset[str]:
        """Top-level names with min > 0 (same spelling rules as `summary_elements`)."""
        return self._names_cached(self._mandatory, resource_type, lambda e: e.min > 0)

    def _names_cached(
        self,
        cache_: dict[str, frozenset[str]],
        rt: str,
        keep: Callable[[ElementInfo], bool],
    ) -> frozenset[str]:
        names = cache_.get(rt)
        if names is None:
            info = self._types.get(rt)
            if info is None or info.kind != "resource":
                raise KeyError(f"Unknown resource type: {rt}")
            names = frozenset(
                n for e in info.elements.values() if keep(e) for n in (e.name, *_spellings(e))
            )
            cache_[rt] = names
        return names


def _element_from_row(row: list[Any]) -> ElementInfo:
    name, path, min_, max_, types, keys, choice, summary, modifier, array, ref = row
    return ElementInfo(
        name, path, min_, max_, tuple(types), tuple(keys), choice, summary, modifier, array, ref
    )


def _spellings(el: ElementInfo) -> tuple[str, ...]:
    """JSON keys that make an element present: its names and `_name` for primitives."""
    names = el.json_names()
    underscored = tuple(
        "_" + n for n, code in zip(names, el.types, strict=True) if code in PRIMITIVE_TYPES
    )
    return names + underscored


def load_model(use_cache: bool = True) -> FhirModel:
    """Build a model from the vendored data (through the on-disk cache unless disabled)."""
    started = time.perf_counter()
    raw_files = builder.read_data_files()
    if use_cache:
        compact, source = cache.load_or_build(raw_files, builder.build_compact)
    else:
        compact, source = builder.build_compact(raw_files), "built"
    model = FhirModel(compact, source)
    log.info("FHIR R4 model ready in %.3f s (%s)", time.perf_counter() - started, source)
    return model


@functools.lru_cache(maxsize=1)
def get_model() -> FhirModel:
    """The process-wide model (built on first use)."""
    return load_model()
