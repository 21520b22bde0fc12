"""Where packages live: the vendored defaults plus those installed under the data directory.

* vendored: `socle/data/packages/*.tgz`, shipped with Socle (read-only);
* installed: `$SOCLE_DATA_DIR/packages/*.tgz`, added by `socle packages install`.

An installed package with the same name and version as a vendored one replaces it.
Archives are kept as they are; loading one is cached per process (by path, size and
modification time), so several engines in one process share the work.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from socle.fhir.packages.npm import Manifest, NpmPackage, PackageError, version_key

VENDORED_DIR_NAME = "packages"

_cache_lock = threading.Lock()
_cache: dict[tuple[str, int, int, str], NpmPackage] = {}


def vendored_dir() -> Path:
    return Path(str(resources.files("socle.data").joinpath(VENDORED_DIR_NAME)))


def load_package(path: Path, origin: str) -> NpmPackage:
    """Read an archive once per process (cached by path, size and mtime)."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, origin)
    with _cache_lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached
    package = NpmPackage.from_path(path, origin=origin)
    with _cache_lock:
        _cache[key] = package
    return package


@dataclass(frozen=True, slots=True)
class PackageEntry:
    """A package archive known to the store."""

    manifest: Manifest
    path: Path
    origin: str  # "vendored" or "installed"

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def version(self) -> str:
        return self.manifest.version


class PackageStore:
    """Lists, installs and removes package archives; loads the active ones."""

    def __init__(self, data_dir: Path | None, *, include_vendored: bool = True) -> None:
        self.installed_dir = (Path(data_dir) / "packages") if data_dir is not None else None
        self.include_vendored = include_vendored

    # -- listing ---------------------------------------------------------------------------

    def entries(self) -> list[PackageEntry]:
        """Every active archive, sorted by name then version (installed ones win)."""
        found: dict[tuple[str, str], PackageEntry] = {}
        dirs: list[tuple[Path, str]] = []
        if self.include_vendored:
            dirs.append((vendored_dir(), "vendored"))
        if self.installed_dir is not None:
            dirs.append((self.installed_dir, "installed"))
        for folder, origin in dirs:
            if not folder.is_dir():
                continue
            for path in sorted(folder.glob("*.tgz")):
                package = load_package(path, origin)
                entry = PackageEntry(package.manifest, path, origin)
                found[(entry.name, entry.version)] = entry
        return sorted(found.values(), key=lambda e: (e.name, version_key(e.version)))

    def packages(self) -> list[NpmPackage]:
        return [load_package(e.path, e.origin) for e in self.entries()]

    # -- changes ---------------------------------------------------------------------------

    def install(self, archive: Path) -> PackageEntry:
        """Copy a package archive into the data directory (replacing the same version)."""
        if self.installed_dir is None:
            raise PackageError("no data directory to install packages into")
        package = NpmPackage.from_path(Path(archive))  # refuses what is not a package
        self.installed_dir.mkdir(parents=True, exist_ok=True)
        target = self.installed_dir / f"{package.name}-{package.version}.tgz"
        fd, tmp = tempfile.mkstemp(dir=self.installed_dir, suffix=".part")
        os.close(fd)
        try:
            shutil.copyfile(archive, tmp)
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return PackageEntry(package.manifest, target, "installed")

    def remove(self, name: str, version: str | None = None) -> list[PackageEntry]:
        """Delete installed archives of `name` (one version, or all). Vendored ones stay."""
        removed: list[PackageEntry] = []
        matches = [
            e
            for e in self.entries()
            if e.name == name and (version is None or e.version == version)
        ]
        if not matches:
            raise PackageError(f"package {name}{'@' + version if version else ''} is not known")
        for entry in matches:
            if entry.origin != "installed":
                continue
            entry.path.unlink(missing_ok=True)
            removed.append(entry)
        if not removed:
            raise PackageError(
                f"package {name}{'@' + version if version else ''} is vendored with Socle "
                "and cannot be removed"
            )
        return removed


def parse_spec(spec: str) -> tuple[str, str | None]:
    """`name@version` or `name` -> (name, version or None)."""
    name, sep, version = spec.partition("@")
    return name, (version or None) if sep else None
