"""`GET /fhir/AuditEvent` and `GET /fhir/AuditEvent/{id}`, served from the audit trail.

* a patient (or their delegate) lists who accessed their record: `AuditEvent?patient=…`
  (their own patient only; without `patient`, their own is assumed);
* a professional sees their own actions (optionally for one `patient`);
* administrators and system clients see everything.
Parameters: `patient`, `date` (ge/le/gt/lt prefixes on the recorded instant), `_count`,
`_cursor` (paging, newest first). Reading the trail is itself audited.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from socle.fhir.datetime import parse_range
from socle.fhir.errors import FhirError, bad_request
from socle.fhir.rest.http import context
from socle.security import tables as T
from socle.security.audit import AuditRecord
from socle.security.guard import agent_of
from socle.security.policy import Decision
from socle.security.principal import ADMIN, PATIENT, RELATED, SYSTEM, Principal

if TYPE_CHECKING:
    from socle.security.service import Security

FHIR_JSON = "application/fhir+json"


def routes(security: Security) -> list[Route]:
    async def search(request: Request) -> Response:
        return await _search(security, request)

    async def read(request: Request) -> Response:
        return await _read(security, request)

    return [
        Route("/fhir/AuditEvent", search, methods=["GET"]),
        Route("/fhir/AuditEvent/{id}", read, methods=["GET"]),
    ]


def _principal(request: Request) -> Principal:
    p = context(request).principal
    if not isinstance(p, Principal):
        raise FhirError(401, "login", "Authentication is required")
    return p


def _patient_id(value: str) -> str:
    return value.rsplit("Patient/", 1)[-1].strip("/")


async def _search(security: Security, request: Request) -> Response:
    ctx = context(request)
    p = _principal(request)
    decision = security.policy.search_scope(p, "AuditEvent", ctx.tenant)
    if isinstance(decision, Decision):
        raise FhirError(decision.status, "forbidden", decision.reason)
    q = request.query_params
    patient = _patient_id(q["patient"]) if q.get("patient") else None
    agent = None
    if p.kind in (PATIENT, RELATED):
        if patient is not None and patient != p.patient:
            raise FhirError(403, "forbidden", "You may only list the accesses to your own record")
        patient = p.patient
    elif p.kind not in (ADMIN, SYSTEM):
        agent = p.agent_id  # professionals: their own actions
    count = q.get("_count", "50")
    if not count.isdigit():
        raise bad_request("_count must be a number")
    size = max(1, min(int(count), 500))
    cursor = q.get("_cursor")
    if cursor is not None and not cursor.isdigit():
        raise bad_request("invalid _cursor")
    dates = [_date(v) for v in q.getlist("date")]

    def work() -> tuple[list[bytes], int | None]:
        log, idx = T.audit_log.c, T.audit_patient.c
        stmt = select(log.seq, log.content).where(log.tenant == ctx.tenant)
        if patient is not None:
            stmt = stmt.where(
                log.seq.in_(select(idx.seq).where(idx.tenant == ctx.tenant, idx.patient == patient))
            )
        if agent is not None:
            stmt = stmt.where(log.agent == agent)
        if cursor is not None:
            stmt = stmt.where(log.seq < int(cursor))
        for op, bound in dates:
            stmt = stmt.where(op(log.recorded, bound))
        with security.engine.store.engine.connect() as conn:
            rows = conn.execute(stmt.order_by(log.seq.desc()).limit(size + 1)).all()
        more = len(rows) > size
        rows = rows[:size]
        security.audit.append(
            AuditRecord(
                tenant=ctx.tenant,
                action="audit-read",
                outcome=200,
                agent=agent_of(p),
                patients=[patient] if patient else [],
                description=f"audit trail read ({len(rows)} entries)",
                network=security.client_address(request),
            )
        )
        return [r.content for r in rows], (rows[-1].seq if more else None)

    contents, next_seq = await run_in_threadpool(work)
    base = ctx.base_url
    entries = [
        {
            "fullUrl": f"{base}/AuditEvent/{orjson.loads(c)['id']}",
            "resource": orjson.Fragment(c),
            "search": {"mode": "match"},
        }
        for c in contents
    ]
    self_query = str(request.url.query)
    links = [
        {"relation": "self", "url": f"{base}/AuditEvent" + (f"?{self_query}" if self_query else "")}
    ]
    if next_seq is not None:
        params = [(k, v) for k, v in q.multi_items() if k != "_cursor"] + [
            ("_cursor", str(next_seq))
        ]
        from urllib.parse import urlencode

        links.append({"relation": "next", "url": f"{base}/AuditEvent?{urlencode(params)}"})
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "link": links,
        "entry": entries,
    }
    if next_seq is None and cursor is None:
        bundle["total"] = len(entries)
    return Response(orjson.dumps(bundle), 200, media_type=FHIR_JSON)


def _date(raw: str) -> tuple[Any, int]:
    import operator

    prefix = raw[:2] if raw[:2] in ("ge", "le", "gt", "lt", "eq") else "eq"
    value = raw[2:] if raw[:2] == prefix else raw
    try:
        low, high, _ = parse_range(value)
    except ValueError as exc:
        raise bad_request(f"date: {exc}") from exc
    return {
        "ge": (operator.ge, low),
        "gt": (operator.gt, high),
        "le": (operator.le, high),
        "lt": (operator.lt, low),
        "eq": (operator.ge, low),
    }[prefix]


async def _read(security: Security, request: Request) -> Response:
    ctx = context(request)
    p = _principal(request)
    raw = request.path_params["id"]
    if not raw.isdigit():
        raise FhirError(404, "not-found", f"AuditEvent/{raw} is not known")
    decision = security.policy.search_scope(p, "AuditEvent", ctx.tenant)
    if isinstance(decision, Decision):
        raise FhirError(decision.status, "forbidden", decision.reason)

    def work() -> tuple[Any, list[str]]:
        with security.engine.store.engine.connect() as conn:
            row = conn.execute(
                select(T.audit_log).where(
                    T.audit_log.c.seq == int(raw), T.audit_log.c.tenant == ctx.tenant
                )
            ).first()
            patients = list(
                conn.execute(
                    select(T.audit_patient.c.patient).where(T.audit_patient.c.seq == int(raw))
                ).scalars()
            )
        return row, patients

    row, patients = await run_in_threadpool(work)
    allowed = row is not None and (
        p.kind in (ADMIN, SYSTEM)
        or (p.kind in (PATIENT, RELATED) and p.patient in patients)
        or row.agent == p.agent_id
    )
    if not allowed:
        raise FhirError(404, "not-found", f"AuditEvent/{raw} is not known")
    return Response(row.content, 200, media_type=FHIR_JSON)
