"""Conformance resources of the packages, stored as resources of a tenant.

The API serves what the database holds, so making package definitions readable
(`GET /fhir/StructureDefinition?url=…`) means writing them as ordinary resources. Each
package is written in one transaction, its resources tagged
`urn:socle:package|name@version`; a package already seeded with that tag is skipped, so
seeding at every start costs one read per package. Package resources are stored as
published (they are not validated on the way in: several published definitions break
rules of their own — see docs/validation.md).

Definitions of the vendored R4 core are not stored (the server knows them natively).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from socle.fhir.packages.npm import NpmPackage, PackageResource
from socle.fhir.resource_ids import valid_id

if TYPE_CHECKING:
    from socle.fhir.engine import FhirEngine
    from socle.fhir.storage.store import StoreSession

log = logging.getLogger(__name__)

TAG_SYSTEM = "urn:socle:package"


@dataclass(slots=True)
class SeedReport:
    written: dict[str, int] = field(default_factory=dict)  # package -> resources written
    skipped: list[str] = field(default_factory=list)  # packages already up to date
    removed: dict[str, int] = field(default_factory=dict)


def resource_id(package: NpmPackage, item: PackageResource) -> str:
    """The id a package resource is stored under (its own id when valid)."""
    if item.id and valid_id(item.id):
        return item.id
    digest = hashlib.sha1(f"{package.name}|{item.filename}".encode()).hexdigest()[:16]
    return f"pkg-{digest}"


def _tagged(resource: dict[str, Any], package: NpmPackage) -> dict[str, Any]:
    meta = dict(resource.get("meta") or {})
    tags = [t for t in meta.get("tag") or () if t.get("system") != TAG_SYSTEM]
    tags.append({"system": TAG_SYSTEM, "code": package.key, "display": "Loaded from package"})
    meta["tag"] = tags
    meta.pop("versionId", None)
    meta.pop("lastUpdated", None)
    out = dict(resource)
    out["meta"] = meta
    return out


def _package_tag(stored: dict[str, Any] | None) -> str | None:
    if not stored:
        return None
    for tag in (stored.get("meta") or {}).get("tag") or ():
        if tag.get("system") == TAG_SYSTEM:
            return tag.get("code")
    return None


def _current_tag(s: StoreSession, res_type: str, res_id: str) -> str | None:
    stored = s.read(res_type, res_id)
    if stored is None or stored.deleted or stored.content is None:
        return None
    return _package_tag(orjson.loads(stored.content))


def seed_packages(
    engine: FhirEngine,
    tenant: str,
    packages: list[NpmPackage] | None = None,
    *,
    force: bool = False,
) -> SeedReport:
    """Write the conformance resources of `packages` (default: all active ones)."""
    if packages is None:
        packages = engine.validation.context.non_core_packages()
    report = SeedReport()
    for package in packages:
        items = sorted(package.conformance_resources(), key=lambda r: r.filename)
        if not items:
            continue
        marker = items[0]
        marker_id = resource_id(package, marker)
        if not force:
            with engine.store.session(tenant) as s:
                if _current_tag(s, marker.resource_type, marker_id) == package.key:
                    report.skipped.append(package.key)
                    continue
        with engine.store.session(tenant, write=True) as s:
            s.lock_key(f"socle:packages:{package.name}")
            if not force and _current_tag(s, marker.resource_type, marker_id) == package.key:
                report.skipped.append(package.key)  # another process did it meanwhile
                continue
            for item in items:
                res_id = resource_id(package, item)
                _put(engine, s, item.resource_type, res_id, _tagged(item.parse(), package))
        report.written[package.key] = len(items)
        log.info("package %s seeded into tenant %s (%d resources)", package.key, tenant, len(items))
    return report


def unseed_package(engine: FhirEngine, tenant: str, package: NpmPackage) -> int:
    """Delete (versioned tombstones) the resources a package had seeded."""
    from socle.fhir.crud import now_micros

    count = 0
    with engine.store.session(tenant, write=True) as s:
        for item in package.conformance_resources():
            res_id = resource_id(package, item)
            current = s.current(item.resource_type, res_id, lock=True)
            if current is None or current.deleted:
                continue
            if _current_tag(s, item.resource_type, res_id) != package.key:
                continue  # replaced since by another package or by a client
            stamp = max(now_micros(), current.last_updated + 1)
            s.write(
                item.resource_type,
                res_id,
                current=current,
                content=None,
                last_updated=stamp,
                method="DELETE",
            )
            count += 1
    return count


def _put(
    engine: FhirEngine,
    s: StoreSession,
    res_type: str,
    res_id: str,
    resource: dict[str, Any],
) -> None:
    """Update-as-create without validation (the store's own write path)."""
    from socle.fhir.crud import now_micros, stamp_meta

    current = s.current(res_type, res_id, lock=True)
    stamp = now_micros() if current is None else max(now_micros(), current.last_updated + 1)
    version = 1 if current is None else current.version + 1
    stored = stamp_meta(resource, res_id, version, stamp)
    s.write(
        res_type,
        res_id,
        current=current,
        content=orjson.dumps(stored),
        last_updated=stamp,
        method="PUT",
        index_entries=engine.extractor.extract(stored),
    )
