"""FHIR NPM packages: a `.tgz` holding `package/package.json` and one resource per file.

A package is read in one pass over the archive. The conformance resources of the package
root (`package/*.json`) are kept as raw bytes with a few indexed fields (type, id, url,
version) and parsed only when asked for; examples (`package/example/*.json`) are kept the
same way. Narrative folders (`other/`, `openapi/`, `xml/`) are skipped.
"""

from __future__ import annotations

import io
import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

# Resource types a package contributes to validation and to the API.
CONFORMANCE_TYPES = frozenset(
    {
        "StructureDefinition",
        "ValueSet",
        "CodeSystem",
        "SearchParameter",
        "OperationDefinition",
        "CapabilityStatement",
        "ImplementationGuide",
        "ConceptMap",
        "NamingSystem",
        "CompartmentDefinition",
    }
)

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$", re.IGNORECASE)
_MAX_MEMBER_BYTES = 64 * 1024 * 1024  # a single resource file larger than this is refused


class PackageError(Exception):
    """The archive is not a readable FHIR NPM package."""


@dataclass(frozen=True, slots=True)
class Manifest:
    """The useful part of `package/package.json`."""

    name: str
    version: str
    fhir_versions: tuple[str, ...] = ()
    dependencies: tuple[tuple[str, str], ...] = ()
    license: str | None = None
    description: str | None = None
    canonical: str | None = None

    @property
    def key(self) -> str:
        return f"{self.name}@{self.version}"

    @classmethod
    def from_json(cls, data: Any) -> Manifest:
        if not isinstance(data, dict):
            raise PackageError("package.json is not a JSON object")
        name, version = data.get("name"), data.get("version")
        if not isinstance(name, str) or not _NAME.match(name):
            raise PackageError(f"package.json has no valid name: {name!r}")
        if not isinstance(version, str) or not version or "/" in version:
            raise PackageError(f"package.json has no valid version: {version!r}")
        deps = data.get("dependencies") or {}
        fhir = data.get("fhirVersions") or data.get("fhir-version-list") or []
        return cls(
            name=name,
            version=version,
            fhir_versions=tuple(str(v) for v in fhir) if isinstance(fhir, list) else (),
            dependencies=tuple((str(k), str(v)) for k, v in deps.items() if isinstance(deps, dict)),
            license=data.get("license") if isinstance(data.get("license"), str) else None,
            description=data.get("description")
            if isinstance(data.get("description"), str)
            else None,
            canonical=data.get("canonical") if isinstance(data.get("canonical"), str) else None,
        )


@dataclass(slots=True)
class PackageResource:
    """One resource file of a package, parsed on demand."""

    package: str  # "name@version" of the package holding it
    filename: str
    resource_type: str
    id: str | None
    url: str | None
    version: str | None
    raw: bytes = field(repr=False)
    meta: dict[str, Any] = field(default_factory=dict, repr=False)  # a few indexed fields

    def parse(self) -> dict[str, Any]:
        """A fresh parsed copy (callers may modify it)."""
        return orjson.loads(self.raw)


def _indexed(
    package: str, filename: str, raw: bytes, data: dict[str, Any]
) -> PackageResource | None:
    rt = data.get("resourceType")
    if not isinstance(rt, str):
        return None
    meta: dict[str, Any] = {}
    if rt == "StructureDefinition":
        for key in ("type", "kind", "derivation", "baseDefinition", "name", "abstract"):
            if key in data:
                meta[key] = data[key]
    elif rt == "SearchParameter":
        meta["code"] = data.get("code")
    url, version = data.get("url"), data.get("version")
    return PackageResource(
        package,
        filename,
        rt,
        data.get("id") if isinstance(data.get("id"), str) else None,
        url if isinstance(url, str) else None,
        version if isinstance(version, str) else None,
        raw,
        meta,
    )


class NpmPackage:
    """A loaded package: its manifest, conformance resources and examples."""

    def __init__(
        self,
        manifest: Manifest,
        resources: list[PackageResource],
        examples: list[PackageResource],
        *,
        source: Path | None = None,
        origin: str = "installed",
    ) -> None:
        self.manifest = manifest
        self.resources = resources
        self.examples = examples
        self.source = source
        self.origin = origin  # "core", "vendored" or "installed"

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def version(self) -> str:
        return self.manifest.version

    @property
    def key(self) -> str:
        return self.manifest.key

    def __repr__(self) -> str:
        return f"<NpmPackage {self.key} ({self.origin}, {len(self.resources)} resources)>"

    def conformance_resources(self) -> Iterator[PackageResource]:
        return (r for r in self.resources if r.resource_type in CONFORMANCE_TYPES)

    # -- reading ---------------------------------------------------------------------------

    @classmethod
    def from_path(cls, path: Path, origin: str = "installed") -> NpmPackage:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise PackageError(f"cannot read {path}: {exc}") from exc
        return cls.from_bytes(data, source=Path(path), origin=origin)

    @classmethod
    def from_bytes(
        cls, data: bytes, *, source: Path | None = None, origin: str = "installed"
    ) -> NpmPackage:
        """Read a `.tgz` (a plain `.tar` is accepted too)."""
        manifest_raw: bytes | None = None
        roots: list[tuple[str, bytes]] = []
        examples: list[tuple[str, bytes]] = []
        try:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
                for member in tar:
                    if not member.isfile() or not member.name.endswith(".json"):
                        continue
                    name = member.name.lstrip("./")
                    parts = name.split("/")
                    if len(parts) < 2 or parts[0] != "package":
                        continue
                    if member.size > _MAX_MEMBER_BYTES:
                        raise PackageError(f"{name} is too large ({member.size} bytes)")
                    if len(parts) == 2:
                        handle = tar.extractfile(member)
                        if handle is None:
                            continue
                        if parts[1] == "package.json":
                            manifest_raw = handle.read()
                        elif not parts[1].startswith("."):
                            roots.append((parts[1], handle.read()))
                    elif len(parts) == 3 and parts[1] == "example":
                        handle = tar.extractfile(member)
                        if handle is not None and not parts[2].startswith("."):
                            examples.append((parts[2], handle.read()))
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise PackageError(f"not a readable package archive: {exc}") from exc
        if manifest_raw is None:
            raise PackageError("package/package.json is missing")
        try:
            manifest = Manifest.from_json(orjson.loads(manifest_raw))
        except orjson.JSONDecodeError as exc:
            raise PackageError(f"package.json is not valid JSON: {exc}") from exc
        return cls(
            manifest,
            _index_files(manifest.key, roots),
            _index_files(manifest.key, examples),
            source=source,
            origin=origin,
        )


def _index_files(package: str, files: list[tuple[str, bytes]]) -> list[PackageResource]:
    out: list[PackageResource] = []
    for filename, raw in sorted(files):
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue  # not a resource (IG publisher side files); nothing to index
        if isinstance(data, dict):
            indexed = _indexed(package, filename, raw, data)
            if indexed is not None:
                out.append(indexed)
    return out


def read_manifest(path: Path) -> Manifest:
    """Only the manifest of an archive (for listings)."""
    return NpmPackage.from_path(path).manifest


# -- versions --------------------------------------------------------------------------


def version_key(version: str) -> tuple:
    """Sort key for package versions: numeric parts, then releases after pre-releases.

    `2.2.0` > `2.1.0` > `2.1.0-ballot`; `1.2.0-snapshot-2` sorts just below `1.2.0`.
    """
    main, _, pre = version.partition("-")
    nums: list[Any] = []
    for part in main.split("."):
        nums.append((0, int(part), "") if part.isdigit() else (1, 0, part))
    return (tuple(nums), 0 if pre else 1, pre)


def same_major_minor(a: str, b: str) -> bool:
    return a.split("-")[0].split(".")[:2] == b.split("-")[0].split(".")[:2]
