"""Writing terminology resources into the FHIR store, incrementally.

Each resource is matched by canonical `url|version` against what the tenant's store
already holds:
- same content (ignoring `id`, `meta` and narrative): skipped;
- same `url|version`, other content: a new FHIR version of that resource (history kept);
- a new `url|version`: created beside the other versions. It keeps its own `id` when that
  id is free, else gets `<id>-<version>` so that several versions live side by side.

Resources are written in small transactions, so a large load shows its progress and a
failure loses only the current batch; the loader can simply be run again.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from socle.fhir.context import RequestContext
from socle.fhir.errors import FhirError
from socle.fhir.resource_ids import new_id, valid_id
from socle.terminology.catalog import TYPES
from socle.terminology.codesystem import concept_count

if TYPE_CHECKING:
    from socle.fhir.engine import FhirEngine
    from socle.terminology.service import Terminology

_IGNORED = ("id", "meta", "text")
BATCH_CONCEPTS = 50_000  # a batch holds at most about this many concepts


@dataclass(slots=True)
class LoadReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    concepts: int = 0
    errors: list[str] = field(default_factory=list)
    written: list[str] = field(default_factory=list)  # Type/id of what was written

    @property
    def ok(self) -> bool:
        return self.failed == 0


def _digest(resource: dict[str, Any]) -> bytes:
    slim = {k: v for k, v in resource.items() if k not in _IGNORED}
    return orjson.dumps(slim, option=orjson.OPT_SORT_KEYS)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "-", text).strip("-")


class TerminologyLoader:
    def __init__(self, engine: FhirEngine, service: Terminology, tenant: str) -> None:
        self.engine = engine
        self.service = service
        self.tenant = tenant
        self.ctx = RequestContext(tenant=tenant)

    def load(
        self,
        items: Iterable[tuple[str, dict[str, Any]]],
        on_resource: Callable[[str, int], None] | None = None,
    ) -> LoadReport:
        report = LoadReport()
        state = self.service.state(self.tenant)
        layer = state.layer
        taken = {res_id for (_kind, res_id) in layer.by_id}
        batch: list[tuple[str, dict[str, Any], str | None]] = []
        weight = 0
        for where, resource in items:
            kind = resource.get("resourceType")
            if kind not in TYPES or not resource.get("url"):
                report.failed += 1
                report.errors.append(f"{where}: not a CodeSystem/ValueSet/ConceptMap with a url")
                continue
            existing = next(
                (
                    e
                    for e in layer.by_url.get((kind, resource["url"]), [])
                    if e.version == resource.get("version")
                ),
                None,
            )
            concepts = concept_count(resource) if kind == "CodeSystem" else 0
            report.concepts += concepts
            if existing is not None and _digest(existing.resource()) == _digest(resource):
                report.unchanged += 1
                if on_resource:
                    on_resource(where, concepts)
                continue
            if existing is not None and existing.res_id:
                res_id = existing.res_id
            else:
                res_id = self._new_id(resource, taken)
                taken.add(res_id)
            batch.append((where, {**resource, "id": res_id}, existing.res_id if existing else None))
            weight += max(concepts, 1)
            if weight >= BATCH_CONCEPTS or len(batch) >= 200:
                self._write(batch, report, on_resource)
                batch, weight = [], 0
        if batch:
            self._write(batch, report, on_resource)
        self.service.changed(self.tenant)
        return report

    def _new_id(self, resource: dict[str, Any], taken: set[str]) -> str:
        base = resource.get("id") if isinstance(resource.get("id"), str) else None
        base = base or _slug(resource.get("name") or "") or new_id()
        candidates = [base]
        if resource.get("version"):
            candidates.append(f"{base[:40]}-{_slug(resource['version'])[:23]}")
        for candidate in candidates:
            candidate = candidate[:64]
            if valid_id(candidate) and candidate not in taken:
                return candidate
        return new_id()

    def _write(
        self,
        batch: list[tuple[str, dict[str, Any], str | None]],
        report: LoadReport,
        on_resource: Callable[[str, int], None] | None,
    ) -> None:
        try:
            with self.engine.store.session(self.tenant, write=True) as s:
                results = [
                    self.engine.crud.update(s, self.ctx, res["resourceType"], res["id"], res)
                    for _where, res, _old in batch
                ]
        except FhirError as exc:
            if len(batch) == 1:
                report.failed += 1
                report.errors.append(f"{batch[0][0]}: {exc.issues[0].diagnostics}")
                if on_resource:
                    on_resource(batch[0][0], 0)
                return
            for item in batch:  # find the culprit: one transaction per resource
                self._write([item], report, on_resource)
            return
        for (where, res, old), result in zip(batch, results, strict=True):
            if old is None:
                report.created += 1
            else:
                report.updated += 1
            report.written.append(f"{result.res_type}/{result.res_id}")
            if on_resource:
                on_resource(where, concept_count(res) if res["resourceType"] == "CodeSystem" else 0)
