"""Matching at scale: the prepared, pruned scoring gives the scores of the plain rules,
and the candidate blocks find what each blocking key finds.

`reference_score` below is the rule table of socle/ins/vigilance.py written plainly (every
credit computed, phonetic keys and Jaro-Winkler recomputed each time): what matching gave
before it was made fast, and what it must still give."""

from __future__ import annotations

import random
from typing import Any

import pytest
from sqlalchemy import insert

from socle.demo import vocabulary as v
from socle.ins import index as X
from socle.ins import model as M
from socle.ins import normalize as N
from socle.ins import vigilance as V
from socle.ins.tables import ins_identity

# --------------------------------------------------------------------------- reference


def _ref_name(a: str, b: str, extra: str = "") -> float:
    if not a or not (b or extra):
        return 0.0
    if a == b or (extra and a == extra):
        return 1.0
    if (b and N.phonetic(a) == N.phonetic(b)) or (extra and N.phonetic(a) == N.phonetic(extra)):
        return 0.85
    jw = max(N.jaro_winkler(a, b), N.jaro_winkler(a, extra) if extra else 0.0)
    return max(0.0, (jw - 0.8) / 0.2) * 0.8


def _ref_jw(a: str, b: str) -> float:
    return max(0.0, (N.jaro_winkler(a, b) - 0.8) / 0.2) * 0.8 if a and b else 0.0


def _ref_given(a: str, b: str) -> float:
    """First names: the whole first first name (JEAN-PIERRE is one name)."""
    if not a or not b:
        return 0.0
    if a == b:
        return 1.0
    aw, bw = a.split(" "), b.split(" ")
    fa, fb = aw[0], bw[0]
    if fa == fb:
        return 1.0
    for x, words in ((fa, bw), (fb, aw)):  # a compound first name typed with a space
        if "-" in x and words[: len(x.split("-"))] == x.split("-"):
            return 0.9
    if fa in bw or fb in aw:
        return 0.8
    if N.phonetic(fa) == N.phonetic(fb):
        return 0.85
    pa, pb = fa.split("-"), fb.split("-")
    if len(pa) > 1 and len(pa) == len(pb):  # compound names: their least close parts
        return min(_ref_jw(x, y) for x, y in zip(pa, pb, strict=True))
    return _ref_jw(fa, fb)


def _ref_date(a: str, b: str) -> float:
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
    for short, full in ((a, b), (b, a)):  # a partial date and a date it fits
        if len(short) < len(full) and full.startswith(short):
            return {7: 0.5, 4: 0.3}.get(len(short), 0.0)
    return 0.0


def reference_score(query: dict[str, Any], row: dict[str, Any]) -> tuple[float, dict]:
    """The scoring rules of a pair written out plainly: an INS both sides carry is 1."""
    if query.get("ins") and query["ins"] == row.get("ins"):
        return 1.0, {"ins": 1.0}
    return _reference_traits(query, row)


def reference_match(query: dict[str, Any], row: dict[str, Any]) -> tuple[float, dict]:
    """What `find_matches` gives a row: an INS both sides carry (one holder) is certain
    unless a trait the query gives contradicts the row's, else the traits' score, at
    least possible (0.84 at most)."""
    if query.get("ins") and query["ins"] == row.get("ins"):
        total, details = _reference_traits(query, row)
        least = {"family": 0.8, "birthDate": 0.8, "gender": 1.0, "given": 0.5}
        keys = {"family": "family", "birthDate": "birth_date", "gender": "sex", "given": "given"}
        if not [k for k, v in least.items() if query[keys[k]] and details[k] < v]:
            return 1.0, {"ins": 1.0}
        return max(min(total, 0.84), 0.70), {**details, "ins": 1.0, "insHolders": 1.0}
    return _reference_traits(query, row)


def _reference_traits(query: dict[str, Any], row: dict[str, Any]) -> tuple[float, dict]:
    fam = _ref_name(query["family"], row["family"], row.get("used_family", ""))
    if query.get("used_family"):
        fam = max(fam, _ref_name(query["used_family"], row["family"], row["used_family"]))
    giv = _ref_given(query["given"], row["given"])

    def as_name(given: str) -> str:  # a first name compared with a birth name
        return given.split(" ")[0].replace("-", " ").replace("'", " ")

    inverted = (
        0.8
        * (
            _ref_name(query["family"], as_name(row["given"]))
            + _ref_name(as_name(query["given"]), row["family"])
        )
        / 2
    )
    if inverted > (fam + giv) / 2:
        fam = giv = inverted
    dat = _ref_date(query["birth_date"], row["birth_date"])
    sex = 1.0 if query["sex"] and query["sex"] == row["sex"] else 0.0
    if query["birthplace"] and row["birthplace"]:
        place = 1.0 if query["birthplace"] == row["birthplace"] else 0.0
    else:
        place = 0.5
    details = {"family": fam, "given": giv, "birthDate": dat, "gender": sex, "birthPlace": place}
    total = 0.3 * fam + 0.2 * giv + 0.3 * dat + 0.1 * sex + 0.1 * place
    if query.get("ins") and row.get("ins") and query["ins"] != row["ins"]:
        total = min(total, 0.69)
    sexes = {query["sex"], row["sex"]}
    if len(sexes) == 2 and "" not in sexes and "unknown" not in sexes:
        total = min(total, 0.84)  # a different sex: possible at most
    return round(min(total, 0.96), 4), details


# --------------------------------------------------------------------------- generated pairs

FAMILIES = [f.upper() for f in v.FAMILY_NAMES] + ["LEFEBVRE", "DUPONT", "ROUSSEAU", "H", "O"]
GIVEN = [g.upper() for g in (*v.GIVEN_MALE, *v.GIVEN_FEMALE)] + [
    "JEAN-PIERRE",
    "JEAN-PAUL",
    "MARIE-CLAIRE",
    "MARIE-ANNE",
    "MARIE CLAIRE",
    "JEAN PIERRE",
]
PLACES = [c.insee for c in v.COMMUNES[:4]]
VARIANTS = {"E": "É", "AU": "O", "PH": "F", "TH": "T", "LL": "L", "D": "T", "EAU": "O"}


def _vary(name: str, rng: random.Random) -> str:
    """A spelling variant, a typo, a longer or shorter form, or the name itself."""
    kind = rng.randrange(7)
    if kind == 0:
        for old, new in VARIANTS.items():
            if old in name:
                return name.replace(old, new, 1)
    if kind == 1 and len(name) > 3:
        i = rng.randrange(len(name) - 1)
        return name[:i] + name[i + 1] + name[i] + name[i + 2 :]  # transposition
    if kind == 2 and len(name) > 2:
        i = rng.randrange(len(name))
        return name[:i] + rng.choice("AEIOURSTLN") + name[i + 1 :]  # substitution
    if kind == 3:
        return name + rng.choice(("E", "S", "IN", "ET", "EAU"))
    if kind == 4 and len(name) > 3:
        return name[:-1]
    return name


def _identity(rng: random.Random) -> M.Identity:
    year, month, day = rng.randrange(1920, 2000), rng.randrange(1, 13), rng.randrange(1, 29)
    return M.Identity(
        birth_family=rng.choice(FAMILIES),
        given=rng.sample(GIVEN, rng.choice((1, 1, 2, 3))),
        birth_date=f"{year}-{month:02d}-{day:02d}",
        sex=rng.choice(("male", "female")),
        birthplace=rng.choice(PLACES),
        used_family=rng.choice(("",) * 4 + tuple(FAMILIES[:5])),
    )


def _related(ident: M.Identity, rng: random.Random) -> M.Identity:
    """Another record of the same person, as typed elsewhere (or another person)."""
    import copy

    other = copy.deepcopy(ident)
    if rng.random() < 0.15:
        return _identity(rng)
    if rng.random() < 0.5:
        other.birth_family = _vary(other.birth_family, rng)
    if rng.random() < 0.4:
        other.given = [_vary(other.given[0], rng), *other.given[1:]]
    if rng.random() < 0.2:
        other.given = list(reversed(other.given))
    if rng.random() < 0.1:  # birth name and first name swapped
        other.birth_family, other.given = other.given[0], [other.birth_family]
    date = other.birth_date
    roll = rng.random()
    if roll < 0.2 and X.swap_day_month(date):
        other.birth_date = X.swap_day_month(date)
    elif roll < 0.35:
        other.birth_date = date[:9] + str((int(date[9]) + 1) % 10)
    elif roll < 0.45:
        other.birth_date = date[:7] + "-28"
    elif roll < 0.5:
        other.birth_date = rng.choice(("", date[:7]))
    if rng.random() < 0.1:
        other.sex = rng.choice(("", "male", "female", "unknown", "other"))
    if rng.random() < 0.2:
        other.birthplace = rng.choice(("", *PLACES))
    if rng.random() < 0.2:
        other.used_family = rng.choice(("", ident.birth_family, *FAMILIES[:3]))
    if rng.random() < 0.1:
        other.given = [] if rng.random() < 0.5 else other.given
        other.birth_family = "" if rng.random() < 0.5 else other.birth_family
    return other


def _pairs(n: int, seed: int = 3) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        a = _identity(rng)
        if rng.random() < 0.1:  # first name like the birth name: inverted names score too
            a.given = [_vary(a.birth_family, rng), *a.given[1:]]
        b = _related(a, rng)
        roll = rng.random()
        if roll < 0.1:
            a.ins = b.ins = "2850399123456"
        elif roll < 0.2:
            a.ins, b.ins = "2850399123456", "1850399123456"
        elif roll < 0.25:
            a.ins = "2850399123456"
        out.append((X.row_of("t", "q", 1, a), X.row_of("t", f"p{i}", 1, b)))
    return out


def _written(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[dict[str, Any], dict[str, Any]]:
    def row(t: tuple[str, ...]) -> dict[str, Any]:
        family, given, birth, used, sex = (*t, "", "", "")[:5]
        ident = M.Identity(
            birth_family=family,
            given=given.split(" ") if given else [],
            birth_date=birth or "1985-03-07",
            sex=sex or "female",
            birthplace="35238",
            used_family=used,
        )
        return X.row_of("t", "p", 1, ident)

    return row(a), row(b)


EDGE_CASES = [
    # names swapped between two close (not phonetically equal) names: the inverted credit
    # beats names that already score fairly
    _written(("JACQUEMINOT", "JACQUEMINOTA"), ("JACQUEMINOTA", "JACQUEMINOT")),  # 0.73 each
    _written(("MARTINEZ", "MARTINE"), ("MARTINE", "MARTINEZ")),
    _written(("BERNARDIN", "BERNARD"), ("BERNARD", "BERNARDIN")),
    _written(("MARTIN", "MARIE"), ("MARIE", "MARTIN")),  # plainly swapped
    _written(("DUPONT", "ANNE", "", "DURAND"), ("DURAND", "ANNE", "", "DUPONT")),  # used names
    _written(("DUPONT", "ANNE", "", "DURANT"), ("DURAND", "ANNE")),
    _written(("DUPONT", "JEAN-PIERRE"), ("DUPOND", "JEAN PIERRE")),
    _written(("DUPONT", "MARIE CLAIRE ANNE"), ("DUPONT", "CLAIRE")),
    _written(("", "ANNE"), ("DUPONT", "")),
    _written(("H", "O"), ("HH", "OO")),  # names whose phonetic key is empty
    _written(("LEFEBVRE", "PHILIPPE", "1970-04-12"), ("LEFEVRE", "FILIPE", "1970-12-04")),
    _written(("ROUSSEAU", "THOMAS", "1970-04"), ("ROUSSO", "TOMAS", "1970-04-12")),
    _written(("ROUSSEAU", "THOMAS", "1970"), ("ROUSSEAU", "THOMAS", "1970-04-12")),
    _written(("DUPONT", "JEAN-PIERRE"), ("DUPONT", "JEAN-PAUL")),  # twins: two names
    _written(("DUPONT", "JEAN-PIERRE"), ("DUPONT", "JEAN-PIERE")),  # a typo in one part
    _written(("DUPONT", "JEAN-PIERRE MARC"), ("DUPONT", "JEAN PIERRE")),
    _written(("ROBIN", "LOUIS", "", "", "male"), ("ROBIN", "LOUISE", "", "", "female")),
    _written(("MARTAIN", "PAUL"), ("MARTIN", "PAUL")),
]
PAIRS = _pairs(4000) + EDGE_CASES


def test_score_is_the_reference_score() -> None:
    grades = set()
    for query, row in PAIRS:
        expected = reference_score(query, row)
        assert V.score(query, row) == expected, (query, row)
        grades.add(V.grade_of(expected[0]))
    assert grades == {V.CERTAIN, V.PROBABLE, V.POSSIBLE, V.NOT}  # the pairs cover them all


@pytest.mark.parametrize("floor", [0.0, 0.5, 0.69, 0.7, 0.85, 0.97])
def test_floor_drops_only_what_is_below_it(floor: float) -> None:
    dropped = 0
    for query, row in PAIRS:
        expected = reference_score(query, row)
        got = V._Query(query).score(row, floor)
        if got is None:
            assert expected[0] < floor, (query, row)
            dropped += 1
        else:
            assert got == expected, (query, row)
    if floor >= 0.7:
        assert dropped > len(PAIRS) // 4  # the floor does cut work


def test_jaro_winkler_credit_bound_never_hides_a_credit() -> None:
    rng = random.Random(5)
    names = FAMILIES + GIVEN + ["A", "AB", "BA", "AA", "ANNE", "ANNA", "NNAE"]
    pairs = [(rng.choice(names), rng.choice(names)) for _ in range(20_000)]
    pairs += [(n, _vary(n, rng)) for n in names for _ in range(20)]
    for a, b in pairs:
        exact = max(0.0, (N.jaro_winkler(a, b) - 0.8) / 0.2) * 0.8 if a and b else 0.0
        assert V._jw_credit(a, b) == exact, (a, b)


def test_stored_birth_name_key_is_the_phonetic_key_of_the_birth_name() -> None:
    """Scoring reads the index's `family_key` instead of recomputing it."""
    for _, row in PAIRS[:500]:
        assert row["family_key"] == N.phonetic(row["family"])
    long_name = "DE LA " + "TREMOILLE " * 30
    row = X.row_of("t", "p", 1, M.Identity(birth_family=long_name, given=["ANNE"]))
    assert V._family_key(row) == N.phonetic(row["family"])  # cut short in the row: recomputed


# --------------------------------------------------------------------------- blocks


def _put_rows(engine: Any, tenant: str, people: list[M.Identity]) -> None:
    rows = [X.row_of(tenant, p.patient_id, 1, p) for p in people]
    with engine.store.session(tenant, write=True) as s:
        s.conn.execute(insert(ins_identity), rows)


def test_candidates_and_matches(ins_engine, tenant) -> None:  # noqa: ANN001
    base = dict(birthplace="35238", sex="female")

    def person(pid: str | None, family: str, given: str, birth: str, **kw: Any) -> M.Identity:
        return M.Identity(
            patient_id=pid,
            birth_family=family,
            given=given.split(" "),
            birth_date=birth,
            **{**base, **kw},
        )

    people = [
        person("same", "LEFEBVRE", "PHILIPPINE", "1970-04-12"),
        person("swapped", "LEFEBVRE", "PHILIPPINE", "1970-12-04"),
        person("phonetic", "LEFEVRE", "FILIPPINE", "1999-09-09"),  # names block only
        person("inverted", "PHILIPPINE", "LEFEBVRE", "1999-09-09"),  # inverted names only
        person("ins", "ZED", "ZOE", "2001-01-01", ins="2700435238017"),  # INS only
        person("date", "DURAND", "PAULE", "1970-04-12"),  # same date, another person
        person("inactive", "LEFEBVRE", "PHILIPPINE", "1970-04-12", active=False),
        person("elsewhere", "MARTIN", "ANNE", "1980-01-02"),  # no key in common
    ]
    for i in range(30):  # the crowd born the same day
        people.append(person(f"crowd{i}", FAMILIES[i], GIVEN[i], "1970-04-12"))
    _put_rows(ins_engine, tenant, people)
    query = person(None, "LEFEBVRE", "PHILIPPINE", "1970-04-12", ins="2700435238017")
    with ins_engine.store.session(tenant) as s:
        rows = X.candidates(s, query)
        found = [r["patient_id"] for r in rows]
        assert len(found) == len(set(found))  # a row found by two blocks comes once
        assert set(found) == {p.patient_id for p in people} - {"elsewhere"}
        assert all(set(r) == set(X.CANDIDATE_COLUMNS) for r in rows)
        inactive = next(r for r in rows if r["patient_id"] == "inactive")
        assert inactive["active"] is False
        assert len(X.candidates(s, query, limit=5)) == 5
        # no birth date, no names: the INS alone; nothing at all: no candidates
        only_ins = M.Identity(ins="2700435238017")
        assert [r["patient_id"] for r in X.candidates(s, only_ins)] == ["ins"]
        assert X.candidates(s, M.Identity()) == []
        # an undated query still finds by its names
        undated = person(None, "LEFEBVRE", "PHILIPPINE", "")
        assert {"same", "swapped", "phonetic", "inactive"} <= {
            r["patient_id"] for r in X.candidates(s, undated)
        }

        q = X.row_of(tenant, "", 0, query)
        for floor, inactive_too in ((0.7, False), (0.5, True), (0.0, False)):
            matches = V.find_matches(
                s, query, min_score=floor, limit=100, include_inactive=inactive_too
            )
            expected = sorted(
                (
                    (-reference_match(q, r)[0], r["patient_id"], reference_match(q, r)[1])
                    for r in rows
                    if (inactive_too or r["active"]) and reference_match(q, r)[0] >= floor
                ),
                key=lambda t: (t[0], t[1]),
            )
            assert [(-m.score, m.patient_id, m.details) for m in matches] == expected
        best = V.find_matches(s, query, exclude="ins", limit=3)
        assert [m.patient_id for m in best][:2] == ["same", "swapped"]
