"""The search benchmark's databases: generated, loaded once, kept for reruns.

Data: `socle.demo.synthetic` (the reference pool of Organizations, Practitioners and
PractitionerRoles, then one transaction Bundle per patient), loaded in-process through the
`BundleProcessor` that `socle load` uses, by several processes that take the next patient
from a shared counter until the wanted number of resources is reached. Each Bundle is one
database transaction, as in `socle load`.

The databases are named after their size and kept: the SQLite file
`bench/out/search-<size>.db` and the PostgreSQL schema `bench_search_<size>` (e.g.
`bench_search_1m`). A JSON file next to them (`bench/out/search-<size>-<backend>.json`)
records how the load went; `--reuse` trusts a database only when that file says the load
finished with the same parameters. After loading: VACUUM (ANALYZE) on PostgreSQL (the tables
of the schema only: statistics, and the visibility map of index-only scans, which
autovacuum would build in production), ANALYZE then PRAGMA optimize on SQLite.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import databases
from bench.common import OUT_DIR, CpuMeter, console

LOAD_VERSION = 1  # bump when the loaded content changes meaning


def size_label(resources: int) -> str:
    """1000000 -> '1m', 200000 -> '200k', 3000 -> '3k', 1234 -> '1234'."""
    if resources % 1_000_000 == 0:
        return f"{resources // 1_000_000}m"
    if resources % 1000 == 0:
        return f"{resources // 1000}k"
    return str(resources)


@dataclass
class SearchDatabase:
    backend: str
    label: str
    db: databases.BenchDatabase
    meta_path: Path

    @property
    def url(self) -> str:
        return self.db.url

    def meta(self) -> dict | None:
        try:
            return json.loads(self.meta_path.read_text())
        except (OSError, ValueError):
            return None


def database(backend: str, resources: int, pg_url: str) -> SearchDatabase:
    """The (possibly not yet existing) database of this size on `backend`."""
    label = size_label(resources)
    meta = OUT_DIR / f"search-{label}-{backend}.json"
    if backend == "sqlite":
        path = OUT_DIR / f"search-{label}.db"
        db = databases.BenchDatabase("sqlite", f"search-{label}", f"sqlite:///{path}", path=path)
    else:
        schema = f"bench_search_{label}"
        url = databases._with_search_path(pg_url, schema)
        db = databases.BenchDatabase(
            "postgres", f"search-{label}", url, schema=schema, base_url=pg_url
        )
    return SearchDatabase(backend, label, db, meta)


def reusable(sdb: SearchDatabase, resources: int, seed: int, hint: int) -> bool:
    meta = sdb.meta()
    if not meta or not meta.get("complete"):
        return False
    wanted = {"target_resources": resources, "seed": seed, "hint": hint, "version": LOAD_VERSION}
    if any(meta.get(k) != v for k, v in wanted.items()):
        return False
    if sdb.backend == "sqlite":
        return sdb.db.path is not None and sdb.db.path.exists()
    with databases.connect(sdb.db.base_url) as conn:
        row = conn.execute(
            "SELECT 1 FROM pg_tables WHERE schemaname = %s AND tablename = 'resource'",
            (sdb.db.schema,),
        ).fetchone()
    return row is not None


def recreate(sdb: SearchDatabase) -> None:
    """Drop whatever is there and create an empty, migrated database."""
    sdb.meta_path.unlink(missing_ok=True)
    if sdb.backend == "sqlite":
        databases.drop(sdb.db)
        assert sdb.db.path is not None
        sdb.db.path.parent.mkdir(parents=True, exist_ok=True)
    else:
        with databases.connect(sdb.db.base_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{sdb.db.schema}" CASCADE')
            conn.execute(f'CREATE SCHEMA "{sdb.db.schema}"')
    databases.migrate(sdb.db)


def migrate(sdb: SearchDatabase) -> float:
    """Bring a reused database to the current schema (new migrations, e.g. indexes)."""
    return databases.migrate(sdb.db)


# --- loading -------------------------------------------------------------------------------


def _engine(url: str) -> Any:
    from socle.config import Settings
    from socle.fhir.engine import FhirEngine

    settings = Settings(data_dir=OUT_DIR, database_url=url)
    engine = FhirEngine(settings)
    engine.load_plugins()
    return engine


def _apply(engine: Any, processor: Any, bundle: dict) -> int:
    """Process one transaction Bundle; returns the number of failed entries."""
    from socle.fhir.context import RequestContext
    from socle.fhir.errors import FhirError

    ctx = RequestContext(tenant=engine.settings.tenant)
    try:
        response = processor.process(ctx, bundle, "minimal")
    except FhirError:
        return len(bundle.get("entry", ()))
    return sum(1 for e in response["entry"] if e["response"]["status"][:1] not in ("2", "3"))


def _worker(url: str, target: int, seed: int, hint: int, shared: dict) -> None:
    """Load patients from the shared counter until `target` resources are in."""
    import orjson

    from socle.demo.synthetic import synthetic_patient_bundle
    from socle.fhir.rest.interactions.transaction import bundle_processor

    engine = _engine(url)
    processor = bundle_processor(engine)
    lock, next_index, total, errors = (
        shared["lock"],
        shared["next"],
        shared["total"],
        shared["errors"],
    )
    try:
        while True:
            with lock:
                if total.value >= target:
                    return
                index = next_index.value
                next_index.value += 1
            bundle = synthetic_patient_bundle(index, seed, hint)
            n = len(bundle["entry"])
            with lock:
                total.value += n
            # a round trip through bytes, as `socle load` parses files
            failed = _apply(engine, processor, orjson.loads(orjson.dumps(bundle)))
            if failed:
                with lock:
                    errors.value += failed
    finally:
        engine.close()


def load(
    sdb: SearchDatabase,
    resources: int,
    seed: int,
    hint: int,
    processes: int,
) -> dict:
    """Generate and load `resources` resources into a fresh database; returns the figures."""
    from socle.demo.synthetic import synthetic_reference_bundle

    recreate(sdb)
    started = time.perf_counter()
    meter = CpuMeter(None)
    engine = _engine(sdb.url)
    try:
        from socle.fhir.rest.interactions.transaction import bundle_processor

        reference = synthetic_reference_bundle(seed)
        errors = _apply(engine, bundle_processor(engine), reference)
    finally:
        engine.close()
    ctx = mp.get_context("fork")
    shared = {
        "lock": ctx.Lock(),
        "next": ctx.Value("q", 0, lock=False),
        "total": ctx.Value("q", len(reference["entry"]), lock=False),
        "errors": ctx.Value("q", errors, lock=False),
    }
    workers = [
        ctx.Process(target=_worker, args=(sdb.url, resources, seed, hint, shared), daemon=True)
        for _ in range(processes)
    ]
    for w in workers:
        w.start()
    last_report = time.perf_counter()
    while any(w.is_alive() for w in workers):
        time.sleep(1.0)
        if time.perf_counter() - last_report >= 30:
            last_report = time.perf_counter()
            done = shared["total"].value
            elapsed = last_report - started
            console.print(
                f"  {sdb.backend}: {done:,} / {resources:,} resources in {elapsed:,.0f} s "
                f"({done / elapsed:,.0f}/s), {shared['errors'].value} errors"
            )
    bad = [w.exitcode for w in workers if w.exitcode != 0]
    if bad:
        raise RuntimeError(f"{sdb.backend} load: a worker exited with {bad}")
    load_seconds = time.perf_counter() - started
    cpu = meter.stop().as_dict()  # the workers are children: counted as "other", see below
    since = time.perf_counter()
    stats = analyze(sdb)
    analyze_seconds = time.perf_counter() - since
    loaded = shared["total"].value
    meta = {
        "complete": True,
        "version": LOAD_VERSION,
        "backend": sdb.backend,
        "target_resources": resources,
        "resources": loaded,
        "patients": shared["next"].value,
        "seed": seed,
        "hint": hint,
        "processes": processes,
        "errors": shared["errors"].value,
        "load_seconds": round(load_seconds, 1),
        "resources_per_s": round(loaded / load_seconds, 1),
        "machine_cpu_cores_during_load": cpu.get("machine_busy"),
        "analyze_seconds": round(analyze_seconds, 1),
        "analyze": stats,
        "size_mb": databases.size_mb(sdb.db),
        "loaded_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    sdb.meta_path.write_text(json.dumps(meta, indent=1))
    return meta


def analyze(sdb: SearchDatabase) -> str:
    """Planner statistics after a bulk load (see docs/search.md, PostgreSQL statistics)."""
    if sdb.backend == "postgres":
        vacuum_analyze(sdb.db)
        return "VACUUM (ANALYZE) of every table of the schema"
    assert sdb.db.path is not None
    with sqlite3.connect(sdb.db.path, timeout=60) as conn:
        conn.execute("ANALYZE")
        conn.execute("PRAGMA optimize")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return "ANALYZE, PRAGMA optimize"


def vacuum_analyze(db: databases.BenchDatabase) -> None:
    """What autovacuum would do after a bulk load (it is off on this machine's server):
    statistics for the planner, and the visibility map that index-only scans need."""
    assert db.base_url is not None
    with databases.connect(db.base_url, autocommit=True) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s", (db.schema,)
            )
        ]
        for table in tables:  # a bare VACUUM would visit every schema of the database
            conn.execute(f'VACUUM (ANALYZE) "{db.schema}"."{table}"')


def cpu_count() -> int:
    return os.cpu_count() or 1
