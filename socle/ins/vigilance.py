"""Identity vigilance: potential duplicates with a score, collisions, merge/unmerge, worklist.

**Score** (0-1) of a candidate against an identity, on the comparison forms:

=============  ======  ==========================================================
trait          weight  credit
=============  ======  ==========================================================
birth name     0.30    1 equal (or equal to the used name); 0.85 same phonetic key;
                       else Jaro-Winkler (counted from 0.80 upwards)
first names    0.20    1 equal list or equal first first name (a compound first name,
                       JEAN-PIERRE, is one name); 0.9 the compound written apart (JEAN
                       PIERRE); 0.8 one list contains the other's first name; 0.85 same
                       phonetic key; else Jaro-Winkler (of each part of two compound
                       names, the lowest: JEAN-PIERRE/JEAN-PAUL are two names)
birth date     0.30    1 equal; 0.8 day and month inverted; 0.6 one digit differs;
                       0.5 a partial date (1962-05) of the other's month, 0.3 of its year;
                       0.3 same year and month
sex            0.10    1 equal, 0 different
birthplace     0.10    1 equal; 0.5 when either is unknown; 0 different
=============  ======  ==========================================================

Names inverted (birth name given as first name and the reverse) get 0.8 of the name
credits. The same INS on both sides makes the match *certain* (score 1) when that INS
names one active identity (or one survivor of merged ones) and no trait the query gives
contradicts it (birth name, first name, birth date, sex); an INS on several active
identities (a collision), or one whose traits the query contradicts, proves nothing:
they are scored on their traits, at least possible (0.84 at most when contradicted).
Caps: two different INS 0.69 (different people); a different sex, a strict
trait, 0.84 (possible at most); else 0.96. Grades: certain >= 0.97, probable >= 0.85,
possible >= 0.70, below that certainly-not; two confirmed homonyms (both HOMA) are
certainly-not, whatever their score.

**Collision**: one INS on two active local identities. **Merge** of a duplicate
(source) into the surviving identity (target): the source becomes inactive with
``link replaced-by`` the target, the target gets ``link replaces``, every reference to
the source in the resources of its compartment is re-pointed to the target, and a
Provenance + AuditEvent record the merge with, for each re-pointed resource, the
references rewritten (what unmerge undoes, and only that).
A merge that would make a cycle (target already merged, directly or not, into the source),
a self-merge, a merge of an already merged source or into an inactive target is refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import jsonpointer
import orjson
from sqlalchemy import func, or_, select

from socle.fhir.errors import FhirError
from socle.fhir.storage import schema as S
from socle.ins import index as X
from socle.ins import model as M
from socle.ins import normalize as N
from socle.ins.contexts import server_context
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
CAP = 0.96  # traits alone never make a match certain
CAP_INS = 0.69  # two different INS: two different people
CAP_SEX = 0.84  # a different sex (a strict trait): possible at most


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
    if not a or not (b or extra):  # a row without a birth name may have a used name
        return 0.0
    if a == b or (extra and a == extra):
        return 1.0
    a_key = a_key or N.phonetic(a)
    if (b and a_key == (b_key or N.phonetic(b))) or (extra and a_key == N.phonetic(extra)):
        return 0.85
    return None


def _name_jw(a: str, b: str, extra: str = "") -> float:
    """The birth-name credit when `_name_tier` has none (below 0.8)."""
    return max(_jw_credit(a, b), _jw_credit(a, extra) if extra else 0.0)


def _name_credit(a: str, b: str, extra: str = "", a_key: str = "", b_key: str = "") -> float:
    tier = _name_tier(a, b, extra, a_key, b_key)
    return _name_jw(a, b, extra) if tier is None else tier


def _as_name(first: str) -> str:
    """A first name (stored form) in the comparison form of a birth name: names inverted
    between the two are compared that way."""
    return first.replace("-", " ").replace("'", " ")


def _spelled_apart(compound: str, words: list[str]) -> bool:
    """JEAN-PIERRE typed JEAN PIERRE: the parts of a compound first name are the first
    names the other list starts with."""
    parts = compound.split("-")
    return len(parts) > 1 and words[: len(parts)] == parts


def _first_jw(a: str, b: str) -> float:
    """The Jaro-Winkler credit of two first names; two compound names of as many parts
    are as close as their least close parts (a shared JEAN- does not make JEAN-PIERRE
    and JEAN-PAUL one name, a typo in one part stays a typo)."""
    a_parts, b_parts = a.split("-"), b.split("-")
    if len(a_parts) > 1 and len(a_parts) == len(b_parts):
        return min(
            0.8 if x == y else _jw_credit(x, y) for x, y in zip(a_parts, b_parts, strict=True)
        )
    return _jw_credit(a, b)


def _given_credit(a: str, b: str) -> float:
    """First names (space-separated stored forms, `index.given_form`): the whole first
    first name is compared, a compound one included."""
    if not a or not b:
        return 0.0
    if a == b:
        return 1.0
    a_words, b_words = a.split(" "), b.split(" ")
    fa, fb = a_words[0], b_words[0]
    if fa == fb:
        return 1.0
    if _spelled_apart(fa, b_words) or _spelled_apart(fb, a_words):
        return 0.9
    if fa in b_words or fb in a_words:
        return 0.8
    if N.phonetic(fa) == N.phonetic(fb):
        return 0.85
    return _first_jw(fa, fb)


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
        return 0.3 if a[:7] == b[:7] else 0.0
    short, full = (a, b) if len(a) < len(b) else (b, a)
    if len(short) in (4, 7) and full.startswith(short):  # a partial date the other fits
        return 0.5 if len(short) == 7 else 0.3
    return 0.0


def _sex_differs(a: str, b: str) -> bool:
    """Both sexes known and different (a strict trait: not the same person's record)."""
    return bool(a and b) and a != b and "unknown" not in (a, b)


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
        "first_name",
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
        self.first_name = _as_name(self.first)
        self.first_key = N.phonetic(self.first) if self.first else ""
        self.birth_date = query["birth_date"]
        self.sex = query["sex"]
        self.birthplace = query["birthplace"]

    def score(
        self, row: dict[str, Any], floor: float | None = None, use_ins: bool = True
    ) -> tuple[float, dict[str, float]] | None:
        """`score(query, row)`; with a `floor`, None as soon as the score cannot reach it;
        without `use_ins`, an equal INS is not a proof (the traits are scored)."""
        ins, r_ins = self.ins, row.get("ins")
        if use_ins and ins and ins == r_ins:
            return 1.0, {"ins": 1.0}
        dat = _date_credit(self.birth_date, row["birth_date"])
        sex = 1.0 if self.sex and self.sex == row["sex"] else 0.0
        if self.birthplace and row["birthplace"]:
            place = 1.0 if self.birthplace == row["birthplace"] else 0.0
        else:
            place = 0.5
        if ins and r_ins and ins != r_ins:
            cap = CAP_INS
        else:
            cap = CAP_SEX if _sex_differs(self.sex, row["sex"]) else CAP
        rest = 0.3 * dat + 0.1 * sex + 0.1 * place
        if floor is not None:
            floor -= _EPS
            if cap < floor or rest + 0.5 < floor:  # names give 0.5 at most
                return None
        r_family, r_given = row["family"], row["given"]
        r_used = row.get("used_family") or ""
        r_key = _family_key(row) if r_family else ""
        fam = _name_tier(self.family, r_family, r_used, self.family_key, r_key)
        used = _name_tier(self.used, r_family, r_used, self.used_key, r_key) if self.used else 0.0
        giv = _given_credit(self.given, r_given)
        r_first = _as_name(r_given.split(" ")[0])
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
            other = _name_credit(self.first_name, r_family, a_key=self.first_key, b_key=r_key)
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
        return round(min(total, cap), 4), details


def score(query: dict[str, Any], row: dict[str, Any]) -> tuple[float, dict[str, float]]:
    """Score an index row against a query row (both as produced by `index.row_of`)."""
    scored = _Query(query).score(row)
    assert scored is not None  # no floor: always a score
    return scored


def _homonyms(a: str, b: str) -> bool:
    """Both identities carry HOMA (homonyme avéré): the cell decided they are two people."""
    return M.HOMA in a.split(",") and M.HOMA in b.split(",")


def find_matches(
    s: StoreSession,
    ident: M.Identity,
    *,
    exclude: str | None = None,
    min_score: float = 0.70,
    limit: int = 20,
    include_inactive: bool = False,
) -> list[Match]:
    """Index rows scored against `ident`, best first (index assumed in sync).

    The identities its INS names (`_ins_holders`) are certain only when there is one."""
    row = X.row_of(s.tenant, ident.patient_id or "", 0, ident)
    query = _Query(row)
    rows = X.candidates(s, ident)
    holders = _ins_holders(s, query.ins, rows) if query.ins else {}
    out = []
    for cand in rows:
        pid = cand["patient_id"]
        if pid == exclude or pid in holders or (not include_inactive and not cand["active"]):
            continue
        scored = query.score(cand, min_score)
        if scored is not None and scored[0] >= min_score:
            out.append(_graded(cand, *scored, row["attributes"]))
    out += _holder_matches(query, holders, exclude, min_score, row["attributes"])
    out.sort(key=lambda m: (-m.score, m.patient_id))
    return out[:limit]


def _graded(row: dict[str, Any], value: float, details: dict[str, float], attrs: str) -> Match:
    if _homonyms(attrs, row.get("attributes") or ""):
        return Match(row["patient_id"], value, NOT, {**details, "homonym": 1.0}, row)
    return Match(row["patient_id"], value, grade_of(value), details, row)


def _ins_holders(
    s: StoreSession, ins: str, rows: list[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """The active identities an INS names: the active rows carrying it and the survivors
    of merged ones (followed through replaced-by: a merge does not copy the INS onto the
    survivor, whose status may not allow it), unless a survivor carries another INS."""
    holders = {r["patient_id"]: r for r in rows if r["active"] and r.get("ins") == ins}
    merged = [r["patient_id"] for r in rows if not r["active"] and r.get("ins") == ins]
    ends = {end for pid in merged if (end := _survivor_id(s, pid)) not in (None, pid)}
    for pid, row in X.rows(s, sorted(ends - set(holders))).items():
        if row["active"] and row.get("ins") in (None, ins):
            holders[pid] = row
    if len(holders) > 1:  # the row of a deleted Patient does not make a collision
        alive = _existing(s, list(holders))
        holders = {pid: row for pid, row in holders.items() if pid in alive}
    return holders


def _holder_matches(
    query: _Query,
    holders: dict[str, dict[str, Any]],
    exclude: str | None,
    min_score: float,
    attrs: str,
) -> list[Match]:
    """One holder whose traits do not contradict the query's: certain. Several (a
    collision), or one whose traits disagree with those the query gives (another person
    under that INS, or a wrong INS): none is certain, each is scored on its traits and
    kept at least possible (the INS is still a lead)."""
    out = []
    for pid, row in holders.items():
        scored = query.score(row, use_ins=False)
        assert scored is not None  # no floor: always a score
        if pid == exclude:
            continue
        against = disagreeing(query, row, scored[1])
        if len(holders) == 1 and not against:
            out.append(Match(pid, 1.0, CERTAIN, {"ins": 1.0}, row))
            continue
        value = max(min(scored[0], CAP_SEX) if against else scored[0], 0.70)
        details = {**scored[1], "ins": 1.0, "insHolders": float(len(holders))}
        if value >= min_score:
            out.append(_graded(row, value, details, attrs))
    return out


def contradictions(a: M.Identity, b: M.Identity) -> list[str]:
    """The traits two identities both give that contradict each other (`disagreeing`),
    their INS aside: whether they can be one person."""
    query = _Query(X.row_of("", "", 0, a))
    row = X.row_of("", "", 0, b)
    scored = query.score(row, use_ins=False)
    assert scored is not None  # no floor: always a score
    return disagreeing(query, row, scored[1])


def disagreeing(query: _Query, row: dict[str, Any], details: dict[str, float]) -> list[str]:
    """The traits both sides give that contradict each other (`details`: the query's
    `score` of the row): a birth name neither equal nor a phonetic or spelling variant,
    a first name sharing nothing, a birth date neither equal nor day/month inverted (a
    partial date agrees with the dates it starts), two known sexes that differ. A trait
    either side lacks, or an unknown sex, contradicts nothing."""
    out = []
    if query.family and row["family"] and details.get("family", 0.0) < 0.8:
        out.append("family")
    if query.given and row["given"] and details.get("given", 0.0) < 0.5:
        out.append("given")
    mine, theirs = query.birth_date, row["birth_date"]
    if mine and theirs:
        if len(mine) < 10 or len(theirs) < 10:
            short, full = sorted((mine, theirs), key=len)
            if not full.startswith(short):
                out.append("birthDate")
        elif details.get("birthDate", 0.0) < 0.8:
            out.append("birthDate")
    if _sex_differs(query.sex, row["sex"]):
        out.append("gender")
    return out


def _patient(s: StoreSession, pid: str) -> dict[str, Any] | None:
    stored = s.read("Patient", pid)
    return orjson.loads(stored.content) if stored is not None and stored.content else None


def _survivor_id(s: StoreSession, pid: str, max_hops: int = 20) -> str | None:
    """Where replaced-by links lead from `pid` (None: a cycle or a deleted Patient)."""
    seen, current = {pid}, pid
    for _ in range(max_hops):
        patient = _patient(s, current)
        if patient is None:
            return None
        nxt = replaced_by(patient)
        if nxt is None:
            return current
        if nxt in seen:
            return None
        seen.add(nxt)
        current = nxt
    return None


def collisions(s: StoreSession, limit: int = 100) -> list[tuple[str, list[str]]]:
    """INS values carried by more than one active local identity (cleaned matricules)."""
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
    """What the identity vigilance cell has to look at, most serious first; Patients
    deleted since they were indexed are left out (a collision stays while two remain)."""
    items = [
        *(
            {"kind": "collision", "ins": ins, "patients": ids, "score": 1.0}
            for ins, ids in collisions(s, limit)
        ),
        *_duplicate_items(s),
        *_attribute_items(s, limit),
        *(
            {"kind": "to-validate", "patients": [pid], "score": 0.3}
            for pid in _active_ids(s, ins_identity.c.status == M.RECUP, limit)
        ),
    ]
    items.sort(key=lambda i: -i["score"])
    return _existing_items(s, items, limit)


def _duplicate_items(s: StoreSession) -> list[dict[str, Any]]:
    """Pairs of the index's blocks (`index.pairs`, the keys `find_matches` looks up)
    scoring 0.70 or more, each once; not the pairs of a collision (listed as one) nor
    two confirmed homonyms."""
    seen: set[tuple[str, str]] = set()
    out = []
    query = None  # a join gives the pairs of one row in a row: prepared once for them
    for a, b in X.pairs(s):
        pair = (a["patient_id"], b["patient_id"])
        pair = pair if pair[0] < pair[1] else (pair[1], pair[0])
        if pair in seen:
            continue
        seen.add(pair)
        if (a["ins"] and a["ins"] == b["ins"]) or _homonyms(a["attributes"], b["attributes"]):
            continue
        if query is None or query[0] != a["patient_id"]:
            query = (a["patient_id"], _Query(a))
        scored = query[1].score(b, 0.70)
        if scored is not None and scored[0] >= 0.70:
            value = scored[0]
            out.append(
                {
                    "kind": "duplicate",
                    "patients": list(pair),
                    "score": value,
                    "grade": grade_of(value),
                }
            )
    return out


def _attribute_items(s: StoreSession, limit: int) -> list[dict[str, Any]]:
    """Identities douteuses or fictives (HOMA alone is a decision taken, not a task)."""
    t = ins_identity.c
    rows = s.execute(
        select(t.patient_id, t.attributes)
        .where(
            t.tenant == s.tenant,
            t.active.is_(True),
            or_(t.attributes.contains(M.DOUT), t.attributes.contains(M.FICT)),
        )
        .limit(limit)
    ).all()
    return [
        {"kind": "attribute", "patients": [pid], "attributes": attrs, "score": 0.5}
        for pid, attrs in rows
    ]


def _active_ids(s: StoreSession, test: Any, limit: int) -> list[str]:
    t = ins_identity.c
    stmt = select(t.patient_id).where(t.tenant == s.tenant, t.active.is_(True), test).limit(limit)
    return list(s.execute(stmt).scalars())


def _existing_items(
    s: StoreSession, items: list[dict[str, Any]], limit: int
) -> list[dict[str, Any]]:
    """The first `limit` items whose Patients still exist: an index row outlives a
    deleted Patient (no hook on delete); a collision keeps its remaining patients."""
    out: list[dict[str, Any]] = []
    for start in range(0, len(items), max(limit, 100)):
        page = items[start : start + max(limit, 100)]
        alive = _existing(s, [p for item in page for p in item["patients"]])
        for item in page:
            kept = [p for p in item["patients"] if p in alive]
            if item["kind"] == "collision" and len(kept) >= 2:
                out.append({**item, "patients": kept})
            elif len(kept) == len(item["patients"]):
                out.append(item)
            if len(out) == limit:
                return out
    return out


def _existing(s: StoreSession, ids: list[str]) -> set[str]:
    """Those of `ids` that are current, not deleted, Patients (ids only, no content)."""
    r = S.resource.c
    found: set[str] = set()
    unique = list(dict.fromkeys(ids))
    for i in range(0, len(unique), 500):
        found.update(
            s.execute(
                select(r.res_id).where(
                    r.tenant == s.tenant,
                    r.res_type == "Patient",
                    r.res_id.in_(unique[i : i + 500]),
                    r.deleted.is_(False),
                )
            ).scalars()
        )
    return found


# --------------------------------------------------------------------------- merge

# On a merge Provenance's target (a re-pointed resource), one per reference rewritten:
# `path` (JSON pointer to the `reference` element), `before` and `after` (its values).
EXT_REPOINTED = f"{M.SOCLE}/StructureDefinition/ins-merge-repointed"


def _read(engine: FhirEngine, s: StoreSession, pid: str) -> dict[str, Any]:
    return engine.crud.read(s, "Patient", pid).resource or {}


def replaced_by(patient: dict[str, Any]) -> str | None:
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
        nxt = replaced_by(_read(engine, s, current))
        if nxt is None:
            return current
        if nxt in seen:
            raise FhirError(409, "conflict", f"Patient links form a cycle through {nxt}")
        seen.add(nxt)
        current = nxt
    return current


def _references(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(JSON pointer, value) of every `reference` string in a resource."""
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{path}/{key.replace('~', '~0').replace('/', '~1')}"
            if key == "reference" and isinstance(value, str):
                yield here, value
            else:
                yield from _references(value, here)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _references(value, f"{path}/{i}")


def _server_bases(engine: FhirEngine, ctx: RequestContext) -> list[str]:
    """The bases under which an absolute reference names this server's Patients: the
    configured public base (SOCLE_BASE_URL, under which references are indexed as local)
    and the request's own."""
    bases = (getattr(engine.settings, "base_url", None), ctx.base_url)
    return list(dict.fromkeys(b.rstrip("/") for b in bases if b))


def _repointed(ref: str, source: str, target: str, bases: list[str]) -> str | None:
    """The reference `ref` re-pointed to `target` if it names `source` (None otherwise):
    relative or absolute under this server (kept absolute), plain or versioned. A version
    of the source is not a version of the target: the new reference is a plain one."""
    prefix = next((b + "/" for b in bases if ref.startswith(b + "/")), "")
    local = ref[len(prefix) :]
    head = f"Patient/{source}"
    if local == head or local.startswith(head + "/_history/"):
        return f"{prefix}Patient/{target}"
    return None


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


Rewrites = list[tuple[str, str, str]]  # (JSON pointer, before, after)


def _repoint_all(
    engine: FhirEngine, s: StoreSession, ctx: RequestContext, source: str, target: str
) -> list[tuple[str, Rewrites]]:
    """Re-point every reference to `source` in its compartment; what was rewritten where."""
    bases = _server_bases(engine, ctx)
    done = []
    for res_type, res_id in _referring(engine, s, source):
        if res_type in NOT_REPOINTED:
            continue
        current = engine.crud.read(s, res_type, res_id).resource or {}
        rewrites = [
            (path, ref, new)
            for path, ref in _references(current)
            if (new := _repointed(ref, source, target, bases)) is not None
        ]
        if rewrites:  # `current` is this call's own copy (crud.read parses the content)
            for path, _, new in rewrites:
                jsonpointer.set_pointer(current, path, new)
            engine.crud.update(s, ctx, res_type, res_id, current)
            done.append((f"{res_type}/{res_id}", rewrites))
    return done


def _repointed_target(ref: str, rewrites: Rewrites) -> dict[str, Any]:
    """A merge Provenance target: the re-pointed resource and each reference rewritten."""
    parts = ("path", "before", "after")
    return {
        "extension": [
            {
                "url": EXT_REPOINTED,
                "extension": [
                    {"url": name, "valueString": value}
                    for name, value in zip(parts, rewrite, strict=True)
                ],
            }
            for rewrite in rewrites
        ],
        "reference": ref,
    }


def _recorded_rewrites(target: dict[str, Any]) -> Rewrites | None:
    """The rewrites a merge Provenance target records (None: recorded before they were)."""
    found = []
    for ext in target.get("extension") or []:
        if ext.get("url") == EXT_REPOINTED:
            parts = {e.get("url"): e.get("valueString") for e in ext.get("extension") or []}
            found.append((parts.get("path") or "", parts.get("before"), parts.get("after")))
    return found or None


def merge(
    engine: FhirEngine, s: StoreSession, ctx: RequestContext, source: str, target: str
) -> dict[str, Any]:
    """Merge `source` into `target`; returns a summary (see module doc for the rules)."""
    from socle.ins.status import Transition, records

    src, tgt = _mergeable(engine, s, source, target)
    done = _repoint_all(engine, s, ctx, source, target)
    old_ref, new_ref = f"Patient/{source}", f"Patient/{target}"
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
    prov["target"].extend(_repointed_target(ref, rewrites) for ref, rewrites in done)
    prov["activity"]["coding"][0] = M.coding(M.CS_INS_EVENT, "merge", "Fusion d'identités")
    prov["entity"] = [{"role": "removal", "what": {"reference": old_ref}}]
    audit["subtype"] = [prov["activity"]["coding"][0]]
    audit["entity"].append({"what": {"reference": new_ref}})
    p = engine.crud.create(s, server_context(ctx), "Provenance", prov)
    engine.crud.create(s, server_context(ctx), "AuditEvent", audit)
    repointed = [ref for ref, _ in done]
    return {"source": source, "target": target, "repointed": repointed, "provenance": p.res_id}


def _mergeable(
    engine: FhirEngine, s: StoreSession, source: str, target: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The source and target Patients, when `source` may be merged into `target`."""
    if source == target:
        raise FhirError(422, "business-rule", "A patient cannot be merged into itself")
    src, tgt = _read(engine, s, source), _read(engine, s, target)
    if replaced_by(src):
        raise FhirError(
            409, "conflict", f"Patient/{source} is already merged into {replaced_by(src)}"
        )
    end = survivor(engine, s, target)
    if end == source or chain_contains(engine, s, target, source):
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
    if tgt.get("active") is False:
        raise FhirError(
            422,
            "business-rule",
            f"Patient/{target} is inactive: the surviving identity of a merge must be active",
        )
    s_ins, t_ins = M.read_identity(src).ins, M.read_identity(tgt).ins
    if s_ins and t_ins and X.clean_ins(s_ins) != X.clean_ins(t_ins):
        raise FhirError(
            422,
            "business-rule",
            f"Patient/{source} and Patient/{target} carry different INS: they are different "
            "people",  # the numbers are not quoted: an error goes to any caller
        )
    return src, tgt


def chain_contains(engine: FhirEngine, s: StoreSession, start: str, wanted: str) -> bool:
    """Whether the replaced-by links followed from `start` reach `wanted`."""
    seen, current = set(), start
    while current and current not in seen:
        if current == wanted:
            return True
        seen.add(current)
        current = replaced_by(_read(engine, s, current)) or ""
    return False


def unmerge(engine: FhirEngine, s: StoreSession, ctx: RequestContext, source: str) -> dict:
    """Undo the last merge of `source`: links removed, the references that merge rewrote
    (and only those, where they still say what it wrote) pointed back, the source's
    `active` as it was before the merge."""
    from socle.ins.status import Transition, records

    src = _read(engine, s, source)
    target = replaced_by(src)
    if target is None:
        raise FhirError(422, "business-rule", f"Patient/{source} is not merged")
    tgt = dict(_read(engine, s, target))
    further = replaced_by(tgt)
    if further:  # the merge of the target moved the source's resources on: undo it first
        raise FhirError(
            409,
            "conflict",
            f"Patient/{target}, into which Patient/{source} was merged, is itself merged into "
            f"Patient/{further}: unmerge Patient/{target} first",
        )
    old_ref, new_ref = f"Patient/{source}", f"Patient/{target}"
    prov = _merge_record(engine, s, old_ref)
    back = _undo_rewrites(engine, s, ctx, prov, old_ref, new_ref) if prov else []
    src = dict(src)
    before = _before_merge(s, prov, source)
    if "active" in before:
        src["active"] = before["active"]
    else:
        src.pop("active", None)
    src["link"] = [lk for lk in src.get("link") or [] if lk.get("type") != "replaced-by"]
    if not src["link"]:
        del src["link"]
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
    return {"source": source, "target": target, "restored": back, "recorded": M.now_instant()}


def _merge_record(engine: FhirEngine, s: StoreSession, old_ref: str) -> dict[str, Any] | None:
    """The Provenance of the source's last merge (its entity is the source, role removal)."""
    if "entity" not in _provenance_params(engine):
        return None
    query = engine.search.parse(
        "Provenance", [("entity", old_ref), ("_sort", "-_lastUpdated"), ("_count", "1")]
    )
    page = engine.search.search(s, query)
    for stored in s.fetch_current(page.pks):
        if stored.content is not None:
            return orjson.loads(stored.content)
    return None


def _undo_rewrites(
    engine: FhirEngine,
    s: StoreSession,
    ctx: RequestContext,
    prov: dict[str, Any],
    old_ref: str,
    new_ref: str,
) -> list[str]:
    """Point back what the merge recorded; a reference changed since is left as it is.
    A merge recorded without its rewrites (older Socle) gets every `Patient/target`
    reference of its re-pointed resources pointed back, as unmerge then did."""
    back = []
    for target in prov.get("target") or []:
        ref = target.get("reference") or ""
        if ref.startswith("Patient/") or "/" not in ref:
            continue
        res_type, res_id = ref.split("/")[:2]
        current = engine.crud.read(s, res_type, res_id).resource or {}
        rewrites = _recorded_rewrites(target)
        if rewrites is None:  # every reference to the target, as unmerge then did
            rewrites = [
                (path, old_ref, new_ref) for path, r in _references(current) if r == new_ref
            ]
        changed = False
        for path, before, after in rewrites:
            if before and jsonpointer.resolve_pointer(current, path, None) == after:
                jsonpointer.set_pointer(current, path, before)
                changed = True
        if changed:
            engine.crud.update(s, ctx, res_type, res_id, current)
            back.append(ref)
    return back


def _before_merge(s: StoreSession, prov: dict[str, Any] | None, source: str) -> dict[str, Any]:
    """The source as it was before its merge: the version before the one the merge
    Provenance names (a source without `active` is given none back). Unknown: active."""
    targets = (prov or {}).get("target") or []
    ref = targets[0].get("reference", "") if targets else ""
    version = ref.rsplit("/_history/", 1)[-1] if f"Patient/{source}/_history/" in ref else ""
    if version.isdigit() and int(version) > 1:
        stored = s.vread("Patient", source, int(version) - 1)
        if stored is not None and stored.content:
            return orjson.loads(stored.content)
    return {"active": True}


def _provenance_params(engine: FhirEngine) -> set[str]:
    try:
        engine.search.parse("Provenance", [("entity", "Patient/x")])
        return {"entity"}
    except FhirError:
        return set()
