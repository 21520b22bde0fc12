"""_sort, keyset paging (stable while others write), _total and _summary=count."""

from __future__ import annotations

import pytest

from socle.fhir.errors import FhirError
from socle.fhir.search import CURSOR_PARAM
from tests.fhir.search.conftest import SearchDb


def patient(pid: str, family: str | None, birth: str | None = None) -> dict:
    res: dict = {"resourceType": "Patient", "id": pid}
    if family:
        res["name"] = [{"family": family}]
    if birth:
        res["birthDate"] = birth
    return res


@pytest.fixture
def people(db: SearchDb) -> SearchDb:
    db.put_all(
        patient("a", "Martin", "1990-01-01"),
        patient("b", "Bernard", "1985-05-05"),
        patient("c", "Martin", "1970-01-01"),
        patient("d", None, "2000-01-01"),
        patient("e", "Dubois"),
        {"resourceType": "Patient", "id": "f", "name": [{"family": "Zola"}, {"family": "Abel"}]},
    )
    return db


def test_default_order_is_insertion(people: SearchDb) -> None:
    assert people.ids("Patient", []) == ["a", "b", "c", "d", "e", "f"]


def test_sort_by_string_and_date(people: SearchDb) -> None:
    # multi-valued: ascending uses the lowest value (f has Abel), descending the highest (Zola)
    assert people.ids("Patient", [("_sort", "family")]) == ["f", "b", "e", "a", "c", "d"]
    assert people.ids("Patient", [("_sort", "-family")]) == ["f", "a", "c", "e", "b", "d"]
    assert people.ids("Patient", [("_sort", "family,-birthdate")]) == ["f", "b", "e", "a", "c", "d"]
    assert people.ids("Patient", [("_sort", "-family,birthdate")]) == ["f", "c", "a", "e", "b", "d"]
    assert people.ids("Patient", [("_sort", "birthdate")]) == ["c", "b", "a", "d", "e", "f"]
    assert people.ids("Patient", [("_sort", "-_id")]) == ["f", "e", "d", "c", "b", "a"]
    assert people.ids("Patient", [("_sort", "-_lastUpdated")]) == ["f", "e", "d", "c", "b", "a"]


def walk(db: SearchDb, params: list[tuple[str, str]], count: int) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        page = db.page("Patient", params, count=count, cursor=cursor)
        pages.append(db.names(page.pks))
        if page.next_cursor is None:
            return [[n.split("/")[1] for n in p] for p in pages]
        cursor = page.next_cursor


@pytest.mark.parametrize(
    "sort", ["", "family", "-family", "family,-birthdate", "-birthdate", "_lastUpdated"]
)
def test_pages_concatenate_to_the_full_result(people: SearchDb, sort: str) -> None:
    params = [("_sort", sort)] if sort else []
    full = people.ids("Patient", params)
    for count in (1, 2, 4):
        pages = walk(people, params, count)
        assert [x for p in pages for x in p] == full
        assert all(len(p) == count for p in pages[:-1])


def test_paging_is_stable_while_others_write(people: SearchDb) -> None:
    params = [("_sort", "family")]
    first = people.page("Patient", params, count=3)
    assert people.names(first.pks) == ["Patient/f", "Patient/b", "Patient/e"]
    # writes between pages: a new row before the cursor, one after, one deleted, one updated
    people.put(patient("g", "Aaron"))  # sorts before the cursor: not on later pages
    people.put(patient("h", "Moreau"))  # after the cursor: appears on its page
    people.delete("Patient", "a")
    people.put(patient("c", "Martin", "1971-01-01"))  # updated, same sort key
    second = people.page("Patient", params, count=3, cursor=first.next_cursor)
    assert people.names(second.pks) == ["Patient/c", "Patient/h", "Patient/d"]
    assert second.next_cursor is None


def test_previous_page(people: SearchDb) -> None:
    params = [("_sort", "-birthdate")]
    p1 = people.page("Patient", params, count=2)
    assert p1.previous_params is None
    p2 = people.page("Patient", params, count=2, cursor=p1.next_cursor)
    assert p2.previous_params is not None
    back = dict(p2.previous_params)[CURSOR_PARAM]
    again = people.page("Patient", params, count=2, cursor=back)
    assert again.pks == p1.pks
    assert again.previous_params is None and again.next_params is not None


def test_links_carry_the_applied_parameters(people: SearchDb) -> None:
    page = people.page("Patient", [("family", "martin"), ("_count", "1")])
    assert page.applied == [("family", "martin"), ("_count", "1")]
    assert page.first_params == page.applied
    assert page.next_params[:-1] == page.applied
    assert page.next_params[-1][0] == CURSOR_PARAM
    # the cursor may also arrive as a parameter
    nxt = people.page("Patient", page.next_params)
    assert people.names(nxt.pks) == ["Patient/c"]
    assert nxt.applied == page.applied


def test_tampered_or_foreign_cursor_is_a_400(people: SearchDb) -> None:
    page = people.page("Patient", [("_sort", "family")], count=1)
    with pytest.raises(FhirError) as err:
        people.page("Patient", [("_sort", "birthdate")], count=1, cursor=page.next_cursor)
    assert err.value.status == 400
    for bad in ["garbage", "eyJ2IjpbMV0sInAiOiJ4In0", page.next_cursor[:-3] + "AAA"]:
        with pytest.raises(FhirError) as err:
            people.page("Patient", [("_sort", "family")], count=1, cursor=bad)
        assert err.value.code == "invalid"


def test_total_modes(people: SearchDb) -> None:
    assert people.page("Patient", [("family", "martin")]).total == 2
    assert people.page("Patient", [("_total", "none")]).total is None
    assert people.page("Patient", [("_total", "accurate"), ("_count", "1")]).total == 6
    assert people.page("Patient", [("_total", "estimate")]).total == 6  # small: exact
    first = people.page("Patient", [("_count", "2")])
    people.put(patient("z", "Zed"))
    # the total is counted for the first page and carried along by the cursor
    assert people.page("Patient", [("_count", "2")], cursor=first.next_cursor).total == 6


def test_summary_count_and_count_zero(people: SearchDb) -> None:
    page = people.page("Patient", [("_summary", "count"), ("family", "martin")])
    assert page.pks == [] and page.total == 2 and page.next_cursor is None
    page = people.page("Patient", [("_count", "0"), ("_total", "none")])
    assert page.pks == [] and page.total == 6


def test_sort_by_every_kind(db: SearchDb) -> None:
    for oid, code, subject, value in [
        ("o1", "b", "Patient/2", 5.0),
        ("o2", "a", "Patient/3", 7.5),
        ("o3", "c", "Patient/1", 1.0),
    ]:
        db.put(
            {
                "resourceType": "Observation",
                "id": oid,
                "status": "final",
                "code": {"coding": [{"system": "s", "code": code}]},
                "subject": {"reference": subject},
                "valueQuantity": {"value": value},
            }
        )
    assert db.ids("Observation", [("_sort", "code")]) == ["o2", "o1", "o3"]
    assert db.ids("Observation", [("_sort", "subject")]) == ["o3", "o1", "o2"]
    assert db.ids("Observation", [("_sort", "-value-quantity")]) == ["o2", "o1", "o3"]
    for params in ([("_sort", "-code")], [("_sort", "value-quantity,-subject")]):
        full = db.ids("Observation", params)
        pages = walk_type(db, "Observation", params, 1)
        assert pages == full
    for vid, url in [("v1", "http://b"), ("v2", "http://a"), ("v3", "http://c")]:
        db.put({"resourceType": "ValueSet", "id": vid, "status": "active", "url": url})
    assert db.ids("ValueSet", [("_sort", "url")]) == ["v2", "v1", "v3"]
    assert walk_type(db, "ValueSet", [("_sort", "-url")], 2) == ["v3", "v1", "v2"]


def walk_type(db: SearchDb, rtype: str, params: list[tuple[str, str]], count: int) -> list[str]:
    out, cursor = [], None
    while True:
        page = db.page(rtype, params, count=count, cursor=cursor)
        out += [n.split("/")[1] for n in db.names(page.pks)]
        if page.next_cursor is None:
            return out
        cursor = page.next_cursor


@pytest.mark.parametrize("sort", ["", "family", "-birthdate", "birthdate,-family"])
def test_walking_back_gives_the_same_pages(people: SearchDb, sort: str) -> None:
    params = [("_count", "2"), *([("_sort", sort)] if sort else [])]
    forward, cursor = [], None
    while True:
        page = people.page("Patient", params, cursor=cursor)
        forward.append(page.pks)
        if page.next_params is None:
            break
        cursor = dict(page.next_params)[CURSOR_PARAM]
    backward = [page.pks]
    while page.previous_params is not None:
        page = people.page("Patient", page.previous_params)
        backward.append(page.pks)
    assert backward[::-1] == forward
