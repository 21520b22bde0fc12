"""Terminology benchmarks over a generated 100,000-concept code system.

    python -m bench.terminology [--concepts 100000] [--queries 500] [--postgres URL]

`run()` returns the figures as a dict (for bench/run.py):

- load: `socle terminology load`'s path (reading + storing a CodeSystem resource) and the
  first index build (what a worker pays once, on first use);
- expand_filter: `$expand` of the implicit value set of the whole code system with a text
  filter (autocomplete: 1 to 3 word prefixes of 3-8 letters, count=20), in-process and over
  HTTP against a real `socle serve`; targets p95 <= 10 ms;
- validate_code: in-process `validate_code` against a value set, checks per second
  (target >= 5,000);
- lookup: `$lookup` over HTTP, p95 (target <= 5 ms).
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

URL = "http://socle.test/CodeSystem/synthetic"
TARGETS = {"expand_filter_p95_ms": 10.0, "validate_code_per_s": 5000.0, "lookup_p95_ms": 5.0}


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def _summary(samples_ms: list[float]) -> dict[str, float]:
    return {
        "n": len(samples_ms),
        "p50_ms": round(_pct(samples_ms, 50), 3),
        "p95_ms": round(_pct(samples_ms, 95), 3),
        "p99_ms": round(_pct(samples_ms, 99), 3),
        "max_ms": round(max(samples_ms, default=0.0), 3),
    }


def _queries(cs: dict[str, Any], n: int, seed: int) -> list[str]:
    """Autocomplete-like inputs: prefixes of real display words, 1 to 3 words."""
    from socle.terminology.textindex import words_of

    rng = random.Random(seed)
    displays: list[str] = []
    stack = list(cs["concept"])
    while stack:
        c = stack.pop()
        displays.append(c["display"])
        stack.extend(c.get("concept", []))
    out = []
    for _ in range(n):
        words = [w for w in words_of(rng.choice(displays)) if len(w) >= 3]
        picked = rng.sample(words, k=min(len(words), rng.choice((1, 2, 2, 3))))
        out.append(" ".join(w[: rng.randint(3, 8)] for w in picked))
    return out


def _engine(url: str, data_dir: Path):
    from socle.config import Settings
    from socle.fhir.engine import FhirEngine
    from socle.fhir.storage.database import create_db_engine
    from socle.fhir.storage.migrate import migrate

    db = create_db_engine(url, pool_size=1)
    migrate(db)
    db.dispose()
    engine = FhirEngine(Settings(data_dir=data_dir, database_url=url))
    engine.load_plugins(["terminology"])
    return engine


def bench_load(engine: Any, cs: dict[str, Any]) -> dict[str, Any]:
    from socle.terminology.codesystem import CodeSystemIndex
    from socle.terminology.loading import TerminologyLoader

    svc = engine.terminology
    started = time.perf_counter()
    report = TerminologyLoader(engine, svc, engine.settings.tenant).load([("synthetic", cs)])
    stored = time.perf_counter() - started
    assert report.created == 1, report.errors
    started = time.perf_counter()
    entry, index = svc.codesystem(URL)
    assert isinstance(index, CodeSystemIndex)
    indexed = time.perf_counter() - started
    started = time.perf_counter()
    index.text.search("x")
    text = time.perf_counter() - started
    return {
        "concepts": report.concepts,
        "store_s": round(stored, 2),
        "first_read_and_index_s": round(indexed, 2),
        "text_index_s": round(text, 2),
        "total_s": round(stored + indexed + text, 2),
    }


def bench_inprocess(engine: Any, queries: list[str]) -> dict[str, Any]:
    svc = engine.terminology
    vs = f"{URL}?fhir_vs"
    svc.expand(vs, filter="frac", count=20)  # warm: expansion cached
    samples = []
    for q in queries:
        started = time.perf_counter()
        result = svc.expand(vs, filter=q, count=20)
        samples.append((time.perf_counter() - started) * 1000)
        assert "expansion" in result
    short = []
    for letter in "abcdefghilmnoprstu":  # the worst case: one letter matches thousands
        started = time.perf_counter()
        svc.expand(vs, filter=letter, count=20)
        short.append((time.perf_counter() - started) * 1000)
    codes = [f"C{i:06d}" for i in range(1000, 1000 + 20_000, 7)]
    started = time.perf_counter()
    checks = 0
    for _ in range(2):
        for code in codes:
            svc.validate_code(URL, code, value_set=vs)
            checks += 1
    elapsed = time.perf_counter() - started
    return {
        "expand_filter": _summary(samples),
        "expand_one_letter": _summary(short),
        "validate_code_per_s": round(checks / elapsed),
    }


def bench_http(url: str, data_dir: Path, queries: list[str], lookups: int) -> dict[str, Any]:
    import httpx

    from bench.server import SocleServer

    log = data_dir / "terminology-serve.log"
    with (
        SocleServer(url, workers=2, log_path=log) as server,
        httpx.Client(base_url=server.fhir, timeout=60) as client,
    ):
        vs = f"{URL}?fhir_vs"
        for _ in range(8):  # both workers build their index once
            client.get("/ValueSet/$expand", params={"url": vs, "filter": "frac", "count": 20})
            client.get("/CodeSystem/$lookup", params={"system": URL, "code": "C000100"})
        expand = []
        for q in queries:
            started = time.perf_counter()
            r = client.get("/ValueSet/$expand", params={"url": vs, "filter": q, "count": 20})
            expand.append((time.perf_counter() - started) * 1000)
            assert r.status_code == 200, r.text
        rng = random.Random(3)
        lookup = []
        for _ in range(lookups):
            code = f"C{rng.randrange(200, 99_000):06d}"
            started = time.perf_counter()
            r = client.get("/CodeSystem/$lookup", params={"system": URL, "code": code})
            lookup.append((time.perf_counter() - started) * 1000)
            assert r.status_code in (200, 404), r.text
    return {"expand_filter": _summary(expand), "lookup": _summary(lookup)}


def run(
    concepts: int = 100_000,
    queries: int = 500,
    lookups: int = 1000,
    postgres: str | None = None,
    http: bool = True,
    report: Any = None,
) -> dict[str, Any]:
    """All terminology figures; SQLite always, PostgreSQL too when a URL is given.

    `report`, when given, is called as report(name, value, target) for each headline.
    """
    from socle.terminology.synthetic import synthetic_codesystem

    cs = synthetic_codesystem(concepts, url=URL)
    qs = _queries(cs, queries, seed=11)
    tmp = Path(tempfile.mkdtemp(prefix="socle-term-bench-"))
    urls = {"sqlite": f"sqlite:///{tmp / 'terminology.db'}"}
    if postgres:
        urls["postgres"] = postgres
    out: dict[str, Any] = {"concepts": concepts, "queries": queries, "targets": TARGETS}
    for label, url in urls.items():
        engine = _engine(url, tmp)
        try:
            figures: dict[str, Any] = {"load": bench_load(engine, cs)}
            figures["inprocess"] = bench_inprocess(engine, qs)
        finally:
            engine.close()
        if http:
            figures["http"] = bench_http(url, tmp, qs, lookups)
        out[label] = figures
        if report is not None:
            report(
                f"terminology {label}: $expand filter p95 (in-process, ms)",
                figures["inprocess"]["expand_filter"]["p95_ms"],
                TARGETS["expand_filter_p95_ms"],
            )
            report(
                f"terminology {label}: validate-code in-process (checks/s)",
                figures["inprocess"]["validate_code_per_s"],
                TARGETS["validate_code_per_s"],
            )
            if http:
                report(
                    f"terminology {label}: $expand filter p95 (HTTP, ms)",
                    figures["http"]["expand_filter"]["p95_ms"],
                    TARGETS["expand_filter_p95_ms"],
                )
                report(
                    f"terminology {label}: $lookup p95 (HTTP, ms)",
                    figures["http"]["lookup"]["p95_ms"],
                    TARGETS["lookup_p95_ms"],
                )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--concepts", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--lookups", type=int, default=1000)
    parser.add_argument("--postgres", help="PostgreSQL URL (a scratch database or schema)")
    parser.add_argument("--no-http", action="store_true", help="in-process figures only")
    args = parser.parse_args()
    figures = run(args.concepts, args.queries, args.lookups, args.postgres, not args.no_http)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
