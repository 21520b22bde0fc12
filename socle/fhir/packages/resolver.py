"""Dependency resolution between packages and the canonical resolver (`url`, `url|version`).

French guides pin dependency versions that are rarely all available together (FR Core
2.1.0 asked for, 2.2.0 installed). Resolution is therefore lenient:

* `hl7.fhir.r4.core` is always satisfied by the vendored core;
* an exact `name@version` is used when present; otherwise the highest installed version
  of the same package is used, with a warning;
* a dependency that is missing entirely is a warning: the definitions it would bring
  (often terminology) are simply not available, and the validator says so when it needs one.

Canonical references follow the same rule: `url|version` picks that version when loaded,
else the highest loaded version of `url` (recorded as a substitution), and a bare `url`
picks the highest version.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from socle.fhir.packages.core import CORE_NAME, CORE_VERSION
from socle.fhir.packages.npm import NpmPackage, PackageResource, version_key

log = logging.getLogger(__name__)


@dataclass(slots=True)
class DependencyReport:
    """How each declared dependency was satisfied."""

    package: str  # name@version of the dependent package
    dependency: str  # name
    requested: str  # version asked for
    used: str | None  # version used, None when missing
    note: str = ""

    @property
    def exact(self) -> bool:
        return self.used == self.requested


@dataclass(slots=True)
class Resolution:
    packages: list[NpmPackage]  # every loaded package, dependencies first
    dependencies: list[DependencyReport] = field(default_factory=list)

    @property
    def warnings(self) -> list[str]:
        out = []
        for dep in self.dependencies:
            if dep.exact:
                continue
            if dep.used is None:
                out.append(
                    f"{dep.package}: dependency {dep.dependency}@{dep.requested} is not "
                    "available; its definitions are not loaded"
                )
            else:
                out.append(
                    f"{dep.package}: dependency {dep.dependency}@{dep.requested} resolved "
                    f"to {dep.used}{' (' + dep.note + ')' if dep.note else ''}"
                )
        return out


def resolve_dependencies(packages: Iterable[NpmPackage]) -> Resolution:
    """Check every package's dependencies against what is loaded (see module doc)."""
    pkgs = list(packages)
    by_name: dict[str, list[NpmPackage]] = {}
    for p in pkgs:
        by_name.setdefault(p.name, []).append(p)
    for versions in by_name.values():
        versions.sort(key=lambda p: version_key(p.version))
    reports: list[DependencyReport] = []
    for p in pkgs:
        for dep, wanted in p.manifest.dependencies:
            if dep == CORE_NAME:
                note = "" if wanted == CORE_VERSION else "vendored core"
                reports.append(DependencyReport(p.key, dep, wanted, CORE_VERSION, note))
                continue
            available = by_name.get(dep, [])
            exact = [a for a in available if a.version == wanted]
            if exact:
                reports.append(DependencyReport(p.key, dep, wanted, wanted))
            elif available:
                reports.append(
                    DependencyReport(p.key, dep, wanted, available[-1].version, "highest loaded")
                )
            else:
                reports.append(DependencyReport(p.key, dep, wanted, None))
    ordered = _dependency_order(pkgs, by_name)
    return Resolution(ordered, reports)


def _dependency_order(
    pkgs: list[NpmPackage], by_name: dict[str, list[NpmPackage]]
) -> list[NpmPackage]:
    """Packages with their dependencies before them (cycles broken arbitrarily)."""
    out: list[NpmPackage] = []
    state: dict[str, int] = {}

    def visit(p: NpmPackage) -> None:
        if state.get(p.key):
            return
        state[p.key] = 1
        for dep, _ in p.manifest.dependencies:
            for q in by_name.get(dep, [])[-1:]:
                visit(q)
        state[p.key] = 2
        out.append(p)

    for p in sorted(pkgs, key=lambda p: (p.name, version_key(p.version))):
        visit(p)
    return out


def split_canonical(canonical: str) -> tuple[str, str | None]:
    """`url|version` -> (url, version); fragments (`#x`) are dropped."""
    url, sep, version = canonical.partition("|")
    url = url.split("#", 1)[0]
    version = version.split("#", 1)[0]
    return url, (version or None) if sep else None


class CanonicalIndex:
    """Conformance resources by canonical URL, across packages and the vendored core.

    The core is loaded the first time a URL is not found among the other packages (most
    base definitions are only needed then), through `core_loader`.
    """

    def __init__(
        self,
        packages: Iterable[NpmPackage],
        core_loader: Callable[[], NpmPackage] | None = None,
    ) -> None:
        self._by_url: dict[str, list[PackageResource]] = {}
        self._core_loader = core_loader
        self._core_loaded = core_loader is None
        self._lock = threading.Lock()
        self.substitutions: dict[str, str] = {}  # "url|asked" -> version used
        for p in packages:
            self._add(p.resources)

    def _add(self, items: Iterable[PackageResource]) -> None:
        for r in items:
            if r.url:
                self._by_url.setdefault(r.url, []).append(r)

    def _ensure_core(self) -> None:
        if self._core_loaded:
            return
        with self._lock:
            if not self._core_loaded and self._core_loader is not None:
                core = self._core_loader()
                # core first: a package redefining a core URL with the same version wins
                for r in core.resources:
                    if r.url:
                        self._by_url.setdefault(r.url, []).insert(0, r)
                self._core_loaded = True

    def candidates(self, url: str) -> list[PackageResource]:
        found = self._by_url.get(url)
        if not found:
            self._ensure_core()
            found = self._by_url.get(url)
        return list(found or ())

    def resolve(self, canonical: str, resource_type: str | None = None) -> PackageResource | None:
        url, version = split_canonical(canonical)
        found = [
            r
            for r in self.candidates(url)
            if resource_type is None or r.resource_type == resource_type
        ]
        if version is not None:
            exact = [r for r in found if r.version == version]
            if not exact and not self._core_loaded:
                self._ensure_core()
                found = [
                    r
                    for r in self._by_url.get(url, ())
                    if resource_type is None or r.resource_type == resource_type
                ]
                exact = [r for r in found if r.version == version]
            if exact:
                return exact[-1]
        if not found:
            return None
        best = max(enumerate(found), key=lambda t: (version_key(t[1].version or ""), t[0]))[1]
        if version is not None and best.version != version:
            key = f"{url}|{version}"
            if key not in self.substitutions:
                self.substitutions[key] = best.version or "?"
                log.debug("canonical %s resolved to version %s", key, best.version)
        return best

    def urls(self) -> list[str]:
        return list(self._by_url)
