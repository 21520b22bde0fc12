"""``_list``: the resources a List names in ``entry.item``, on both backends.

Hand-written from the R4 search page ("_list: … returns all Patient resources that are
referenced from the list 42 as identified by List.entry.item"), with the server's
choices of docs/search.md: the current version of the List, of this tenant, local
references only; functional lists (``$current-problems``…) are 400 not-supported.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from socle.fhir.errors import FhirError
from socle.fhir.search import SearchLimits
from tests.fhir.rest.helpers import FHIR, issue_codes
from tests.fhir.search.conftest import BASE, SearchDb

LOINC = "http://loinc.org"


def a_list(lid: str, *refs: str, **extra: Any) -> dict[str, Any]:
    entries = [{"item": {"reference": r}} for r in refs]
    return {"resourceType": "List", "id": lid, "status": "current", "mode": "working",
            "entry": entries, **extra}  # fmt: skip


def patient(pid: str, family: str, gender: str = "female") -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid, "name": [{"family": family}], "gender": gender}


def observation(oid: str, subject: str, code: str = "29463-7") -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": subject},
    }


@pytest.fixture
def lists(db: SearchDb) -> SearchDb:
    db.put_all(
        patient("p1", "Durand"),
        patient("p2", "Durand", "male"),
        patient("p3", "Lefèvre"),
        patient("p4", "Martin", "male"),
        observation("o1", "Patient/p1"),
        observation("o2", "Patient/p2", "8867-4"),
        observation("o3", "Patient/p3"),
        a_list("l1", "Patient/p1", "Patient/p2", "Observation/o1"),
        a_list("l2", "Patient/p2", f"{BASE}/Patient/p3"),  # absolute, under this server
        a_list("remote", "http://autre-serveur.fr/fhir/Patient/p4"),
        a_list("nested", "List/l1", "Patient/p4"),
        a_list("empty"),
        {"resourceType": "List", "id": "no-entries", "status": "current", "mode": "working"},
    )
    return db


def test_items_of_one_list(lists: SearchDb) -> None:
    assert lists.idset("Patient", [("_list", "l1")]) == {"p1", "p2"}
    assert lists.idset("Observation", [("_list", "l1")]) == {"o1"}
    assert lists.idset("Patient", [("_list", "l2")]) == {"p2", "p3"}  # absolute local URL


def test_or_and_and(lists: SearchDb) -> None:
    assert lists.idset("Patient", [("_list", "l1,l2")]) == {"p1", "p2", "p3"}
    assert lists.idset("Patient", [("_list", "l1"), ("_list", "l2")]) == {"p2"}
    assert lists.idset("Patient", [("_list", "l1"), ("_list", "nested")]) == set()


def test_unknown_empty_and_remote(lists: SearchDb) -> None:
    assert lists.ids("Patient", [("_list", "nope")]) == []
    assert lists.ids("Patient", [("_list", "empty")]) == []
    assert lists.ids("Patient", [("_list", "no-entries")]) == []
    # a reference to another server never names a local resource, whatever its tail
    assert lists.ids("Patient", [("_list", "remote")]) == []
    # the items of a List that is itself an item are not items of the outer List
    assert lists.idset("Patient", [("_list", "nested")]) == {"p4"}
    assert lists.idset("List", [("_list", "nested")]) == {"l1"}


def test_with_other_criteria_sort_and_total(lists: SearchDb) -> None:
    assert lists.idset("Patient", [("_list", "l1,l2"), ("gender", "female")]) == {"p1", "p3"}
    assert lists.idset("Patient", [("_list", "l1,l2"), ("_id", "p2,p4")]) == {"p2"}
    ordered = lists.ids("Patient", [("_list", "l1,l2"), ("_sort", "-family,-_id")])
    assert ordered == ["p3", "p2", "p1"]
    page = lists.page("Patient", [("_list", "l1,l2"), ("_total", "accurate")], count=2)
    assert page.total == 3 and len(page.pks) == 2 and page.next_cursor is not None


def test_current_version_of_the_list_only(lists: SearchDb) -> None:
    lists.put(a_list("l1", "Patient/p3"))  # p1 and p2 taken off the list
    assert lists.idset("Patient", [("_list", "l1")]) == {"p3"}
    lists.delete("List", "l1")
    assert lists.ids("Patient", [("_list", "l1")]) == []


def test_deleted_items_are_not_returned(lists: SearchDb) -> None:
    lists.delete("Patient", "p1")
    assert lists.idset("Patient", [("_list", "l1")]) == {"p2"}


def test_lists_of_another_tenant_are_not_read(lists: SearchDb) -> None:
    other = SearchDb(lists.store, lists.tenant + "x", SearchLimits())
    other.put_all(patient("p1", "Durand"), patient("p4", "Martin"), a_list("l1", "Patient/p4"))
    assert other.idset("Patient", [("_list", "l1")]) == {"p4"}
    assert lists.idset("Patient", [("_list", "l1")]) == {"p1", "p2"}


def test_system_and_compartment_search(lists: SearchDb) -> None:
    assert lists.idset(None, [("_list", "l1")]) == {"Patient/p1", "Patient/p2", "Observation/o1"}
    assert lists.idset(None, [("_type", "Observation,List"), ("_list", "l1,nested")]) == {
        "Observation/o1",
        "List/l1",
    }
    assert lists.idset("Observation", [("_list", "l1")], compartment=("Patient", "p1")) == {"o1"}
    assert lists.ids("Observation", [("_list", "l1")], compartment=("Patient", "p2")) == []
    # the compartment's own patient, when it is in the list
    assert lists.idset(None, [("_list", "l1")], compartment=("Patient", "p2")) == {"Patient/p2"}


def test_in_chains_and_reverse_chains(lists: SearchDb) -> None:
    # Observations whose subject is in l2; Patients with an Observation in l1
    assert lists.idset("Observation", [("subject._list", "l2")]) == {"o2", "o3"}
    assert lists.idset("Observation", [("subject:Patient._list", "l1")]) == {"o1", "o2"}
    assert lists.idset("Patient", [("_has:Observation:subject:_list", "l1")]) == {"p1"}


@pytest.mark.parametrize(
    ("name", "value", "code"),
    [
        ("_list", "$current-problems", "not-supported"),
        ("_list", "$current-medications", "not-supported"),
        ("_list", "$anything", "not-supported"),
        ("_list:missing", "true", "not-supported"),
        ("_list:not", "l1", "not-supported"),
        ("_list", "List/l1", "invalid"),
        ("_list", "a b", "invalid"),
        ("_list", "x" * 65, "invalid"),
    ],
)
def test_bad_values_are_400(engine: Any, name: str, value: str, code: str) -> None:
    with pytest.raises(FhirError) as err:
        engine.parse("Patient", [(name, value)])
    assert (err.value.status, err.value.code) == (400, code)
    assert err.value.issues[0].expression == [name]


def test_lenient_drops_a_functional_list(engine: Any) -> None:
    query = engine.parse("Patient", [("_list", "$current-problems"), ("_list", "l1")], lenient=True)
    assert query.applied == [("_list", "l1")]
    assert [(i.severity, i.code, i.expression) for i in query.issues] == [
        ("warning", "not-supported", ["_list"])
    ]


def test_injection_in_a_list_id_is_harmless(lists: SearchDb) -> None:
    with pytest.raises(FhirError):
        lists.ids("Patient", [("_list", "l1' OR '1'='1")])
    assert lists.idset("Patient", [("_list", "l1")]) == {"p1", "p2"}  # table intact


# --- over HTTP: the self link and the lenient outcome ------------------------------------


def _load(client: Any, *resources: dict[str, Any]) -> None:
    entries = [
        {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
        for r in resources
    ]
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    response = client.post("/fhir", json=bundle, headers={"Content-Type": FHIR})
    assert response.status_code == 200, response.text


def _self(body: dict[str, Any]) -> list[tuple[str, str]]:
    url = next(link["url"] for link in body["link"] if link["relation"] == "self")
    return parse_qsl(urlsplit(url).query)


def test_http_self_link_and_lenient(client: Any) -> None:
    _load(client, patient("a", "Durand"), patient("b", "Martin"), a_list("team", "Patient/b"))
    r = client.get("/fhir/Patient?_list=team")
    assert r.status_code == 200, r.text
    body = r.json()
    assert [e["resource"]["id"] for e in body["entry"]] == ["b"]
    assert ("_list", "team") in _self(body)
    r = client.get("/fhir/Patient?_list=$current-problems")
    assert r.status_code == 400 and issue_codes(r.json()) == ["not-supported"]
    r = client.get(
        "/fhir/Patient?_list=$current-problems&family=durand",
        headers={"Prefer": "handling=lenient"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    matches = [e for e in body["entry"] if e["search"]["mode"] == "match"]
    assert [e["resource"]["id"] for e in matches] == ["a"]
    outcome = [e for e in body["entry"] if e["search"]["mode"] == "outcome"]
    assert outcome and outcome[0]["resource"]["issue"][0]["expression"] == ["_list"]
    assert all(name != "_list" for name, _ in _self(body))
