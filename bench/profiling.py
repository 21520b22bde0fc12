"""Where the in-process ingest spends its time (the `BundleProcessor` path of `socle load`).

The profiled code runs in a child process (`python -m bench.profiling ...`): it builds the
engine, loads a few warm-up Bundles (model loading and the compilation of index paths are
one-time costs), then processes the measured Bundles inside `_measured()`. Only samples
under `_measured()` count.

Two profilers: py-spy (a sampling profiler, little overhead, used when the `py-spy` command
is found; it is not a dependency of Socle) and cProfile (standard library, always there; its
per-call overhead inflates code that makes many small Python calls). The report gives the
profiler used, self time per function, time per area, and inclusive time of Socle functions.
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from bench.common import OUT_DIR, ROOT, console
from bench.dataset import Dataset

MARKER = "_measured"

# (area, test on "function (file)") in order; the first that matches wins.
AREAS: list[tuple[str, re.Pattern[str]]] = [
    (
        "database: driver calls and waiting (psycopg, sqlite3)",
        re.compile(
            r"psycopg|sqlite3|do_execute(many|_no_params)? \(sqlalchemy"
            r"|do_commit \(sqlalchemy|do_rollback \(sqlalchemy"
        ),
    ),
    (
        "SQLAlchemy Core: statement building, compiling, parameters, results",
        re.compile(r"sqlalchemy"),
    ),
    ("structural validation (socle/fhir/validation)", re.compile(r"socle/fhir/validation")),
    ("index extraction (socle/fhir/indexing)", re.compile(r"socle/fhir/indexing|fhirpathpy")),
    (
        "Bundle processing: entries, reference rewriting (socle/fhir/bundles)",
        re.compile(r"socle/fhir/bundles"),
    ),
    ("storage layer (socle/fhir/storage)", re.compile(r"socle/fhir/storage")),
    ("JSON (orjson, jsonio)", re.compile(r"orjson|socle/fhir/jsonio")),
    ("search (socle/fhir/search)", re.compile(r"socle/fhir/search")),
    ("REST layer (socle/fhir/rest)", re.compile(r"socle/fhir/rest")),
    ("other Socle code (crud, datetime, ids...)", re.compile(r"socle/")),
    (
        "HTTP server: uvicorn, Starlette, asyncio, thread hand-off",
        re.compile(r"uvicorn|starlette|httptools|h11|anyio|asyncio|concurrent/futures|threading"),
    ),
]
OTHER = "Python standard library and other"


def area_of(frame: str) -> str:
    for name, pattern in AREAS:
        if pattern.search(frame):
            return name
    return OTHER


# --- parent side -------------------------------------------------------------------------


def find_py_spy() -> str | None:
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


def profile_ingest(
    db_url: str, data: Dataset, warmup: range, measured: range, tool: str, label: str
) -> dict:
    """Profile `BundleProcessor.process` over `measured` bundles; tool: auto|py-spy|cprofile."""
    bundles_file = OUT_DIR / f"profile-{label}-bundles.ndjson"
    with bundles_file.open("wb") as out:
        out.write(data.reference + b"\n")
        for index in [*warmup, *measured]:
            out.write(data.bundles[index] + b"\n")
    target = [
        sys.executable,
        "-m",
        "bench.profiling",
        "--database",
        db_url,
        "--bundles",
        str(bundles_file),
        "--warmup",
        str(1 + len(warmup)),
    ]
    py_spy = find_py_spy() if tool in ("auto", "py-spy") else None
    if tool == "py-spy" and py_spy is None:
        console.print("[yellow]py-spy not found; using cProfile[/]")
    try:
        if py_spy:
            result = _with_py_spy(py_spy, target, label)
            if result is not None:
                return result
            console.print("[yellow]py-spy failed (ptrace not allowed?); using cProfile[/]")
        return _with_cprofile(target, label)
    finally:
        bundles_file.unlink(missing_ok=True)


def _run_target(cmd: list[str]) -> dict:
    done = subprocess.run(
        cmd, capture_output=True, text=True, timeout=900, cwd=ROOT, env={**os.environ}
    )
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"profiled run failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(lines[-1])


def profile_server(
    py_spy: str, server_pid: int, label: str, load: Callable[[], object]
) -> dict | None:
    """Sample the server's master and workers with py-spy while `load()` sends requests."""
    raw = OUT_DIR / f"profile-{label}.pyspy.txt"
    raw.unlink(missing_ok=True)
    cmd = [py_spy, "record", "--pid", str(server_pid), "--subprocesses", "--rate", "100"]
    cmd += ["--format", "raw", "--output", str(raw)]
    cmd += ["--nonblocking", "--gil"]  # only the thread holding the GIL: Python CPU time
    spy = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)  # let py-spy attach to the master and its workers
        load()
    finally:
        if spy.poll() is None:
            spy.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
        try:
            spy.wait(timeout=60)
        except subprocess.TimeoutExpired:
            spy.kill()
            spy.wait(10)
    if not raw.exists() or not raw.stat().st_size:
        console.print(f"[yellow]py-spy on the server failed: {(spy.stderr.read() or '')[-300:]}[/]")
        return None
    stacks = []
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [_clean(f) for f in stack.split(";")]
        stacks.append(([f for f in frames if not f.startswith("process ")], int(count)))
    tool = "py-spy (sampling, 100 Hz, --gil --nonblocking, master and workers)"
    return {"tool": tool, **_summarise(stacks)}


def _with_py_spy(py_spy: str, target: list[str], label: str) -> dict | None:
    raw = OUT_DIR / f"profile-{label}.pyspy.txt"
    raw.unlink(missing_ok=True)
    cmd = [py_spy, "record", "--rate", "250", "--format", "raw", "--output", str(raw)]
    cmd += ["--nonblocking", "--", *target, "--mode", "plain"]
    try:
        run = _run_target(cmd)
    except (RuntimeError, subprocess.TimeoutExpired):
        return None
    if not raw.exists():
        return None
    stacks = []
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [_clean(f) for f in stack.split(";")]
        for i, frame in enumerate(frames):
            if frame.startswith(MARKER + " "):
                stacks.append((frames[i + 1 :], int(count)))
                break
    summary = _summarise(stacks)
    tool = "py-spy (sampling, 250 Hz, --nonblocking; wall-clock samples of the ingest thread)"
    return {"tool": tool, "run": run, **summary}


_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>.*?)(?::\d+)?\)$")


def _clean(frame: str) -> str:
    """`func (path/to/file.py:123)` -> `func (file.py relative to site-packages or repo)`."""
    match = _FRAME.match(frame)
    if not match:
        return frame
    path = match["file"].split("site-packages/")[-1].replace(str(ROOT) + "/", "")
    return f"{match['func']} ({path})"


def _summarise(stacks: list[tuple[list[str], int]]) -> dict:
    total = sum(n for _, n in stacks) or 1
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    for frames, n in stacks:
        if not frames:
            continue
        own[frames[-1]] += n
        areas[area_of(frames[-1])] += n
        for frame in set(frames):
            inclusive[frame] += n
    return _tables(own, inclusive, areas, total, unit="samples")


def _tables(own: Counter, inclusive: Counter, areas: Counter, total: float, unit: str) -> dict:
    def pct(x: float) -> float:
        return round(100 * x / total, 1)

    socle_inclusive = [
        (f, pct(n)) for f, n in inclusive.most_common() if "socle/" in f and pct(n) < 99.5
    ]
    return {
        "total": round(total, 3),
        "unit": unit,
        "areas": [(a, pct(n)) for a, n in areas.most_common()],
        "self_top": [(f, pct(n)) for f, n in own.most_common(20)],
        "socle_inclusive_top": socle_inclusive[:20],
    }


def _with_cprofile(target: list[str], label: str) -> dict:
    stats_file = OUT_DIR / f"profile-{label}.pstats"
    run = _run_target([*target, "--mode", "cprofile", "--stats", str(stats_file)])
    stats = pstats.Stats(str(stats_file)).stats  # type: ignore[attr-defined]
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    total = 0.0
    for (file, line, func), (_cc, _nc, tottime, cumtime, _callers) in stats.items():
        name = _clean(f"{func} ({file}:{line})") if file != "~" else func
        if MARKER in func or "bench/" in name:
            continue
        total += tottime
        own[name] += tottime
        inclusive[name] += cumtime
        areas[area_of(name)] += tottime
    return {
        "tool": "cProfile (deterministic; per-call overhead)",
        "run": run,
        **_tables(own, inclusive, areas, total, unit="seconds"),
    }


# --- child side ----------------------------------------------------------------------------


def _measured(processor, ctx, bundles: list[bytes], parse) -> int:  # noqa: ANN001
    """The profiled part: only samples below this frame count."""
    return _process_all(processor, ctx, bundles, parse)


def _process_all(processor, ctx, bundles: list[bytes], parse) -> int:  # noqa: ANN001
    resources = 0
    for raw in bundles:
        response = processor.process(ctx, parse(raw), "minimal")
        resources += len(response["entry"])
    return resources


def _child(args: argparse.Namespace) -> None:
    from socle.config import Settings
    from socle.fhir.context import RequestContext
    from socle.fhir.engine import FhirEngine
    from socle.fhir.jsonio import parse_json
    from socle.fhir.rest.interactions.transaction import bundle_processor

    settings = Settings(data_dir=OUT_DIR, database_url=args.database)
    engine = FhirEngine(settings)
    engine.load_plugins()
    processor = bundle_processor(engine)
    ctx = RequestContext(tenant=settings.tenant)

    def parse(raw: bytes):  # noqa: ANN202
        return parse_json(raw, max_bytes=settings.max_body_bytes, max_depth=settings.max_json_depth)

    bundles = Path(args.bundles).read_bytes().splitlines()
    _process_all(processor, ctx, bundles[: args.warmup], parse)  # warm-up, not counted
    timed = bundles[args.warmup :]
    started = time.perf_counter()
    if args.mode == "cprofile":
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
        resources = _measured(processor, ctx, timed, parse)
        profiler.disable()
        profiler.dump_stats(args.stats)
    else:
        resources = _measured(processor, ctx, timed, parse)
    seconds = time.perf_counter() - started
    engine.close()
    rate = round(resources / seconds, 1)
    print(
        json.dumps(
            {
                "bundles": len(timed),
                "resources": resources,
                "seconds": round(seconds, 2),
                "resources_per_s_under_profiler": rate,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="profiled in-process ingest (internal)")
    parser.add_argument("--database", required=True)
    parser.add_argument("--bundles", required=True)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--mode", choices=["plain", "cprofile"], default="plain")
    parser.add_argument("--stats")
    _child(parser.parse_args())


if __name__ == "__main__":
    main()
