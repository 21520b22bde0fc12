"""INS benchmarks: identity matching over a large identity index, and the MLLP feed.

    python -m bench.ins [--patients 1000000] [--queries 300] [--messages 3000] [--postgres URL]

`run()` returns the figures as a dict (for bench/run.py). Matching measures what
`Patient/$match` does against the database, minus the FHIR rendering: catch the index up
with Patient history (nothing new here) and score the candidates of each query identity
(exact copies, day/month inversions, phonetic spelling variants, typos in the first name).
The index rows are generated directly (invented identities) rather than written as FHIR
Patients, so that a million of them load in seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

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
    from socle.ins.tables import ins_identity, ins_sync

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
        s.conn.execute(insert(ins_sync).values(tenant=tenant, watermark=time.time_ns() // 1000))
        if not s.sqlite:  # planner statistics after a bulk load (autovacuum would, later)
            s.conn.exec_driver_sql("ANALYZE ins_identity")
    load_s = time.perf_counter() - t0
    rng = random.Random(seed + 1)
    timings, found = [], 0
    for _ in range(queries):
        target = rng.choice(people)
        query = _perturb(target, rng)
        t = time.perf_counter()
        with engine.store.session(tenant, write=True) as s:
            X.sync(engine, s)
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
    rng = random.Random(i)
    return (
        f"MSH|^~\\&|GAM|HOSP|SOCLE|SOCLE|20250102120000||ADT^{event}^ADT_A05|m{i}{event}|P|2.5"
        f"|||||FRA|UNICODE UTF-8\rEVN||20250102120000\r"
        f"PID|||IPP{i}^^^HOSP&1.2.250.1.999.9&ISO^PI||NOM{i % 997}^PRENOM{rng.randrange(50)}^^^^^L"
        f"||19{rng.randrange(10, 99)}0{rng.randrange(1, 9)}1{rng.randrange(0, 9)}|"
        f"{rng.choice('MF')}|||^^^^^^BDL^^35238" + "|" * 21 + "PROV\r"
    ).encode()


def bench_mllp(url: str, messages: int, connections: int = 2) -> dict[str, Any]:
    from socle.ins.mllp import MllpServer, frame, read_frame

    engine = _engine(url)
    tenant = f"mllp{time.time_ns() % 100000}"

    async def client(port: int, items: list[bytes]) -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        ok = 0
        for m in items:
            writer.write(frame(m))
            await writer.drain()
            ack = await read_frame(reader)
            ok += b"MSA|AA" in (ack or b"")
        writer.close()
        return ok

    async def scenario() -> tuple[float, int]:
        server = MllpServer(engine, tenant, port=0)
        port = await server.start()
        half = messages // 2
        batch = [_adt(i, "A28") for i in range(half)] + [_adt(i, "A31") for i in range(half)]
        parts = [batch[i::connections] for i in range(connections)]
        t = time.perf_counter()
        oks = await asyncio.gather(*(client(port, p) for p in parts))
        elapsed = time.perf_counter() - t
        await server.close()
        return elapsed, sum(oks)

    elapsed, ok = asyncio.run(scenario())
    engine.close()
    return {
        "backend": url.split(":")[0],
        "messages": messages,
        "connections": connections,
        "accepted": ok,
        "seconds": round(elapsed, 2),
        "messages_per_s": round(messages / elapsed, 1),
    }


def run(
    patients: int = 1_000_000,
    queries: int = 300,
    messages: int = 3000,
    postgres: str | None = None,
) -> dict[str, Any]:
    """All INS figures; SQLite always, PostgreSQL when a URL is given."""
    tmp = Path(tempfile.mkdtemp())
    urls = [f"sqlite:///{tmp / 'ins-bench.db'}"] + ([postgres] if postgres else [])
    out: dict[str, Any] = {"matching": [], "mllp": []}
    for url in urls:
        out["matching"].append(bench_matching(url, patients, queries))
        out["mllp"].append(bench_mllp(url, messages))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--postgres", help="PostgreSQL URL (a scratch database)")
    args = parser.parse_args()
    import json

    print(json.dumps(run(args.patients, args.queries, args.messages, args.postgres), indent=2))


if __name__ == "__main__":
    main()
