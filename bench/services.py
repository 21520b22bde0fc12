"""The services' benchmarks in `make bench`: terminology (SMT) and security overhead.

`python -m bench.run --only services` runs them and writes the "## Services" section of
docs/benchmarks.md (kept when the other benchmarks rewrite the file). The INS benchmark
(1,000,000 identities) stays separate: `python -m bench.ins`, figures in docs/ins.md.
"""

from __future__ import annotations

import time
from typing import Any

from bench import databases
from bench.common import MarkedSection, console

SECTION = MarkedSection("services")


def run(backends: list[str], pg_url: str, quick: bool = False) -> dict[str, Any]:
    """Terminology on the chosen backends, then the security overhead (in-process)."""
    from bench import security, terminology

    run_id = time.strftime("%H%M%S")
    postgres = None
    db = None
    if "postgres" in backends:
        db = databases.fresh_postgres(pg_url, run_id, "terminology")
        databases.migrate(db)
        postgres = db.url
    try:
        concepts = 5_000 if quick else 100_000
        console.print(f"Terminology: {concepts:,} concepts")
        term = terminology.run(concepts=concepts, queries=100 if quick else 500, postgres=postgres)
    finally:
        if db is not None:
            databases.drop(db)
    console.print("Security overhead")
    sec = security.run(iterations=500 if quick else 5000, rounds=2 if quick else 5)
    return {"terminology": term, "security": sec}


def render(results: dict[str, Any]) -> str:
    """Markdown of the headline figures against the issues' targets."""
    term = results["terminology"]
    lines = [
        "## Services",
        "",
        f"Written by `python -m bench.run --only services` on {time.strftime('%Y-%m-%d %H:%M')}"
        " UTC (same noisy machine as above).",
        "",
        f"### Terminology ({term['concepts']:,}-concept generated code system)",
        "",
        "| backend | $expand text filter p95, in-process | $expand p95, HTTP | "
        "$lookup p95, HTTP | $validate-code in-process |",
        "|---|---:|---:|---:|---:|",
    ]
    for label in ("sqlite", "postgres"):
        figures = term.get(label)
        if not figures:
            continue
        http = figures.get("http", {})
        lines.append(
            f"| {label} | {_ms(figures['inprocess']['expand_filter'])} | "
            f"{_ms(http.get('expand_filter'))} | {_ms(http.get('lookup'))} | "
            f"{figures['inprocess']['validate_code_per_s']:,.0f}/s |"
        )
    lines += [
        "",
        "Targets: $expand with a text filter p95 ≤ 10 ms; $validate-code ≥ 5,000 checks/s; "
        "$lookup p95 ≤ 5 ms over HTTP.",
        "",
        "### Security overhead",
        "",
        "```",
        _compact(results["security"]),
        "```",
        "",
        "Target: token validation + policy decision ≤ 0.2 ms per request, against "
        "`--auth none` in the same run.",
    ]
    return "\n".join(lines)


def _ms(summary: dict[str, Any] | None) -> str:
    return f"{summary['p95_ms']:.2f} ms" if summary else "—"


def _compact(value: Any) -> str:
    import json

    return json.dumps(value, indent=1, default=str)[:3000]
