"""In-memory index of one CodeSystem version: concepts, hierarchy, properties, text search.

Built once from the CodeSystem resource (nested `concept.concept`, `parent`/`child`
properties and `subsumedBy` all give the hierarchy) and then shared read-only by every
request of the process. Lookups are dictionary hits; hierarchy filters walk the child
lists; the text filter uses the `TextIndex` built lazily on first use.
"""

from __future__ import annotations

import copy
import dataclasses
import re
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from socle.fhir.errors import FhirError
from socle.terminology.gcpause import gc_paused
from socle.terminology.textindex import TextIndex

# Properties whose value marks a concept as no longer active.
_INACTIVE_STATUS = {"retired", "inactive", "deprecated"}
_HIERARCHY_PROPS = {"parent", "child", "subsumedBy"}
MAX_REGEX = 256
LARGE = 20_000  # concepts: above this, built indexes are frozen out of the GC


def bad_filter(msg: str) -> FhirError:
    return FhirError(400, "invalid", msg)


@dataclass(slots=True)
class Designation:
    language: str | None
    use: dict[str, Any] | None
    value: str


@dataclass(slots=True)
class Concept:
    """One concept; `ordinal` is its position in the code system (expansion order)."""

    code: str
    display: str | None
    ordinal: int
    definition: str | None = None
    # Empty collections are the shared tuple (): 100,000 concepts, 400,000 fewer objects.
    designations: tuple[Designation, ...] = ()
    properties: tuple[tuple[str, str, Any], ...] = ()  # code, type, value
    parents: list[str] | tuple[()] = ()
    children: list[str] | tuple[()] = ()
    inactive: bool = False
    abstract: bool = False

    def texts(self) -> Iterator[str | None]:
        yield self.code
        yield self.display
        for d in self.designations:
            yield d.value

    def property_values(self, code: str) -> list[Any]:
        return [v for c, _t, v in self.properties if c == code]

    def display_for(self, language: str | None) -> str | None:
        """The designation in `language` (preferred ones first); None when there is none."""
        if not language:
            return None
        found = [
            d for d in self.designations if d.language and _same_language(language, d.language)
        ]
        for d in found:
            if _preferred(d):
                return d.value
        return found[0].value if found else None


def _preferred(d: Designation) -> bool:
    use = d.use or {}
    return use.get("code") in (None, "display", "900000000000548007", "preferredForLanguage")


def _same_language(wanted: str, have: str | None) -> bool:
    """'fr' matches 'fr-FR'; 'fr-FR' matches 'fr' and 'fr-FR'."""
    if not have:
        return False
    a, b = wanted.lower().replace("_", "-"), have.lower().replace("_", "-")
    return a == b or a.split("-")[0] == b.split("-")[0]


def _marks_inactive(code: str, value: Any) -> bool:
    """status=retired, inactive=true, deprecated(Date), or NOS dateFin (end of validity)."""
    if code == "status":
        return str(value).lower() in _INACTIVE_STATUS
    if code == "inactive":
        return value is True
    if code in ("deprecated", "deprecationDate", "dateFin"):
        return value not in (None, False, "")
    return False


def _intern(text: str | None) -> str | None:
    return sys.intern(text) if isinstance(text, str) else None


def value_of(prop: dict[str, Any]) -> tuple[str, Any]:
    for key, value in prop.items():
        if key.startswith("value"):
            return sys.intern(key[5:]), value
    return "String", None


class CodeSystemIndex:
    """Everything Socle needs to answer terminology operations on one CodeSystem version."""

    def __init__(self, resource: dict[str, Any]) -> None:
        self.url: str = resource.get("url") or ""
        self.version: str | None = resource.get("version")
        self.name: str | None = resource.get("name")
        self.title: str | None = resource.get("title")
        self.content: str = resource.get("content") or "complete"
        self.case_sensitive: bool = resource.get("caseSensitive", True) is not False
        self.language: str | None = resource.get("language")
        self.hierarchy_meaning: str | None = resource.get("hierarchyMeaning")
        self.property_defs: dict[str, dict[str, Any]] = {
            p["code"]: p
            for p in resource.get("property") or []
            if isinstance(p, dict) and "code" in p
        }
        self.concepts: dict[str, Concept] = {}
        self.ordered: list[Concept] = []
        self._folded: dict[str, Concept] | None = None
        self._text: TextIndex | None = None
        self._lock = threading.Lock()
        self._filters: dict[tuple, dict[str, None]] = {}
        with gc_paused(freeze=concept_count(resource) > LARGE):
            self._add_concepts(resource.get("concept") or [], None)
            self._link()

    # -- building ------------------------------------------------------------------------

    def _add_concepts(self, items: list[dict[str, Any]], parent: str | None) -> None:
        """Pre-order walk of nested concepts (document order), without recursion."""
        stack: list[tuple[Iterator[dict[str, Any]], str | None]] = [(iter(items), parent)]
        while stack:
            group, parent_code = stack[-1]
            item = next(group, None)
            if item is None:
                stack.pop()
                continue
            code = item.get("code") if isinstance(item, dict) else None
            if not isinstance(code, str):
                continue
            concept = self.concepts.get(code)
            if concept is None:  # a code repeated under another parent is one concept
                concept = self._concept(item, code)
                self.concepts[code] = concept
                self.ordered.append(concept)
            if parent_code is not None and parent_code not in concept.parents:
                concept.parents = [*concept.parents, parent_code]
            if item.get("concept"):
                stack.append((iter(item["concept"]), code))

    def _concept(self, item: dict[str, Any], code: str) -> Concept:
        concept = Concept(code, item.get("display"), len(self.ordered), item.get("definition"))
        designations = [
            Designation(_intern(d.get("language")), d.get("use"), d["value"])
            for d in item.get("designation") or ()
            if isinstance(d, dict) and isinstance(d.get("value"), str)
        ]
        if designations:
            concept.designations = tuple(designations)
        properties = []
        parents: list[str] = []
        children: list[str] = []
        for p in item.get("property") or ():
            if not isinstance(p, dict) or not isinstance(p.get("code"), str):
                continue
            kind, value = value_of(p)
            pcode = sys.intern(p["code"])
            properties.append((pcode, kind, value))
            if pcode in ("parent", "subsumedBy") and isinstance(value, str):
                parents.append(value)
            elif pcode == "child" and isinstance(value, str):
                children.append(value)
            elif _marks_inactive(pcode, value):
                concept.inactive = True
            elif pcode == "notSelectable" and value is True:
                concept.abstract = True
        if properties:
            concept.properties = tuple(properties)
        if parents:
            concept.parents = parents
        if children:
            concept.children = children
        return concept

    def _link(self) -> None:
        """Make parent and child lists agree, whichever side the resource stated."""
        concepts = self.concepts
        for concept in self.ordered:
            for child in concept.children:
                target = concepts.get(child)
                if target is not None and concept.code not in target.parents:
                    target.parents = [*target.parents, concept.code]
        children: dict[str, list[str]] = {}
        for concept in self.ordered:
            for parent in concept.parents:
                if parent in concepts:
                    found = children.setdefault(parent, [])
                    if concept.code not in found:
                        found.append(concept.code)
        for concept in self.ordered:
            concept.children = children.get(concept.code, ())

    def supplemented(self, supplements: list[dict[str, Any]]) -> CodeSystemIndex:
        """A copy with the designations and properties of CodeSystem supplements added."""
        out = copy.copy(self)
        out.concepts = dict(self.concepts)
        out._text, out._folded, out._filters = None, None, {}
        out._lock = threading.Lock()
        for supplement in supplements:
            extra = CodeSystemIndex({"concept": supplement.get("concept") or []})
            for code, added in extra.concepts.items():
                base = out.concepts.get(code) or out.get(code)
                if base is None:
                    continue  # a supplement cannot add codes
                out.concepts[base.code] = dataclasses.replace(
                    base,
                    designations=base.designations + added.designations,
                    properties=base.properties + added.properties,
                )
        out.ordered = [out.concepts[c.code] for c in self.ordered]
        return out

    # -- queries -------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.ordered)

    def get(self, code: str) -> Concept | None:
        concept = self.concepts.get(code)
        if concept is None and not self.case_sensitive:
            if self._folded is None:
                self._folded = {c.code.casefold(): c for c in self.ordered}
            concept = self._folded.get(code.casefold())
        return concept

    @property
    def text(self) -> TextIndex:
        if self._text is None:
            with self._lock:
                if self._text is None:
                    with gc_paused(freeze=len(self.ordered) > LARGE):
                        self._text = TextIndex(c.texts() for c in self.ordered)
        return self._text

    def descendants(self, code: str, include_self: bool) -> dict[str, None]:
        """Codes below `code` (and itself when asked), in hierarchy order."""
        out: dict[str, None] = {}
        root = self.get(code)
        if root is None:
            return out
        if include_self:
            out[root.code] = None
        stack = list(reversed(root.children))
        concepts = self.concepts
        while stack:
            c = stack.pop()
            if c in out:
                continue
            out[c] = None
            node = concepts.get(c)
            if node is not None:
                stack.extend(reversed(node.children))
        return out

    def ancestors(self, code: str, include_self: bool) -> dict[str, None]:
        out: dict[str, None] = {}
        root = self.get(code)
        if root is None:
            return out
        if include_self:
            out[root.code] = None
        stack = list(root.parents)
        while stack:
            c = stack.pop()
            if c in out:
                continue
            out[c] = None
            node = self.concepts.get(c)
            if node is not None:
                stack.extend(node.parents)
        return out

    def subsumes(self, code_a: str, code_b: str) -> str:
        """FHIR $subsumes outcome of A relative to B."""
        a, b = self.get(code_a), self.get(code_b)
        missing = [c for c, found in ((code_a, a), (code_b, b)) if found is None]
        if missing:
            raise FhirError(
                404, "not-found", f"Code {missing[0]!r} is not in code system {self.url}"
            )
        assert a is not None and b is not None
        if a.code == b.code:
            return "equivalent"
        if a.code in self.ancestors(b.code, False):
            return "subsumes"
        if b.code in self.ancestors(a.code, False):
            return "subsumed-by"
        return "not-subsumed"

    # -- ValueSet filters ----------------------------------------------------------------

    def cached_filter(self, prop: Any, op: Any, value: Any) -> dict[str, None]:
        """`filter` with its result kept (value sets reuse the same filters a lot)."""
        key = (prop, op, value)
        found = self._filters.get(key) if isinstance(value, str | None) else None
        if found is None:
            found = self.filter(prop, op, value)
            if isinstance(value, str):
                with self._lock:
                    if len(self._filters) > 256:
                        self._filters.clear()
                    self._filters[key] = found
        return found

    def filter(self, prop: str, op: str, value: Any) -> dict[str, None]:
        """Codes matching one `compose.include.filter`; a malformed filter raises 400."""
        if not isinstance(prop, str) or not prop or not isinstance(op, str):
            raise bad_filter("A filter needs a property and an op")
        if value is None or (not isinstance(value, str)) or (value == "" and op != "exists"):
            raise bad_filter(f"Filter {prop} {op} needs a value")
        if op in ("is-a", "descendent-of", "is-not-a", "generalizes", "child-of"):
            if (
                prop not in ("concept", "code", "parent", "child")
                and prop not in self.property_defs
            ):
                raise bad_filter(
                    f"Filter op {op!r} applies to the 'concept' property, not {prop!r}"
                )
            return self._hierarchy_filter(op, value)
        if op == "=":
            return self._select(lambda c: value in self._values(c, prop), prop)
        if op in ("in", "not-in"):
            wanted = {v.strip() for v in value.split(",") if v.strip()}
            if not wanted:
                raise bad_filter(f"Filter {prop} {op} needs a comma-separated list of values")
            keep = op == "in"
            return self._select(lambda c: bool(wanted & set(self._values(c, prop))) == keep, prop)
        if op == "regex":
            if len(value) > MAX_REGEX:
                raise bad_filter(f"Regular expressions are limited to {MAX_REGEX} characters")
            try:
                pattern = re.compile(value)
            except re.error as exc:
                raise bad_filter(f"Invalid regular expression {value!r}: {exc}") from exc
            return self._select(
                lambda c: any(pattern.fullmatch(v) for v in self._values(c, prop)), prop
            )
        if op == "exists":
            if value not in ("true", "false"):
                raise bad_filter(f"Filter {prop} exists takes 'true' or 'false', not {value!r}")
            want = value == "true"
            return self._select(lambda c: bool(self._values(c, prop)) == want, prop, check=False)
        raise bad_filter(f"Unsupported filter op {op!r}")

    def _hierarchy_filter(self, op: str, value: str) -> dict[str, None]:
        codes = (
            [v.strip() for v in value.split(",")] if op in ("is-a", "descendent-of") else [value]
        )
        out: dict[str, None] = {}
        for code in codes:
            if self.get(code) is None:
                raise bad_filter(f"Filter value {code!r} is not a code of {self.url}")
        if op == "is-not-a":
            below = self.descendants(codes[0], True)
            return {c.code: None for c in self.ordered if c.code not in below}
        for code in codes:
            if op == "is-a":
                out.update(self.descendants(code, True))
            elif op == "descendent-of":
                out.update(self.descendants(code, False))
            elif op == "generalizes":
                out.update(self.ancestors(code, True))
            else:  # child-of (R5)
                node = self.get(code)
                out.update(dict.fromkeys(node.children if node else ()))
        return out

    def _values(self, concept: Concept, prop: str) -> list[str]:
        if prop in ("code", "concept"):
            return [concept.code]
        if prop == "display":
            return [concept.display] if concept.display else []
        if prop == "inactive":
            return ["true" if concept.inactive else "false"]
        if prop == "parent":
            return list(concept.parents)
        if prop == "child":
            return list(concept.children)
        out = []
        for code, _kind, value in concept.properties:
            if code == prop and value is not None:
                if isinstance(value, dict):  # Coding
                    out.append(str(value.get("code")))
                elif isinstance(value, bool):
                    out.append("true" if value else "false")
                else:
                    out.append(str(value))
        return out

    def _select(self, test, prop: str, check: bool = True) -> dict[str, None]:  # noqa: ANN001
        known = prop in ("code", "concept", "display", "inactive", "parent", "child")
        if check and not known and prop not in self.property_defs and not self._used(prop):
            raise bad_filter(f"Code system {self.url} has no property {prop!r}")
        return {c.code: None for c in self.ordered if test(c)}

    def _used(self, prop: str) -> bool:
        return any(code == prop for c in self.ordered for code, _k, _v in c.properties)


def concept_count(resource: dict[str, Any]) -> int:
    total, stack = 0, [resource.get("concept") or []]
    while stack:
        group = stack.pop()
        total += len(group)
        stack.extend(c["concept"] for c in group if isinstance(c, dict) and c.get("concept"))
    return total


HIERARCHY_PROPERTIES = _HIERARCHY_PROPS
