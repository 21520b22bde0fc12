"""The vendored FHIR R4 core (`hl7.fhir.r4.core` 4.0.1) seen as a package.

Its definitions are not a `.tgz`: the base StructureDefinitions come from
`socle/data/fhir-r4/` (also used by the FHIR model) and the terminology and core
extensions from `socle/data/packages/hl7.fhir.r4.core/`. Reading them costs a few hundred
milliseconds, so the package is built on first use. Narrative, mappings and prose of the
base definitions are dropped: they are never served by the API and validation does not
need them.
"""

from __future__ import annotations

import gzip
import logging
import threading
import time
from importlib import resources
from typing import Any

import orjson

from socle.fhir.packages.npm import Manifest, NpmPackage, PackageResource, _indexed

log = logging.getLogger(__name__)

CORE_NAME = "hl7.fhir.r4.core"
CORE_VERSION = "4.0.1"

_FILES = (
    "fhir-r4/profiles-types.json.gz",
    "fhir-r4/profiles-resources.json.gz",
    "packages/hl7.fhir.r4.core/extension-definitions.json.gz",
    "packages/hl7.fhir.r4.core/profiles-vitalsigns.json.gz",
    "packages/hl7.fhir.r4.core/valuesets.json.gz",
    "packages/hl7.fhir.r4.core/v3-codesystems.json.gz",
    "packages/hl7.fhir.r4.core/v2-tables.json.gz",
)
_KEEP_TYPES = ("StructureDefinition", "ValueSet", "CodeSystem", "OperationDefinition")
_ELEMENT_PROSE = ("definition", "comment", "requirements", "alias", "mapping", "example")

_lock = threading.Lock()
_core: NpmPackage | None = None


def _slim(resource: dict[str, Any]) -> dict[str, Any]:
    resource.pop("text", None)
    if resource.get("resourceType") == "StructureDefinition":
        resource.pop("mapping", None)
        for part in ("snapshot", "differential"):
            for el in (resource.get(part) or {}).get("element", ()):
                for key in _ELEMENT_PROSE:
                    el.pop(key, None)
    return resource


def _build() -> NpmPackage:
    started = time.perf_counter()
    key = f"{CORE_NAME}@{CORE_VERSION}"
    root = resources.files("socle.data")
    out: list[PackageResource] = []
    for name in _FILES:
        bundle = orjson.loads(gzip.decompress(root.joinpath(name).read_bytes()))
        for entry in bundle.get("entry", ()):
            res = entry.get("resource")
            if not isinstance(res, dict) or res.get("resourceType") not in _KEEP_TYPES:
                continue
            if res.get("resourceType") == "StructureDefinition" and not str(
                res.get("fhirVersion", CORE_VERSION)
            ).startswith("4.0."):
                continue  # the Medplum bundle back-ports R4B's SubscriptionStatus
            res = _slim(res)
            filename = f"{res['resourceType']}-{res.get('id')}.json"
            indexed = _indexed(key, filename, orjson.dumps(res), res)
            if indexed is not None:
                out.append(indexed)
    manifest = Manifest(
        CORE_NAME, CORE_VERSION, (CORE_VERSION,), (), "CC0-1.0", "FHIR R4 core (vendored)"
    )
    log.info("FHIR R4 core package ready in %.3f s", time.perf_counter() - started)
    return NpmPackage(manifest, out, [], source=None, origin="core")


def core_package() -> NpmPackage:
    """The process-wide core package (built once, on first use)."""
    global _core
    if _core is None:
        with _lock:
            if _core is None:
                _core = _build()
    return _core
