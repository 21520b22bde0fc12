"""`python -m bench.run` (`make bench`): run the benchmarks and write docs/benchmarks.md.

Every run uses fresh databases (SQLite files under bench/out/, PostgreSQL schemas
`bench_<run>_<label>` dropped at the end) and a real `socle serve` on a loopback port.
Options come from flags or SOCLE_BENCH_* variables (flags win); see `--help`.
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

from bench import (
    common,
    copy_baseline,
    crud,
    databases,
    dataset,
    ingest,
    machine,
    profiling,
    report,
)
from bench.common import OUT_DIR, ROOT, console, progress
from bench.server import SocleServer

BENCHMARKS = ("ingest", "crud", "copy", "profile")
# Only when asked: `--only search` (bench/search.py, 1M resources), `--only services`
# (bench/services.py: terminology and security overhead).
OPTIONAL = ("search", "services", "ins")  # ins: bench/ins.py (INS matching, MLLP feed)
# In-process sections run by default after the others (bench/validation.py).
SECTIONS = ("validation",)
BACKENDS = ("sqlite", "postgres")


def _env(name: str, default: str) -> str:
    return os.environ.get(f"SOCLE_BENCH_{name}", default)


def _csv(value: str, allowed: Sequence[str], what: str) -> list[str]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    wrong = [v for v in items if v not in allowed]
    if wrong or not items:
        raise argparse.ArgumentTypeError(f"{what}: choose among {', '.join(allowed)}")
    return items


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Socle benchmarks: bundle ingest, mixed CRUD, physical limit, profile.",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        default=_env("QUICK", "") not in ("", "0"),
        help="small sizes for a smoke run (SOCLE_BENCH_QUICK=1)",
    )
    p.add_argument(
        "--resources",
        type=int,
        default=None,
        help="resources to generate and load (default 100000; 3000 with --quick)",
    )
    p.add_argument(
        "--backends",
        default=_env("BACKENDS", "sqlite,postgres"),
        help="comma list of sqlite,postgres",
    )
    p.add_argument(
        "--only",
        default=_env("ONLY", ",".join(BENCHMARKS + SECTIONS)),
        help="comma list of ingest,crud,copy,profile,validation (default) and search (1M "
        "resources, see bench/search.py; its databases are kept and reused), services",
    )
    p.add_argument("--seed", type=int, default=int(_env("SEED", "1")))
    p.add_argument(
        "--bundle-size",
        type=int,
        default=int(_env("BUNDLE_SIZE", "20")),
        help="resources per patient Bundle (the generator's hint; mean ~ hint + 1)",
    )
    p.add_argument(
        "--ingest-clients",
        default=_env("INGEST_CLIENTS", "1,2,4"),
        help="client counts tried for the HTTP ingest (the best >1 loads the rest)",
    )
    p.add_argument(
        "--inprocess-share",
        type=float,
        default=float(_env("INPROCESS_SHARE", "0.15")),
        help="share of the Bundles loaded in-process (after the same warm-up)",
    )
    p.add_argument("--crud-clients", type=int, default=int(_env("CRUD_CLIENTS", "8")))
    p.add_argument(
        "--crud-seconds",
        type=float,
        default=None,
        help="measured duration of the CRUD mix (default 20; 4 with --quick)",
    )
    p.add_argument(
        "--crud-warmup",
        type=float,
        default=None,
        help="unmeasured warm-up of the CRUD mix (default 3; 1 with --quick)",
    )
    p.add_argument(
        "--workers", type=int, default=int(_env("WORKERS", "2")), help="socle serve --workers"
    )
    p.add_argument(
        "--profiler",
        choices=["auto", "py-spy", "cprofile"],
        default=_env("PROFILER", "auto"),
        help="auto: py-spy when installed, else cProfile",
    )
    p.add_argument(
        "--profile-bundles",
        type=int,
        default=None,
        help="Bundles processed under the profiler (default 250; 30 with --quick)",
    )
    p.add_argument(
        "--postgres-url",
        default=databases.postgres_base_url(),
        help="PostgreSQL server (SOCLE_BENCH_POSTGRES_URL, else SOCLE_TEST_POSTGRES_URL)",
    )
    p.add_argument(
        "--output",
        type=Path,
        default=None,
        help="report path (default docs/benchmarks.md; bench/out/... with --quick)",
    )
    p.add_argument("--keep", action="store_true", help="keep the databases after the run")
    p.add_argument(
        "--render",
        type=Path,
        metavar="RESULTS_JSON",
        help="only re-render the report from the raw results of an earlier run",
    )
    args = p.parse_args(argv)
    try:
        args.backends = _csv(args.backends, BACKENDS, "--backends")
        args.only = _csv(args.only, BENCHMARKS + SECTIONS + OPTIONAL, "--only")
        args.ingest_clients = [int(c) for c in args.ingest_clients.split(",") if c.strip()]
    except (argparse.ArgumentTypeError, ValueError) as exc:
        p.error(str(exc))
    q = args.quick
    if args.resources is None:
        args.resources = int(_env("RESOURCES", "3000" if q else "100000"))
    if args.crud_seconds is None:
        args.crud_seconds = float(_env("CRUD_SECONDS", "4" if q else "20"))
    if args.crud_warmup is None:
        args.crud_warmup = float(_env("CRUD_WARMUP", "1" if q else "3"))
    if args.profile_bundles is None:
        args.profile_bundles = int(_env("PROFILE_BUNDLES", "30" if q else "250"))
    if args.output is None:
        args.output = OUT_DIR / "benchmarks-quick.md" if q else ROOT / "docs" / "benchmarks.md"
    return args


class Runner:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.run_id = datetime.now().strftime("%Y%m%d%H%M%S")
        self.databases: list[databases.BenchDatabase] = []
        self.started = time.perf_counter()
        self.results: dict = {
            "started": datetime.now(UTC).astimezone().isoformat(timespec="seconds"),
            "command": "python -m bench.run " + " ".join(sys.argv[1:]),
            "options": {
                k: (str(v) if isinstance(v, Path) else v)
                for k, v in vars(args).items()
                if k != "postgres_url"
            },
            "backends": {},
            "baselines": [],
            "notes": [],
            "phase_seconds": {},
        }

    def log(self, message: str) -> None:
        console.print(message)

    def note(self, message: str) -> None:
        self.results["notes"].append(message)
        console.print(f"[yellow]{message}[/]")

    def phase(self, name: str, since: float) -> None:
        self.results["phase_seconds"][name] = round(time.perf_counter() - since, 1)

    def fresh_db(self, backend: str, label: str) -> databases.BenchDatabase:
        db = databases.fresh(backend, self.run_id, label, self.args.postgres_url)
        self.databases.append(db)
        databases.migrate(db)
        return db

    # -- steps ------------------------------------------------------------------------

    def run(self) -> int:
        args = self.args
        console.rule("[bold]Socle benchmarks")
        pg_version = databases.postgres_version(args.postgres_url)
        self.results["machine"] = machine.describe(args.postgres_url if pg_version else None)
        if pg_version is not None:
            common.watch_postgres(
                databases.libpq_url(args.postgres_url), databases.APPLICATION_NAME
            )
        if "postgres" in args.backends and pg_version is None:
            args.backends = [b for b in args.backends if b != "postgres"]
            self.note("PostgreSQL is not reachable: its benchmarks were skipped.")
        if not args.backends:
            console.print("[red]No backend to benchmark.[/]")
            return 2
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        try:
            self.data = self._dataset()
            for backend in args.backends:
                self._backend(backend)
            if "copy" in args.only:
                self._baselines()
        finally:
            self._cleanup()
        self.results["machine"]["load_average_at_end"] = machine.load_average()
        self.results["duration_s"] = round(time.perf_counter() - self.started, 1)
        raw = OUT_DIR / f"results-{self.run_id}.json"
        raw.write_text(json.dumps(self.results, indent=1, ensure_ascii=False))
        _write_report(args.output, report.render(self.results))
        console.print(f"Report: {args.output}  (raw results: {raw.relative_to(ROOT)})")
        console.print(f"Total time: {self.results['duration_s']:.0f}s")
        return 0

    def _dataset(self) -> dataset.Dataset:
        since = time.perf_counter()
        args = self.args
        with progress() as bar:
            task = bar.add_task("Generating the dataset", total=args.resources)
            data = dataset.build(
                args.resources,
                args.seed,
                args.bundle_size,
                on_bundle=lambda n: bar.advance(task, n),
            )
        self.results["dataset"] = data.describe()
        self.phase("dataset", since)
        self.log(f"{data.resources:,} resources in {len(data.bundles) + 1:,} Bundles")
        return data

    def _backend(self, backend: str) -> None:
        args, data = self.args, self.data
        out: dict = {}
        self.results["backends"][backend] = out
        console.rule(f"[bold]{backend}")
        py_spy = profiling.find_py_spy() if "profile" in args.only else None
        if args.profiler == "cprofile":
            py_spy = None
        steps = ingest.plan(
            len(data.bundles), args.ingest_clients, quick=args.quick, profile=py_spy is not None
        )
        if "ingest" in args.only or "crud" in args.only:
            since = time.perf_counter()
            db = self.fresh_db(backend, "http")
            log_path = OUT_DIR / f"{self.run_id}-{backend}-server.log"
            with SocleServer(db.url, workers=args.workers, log_path=log_path) as server:
                self.log(f"socle serve on {server.root} ({args.workers} workers), {backend}")
                if "ingest" in args.only:
                    self.log("(a) Bundle ingest over HTTP")
                    profiler = None
                    if py_spy and server.pid:
                        label = f"{self.run_id}-{backend}-ingest"

                        def profiler(load, label=label, pid=server.pid):  # noqa: ANN001, ANN202
                            return profiling.profile_server(py_spy, pid, label, load)

                    out["ingest_http"], loaded = ingest.http_ingest(
                        server.fhir,
                        data,
                        args.ingest_clients,
                        server.pid,
                        quick=args.quick,
                        log=self.log,
                        profiler=profiler,
                    )
                else:
                    self.log("Loading the data for the CRUD mix (not measured)")
                    loaded = ingest.HttpIngest(server.fhir, data, server.pid)
                    loaded.post_reference()
                    loaded.run("setup", 4, range(len(data.bundles)))
                self.phase(f"{backend}: http ingest", since)
                if "crud" in args.only:
                    since = time.perf_counter()
                    pools = crud.build_pools(data, loaded.locations, args.crud_clients, args.seed)
                    # As loaded: Socle never runs ANALYZE, and autovacuum may be off (it is
                    # on this machine's PostgreSQL), so the planner has no statistics yet.
                    short = max(2.0, min(10.0, args.crud_seconds / 2))
                    self.log(f"(b) Mixed CRUD, {args.crud_clients} clients, before ANALYZE")
                    out["crud_before_analyze"] = c = crud.run_mixed(
                        server.fhir, pools, args.crud_clients, short, 1.0, server.pid
                    )
                    self.log(f"  {c['requests_per_s']:,.0f} requests/s, {c['errors']} errors")
                    out["analyze_seconds"] = round(databases.analyze(db), 2)
                    self.log(f"  ANALYZE took {out['analyze_seconds']:.1f}s")
                    self.log(f"(b) Mixed CRUD, {args.crud_clients} clients, after ANALYZE")
                    out["crud"] = c = crud.run_mixed(
                        server.fhir,
                        pools,
                        args.crud_clients,
                        args.crud_seconds,
                        args.crud_warmup,
                        server.pid,
                    )
                    self.log(f"  {c['requests_per_s']:,.0f} requests/s, {c['errors']} errors")
                    self.phase(f"{backend}: crud", since)
                    if "profile" in args.only:
                        self._profile_server(backend, server, pools, out)
            out["database_mb_after_http"] = databases.size_mb(db)
            out["resources_loaded_http"] = loaded.loaded
        inproc_db = None
        position = steps.warmup.stop
        if "ingest" in args.only:
            since = time.perf_counter()
            self.log("(a) Bundle ingest in-process (BundleProcessor, as `socle load`)")
            inproc_db = self.fresh_db(backend, "inproc")
            share = max(1, int(len(data.bundles) * args.inprocess_share))
            timed = range(position, min(len(data.bundles), position + share))
            out["ingest_inprocess"] = ingest.inprocess_ingest(
                inproc_db.url, data, steps.warmup, timed, log=self.log
            )
            position = timed.stop
            self.phase(f"{backend}: in-process ingest", since)
        if "profile" in args.only:
            since = time.perf_counter()
            self.log(f"Profiling the in-process ingest ({args.profiler})")
            db = inproc_db or self.fresh_db(backend, "profile")
            warm = 10 if not args.quick else 3
            if position + warm + args.profile_bundles > len(data.bundles):
                position = 0
            warmup = range(position, min(len(data.bundles), position + warm))
            measured = range(
                warmup.stop, min(len(data.bundles), warmup.stop + args.profile_bundles)
            )
            out["profile"] = profiling.profile_ingest(
                db.url, data, warmup, measured, args.profiler, f"{self.run_id}-{backend}"
            )
            self.phase(f"{backend}: profile", since)

    def _profile_server(self, backend: str, server: SocleServer, pools, out: dict) -> None:  # noqa: ANN001
        """The CRUD mix again (not measured), with py-spy sampling the server's workers."""
        py_spy = profiling.find_py_spy() if self.args.profiler != "cprofile" else None
        if py_spy is None or server.pid is None:
            return
        since = time.perf_counter()
        seconds = 4.0 if self.args.quick else 12.0
        self.log(f"Profiling the server under the CRUD mix ({seconds:.0f} s, py-spy)")

        def load() -> None:
            crud.run_mixed(server.fhir, pools, self.args.crud_clients, seconds, 0.0, None)

        result = profiling.profile_server(py_spy, server.pid, f"{self.run_id}-{backend}-crud", load)
        if result is not None:
            out["crud_profile"] = result
        self.phase(f"{backend}: crud profile", since)

    def _baselines(self) -> None:
        since = time.perf_counter()
        console.rule("[bold](c) Physical limit")
        rows, sizes = copy_baseline.prepare_rows(self.data)
        baselines = self.results["baselines"]
        if "postgres" in self.args.backends:
            db = databases.fresh("postgres", self.run_id, "copy", self.args.postgres_url)
            self.databases.append(db)
            for column in ("bytea", "jsonb"):
                baselines.append(
                    copy_baseline.postgres_copy(self.args.postgres_url, db.schema, rows, column)
                )
        if "sqlite" in self.args.backends:
            path = OUT_DIR / f"{self.run_id}-raw.db"
            for per_bundle in (False, True):
                baselines.append(copy_baseline.sqlite_executemany(path, rows, sizes, per_bundle))
        for b in baselines:
            self.log(f"  {b['label']}: {b['resources_per_s']:,.0f} resources/s")
        self.phase("physical limit", since)

    def _cleanup(self) -> None:
        for db in self.databases:
            if self.args.keep:
                console.print(f"kept {db.backend} database: {db.path or db.schema}")
                continue
            try:
                databases.drop(db)
            except Exception as exc:  # noqa: BLE001 - cleanup must go on
                console.print(f"[red]could not drop {db.label}: {exc}[/]")


def _write_report(path: Path, text: str) -> None:
    """Write the report, keeping the "## Search" section that bench/search.py maintains."""
    from bench import ins, search, services, validation

    previous = path.read_text(encoding="utf-8") if path.exists() else None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    search.SECTION.keep(previous, path)
    services.SECTION.keep(previous, path)
    ins.SECTION.keep(previous, path)
    validation.SECTION.keep(previous, path)


def _search(args: argparse.Namespace) -> int:
    from bench import search

    argv = ["--reuse", "--backends", ",".join(args.backends), "--postgres-url", args.postgres_url]
    argv += ["--output", str(args.output)]
    if args.quick:  # a smoke run: a small database (its plans go to bench/out/ too)
        argv += ["--resources", "3000", "--samples", "5", "--rounds", "1"]
        argv += ["--plans", str(OUT_DIR / "search-plans-quick.md")]
    return search.main(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render:
        results = json.loads(args.render.read_text(encoding="utf-8"))
        _write_report(args.output, report.render(results))
        console.print(f"Report: {args.output} (from {args.render})")
        return 0
    status = 0
    if any(b in BENCHMARKS for b in args.only):
        status = Runner(args).run()
    if "search" in args.only and status == 0:
        status = _search(args)
    if "services" in args.only and status == 0:
        from bench import services

        results = services.run(list(args.backends), args.postgres_url, quick=args.quick)
        services.SECTION.write(args.output, services.render(results))
        console.print(f"Services section written to {args.output}")
    if "validation" in args.only and status == 0:
        status = _validation(args)
    if "ins" in args.only and status == 0:
        from bench import ins

        console.rule("[bold]INS")
        ins.run_section(list(args.backends), args.postgres_url, args.output, quick=args.quick)
        console.print(f"INS section written to {args.output}")
    return status


def _validation(args: argparse.Namespace) -> int:
    """In-process validation timings (typical FR Core patient, 10,000 mixed resources)."""
    from bench import validation

    console.rule("[bold]validation")
    quick = ["--runs", "300", "--count", "2000", "--rounds", "1"] if args.quick else []
    argv = [*quick, "--seed", str(args.seed), "--write", str(args.output)]
    status = validation.main(argv)
    console.print(f"Validation section written to {args.output}")
    return status


if __name__ == "__main__":
    sys.exit(main())
