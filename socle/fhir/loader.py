"""Bulk loading of files: transaction/batch Bundles, other Bundles, NDJSON and resources.

Each transaction Bundle is applied in its own database transaction, so an interrupted
load (even `kill -9`) leaves whole Bundles or nothing of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from socle.fhir.context import RequestContext
from socle.fhir.errors import FhirError
from socle.fhir.jsonio import parse_json

MAX_FILE_BYTES = 512 * 1024 * 1024
NDJSON_CHUNK = 250  # NDJSON lines applied per database transaction


@dataclass
class LoadReport:
    """Counts of what a load did, and the first errors met."""

    items: int = 0
    resources: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def fail(self, where: str, message: str) -> None:
        self.failed += 1
        if len(self.errors) < 50:
            self.errors.append(f"{where}: {message}")


def discover(paths: list[str]) -> list[Path]:
    """Files to load, directories expanded (sorted, .json and .ndjson only)."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(
                sorted(
                    p for p in path.rglob("*") if p.suffix in (".json", ".ndjson") and p.is_file()
                )
            )
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(raw)
    return files


def items_of(path: Path, max_depth: int) -> Iterator[tuple[str, Any]]:
    """(location, parsed JSON) for each unit of work in one file."""
    if path.suffix == ".ndjson":
        with path.open("rb") as handle:
            for n, line in enumerate(handle, 1):
                if line.strip():
                    yield f"{path}:{n}", _parse(line, f"{path}:{n}", max_depth)
        return
    raw = path.read_bytes()
    yield str(path), _parse(raw, str(path), max_depth)


def _parse(raw: bytes, where: str, max_depth: int) -> Any:
    try:
        return parse_json(raw, max_bytes=MAX_FILE_BYTES, max_depth=max_depth)
    except FhirError as err:
        return _Broken(str(err))


class _Broken:
    def __init__(self, message: str) -> None:
        self.message = message


class Loader:
    """Applies parsed items through the same code paths as the REST API."""

    def __init__(self, engine: Any, processor: Any, ctx: RequestContext) -> None:
        self.engine = engine
        self.processor = processor
        self.ctx = ctx

    def load(self, files: list[Path], on_item: Callable[[int], None] | None = None) -> LoadReport:
        report = LoadReport()
        tick = on_item or (lambda _n: None)
        for path in files:
            chunk: list[tuple[str, Any]] = []
            for where, item in items_of(path, self.engine.settings.max_json_depth):
                if path.suffix != ".ndjson":
                    self._apply(where, item, report)
                    tick(1)
                    continue
                chunk.append((where, item))
                if len(chunk) >= NDJSON_CHUNK:
                    self._apply_chunk(chunk, report)
                    tick(len(chunk))
                    chunk = []
            if chunk:
                self._apply_chunk(chunk, report)
                tick(len(chunk))
        return report

    def _apply_chunk(self, chunk: list[tuple[str, Any]], report: LoadReport) -> None:
        """NDJSON lines go in one transaction; if it fails, line by line to isolate errors."""
        good = [item for _w, item in chunk if isinstance(item, dict) and "resourceType" in item]
        if len(good) == len(chunk):
            bundle = {
                "resourceType": "Bundle",
                "type": "transaction",
                "entry": [_entry(r) for r in good],
            }
            try:
                self.processor.process(self.ctx, bundle, "minimal")
            except FhirError:
                pass  # fall back below, so each failing line is reported on its own
            else:
                report.items += len(chunk)
                report.resources += len(chunk)
                return
        for where, item in chunk:
            self._apply(where, item, report)

    def _apply(self, where: str, item: Any, report: LoadReport) -> None:
        report.items += 1
        if isinstance(item, _Broken):
            report.fail(where, item.message)
            return
        try:
            bundle = as_bundle(item)
            response = self.processor.process(self.ctx, bundle, "minimal")
        except FhirError as err:
            report.fail(where, "; ".join(i.diagnostics for i in err.issues))
            return
        for n, entry in enumerate(response.get("entry", [])):
            status = entry.get("response", {}).get("status", "")
            if status[:1] in ("2", "3"):
                report.resources += 1
            else:
                diag = entry["response"].get("outcome", {}).get("issue", [{}])[0]
                report.fail(f"{where} entry {n}", diag.get("diagnostics", status))


def as_bundle(item: Any) -> dict[str, Any]:
    """Wrap anything loadable into a transaction or batch Bundle."""
    if not isinstance(item, dict) or "resourceType" not in item:
        raise FhirError(400, "invalid", "Not a FHIR resource")
    if item["resourceType"] == "Bundle" and item.get("type") in ("transaction", "batch"):
        return item
    if item["resourceType"] == "Bundle":
        resources = [
            e["resource"] for e in item.get("entry", []) if isinstance(e, dict) and "resource" in e
        ]
        return {"resourceType": "Bundle", "type": "batch", "entry": [_entry(r) for r in resources]}
    return {"resourceType": "Bundle", "type": "batch", "entry": [_entry(item)]}


def _entry(resource: Any) -> dict[str, Any]:
    if not isinstance(resource, dict):
        return {"resource": resource, "request": {"method": "POST", "url": "Invalid"}}
    res_type, res_id = resource.get("resourceType"), resource.get("id")
    if res_id:
        return {"resource": resource, "request": {"method": "PUT", "url": f"{res_type}/{res_id}"}}
    return {"resource": resource, "request": {"method": "POST", "url": str(res_type)}}


def count_items(files: list[Path]) -> int:
    """Cheap total for the progress bar: lines of NDJSON files, one per JSON file."""
    total = 0
    for path in files:
        if path.suffix == ".ndjson":
            with path.open("rb") as handle:
                total += sum(1 for line in handle if line.strip())
        else:
            total += 1
    return total


__all__ = ["LoadReport", "Loader", "as_bundle", "count_items", "discover", "orjson"]
