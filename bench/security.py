"""Security overhead: token validation + policy decision per request, vs `--auth none`.

`run()` measures, in one process and one run:
* `request_overhead_us`: the extra time per request of authentication (bearer token,
  cached after its first use) + the guard's policy decision, measured end to end through
  the ASGI stack (middleware, request context, guard) against the same app with the
  open guard (`--auth none`). Budget: 200 µs;
* `token_cold_us`: validating a never-seen RS256 token (signature, claims, principal);
* `decision_us`: one policy decision with the patient's facts cached;
* `decision_cold_us`: one decision when the facts must be loaded from the database;
* `audit_append_us` / `audit_batch_events_per_s`: the audit trail (not part of the
  budget: it is a write, the price of traceability), alone and with concurrent requests.

Hook: `bench.run` may call `run()` and print/record the returned dict.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

BUDGET_US = 200.0


def _setup(folder: Path) -> dict[str, Any]:
    from socle.config import Settings
    from socle.fhir.context import RequestContext
    from socle.fhir.engine import FhirEngine
    from socle.fhir.storage.database import create_db_engine
    from socle.fhir.storage.migrate import migrate
    from socle.security import install
    from socle.security.config import SecurityConfig

    url = f"sqlite:///{folder / 'security-bench.db'}"
    db = create_db_engine(url, pool_size=1)
    migrate(db)
    db.dispose()
    engine = FhirEngine(Settings(data_dir=folder, database_url=url))
    config = SecurityConfig(
        mode="oidc",
        data_dir=folder,
        issuer="http://bench/auth",
        audiences=("http://bench/fhir",),
        checkpoint_every=1000,
    )
    security = install(engine, config)
    tenant = "bench"
    ctx = RequestContext(tenant=tenant, extras={"socle.internal": True})
    g15 = "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante"
    a03 = "https://mos.esante.gouv.fr/NOS/TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument"
    with engine.store.session(tenant, write=True) as s:
        engine.crud.update(
            s,
            ctx,
            "Practitioner",
            "gp",
            {
                "resourceType": "Practitioner",
                "id": "gp",
                "identifier": [{"system": "https://rpps.esante.gouv.fr", "value": "99700000011"}],
                "qualification": [{"code": {"coding": [{"system": g15, "code": "10"}]}}],
            },
        )
        for i in range(50):
            engine.crud.update(
                s,
                ctx,
                "Patient",
                f"p{i}",
                {
                    "resourceType": "Patient",
                    "id": f"p{i}",
                    "generalPractitioner": [{"reference": "Practitioner/gp"}],
                },
            )
        doc = {
            "resourceType": "DocumentReference",
            "id": "d0",
            "status": "current",
            "category": [{"coding": [{"system": a03, "code": "10"}]}],
            "subject": {"reference": "Patient/p0"},
            "content": [{"attachment": {"contentType": "text/plain", "data": "eA=="}}],
        }
        engine.crud.update(s, ctx, "DocumentReference", "d0", doc)
    claims = {
        "sub": "gp",
        "kind": "practitioner",
        "fhirUser": "Practitioner/gp",
        "rpps": "99700000011",
        "profession": "10",
    }
    return {"engine": engine, "security": security, "tenant": tenant, "doc": doc, "claims": claims}


def _time(fn, n: int) -> float:  # noqa: ANN001
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6


def _asgi_apps(env: dict[str, Any]) -> tuple[Any, Any]:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from socle.fhir.guard import READ, Access, OpenGuard
    from socle.fhir.rest.http import context
    from socle.security.service import AuthMiddleware

    engine, doc = env["engine"], env["doc"]

    def build(guard: Any, secure: bool) -> Any:
        async def read(request: Request) -> Response:
            ctx = context(request)
            guard.authorize(ctx, Access(READ, "DocumentReference", "d0", doc))
            return Response(b"{}", media_type="application/fhir+json")

        app = Starlette(routes=[Route("/fhir/{type}/{id}", read)])
        app.state.engine = engine
        app.state.tenant = env["tenant"]
        if secure:
            app.add_middleware(AuthMiddleware, security=env["security"])
        return app

    return build(OpenGuard(), False), build(env["security"].guard, True)


async def _drive(app: Any, headers: list[tuple[bytes, bytes]], n: int) -> float:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/fhir/DocumentReference/d0",
        "raw_path": b"",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("bench", 80),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    status = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    start = time.perf_counter()
    for _ in range(n):
        await app(dict(scope, state={}), receive, send)
    elapsed = (time.perf_counter() - start) / n * 1e6
    assert set(status) == {200}, set(status)
    return elapsed


def run(iterations: int = 5000, rounds: int = 5) -> dict[str, Any]:
    from socle.security.audit import AuditRecord
    from socle.security.policy import RequestFacts

    folder = Path(tempfile.mkdtemp(prefix="socle-secbench-"))
    env = _setup(folder)
    security, tenant = env["security"], env["tenant"]
    issuer = security.issuer
    token = issuer.access_token(env["claims"], scope="user/*.cruds", client_id="bench")
    headers = [(b"authorization", f"Bearer {token}".encode()), (b"host", b"bench")]
    app_none, app_oidc = _asgi_apps(env)

    async def compare() -> tuple[list[float], list[float]]:
        none, oidc = [], []
        await _drive(app_oidc, headers, 50)  # warm: token and facts cached
        await _drive(app_none, headers, 50)
        for _ in range(rounds):
            none.append(await _drive(app_none, headers, iterations))
            oidc.append(await _drive(app_oidc, headers, iterations))
        return none, oidc

    none, oidc = asyncio.run(compare())
    baseline, secured = statistics.median(none), statistics.median(oidc)

    # one never-seen token each time: RS256 verification + claims + principal
    fresh = [
        issuer.access_token(env["claims"], scope="user/*.cruds", client_id="bench")
        for _ in range(500)
    ]
    security.authenticate(
        issuer.access_token(env["claims"], scope="user/*.rs", client_id="b"), tenant
    )
    it = iter(fresh)
    token_cold = _time(lambda: security.authenticate(next(it), tenant), len(fresh))

    principal = security.authenticate(token, tenant)
    policy, doc = security.policy, env["doc"]
    facts = RequestFacts()
    decision = _time(
        lambda: policy.decide(principal, "read", "DocumentReference", doc, tenant, facts),
        iterations,
    )
    patients = [
        {"resourceType": "Observation", "id": "o", "subject": {"reference": f"Patient/p{i}"}}
        for i in range(50)
    ]

    def cold() -> None:
        security.info.invalidate()
        policy.decide(principal, "read", "Observation", patients[0], tenant, facts)

    decision_cold = _time(cold, 200)

    record = AuditRecord(
        tenant=tenant,
        action="read",
        outcome=200,
        agent={"id": "bench"},
        patients=["p0"],
        entities=["DocumentReference/d0"],
    )
    audit_single = _time(lambda: security.audit.append(record), 300)
    events = 2000
    start = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda _i: security.audit.append(record), range(events)))
    audit_batch = events / (time.perf_counter() - start)
    env["engine"].close()
    overhead = secured - baseline
    return {
        "request_none_us": round(baseline, 1),
        "request_oidc_us": round(secured, 1),
        "request_overhead_us": round(overhead, 1),
        "budget_us": BUDGET_US,
        "within_budget": overhead <= BUDGET_US,
        "token_cold_us": round(token_cold, 1),
        "decision_us": round(decision, 2),
        "decision_cold_us": round(decision_cold, 1),
        "audit_append_us": round(audit_single, 1),
        "audit_batch_events_per_s": round(audit_batch, 0),
        "iterations": iterations,
        "rounds": rounds,
    }


def main() -> None:
    import json

    print(json.dumps(run(), indent=2))


if __name__ == "__main__":
    main()
