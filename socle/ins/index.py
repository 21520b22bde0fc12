"""The identity index (`ins_identity`): Patients in comparison forms and phonetic keys.

The engine's write hooks do not receive the storage session, so the index is caught up
from Patient history instead: `sync` reads the Patient versions written since the
tenant's watermark (minus a safety overlap for transactions that committed late) and
rewrites their rows, in the caller's session. Every INS operation syncs first, so it
always matches against the current Patients; `socle ins reindex` rebuilds everything.

While catching up, a status change that no INS operation recorded (a Patient written
directly, e.g. a PUT that modified a trait and was downgraded by the write hook) gets its
Provenance and AuditEvent recorded here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import delete, insert, select, union_all, update

from socle.fhir.context import RequestContext
from socle.ins import model as M
from socle.ins import normalize as N
from socle.ins.tables import ins_identity, ins_sync

if TYPE_CHECKING:
    from socle.fhir.engine import FhirEngine
    from socle.fhir.storage.store import StoreSession

OVERLAP_US = 5_000_000  # re-read 5 s of history: transactions commit after their stamp
PAGE = 500


def swap_day_month(birth_date: str) -> str | None:
    """1985-03-07 -> 1985-07-03 (None when the swap is not a date or changes nothing)."""
    if len(birth_date) != 10:
        return None
    y, m, d = birth_date[:4], birth_date[5:7], birth_date[8:10]
    if m == d or int(d) > 12:
        return None
    return f"{y}-{d}-{m}"


def row_of(tenant: str, patient_id: str, version: int, ident: M.Identity) -> dict[str, Any]:
    return {
        "tenant": tenant,
        "patient_id": patient_id,
        "version": version,
        "status": ident.status,
        "attributes": ",".join(sorted(ident.attributes)),
        "active": ident.active and not ident.replaced_by,
        "ins": ident.ins or None,
        "family": N.compare_key(ident.birth_family)[:200],
        "used_family": N.compare_key(ident.used_family)[:200],
        "given": N.compare_key(" ".join(ident.given))[:200],
        "family_key": N.phonetic(ident.birth_family)[:64],
        "given_key": N.phonetic(ident.first_given)[:64],
        "birth_date": (ident.birth_date or "")[:10],
        "sex": ident.sex or "",
        "birthplace": (ident.birthplace or "")[:5],
    }


def put(s: StoreSession, patient_id: str, version: int, patient: dict | None) -> None:
    """Replace the index row of one Patient (None: deleted)."""
    t = ins_identity.c
    # straight on the connection: these rows do not depend on the store's buffered writes,
    # which are then sent once, at commit
    s.conn.execute(delete(ins_identity).where(t.tenant == s.tenant, t.patient_id == patient_id))
    if patient is not None:
        ident = M.read_identity(patient)
        s.conn.execute(insert(ins_identity).values(row_of(s.tenant, patient_id, version, ident)))


def sync(engine: FhirEngine, s: StoreSession) -> int:
    """Catch the index up with Patient history; returns the number of Patients reindexed."""
    s.lock_key(f"{s.tenant}|ins-sync")
    mark_row = s.execute(select(ins_sync.c.watermark).where(ins_sync.c.tenant == s.tenant)).first()
    watermark = mark_row[0] if mark_row else None
    since = max(0, watermark - OVERLAP_US) if watermark is not None else None
    versions: dict[str, list[Any]] = {}
    before = None
    top = watermark or 0
    while True:
        page = s.history("Patient", since=since, before=before, count=PAGE)
        for v in page:
            versions.setdefault(v.res_id, []).append(v)  # newest first
            top = max(top, v.last_updated)
        if len(page) < PAGE:
            break
        before = (page[-1].last_updated, page[-1].history_pk)
    done = 0
    if versions:
        t = ins_identity.c
        known: dict[str, tuple[int, str]] = {}
        ids = list(versions)
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            rows = s.execute(
                select(t.patient_id, t.version, t.status).where(
                    t.tenant == s.tenant, t.patient_id.in_(chunk)
                )
            )
            known.update({r.patient_id: (r.version, r.status) for r in rows})
        for pid, found in versions.items():
            seen = known.get(pid)
            newer = sorted(
                (v for v in found if seen is None or v.version > seen[0]), key=lambda v: v.version
            )
            if not newer:
                continue
            status = seen[1] if seen is not None else None
            for v in newer:  # status changes that no INS operation recorded
                if v.content is None:
                    continue
                now = M.read_identity(orjson.loads(v.content)).status
                if status is not None and now != status:
                    _record_direct(engine, s, pid, v.version, status, now)
                status = now
            last = newer[-1]
            put(s, pid, last.version, orjson.loads(last.content) if last.content else None)
            done += 1
    if mark_row is None:
        s.execute(insert(ins_sync).values(tenant=s.tenant, watermark=top))
    elif top != watermark:
        s.execute(update(ins_sync).where(ins_sync.c.tenant == s.tenant).values(watermark=top))
    return done


def _record_direct(
    engine: FhirEngine, s: StoreSession, pid: str, version: int, before: str, after: str
) -> None:
    from socle.ins.status import Transition, records

    event = "traits" if after == M.PROV else "direct-write"
    transition = Transition(event, before, after, "Patient written directly")
    prov, audit = records(f"Patient/{pid}/_history/{version}", transition)
    ctx = RequestContext(tenant=s.tenant, extras={"socle.internal": True})  # server's record
    engine.crud.create(s, ctx, "Provenance", prov)
    engine.crud.create(s, ctx, "AuditEvent", audit)


def mark_synced(s: StoreSession, pid: str, version: int, patient: dict[str, Any]) -> None:
    """Index a Patient an INS operation just wrote (its transition is already recorded)."""
    put(s, pid, version, patient)


def candidates(s: StoreSession, ident: M.Identity, limit: int = 500) -> list[Any]:
    """Index rows sharing a blocking key with `ident`: birth date (or its day/month
    inversion), phonetic birth name + first name, or the INS."""
    t = ins_identity.c
    tests = []
    if ident.birth_date:
        dates = [ident.birth_date]
        swapped = swap_day_month(ident.birth_date)
        if swapped:
            dates.append(swapped)
        tests.append(t.birth_date.in_(dates))
    family_key = N.phonetic(ident.birth_family or ident.used_family)
    given_key = N.phonetic(ident.first_given or ident.used_given)
    if family_key and given_key:
        tests.append((t.family_key == family_key) & (t.given_key == given_key))
        tests.append((t.family_key == given_key) & (t.given_key == family_key))  # inverted
    if ident.ins:
        tests.append(t.ins == ident.ins)
    if not tests:
        return []
    # one SELECT per blocking key, so that each one uses its own index (an OR of them
    # makes SQLite scan the whole tenant)
    parts = [select(ins_identity).where(t.tenant == s.tenant, test).limit(limit) for test in tests]
    stmt = parts[0] if len(parts) == 1 else union_all(*(p.subquery().select() for p in parts))
    out: dict[str, Any] = {}
    for row in s.execute(stmt).mappings():
        out.setdefault(row["patient_id"], row)
    return list(out.values())[:limit]
