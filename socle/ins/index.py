"""The identity index (`ins_identity`): Patients in comparison forms and phonetic keys.

Every Patient write goes through the engine's `after_write` hook (`on_written`), which
rewrites the Patient's row in the writer's own transaction: the index is always as
current as the Patients, and read-only operations (matching, PIXm, the worklist) need no
catch-up and no write session. A direct write (REST, Bundle, loader) that changed the
RNIV status gets its Provenance and AuditEvent recorded there too; INS operations and
the HL7 feed record their own transitions (they set the `ins_operation` context flag).

Forms kept: names in comparison form (first names in stored form, so that a compound
first name stays one name: ``JEAN-PIERRE MARIE``), phonetic keys, and the INS as a
cleaned matricule (`nir.clean`: no spaces, 2A/2B upper-cased), so that an INS typed with
spaces or a lower-case 2a is one INS. A change of these forms or of the phonetic rules
needs `socle ins reindex`; `outdated` tells whether a tenant's rows are stale.

Deleting a Patient does not call that hook, so the row of a deleted Patient stays until
it is written again or reindexed: readers drop such rows (they read the Patients
they return, and a deleted one is not there). `sync` (catch-up
from Patient history, with a per-tenant watermark) remains for `socle ins reindex` and
for databases filled before the hook existed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import (
    bindparam,
    case,
    delete,
    func,
    insert,
    select,
    text,
    tuple_,
    union_all,
    update,
)

from socle.fhir.context import RequestContext
from socle.fhir.storage import schema as S
from socle.fhir.storage.fixed import FixedStatement
from socle.fhir.storage.store import CurrentRow, StoredVersion
from socle.ins import model as M
from socle.ins import normalize as N
from socle.ins.nir import clean
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


def clean_ins(value: str | None) -> str | None:
    """The matricule as the index keeps and compares it (None: no INS)."""
    return clean(value or "") or None


def given_form(given: list[str]) -> str:
    """The first names as the index keeps them: stored forms, space-separated (a compound
    first name keeps its hyphen: it is one name)."""
    return " ".join(f for f in map(N.trait, given) if f)[:200]


def row_of(tenant: str, patient_id: str, version: int, ident: M.Identity) -> dict[str, Any]:
    return {
        "tenant": tenant,
        "patient_id": patient_id,
        "version": version,
        "status": ident.status,
        "attributes": ",".join(sorted(ident.attributes)),
        "active": ident.active and not ident.replaced_by,
        "ins": clean_ins(ident.ins),
        "family": N.compare_key(ident.birth_family)[:200],
        "used_family": N.compare_key(ident.used_family)[:200],
        "given": given_form(ident.given),
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
    s: StoreSession,
    patient_id: str,
    version: int,
    patient: dict | None,
    new: bool = False,
    ident: M.Identity | None = None,
) -> None:
    """Replace the index row of one Patient (None: deleted); `new`: no row can exist yet.

    Sent with the session's next flush (`StoreSession.defer`): on PostgreSQL in the round
    trip that carries the Patient's own rows. Readers of the index flush first."""
    if patient is None:
        s.defer(_DELETE_ROW, {"k_tenant": s.tenant, "k_patient": patient_id})
        return
    row = row_of(s.tenant, patient_id, version, ident or M.read_identity(patient))
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
        ident = M.read_identity(result.resource)
        if not ctx.extras.get(OP_FLAG):  # the INS operations record their own transitions
            before = None if new else indexed_status(s, result.res_id)
            after = ident.status
            if (new and after != M.PROV) or (before is not None and before != after):
                _record_direct(engine, s, result.res_id, result.version, before or "", after)
        put(s, result.res_id, result.version, result.resource, new=new, ident=ident)

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
    from socle.ins.service import record_transitions
    from socle.ins.status import Transition

    event = "created" if not before else "traits" if after == M.PROV else "direct-write"
    detail = "Patient created" if not before else "Patient written directly"
    transition = Transition(event, before, after, detail)
    ctx = RequestContext(tenant=s.tenant)  # the server's record (record_transitions)
    record_transitions(engine, s, ctx, f"Patient/{pid}/_history/{version}", [transition])


# Candidate blocks: one SELECT per blocking key, in one UNION ALL, so that each one uses
# its own index (an OR of them makes SQLite scan the whole tenant). Built once per shape
# (one or two dates, names, used name, INS) with bound values: building the statement for
# each query, and cache-keying and adapting the results of a new one, cost SQLAlchemy more
# than the database took to answer it. Only the columns that scoring reads are fetched.
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
    "attributes",
)
_BLOCKS: dict[tuple[int, bool, bool, bool], Any] = {}


def _blocks(dates: int, names: bool, used: bool, ins: bool) -> Any:
    """The candidate statement of one shape: `dates` (0-2) birth dates, the name pair and
    its inversion, the used name with the first name, the INS."""
    found = _BLOCKS.get((dates, names, used, ins))
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
    if used:
        tests.append(
            (_T.family_key == bindparam("k_used")) & (_T.given_key == bindparam("k_given"))
        )
    if ins:
        tests.append(_T.ins == bindparam("k_ins"))
    columns = [_T[c] for c in CANDIDATE_COLUMNS]
    parts = [
        select(*columns).where(_T.tenant == bindparam("k_tenant"), test).limit(bindparam("k_limit"))
        for test in tests
    ]
    stmt = parts[0] if len(parts) == 1 else union_all(*(p.subquery().select() for p in parts))
    found = _BLOCKS[(dates, names, used, ins)] = stmt
    return found


def candidates(s: StoreSession, ident: M.Identity, limit: int = 500) -> list[dict[str, Any]]:
    """Index rows (`CANDIDATE_COLUMNS`) sharing a blocking key with `ident`: birth date
    (or its day/month inversion), phonetic birth name + first name (or inverted), the
    used name + first name (a record typed under the used name), or the cleaned INS."""
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
    used_key = N.phonetic(ident.used_family) if ident.birth_family else ""
    used = bool(names and used_key and used_key != family_key)
    if used:
        params["k_used"] = used_key
    ins = clean_ins(ident.ins)
    if ins:
        params["k_ins"] = ins
    if not (dates or names or ins):
        return []
    s.flush()  # rows of Patients written earlier in this transaction
    out: dict[str, dict[str, Any]] = {}
    for values in s.conn.execute(_blocks(dates, names, used, bool(ins)), params):
        if values[0] not in out:  # a row found by two blocks
            out[values[0]] = dict(zip(CANDIDATE_COLUMNS, values, strict=True))
    return list(out.values())[:limit]


def rows(s: StoreSession, patient_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The index rows (`CANDIDATE_COLUMNS`) of these Patients, by id."""
    s.flush()
    columns = [_T[c] for c in CANDIDATE_COLUMNS]
    out: dict[str, dict[str, Any]] = {}
    ids = list(dict.fromkeys(patient_ids))
    for i in range(0, len(ids), 500):
        stmt = select(*columns).where(_T.tenant == s.tenant, _T.patient_id.in_(ids[i : i + 500]))
        for values in s.conn.execute(stmt):
            out[values[0]] = dict(zip(CANDIDATE_COLUMNS, values, strict=True))
    return out


def outdated(s: StoreSession, sample: int | None = 1000) -> int:
    """How many of the tenant's rows (the first `sample`, or all) were written with other
    forms or phonetic rules than the current ones: more than 0 means `socle ins reindex`.

    A row is recomputable from itself: its keys are the phonetic keys of its names (the
    first word of `given` is the first name), its INS the cleaned one."""
    s.flush()
    stmt = select(_T.family, _T.given, _T.family_key, _T.given_key, _T.ins).where(
        _T.tenant == s.tenant
    )
    if sample is not None:
        stmt = stmt.order_by(_T.pk).limit(sample)
    return sum(1 for row in s.conn.execute(stmt) if _stale(*row))


def _stale(family: str, given: str, family_key: str, given_key: str, ins: str | None) -> bool:
    if len(family) < 200 and len(family_key) < 64 and N.phonetic(family) != family_key:
        return True
    first = given.split(" ")[0] if given else ""
    if len(given_key) < 64 and N.phonetic(first) != given_key:
        return True
    return ins is not None and clean_ins(ins) != ins


# Worklist pairs: the pairs that share a blocking key of `candidates`, so that a pair
# `find_matches` finds from either side is paired here too, without comparing every pair
# of the tenant. Two reads of the tenant's active rows, grouped as they come:
# * a year of birth dates at a time: people born the same day (or on its day/month
#   inversion) who share a phonetic name key in any position (birth name, first name,
#   one for the other), or whose used name is written as the other's birth or used name;
# * ordered by name keys (both, or inverted): with a close date (same year, or same day
#   and month: a one-digit typo), or else the same sex and birthplace (0.70 on equal
#   names);
# and used names by their phonetic key (`_used_name_pairs`: no key is kept for them).
# Self-joins of the index did the same in SQL, but the day/month inversion and the name
# blocks were neither hashed by PostgreSQL nor indexed by SQLite at a million rows.
# Not paired (left to $ins-duplicates): people born the same day (or on its inversion)
# with no phonetic name key in common, whose names are both misspelled beyond the key or
# whose used name only sounds like the other's name.
Pair = tuple[dict[str, Any], dict[str, Any]]
_READ = 10_000  # rows a fetch brings (the name pass streams)


def _select_rows() -> Any:
    columns = [_T[c] for c in CANDIDATE_COLUMNS]
    return select(*columns, _T.given_key).where(
        _T.tenant == bindparam("k_tenant"), _T.active.is_(True)
    )


def _as_row(values: Any) -> dict[str, Any]:
    row = dict(zip(CANDIDATE_COLUMNS, values, strict=False))
    row["given_key"] = values[-1]
    return row


_YEAR = _select_rows().where(
    _T.birth_date >= bindparam("k_from"), _T.birth_date < bindparam("k_to")
)


def _years(s: StoreSession) -> Iterator[list[dict[str, Any]]]:
    """The tenant's dated rows, a year of birth at a time (an index range each)."""
    first, last = s.execute(
        select(func.min(_T.birth_date), func.max(_T.birth_date)).where(
            _T.tenant == s.tenant, _T.birth_date != ""
        )
    ).one()
    if not first:
        return
    for year in range(int(first[:4]), int(last[:4]) + 1):
        params = {"k_tenant": s.tenant, "k_from": f"{year:04d}", "k_to": f"{year + 1:04d}"}
        yield [_as_row(v) for v in s.conn.execute(_YEAR, params)]


def _day_links(day: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """The rows of one day by what links two of them: a phonetic key (birth or first
    name, so that one for the other links too), a name as written (birth or used)."""
    found: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in day:
        links = {("k", row["family_key"]), ("k", row["given_key"]), ("n", row["family"])}
        if row["used_family"]:
            links.add(("n", row["used_family"]))
        for link in links:
            if link[1]:
                found.setdefault(link, []).append(row)
    return found


def _year_pairs(year: list[dict[str, Any]]) -> Iterator[Pair]:
    days: dict[str, list[dict[str, Any]]] = {}
    for row in year:
        days.setdefault(row["birth_date"], []).append(row)
    linked = {day: _day_links(rows) for day, rows in days.items()}
    for day, links in linked.items():
        for rows in links.values():
            yield from ((a, b) for i, a in enumerate(rows) for b in rows[i + 1 :])
        swapped = swap_day_month(day)
        if swapped is not None and swapped > day and swapped in linked:
            other = linked[swapped]
            for link, rows in links.items():
                yield from ((a, b) for a in rows for b in other.get(link, ()))


def _dates_close(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Birth dates that may score: the same year, or the same day and month."""
    x, y = a["birth_date"], b["birth_date"]
    return bool(x) and (x[:4] == y[:4] or (len(x) == len(y) == 10 and x[5:] == y[5:]))


def _alike(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """The same sex and birthplace: what equal names need for 0.70 without the date."""
    return (a["sex"], a["birthplace"]) == (b["sex"], b["birthplace"])


def _close(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return _dates_close(a, b) or _alike(a, b)


def _name_group_pairs(group: list[dict[str, Any]]) -> Iterator[Pair]:
    """Rows whose two name keys are one pair: the same names, or inverted (which need
    a close date: inverted names give 0.8 of the name credits)."""
    for i, a in enumerate(group):
        for b in group[i + 1 :]:
            same = (a["family_key"], a["given_key"]) == (b["family_key"], b["given_key"])
            if _dates_close(a, b) or (same and _alike(a, b)):
                yield a, b


_LOW = case((_T.family_key < _T.given_key, _T.family_key), else_=_T.given_key)
_HIGH = case((_T.family_key < _T.given_key, _T.given_key), else_=_T.family_key)
_BY_NAMES = (
    _select_rows()
    .where(_T.family_key != "", _T.given_key != "")
    .order_by(_LOW, _HIGH)
    .execution_options(stream_results=True, yield_per=_READ)
)


def _name_pairs(s: StoreSession) -> Iterator[Pair]:
    group: list[dict[str, Any]] = []
    key: tuple[str, ...] = ()
    for values in s.conn.execute(_BY_NAMES, {"k_tenant": s.tenant}):
        row = _as_row(values)
        mine = tuple(sorted((row["family_key"], row["given_key"])))
        if mine != key:
            yield from _name_group_pairs(group)
            group, key = [], mine
        group.append(row)
    yield from _name_group_pairs(group)


def pairs(s: StoreSession) -> Iterator[Pair]:
    """Pairs of active rows (`CANDIDATE_COLUMNS` each) sharing a blocking key; a pair
    may come from several blocks (the caller keeps it once)."""
    s.flush()
    for year in _years(s):
        yield from _year_pairs(year)
    yield from _name_pairs(s)
    yield from _used_name_pairs(s)


def _used_name_pairs(s: StoreSession) -> Iterator[Pair]:
    """Rows with a used name, paired with the rows whose birth name has its phonetic key
    (and the same first-name key): the used-name block of `candidates`. The index keeps
    no key for used names, so they are computed here and looked up on the name index."""
    tenant = {"k_tenant": s.tenant}
    stmt = _select_rows().where(_T.used_family != "", _T.given_key != "")
    wanted: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for values in s.conn.execute(stmt, tenant):
        row = _as_row(values)
        key = N.phonetic(row["used_family"])
        if key and key != row["family_key"]:  # else the names block pairs them
            wanted.setdefault((key, row["given_key"]), []).append(row)
    keys = list(wanted)
    for i in range(0, len(keys), 500):
        found = _select_rows().where(tuple_(_T.family_key, _T.given_key).in_(keys[i : i + 500]))
        for values in s.conn.execute(found, tenant):
            row = _as_row(values)
            for used in wanted[(row["family_key"], row["given_key"])]:
                if used["patient_id"] != row["patient_id"] and _close(used, row):
                    yield used, row
