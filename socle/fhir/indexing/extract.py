"""Resource -> search index entries, written in the same transaction as the resource.

`IndexExtractor.extract` evaluates every search parameter of the resource's type and
converts the values (see `socle.fhir.indexing.convert` for the representation of each
parameter type). Per resource type it precomputes a plan of
``(code, first key, compiled getter, converter)``, one per statically typed alternative
of the expression, so a write is a walk over the JSON dict with no FHIRPath
interpretation (except for expressions that fall back to fhirpathpy; none in R4 core).
Pass the server's public base URL so that absolute references to this server are
indexed as local ones.

Not extracted: ``_id`` and ``_lastUpdated`` (columns of the resource row), parameters
without an expression or evaluated at query time (``_text``, ``_content``, ``_query``,
``_filter``, ``_list``, ``_has``, ``_type``) and ``special`` ones (``Location.near``).

Composite parameters yield one `CompositeEntry` per combination of component values
taken from the *same* element (e.g. one Observation.component), components in
definition order and typed by the component's own SearchParameter (its ``param`` is that
parameter's code). Text-only token entries and ``:identifier`` side entries are left
out of composites. At most `max_combinations` per element.

Entries are deduplicated per resource, in first-seen order. A value that does not
convert is skipped; it never makes the write fail nor hides the other values.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field
from typing import Any

from socle.fhir.indexing.convert import Converter, converter_for
from socle.fhir.indexing.entries import CompositeEntry, IndexEntry, TokenEntry
from socle.fhir.indexing.paths import Alternative, Getter, compile_path, focus_contexts
from socle.fhir.indexing.registry import SearchParam, SearchParamRegistry, default_registry

log = logging.getLogger(__name__)

EXTRACTOR_VERSION = 1
"""Bump when extraction output changes for the same input (forces a reindex)."""

SKIPPED = frozenset(
    {"_id", "_lastUpdated", "_text", "_content", "_query", "_filter", "_list", "_has", "_type"}
)

_Component = list[tuple[Getter, Converter, str]]  # alternatives of one component


@dataclass(slots=True)
class _Composite:
    code: str
    focuses: list[tuple[Getter, list[_Component]]]


@dataclass(slots=True)
class _Plan:
    # (code, first key the getter reads or None, getter, converter)
    simple: list[tuple[str, str | None, Getter, Converter]] = field(default_factory=list)
    composites: list[_Composite] = field(default_factory=list)


class IndexExtractor:
    """Extracts index entries for every search parameter of a resource's type."""

    def __init__(
        self,
        registry: SearchParamRegistry | None = None,
        *,
        base_url: str | None = None,
        max_combinations: int = 64,
    ) -> None:
        self.registry = registry or default_registry()
        self.base_url = base_url.rstrip("/") if base_url else None
        self.max_combinations = max_combinations
        self._plans: dict[str, _Plan] = {}
        self._generation = self.registry.generation

    @property
    def fingerprint(self) -> str:
        """Changes whenever stored indexes may need rebuilding (code or definitions)."""
        return f"{EXTRACTOR_VERSION}:{self.registry.version}"

    def extract(self, resource: dict) -> list[IndexEntry]:
        """All index entries of `resource`, deduplicated."""
        rtype = resource.get("resourceType") if type(resource) is dict else None
        if type(rtype) is not str:
            return []
        plan = self.plan(rtype)
        out: list = []
        focus = [resource]
        for code, key, getter, convert in plan.simple:
            if key is not None and key not in resource:
                continue
            try:
                values = getter(focus, resource)
            except Exception:  # odd data must not fail the write
                log.debug("extracting %s.%s failed", rtype, code, exc_info=True)
                continue
            for value in values:
                try:
                    convert(code, value, out)
                except Exception:
                    log.debug("converting %s.%s value failed", rtype, code, exc_info=True)
        for composite in plan.composites:
            self._composite(composite, resource, out)
        return list(dict.fromkeys(out))

    # ------------------------------------------------------------------------ plans

    def plan(self, resource_type: str) -> _Plan:
        """The precomputed extraction plan of a type (rebuilt if the registry changed)."""
        if self._generation != self.registry.generation:
            self._plans = {}
            self._generation = self.registry.generation
        plan = self._plans.get(resource_type)
        if plan is None:
            plan = self._build_plan(resource_type)
            self._plans[resource_type] = plan
        return plan

    def _build_plan(self, rtype: str) -> _Plan:
        plan = _Plan()
        for code, param in self.registry.for_type(rtype).items():
            if code in SKIPPED or not param.expression or param.type == "special":
                continue
            if param.type == "composite":
                composite = self._composite_plan(rtype, param)
                if composite is not None:
                    plan.composites.append(composite)
                continue
            for alt in compile_path(param.expression, rtype).alternatives:
                convert = self._converter(param.type, alt)
                if convert is not None:
                    plan.simple.append((code, alt.first_key, alt.getter, convert))
        return plan

    def _converter(self, param_type: str, alt: Alternative) -> Converter | None:
        """The converter of an alternative; a dispatcher on the type for choice ones."""
        if not alt.choices:
            return converter_for(param_type, alt.type, self.base_url)
        table = {t: converter_for(param_type, t, self.base_url) for t in alt.choices}
        by_type = {t: c for t, c in table.items() if c is not None}
        if not by_type:
            return None

        def dispatch(code: str, tagged: tuple, out: list) -> None:
            convert = by_type.get(tagged[0])
            if convert is not None:
                convert(code, tagged[1], out)

        return dispatch

    def _composite_plan(self, rtype: str, param: SearchParam) -> _Composite | None:
        definitions = []
        for url, expression in param.components:
            component = self.registry.by_url(url)
            if component is None or component.type in ("composite", "special"):
                log.warning("composite %s: unusable component %s", param.code, url)
                return None
            definitions.append((component, expression))
        focuses = []
        for getter, _type, ctx in focus_contexts(param.expression or "", rtype):
            components = []
            for component, expression in definitions:
                compiled = compile_path(expression, ctx or "", rtype)
                alternatives = []
                for alt in compiled.alternatives:
                    convert = self._converter(component.type, alt)
                    if convert is not None:
                        alternatives.append((alt.getter, convert, component.code))
                components.append(alternatives)
            focuses.append((getter, components))
        return _Composite(param.code, focuses)

    # ------------------------------------------------------------------- composites

    def _composite(self, composite: _Composite, resource: dict, out: list) -> None:
        for getter, components in composite.focuses:
            try:
                elements = getter([resource], resource)
            except Exception:
                continue
            for element in elements:
                parts = self._component_values(components, element, resource)
                if parts is None:
                    continue
                combos = itertools.islice(itertools.product(*parts), self.max_combinations)
                out.extend(CompositeEntry(composite.code, combo) for combo in combos)

    @staticmethod
    def _component_values(
        components: list[_Component], element: Any, resource: dict
    ) -> list[list] | None:
        """Entries of each component for one element; None if any component is empty.

        Raw values of all components are fetched before any conversion, so an element
        missing one component (most Observations for most ``code-value-*``) costs only
        the navigation.
        """
        raw: list[list[tuple[Converter, list]]] = []
        for alternatives in components:
            found = []
            for getter, convert, _ in alternatives:
                try:
                    values = getter([element], resource)
                except Exception:
                    continue
                if values:
                    found.append((convert, values))
            if not found:
                return None
            raw.append(found)
        parts = []
        for alternatives, found in zip(components, raw, strict=True):
            code = alternatives[0][2]
            entries: list = []
            for convert, values in found:
                for value in values:
                    try:
                        convert(code, value, entries)
                    except Exception:
                        continue
            entries = list(dict.fromkeys(e for e in entries if _component_entry(e, code)))
            if not entries:
                return None
            parts.append(entries)
        return parts


def _component_entry(entry: IndexEntry, code: str) -> bool:
    """Keep what a composite query can match: not the ``<code>:identifier`` side entries
    of references, nor text-only token entries (composites match system|code)."""
    if entry.param != code:
        return False
    return not (type(entry) is TokenEntry and entry.code is None)


def native_coverage(registry: SearchParamRegistry | None = None) -> tuple[int, int, list[str]]:
    """``(native, total, fallbacks)`` over every type-specific (type, parameter) expression.

    A diagnostic for packages: expressions outside the compiled subset still work
    through fhirpathpy, but cost far more per write.
    """
    registry = registry or default_registry()
    native = total = 0
    fallbacks: list[str] = []
    for resource_type in sorted(registry.resource_types()):
        for param in registry.for_type(resource_type).values():
            if not param.expression or param.base[0] in ("Resource", "DomainResource"):
                continue
            total += 1
            if compile_path(param.expression, resource_type).native:
                native += 1
            else:
                fallbacks.append(f"{resource_type}.{param.code}: {param.expression}")
    return native, total, fallbacks
