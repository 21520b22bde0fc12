"""(b) Mixed CRUD against the running server, on the data the ingest loaded.

N client threads (httpx, one keep-alive connection each) draw each request from a fixed mix:
50% read by id, 20% search, 15% create, 10% update (PUT of the current body), 5% delete.
Targets are chosen so that every answer has one expected status: reads and updates only
target resources nobody deletes, each thread deletes what it created (or its own reserve of
loaded Observations), each thread updates its own share of resources (no write conflicts).
A warm-up period runs the same mix and is not measured.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import quote

import httpx
import orjson

from bench.common import CpuMeter, percentile, progress
from bench.dataset import Dataset, relinked_resources

MIX = (("read", 50), ("search", 20), ("create", 15), ("update", 10), ("delete", 5))
EXPECTED = {"read": {200}, "search": {200}, "create": {201}, "update": {200}, "delete": {200, 204}}
HEADERS = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}


@dataclass
class Pools:
    reads: list[str]  # "Type/id" of loaded resources that are never deleted
    searches: list[tuple[str, int]]  # (query, minimum number of matches)
    updates: list[list[tuple[str, bytes]]]  # per client: ("Type/id", current body)
    creates: list[tuple[str, bytes]]  # (type, body without id)
    deletable: list[list[str]]  # per client: loaded Observations it may delete

    def describe(self) -> dict:
        return {
            "read_targets": len(self.reads),
            "search_queries": len(self.searches),
            "update_targets": sum(len(u) for u in self.updates),
            "create_bodies": len(self.creates),
            "delete_reserve": sum(len(d) for d in self.deletable),
        }


def build_pools(data: Dataset, locations: list[list[str] | None], clients: int, seed: int) -> Pools:
    rng = random.Random(seed)
    loaded = [i for i, loc in enumerate(locations) if loc]
    if len(loaded) < 8:
        raise RuntimeError("too few bundles loaded for the CRUD benchmark")
    shuffled = rng.sample(loaded, len(loaded))
    n_update = max(2, min(300, len(loaded) // 4))
    n_delete = max(2, min(200, len(loaded) // 4))
    update_src, delete_src = shuffled[:n_update], shuffled[n_update : n_update + n_delete]
    reserved = set(delete_src)

    updates: list[list[tuple[str, bytes]]] = [[] for _ in range(clients)]
    creates: list[tuple[str, bytes]] = []
    k = 0
    for index in update_src:
        for name, resource in relinked_resources(data.bundles[index], locations[index]):
            updates[k % clients].append((name, orjson.dumps(resource)))
            k += 1
            if resource["resourceType"] == "Observation":
                body = {key: v for key, v in resource.items() if key != "id"}
                creates.append(("Observation", orjson.dumps(body)))
    deletable: list[list[str]] = [[] for _ in range(clients)]
    k = 0
    for index in delete_src:
        for name in locations[index] or ():
            if name.startswith("Observation/"):
                deletable[k % clients].append(name)
                k += 1
    reads = [name for i in loaded if i not in reserved for name in locations[i] or ()]

    searches: list[tuple[str, int]] = []
    for index in shuffled[n_update + n_delete :][:2000] or shuffled[:2000]:
        keys, patient = data.keys[index], (locations[index] or [""])[0]
        searches.append((f"Patient?identifier={quote(keys.identifier, safe='')}", 1))
        if keys.observation_code and patient.startswith("Patient/"):
            code = quote(keys.observation_code, safe="")
            searches.append((f"Observation?subject={patient}&code={code}", 1))
    return Pools(reads, searches, updates, creates, deletable)


@dataclass
class _Record:
    kind: str
    started: float
    seconds: float
    ok: bool


@dataclass
class _Client:
    number: int
    pools: Pools
    rng: random.Random
    created: list[str] = field(default_factory=list)
    records: list[_Record] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    empty_searches: int = 0


def _choose(rng: random.Random) -> str:
    roll = rng.random() * 100
    for kind, weight in MIX:
        if roll < weight:
            return kind
        roll -= weight
    return MIX[0][0]


def _request(client: httpx.Client, fhir: str, state: _Client, kind: str) -> tuple[bool, str]:
    """Run one request of `kind`; (as expected?, description for the error list)."""
    pools, rng = state.pools, state.rng
    if kind == "read":
        target = rng.choice(pools.reads)
        response = client.get(f"{fhir}/{target}")
    elif kind == "search":
        query, minimum = rng.choice(pools.searches)
        response = client.get(f"{fhir}/{query}")
        if response.status_code == 200:
            found = sum(
                1
                for e in orjson.loads(response.content).get("entry", ())
                if e.get("search", {}).get("mode", "match") == "match"
            )
            if found < minimum:
                state.empty_searches += 1
        target = query
    elif kind == "create":
        res_type, body = rng.choice(pools.creates)
        response = client.post(f"{fhir}/{res_type}", content=body)
        if response.status_code == 201:
            location = response.headers.get("location", "")
            path = location.split("/fhir/", 1)[-1].split("/_history", 1)[0]
            state.created.append(path)
        target = res_type
    elif kind == "update":
        mine = pools.updates[state.number]
        target, body = mine[rng.randrange(len(mine))]
        response = client.put(f"{fhir}/{target}", content=body)
    else:  # delete: what this client created, else its reserve of loaded Observations
        reserve = pools.deletable[state.number]
        if state.created:
            target = state.created.pop(0)
        elif reserve:
            target = reserve.pop()
        else:
            return True, ""
        response = client.delete(f"{fhir}/{target}")
    ok = response.status_code in EXPECTED[kind]
    return ok, "" if ok else f"{kind} {target}: {response.status_code} {response.text[:200]}"


def run_mixed(
    fhir: str, pools: Pools, clients: int, seconds: float, warmup: float, server_pid: int | None
) -> dict:
    start = time.perf_counter() + 0.2
    measure_from = start + warmup
    end = measure_from + seconds
    states = [_Client(n, pools, random.Random(1000 + n)) for n in range(clients)]

    def worker(state: _Client) -> None:
        with httpx.Client(timeout=60, headers=HEADERS) as client:
            while time.perf_counter() < start:
                time.sleep(0.01)
            while True:
                began = time.perf_counter()
                if began >= end:
                    return
                kind = _choose(state.rng)
                try:
                    ok, error = _request(client, fhir, state, kind)
                except httpx.HTTPError as exc:
                    ok, error = False, f"{kind}: {exc!r}"
                elapsed = time.perf_counter() - began
                if not ok:
                    state.errors.append(error)
                if began >= measure_from:
                    state.records.append(_Record(kind, began, elapsed, ok))

    threads = [threading.Thread(target=worker, args=(s,), daemon=True) for s in states]
    for thread in threads:
        thread.start()
    with progress() as bar:
        task = bar.add_task(f"  {clients} clients, warm-up {warmup:.0f}s", total=None)
        while time.perf_counter() < measure_from:
            time.sleep(0.1)
        meter = CpuMeter(server_pid)
        bar.update(task, description=f"  {clients} clients, measuring", total=round(seconds))
        while (now := time.perf_counter()) < end:
            bar.update(task, completed=min(seconds, now - measure_from))
            time.sleep(0.25)
        cpu = meter.stop()
        bar.update(task, completed=round(seconds))
        for thread in threads:
            thread.join(timeout=120)
    records = [r for s in states for r in s.records]
    errors = [e for s in states for e in s.errors]
    by_kind = {}
    for kind, weight in MIX:
        mine = sorted(r.seconds for r in records if r.kind == kind)
        by_kind[kind] = {
            "mix_pct": weight,
            "requests": len(mine),
            "per_s": round(len(mine) / seconds, 1),
            "p50_ms": round(percentile(mine, 50) * 1000, 2),
            "p95_ms": round(percentile(mine, 95) * 1000, 2),
            "p99_ms": round(percentile(mine, 99) * 1000, 2),
            "errors": sum(1 for r in records if r.kind == kind and not r.ok),
        }
    return {
        "clients": clients,
        "seconds": seconds,
        "warmup_seconds": warmup,
        "requests": len(records),
        "requests_per_s": round(len(records) / seconds, 1),
        "errors": len(errors),
        "error_samples": errors[:5],
        "searches_below_expected_matches": sum(s.empty_searches for s in states),
        "by_kind": by_kind,
        "cpu_cores": cpu.as_dict(),
        "pools": pools.describe(),
    }
