"""ConceptMap index for `$translate`, forward (source -> target) and reverse."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Reading a map backwards turns "the target is wider" into "the source is narrower".
_INVERSE = {
    "wider": "narrower",
    "narrower": "wider",
    "subsumes": "specializes",
    "specializes": "subsumes",
}
NOT_A_MATCH = {"unmatched", "disjoint"}


@dataclass(frozen=True, slots=True)
class Match:
    equivalence: str
    system: str | None
    version: str | None
    code: str | None
    display: str | None
    comment: str | None
    source: str  # canonical of the ConceptMap
    product: tuple[dict[str, Any], ...] = ()
    depends_on: tuple[dict[str, Any], ...] = ()


class ConceptMapIndex:
    def __init__(self, resource: dict[str, Any]) -> None:
        url = resource.get("url") or ""
        version = resource.get("version")
        self.canonical = f"{url}|{version}" if version else url
        self.source_vs = resource.get("sourceUri") or resource.get("sourceCanonical")
        self.target_vs = resource.get("targetUri") or resource.get("targetCanonical")
        self.forward: dict[tuple[str | None, str], list[Match]] = {}
        self.reverse: dict[tuple[str | None, str], list[Match]] = {}
        self.unmapped: dict[str | None, list[dict[str, Any]]] = {}
        self.source_systems: set[str | None] = set()
        self.target_systems: set[str | None] = set()
        for group in resource.get("group") or []:
            self._add_group(group)

    def _add_group(self, group: dict[str, Any]) -> None:
        src, tgt = group.get("source"), group.get("target")
        src_v, tgt_v = group.get("sourceVersion"), group.get("targetVersion")
        self.source_systems.add(src)
        self.target_systems.add(tgt)
        for element in group.get("element") or []:
            code = element.get("code")
            for target in element.get("target") or []:
                eq = target.get("equivalence") or "equivalent"
                if code:
                    self.forward.setdefault((src, code), []).append(
                        Match(
                            eq,
                            tgt,
                            tgt_v,
                            target.get("code"),
                            target.get("display"),
                            target.get("comment"),
                            self.canonical,
                            tuple(target.get("product") or ()),
                            tuple(target.get("dependsOn") or ()),
                        )
                    )
                if target.get("code") and code:
                    self.reverse.setdefault((tgt, target["code"]), []).append(
                        Match(
                            _INVERSE.get(eq, eq),
                            src,
                            src_v,
                            code,
                            element.get("display"),
                            target.get("comment"),
                            self.canonical,
                        )
                    )
        if isinstance(group.get("unmapped"), dict):
            self.unmapped.setdefault(src, []).append({**group["unmapped"], "target": tgt})

    def translate(
        self, system: str | None, code: str, target_system: str | None, reverse: bool
    ) -> list[Match]:
        table = self.reverse if reverse else self.forward
        found = list(table.get((system, code), ()))
        if system is None:  # no system given: any group
            for (sys_, c), matches in table.items():
                if c == code and sys_ is not None:
                    found.extend(matches)
        if not found and not reverse:
            for rule in self.unmapped.get(system, ()):
                mode = rule.get("mode")
                if mode == "provided":
                    found.append(
                        Match("equal", rule.get("target"), None, code, None, None, self.canonical)
                    )
                elif mode == "fixed" and rule.get("code"):
                    found.append(
                        Match(
                            "equivalent",
                            rule.get("target"),
                            None,
                            rule["code"],
                            rule.get("display"),
                            None,
                            self.canonical,
                        )
                    )
        if target_system:
            found = [m for m in found if m.system == target_system]
        return found
