"""Markdown for the search benchmark: the "## Search" section of docs/benchmarks.md and
docs/search-plans.md. Hand-written analysis lives in bench/search_notes.md and is included
as is (like bench/notes.md in the main report)."""

from __future__ import annotations

from pathlib import Path

from bench.common import ROOT

NAMES = {"postgres": "PostgreSQL", "sqlite": "SQLite"}
TARGET_MS = {"postgres": 20.0, "sqlite": 50.0}
NOTES = ROOT / "bench" / "search_notes.md"


def _ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def _mark(p95: float, backend: str) -> str:
    return "✅" if p95 <= TARGET_MS[backend] else "❌"


def render(size: str, runs: dict, before: dict, plans: dict) -> str:
    out: list[str] = []
    w = out.append
    backends = [b for b in ("postgres", "sqlite") if runs.get(b)]
    w("## Search\n")
    w(
        "Written by `python -m bench.search` (`make bench BENCH_ARGS='--only search'`). "
        "Latency of single search requests over HTTP (one client, one request at a time, "
        "`socle serve --workers 2`, the client's wall time including the Bundle's JSON), "
        "on databases of generated data (`socle.demo.synthetic`) kept between runs "
        "(`--reuse`). Targets: p95 ≤ 20 ms on PostgreSQL, ≤ 50 ms on SQLite.\n"
    )
    w("### Data and load\n")
    w("| | " + " | ".join(NAMES[b] for b in backends) + " |")
    w("|---|" + "---|" * len(backends))
    rows = [
        ("database", lambda r: f"`{r['database']}`"),
        (
            "resources (patients)",
            lambda r: f"{r['load']['resources']:,} ({r['load']['patients']:,})",
        ),
        (
            "load time, resources/s",
            lambda r: (
                f"{r['load']['load_seconds'] / 60:,.1f} min, "
                f"{r['load']['resources_per_s']:,.0f}/s ({r['load']['processes']} processes, "
                f"{r['load']['errors']} errors)"
            ),
        ),
        (
            "statistics after the load",
            lambda r: f"{r['load']['analyze']} ({r['load']['analyze_seconds']:.0f} s)",
        ),
        ("size on disk", lambda r: f"{r['load']['size_mb']:,.0f} MB"),
        (
            "measured",
            lambda r: f"{r['started']}, {r['measure_seconds']:.0f} s",
        ),
        (
            "CPU while measuring (cores)",
            lambda r: (
                f"server {r['cpu_cores']['server']:.2f}, PostgreSQL "
                f"{r['cpu_cores']['postgres']:.2f}, client {r['cpu_cores']['client']:.2f}, "
                f"**others {r['cpu_cores']['other']:.2f}**"
            ),
        ),
    ]
    for label, fn in rows:
        cells = []
        for b in backends:
            try:
                cells.append(fn(runs[b]))
            except (KeyError, TypeError):
                cells.append("–")
        w(f"| {label} | " + " | ".join(cells) + " |")
    w("")
    first = runs[backends[0]]
    names = list(first["queries"])
    w("### Latency per query (ms)\n")
    head = "| query | matches (median, range) |"
    sep = "|---|---|"
    for b in backends:
        head += f" {NAMES[b]} p50 | p95 | p99 | ≤ {TARGET_MS[b]:g} |"
        sep += "---|---|---|---|"
    w(head)
    w(sep)
    for name in names:
        q = first["queries"][name]
        results = _results(q)
        cells = f"| `{name}` | {results} |"
        for b in backends:
            r = runs[b]["queries"].get(name)
            if r is None:
                cells += " – | – | – | |"
                continue
            cells += (
                f" {_ms(r['p50'])} | **{_ms(r['p95'])}** | {_ms(r['p99'])} | {_mark(r['p95'], b)} |"
            )
        w(cells)
    w("")
    w(
        "The queries (one instance shown; each runs with up to 40 different patients, "
        "a fixed query with 10 repeats):\n"
    )
    for name in names:
        q = first["queries"][name]
        extra = "; each page is one sample" if q["pages"] > 1 else ""
        w(f"- `{name}`: {q['what']}{extra}. `{q['example']}`")
    w("")
    w("Samples (requests measured) per query: " + _samples(runs, backends) + ". p99 of a few")
    w("hundred samples is the second or third worst request: read it as an indication.\n")
    if any(before.get(b) for b in backends):
        _before_after(backends, runs, before, w)
    if NOTES.exists():
        w(NOTES.read_text(encoding="utf-8").strip() + "\n")
    return "\n".join(out)


def _samples(runs: dict, backends: list[str]) -> str:
    parts = []
    for b in backends:
        counts: dict[int, list[str]] = {}
        for name, q in runs[b]["queries"].items():
            counts.setdefault(q["n"], []).append(name)
        common = max(counts, key=lambda n: len(counts[n]))
        others = ", ".join(
            f"{', '.join(f'`{x}`' for x in names)} {n}"
            for n, names in counts.items()
            if n != common
        )
        parts.append(f"{NAMES[b]} {common}" + (f" ({others})" if others else ""))
    return "; ".join(parts)


def _results(q: dict) -> str:
    total, low, high = q.get("total"), q.get("total_min"), q.get("total_max")
    if not isinstance(total, int):
        return "–"
    if low is None or high is None or low == high:
        return f"{total:,}"
    return f"{total:,} ({low:,}–{high:,})"


# What the "before" runs measured (`--label before --tree DIR`); say it again when they
# are redone from another tree.
BEFORE = (
    "the tree of commit 4544677 (before the covering reference index of migration 0009, "
    "the pk probes inside the driving semi-join on PostgreSQL, the covering token probes "
    "and `instr` for `:contains` on SQLite), served from the same databases downgraded "
    "to 0008 while it ran, the *after* run following it once they were upgraded again"
)


def _before_after(backends: list[str], runs: dict, before: dict, w) -> None:  # noqa: ANN001
    w("### Before and after (same databases, same queries)\n")
    w(
        f"*Before*: {BEFORE}; *after*: the current tree. p50 / p95 in ms; the ratios are "
        "before / after (the machine is shared: compare runs made close together, and "
        "read the p50 ratio first). "
        "Samples before: " + _samples(before, [b for b in backends if before.get(b)]) + ".\n"
    )
    head = "| query |"
    sep = "|---|"
    for b in backends:
        if before.get(b):
            head += f" {NAMES[b]} before | after | p50, p95 ratio |"
            sep += "---|---|---|"
    w(head)
    w(sep)
    first = runs[backends[0]]
    for name in first["queries"]:
        cells = f"| `{name}` |"
        for b in backends:
            if not before.get(b):
                continue
            old = before[b]["queries"].get(name)
            new = runs[b]["queries"].get(name)
            if not old or not new:
                cells += " – | – | – |"
                continue
            ratio = old["p95"] / new["p95"] if new["p95"] else 0
            ratio50 = old["p50"] / new["p50"] if new["p50"] else 0
            cells += (
                f" {_ms(old['p50'])} / {_ms(old['p95'])} | {_ms(new['p50'])} / "
                f"{_ms(new['p95'])} | ×{ratio50:,.1f}, ×{ratio:,.1f} |"
            )
        w(cells)
    w("")
    for b in backends:
        if before.get(b):
            c = before[b].get("cpu_cores", {})
            w(
                f"Before run on {NAMES[b]}: {before[b]['started']}, other processes used "
                f"{c.get('other', 0):.2f} core while it measured."
            )
    w("")


def render_plans(size: str, plans: dict, runs: dict) -> str:
    out: list[str] = []
    w = out.append
    w("# Search plans\n")
    w(
        f"Written by `python -m bench.search` on the {size} databases of the search "
        "benchmark ([benchmarks.md](benchmarks.md#search)). For one instance of each "
        "query, every SQL statement the search sends (count, page, includes; the "
        "resource fetch is the store's), with `EXPLAIN (ANALYZE, BUFFERS)` on PostgreSQL "
        "and `EXPLAIN QUERY PLAN` on SQLite. The statements are captured in-process, "
        "after the HTTP benchmark (caches warm). The shapes are described below.\n"
    )
    dates = [
        f"{NAMES[b]} {r['started']}" for b, r in sorted(runs.items()) if r and r.get("started")
    ]
    if dates:
        w(
            "Benchmark runs these plans follow: " + ", ".join(dates) + " (the machine and "
            "its load: [benchmarks.md](benchmarks.md#search)).\n"
        )
    w(SHAPES)
    pg = (plans.get("postgres") or {}).get("plans", [])
    lite = {p["name"]: p for p in (plans.get("sqlite") or {}).get("plans", [])}
    order = [p["name"] for p in pg] or list(lite)
    pg_by = {p["name"]: p for p in pg}
    w("## Summary\n")
    w(
        "PostgreSQL: the execution time of each statement (EXPLAIN ANALYZE, the resource "
        "fetch last). SQLite: the whole search in-process, Bundle included (best of 3).\n"
    )
    w("| query | PostgreSQL statements, execution time (ms) | SQLite, in-process (ms) |")
    w("|---|---|---|")
    for name in order:
        p = pg_by.get(name)
        times = []
        if p:
            for st in p["statements"]:
                times.append(_exec_time(st["plan"]))
        s = lite.get(name)
        w(
            f"| [`{name}`](#{name}) | "
            + (", ".join(times) if times else "–")
            + f" | {s['in_process_ms'] if s else '–'} |"
        )
    w("")
    for name in order:
        w(f"## {name}\n")
        p = pg_by.get(name)
        s = lite.get(name)
        w(f"`{(p or s)['query']}`\n")
        if p:
            for i, st in enumerate(p["statements"], 1):
                w(f"### PostgreSQL, statement {i}\n")
                w("```sql")
                w(_sql(st["sql"]))
                w("```\n")
                w("```")
                w(st["plan"])
                w("```\n")
        if s:
            for i, st in enumerate(s["statements"], 1):
                w(f"### SQLite, statement {i} (EXPLAIN QUERY PLAN)\n")
                w("```")
                w(st["plan"])
                w("```\n")
    return "\n".join(out)


SHAPES = """## Query shapes

Code: `socle/fhir/search/engine.py`, `plan.py`, `clauses/base.py`, `chain.py`.

- **One driving criterion.** `socle.fhir.search.plan` ranks the criteria by how few
  resources they are expected to match (`_id`, identifiers and `Type|code` tokens of
  identifying parameters, references to a patient or an encounter, exact strings, dates
  within a day, string prefixes, then references into the shared directory, codes,
  ranges, `:contains`). When the best guess is not sure (rank >= 3) and several
  criteria have bounded index ranges, each is *measured*: `SELECT count(*) FROM (SELECT
  1 FROM idx_… WHERE … LIMIT 256)`, and the smallest drives. The driver is an
  uncorrelated semi-join, `r0.pk IN (SELECT t0.resource_pk FROM idx_… t0 WHERE tenant,
  res_type, param, value…)`, answered from the `(tenant, res_type, param, value…)` index.
- **The others are probes**: `EXISTS (SELECT 1 FROM idx_… t1 WHERE t1.resource_pk =
  r0.pk AND t1.param = … AND <test>)`, through `ix_idx_*_resource`. On PostgreSQL the
  probe ends with `OFFSET 0`, which keeps the planner from turning it into a join it
  could reorder on its (often very wrong) estimates of the index tables; it shows as
  `SubPlan` in the plans. Negations are `NOT EXISTS` probes.
- **On PostgreSQL, probes that need only the owner's pk filter the driver's rows**: they
  sit inside its semi-join (`r0.pk IN (SELECT d0.resource_pk FROM idx_date d0 WHERE …
  AND EXISTS (SELECT 1 FROM idx_token t0 WHERE t0.resource_pk = d0.resource_pk …))`),
  so that only matches are read from `resource` (`population-code-date`: 18 lookups
  instead of 299). `_id`, `_lastUpdated`, `_has` and `_list` need the owner's row and
  stay outside.
- **On SQLite, a probe of one `system|code` of one type** states every column of
  `ix_idx_token_pk` (`tenant`, `res_type`, `param`, `code`, `system`, `resource_pk`):
  one lookup that the index answers alone (`COVERING INDEX` in the plans), instead of
  reading the owner's token rows from the table. PostgreSQL keeps `ix_idx_token_resource`,
  which costs it less than descending the wide index.
- **Chains and `_has`** drive from their inner criterion (`target.pk IN (…)`) when they
  drive, and are probes otherwise (`_has` through `ix_idx_reference_target`, `(tenant,
  res_type, param, target_id, target_type, url, resource_pk)`, migration 0009: an
  index-only scan).
- **A `_has` probe on PostgreSQL** whose inner criterion is one index leaf that
  PostgreSQL estimates at fewer than 50,000 rows (one `EXPLAIN` of the leaf first) tests
  each referrer against the leaf's set of pks, hashed once per statement:
  `ref.resource_pk IN (SELECT t.resource_pk FROM idx_… t WHERE …) IS TRUE` (`hashed
  SubPlan` in the plans; `IS TRUE` keeps it a subplan rather than a join planned again
  for every owner). A larger estimate keeps the per-referrer probe: PostgreSQL only
  hashes a set it expects to fit in memory, and would otherwise rescan it for every
  referrer. For `has-glucose-family`: 28,227 glucose Observations read once instead of
  9,060 index lookups of 4 pages each. SQLite keeps the probes (building its temporary
  index of the set gained ≈ 15 % in-process and nothing measurable over HTTP).
- **`_list=ID`** is a `_has` on the List found by its unique key: `(res_type, res_id) IN
  (SELECT ref.target_type, ref.target_id FROM idx_reference ref JOIN resource lst ON
  lst.pk = ref.resource_pk WHERE lst.res_type = 'List' AND lst.res_id = :id AND
  ref.param = 'item' …)`; it drives unless `_id` or a compartment does.
- **`:contains`** is `value LIKE '%…%'` on the normalised value (`instr(value, …) > 0`
  on SQLite, the same test on these lower-case values, without LIKE's pattern
  matching; SQLite reads every value of the parameter): on PostgreSQL the
  trigram index `ix_idx_string_trgm` (pg_trgm, migration 0008) answers it (`Bitmap Index
  Scan`) instead of a read of every value of the parameter. A driving `:contains` states
  the type and the code as `res_type || ''` and `param || ''`, which no B-tree serves:
  otherwise PostgreSQL prefers the B-tree range of every value of the parameter, alone
  or ANDed with the trigram bitmap.
- **Totals**: not counted when the first page holds every match; counted from the driving
  index table alone (`SELECT count(DISTINCT t0.resource_pk) FROM idx_… t0 WHERE … AND
  <probes on t0.resource_pk>`, no join with `resource`) when the page query can stop early;
  otherwise counted by the page query itself (`WITH m AS MATERIALIZED (<matches>) SELECT
  …, (SELECT count(*) FROM m) FROM m ORDER BY … LIMIT`), so that matches are never
  evaluated twice. (A `count(*) OVER ()` window would do the same work, but PostgreSQL
  costs a LIMIT over a window as if the window streamed, and picked plans meant to stop
  early that read every Patient: 200 ms instead of 40 for `name:contains`.)
- **Sparse drivers on PostgreSQL** (a sure guess, or measured small) order the page by
  `pk + 0`: the same order, which no index provides, so that the planner does not walk
  the `resource` primary key hoping to meet matches early (1.1 s for a rare quantity).
- **A lone dense criterion on SQLite** (measured at 5,000 index rows or more, no
  `_sort`) does not drive: the page walks `resource` by rowid from the cursor and probes
  each row (0.1 ms a page), instead of materialising every heart rate of the database
  for each page (220 ms).
- **Dates** state the bound on `low` implied by a bound on `high` (`high <= b` implies
  `low <= b`), which closes the scan of the `(…, low, high)` index and lets PostgreSQL
  estimate it.
- **Lists of pks** (includes) are one bound parameter: `= ANY(:pks)` on PostgreSQL,
  `IN (SELECT value FROM json_each(:pks))` on SQLite.
"""


def _exec_time(plan: str) -> str:
    for line in plan.splitlines():
        if line.strip().startswith("Execution Time:"):
            return line.split(":", 1)[1].strip().replace(" ms", "")
    return "?"


def _sql(sql: str) -> str:
    return "\n".join(line.rstrip() for line in sql.strip().splitlines())


__all__ = ["render", "render_plans", "Path"]
