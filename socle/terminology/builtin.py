"""The terminology vendored with Socle, read once per process into the built-in layer.

Sources, in priority order (the first copy of a `url|version` wins):
1. the FHIR R4 core package (CodeSystems and ValueSets, including the v2 and v3 tables),
   through `socle.fhir.packages`;
2. the R4 core ConceptMaps (`socle/data/terminology/r4-conceptmaps.json.gz`);
3. every FHIR package of the package store: the vendored FR Core and ANS packages and
   those installed with `socle packages install` (drop the complete `ans.fr.terminologies`
   package there and its TRE/JDV resources are served, ahead of the abridged copies);
4. the abridged NOS code systems (`nos-abridged.json.gz`);
5. the 523 CI-SIS value sets in SVS XML (`cisis-jdv-svs.zip`).
"""

from __future__ import annotations

import gzip
import logging
import threading
import time
import zipfile
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from socle.terminology.catalog import TYPES, Entry, Layer
from socle.terminology.svs import SvsError, parse_svs

log = logging.getLogger("socle.terminology")

DATA = "terminology"


def _data_file(name: str):  # noqa: ANN202 - an importlib Traversable
    return resources.files("socle.data").joinpath(f"{DATA}/{name}")


def bundle_resources(raw: bytes) -> Iterator[dict[str, Any]]:
    bundle = orjson.loads(raw)
    for entry in bundle.get("entry") or []:
        res = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(res, dict) and res.get("resourceType") in TYPES:
            yield res


def svs_archive_resources(path) -> Iterator[dict[str, Any]]:  # noqa: ANN001
    with path.open("rb") as fh, zipfile.ZipFile(fh) as archive:
        for name in sorted(archive.namelist()):
            if not name.lower().endswith(".xml"):
                continue
            try:
                yield parse_svs(archive.read(name), name)
            except SvsError as exc:  # three upstream files are empty
                log.debug("skipping SVS file", extra={"file": name, "error": str(exc)})


def package_entries(data_dir: Path | None) -> Iterator[Entry]:
    """CodeSystems/ValueSets/ConceptMaps of the core package and of the package store."""
    try:
        from socle.fhir.packages.core import core_package
        from socle.fhir.packages.store import PackageStore
    except ImportError:  # pragma: no cover - packages support not installed
        log.warning("socle.fhir.packages is not available: no package terminology")
        return
    packages = [core_package()]
    try:
        packages.extend(PackageStore(data_dir).packages())
    except Exception as exc:  # noqa: BLE001 - a broken archive must not stop the server
        log.warning("cannot read the package store: %s", exc)
    for package in packages:
        for res in package.resources:
            if res.resource_type in TYPES:
                yield Entry.of(orjson.loads(res.raw), package.key, res.raw)


def package_signature(data_dir: Path | None) -> tuple:
    """Changes when a package is installed or removed (the layer is then rebuilt)."""
    try:
        from socle.fhir.packages.store import PackageStore

        return tuple((e.name, e.version, str(e.path)) for e in PackageStore(data_dir).entries())
    except Exception:  # noqa: BLE001
        return ()


def builtin_entries(data_dir: Path | None) -> Iterator[Entry]:
    yield from package_entries(data_dir)
    maps = _data_file("r4-conceptmaps.json.gz")
    for res in bundle_resources(gzip.decompress(maps.read_bytes())):
        yield Entry.of(res, "hl7.fhir.r4.core@4.0.1")
    nos = _data_file("nos-abridged.json.gz")
    for res in bundle_resources(gzip.decompress(nos.read_bytes())):
        yield Entry.of(res, "nos-abridged")
    for res in svs_archive_resources(_data_file("cisis-jdv-svs.zip")):
        yield Entry.of(res, "ci-sis-jdv")


_cache: dict[tuple, Layer] = {}
_cache_lock = threading.Lock()


def shared_layer(data_dir: Path | None, signature: tuple) -> Layer:
    """The built-in layer for this package set, shared by every engine of the process."""
    with _cache_lock:
        layer = _cache.get(signature)
        if layer is None:
            layer = build_layer(data_dir)
            _cache.clear()
            _cache[signature] = layer
        return layer


def build_layer(data_dir: Path | None) -> Layer:
    started = time.perf_counter()
    layer = Layer()
    seen: set[tuple[str, str, str | None]] = set()
    ids: set[tuple[str, str]] = set()
    for entry in builtin_entries(data_dir):
        key = (entry.kind, entry.url, entry.version)
        if key in seen:
            continue
        seen.add(key)
        if entry.res_id and (entry.kind, entry.res_id) in ids:
            entry.res_id = None  # instance ids must stay unambiguous
        elif entry.res_id:
            ids.add((entry.kind, entry.res_id))
        layer.add(entry)
    log.info(
        "built-in terminology ready",
        extra={"resources": len(seen), "seconds": round(time.perf_counter() - started, 3)},
    )
    return layer
