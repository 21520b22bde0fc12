"""Render the results of one run as docs/benchmarks.md."""

from __future__ import annotations

import os
from pathlib import Path

NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
TARGET_INGEST = 2500  # resources/s, PostgreSQL, bundle ingest on the 2-core machine
TARGET_CRUD = 1500  # requests/s, mixed CRUD
NOTES = Path(__file__).with_name("notes.md")
_LIMIT_NAME = {"postgres": "COPY, bytea", "sqlite": "executemany, 1 transaction"}


def _n(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def _pct(part: float | None, whole: float | None) -> str:
    if not part or not whole:
        return "–"
    share = 100 * part / whole
    return f"{share:.0f}%" if share >= 10 else f"{share:.2g}%"


def _cpu(cpu: dict) -> str:
    if not cpu:
        return "–"
    other = cpu.get("other", 0.0)
    flag = " ⚠" if other >= NOISY else ""
    return (
        f"{cpu['machine_busy']:.2f} = {cpu['client']:.2f} + {cpu['server']:.2f} + "
        f"{cpu['postgres']:.2f} + {other:.2f}{flag}"
    )


NOISY = 0.25  # cores used by other processes above which a measurement is flagged
CPU_LEGEND = (
    "CPU columns are in cores (2.00 = both cores busy all along): machine busy = benchmark "
    "process (HTTP clients, or the in-process ingest) + `socle serve` master and workers + "
    "PostgreSQL (this run's backends, found by `application_name`, and the background "
    "processes) + *other* (everything else: other users of this shared machine and of its "
    "PostgreSQL server; noise; "
    f"⚠ marks {NOISY} core or more, a measurement the noise may have slowed down). "
    "*CPU ms per resource* (or per request) is the CPU that Socle (the server, or the "
    "in-process ingest) and PostgreSQL spent per item: other processes slow a measurement "
    "down but hardly change that figure, so it is the one to compare across runs; on 2 cores "
    "the throughput can never exceed 2000 / (that figure + the clients' share)."
)


def render(r: dict) -> str:
    out: list[str] = []
    w = out.append
    backends = list(r["backends"])
    w("# Benchmarks\n")
    w(
        f"Written by `make bench` (`{r['command'].strip()}`) on **{r['started']}**, "
        f"in {r['duration_s'] / 60:.1f} minutes. Every figure below comes from that run; the "
        "raw results are in `bench/out/results-*.json` (not committed). This machine is a "
        "noisy 2-core VM: the same run varies by 10–30% from one time to the next, so compare "
        "orders of magnitude, and re-run before and after a change on the same machine.\n"
    )
    for note in r["notes"]:
        w(f"> **Note:** {note}\n")
    noise = _noise(r)
    if noise:
        mean, worst, flagged, total = noise
        w(
            f"Noise: while the measurements ran, other processes of this machine used "
            f"{mean:.2f} core on average (worst measurement {worst:.2f}); {flagged} of "
            f"{total} measurements are marked ⚠ (≥ {NOISY} core used by others).\n"
        )
    _summary(r, backends, w)
    _machine(r, w)
    _dataset(r, w)
    _ingest(r, backends, w)
    _crud(r, backends, w)
    _baselines(r, backends, w)
    _profiles(r, backends, w)
    _server_profiles(r, backends, w)
    if NOTES.exists():
        w(NOTES.read_text(encoding="utf-8").strip() + "\n")
    _how_to_run(r, w)
    return "\n".join(out)


def _measurements(r: dict) -> list[dict]:
    """The CPU record of every timed measurement of the run."""
    found = []
    for b in r["backends"].values():
        found += [s["cpu_cores"] for s in (b.get("ingest_http") or {}).get("segments", [])]
        for key in ("ingest_inprocess", "crud_before_analyze", "crud"):
            if b.get(key):
                found.append(b[key]["cpu_cores"])
    found += [x["cpu_cores"] for x in r["baselines"]]
    return [c for c in found if c]


def _noise(r: dict) -> tuple[float, float, int, int] | None:
    cpus = _measurements(r)
    if not cpus:
        return None
    wall = sum(c["wall_s"] for c in cpus) or 1.0
    mean = sum(c.get("other", 0.0) * c["wall_s"] for c in cpus) / wall
    worst = max(c.get("other", 0.0) for c in cpus)
    flagged = sum(1 for c in cpus if c.get("other", 0.0) >= NOISY)
    return mean, worst, flagged, len(cpus)


def _ceiling(cpu: dict, items: int) -> float | None:
    """Items/s the machine would reach if all its cores ran this work and nothing else.

    A model, not a measurement: it assumes the work is CPU-bound and spreads over the cores
    (not true of SQLite writers, which serialise), but unlike the throughput it hardly moves
    when other processes steal CPU.
    """
    used = cpu.get("client", 0) + cpu.get("server", 0) + cpu.get("postgres", 0)
    if not cpu or not items or not used:
        return None
    cores = os.cpu_count() or 1
    return cores * items / (used * cpu["wall_s"])


def _get(r: dict, backend: str, *keys: str):  # noqa: ANN202
    node = r["backends"].get(backend, {})
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _baseline(r: dict, prefix: str) -> dict | None:
    return next((b for b in r["baselines"] if b["label"].startswith(prefix)), None)


def _summary(r: dict, backends: list[str], w) -> None:  # noqa: ANN001
    w("## Summary\n")
    header = "| | " + " | ".join(NAMES[b] for b in backends) + " | target |"
    w(header)
    w("|---" * (len(backends) + 2) + "|")

    def row(label: str, cells: list[str], target: str = "") -> None:
        w(f"| {label} | " + " | ".join(cells) + f" | {target} |")

    main = {b: _get(r, b, "ingest_http", "main") for b in backends}
    row(
        "Bundle ingest over HTTP, resources/s (main run)",
        [
            f"**{_n(m['resources_per_s'])}** ({m['clients']} clients)" if m else "–"
            for m in main.values()
        ],
        f"≥ {TARGET_INGEST:,} on PostgreSQL",
    )
    row(
        "… ceiling if both cores were ours (main run's CPU per resource, clients included)",
        [_n(_ceiling(m["cpu_cores"], m["resources"])) if m else "–" for m in main.values()],
    )
    row(
        "Bundle ingest over HTTP, whole load incl. warm-up and trials, resources/s",
        [_n(_get(r, b, "ingest_http", "whole_load", "resources_per_s")) for b in backends],
    )
    row(
        "Bundle ingest in-process (`socle load` path), 1 thread, resources/s",
        [_n(_get(r, b, "ingest_inprocess", "resources_per_s")) for b in backends],
    )
    before = {b: _get(r, b, "crud_before_analyze") for b in backends}
    row(
        "Mixed CRUD over HTTP, as loaded (before ANALYZE), requests/s",
        [
            f"{_n(c['requests_per_s'])} ({c['errors']} errors)" if c else "–"
            for c in before.values()
        ],
    )
    crud = {b: _get(r, b, "crud") for b in backends}
    row(
        "Mixed CRUD over HTTP, after ANALYZE, requests/s",
        [
            f"**{_n(c['requests_per_s'])}** ({c['clients']} clients, {c['errors']} errors)"
            if c
            else "–"
            for c in crud.values()
        ],
        f"≥ {TARGET_CRUD:,}",
    )
    row(
        "… ceiling if both cores were ours (CPU per request, clients included)",
        [_n(_ceiling(c["cpu_cores"], c["requests"])) if c else "–" for c in crud.values()],
    )
    limits = {
        "postgres": _baseline(r, "PostgreSQL COPY, content bytea"),
        "sqlite": _baseline(r, "SQLite executemany, one transaction"),
    }
    row(
        "Physical limit (bare table), resources/s",
        [
            f"{_n(limits[b]['resources_per_s'])} ({_LIMIT_NAME[b]})" if limits.get(b) else "–"
            for b in backends
        ],
    )
    row(
        "Our HTTP ingest as a share of the physical limit",
        [
            _pct(
                main[b]["resources_per_s"] if main[b] else None,
                limits[b]["resources_per_s"] if limits.get(b) else None,
            )
            for b in backends
        ],
    )
    w("")
    verdicts = []
    pg = main.get("postgres")
    if pg:
        share = pg["resources_per_s"] / TARGET_INGEST
        text = (
            f"PostgreSQL bundle ingest: **{_n(pg['resources_per_s'])} resources/s, "
            f"{share:.0%} of the {TARGET_INGEST:,} target** "
            + ("(met)." if share >= 1 else f"(missing ×{1 / share:.1f}).")
        )
        other = pg["cpu_cores"].get("other", 0.0)
        if other >= NOISY:
            text += (
                f" Measured under noise ({other:.2f} core used by other processes during the "
                f"main run); without it, the CPU per resource puts the ceiling at "
                f"{_n(_ceiling(pg['cpu_cores'], pg['resources']))} resources/s."
            )
        verdicts.append(text)
    for b, c in crud.items():
        if c:
            share = c["requests_per_s"] / TARGET_CRUD
            verdicts.append(
                f"{NAMES[b]} mixed CRUD: **{_n(c['requests_per_s'])} requests/s, {share:.0%} of "
                f"the {TARGET_CRUD:,} target** "
                + ("(met)." if share >= 1 else f"(missing ×{1 / share:.1f}).")
            )
    for v in verdicts:
        w(f"- {v}")
    w(
        "- The *ceiling* rows divide the cores by the CPU that the clients, Socle and "
        "PostgreSQL spent per item: what this machine would reach with no other load on it "
        "(an estimate, and an upper bound for SQLite, whose writers take turns). Other "
        "processes slow the measured throughput down, much less the CPU per item."
    )
    w("")


def _machine(r: dict, w) -> None:  # noqa: ANN001
    m = r["machine"]
    w("## Machine\n")
    w(f"- Date: {r['started']}; git: `{m.get('git') or 'unknown'}`")
    w(f"- CPU: {m['cpu_model']}, {m['cores']} cores; RAM: {m['ram_gb']} GB; {m['os']}")
    w(
        f"- Python {m['python']}; SQLite {m['sqlite']}; "
        f"PostgreSQL {m.get('postgresql') or 'not reachable'} (local, default configuration)"
    )
    settings = m.get("postgresql_settings") or {}
    if settings:
        w("- PostgreSQL settings: " + ", ".join(f"`{k}={v}`" for k, v in settings.items()))
    pkgs = ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v)
    w(f"- Packages: {pkgs}")
    w(
        f"- Load average at start / end: {m.get('load_average_at_start')} / "
        f"{m.get('load_average_at_end')}"
    )
    w(
        "- The server (`socle serve --workers 2`), the benchmark clients and PostgreSQL all run "
        "on these 2 cores: the client threads take CPU from the server (see the CPU columns)."
    )
    w("")


def _dataset(r: dict, w) -> None:  # noqa: ANN001
    d = r["dataset"]
    w("## Dataset\n")
    w(
        f"`{d['generator']}(seed={d['seed']}, resources_per_bundle_hint="
        f"{d['resources_per_bundle_hint']})`: synthetic French patient records (never real "
        f"people). **{d['resources']:,} resources** in {d['bundles']:,} transaction Bundles: one "
        f"reference Bundle that PUTs the shared pool ({d['reference_bundle_resources']} "
        f"Organizations, Practitioners and PractitionerRoles), then one Bundle per patient "
        f"({d['patients']:,} patients) whose entries are POSTs linked by `urn:uuid` references."
    )
    e = d["entries_per_bundle"]
    w(
        f"Bundle size: {e['mean']} entries on average (median {e['median']}, min {e['min']}, "
        f"max {e['max']}), {d['bundle_bytes']['mean'] / 1000:.1f} kB of JSON on average; "
        f"{d['total_mb']} MB in all.\n"
    )
    w("| type | resources | share |")
    w("|---|---:|---:|")
    for t, n in d["by_type"].items():
        w(f"| {t} | {n:,} | {100 * n / d['resources']:.1f}% |")
    w("")


def cpu_ms_per_item(cpu: dict, items: int, in_process: bool) -> float | None:
    """CPU milliseconds that Socle and PostgreSQL spent per resource (or request).

    Less sensitive to the noise than throughput: other processes slow a measurement down
    but hardly change the CPU it needs. The HTTP clients are left out (not Socle's cost).
    """
    if not cpu or not items:
        return None
    socle = cpu["client"] if in_process else cpu["server"]
    return (socle + cpu["postgres"]) * cpu["wall_s"] / items * 1000


def _segment_rows(w, segments: list[dict]) -> None:  # noqa: ANN001
    w(
        "| segment | clients | Bundles | resources | rows already stored | seconds | "
        "**resources/s** | Bundle latency p50 / p95 ms | errors | CPU (cores) | "
        "CPU ms / resource |"
    )
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    for s in segments:
        lat = s["bundle_latency_ms"]
        per = cpu_ms_per_item(s["cpu_cores"], s["resources"], s["label"] == "in-process")
        w(
            f"| {s['label']} | {s['clients']} | {s['bundles']:,} | {s['resources']:,} | "
            f"{s['resources_before']:,} | {s['seconds']:.1f} | **{_n(s['resources_per_s'])}** | "
            f"{lat.get('p50', 0):.0f} / {lat.get('p95', 0):.0f} | {s['errors']} | "
            f"{_cpu(s['cpu_cores'])} | {_n(per, 2)} |"
        )


def _ingest(r: dict, backends: list[str], w) -> None:  # noqa: ANN001
    if not any(_get(r, b, "ingest_http") for b in backends):
        return
    opts = r["options"]
    w("## (a) Bundle ingest\n")
    w(
        "Each patient Bundle is POSTed as a `transaction` to `/fhir` (`Content-Type: "
        "application/fhir+json`, default `Prefer: return=minimal`), every search index on, by "
        "client threads that each keep one httpx keep-alive connection and take the next "
        "Bundle from a shared cursor. The server is `socle serve --workers "
        f"{opts['workers']}` on a fresh database. The load is cut into consecutive segments: "
        "a warm-up, a trial per client count (1, then each multi-client count), then the rest "
        "of the data (the *main run*) with the multi-client count that was fastest in its "
        "trial, and when py-spy is installed a last *profiled* segment (5% of the data, "
        "same client count, py-spy attached to the server: not a clean measurement). Each "
        "segment starts where the previous one stopped, so later segments write into a bigger "
        "database (column *rows already stored*). The *in-process* row is explained below the "
        "table.\n"
    )
    w(CPU_LEGEND + "\n")
    for b in backends:
        res = _get(r, b, "ingest_http")
        if not res:
            continue
        w(f"### {NAMES[b]}\n")
        inproc = _get(r, b, "ingest_inprocess")
        _segment_rows(w, res["segments"] + ([inproc] if inproc else []))
        whole = res["whole_load"]
        w("")
        w(
            f"Best client count: **{res['best_clients']}**. Whole load (reference Bundle "
            f"and every segment): {whole['resources']:,} resources in "
            f"{whole['seconds']:.0f} s = {_n(whole['resources_per_s'])} resources/s; "
            f"{res['errors']} errors. Database size afterwards: "
            f"{_n(_get(r, b, 'database_mb_after_http'), 1)} MB."
        )
        one = next((s for s in res["segments"] if s["clients"] == 1), None)
        if inproc and one:
            http_ms = cpu_ms_per_item(one["cpu_cores"], one["resources"], False)
            local_ms = cpu_ms_per_item(inproc["cpu_cores"], inproc["resources"], True)
            w(
                f"\nHTTP overhead: the *in-process* row runs the same `BundleProcessor` as "
                f"`socle load` in one thread of the benchmark process, on its own fresh "
                f"database, over the Bundles that follow the same warm-up. Throughput: one HTTP "
                f"client (one request at a time) {_n(one['resources_per_s'])} resources/s, "
                f"in-process {_n(inproc['resources_per_s'])} (both single-stream; under this "
                f"much noise the ordering can flip). CPU per resource, less noisy: "
                f"{_n(http_ms, 2)} ms over HTTP against {_n(local_ms, 2)} ms in-process"
                + (
                    f", so HTTP (body read and JSON parse, uvicorn/Starlette, the thread "
                    f"hand-off, the response) adds about {http_ms / local_ms - 1:.0%}."
                    if http_ms and local_ms and http_ms > local_ms
                    else ": no measurable HTTP overhead in this run."
                )
            )
        for s in res["segments"]:
            for e in s["error_samples"]:
                w(f"\n- error sample: `{e[:300]}`")
        w("")


def _crud(r: dict, backends: list[str], w) -> None:  # noqa: ANN001
    if not any(_get(r, b, "crud") for b in backends):
        return
    w("## (b) Mixed CRUD\n")
    first = next(_get(r, b, "crud") for b in backends if _get(r, b, "crud"))
    p = first["pools"]
    w(
        f"{first['clients']} client threads (one httpx keep-alive connection each) against the "
        "same server, right after the ingest (so on the fully loaded database), twice: first "
        "*as loaded*, then after `ANALYZE` of the benchmark's tables. Socle itself never runs "
        "ANALYZE, so an SQLite database has no planner statistics unless someone runs it; on "
        "PostgreSQL autovacuum would analyze the tables soon after a bulk load, but it is off "
        "on this server (see Machine), so the benchmark runs ANALYZE itself. The measured run "
        f"lasts {first['seconds']:.0f} s after a {first['warmup_seconds']:.0f} s warm-up with "
        "the same mix. Each request is drawn at random: 50% read by id (`GET Type/id`, any "
        "loaded resource), 20% search (`Patient?identifier=<INS system>|<NIR>` and "
        "`Observation?subject=Patient/<id>&code=http://loinc.org|<code>`, half each), 15% create "
        "(`POST Observation`), 10% update (`PUT Type/id` with the resource's current body), "
        "5% delete (`DELETE Type/id` of a resource the same client created, else of its own "
        "reserve of loaded Observations). Targets are set so that every answer has one expected "
        "status (200, 201, 200/204): any other status counts as an error, there are no "
        f"intended 404/410. Pools: {p['read_targets']:,} read targets, {p['search_queries']:,} "
        f"search queries, {p['update_targets']:,} update targets split between the clients, "
        f"{p['create_bodies']:,} create bodies, {p['delete_reserve']:,} deletable "
        "Observations.\n"
    )
    w(CPU_LEGEND + "\n")
    for b in backends:
        if not _get(r, b, "crud"):
            continue
        w(f"### {NAMES[b]}\n")
        for key, title in (
            ("crud_before_analyze", "As loaded, before ANALYZE (no planner statistics)"),
            ("crud", "After ANALYZE"),
        ):
            c = _get(r, b, key)
            if not c:
                continue
            extra = ""
            if key == "crud" and _get(r, b, "analyze_seconds") is not None:
                extra = f" (ANALYZE of the loaded database took {_get(r, b, 'analyze_seconds')} s)"
            w(f"**{title}**{extra}: ")
            w(
                f"**{_n(c['requests_per_s'])} requests/s** ({c['requests']:,} requests in "
                f"{c['seconds']:.0f} s), **{c['errors']} errors** (warm-up included), "
                f"{c['searches_below_expected_matches']} searches with fewer matches than "
                f"expected. CPU in cores: {_cpu(c['cpu_cores'])}; "
                f"{_n(cpu_ms_per_item(c['cpu_cores'], c['requests'], False), 2)} ms of "
                "server + PostgreSQL CPU per request.\n"
            )
            w("| kind | share | requests | requests/s | p50 ms | p95 ms | p99 ms | errors |")
            w("|---|---:|---:|---:|---:|---:|---:|---:|")
            for kind, k in c["by_kind"].items():
                w(
                    f"| {kind} | {k['mix_pct']}% | {k['requests']:,} | {_n(k['per_s'])} | "
                    f"{k['p50_ms']:.1f} | {k['p95_ms']:.1f} | {k['p99_ms']:.1f} | {k['errors']} |"
                )
            for e in c["error_samples"]:
                w(f"\n- error sample: `{e[:300]}`")
            w("")


def _baselines(r: dict, backends: list[str], w) -> None:  # noqa: ANN001
    if not r["baselines"]:
        return
    w("## (c) Physical limit\n")
    w(
        "The same resources (every resource of the dataset, `urn:uuid` references rewritten to "
        "`Type/id`, serialised once with orjson before the clock starts) written with no FHIR "
        "processing at all into one bare table without index or constraint: PostgreSQL "
        "`COPY bare (id, content) FROM STDIN` (psycopg 3 `cursor.copy`, one transaction), "
        "`id text` with `content bytea` (what Socle stores in `resource_version.content`) and "
        "with `content jsonb` (the server parses each document); SQLite `executemany(INSERT ...)` "
        "into `(id TEXT, content BLOB)` with Socle's pragmas (WAL, synchronous=NORMAL), in one "
        "transaction and with one transaction per patient Bundle (Socle commits each Bundle).\n"
    )
    w("| baseline | rows | MB | seconds | **resources/s** | MB/s | CPU (cores) |")
    w("|---|---:|---:|---:|---:|---:|---|")
    for b in r["baselines"]:
        w(
            f"| {b['label']} | {b['rows']:,} | {b['mb']} | {b['seconds']:.2f} | "
            f"**{_n(b['resources_per_s'])}** | {b['mb_per_s']} | {_cpu(b['cpu_cores'])} |"
        )
    w("")
    for b in backends:
        main = _get(r, b, "ingest_http", "main")
        inproc = _get(r, b, "ingest_inprocess")
        if b == "postgres":
            limit = _baseline(r, "PostgreSQL COPY, content bytea")
            name = "COPY (bytea)"
        else:
            limit = _baseline(r, "SQLite executemany, one transaction")
            name = "executemany in one transaction"
        if not limit:
            continue
        parts = []
        if main:
            parts.append(
                f"HTTP ingest (main run) {_n(main['resources_per_s'])} resources/s = "
                f"**{_pct(main['resources_per_s'], limit['resources_per_s'])}** of {name} "
                f"(1/{limit['resources_per_s'] / main['resources_per_s']:.0f})"
            )
        if inproc:
            parts.append(
                f"in-process {_n(inproc['resources_per_s'])} resources/s = "
                f"{_pct(inproc['resources_per_s'], limit['resources_per_s'])}"
            )
        if parts:
            w(f"- {NAMES[b]}: " + "; ".join(parts) + ".")
    w(
        "\nThe gap is the FHIR work per resource (validation, index extraction, one `resource` "
        "row plus a version row plus ~10–25 index rows in 7 tables, their indexes) and the "
        "per-statement cost of the Python layers; see the profile below.\n"
    )


def _profiles(r: dict, backends: list[str], w) -> None:  # noqa: ANN001
    if not any(_get(r, b, "profile") for b in backends):
        return
    w("## Profile of the in-process ingest\n")
    w(
        "`BundleProcessor.process` (the path of `socle load` and of `POST /fhir`) profiled in a "
        "child process, after warm-up Bundles (model loading and the compilation of index paths "
        "are one-time costs, left out), over the Bundles that follow the in-process "
        "measurement in the same database. *Self* is time spent in the function itself; "
        "*areas* group self time by package; *inclusive* is time spent in the function and "
        "everything it calls. With py-spy the samples are wall-clock samples of the one ingest "
        "thread, so waiting for the database counts (under `psycopg` / `do_execute*` / "
        "`do_commit`), and time spent in C code (drivers, orjson) is charged to the Python "
        "function that called it.\n"
    )
    for b in backends:
        prof = _get(r, b, "profile")
        if not prof:
            continue
        run = prof["run"]
        w(f"### {NAMES[b]}\n")
        w(
            f"Profiler: {prof['tool']}; {run['bundles']} Bundles, {run['resources']:,} "
            f"resources, {run['resources_per_s_under_profiler']:,.0f} resources/s under the "
            f"profiler; {prof['total']:,} {prof['unit']}.\n"
        )
        _profile_tables(prof, w)


def _profile_tables(prof: dict, w) -> None:  # noqa: ANN001
    w("| area (self time) | share |")
    w("|---|---:|")
    for area, pct in prof["areas"]:
        w(f"| {area} | {pct}% |")
    w("")
    w("Top functions by self time:\n")
    w("| function | self |")
    w("|---|---:|")
    for name, pct in prof["self_top"][:15]:
        w(f"| `{name}` | {pct}% |")
    w("")
    w("Socle functions by inclusive time:\n")
    w("| function | inclusive |")
    w("|---|---:|")
    for name, pct in prof["socle_inclusive_top"][:15]:
        w(f"| `{name}` | {pct}% |")
    w("")


def _server_profiles(r: dict, backends: list[str], w) -> None:  # noqa: ANN001
    found = {
        b: (_get(r, b, "ingest_http", "server_profile"), _get(r, b, "crud_profile"))
        for b in backends
    }
    if not any(a or c for a, c in found.values()):
        return
    w("## Profile of the server (HTTP)\n")
    w(
        "py-spy attached to the `socle serve` master and its workers (`--subprocesses --gil`) "
        "(1) while the last Bundles of the load are POSTed (the *profiled* ingest segment "
        "above, same client count as the main run) and (2) while the CRUD mix runs once more "
        "after its measurement (not measured). Only the thread holding the GIL is sampled, so "
        "the shares are of the workers' Python CPU time: waiting for the database (GIL "
        "released) is not in them. With uvloop, the event loop's own work (and whatever C code "
        "it calls) shows as `Runner.run (asyncio/runners.py)`.\n"
    )
    for b in backends:
        ingest_profile, crud_profile = found[b]
        for prof, what in ((ingest_profile, "Bundle ingest"), (crud_profile, "CRUD mix")):
            if prof:
                w(f"### {NAMES[b]}, {what}\n")
                w(f"Profiler: {prof['tool']}; {prof['total']:,} {prof['unit']}.\n")
                _profile_tables(prof, w)


def _how_to_run(r: dict, w) -> None:  # noqa: ANN001
    w("## How to run\n")
    w("```sh")
    w("make bench                                   # everything, default sizes (~10 min)")
    w(".venv/bin/python -m bench.run --quick        # smoke run, bench/out/benchmarks-quick.md")
    w(".venv/bin/python -m bench.run --backends postgres --only ingest,copy --resources 50000")
    w("make bench BENCH_ARGS='--backends postgres'  # flags through make")
    w(".venv/bin/python -m bench.run --render bench/out/results-<run>.json  # re-render only")
    w(".venv/bin/python -m bench.run --help         # every option (also SOCLE_BENCH_* variables)")
    w("```\n")
    w(
        "PostgreSQL comes from `SOCLE_BENCH_POSTGRES_URL`, else `SOCLE_TEST_POSTGRES_URL`, else "
        "`postgresql://postgres@127.0.0.1:5432/test`; each run creates and drops its own "
        "`bench_<run>_*` schemas. SQLite files, server logs and raw results go to `bench/out/` "
        "(gitignored). The profile uses py-spy when the `py-spy` command is installed "
        "(`.venv/bin/pip install py-spy`; not a Socle dependency), else cProfile.\n"
    )
    phases = r.get("phase_seconds", {})
    if phases:
        w(
            "Time per phase in this run: "
            + ", ".join(f"{k} {v:.0f} s" for k, v in phases.items())
            + "."
        )
    w("")
