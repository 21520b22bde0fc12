"""Search parameter registry: the R4 SearchParameters plus those added by packages.

One R4 SearchParameter often serves many resource types with a union expression
(``AllergyIntolerance.code | Condition.code | ...``). The registry keeps, per base type,
a `SearchParam` whose ``expression`` holds only the union branches that apply to that
type (branch rooted at the type, at ``Resource``/``DomainResource``, or relative), so an
Observation never evaluates the Condition branch.

``version`` fingerprints the definitions: when it changes, stored indexes may be stale.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources

import orjson

_BUNDLE = "fhir-r4/search-parameters.json.gz"
_ABSTRACT = ("Resource", "DomainResource")
# Resources that are not DomainResources (no text/contained/extension).
_NOT_DOMAIN = frozenset({"Bundle", "Binary", "Parameters"})
_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
_DEFAULT_MODIFIERS = {
    "string": ("missing", "exact", "contains"),
    "token": ("missing", "text", "not", "above", "below", "in", "not-in", "of-type"),
    "reference": ("missing", "type", "identifier", "above", "below"),
    "uri": ("missing", "above", "below"),
}


@dataclass(frozen=True, slots=True)
class SearchParam:
    """A search parameter as the extractor and the search engine need it.

    ``expression`` is restricted to the branches applying to the type it was looked up
    for (the full expression when obtained through `SearchParamRegistry.by_url`).
    ``components`` holds ``(definition_url, expression)`` pairs of composite parameters.
    """

    code: str
    type: str
    expression: str | None
    base: tuple[str, ...]
    targets: tuple[str, ...] = ()
    url: str = ""
    components: tuple[tuple[str, str], ...] = ()
    modifiers: tuple[str, ...] = ()
    comparators: tuple[str, ...] = ()
    multiple_or: bool = True
    multiple_and: bool = True
    name: str = ""
    version: str | None = None


def split_union(expression: str) -> list[str]:
    """Split on top-level ``|`` (outside parentheses, brackets and string literals)."""
    parts: list[str] = []
    depth, start, quote, i = 0, 0, "", 0
    while i < len(expression):
        ch = expression[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'`":
            quote = ch
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "|" and depth == 0:
            parts.append(expression[start:i].strip())
            start = i + 1
        i += 1
    parts.append(expression[start:].strip())
    return [p for p in parts if p]


def _root_name(branch: str) -> str:
    """The leading identifier of a branch: ``(Observation.value as X)`` -> ``Observation``."""
    text = branch.lstrip("( ")
    end = 0
    while end < len(text) and (text[end].isalnum() or text[end] == "_"):
        end += 1
    return text[:end]


def restrict_expression(expression: str | None, base: str) -> str | None:
    """Keep the union branches of `expression` that can apply to resources of type `base`."""
    if not expression or base in _ABSTRACT:
        return expression
    kept = []
    for branch in split_union(expression):
        root = _root_name(branch)
        if root == base or root in _ABSTRACT or not root[:1].isupper():
            kept.append(branch)
    return " | ".join(kept) if kept else None


_RELATIONSHIP = "http://hl7.org/fhir/SearchParameter/DocumentReference-relationship"


def _errata(param: SearchParam) -> SearchParam:
    """Fix known defects of the R4 definitions.

    DocumentReference ``relationship`` pairs the ``relatesto`` (reference) definition
    with expression ``code`` and ``relation`` (token) with ``target``; the description
    says "relation and relatesTo", so the definitions are swapped back to
    ``(relation, code), (relatesto, target)``.
    """
    if param.url == _RELATIONSHIP and len(param.components) == 2:
        (def1, expr1), (def2, expr2) = param.components
        if def1.endswith("-relatesto") and expr1 == "code":
            return replace(param, components=((def2, expr1), (def1, expr2)))
    return param


def search_param_from_resource(resource: dict) -> SearchParam:
    """Build the unrestricted `SearchParam` of a SearchParameter resource."""
    code, type_, base = resource.get("code"), resource.get("type"), resource.get("base")
    if not code or not type_ or not base:
        raise ValueError("SearchParameter needs code, type and base")
    components = tuple(
        (c.get("definition", ""), c.get("expression", "")) for c in resource.get("component", [])
    )
    return SearchParam(
        code=code,
        type=type_,
        expression=resource.get("expression") or None,
        base=tuple(base),
        targets=tuple(resource.get("target", ())),
        url=resource.get("url", ""),
        components=components,
        modifiers=tuple(resource.get("modifier") or _DEFAULT_MODIFIERS.get(type_, ("missing",))),
        comparators=tuple(
            resource.get("comparator")
            or (_PREFIXES if type_ in ("number", "date", "quantity") else ())
        ),
        multiple_or=resource.get("multipleOr", True),
        multiple_and=resource.get("multipleAnd", True),
        name=resource.get("name", code),
        version=resource.get("version"),
    )


class SearchParamRegistry:
    """Search parameters by base type and code; later additions override earlier ones."""

    def __init__(self, search_parameters: Iterable[dict] = ()) -> None:
        self._by_url: dict[str, SearchParam] = {}
        self._by_base: dict[str, dict[str, SearchParam]] = {}
        self._sources: dict[str, tuple] = {}
        self._for_type: dict[str, dict[str, SearchParam]] = {}
        self._version: str | None = None
        self.generation = 0  # bumped by every add(); extractors rebuild their plans on change
        for sp in search_parameters:
            self.add(sp)

    @classmethod
    def from_bundle(cls, bundle: dict) -> SearchParamRegistry:
        """Registry of the SearchParameters in a Bundle."""
        return cls(
            e["resource"]
            for e in bundle.get("entry", [])
            if e.get("resource", {}).get("resourceType") == "SearchParameter"
        )

    def copy(self) -> SearchParamRegistry:
        """An independent registry with the same parameters (e.g. one per engine, so
        that plugins adding parameters do not change the process-wide default)."""
        clone = SearchParamRegistry()
        clone._by_url = dict(self._by_url)
        clone._by_base = {base: dict(params) for base, params in self._by_base.items()}
        clone._sources = dict(self._sources)
        clone._version = self._version
        clone.generation = self.generation
        return clone

    def add(self, resource: dict) -> SearchParam:
        """Register a SearchParameter resource (e.g. from a French IG); replaces same url/code."""
        param = _errata(search_param_from_resource(resource))
        key = param.url or f"{'|'.join(param.base)}#{param.code}"
        old = self._by_url.get(key)
        if old is not None:  # a new version of the same definition: drop the old one
            for base in old.base:
                current = self._by_base.get(base, {})
                previous = current.get(old.code)
                if previous is not None and previous.url == old.url:
                    del current[old.code]
        self._by_url[key] = param
        for base in param.base:
            restricted = replace(param, expression=restrict_expression(param.expression, base))
            self._by_base.setdefault(base, {})[param.code] = restricted
        self._sources[key] = (
            param.url,
            param.version,
            param.code,
            param.type,
            param.base,
            param.expression,
            param.targets,
            param.components,
        )
        self._for_type.clear()
        self._version = None
        self.generation += 1
        return param

    def get(self, resource_type: str, code: str) -> SearchParam | None:
        """The parameter `code` as it applies to `resource_type` (including Resource ones)."""
        return self.for_type(resource_type).get(code)

    def for_type(self, resource_type: str) -> dict[str, SearchParam]:
        """All parameters applying to `resource_type`, by code (type-specific ones win)."""
        cached = self._for_type.get(resource_type)
        if cached is not None:
            return cached
        merged = dict(self._by_base.get("Resource", {}))
        if resource_type not in _NOT_DOMAIN:
            merged.update(self._by_base.get("DomainResource", {}))
        merged.update(self._by_base.get(resource_type, {}))
        self._for_type[resource_type] = merged
        return merged

    def by_url(self, url: str) -> SearchParam | None:
        """The unrestricted parameter with this canonical URL (composite components)."""
        return self._by_url.get(url)

    def resource_types(self) -> set[str]:
        """Base types that have at least one parameter of their own."""
        return {b for b, params in self._by_base.items() if params and b not in _ABSTRACT}

    def __iter__(self) -> Iterator[SearchParam]:
        return iter(self._by_url.values())

    def __len__(self) -> int:
        return len(self._by_url)

    @property
    def version(self) -> str:
        """A fingerprint of everything that affects extraction (sha256 prefix)."""
        if self._version is None:
            items = sorted(self._sources.values(), key=lambda t: (t[0], t[2], t[4]))
            digest = hashlib.sha256(orjson.dumps(items)).hexdigest()
            self._version = digest[:16]
        return self._version

    def fingerprint(self) -> str:
        """Same as `version` (for callers caching things derived from the registry)."""
        return self.version


def load_r4_registry() -> SearchParamRegistry:
    """A fresh registry of the 1,378 vendored R4 SearchParameters."""
    raw = resources.files("socle.data").joinpath(_BUNDLE).read_bytes()
    return SearchParamRegistry.from_bundle(orjson.loads(gzip.decompress(raw)))


@cache
def default_registry() -> SearchParamRegistry:
    """The process-wide registry (R4 core; packages `add()` to it at startup)."""
    return load_r4_registry()
