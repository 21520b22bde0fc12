"""The identity index (`ins_identity`): Patients in comparison forms and phonetic keys.

Every Patient write goes through the engine's `after_write` hook (`on_written`), which
rewrites the Patient's row in the writer's own transaction: the index is always as
current as the Patients, and read-only operations (matching, PIXm, the worklist) need no
catch-up and no write session. A direct write (REST, Bundle, loader) that changed the
RNIV status gets its Provenance and AuditEvent recorded there too; INS operations and
the HL7 feed record their own transitions (they set the `ins_operation` context flag).

Deleting a Patient does not call that hook, so the row of a deleted Patient stays until
it is written again or reindexed: readers drop such rows (they read the Patients
they return, and a deleted one is not there). `sync` (catch-up
from Patient history, with a per-tenant watermark) remains for `socle ins reindex` and
for databases filled before the hook existed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import bindparam, delete, insert, select, text, union_all, update

from socle.fhir.context import RequestContext
from socle.fhir.storage import schema as S
from socle.fhir.storage.fixed import FixedStatement
from socle.fhir.storage.store import CurrentRow, StoredVersion
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


# Statements built once and run on the driver (storage/fixed.py): the feed writes one
# row per message, and SQLAlchemy's execution layer costs more than the statement.
_T = ins_identity.c
_KEY = (_T.tenant == bindparam("k_tenant"), _T.patient_id == bindparam("k_patient"))
_COLUMNS = tuple(row_of("", "", 0, M.Identity()))
_INSERT_ROW = FixedStatement(insert(ins_identity).values({c: bindparam(c) for c in _COLUMNS}))
# the same INSERT … ON CONFLICT on SQLite (3.24+) and PostgreSQL: no result to wait for
_UPSERT_ROW = FixedStatement(
    text(
        f"INSERT INTO {ins_identity.name} ({', '.join(_COLUMNS)}) "
        f"VALUES ({', '.join(':' + c for c in _COLUMNS)}) "
        "ON CONFLICT (tenant, patient_id) DO UPDATE SET "
        + ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS if c not in ("tenant", "patient_id"))
    )
)
_STATUS_OF = FixedStatement(select(_T.status).where(*_KEY))
_DELETE_ROW = FixedStatement(delete(ins_identity).where(*_KEY))


def put(
    s: StoreSession, patient_id: str, version: int, patient: dict | None, new: bool = False
) -> None:
    """Replace the index row of one Patient (None: deleted); `new`: no row can exist yet.

    Sent with the session's next flush (`StoreSession.defer`): on PostgreSQL in the round
    trip that carries the Patient's own rows. Readers of the index flush first."""
    if patient is None:
        s.defer(_DELETE_ROW, {"k_tenant": s.tenant, "k_patient": patient_id})
        return
    row = row_of(s.tenant, patient_id, version, M.read_identity(patient))
    s.defer(_INSERT_ROW if new else _UPSERT_ROW, row)


def indexed_status(s: StoreSession, patient_id: str) -> str | None:
    """The RNIV status the index holds for a Patient (None: not indexed)."""
    s.flush()  # an index row still deferred
    row = _STATUS_OF.first(s.conn, {"k_tenant": s.tenant, "k_patient": patient_id})
    return row[0] if row is not None else None


def make_after_write(engine: FhirEngine):
    """The `after_write` hook: index every Patient version in the writer's transaction."""
    from socle.ins.service import OP_FLAG

    def ins_index_hook(s: StoreSession, ctx: RequestContext, result: Any) -> None:
        if result.res_type != "Patient" or result.resource is None:
            return
        new = result.version == 1
        if not new and not ctx.extras.get(OP_FLAG):
            before = indexed_status(s, result.res_id)
            after = M.read_identity(result.resource).status
            if before is not None and before != after:  # recorded by no INS operation
                _record_direct(engine, s, result.res_id, result.version, before, after)
        put(s, result.res_id, result.version, result.resource, new=new)

    return ins_index_hook


_TOK, _RES, _VER = S.idx_token.c, S.resource.c, S.resource_version.c
_CARRIES = (
    _TOK.tenant == bindparam("k_tenant"),
    _TOK.res_type == bindparam("k_type"),
    _TOK.param == "identifier",
    _TOK.code == bindparam("k_value"),
    _TOK.system == bindparam("k_system"),
    _RES.deleted.is_(False),
)
_ROW = (_RES.pk, _RES.res_id, _RES.version, _RES.deleted, _RES.last_updated)
_BY_IDENTIFIER = FixedStatement(
    select(*_ROW, _VER.method, _VER.content)
    .select_from(
        S.idx_token.join(S.resource, _RES.pk == _TOK.resource_pk).join(
            S.resource_version,
            (_VER.resource_pk == _RES.pk) & (_VER.version == _RES.version),
        )
    )
    .where(*_CARRIES)
    .order_by(_RES.pk)
    .limit(1)
)
# PostgreSQL write transactions: the resource row found is locked (FOR UPDATE) by the
# lookup itself, so the update that follows needs no `SELECT … FOR UPDATE` of its own
# (a round trip). The row is locked in a CTE and its version joined outside it: when a
# writer that committed meanwhile moved the row, the lock returns its newest version,
# whose content this statement's snapshot cannot see (NULL: read again, see below).
_LOCKED = (
    select(*_ROW)
    .select_from(S.idx_token.join(S.resource, _RES.pk == _TOK.resource_pk))
    .where(*_CARRIES)
    .order_by(_RES.pk)
    .limit(1)
    .with_for_update(of=S.resource)
    .cte("found")
)
_BY_IDENTIFIER_LOCKED = FixedStatement(
    select(*_LOCKED.c, _VER.method, _VER.content).select_from(
        _LOCKED.outerjoin(
            S.resource_version,
            (_VER.resource_pk == _LOCKED.c.pk) & (_VER.version == _LOCKED.c.version),
        )
    )
)


def resource_by_identifier(
    s: StoreSession, res_type: str, identifiers: list[tuple[str, str]]
) -> tuple[str, dict[str, Any]] | None:
    """The current resource carrying one of these (system, value) identifiers, in order.

    One indexed equality on the token index (tenant, type, parameter, code, system),
    joined to the current version: what `Type?identifier=system|value` finds, without
    the search layer's parsing and query building, which cost the HL7 feed more than the
    query itself (it looks a Patient up for every message). In a write transaction the
    row found stays locked until commit (SQLite: writers are serialised already), and the
    update that usually follows uses it and this version (the guard's look at what it
    replaces, the index rows it changes) without reading them again."""
    s.flush()  # a resource created earlier in this transaction must be found
    locking = s.write_transaction and not s.sqlite
    statement = _BY_IDENTIFIER_LOCKED if locking else _BY_IDENTIFIER
    for system, value in identifiers:
        params = {"k_tenant": s.tenant, "k_type": res_type, "k_value": value, "k_system": system}
        row = statement.first(s.conn, params)
        if row is not None:
            pk, res_id, version, deleted, last_updated, method, raw = row
            if s.write_transaction:
                s.locked(res_type, res_id, CurrentRow(pk, version, bool(deleted), last_updated))
            if raw is None:  # moved by a concurrent writer: its version, read now
                stored = s.read(res_type, res_id)
                return (res_id, orjson.loads(stored.content)) if stored and stored.content else None
            stored = StoredVersion(pk, res_type, res_id, version, last_updated, method, bytes(raw))
            s.remember(stored)
            return res_id, orjson.loads(stored.content)
    return None


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


# Candidate blocks: one SELECT per blocking key, in one UNION ALL, so that each one uses
# its own index (an OR of them makes SQLite scan the whole tenant). Built once per shape
# (one or two dates, names, INS) with bound values: building the statement for each query,
# and cache-keying and adapting the results of a new one, cost SQLAlchemy more than the
# database took to answer it. Only the columns that scoring reads are fetched.
CANDIDATE_COLUMNS = (
    "patient_id",
    "active",
    "ins",
    "family",
    "used_family",
    "given",
    "family_key",
    "birth_date",
    "sex",
    "birthplace",
)
_BLOCKS: dict[tuple[int, bool, bool], Any] = {}


def _blocks(dates: int, names: bool, ins: bool) -> Any:
    """The candidate statement of one shape: `dates` (0-2) birth dates, the name pair and
    its inversion, the INS."""
    found = _BLOCKS.get((dates, names, ins))
    if found is not None:
        return found
    tests = []
    if dates == 1:
        tests.append(_T.birth_date == bindparam("k_date"))
    elif dates == 2:
        tests.append(_T.birth_date.in_([bindparam("k_date"), bindparam("k_swapped")]))
    if names:
        tests.append(
            (_T.family_key == bindparam("k_family")) & (_T.given_key == bindparam("k_given"))
        )
        tests.append(
            (_T.family_key == bindparam("k_given")) & (_T.given_key == bindparam("k_family"))
        )
    if ins:
        tests.append(_T.ins == bindparam("k_ins"))
    columns = [_T[c] for c in CANDIDATE_COLUMNS]
    parts = [
        select(*columns).where(_T.tenant == bindparam("k_tenant"), test).limit(bindparam("k_limit"))
        for test in tests
    ]
    stmt = parts[0] if len(parts) == 1 else union_all(*(p.subquery().select() for p in parts))
    found = _BLOCKS[(dates, names, ins)] = stmt
    return found


def candidates(s: StoreSession, ident: M.Identity, limit: int = 500) -> list[dict[str, Any]]:
    """Index rows (`CANDIDATE_COLUMNS`) sharing a blocking key with `ident`: birth date
    (or its day/month inversion), phonetic birth name + first name (or inverted), or the INS."""
    params: dict[str, Any] = {"k_tenant": s.tenant, "k_limit": limit}
    dates = 0
    if ident.birth_date:
        params["k_date"] = ident.birth_date
        swapped = swap_day_month(ident.birth_date)
        if swapped:
            params["k_swapped"] = swapped
        dates = 2 if swapped else 1
    family_key = N.phonetic(ident.birth_family or ident.used_family)
    given_key = N.phonetic(ident.first_given or ident.used_given)
    names = bool(family_key and given_key)
    if names:
        params["k_family"], params["k_given"] = family_key, given_key
    if ident.ins:
        params["k_ins"] = ident.ins
    if not (dates or names or ident.ins):
        return []
    s.flush()  # rows of Patients written earlier in this transaction
    out: dict[str, dict[str, Any]] = {}
    for values in s.conn.execute(_blocks(dates, names, bool(ident.ins)), params):
        if values[0] not in out:  # a row found by two blocks
            out[values[0]] = dict(zip(CANDIDATE_COLUMNS, values, strict=True))
    return list(out.values())[:limit]
