"""`python -m bench.search` (or `python -m bench.run --only search`): search latency on a
large database (issue 3), and the PostgreSQL plans of the benchmark queries.

1. Databases of `--resources` generated resources (default 1,000,000), loaded once by
   `bench.search_data` and kept under their size's name (`bench/out/search-1m.db`, schema
   `bench_search_1m`); `--reuse` takes them as they are (after `socle migrate`).
2. A real `socle serve` (2 workers) on each database; one client sends the queries of
   `bench.search_queries` one at a time: a warm-up pass over every instance, then
   `--rounds` measured passes. Latency is the client's wall time of each request (HTTP
   included, the Bundle parsed); a deep-paging walk counts each page as a request.
3. EXPLAIN ANALYZE (PostgreSQL) and EXPLAIN QUERY PLAN (SQLite) of every statement one
   instance of each query runs, captured in-process, for `docs/search-plans.md`.

Results: `bench/out/search-results-<size>-<label>-<backend>.json`; the report is the
"## Search" section of docs/benchmarks.md (replaced in place, the rest of the file kept)
and docs/search-plans.md. `--label before --tree DIR` measures another copy of the code
(the server runs with PYTHONPATH=DIR) so that the report can show before/after figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import httpx

from bench import databases, machine, search_data, search_queries
from bench.common import OUT_DIR, ROOT, CpuMeter, MarkedSection, console, percentile
from bench.server import SocleServer

BACKENDS = ("postgres", "sqlite")
TARGET_MS = {"postgres": 20.0, "sqlite": 50.0}
NAMES = {"postgres": "PostgreSQL", "sqlite": "SQLite"}
SECTION = MarkedSection("search")
HEADERS = {"Accept": "application/fhir+json"}
_SAFE = "|$:/,.-_~*"


def _env(name: str, default: str) -> str:
    return os.environ.get(f"SOCLE_BENCH_{name}", default)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.search", description="Search latency on a large database."
    )
    p.add_argument("--resources", type=int, default=int(_env("SEARCH_RESOURCES", "1000000")))
    p.add_argument("--backends", default=_env("BACKENDS", "postgres,sqlite"))
    p.add_argument("--reuse", action="store_true", help="reuse the databases of an earlier load")
    p.add_argument("--processes", type=int, default=2, help="loading processes")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--hint", type=int, default=20, help="resources per patient Bundle (hint)")
    p.add_argument("--samples", type=int, default=40, help="instances per query")
    p.add_argument("--rounds", type=int, default=5, help="measured passes over the instances")
    p.add_argument("--walks", type=int, default=2, help="deep-paging walks per round")
    p.add_argument("--workers", type=int, default=2, help="socle serve --workers")
    p.add_argument("--label", default="after", help="name of this measurement (before/after)")
    p.add_argument("--tree", type=Path, default=None, help="run the server from this copy")
    p.add_argument("--only-queries", default="", help="comma list of query names")
    p.add_argument("--no-explain", action="store_true", help="skip the plans")
    p.add_argument("--load-only", action="store_true", help="load (or check) and stop")
    p.add_argument("--plans-only", action="store_true", help="only redo the plans (no timing)")
    p.add_argument("--render", action="store_true", help="only rewrite the report sections")
    p.add_argument("--postgres-url", default=databases.postgres_base_url())
    p.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    p.add_argument("--plans", type=Path, default=ROOT / "docs" / "search-plans.md")
    args = p.parse_args(argv)
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    wrong = [b for b in args.backends if b not in BACKENDS]
    if wrong:
        p.error(f"--backends: choose among {', '.join(BACKENDS)}")
    return args


# --- HTTP ----------------------------------------------------------------------------------


def _url(fhir: str, text: str) -> str:
    """`Type?a=b&c=d` -> full URL with each value percent-encoded (a + stays a +)."""
    path, _, query = text.partition("?")
    pairs = [pair.partition("=") for pair in query.split("&") if pair]
    encoded = "&".join(f"{quote(n, safe=_SAFE)}={quote(v, safe=_SAFE)}" for n, _, v in pairs)
    return f"{fhir}/{path}?{encoded}" if path else f"{fhir}?{encoded}"


class Client:
    def __init__(self, fhir: str) -> None:
        self.fhir = fhir
        self.http = httpx.Client(timeout=120, headers=HEADERS)

    def get(self, text: str) -> dict:
        return self.fetch(_url(self.fhir, text))

    def fetch(self, url: str) -> dict:
        response = self.http.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"GET {url}: {response.status_code} {response.text[:300]}")
        return response.json()

    def close(self) -> None:
        self.http.close()


def _next(body: dict) -> str | None:
    for link in body.get("link", ()):
        if link.get("relation") == "next":
            return link["url"]
    return None


def run_instance(
    client: Client, query: search_queries.Query, text: str, totals: list | None = None
) -> list[float]:
    """Seconds per request: one for a query, one per page for a deep-paging walk.
    `totals` receives the ``total`` of the first page."""
    times = []
    t0 = time.perf_counter()
    body = client.get(text)
    times.append(time.perf_counter() - t0)
    if totals is not None:
        totals.append(body.get("total"))
    for _ in range(query.pages - 1):
        url = _next(body)
        if url is None:
            break
        t0 = time.perf_counter()
        body = client.fetch(url)
        times.append(time.perf_counter() - t0)
    return times


def summary(seconds: list[float]) -> dict:
    values = sorted(s * 1000 for s in seconds)
    return {
        "n": len(values),
        "p50": round(percentile(values, 50), 2),
        "p95": round(percentile(values, 95), 2),
        "p99": round(percentile(values, 99), 2),
        "max": round(values[-1], 2) if values else 0.0,
        "mean": round(sum(values) / len(values), 2) if values else 0.0,
    }


# --- one backend ---------------------------------------------------------------------------


def prepare(args: argparse.Namespace, backend: str) -> search_data.SearchDatabase:
    sdb = search_data.database(backend, args.resources, args.postgres_url)
    if args.reuse and search_data.reusable(sdb, args.resources, args.seed, args.hint):
        console.print(f"{backend}: reusing {sdb.db.path or sdb.db.schema}")
        search_data.migrate(sdb)
        return sdb
    console.print(
        f"{backend}: loading {args.resources:,} resources with {args.processes} processes "
        f"into {sdb.db.path or sdb.db.schema}"
    )
    meta = search_data.load(sdb, args.resources, args.seed, args.hint, args.processes)
    console.print(
        f"{backend}: {meta['resources']:,} resources in {meta['load_seconds']:,.0f} s "
        f"({meta['resources_per_s']:,.0f}/s), {meta['errors']} errors, "
        f"{meta['analyze']} {meta['analyze_seconds']:.1f} s, {meta['size_mb']:,.0f} MB"
    )
    return sdb


def loaded_window(sdb: search_data.SearchDatabase) -> tuple[int, int] | None:
    """First and last `last_updated` of the Encounters (for the _lastUpdated query)."""
    sql = "SELECT min(last_updated), max(last_updated) FROM resource WHERE res_type = 'Encounter'"
    if sdb.backend == "sqlite":
        import sqlite3

        with sqlite3.connect(sdb.db.path) as conn:
            row = conn.execute(sql).fetchone()
    else:
        with databases.connect(sdb.db.url) as conn:
            row = conn.execute(sql).fetchone()
    return (int(row[0]), int(row[1])) if row and row[0] is not None else None


def measure(args: argparse.Namespace, sdb: search_data.SearchDatabase) -> dict:
    meta = sdb.meta() or {}
    label = f"search-{sdb.label}-{args.label}-{sdb.backend}"
    if args.tree is not None:
        os.environ["PYTHONPATH"] = str(args.tree.resolve())
    try:
        server = SocleServer(sdb.url, workers=args.workers, log_path=OUT_DIR / f"{label}.log")
        with server:
            client = Client(server.fhir)
            try:
                return _measure(args, sdb, meta, client, server.pid)
            finally:
                client.close()
    finally:
        os.environ.pop("PYTHONPATH", None) if args.tree is not None else None


def _measure(
    args: argparse.Namespace,
    sdb: search_data.SearchDatabase,
    meta: dict,
    client: Client,
    server_pid: int | None,
) -> dict:
    data = search_queries.samples(meta["patients"], args.seed, args.hint, args.samples * 2)
    search_queries.resolve_ids(client.get, data)
    queries = search_queries.build(
        data, search_queries.rpps_numbers(args.seed), loaded_window(sdb), args.samples
    )
    wanted = {q for q in args.only_queries.split(",") if q}
    if wanted:
        queries = [q for q in queries if q.name in wanted]
    for q in queries:
        if q.pages > 1:
            q.instances = q.instances[: args.walks]
    console.print(f"{sdb.backend}: warm-up ({sum(len(q.instances) for q in queries)} requests)")
    results: dict[str, Any] = {}
    counts: dict[str, Any] = {}
    for q in queries:
        totals: list[int | None] = []
        for text in q.instances:
            run_instance(client, q, text, totals)
        known = sorted(t for t in totals if isinstance(t, int))
        counts[q.name] = {
            "total": known[len(known) // 2] if known else None,  # median over the instances
            "total_min": known[0] if known else None,
            "total_max": known[-1] if known else None,
        }
    times: dict[str, list[float]] = {q.name: [] for q in queries}
    meter = CpuMeter(server_pid)
    started = time.perf_counter()
    for round_number in range(args.rounds):
        for q in queries:
            for text in q.instances:
                times[q.name].extend(run_instance(client, q, text))
        console.print(f"  round {round_number + 1}/{args.rounds} done")
    cpu = meter.stop().as_dict()
    for q in queries:
        results[q.name] = {**q.as_dict(), **summary(times[q.name]), **counts[q.name]}
        results[q.name]["instances"] = len(q.instances)
    return {
        "backend": sdb.backend,
        "label": args.label,
        "database": sdb.db.path.name if sdb.db.path else sdb.db.schema,
        "load": meta,
        "started": datetime.now(UTC).astimezone().isoformat(timespec="seconds"),
        "measure_seconds": round(time.perf_counter() - started, 1),
        "cpu_cores": cpu,
        "load_average": machine.load_average() if hasattr(machine, "load_average") else None,
        "queries": results,
    }


# --- plans ---------------------------------------------------------------------------------


def explain(args: argparse.Namespace, sdb: search_data.SearchDatabase, queries: list) -> list:
    """Run one instance of each query in-process and explain every statement it sends."""
    from sqlalchemy import event

    from socle.fhir.context import RequestContext
    from socle.fhir.rest.interactions.search import run_search

    engine = search_data._engine(sdb.url)
    captured: list[tuple[str, Any]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001, ARG001
        captured.append((statement, parameters))

    event.listen(engine.store.engine, "before_cursor_execute", capture)
    out = []
    try:
        ctx = RequestContext(tenant=engine.settings.tenant, base_url="http://bench/fhir")
        for q in queries:
            if not q.instances:
                continue
            text = q.example
            path, _, query = text.partition("?")
            params = search_queries.pairs(query)
            parts = [p for p in path.split("/") if p]
            res_type, compartment = (parts[0] if parts else None), None
            if len(parts) == 3:
                compartment, res_type = (parts[0], parts[1]), parts[2]
            with engine.store.session(ctx.tenant) as s:
                bundle = None
                for _ in range(q.pages - 1):  # walk to the last page, then capture it
                    bundle = run_search(engine, s, ctx, res_type, params, compartment=compartment)
                    nxt = _next(bundle)
                    if nxt is None:
                        break
                    params = parse_qsl(urlsplit(nxt).query, keep_blank_values=True)
                timings = []
                for _ in range(3):  # the best of three: the statements of the last one
                    captured.clear()
                    t0 = time.perf_counter()
                    run_search(engine, s, ctx, res_type, params, compartment=compartment)
                    timings.append((time.perf_counter() - t0) * 1000)
                in_process_ms = min(timings)
                statements = [
                    (sql, p)
                    for sql, p in captured
                    if sql.lstrip().upper().startswith(("SELECT", "WITH"))
                ]
                plans = []
                for sql, p in statements:
                    if "set_config" in sql:
                        continue
                    plans.append({"sql": sql, "plan": _plan(s, sdb.backend, sql, p)})
            out.append(
                {
                    "name": q.name,
                    "query": text if q.pages == 1 else f"{text} (page {q.pages})",
                    "in_process_ms": round(in_process_ms, 2),
                    "statements": plans,
                }
            )
    finally:
        event.remove(engine.store.engine, "before_cursor_execute", capture)
        engine.close()
    return out


def _plan(session: Any, backend: str, sql: str, params: Any) -> str:
    raw = session.conn.connection.dbapi_connection
    if backend == "postgres":
        with raw.cursor() as cur:
            cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
            return "\n".join(row[0] for row in cur.fetchall())
    cur = raw.cursor()
    rows = cur.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
    depth: dict[int, int] = {0: -1}
    lines = []
    for node, parent, _, detail in rows:
        depth[node] = depth.get(parent, -1) + 1
        lines.append("  " * depth[node] + detail)
    return "\n".join(lines)


# --- report --------------------------------------------------------------------------------


def results_path(size: str, label: str, backend: str) -> Path:
    return OUT_DIR / f"search-results-{size}-{label}-{backend}.json"


def load_results(size: str, label: str, backend: str) -> dict | None:
    try:
        return json.loads(results_path(size, label, backend).read_text())
    except (OSError, ValueError):
        return None


def render_section(size: str, backends: list[str]) -> str:
    from bench.search_report import render

    runs = {b: load_results(size, "after", b) for b in backends}
    before = {b: load_results(size, "before", b) for b in backends}
    plans = {b: load_results(size, "plans", b) for b in backends}
    return render(size, runs, before, plans)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    size = search_data.size_label(args.resources)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    if "postgres" in args.backends and databases.postgres_version(args.postgres_url) is None:
        console.print("[yellow]PostgreSQL is not reachable: skipped.[/]")
        args.backends = [b for b in args.backends if b != "postgres"]
    if not args.render:
        for backend in args.backends:
            sdb = prepare(args, backend)
            if args.load_only:
                continue
            if not args.plans_only:
                result = measure(args, sdb)
                results_path(size, args.label, backend).write_text(json.dumps(result, indent=1))
                for name, r in result["queries"].items():
                    console.print(
                        f"  {name:32s} p50 {r['p50']:8.2f}  p95 {r['p95']:8.2f}  "
                        f"p99 {r['p99']:8.2f} ms"
                    )
            if not args.no_explain and args.tree is None:
                console.print(f"{backend}: plans")
                data = search_queries.samples(
                    (sdb.meta() or {})["patients"], args.seed, args.hint, args.samples * 2
                )
                client_engine = search_data._engine(sdb.url)
                try:
                    search_queries.resolve_ids(lambda t, e=client_engine: _local_get(e, t), data)
                finally:
                    client_engine.close()
                queries = search_queries.build(
                    data, search_queries.rpps_numbers(args.seed), loaded_window(sdb), 1
                )
                wanted = {q for q in args.only_queries.split(",") if q}
                if wanted:
                    queries = [q for q in queries if q.name in wanted]
                plans = {"backend": backend, "plans": explain(args, sdb, queries)}
                results_path(size, "plans", backend).write_text(json.dumps(plans, indent=1))
    if args.label == "after" or args.render:
        everything = [b for b in BACKENDS if load_results(size, "after", b)]
        if everything:
            SECTION.write(args.output, render_section(size, everything))
            from bench.search_report import render_plans

            plans = {b: load_results(size, "plans", b) for b in everything}
            runs = {b: load_results(size, "after", b) for b in everything}
            args.plans.write_text(render_plans(size, plans, runs), encoding="utf-8")
            console.print(f"Report: {args.output} (## Search) and {args.plans}")
    return 0


def _local_get(engine: Any, text: str) -> dict:
    """A search run in-process (the ids of the sample patients for the plans)."""
    from socle.fhir.context import RequestContext
    from socle.fhir.rest.interactions.search import run_search

    path, _, query = text.partition("?")
    ctx = RequestContext(tenant=engine.settings.tenant, base_url="http://bench/fhir")
    with engine.store.session(ctx.tenant) as s:
        return run_search(engine, s, ctx, path, search_queries.pairs(query))


if __name__ == "__main__":
    sys.exit(main())
