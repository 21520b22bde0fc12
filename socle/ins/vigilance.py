"""Identity vigilance: potential duplicates with a score, collisions, merge/unmerge, worklist.

**Score** (0-1) of a candidate against an identity, on the comparison forms:

=============  ======  ==========================================================
trait          weight  credit
=============  ======  ==========================================================
birth name     0.30    1 equal (or equal to the used name); 0.85 same phonetic key;
                       else Jaro-Winkler (counted from 0.80 upwards)
first names    0.20    1 equal first name or list; 0.85 same phonetic key; 0.8 one
                       list contains the other's first name; else Jaro-Winkler
birth date     0.30    1 equal; 0.8 day and month inverted; 0.6 one digit differs;
                       0.3 same year and month
sex            0.10    1 equal, 0 different
birthplace     0.10    1 equal; 0.5 when either is unknown; 0 different
=============  ======  ==========================================================

Names inverted (birth name given as first name and the reverse) get 0.8 of the name
credits. The same INS on both sides makes the match *certain* (score 1). Grades:
certain >= 0.97, probable >= 0.85, possible >= 0.70, below that certainly-not.

**Collision**: one INS on two active local identities. **Merge** of a duplicate
(source) into the surviving identity (target): the source becomes inactive with
``link replaced-by`` the target, the target gets ``link replaces``, every resource of the
source's compartment referring to it is re-pointed to the target, and a Provenance +
AuditEvent record the merge with the list of re-pointed resources (what unmerge undoes).
A merge that would make a cycle (target already merged, directly or not, into the source),
a self-merge or a merge of an already merged source is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import func, select

from socle.fhir.errors import FhirError
from socle.ins import index as X
from socle.ins import model as M
from socle.ins import normalize as N
from socle.ins.contexts import server_context
from socle.ins.status import now_instant
from socle.ins.tables import ins_identity

if TYPE_CHECKING:
    from socle.fhir.context import RequestContext
    from socle.fhir.engine import FhirEngine
    from socle.fhir.storage.store import StoreSession

CERTAIN, PROBABLE, POSSIBLE, NOT = "certain", "probable", "possible", "certainly-not"


@dataclass(slots=True)
class Match:
    patient_id: str
    score: float
    grade: str
    details: dict[str, float] = field(default_factory=dict)
    row: dict[str, Any] | None = None


def grade_of(score: float) -> str:
    if score >= 0.97:
        return CERTAIN
    if score >= 0.85:
        return PROBABLE
    if score >= 0.70:
        return POSSIBLE
    return NOT


# --------------------------------------------------------------------------- scoring
#
# `find_matches` scores every candidate of the blocking keys (some 40 a query over a
# million patients, most of them other people born the same day), so the costly parts of
# `score` are done once or skipped, with the same scores and details as the rules above
# (tests/ins/test_vigilance_scoring.py checks them against the rules written plainly):
# * the query side (its phonetic keys, its first first name) once per query (`_Query`);
# * a candidate's birth-name phonetic key is the one its index row stores; other keys
#   come from `normalize.phonetic`'s cache (the same first names come back);
# * a Jaro-Winkler similarity only when a cheap upper bound of it is above 0.80, where
#   its credit starts (`_jw_credit`): for most pairs of different names it is not;
# * given a floor (`min_score`), a candidate is dropped as soon as an upper bound of its
#   score is below it: the inverted names, the costliest comparison, are then mostly not
#   compared at all.
# Over 1,000,000 patients (bench/ins.py), scoring a query's candidates took 7 to 13 ms
# before, 0.4 to 0.7 ms after (same run, loaded 2-core machine, 2026-11-26).

_EPS = 1e-4  # scores are rounded to 4 decimals: a bound this close to the floor is kept
_KEY_CAP = 64  # index.row_of keeps 64 characters of a phonetic key, 200 of a name
_NAME_CAP = 200


def _jw_credit(a: str, b: str) -> float:
    """Credit of the Jaro-Winkler similarity of two names: 0 up to 0.80, then linear to 0.8.

    The similarity is computed only when an upper bound of it is above 0.80: every
    character of one found in the other matched (a match needs the same character), none
    transposed, with the actual common prefix."""
    la, lb = len(a), len(b)
    if not la or not lb:
        return 0.0
    shared = min(sum(map(b.__contains__, a)), sum(map(a.__contains__, b)))
    if not shared:
        return 0.0
    jaro = (shared / la + shared / lb + 1.0) / 3
    prefix = 0
    for x, y in zip(a[:4], b[:4], strict=False):
        if x != y:
            break
        prefix += 1
    if jaro + prefix * 0.1 * (1 - jaro) < 0.8 - 1e-9:
        return 0.0
    return max(0.0, (N.jaro_winkler(a, b) - 0.8) / 0.2) * 0.8


def _name_tier(a: str, b: str, extra: str = "", a_key: str = "", b_key: str = "") -> float | None:
    """The birth-name credit of `a` against `b` (or `extra`, the used name) when it does
    not come from Jaro-Winkler, else None; `a_key`/`b_key`: phonetic keys already known."""
    if not a or not b:
        return 0.0
    if a == b or (extra and a == extra):
        return 1.0
    a_key = a_key or N.phonetic(a)
    if a_key == (b_key or N.phonetic(b)) or (extra and a_key == N.phonetic(extra)):
        return 0.85
    return None


def _name_jw(a: str, b: str, extra: str = "") -> float:
    """The birth-name credit when `_name_tier` has none (below 0.8)."""
    return max(_jw_credit(a, b), _jw_credit(a, extra) if extra else 0.0)


def _name_credit(a: str, b: str, extra: str = "", a_key: str = "", b_key: str = "") -> float:
    tier = _name_tier(a, b, extra, a_key, b_key)
    return _name_jw(a, b, extra) if tier is None else tier


def _given_credit(a: str, b: str) -> float:
    if not a or not b:
        return 0.0
    if a == b:
        return 1.0
    a_words, b_words = a.split(" "), b.split(" ")
    fa, fb = a_words[0], b_words[0]
    if fa == fb:
        return 1.0
    if fa in b_words or fb in a_words:
        return 0.8
    if N.phonetic(fa) == N.phonetic(fb):
        return 0.85
    return _jw_credit(fa, fb)


def _date_credit(a: str, b: str) -> float:
    if not a or not b:
        return 0.0
    if a == b:
        return 1.0
    if X.swap_day_month(a) == b:
        return 0.8
    if len(a) == len(b) == 10:
        diffs = sum(1 for x, y in zip(a, b, strict=True) if x != y)
        if diffs == 1:
            return 0.6
        if a[:7] == b[:7]:
            return 0.3
    return 0.0


def _family_key(row: dict[str, Any]) -> str:
    """The phonetic key of a row's birth name: the stored one unless it may be cut short."""
    key = row.get("family_key")
    if key is None or len(key) >= _KEY_CAP or len(row["family"]) >= _NAME_CAP:
        return N.phonetic(row["family"])
    return key


class _Query:
    """The query side of `score`, prepared once for all the candidates of a query."""

    __slots__ = (
        "birth_date",
        "birthplace",
        "family",
        "family_key",
        "first",
        "first_key",
        "given",
        "ins",
        "sex",
        "used",
        "used_key",
    )

    def __init__(self, query: dict[str, Any]) -> None:
        self.ins = query.get("ins") or ""
        self.family = query["family"]
        self.family_key = N.phonetic(self.family) if self.family else ""
        self.used = query.get("used_family") or ""
        self.used_key = N.phonetic(self.used) if self.used else ""
        self.given = query["given"]
        self.first = self.given.split(" ")[0]
        self.first_key = N.phonetic(self.first) if self.first else ""
        self.birth_date = query["birth_date"]
        self.sex = query["sex"]
        self.birthplace = query["birthplace"]

    def score(
        self, row: dict[str, Any], floor: float | None = None
    ) -> tuple[float, dict[str, float]] | None:
        """`score(query, row)`; with a `floor`, None as soon as the score cannot reach it."""
        ins = self.ins
        if ins and ins == row.get("ins"):
            return 1.0, {"ins": 1.0}
        dat = _date_credit(self.birth_date, row["birth_date"])
        sex = 1.0 if self.sex and self.sex == row["sex"] else 0.0
        if self.birthplace and row["birthplace"]:
            place = 1.0 if self.birthplace == row["birthplace"] else 0.0
        else:
            place = 0.5
        capped = bool(ins and row.get("ins"))  # two different INS
        rest = 0.3 * dat + 0.1 * sex + 0.1 * place
        if floor is not None:
            floor -= _EPS
            if (capped and floor > 0.69) or rest + 0.5 < floor:  # names give 0.5 at most
                return None
        r_family, r_given = row["family"], row["given"]
        r_used = row.get("used_family") or ""
        r_key = _family_key(row) if r_family else ""
        fam = _name_tier(self.family, r_family, r_used, self.family_key, r_key)
        used = _name_tier(self.used, r_family, r_used, self.used_key, r_key) if self.used else 0.0
        giv = _given_credit(self.given, r_given)
        r_first = r_given.split(" ")[0]
        half = None  # inverted names: the query's birth name against the row's first name
        if floor is not None:
            top = max(0.8 if fam is None else fam, 0.8 if used is None else used)
            if rest + 0.3 * top + 0.2 * giv < floor:  # the names as they are fall short
                half = _name_credit(self.family, r_first, a_key=self.family_key)
                if rest + 0.2 * (half + 1.0) < floor:  # inverted too: 0.5 * 0.8 * (half + 1) / 2
                    return None
        if fam is None:
            fam = _name_jw(self.family, r_family, r_used)
        if self.used:
            fam = max(fam, _name_jw(self.used, r_family, r_used) if used is None else used)
        mean = (fam + giv) / 2
        if mean < 0.8:  # else the inverted names (0.8 at most) cannot do better
            if half is None:
                half = _name_credit(self.family, r_first, a_key=self.family_key)
                if (
                    floor is not None
                    and rest + 0.3 * fam + 0.2 * giv < floor
                    and rest + 0.2 * (half + 1.0) < floor
                ):
                    return None
            other = _name_credit(self.first, r_family, a_key=self.first_key, b_key=r_key)
            inverted = 0.8 * (half + other) / 2
            if inverted > mean:
                fam = giv = inverted
        details = {
            "family": fam,
            "given": giv,
            "birthDate": dat,
            "gender": sex,
            "birthPlace": place,
        }
        total = 0.3 * fam + 0.2 * giv + 0.3 * dat + 0.1 * sex + 0.1 * place
        if capped:
            total = min(total, 0.69)  # two different INS are two different people
        return round(min(total, 0.96), 4), details


def score(query: dict[str, Any], row: dict[str, Any]) -> tuple[float, dict[str, float]]:
    """Score an index row against a query row (both as produced by `index.row_of`)."""
    scored = _Query(query).score(row)
    assert scored is not None  # no floor: always a score
    return scored


def find_matches(
    s: StoreSession,
    ident: M.Identity,
    *,
    exclude: str | None = None,
    min_score: float = 0.70,
    limit: int = 20,
    include_inactive: bool = False,
) -> list[Match]:
    """Index rows scored against `ident`, best first (index assumed in sync)."""
    query = _Query(X.row_of(s.tenant, ident.patient_id or "", 0, ident))
    out = []
    for row in X.candidates(s, ident):
        if row["patient_id"] == exclude or (not include_inactive and not row["active"]):
            continue
        scored = query.score(row, min_score)
        if scored is not None and scored[0] >= min_score:
            value, details = scored
            out.append(Match(row["patient_id"], value, grade_of(value), details, row))
    out.sort(key=lambda m: (-m.score, m.patient_id))
    return out[:limit]


def collisions(s: StoreSession, limit: int = 100) -> list[tuple[str, list[str]]]:
    """INS values carried by more than one active local identity."""
    t = ins_identity.c
    stmt = (
        select(t.ins)
        .where(t.tenant == s.tenant, t.ins.is_not(None), t.active.is_(True))
        .group_by(t.ins)
        .having(func.count() > 1)
        .limit(limit)
    )
    out = []
    for (ins,) in s.execute(stmt).all():
        ids = s.execute(
            select(t.patient_id).where(t.tenant == s.tenant, t.ins == ins, t.active.is_(True))
        ).scalars()
        out.append((ins, sorted(ids)))
    return out


def worklist(s: StoreSession, limit: int = 100) -> list[dict[str, Any]]:
    """What the identity vigilance cell has to look at, most serious first."""
    items: list[dict[str, Any]] = []
    for ins, ids in collisions(s, limit):
        items.append({"kind": "collision", "ins": ins, "patients": ids, "score": 1.0})
    t = ins_identity.c
    a, b = ins_identity.alias("a"), ins_identity.alias("b")
    pairs = (
        select(a.c.patient_id.label("p1"), b.c.patient_id.label("p2"))
        .select_from(a.join(b, (a.c.tenant == b.c.tenant) & (a.c.birth_date == b.c.birth_date)))
        .where(
            a.c.tenant == s.tenant,
            a.c.patient_id < b.c.patient_id,
            a.c.active.is_(True),
            b.c.active.is_(True),
            a.c.family_key == b.c.family_key,
        )
        .limit(limit * 5)
    )
    seen_pairs = [(r.p1, r.p2) for r in s.execute(pairs)]
    if seen_pairs:
        wanted = sorted({p for pair in seen_pairs for p in pair})
        rows = {
            r["patient_id"]: dict(r)
            for r in s.execute(
                select(ins_identity).where(t.tenant == s.tenant, t.patient_id.in_(wanted))
            ).mappings()
        }
        for p1, p2 in seen_pairs:
            if rows[p1].get("ins") and rows[p1]["ins"] == rows[p2].get("ins"):
                continue  # already listed as a collision
            value, _ = score(rows[p1], rows[p2])
            if value >= 0.70:
                items.append(
                    {
                        "kind": "duplicate",
                        "patients": [p1, p2],
                        "score": value,
                        "grade": grade_of(value),
                    }
                )
    doubtful = s.execute(
        select(t.patient_id, t.attributes)
        .where(t.tenant == s.tenant, t.active.is_(True), t.attributes != "")
        .limit(limit)
    ).all()
    for pid, attrs in doubtful:
        items.append({"kind": "attribute", "patients": [pid], "attributes": attrs, "score": 0.5})
    recup = s.execute(
        select(t.patient_id)
        .where(t.tenant == s.tenant, t.active.is_(True), t.status == M.RECUP)
        .limit(limit)
    ).scalars()
    for pid in recup:
        items.append({"kind": "to-validate", "patients": [pid], "score": 0.3})
    items.sort(key=lambda i: -i["score"])
    return items[:limit]


# --------------------------------------------------------------------------- merge


def _read(engine: FhirEngine, s: StoreSession, pid: str) -> dict[str, Any]:
    return engine.crud.read(s, "Patient", pid).resource or {}


def _replaced_by(patient: dict[str, Any]) -> str | None:
    for link in patient.get("link") or []:
        if link.get("type") == "replaced-by":
            ref = (link.get("other") or {}).get("reference") or ""
            return ref.split("/")[-1] if ref else None
    return None


def survivor(engine: FhirEngine, s: StoreSession, pid: str, max_hops: int = 20) -> str:
    """Follow replaced-by links to the surviving identity."""
    seen = {pid}
    current = pid
    for _ in range(max_hops):
        nxt = _replaced_by(_read(engine, s, current))
        if nxt is None:
            return current
        if nxt in seen:
            raise FhirError(409, "conflict", f"Patient links form a cycle through {nxt}")
        seen.add(nxt)
        current = nxt
    return current


def _rewrite(value: Any, old: str, new: str) -> tuple[Any, bool]:
    if isinstance(value, dict):
        changed = False
        out = {}
        for k, v in value.items():
            if k == "reference" and v == old:
                out[k], changed = new, True
            else:
                out[k], c = _rewrite(v, old, new)
                changed = changed or c
        return out, changed
    if isinstance(value, list):
        items, changed = [], False
        for v in value:
            nv, c = _rewrite(v, old, new)
            items.append(nv)
            changed = changed or c
        return items, changed
    return value, False


REFERRING_PAGE = 1000  # the search's largest page
# Records of what happened to the source (its RNIV transitions, earlier merges, accesses):
# they are in its compartment but are history, not data to move; re-pointing them would
# rewrite the audit trail to say the survivor went through the source's transitions.
NOT_REPOINTED = frozenset({"Patient", "AuditEvent", "Provenance"})


def _referring(
    engine: FhirEngine, s: StoreSession, pid: str, page_size: int = REFERRING_PAGE
) -> list[tuple[str, str]]:
    """Every resource of the patient's compartment, page after page: a merge re-points
    them all, however many there are."""
    query = engine.search.parse(
        None, [("_count", str(page_size)), ("_total", "none")], compartment=("Patient", pid)
    )
    out: list[tuple[str, str]] = []
    cursor = None
    while True:
        page = engine.search.search(s, query, cursor=cursor)
        out += [(v.res_type, v.res_id) for v in s.fetch_current(page.pks)]
        if not page.next_cursor or not page.pks:
            return out
        cursor = page.next_cursor


def merge(
    engine: FhirEngine, s: StoreSession, ctx: RequestContext, source: str, target: str
) -> dict[str, Any]:
    """Merge `source` into `target`; returns a summary (see module doc for the rules)."""
    from socle.ins.status import Transition, records

    if source == target:
        raise FhirError(422, "business-rule", "A patient cannot be merged into itself")
    src, tgt = _read(engine, s, source), _read(engine, s, target)
    if _replaced_by(src):
        raise FhirError(
            409, "conflict", f"Patient/{source} is already merged into {_replaced_by(src)}"
        )
    end = survivor(engine, s, target)
    if end == source or _chain_contains(engine, s, target, source):
        raise FhirError(
            422,
            "business-rule",
            f"Merging Patient/{source} into Patient/{target} would make a "
            "cycle: the target is itself merged into the source",
        )
    if end != target:
        raise FhirError(
            409, "conflict", f"Patient/{target} is merged into Patient/{end}: merge into that one"
        )
    s_ins, t_ins = M.read_identity(src).ins, M.read_identity(tgt).ins
    if s_ins and t_ins and s_ins != t_ins:
        raise FhirError(
            422,
            "business-rule",
            f"Patient/{source} and Patient/{target} carry different INS: they are different "
            "people",  # the numbers are not quoted: an error goes to any caller
        )
    repointed = []
    old_ref, new_ref = f"Patient/{source}", f"Patient/{target}"
    for res_type, res_id in _referring(engine, s, source):
        if res_type in NOT_REPOINTED:
            continue
        current = engine.crud.read(s, res_type, res_id).resource or {}
        changed_res, changed = _rewrite(current, old_ref, new_ref)
        if changed:
            engine.crud.update(s, ctx, res_type, res_id, changed_res)
            repointed.append(f"{res_type}/{res_id}")
    src = dict(src)
    src["active"] = False
    src["link"] = [lk for lk in src.get("link") or [] if lk.get("type") != "replaced-by"] + [
        {"other": {"reference": new_ref}, "type": "replaced-by"}
    ]
    tgt = dict(tgt)
    tgt["link"] = [*(tgt.get("link") or []), {"other": {"reference": old_ref}, "type": "replaces"}]
    r_src = engine.crud.update(s, ctx, "Patient", source, src)
    r_tgt = engine.crud.update(s, ctx, "Patient", target, tgt)
    transition = Transition("merge", "active", "merged", f"{old_ref} -> {new_ref}")
    prov, audit = records(f"{old_ref}/_history/{r_src.version}", transition)
    prov["target"].append({"reference": f"{new_ref}/_history/{r_tgt.version}"})
    prov["target"].extend({"reference": r} for r in repointed)
    prov["activity"]["coding"][0] = M.coding(M.CS_INS_EVENT, "merge", "Fusion d'identités")
    prov["entity"] = [{"role": "removal", "what": {"reference": old_ref}}]
    audit["subtype"] = [prov["activity"]["coding"][0]]
    audit["entity"].append({"what": {"reference": new_ref}})
    p = engine.crud.create(s, server_context(ctx), "Provenance", prov)
    engine.crud.create(s, server_context(ctx), "AuditEvent", audit)
    return {"source": source, "target": target, "repointed": repointed, "provenance": p.res_id}


def _chain_contains(engine: FhirEngine, s: StoreSession, start: str, wanted: str) -> bool:
    seen, current = set(), start
    while current and current not in seen:
        if current == wanted:
            return True
        seen.add(current)
        current = _replaced_by(_read(engine, s, current)) or ""
    return False


def unmerge(engine: FhirEngine, s: StoreSession, ctx: RequestContext, source: str) -> dict:
    """Undo the last merge of `source`: links removed, re-pointed resources pointed back."""
    from socle.ins.status import Transition, records

    src = _read(engine, s, source)
    target = _replaced_by(src)
    if target is None:
        raise FhirError(422, "business-rule", f"Patient/{source} is not merged")
    old_ref, new_ref = f"Patient/{source}", f"Patient/{target}"
    query = (
        engine.search.parse(
            "Provenance", [("entity", old_ref), ("_sort", "-_lastUpdated"), ("_count", "1")]
        )
        if "entity" in _provenance_params(engine)
        else None
    )
    repointed: list[str] = []
    if query is not None:
        page = engine.search.search(s, query)
        for stored in s.fetch_current(page.pks):
            prov = orjson.loads(stored.content)
            repointed = [
                t["reference"]
                for t in prov.get("target", [])
                if not t["reference"].startswith("Patient/")
            ]
    back = []
    for ref in repointed:
        res_type, res_id = ref.split("/")[:2]
        current = engine.crud.read(s, res_type, res_id).resource or {}
        changed_res, changed = _rewrite(current, new_ref, old_ref)
        if changed:
            engine.crud.update(s, ctx, res_type, res_id, changed_res)
            back.append(ref)
    src = dict(src)
    src["active"] = True
    src["link"] = [lk for lk in src.get("link") or [] if lk.get("type") != "replaced-by"]
    if not src["link"]:
        del src["link"]
    tgt = dict(_read(engine, s, target))
    tgt["link"] = [
        lk
        for lk in tgt.get("link") or []
        if not (
            lk.get("type") == "replaces" and (lk.get("other") or {}).get("reference") == old_ref
        )
    ]
    if not tgt["link"]:
        del tgt["link"]
    r_src = engine.crud.update(s, ctx, "Patient", source, src)
    r_tgt = engine.crud.update(s, ctx, "Patient", target, tgt)
    transition = Transition("unmerge", "merged", "active", f"{old_ref} out of {new_ref}")
    prov, audit = records(f"{old_ref}/_history/{r_src.version}", transition)
    prov["target"].append({"reference": f"{new_ref}/_history/{r_tgt.version}"})
    prov["target"].extend({"reference": r} for r in back)
    prov["activity"]["coding"][0] = M.coding(M.CS_INS_EVENT, "unmerge", "Défusion d'identités")
    audit["subtype"] = [prov["activity"]["coding"][0]]
    engine.crud.create(s, server_context(ctx), "Provenance", prov)
    engine.crud.create(s, server_context(ctx), "AuditEvent", audit)
    return {"source": source, "target": target, "restored": back, "recorded": now_instant()}


def _provenance_params(engine: FhirEngine) -> set[str]:
    try:
        engine.search.parse("Provenance", [("entity", "Patient/x")])
        return {"entity"}
    except FhirError:
        return set()
