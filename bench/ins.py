"""INS benchmarks: identity matching over a large identity index, and the MLLP feed.

    python -m bench.ins [--patients 1000000] [--queries 300] [--messages 3000] [--postgres URL]

`run()` returns the figures as a dict (for bench/run.py). Matching measures what
`Patient/$match` does against the database, minus reading and rendering the matched
Patients: in one read-only transaction, fetch and score the candidates of each query identity
(exact copies, day/month inversions, phonetic spelling variants, typos in the first name).
The index rows are generated directly (invented identities) rather than written as FHIR
Patients, so that a million of them load in seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from bench.common import MarkedSection

WARM_UP_QUERIES = 50  # unmeasured, on other identities than the measured queries
SUFFIXES = ("", "EAU", "ET", "OT", "IN", "ON", "IER", "AUD", "ARD", "EL", "AS")
VARIANTS = {"E": "É", "AU": "O", "PH": "F", "TH": "T", "LL": "L"}


def _identities(n: int, seed: int) -> list[dict[str, Any]]:
    from socle.demo import vocabulary as v
    from socle.ins import model as M

    rng = random.Random(seed)
    start = date(1925, 1, 1)
    # the word lists have 60 family names: derive some 4,000 (suffixes, double names)
    # so that name blocks look like a real population's rather than 60 huge ones
    roots = [f.upper() for f in v.FAMILY_NAMES]
    families = [r + s for r in roots for s in SUFFIXES] + [f"{a}-{b}" for a in roots for b in roots]
    out = []
    for i in range(n):
        sex = rng.choice(("male", "female"))
        pool = v.GIVEN_MALE if sex == "male" else v.GIVEN_FEMALE
        out.append(
            M.Identity(
                patient_id=f"p{i}",
                birth_family=rng.choice(families),
                given=rng.sample(pool, rng.choice((1, 2))),
                birth_date=(start + timedelta(days=rng.randrange(36500))).isoformat(),
                sex=sex,
                birthplace=rng.choice(v.COMMUNES).insee,
            )
        )
    return out


def _perturb(ident: Any, rng: random.Random) -> Any:
    import copy

    from socle.ins.index import swap_day_month

    q = copy.deepcopy(ident)
    q.patient_id = None
    kind = rng.randrange(4)
    if kind == 1 and swap_day_month(q.birth_date):
        q.birth_date = swap_day_month(q.birth_date)
    elif kind == 2:
        for old, new in VARIANTS.items():
            if old in q.birth_family.upper():
                q.birth_family = q.birth_family.upper().replace(old, new, 1)
                break
    elif kind == 3 and len(q.given[0]) > 3:
        g = q.given[0]
        q.given = [g[:-2] + g[-1] + g[-2]]
    return q


def _engine(url: str):
    from socle.config import Settings
    from socle.fhir.engine import FhirEngine
    from socle.fhir.storage.database import create_db_engine
    from socle.fhir.storage.migrate import migrate

    db = create_db_engine(url, pool_size=1)
    migrate(db)
    db.dispose()
    engine = FhirEngine(Settings(database_url=url, data_dir=Path(tempfile.mkdtemp())))
    engine.load_plugins(["ins"])
    return engine


def bench_matching(url: str, patients: int, queries: int, seed: int = 7) -> dict[str, Any]:
    from socle.ins import index as X
    from socle.ins import vigilance as V
    from socle.ins.tables import ins_identity

    engine = _engine(url)
    tenant = f"bench{seed}"
    people = _identities(patients, seed)
    t0 = time.perf_counter()
    chunk = 20_000
    for i in range(0, patients, chunk):
        rows = [X.row_of(tenant, p.patient_id, 1, p) for p in people[i : i + chunk]]
        with engine.store.session(tenant, write=True) as s:
            s.conn.execute(insert(ins_identity), rows)
    with engine.store.session(tenant, write=True) as s:
        if not s.sqlite:  # planner statistics after a bulk load (autovacuum would, later)
            s.conn.exec_driver_sql("ANALYZE ins_identity")
    load_s = time.perf_counter() - t0
    rng = random.Random(seed + 1)
    warm = random.Random(seed + 2)  # other identities: a server's caches are not cold
    for _ in range(WARM_UP_QUERIES):
        with engine.store.session(tenant) as s:
            V.find_matches(s, _perturb(warm.choice(people), warm), limit=10)
    timings, found = [], 0
    for _ in range(queries):
        target = rng.choice(people)
        query = _perturb(target, rng)
        t = time.perf_counter()
        with engine.store.session(tenant) as s:  # read-only, as $match
            matches = V.find_matches(s, query, limit=10)
        timings.append((time.perf_counter() - t) * 1000)
        found += any(m.patient_id == target.patient_id for m in matches)
    engine.close()
    timings.sort()
    return {
        "backend": url.split(":")[0],
        "patients": patients,
        "queries": queries,
        "load_seconds": round(load_s, 1),
        "p50_ms": round(statistics.median(timings), 2),
        "p95_ms": round(timings[int(len(timings) * 0.95) - 1], 2),
        "max_ms": round(timings[-1], 2),
        "recall": round(found / queries, 3),
    }


def _adt(i: int, event: str) -> bytes:
    """One invented PAM message; an A31 changes the person its A28 created (a used name
    and a second first name), so that every message writes a new Patient version."""
    rng = random.Random(i)
    given = f"PRENOM{rng.randrange(50)}"
    birth = f"19{rng.randrange(10, 99)}0{rng.randrange(1, 9)}1{rng.randrange(0, 9)}"
    sex = rng.choice("MF")
    used = ""
    if event != "A28":
        used = f"~EPOUSE{i % 89}^{given}^^^^^D"
        given += f"^PRENOM{rng.randrange(50, 99)}"
    return (
        f"MSH|^~\\&|GAM|HOSP|SOCLE|SOCLE|20250102120000||ADT^{event}^ADT_A05|m{i}{event}|P|2.5"
        f"|||||FRA|UNICODE UTF-8\rEVN||20250102120000\r"
        f"PID|||IPP{i}^^^HOSP&1.2.250.1.999.9&ISO^PI||NOM{i % 997}^{given}^^^^L{used}"
        f"||{birth}|{sex}|||^^^^^^BDL^^35238" + "|" * 21 + "PROV\r"
    ).encode()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def _listener(url: str, tenant: str, audit: bool) -> Iterator[tuple[int, int]]:
    """`socle mllp` in a process of its own (the senders are another process, as in
    production); yields its port and pid once it accepts connections."""
    port = _free_port()
    data_dir = tempfile.mkdtemp()
    command = [sys.executable, "-m", "socle.cli.main", "mllp", "--port", str(port)]
    command += ["--database", url, "--data-dir", data_dir, "--tenant", tenant]
    command += ["--auth", "oidc" if audit else "none"]
    env = {**os.environ, "SOCLE_LOG_LEVEL": "warning", "SOCLE_ENV": "development"}
    proc = subprocess.Popen(command, env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"socle mllp exited: {proc.stderr.read().decode()[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("socle mllp did not start")
            time.sleep(0.2)
        yield port, proc.pid
    finally:
        proc.terminate()
        proc.wait(30)


def bench_mllp(url: str, messages: int, connections: int = 1, audit: bool = True) -> dict[str, Any]:
    """ADT messages over MLLP on loopback to a `socle mllp` process, each sender waiting
    for its ACK before the next message (original-mode acknowledgement, as PAM senders
    work): half A28 creations, then A31 updates of the same people. `connections` senders
    share the messages (several applications feeding the repository); `audit`: the
    listener runs with the security module (default of `socle mllp`), so every message
    also writes its audit-trail entry."""
    from socle.ins.mllp import FrameReader, frame

    _engine(url).close()  # migrated before the listener starts
    tenant = f"mllp{time.time_ns() % 10_000_000}"

    def client(port: int, items: list[bytes], accepted: list[int]) -> None:
        """One sender, as PAM senders are written: a blocking socket, one message at a
        time, the next one sent when the ACK of the last is in."""
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            reader = FrameReader(sock)
            for m in items:
                sock.sendall(frame(m))
                accepted.append(b"MSA|AA" in (reader.next() or b""))

    def senders(port: int, parts: list[list[bytes]]) -> int:
        accepted: list[int] = []
        threads = [threading.Thread(target=client, args=(port, p, accepted)) for p in parts]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return sum(accepted)

    def scenario(port: int, pid: int) -> tuple[float, int, float]:
        senders(port, [[_adt(10_000_000 + i, "A28") for i in range(20)]])  # warm-up
        half = messages // 2
        # each sender sends the A31s of the people it created itself, in order
        people = [list(range(half))[c::connections] for c in range(connections)]
        parts = [[_adt(i, "A28") for i in p] + [_adt(i, "A31") for i in p] for p in people]
        cpu, t = _cpu_seconds(pid), time.perf_counter()
        ok = senders(port, parts)
        return time.perf_counter() - t, ok, _cpu_seconds(pid) - cpu

    with _listener(url, tenant, audit) as (port, pid):
        elapsed, ok, cpu = scenario(port, pid)
    sent = (messages // 2) * 2
    return {
        "backend": url.split(":")[0],
        "messages": sent,
        "connections": connections,
        "audit": audit,
        "accepted": ok,
        "seconds": round(elapsed, 2),
        "messages_per_s": round(sent / elapsed, 1),
        # the listener's own CPU per message, and the rate one core of its own would give
        # (less sensitive than messages/s to the other processes of a shared machine)
        "listener_cpu_ms": round(cpu / sent * 1000, 2),
        "ceiling_per_s": round(sent / cpu, 1) if cpu else None,
    }


def _machine() -> dict[str, Any]:
    """What the figures were measured on (machines of one kind differ, and are shared)."""
    from bench.common import load_average
    from bench.machine import _cpu_model, _git

    return {"cpu": _cpu_model(), "cores": os.cpu_count(), "git": _git(), "load": load_average()}


def run(
    patients: int = 1_000_000,
    queries: int = 300,
    messages: int = 3000,
    postgres: str | None = None,
    sqlite: bool = True,
) -> dict[str, Any]:
    """All INS figures, on SQLite and/or PostgreSQL (a URL). The feed is measured with
    one sender (the primary figure) and four and eight concurrent ones (their messages
    share transactions: groupcommit.py), with the audit trail on
    (the default of `socle mllp`) and, as the baseline of the same run, without it."""
    tmp = Path(tempfile.mkdtemp())
    urls = ([f"sqlite:///{tmp / 'ins-bench.db'}"] if sqlite else []) + (
        [postgres] if postgres else []
    )
    out: dict[str, Any] = {"matching": [], "mllp": [], "machine": _machine()}
    for url in urls:
        out["matching"].append(bench_matching(url, patients, queries))
        for connections, audit in ((1, True), (1, False), (4, True), (8, True)):
            out["mllp"].append(bench_mllp(url, messages, connections, audit))
    return out


SECTION = MarkedSection("ins")


def _machine_line(machine: dict[str, Any] | None) -> str:
    if not machine:
        return ""
    load = machine.get("load")
    return (
        f", commit `{machine.get('git')}`, on {machine.get('cpu')} ({machine.get('cores')} "
        f"cores; load average at start {load})"
    )


def render(results: dict[str, Any]) -> str:
    """The INS section of docs/benchmarks.md: figures against the issue's targets."""
    lines = [
        "## INS",
        "",
        f"Written by `python -m bench.run --only ins` on {time.strftime('%Y-%m-%d %H:%M')} UTC"
        f"{_machine_line(results.get('machine'))}. Machines of this kind differ and are "
        "shared with other work: compare figures of one run, not across runs.",
        "",
        "### Identity matching",
        "",
        "Invented identities generated straight into the identity index; each query is an "
        "exact copy, a day/month inversion, a phonetic spelling variant or a first-name typo "
        "of one of them, matched in one read-only transaction (candidate blocks + scoring), "
        f"after {WARM_UP_QUERIES} unmeasured queries on other identities.",
        "",
        "| backend | identities | queries | p50 | p95 | max | recall |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for m in results["matching"]:
        lines.append(
            f"| {m['backend']} | {m['patients']:,} | {m['queries']} | {m['p50_ms']} ms | "
            f"{m['p95_ms']} ms | {m['max_ms']} ms | {m['recall']:.0%} |"
        )
    lines += [
        "",
        "Target: p95 ≤ 20 ms per query over 1,000,000 patients.",
        "",
        "### HL7 v2 PAM feed over MLLP",
        "",
        "A `socle mllp` process on loopback; the senders (threads of another process, each "
        "with a blocking socket) wait for each ACK before sending the next message, as PAM "
        "senders do; several senders' messages that arrive together share a transaction "
        "(group commit). Half the messages are A28 "
        "creations, the other half A31 updates that change each person (a new version every "
        "time). *audit*: the listener runs with the security module, so every message also "
        "writes its entry in the audit trail (the default); the run without it is the "
        "baseline of the same run.",
        "",
        "| backend | senders | audit trail | messages | accepted | messages/s | listener CPU "
        "per message | ceiling (one core of its own) |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for m in results["mllp"]:
        lines.append(
            f"| {m['backend']} | {m['connections']} | {'on' if m['audit'] else 'off'} | "
            f"{m['messages']:,} | {m['accepted']:,} | {m['messages_per_s']:,.0f} | "
            f"{m['listener_cpu_ms']} ms | {m['ceiling_per_s'] or 0:,.0f}/s |"
        )
    lines += [
        "",
        "Target: ≥ 500 messages/s sustained, with a full ACK round trip. *Ceiling*: the "
        "messages/s the listener would reach with a core to itself, from its own CPU per "
        "message (on PostgreSQL the server's CPU and the round trips come on top). See "
        "docs/ins.md (§ 6) for where the time goes.",
    ]
    return "\n".join(lines)


def run_section(backends: list[str], pg_url: str, output: Path, quick: bool = False) -> None:
    """`python -m bench.run --only ins`: run on the chosen backends, write the section."""
    from bench import databases

    db = None
    postgres = None
    if "postgres" in backends:
        db = databases.fresh_postgres(pg_url, time.strftime("%H%M%S"), "ins")
        postgres = db.url
    try:
        results = run(
            patients=20_000 if quick else 1_000_000,
            queries=50 if quick else 300,
            messages=400 if quick else 3000,
            postgres=postgres,
            sqlite="sqlite" in backends,
        )
    finally:
        if db is not None:
            databases.drop(db)
    SECTION.write(output, render(results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--postgres", help="PostgreSQL URL (a scratch database)")
    parser.add_argument("--write", help="also write the INS section of this report file")
    args = parser.parse_args()
    import json

    results = run(args.patients, args.queries, args.messages, args.postgres)
    print(json.dumps(results, indent=2))
    if args.write:
        SECTION.write(Path(args.write), render(results))


if __name__ == "__main__":
    main()
