"""ValueSet expansion: `compose` include/exclude, filters, nested value sets.

An expansion is computed as a `CodeSet`: for each code system, either "every concept"
(kept symbolic, so a value set of a whole 100,000-concept system costs nothing) or an
ordered dictionary of codes with the display the value set gives them. Includes are
unions, excludes differences, nested value sets intersections. The result is cached by
the service (per tenant, dropped when a terminology resource changes) and the text filter
and paging work on it directly: the text filter uses the code system's word index for
"every concept" parts and a small index built once per part otherwise.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from socle.fhir.errors import FhirError
from socle.terminology.codesystem import CodeSystemIndex, Concept, bad_filter
from socle.terminology.svs import DEPRECATED_EXT
from socle.terminology.textindex import TextIndex

MAX_DEPTH = 16


@dataclass(slots=True)
class Part:
    """The codes of one system in a value set."""

    system: str
    version: str | None
    cs: CodeSystemIndex | None
    all: bool = False
    codes: dict[str, str | None] = field(default_factory=dict)  # code -> display override
    deprecated: set[str] = field(default_factory=set)
    _text: TextIndex | None = None
    _order: list[str] | None = None

    def __len__(self) -> int:
        return len(self.cs) if self.all and self.cs is not None else len(self.codes)

    def contains(self, code: str) -> bool:
        if self.all:
            return self.cs is not None and self.cs.get(code) is not None
        return code in self.codes

    def code_list(self) -> list[str]:
        if self.all:
            assert self.cs is not None
            return [c.code for c in self.cs.ordered]
        if self._order is None:
            self._order = list(self.codes)
        return self._order

    def materialize(self) -> dict[str, str | None]:
        if self.all:
            assert self.cs is not None
            return dict.fromkeys(c.code for c in self.cs.ordered)
        return self.codes

    def concept(self, code: str) -> Concept | None:
        return self.cs.get(code) if self.cs is not None else None

    def search(self, query: str, lock: threading.Lock) -> list[int] | None:
        """Positions (see `code_at`) of this part's codes whose texts match the query."""
        if self.all:
            assert self.cs is not None
            return self.cs.text.search(query)
        if self._text is None:
            with lock:
                if self._text is None:
                    order = self.code_list()
                    self._text = TextIndex(self._texts(code) for code in order)
        return self._text.search(query)

    def code_at(self, position: int) -> str:
        if self.all:
            assert self.cs is not None
            return self.cs.ordered[position].code
        return self.code_list()[position]

    def _texts(self, code: str) -> list[str | None]:
        texts: list[str | None] = [code, self.codes.get(code)]
        concept = self.concept(code)
        if concept is not None:
            texts.extend(concept.texts())
        return texts


class CodeSet:
    """Parts by system, in the order the value set introduced them."""

    def __init__(self) -> None:
        self.parts: dict[str, Part] = {}
        self.lock = threading.Lock()
        self.warnings: list[str] = []
        self.used: dict[str, str | None] = {}  # code system canonicals used
        self.is_empty_compose = False

    @property
    def total(self) -> int:
        return sum(len(p) for p in self.parts.values())

    def contains(self, system: str, code: str) -> Part | None:
        part = self.parts.get(system)
        return part if part is not None and part.contains(code) else None

    def union(self, other: CodeSet) -> None:
        for system, part in other.parts.items():
            mine = self.parts.get(system)
            if mine is None:
                self.parts[system] = part
            elif mine.all or part.all:
                if not mine.all:
                    self.parts[system] = _all_part(part if part.all else mine, mine)
            else:
                merged = dict(mine.codes)
                for code, display in part.codes.items():
                    if code not in merged or merged[code] is None:
                        merged[code] = display
                self.parts[system] = Part(
                    system,
                    mine.version,
                    mine.cs,
                    codes=merged,
                    deprecated=mine.deprecated | part.deprecated,
                )
        self.warnings.extend(other.warnings)
        self.used.update(other.used)

    def intersect(self, other: CodeSet) -> None:
        for system in list(self.parts):
            mine, theirs = self.parts[system], other.parts.get(system)
            if theirs is None:
                del self.parts[system]
            elif mine.all and theirs.all:
                continue
            elif mine.all:
                keep = {c: d for c, d in theirs.codes.items() if mine.contains(c)}
                self.parts[system] = Part(system, mine.version, mine.cs, codes=keep)
            else:
                keep = {}
                for c, d in mine.codes.items():
                    if theirs.contains(c):
                        keep[c] = d if d is not None or theirs.all else theirs.codes.get(c)
                self.parts[system] = Part(
                    system, mine.version, mine.cs, codes=keep, deprecated=mine.deprecated
                )
        self.used.update(other.used)

    def subtract(self, other: CodeSet) -> None:
        for system, theirs in other.parts.items():
            mine = self.parts.get(system)
            if mine is None:
                continue
            if theirs.all:
                del self.parts[system]
                continue
            codes = {c: d for c, d in mine.materialize().items() if c not in theirs.codes}
            self.parts[system] = Part(
                system, mine.version, mine.cs, codes=codes, deprecated=mine.deprecated
            )

    def drop_inactive(self) -> None:
        for system, part in list(self.parts.items()):
            cs = part.cs
            if part.all and cs is not None and not any(c.inactive for c in cs.ordered):
                continue
            codes = {
                c: d
                for c, d in part.materialize().items()
                if c not in part.deprecated and not _inactive(part.concept(c))
            }
            self.parts[system] = Part(system, part.version, cs, codes=codes)

    def entries(self) -> Iterator[tuple[Part, str]]:
        for part in self.parts.values():
            for code in part.code_list():
                yield part, code

    def search(self, query: str) -> list[tuple[Part, list[int]]] | None:
        """Matches per part, as positions: mapped to codes only for the page shown."""
        out: list[tuple[Part, list[int]]] = []
        for part in self.parts.values():
            found = part.search(query, self.lock)
            if found is None:
                return None
            if found:
                out.append((part, found))
        return out

    @staticmethod
    def page(
        matches: list[tuple[Part, list[int]]], offset: int, count: int | None
    ) -> list[tuple[Part, str]]:
        out: list[tuple[Part, str]] = []
        skip = offset
        for part, positions in matches:
            if skip >= len(positions):
                skip -= len(positions)
                continue
            stop = None if count is None else skip + (count - len(out))
            out.extend((part, part.code_at(p)) for p in positions[skip:stop])
            skip = 0
            if count is not None and len(out) >= count:
                break
        return out

    def slice(self, offset: int, count: int | None) -> list[tuple[Part, str]]:
        """Entries [offset, offset+count) without walking the parts before them."""
        out: list[tuple[Part, str]] = []
        skip = offset
        for part in self.parts.values():
            size = len(part)
            if skip >= size:
                skip -= size
                continue
            codes = part.code_list()
            stop = None if count is None else skip + (count - len(out))
            out.extend((part, c) for c in codes[skip:stop])
            skip = 0
            if count is not None and len(out) >= count:
                break
        return out


def _inactive(concept: Concept | None) -> bool:
    return concept is not None and concept.inactive


def _all_part(all_part: Part, other: Part) -> Part:
    return Part(all_part.system, all_part.version or other.version, all_part.cs, all=True)


@dataclass(slots=True)
class ExpandOptions:
    active_only: bool = False
    system_versions: dict[str, str] = field(default_factory=dict)  # system-version
    force_versions: dict[str, str] = field(default_factory=dict)  # force-system-version
    exclude_systems: set[str] = field(default_factory=set)

    def key(self) -> tuple:
        return (
            self.active_only,
            tuple(sorted(self.system_versions.items())),
            tuple(sorted(self.force_versions.items())),
            tuple(sorted(self.exclude_systems)),
        )


class UnknownCodeSystem(FhirError):
    def __init__(self, system: str, version: str | None, where: str) -> None:
        ref = f"{system}|{version}" if version else system
        super().__init__(
            404,
            "not-found",
            f"Code system {ref} is not known to this server; {where} cannot be evaluated",
        )
        self.system = system


class Expander:
    """Evaluates compose definitions against the catalogue (through callbacks)."""

    def __init__(
        self,
        codesystem: Callable[[str, str | None], tuple[str, str | None, CodeSystemIndex] | None],
        valueset: Callable[[str], CodeSet],
        options: ExpandOptions,
    ) -> None:
        self.codesystem = codesystem  # (system, version) -> (url, version, index) or None
        self.valueset = valueset  # canonical -> CodeSet (cached, cycle-checked by the caller)
        self.options = options

    def expand(self, resource: dict[str, Any]) -> CodeSet:
        compose = resource.get("compose")
        if not isinstance(compose, dict):
            return self._from_expansion(resource)
        result = CodeSet()
        includes = compose.get("include") or []
        if not includes:
            result.is_empty_compose = True
        for i, inc in enumerate(includes):
            result.union(self._clause(inc, f"ValueSet.compose.include[{i}]"))
        for i, exc in enumerate(compose.get("exclude") or []):
            result.subtract(self._clause(exc, f"ValueSet.compose.exclude[{i}]"))
        if self.options.active_only or compose.get("inactive") is False:
            result.drop_inactive()
        if resource.get("expansion"):  # a published expansion may name what compose does not
            _fill_displays(result, self._from_expansion(resource))
        return result

    def _from_expansion(self, resource: dict[str, Any]) -> CodeSet:
        """A value set published only with its expansion."""
        result = CodeSet()
        stack = list(reversed((resource.get("expansion") or {}).get("contains") or []))
        while stack:
            item = stack.pop()
            if item.get("code") and item.get("system"):
                part = result.parts.get(item["system"])
                if part is None:
                    found = self.codesystem(item["system"], item.get("version"))
                    cs = found[2] if found else None
                    part = Part(item["system"], item.get("version"), cs)
                    result.parts[item["system"]] = part
                part.codes[item["code"]] = item.get("display")
            stack.extend(reversed(item.get("contains") or []))
        return result

    def _clause(self, inc: dict[str, Any], where: str) -> CodeSet:
        if not isinstance(inc, dict):
            raise FhirError(400, "invalid", f"{where} is not an object", where)
        system = inc.get("system")
        out: CodeSet | None = None
        if system:
            if system in self.options.exclude_systems:
                return CodeSet()
            out = self._system_part(system, inc, where)
        elif inc.get("concept") or inc.get("filter"):
            raise FhirError(400, "invalid", f"{where} has concepts or filters but no system", where)
        for canonical in inc.get("valueSet") or []:
            nested = self.valueset(canonical)
            if out is None:
                out = CodeSet()
                out.union(nested)
            else:
                out.intersect(nested)
        return out or CodeSet()

    def _system_part(self, system: str, inc: dict[str, Any], where: str) -> CodeSet:
        opts = self.options
        version = opts.force_versions.get(system) or inc.get("version")
        version = version or opts.system_versions.get(system)
        found = self.codesystem(system, version)
        out = CodeSet()
        concepts = inc.get("concept") or []
        filters = inc.get("filter") or []
        if found is None:
            if filters or not concepts:
                raise UnknownCodeSystem(system, version, where)
            part = Part(system, version, None)
            for c in concepts:
                if isinstance(c, dict) and isinstance(c.get("code"), str):
                    part.codes[c["code"]] = c.get("display")
                    if _deprecated(c):
                        part.deprecated.add(c["code"])
            out.parts[system] = part
            out.warnings.append(f"Code system {system} is not known; codes listed as given")
            return out
        url, cs_version, cs = found
        out.used[url] = cs_version
        part = Part(url, cs_version, cs)
        if concepts:
            for c in concepts:
                if not isinstance(c, dict) or not isinstance(c.get("code"), str):
                    continue
                concept = cs.get(c["code"])
                code = concept.code if concept is not None else c["code"]
                part.codes[code] = c.get("display")
                if _deprecated(c):
                    part.deprecated.add(code)
            if filters:  # both: the listed codes that also pass the filters
                for f in filters:
                    part.codes = {k: v for k, v in part.codes.items() if k in _run_filter(cs, f)}
        elif filters:
            selected: dict[str, None] | None = None
            for i, f in enumerate(filters):
                codes = _run_filter(cs, f, f"{where}.filter[{i}]")
                selected = codes if selected is None else {c: None for c in selected if c in codes}
            part.codes = dict(selected or {})
        else:
            part.all = True
        out.parts[url] = part
        return out


def _fill_displays(result: CodeSet, published: CodeSet) -> None:
    for system, part in result.parts.items():
        other = published.parts.get(system)
        if other is None or part.all:
            continue
        for code, display in part.codes.items():
            if display is None and other.codes.get(code):
                part.codes[code] = other.codes[code]


def _deprecated(concept: dict[str, Any]) -> bool:
    return any(
        e.get("url") == DEPRECATED_EXT and e.get("valueBoolean") is True
        for e in concept.get("extension") or []
        if isinstance(e, dict)
    )


def _run_filter(cs: CodeSystemIndex, f: Any, where: str = "filter") -> dict[str, None]:
    if not isinstance(f, dict):
        raise bad_filter(f"{where} is not an object")
    return cs.cached_filter(f.get("property"), f.get("op"), f.get("value"))
