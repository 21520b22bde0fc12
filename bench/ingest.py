"""(a) Bundle ingest: transaction Bundles POSTed to a running server, and in-process.

Over HTTP, client threads (httpx, one keep-alive connection each) take the next Bundle from
a shared cursor and POST it to `/fhir`. The load is cut into consecutive segments: a warm-up,
then one trial per client count, then the rest of the data with the best of the
multi-client trials. Each segment reports resources/s, the Bundle latency and the CPU used.

In-process, the same Bundles go through the `BundleProcessor` that `socle load` uses, in one
thread of this process: the difference with HTTP is the cost of the HTTP layer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import orjson

from bench.common import OUT_DIR, CpuMeter, percentile, progress
from bench.dataset import Dataset

HEADERS = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}


@dataclass
class Segment:
    """One timed stretch of the load."""

    label: str
    clients: int
    first_bundle: int
    bundles: int
    resources: int
    seconds: float
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    latency_ms: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)
    resources_before: int = 0  # rows already in the database when the segment started

    @property
    def rate(self) -> float:
        return self.resources / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict:
        return {
            "label": self.label,
            "clients": self.clients,
            "first_bundle": self.first_bundle,
            "bundles": self.bundles,
            "resources": self.resources,
            "resources_before": self.resources_before,
            "seconds": round(self.seconds, 2),
            "resources_per_s": round(self.rate, 1),
            "errors": self.errors,
            "error_samples": self.error_samples,
            "bundle_latency_ms": self.latency_ms,
            "cpu_cores": self.cpu,
        }


@dataclass
class Plan:
    """Consecutive bundle ranges: warm-up, trials, main, and a last one for the profiler."""

    warmup: range
    trials: list[tuple[int, range]]  # (clients, bundles)
    main: range
    profiled: range


def plan(n_bundles: int, trial_clients: list[int], *, quick: bool, profile: bool) -> Plan:
    """Warm-up 1%, 5% with one client, 10% per multi-client trial, the rest for the main run
    (minus the last 5% when the server is profiled under the ingest)."""
    floor = 4 if quick else 16
    warm = max(floor, n_bundles // 100)
    pos, trials = warm, []
    for clients in trial_clients:
        share = 0.05 if clients == 1 else 0.10
        size = max(floor, int(n_bundles * share))
        trials.append((clients, range(pos, min(pos + size, n_bundles))))
        pos = min(pos + size, n_bundles)
    tail = max(floor, n_bundles // 20) if profile else 0
    cut = max(pos, n_bundles - tail)
    return Plan(range(0, min(warm, n_bundles)), trials, range(pos, cut), range(cut, n_bundles))


def _location(entry: dict) -> str:
    location = entry.get("response", {}).get("location", "")
    return location.split("/_history", 1)[0]


class HttpIngest:
    """POSTs Bundles of a dataset to one server and keeps the ids it assigned."""

    def __init__(self, fhir_url: str, data: Dataset, server_pid: int | None) -> None:
        self.url = fhir_url
        self.data = data
        self.server_pid = server_pid
        self.locations: list[list[str] | None] = [None] * len(data.bundles)
        self.loaded = 0  # resources stored so far

    def post_reference(self) -> None:
        with httpx.Client(timeout=120, headers=HEADERS) as client:
            response = client.post(self.url, content=self.data.reference)
        if response.status_code != 200:
            raise RuntimeError(f"reference bundle refused: {response.status_code}")
        self.loaded += self.data.reference_count

    def run(self, label: str, clients: int, bundles: range) -> Segment:
        data = self.data
        cursor = iter(bundles)
        lock = threading.Lock()
        latencies: list[float] = []
        errors: list[str] = []
        n_resources = sum(data.counts[i] for i in bundles)
        segment = Segment(label, clients, bundles.start, len(bundles), 0, 0.0)
        segment.resources_before = self.loaded

        with progress() as bar:
            task = bar.add_task(
                f"  {label} ({clients} client{'s' * (clients > 1)})", total=n_resources
            )

            def worker() -> None:
                with httpx.Client(timeout=300, headers=HEADERS) as client:
                    while True:
                        with lock:
                            index = next(cursor, None)
                        if index is None:
                            return
                        started = time.perf_counter()
                        try:
                            response = client.post(self.url, content=data.bundles[index])
                        except httpx.HTTPError as exc:
                            with lock:
                                errors.append(f"bundle {index}: {exc!r}")
                            continue
                        elapsed = time.perf_counter() - started
                        if response.status_code != 200:
                            with lock:
                                errors.append(
                                    f"bundle {index}: {response.status_code} {response.text[:300]}"
                                )
                            continue
                        entries = orjson.loads(response.content)["entry"]
                        self.locations[index] = [_location(e) for e in entries]
                        with lock:
                            latencies.append(elapsed)
                            segment.resources += data.counts[index]
                        bar.advance(task, data.counts[index])

            meter = CpuMeter(self.server_pid)
            started = time.perf_counter()
            threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            segment.seconds = time.perf_counter() - started
            segment.cpu = meter.stop().as_dict()
        self.loaded += segment.resources
        segment.errors = len(errors)
        segment.error_samples = errors[:5]
        latencies.sort()
        segment.latency_ms = _latency_summary(latencies)
        return segment


def _latency_summary(sorted_seconds: list[float]) -> dict[str, float]:
    return {
        "p50": round(percentile(sorted_seconds, 50) * 1000, 1),
        "p95": round(percentile(sorted_seconds, 95) * 1000, 1),
        "p99": round(percentile(sorted_seconds, 99) * 1000, 1),
        "max": round((sorted_seconds[-1] if sorted_seconds else 0.0) * 1000, 1),
    }


def http_ingest(
    fhir_url: str,
    data: Dataset,
    trial_clients: list[int],
    server_pid: int | None,
    *,
    quick: bool,
    log: Callable[[str], None],
    profiler: Callable[[Callable[[], object]], dict | None] | None = None,
) -> tuple[dict, HttpIngest]:
    """The whole load over HTTP; returns the results and the ingest (with the new ids).

    With a `profiler`, the last Bundles are sent as one more segment while it samples the
    server (`profiler(load)` runs `load()` and returns the profile).
    """
    ingest = HttpIngest(fhir_url, data, server_pid)
    steps = plan(len(data.bundles), trial_clients, quick=quick, profile=profiler is not None)
    started = time.perf_counter()
    ingest.post_reference()
    warm = ingest.run("warm-up", max(trial_clients), steps.warmup)  # warms every worker
    trials = [ingest.run("trial", clients, bundles) for clients, bundles in steps.trials]
    multi = [t for t in trials if t.clients > 1] or trials
    best = max(multi, key=lambda t: t.rate)
    log(
        "  trials: "
        + ", ".join(f"{t.clients} client(s) {t.rate:,.0f} res/s" for t in trials)
        + f" -> main run with {best.clients}"
    )
    main = ingest.run("main", best.clients, steps.main) if len(steps.main) else None
    segments = [warm, *trials, *([main] if main else [])]
    server_profile = None
    if profiler is not None and len(steps.profiled):
        log("  profiling the server under the ingest (py-spy attached, last Bundles)")
        server_profile = profiler(
            lambda: segments.append(ingest.run("profiled", best.clients, steps.profiled))
        )
    total_seconds = time.perf_counter() - started
    result = {
        "server_profile": server_profile,
        "segments": [s.as_dict() for s in segments],
        "best_clients": best.clients,
        "main": (main or best).as_dict(),
        "whole_load": {
            "resources": ingest.loaded,
            "seconds": round(total_seconds, 2),
            "resources_per_s": round(ingest.loaded / total_seconds, 1),
        },
        "errors": sum(s.errors for s in segments),
    }
    return result, ingest


def inprocess_ingest(
    db_url: str, data: Dataset, warmup: range, timed: range, *, log: Callable[[str], None]
) -> dict:
    """Single-threaded `BundleProcessor.process` (the `socle load` path) on a fresh database."""
    from socle.config import Settings
    from socle.fhir.context import RequestContext
    from socle.fhir.engine import FhirEngine
    from socle.fhir.jsonio import parse_json
    from socle.fhir.rest.interactions.transaction import bundle_processor

    settings = Settings(data_dir=OUT_DIR, database_url=db_url)
    engine = FhirEngine(settings)
    engine.load_plugins()
    try:
        processor = bundle_processor(engine)
        ctx = RequestContext(tenant=settings.tenant)
        limit = settings.max_body_bytes, settings.max_json_depth

        def apply(raw: bytes) -> int:
            bundle = parse_json(raw, max_bytes=limit[0], max_depth=limit[1])
            response = processor.process(ctx, bundle, "minimal")
            return sum(
                1 for e in response["entry"] if e["response"]["status"][:1] not in ("2", "3")
            )

        errors = apply(data.reference)
        for index in warmup:
            errors += apply(data.bundles[index])
        before = data.reference_count + sum(data.counts[i] for i in warmup)
        n_resources = sum(data.counts[i] for i in timed)
        segment = Segment("in-process", 1, timed.start, len(timed), 0, 0.0)
        segment.resources_before = before
        latencies = []
        with progress() as bar:
            task = bar.add_task("  in-process (1 thread)", total=n_resources)
            meter = CpuMeter(None)
            started = time.perf_counter()
            for index in timed:
                t0 = time.perf_counter()
                errors += apply(data.bundles[index])
                latencies.append(time.perf_counter() - t0)
                segment.resources += data.counts[index]
                bar.advance(task, data.counts[index])
            segment.seconds = time.perf_counter() - started
            segment.cpu = meter.stop().as_dict()
        segment.errors = errors
        latencies.sort()
        segment.latency_ms = _latency_summary(latencies)
        log(f"  in-process: {segment.rate:,.0f} res/s")
        return segment.as_dict()
    finally:
        engine.close()
