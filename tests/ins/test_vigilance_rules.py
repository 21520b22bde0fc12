"""Identity vigilance rules found wanting by the identitovigilance cell's review: the
phonetic key, compound first names, the sex as a strict trait, the INS as a cleaned
matricule, merge/unmerge of references, INS collisions and merged INS in $match, the
worklist's pairs, confirmed homonyms, partial dates and used names (docs/ins.md § 4)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from socle.demo.identifiers import nir_key
from socle.ins import index as X
from socle.ins import model as M
from socle.ins import normalize as N
from socle.ins import vigilance as V
from socle.ins.tables import ins_identity
from tests.ins.conftest import merge, nir, parameters, person

INS_SYSTEM = "urn:oid:1.2.250.1.213.1.4.10"


def _post(c: Any, resource: dict[str, Any]) -> str:
    r = c.post("/fhir/Patient", json=resource)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _row(**kw: Any) -> dict[str, Any]:
    """An index row of a `person` (invented people only)."""
    return X.row_of("t", kw.pop("pid", "x"), 1, M.read_identity(person(**kw)))


def _put_rows(engine: Any, tenant: str, people: list[M.Identity]) -> None:
    rows = [X.row_of(tenant, p.patient_id or "", 1, p) for p in people]
    with engine.store.session(tenant, write=True) as s:
        s.conn.execute(insert(ins_identity), rows)


def _observation(c: Any, **refs: Any) -> str:
    body = {"resourceType": "Observation", "status": "final", "code": {"text": "poids"}, **refs}
    r = c.post("/fhir/Observation", json=body)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _unmerge(c: Any, pid: str) -> Any:
    return c.post(f"/fhir/Patient/{pid}/$ins-unmerge", json={"resourceType": "Parameters"})


def _match(c: Any, resource: dict[str, Any], *extra: dict[str, Any]) -> list[dict[str, Any]]:
    r = c.post(
        "/fhir/Patient/$match", json=parameters({"name": "resource", "resource": resource}, *extra)
    )
    assert r.status_code == 200, r.text
    return r.json().get("entry") or []


def _grade(entry: dict[str, Any]) -> str:
    return entry["search"]["extension"][0]["valueCode"]


def _worklist(c: Any) -> list[dict[str, Any]]:
    out = []
    for item in c.get("/fhir/Patient/$ins-worklist", params={"count": 1000}).json()["parameter"]:
        parts = item["part"]
        entry: dict[str, Any] = {"patients": []}
        for p in parts:
            if p["name"] == "patient":
                entry["patients"].append(p["valueReference"]["reference"].split("/")[1])
            else:
                entry[p["name"]] = next(v for k, v in p.items() if k.startswith("value"))
        out.append(entry)
    return out


# --------------------------------------------------------------------------- 1. phonetic


@pytest.mark.parametrize(
    "names",
    [
        ("MARTIN", "MARTAIN", "MARTEIN"),
        ("GERMAIN", "GERMIN"),
        ("ROMAIN", "ROMIN"),
        ("LEFEBVRE", "LEFEVRE", "LEFEBRE", "LEFÈVRE", "LEFEBVRES"),
        ("FRANÇOIS", "FRANSOIS", "FRANCOIS", "FRANC\u0327OIS"),
        ("DUCHESNE", "DUCHENE"),
        ("BESNARD", "BENARD"),
        ("MULLER", "MUELLER", "MÜLLER"),
        ("DUPONT", "DUPOND", "DUPON"),
    ],
)
def test_phonetic_spellings_of_one_name_share_a_key(names: tuple[str, ...]) -> None:
    assert len({N.phonetic(n) for n in names}) == 1, {n: N.phonetic(n) for n in names}


def test_phonetic_nasal_in_and_what_stays_apart() -> None:
    assert N.phonetic("MARTAIN") == N.phonetic("MARTIN") == "MART1"  # IN/AIN/EIN -> 1
    assert N.phonetic("STEIN").endswith("1")
    assert N.phonetic("GERMAINE") != N.phonetic("GERMAIN")  # AIN before a vowel: not nasal
    assert N.phonetic("LEBRETON") != N.phonetic("LEVRETON")  # only a final -EBRE is -EVRE
    assert N.phonetic("FABRE") != N.phonetic("FAVRE")
    assert N.phonetic("MARTINE") != N.phonetic("MARTIN")
    assert N.phonetic(None) == N.phonetic("") == ""


def test_index_tells_rows_written_with_other_keys(ins_engine, tenant) -> None:  # noqa: ANN001
    """After a change of the phonetic rules, `outdated` counts the rows `socle ins
    reindex` would rewrite (none once rewritten)."""
    people = [
        M.Identity(patient_id="a", birth_family="MARTAIN", given=["JEAN-PIERRE"]),
        M.Identity(patient_id="b", birth_family="DURAND", given=["ANNE"], ins="2 85 03"),
    ]
    _put_rows(ins_engine, tenant, people)
    with ins_engine.store.session(tenant) as s:
        assert X.outdated(s) == 0
    with ins_engine.store.session(tenant, write=True) as s:
        t = ins_identity.c
        s.execute(  # as the previous rules wrote them
            ins_identity.update()
            .where(t.tenant == tenant, t.patient_id == "a")
            .values(family_key="MARTA")
        )
        s.execute(
            ins_identity.update()
            .where(t.tenant == tenant, t.patient_id == "b")
            .values(ins="2 85 03", given="ANNE")
        )
    with ins_engine.store.session(tenant) as s:
        assert X.outdated(s) == 2
        assert X.outdated(s, sample=None) == 2


# --------------------------------------------------------------------------- 2, 3. traits


def test_twins_with_compound_first_names_are_possible_not_probable() -> None:
    twin = dict(family="Dupont", sex="male", birth="2001-06-02")
    pierre = _row(given="Jean-Pierre", **twin)
    paul = _row(given="Jean-Paul", **twin)
    assert pierre["given"] == "JEAN-PIERRE"  # one name, hyphen kept
    value, details = V.score(pierre, paul)
    assert details["given"] == 0.0  # JEAN-PIERRE and JEAN-PAUL are two names
    assert V.grade_of(value) == V.POSSIBLE, value
    # the same person: a compound name typed apart, or with a typo in one part
    assert V.score(pierre, _row(given="Jean Pierre", **twin))[1]["given"] == 0.9
    typo = V.score(pierre, _row(given="Jean-Piere", **twin))
    assert typo[1]["given"] > 0.5 and V.grade_of(typo[0]) == V.PROBABLE
    sisters = V.score(_row(given="Marie-Claire"), _row(given="Marie-Anne"))
    assert V.grade_of(sisters[0]) == V.POSSIBLE


def test_a_different_sex_caps_at_possible() -> None:
    same = dict(family="Robin", birth="1990-01-15", place="35238")
    louis = _row(given="Louis", sex="male", **same)
    louise = _row(given="Louise", sex="female", **same)
    value, details = V.score(louis, louise)
    assert details["gender"] == 0.0 and value == V.CAP_SEX
    assert V.grade_of(value) == V.POSSIBLE
    # an unknown sex is not a different one
    unknown = _row(given="Louise", sex="unknown", **same)
    assert V.score(louis, unknown)[0] > V.CAP_SEX
    with_floor = V._Query(louis).score(louise, 0.85)
    assert with_floor is None  # dropped at once under a probable floor


# --------------------------------------------------------------------------- 4. INS


def test_index_compares_the_cleaned_matricule(ins_engine, tenant) -> None:  # noqa: ANN001
    body = "180022A004001"
    corsica = body + nir_key(body)
    spaced = nir(sex="male", year=1980, month=3, place="35238", order=266)
    typed = " ".join((spaced[0], spaced[1:3], spaced[3:5], spaced[5:7], spaced[7:10], spaced[10:]))
    people = [
        M.Identity(patient_id="p1", birth_family="A", given=["B"], ins=spaced),
        M.Identity(patient_id="p2", birth_family="C", given=["D"], ins=typed),
        M.Identity(patient_id="p3", birth_family="E", given=["F"], ins=corsica),
        M.Identity(patient_id="p4", birth_family="G", given=["H"], ins=corsica.lower()),
    ]
    assert X.row_of("t", "p2", 1, people[1])["ins"] == spaced
    _put_rows(ins_engine, tenant, people)
    with ins_engine.store.session(tenant) as s:
        assert sorted(V.collisions(s)) == sorted([(spaced, ["p1", "p2"]), (corsica, ["p3", "p4"])])
        query = M.Identity(ins=corsica.lower())
        assert {r["patient_id"] for r in X.candidates(s, query)} == {"p3", "p4"}


def test_a_spaced_ins_written_through_the_api_collides(ins_client) -> None:  # noqa: ANN001
    c = ins_client
    ins = nir(order=267)
    a = _post(c, person(family="Alpha", ins=ins))
    spaced = " ".join((ins[:5], ins[5:10], ins[10:]))
    b = _post(c, person(family="Omega", given="Zoe", birth="1990-01-01", ins=spaced))
    collisions = [i for i in _worklist(c) if i["kind"] == "collision"]
    assert [sorted(i["patients"]) for i in collisions] == [sorted([a, b])]


# --------------------------------------------------------------------------- 5-8. merge


@pytest.fixture
def based_client(db_url: str, tenant: str, tmp_path: Path):  # noqa: ANN201
    """A server whose public base is configured (SOCLE_BASE_URL): absolute references
    under it are its own."""
    from starlette.testclient import TestClient

    from socle.config import Settings
    from socle.fhir.engine import FhirEngine
    from socle.server import create_server

    settings = Settings(data_dir=tmp_path, database_url=db_url, base_url="http://testserver/fhir")
    engine = FhirEngine(settings)
    engine.load_plugins(["ins"])
    try:
        with TestClient(create_server(settings, engine, tenant=tenant)) as c:
            yield c
    finally:
        engine.close()


def test_merge_repoints_absolute_and_versioned_references(based_client) -> None:  # noqa: ANN001
    c = based_client
    keep = _post(c, person(family="Absolu"))
    dup = _post(c, person(family="Absolu", given="Marie"))
    absolute, versioned = f"http://testserver/fhir/Patient/{dup}", f"Patient/{dup}/_history/1"
    obs = _observation(
        c,
        subject={"reference": absolute},
        focus=[{"reference": versioned}],
        performer=[{"reference": f"http://elsewhere.example/fhir/Patient/{dup}"}],
    )
    assert merge(c, dup, keep).status_code == 200
    moved = c.get(f"/fhir/Observation/{obs}").json()
    assert moved["subject"]["reference"] == f"http://testserver/fhir/Patient/{keep}"
    assert moved["focus"][0]["reference"] == f"Patient/{keep}"  # a version of S is not one of T
    assert moved["performer"][0]["reference"].startswith("http://elsewhere")  # another server
    assert _unmerge(c, dup).status_code == 200
    back = c.get(f"/fhir/Observation/{obs}").json()
    assert back["subject"]["reference"] == absolute and back["focus"][0]["reference"] == versioned


def test_unmerge_undoes_only_what_the_merge_rewrote(ins_client) -> None:  # noqa: ANN001
    c = ins_client
    keep = _post(c, person(family="Defait", active=True))
    dup = _post(c, person(family="Defait", given="Marie", active=True))
    obs = _observation(
        c, subject={"reference": f"Patient/{dup}"}, focus=[{"reference": f"Patient/{keep}"}]
    )
    r = merge(c, dup, keep)
    assert r.status_code == 200, r.text
    prov = c.get("/fhir/Provenance", params={"entity": f"Patient/{dup}"}).json()["entry"][0]
    recorded = next(t for t in prov["resource"]["target"] if t["reference"] == f"Observation/{obs}")
    parts = {e["url"]: e["valueString"] for e in recorded["extension"][0]["extension"]}
    assert parts == {
        "path": "/subject/reference",
        "before": f"Patient/{dup}",
        "after": f"Patient/{keep}",
    }
    assert _unmerge(c, dup).status_code == 200
    back = c.get(f"/fhir/Observation/{obs}").json()
    assert back["subject"]["reference"] == f"Patient/{dup}"
    assert back["focus"][0]["reference"] == f"Patient/{keep}"  # it pointed there before
    assert c.get(f"/fhir/Patient/{dup}").json()["active"] is True  # as it was


def test_unmerge_through_a_chain_is_refused(ins_client) -> None:  # noqa: ANN001
    c = ins_client
    a = _post(c, person(family="Chaine", given="Anne"))
    b = _post(c, person(family="Chaine", given="Berthe"))
    cc = _post(c, person(family="Chaine", given="Claire"))
    obs = _observation(c, subject={"reference": f"Patient/{a}"})
    assert merge(c, a, b).status_code == 200
    assert merge(c, b, cc).status_code == 200
    r = _unmerge(c, a)
    assert r.status_code == 409 and f"unmerge Patient/{b} first" in r.text
    assert c.get(f"/fhir/Observation/{obs}").json()["subject"]["reference"] == f"Patient/{cc}"
    assert _unmerge(c, b).status_code == 200
    assert _unmerge(c, a).status_code == 200
    assert c.get(f"/fhir/Observation/{obs}").json()["subject"]["reference"] == f"Patient/{a}"


def test_merge_into_an_inactive_target_is_refused(ins_client) -> None:  # noqa: ANN001
    c = ins_client
    gone = _post(c, person(family="Inactif", active=False))
    dup = _post(c, person(family="Inactif", given="Marie"))
    r = merge(c, dup, gone)
    assert r.status_code == 422 and "must be active" in r.text
    assert c.get(f"/fhir/Patient/{dup}").json()["meta"]["versionId"] == "1"


# --------------------------------------------------------------------------- 9, 10. $match


def test_match_by_the_ins_of_a_merged_identity_finds_its_survivor(ins_client) -> None:  # noqa: ANN001
    c = ins_client
    ins = nir(order=268)
    source = _post(c, person(family="Survie", ins=ins, status=M.RECUP))
    target = _post(c, person(family="Survie", given="Marie"))
    assert merge(c, source, target).status_code == 200
    query = {"resourceType": "Patient", "identifier": [{"system": INS_SYSTEM, "value": ins}]}
    entries = _match(c, query, {"name": "onlyCertainMatches", "valueBoolean": True})
    assert [e["resource"]["id"] for e in entries] == [target]
    assert _grade(entries[0]) == "certain"
    survivor = c.get(f"/fhir/Patient/{target}").json()  # the INS was not copied onto it
    assert all(i.get("system") != INS_SYSTEM for i in survivor.get("identifier") or [])


def test_an_ins_on_several_identities_makes_none_certain(ins_client) -> None:  # noqa: ANN001
    c = ins_client
    ins = nir(order=269)
    a = _post(c, person(family="Double", ins=ins))
    b = _post(c, person(family="Autre", given="Paul", sex="male", birth="1960-01-01", ins=ins))
    query = {"resourceType": "Patient", "identifier": [{"system": INS_SYSTEM, "value": ins}]}
    assert _match(c, query, {"name": "onlyCertainMatches", "valueBoolean": True}) == []
    entries = _match(c, person(family="Double", ins=ins))
    grades = {e["resource"]["id"]: _grade(e) for e in entries}
    assert set(grades) == {a, b}  # both shown, neither certain
    assert grades[a] == "probable" and grades[b] == "possible"
    # alone again (the other deleted, its index row left behind): certain
    assert c.delete(f"/fhir/Patient/{b}").status_code in (200, 204)
    entries = _match(c, query, {"name": "onlyCertainMatches", "valueBoolean": True})
    assert [(e["resource"]["id"], _grade(e)) for e in entries] == [(a, "certain")]


# --------------------------------------------------------------------------- 11-13. worklist


def test_a_collision_outlives_the_deletion_of_one_of_three(ins_client) -> None:  # noqa: ANN001
    c = ins_client
    ins = nir(order=270)
    ids = [_post(c, person(family=f, ins=ins)) for f in ("Un", "Deux", "Trois")]
    assert c.delete(f"/fhir/Patient/{ids[0]}").status_code in (200, 204)
    collisions = [i for i in _worklist(c) if i["kind"] == "collision"]
    assert [sorted(i["patients"]) for i in collisions] == [sorted(ids[1:])]
    assert c.delete(f"/fhir/Patient/{ids[1]}").status_code in (200, 204)
    assert [i for i in _worklist(c) if i["kind"] == "collision"] == []


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"family": "Martin"}, {"family": "Martain"}),
        ({"family": "Bernard"}, {"family": "Bernrad"}),
        ({"family": "Germain"}, {"family": "Germin"}),
        (
            {"family": "Lefebvre", "birth": "1985-03-07"},
            {"family": "Lefebvre", "birth": "1985-07-03"},
        ),
        (
            {"family": "Lefebvre", "birth": "1985-03-07"},
            {"family": "Lefèbre", "birth": "1985-03-17"},
        ),
    ],
)
def test_worklist_lists_what_duplicates_rates_possible(ins_client, first, second) -> None:  # noqa: ANN001
    c = ins_client
    a = _post(c, person(**first))
    b = _post(c, person(given="Marie", **second))
    found = c.get(f"/fhir/Patient/{a}/$ins-duplicates").json()["entry"]
    assert [e["resource"]["id"] for e in found] == [b]
    pairs = [i for i in _worklist(c) if i["kind"] == "duplicate"]
    assert [sorted(i["patients"]) for i in pairs] == [sorted([a, b])]
    assert float(pairs[0]["score"]) == found[0]["search"]["score"] >= 0.70


def test_confirmed_homonyms_leave_the_duplicates(ins_client) -> None:  # noqa: ANN001
    c = ins_client
    a = _post(c, person(family="Homonyme", place="35238"))
    b = _post(c, person(family="Homonyme", place="29019"))
    assert [i["kind"] for i in _worklist(c)] == ["duplicate"]

    def homa(pid: str) -> None:
        body = parameters(
            {"name": "attribute", "valueCode": "HOMA"}, {"name": "value", "valueBoolean": True}
        )
        r = c.post(f"/fhir/Patient/{pid}/$ins-attribute", json=body)
        assert r.status_code == 200, r.text

    homa(a)
    assert [i["kind"] for i in _worklist(c)] == ["duplicate"]  # one side only: still one
    homa(b)
    assert _worklist(c) == []  # no pair, and HOMA alone is no task
    found = c.get(f"/fhir/Patient/{a}/$ins-duplicates").json()["entry"]
    assert [(e["resource"]["id"], _grade(e)) for e in found] == [(b, "certainly-not")]
    doubtful = parameters(
        {"name": "attribute", "valueCode": "DOUT"}, {"name": "value", "valueBoolean": True}
    )
    assert c.post(f"/fhir/Patient/{a}/$ins-attribute", json=doubtful).status_code == 200
    assert [(i["kind"], i["patients"]) for i in _worklist(c)] == [("attribute", [a])]


def _population(seed: int, n: int) -> list[M.Identity]:
    """Crowded on purpose: few dates, names and places, spelling variants, so that many
    pairs share a block and some only one."""
    rng = random.Random(seed)
    families = ["MARTIN", "MARTAIN", "BERNARD", "BERNRAD", "LEFEBVRE", "LEFEVRE", "DUPONT"]
    families += ["DURAND", "DURANT", "GERMAIN", "PETIT", "ROBIN", "MOREAU", "MOREAUX"]
    given = ["MARIE", "MARYE", "ANNE", "PAUL", "JEAN-PIERRE", "JEAN-PAUL", "LOUIS", "LOUISE"]
    dates = ["1985-03-07", "1985-07-03", "1985-03-17", "1985-03", "1990-11-02", "1990-02-11"]
    out = []
    for i in range(n):
        used = rng.choice(["", "", "", *families])
        out.append(
            M.Identity(
                patient_id=f"p{i:03d}",
                birth_family=rng.choice(families),
                given=rng.sample(given, rng.choice((1, 1, 2))),
                birth_date=rng.choice(dates),
                sex=rng.choice(("male", "female", "")),
                birthplace=rng.choice(("35238", "29019", "")),
                used_family=used,
            )
        )
    return out


def _block_keys(row: dict[str, Any]) -> set[str]:
    return {row["family_key"], row["given_key"]} - {""}


def test_worklist_pairs_are_the_pairs_find_matches_rates_possible(ins_engine, tenant) -> None:  # noqa: ANN001
    """Every pair `find_matches` rates 0.70 or more from either side is a worklist pair,
    with the same score, except the documented class: a pair sharing only its birth date
    (or its inversion), with no phonetic name key in common in any position and no used
    name written as the other's birth or used name. And the worklist has nothing else."""
    people = _population(5, 160)
    _put_rows(ins_engine, tenant, people)
    rows = {p.patient_id: X.row_of(tenant, p.patient_id or "", 1, p) for p in people}
    with ins_engine.store.session(tenant) as s:
        listed = {tuple(i["patients"]): i["score"] for i in V._duplicate_items(s)}
        expected: dict[tuple[str, ...], float] = {}
        for p in people:
            for m in V.find_matches(s, p, exclude=p.patient_id, limit=1000):
                expected[tuple(sorted((p.patient_id or "", m.patient_id)))] = m.score
    assert len(expected) > 300  # the population does pair up
    assert all(value >= 0.70 for value in listed.values())
    assert all(expected.get(pair, value) == value for pair, value in listed.items())
    missed = set(expected) - set(listed)
    for a, b in missed:  # only the documented class
        ra, rb = rows[a], rows[b]
        assert not (_block_keys(ra) & _block_keys(rb)), (ra, rb)
        assert ra["used_family"] != rb["family"] and rb["used_family"] != ra["family"]
        assert not ra["used_family"] or ra["used_family"] != rb["used_family"]
        assert X.swap_day_month(ra["birth_date"]) == rb["birth_date"] or (
            ra["birth_date"] == rb["birth_date"]
        )
    assert len(missed) < len(expected) // 5  # a crowded population: few elsewhere


def test_scores_are_symmetric() -> None:
    """The worklist scores a pair once, from either side: both sides agree."""
    people = _population(6, 120)
    rows = [X.row_of("t", p.patient_id or "", 1, p) for p in people]
    for a in rows:
        for b in rows:
            assert V.score(a, b)[0] == V.score(b, a)[0], (a, b)


# --------------------------------------------------------------------------- 14. nitpicks


def test_partial_birth_dates_get_partial_credit() -> None:
    full = _row(birth="1962-05-12")
    assert V.score(_row(birth="1962-05"), full)[1]["birthDate"] == 0.5
    assert V.score(_row(birth="1962"), full)[1]["birthDate"] == 0.3
    assert V.score(_row(birth="1962-06"), full)[1]["birthDate"] == 0.0
    assert V.score(_row(birth="1962"), _row(birth="1962-05"))[1]["birthDate"] == 0.3


def test_used_name_finds_candidates(ins_engine, tenant) -> None:  # noqa: ANN001
    """A record typed under the used name (birth name unknown to the desk) is found by
    the used name of the other, on another birth date."""
    married = M.Identity(patient_id="m", birth_family="LEROY", used_family="DURAND", given=["ANNE"])
    typed = M.Identity(patient_id="t", birth_family="DURAND", given=["ANNE"])
    married.birth_date, typed.birth_date = "1970-01-02", "1971-05-06"
    _put_rows(ins_engine, tenant, [typed])
    with ins_engine.store.session(tenant) as s:
        assert [r["patient_id"] for r in X.candidates(s, married)] == ["t"]


def test_an_ins_with_contradicting_traits_is_not_certain(ins_client) -> None:  # noqa: ANN001
    """The INS alone does not make a match certain when the traits the query gives
    contradict the identity's (another person under that INS, or a wrong INS): it stays a
    lead (possible); with agreeing or absent traits it is certain."""
    c = ins_client
    ins = nir(order=270)
    pid = _post(c, person(family="Certain", ins=ins, status=M.RECUP))
    other = person(family="Zzz", given="Qqq", birth="2001-01-01", sex="male", ins=ins)
    only = {"name": "onlyCertainMatches", "valueBoolean": True}
    assert _match(c, other, only) == []
    (entry,) = _match(c, other)
    assert entry["resource"]["id"] == pid and _grade(entry) == "possible"
    assert entry["search"]["score"] <= 0.84
    same = person(family="Certain", ins=ins)
    assert [_grade(e) for e in _match(c, same, only)] == ["certain"]
    unknown = person(family="Certain", ins=ins, sex="unknown", birth="1985")  # less, not other
    assert [_grade(e) for e in _match(c, unknown, only)] == ["certain"]
    bare = {"resourceType": "Patient", "identifier": [{"system": INS_SYSTEM, "value": ins}]}
    assert [_grade(e) for e in _match(c, bare, only)] == ["certain"]


def test_a_direct_write_cannot_close_a_cycle_of_merges(ins_client) -> None:  # noqa: ANN001
    """PUT c1 replaced-by c2, then c2 replaced-by c1: the second is refused (422), as
    $ins-merge refuses a cycle; nothing is written."""
    c = ins_client
    one, two = _post(c, person(family="Boucle")), _post(c, person(family="Boucle", given="Paul"))

    def link(pid: str, to: str):  # noqa: ANN202
        body = c.get(f"/fhir/Patient/{pid}").json()
        body["link"] = [{"other": {"reference": f"Patient/{to}"}, "type": "replaced-by"}]
        return c.put(f"/fhir/Patient/{pid}", json=body)

    assert link(one, two).status_code == 200
    version = c.get(f"/fhir/Patient/{two}").json()["meta"]["versionId"]
    r = link(two, one)
    assert r.status_code == 422 and "cycle" in r.text
    assert c.get(f"/fhir/Patient/{two}").json()["meta"]["versionId"] == version
    assert link(one, one).status_code == 422  # replaced by itself


def test_a_link_to_a_patient_not_stored_yet_is_accepted(ins_client) -> None:  # noqa: ANN001
    """The cycle check follows local links it can read: a survivor a transaction writes
    later, or one deleted, ends the chain (no 404/410 for the write)."""
    c = ins_client
    pid = _post(c, person(family="Lien"))
    body = c.get(f"/fhir/Patient/{pid}").json()
    body["link"] = [{"other": {"reference": "Patient/not-yet"}, "type": "replaced-by"}]
    assert c.put(f"/fhir/Patient/{pid}", json=body).status_code == 200
