"""Terminology for binding checks: a small interface and an in-memory implementation.

`Terminology` is what the profile validator calls; a terminology server (the SMT, a FHIR
`$validate-code` endpoint) can replace `InMemoryTerminology` later without touching the
validator.

`InMemoryTerminology` expands ValueSets from the loaded packages and the vendored core:
`compose.include` with concept lists, whole code systems (when the CodeSystem is loaded and
complete), `is-a`/`descendent-of`/`=` filters on loaded hierarchies, imported value sets and
`compose.exclude` concept lists, or a pre-computed `expansion`. Whatever it cannot
enumerate (SNOMED CT, LOINC, the NOS code systems not shipped in the packages, other
filters) is answered with "unknown" rather than a false error.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from socle.fhir.packages.context import ConformanceContext

#: Result of a membership test: True (member), False (not a member), None (cannot tell).
Membership = bool | None


class Terminology(Protocol):
    """What the validator needs from a terminology service."""

    def has_value_set(self, value_set: str) -> bool:
        """True when `value_set` (a canonical, maybe `|version`) is known."""
        ...

    def validate_code(self, value_set: str, system: str | None, code: str) -> Membership:
        """Is `system|code` in the value set? `system` None: a bare `code` element."""
        ...


@dataclass(slots=True)
class Expansion:
    """What is known of one value set's content."""

    codes: dict[str, set[str]] = field(default_factory=dict)  # system -> codes
    open_systems: set[str] = field(default_factory=set)  # systems whose codes we cannot list
    open_any: bool = False  # an unresolvable part (imported set, no system...) exists

    def add(self, system: str, codes: Iterable[str]) -> None:
        self.codes.setdefault(system, set()).update(codes)

    def merge(self, other: Expansion) -> None:
        for system, codes in other.codes.items():
            self.add(system, codes)
        self.open_systems |= other.open_systems
        self.open_any = self.open_any or other.open_any

    def contains(self, system: str | None, code: str) -> Membership:
        if system is None:
            if any(code in codes for codes in self.codes.values()):
                return True
            if self.open_systems and not self.open_any:
                return _by_grammar(self.open_systems, code)
            return None if (self.open_systems or self.open_any) else False
        if code in self.codes.get(system, ()):
            return True
        if system in self.open_systems and not self.open_any:
            return _by_grammar({system}, code)
        if system in self.open_systems or self.open_any:
            return None
        return False


# Code systems defined by a grammar rather than a list (whole-system includes of them can
# still be judged): MIME types (RFC 6838 `type/subtype`, parameters allowed) and language
# tags (BCP 47, with private-use and grandfathered `i-` tags).
_TOKEN = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
_GRAMMARS = {
    "urn:ietf:bcp:13": re.compile(rf"{_TOKEN}/{_TOKEN}(\s*;\s*[^;=\s]+=\S+)*"),
    "urn:ietf:bcp:47": re.compile(
        r"(?:[A-Za-z]{2,3}(?:-[A-Za-z]{3}){0,3}|[A-Za-z]{4,8})(?:-[A-Za-z0-9]{1,8})*"
        r"|[xXiI](?:-[A-Za-z0-9]{1,8})+"
    ),
}


def _by_grammar(systems: set[str], code: str) -> Membership:
    """False when every open system has a grammar the code breaks; else unknown."""
    if not systems or any(s not in _GRAMMARS for s in systems):
        return None
    return None if any(_GRAMMARS[s].fullmatch(code) for s in systems) else False


class InMemoryTerminology:
    """Expands value sets from a `ConformanceContext`, once each (thread-safe cache)."""

    def __init__(self, context: ConformanceContext) -> None:
        self.context = context
        self._expansions: dict[str, Expansion | None] = {}
        self._systems: dict[str, tuple[dict[str, Any], dict[str, list[str]]] | None] = {}
        self._lock = threading.Lock()

    # -- Terminology -----------------------------------------------------------------------

    def has_value_set(self, value_set: str) -> bool:
        return self.expansion(value_set) is not None

    def validate_code(self, value_set: str, system: str | None, code: str) -> Membership:
        expansion = self.expansion(value_set)
        if expansion is None:
            return None
        return expansion.contains(system, code)

    # -- expansion -------------------------------------------------------------------------

    def expansion(self, value_set: str) -> Expansion | None:
        if value_set in self._expansions:
            return self._expansions[value_set]
        result = self._expand(value_set, frozenset())
        with self._lock:
            self._expansions[value_set] = result
        return result

    def _expand(self, value_set: str, seen: frozenset[str]) -> Expansion | None:
        vs = self.context.value_set(value_set)
        if vs is None or value_set in seen:
            return None
        seen = seen | {value_set}
        out = Expansion()
        compose = vs.get("compose")
        if not isinstance(compose, dict):
            contains = (vs.get("expansion") or {}).get("contains")
            if not contains:
                out.open_any = True
                return out
            self._from_expansion(contains, out)
            return out
        for include in compose.get("include") or ():
            if isinstance(include, dict):
                out.merge(self._include(include, seen))
        for exclude in compose.get("exclude") or ():
            if isinstance(exclude, dict) and exclude.get("system") and exclude.get("concept"):
                codes = out.codes.get(exclude["system"])
                if codes:
                    codes.difference_update(
                        c.get("code") for c in exclude["concept"] if isinstance(c, dict)
                    )
        return out

    def _from_expansion(self, contains: list[Any], out: Expansion) -> None:
        for item in contains:
            if not isinstance(item, dict):
                continue
            if item.get("system") and item.get("code"):
                out.add(item["system"], [item["code"]])
            self._from_expansion(item.get("contains") or [], out)

    def _include(self, include: dict[str, Any], seen: frozenset[str]) -> Expansion:
        out = Expansion()
        system = include.get("system")
        imported = include.get("valueSet") or []
        for vs in imported:
            sub = self._expand(vs, seen) if isinstance(vs, str) else None
            if sub is None:
                if system:
                    out.open_systems.add(system)
                else:
                    out.open_any = True
            elif not system:
                out.merge(sub)
        if not system:
            return out
        concepts = include.get("concept")
        filters = include.get("filter")
        if concepts:
            out.add(system, (c["code"] for c in concepts if isinstance(c, dict) and c.get("code")))
        elif filters:
            codes = self._filtered(system, filters)
            if codes is None:
                out.open_systems.add(system)
            else:
                out.add(system, codes)
        else:
            codes = self._all_codes(system)
            if codes is None:
                out.open_systems.add(system)
            else:
                out.add(system, codes)
        if imported and system:
            # `system` + `valueSet`: the intersection; keep it permissive (union of known)
            out.open_systems.add(system)
        return out

    # -- code systems ----------------------------------------------------------------------

    def _system(self, system: str) -> tuple[dict[str, Any], dict[str, list[str]]] | None:
        """(code -> concept, code -> child codes) of a complete CodeSystem, else None."""
        if system in self._systems:
            return self._systems[system]
        cs = self.context.code_system(system)
        result = None
        if cs is not None and cs.get("content", "complete") == "complete":
            concepts: dict[str, Any] = {}
            children: dict[str, list[str]] = {}
            self._walk(cs.get("concept") or [], None, concepts, children)
            for concept in concepts.values():
                for prop in concept.get("property") or ():
                    if prop.get("code") in ("parent", "subsumedBy") and prop.get("valueCode"):
                        children.setdefault(prop["valueCode"], []).append(concept["code"])
            result = (concepts, children)
        with self._lock:
            self._systems[system] = result
        return result

    def _walk(
        self,
        items: list[Any],
        parent: str | None,
        concepts: dict[str, Any],
        children: dict[str, list[str]],
    ) -> None:
        for c in items:
            if not isinstance(c, dict) or not isinstance(c.get("code"), str):
                continue
            concepts[c["code"]] = c
            if parent is not None:
                children.setdefault(parent, []).append(c["code"])
            self._walk(c.get("concept") or [], c["code"], concepts, children)

    def _all_codes(self, system: str) -> set[str] | None:
        found = self._system(system)
        return None if found is None else set(found[0])

    def _filtered(self, system: str, filters: list[Any]) -> set[str] | None:
        found = self._system(system)
        if found is None:
            return None
        concepts, children = found
        result: set[str] | None = None
        for f in filters:
            if not isinstance(f, dict):
                return None
            prop, op, value = f.get("property"), f.get("op"), f.get("value")
            if prop not in ("concept", "code") or not isinstance(value, str):
                return None
            if op == "=":
                codes = {value} if value in concepts else set()
            elif op in ("is-a", "descendent-of"):
                codes = self._descendants(value, children)
                if op == "is-a" and value in concepts:
                    codes.add(value)
            elif op == "in":
                codes = {v.strip() for v in value.split(",") if v.strip() in concepts}
            else:
                return None
            result = codes if result is None else result & codes
        return result or set()

    @staticmethod
    def _descendants(code: str, children: dict[str, list[str]]) -> set[str]:
        out: set[str] = set()
        stack = list(children.get(code, ()))
        while stack:
            c = stack.pop()
            if c not in out:
                out.add(c)
                stack.extend(children.get(c, ()))
        return out
