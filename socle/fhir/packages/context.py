"""The conformance context: every definition the validator and the server can use.

It gathers the active packages (vendored + installed), the vendored R4 core, and any
definitions added at run time (`add`), resolves canonicals leniently and caches parsed
resources. Validators only see this object, never the archives.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from socle.fhir.packages.core import CORE_NAME, core_package
from socle.fhir.packages.npm import Manifest, NpmPackage, PackageResource, _indexed
from socle.fhir.packages.resolver import CanonicalIndex, Resolution, resolve_dependencies
from socle.fhir.packages.store import PackageStore

LOCAL_PACKAGE = "local@0.0.0"
_CORE_SD = "http://hl7.org/fhir/StructureDefinition/"


class ConformanceContext:
    """Resolves canonicals to parsed conformance resources (thread-safe, cached)."""

    def __init__(self, packages: list[NpmPackage], *, load_core: bool = True) -> None:
        self.resolution: Resolution = resolve_dependencies(packages)
        self.packages: list[NpmPackage] = self.resolution.packages
        self.index = CanonicalIndex(self.packages, core_package if load_core else None)
        self._parsed: dict[int, dict[str, Any]] = {}
        self._local: dict[str, PackageResource] = {}
        self._lock = threading.Lock()
        self.generation = 0  # bumped when definitions are added (caches key on it)

    @classmethod
    def from_store(cls, store: PackageStore) -> ConformanceContext:
        return cls(store.packages())

    @classmethod
    def for_data_dir(cls, data_dir: Path | None) -> ConformanceContext:
        return cls.from_store(PackageStore(data_dir))

    # -- lookups ---------------------------------------------------------------------------

    def resolve(self, canonical: str, resource_type: str | None = None) -> dict[str, Any] | None:
        """The parsed resource for a canonical (shared: callers must not modify it)."""
        found = self._local.get(canonical.split("|", 1)[0]) if self._local else None
        if found is None or (resource_type and found.resource_type != resource_type):
            found = self.index.resolve(canonical, resource_type)
        if found is None:
            return None
        return self.parsed(found)

    def parsed(self, item: PackageResource) -> dict[str, Any]:
        key = id(item)
        cached = self._parsed.get(key)
        if cached is None:
            cached = orjson.loads(item.raw)
            with self._lock:
                cached = self._parsed.setdefault(key, cached)
        return cached

    def structure_definition(self, canonical: str) -> dict[str, Any] | None:
        return self.resolve(canonical, "StructureDefinition")

    def type_definition(self, type_code: str) -> dict[str, Any] | None:
        """The base StructureDefinition of a FHIR type (`HumanName`, `Patient`...)."""
        return self.structure_definition(_CORE_SD + type_code)

    def value_set(self, canonical: str) -> dict[str, Any] | None:
        return self.resolve(canonical, "ValueSet")

    def code_system(self, canonical: str) -> dict[str, Any] | None:
        return self.resolve(canonical, "CodeSystem")

    def version_used(self, canonical: str) -> str | None:
        """The version a `url|version` resolved to when it differs (lenient resolution)."""
        return self.index.substitutions.get(canonical)

    # -- run-time additions ----------------------------------------------------------------

    def add(self, resource: dict[str, Any]) -> None:
        """Make a definition available (tests, `socle validate --definitions`, seeding)."""
        raw = orjson.dumps(resource)
        name = f"{resource.get('resourceType')}-{resource.get('id')}.json"
        item = _indexed(LOCAL_PACKAGE, name, raw, resource)
        if item is None or not item.url:
            raise ValueError("a definition needs a resourceType and a url")
        with self._lock:
            self._local[item.url] = item
            self.generation += 1

    # -- package contents ------------------------------------------------------------------

    def non_core_packages(self) -> list[NpmPackage]:
        return [p for p in self.packages if p.name != CORE_NAME]

    def conformance_resources(self) -> Iterator[tuple[NpmPackage, PackageResource]]:
        for p in self.non_core_packages():
            for r in p.conformance_resources():
                yield p, r

    def search_parameters(self) -> list[dict[str, Any]]:
        """SearchParameters of the packages (not the core: the registry has those)."""
        return [
            self.parsed(r)
            for _, r in self.conformance_resources()
            if r.resource_type == "SearchParameter"
        ]

    def examples(self) -> Iterator[tuple[NpmPackage, PackageResource]]:
        for p in self.non_core_packages():
            for r in p.examples:
                yield p, r

    def package(self, name: str, version: str | None = None) -> NpmPackage | None:
        for p in reversed(self.packages):
            if p.name == name and (version is None or p.version == version):
                return p
        return None

    @staticmethod
    def manifest_of(package: NpmPackage) -> Manifest:
        return package.manifest
