"""_include and _revinclude, with :iterate, wildcards and the cap on included resources."""

from __future__ import annotations

import pytest

from socle.fhir.search import SearchLimits
from tests.fhir.search.conftest import SearchDb


@pytest.fixture
def chart(db: SearchDb) -> SearchDb:
    db.put_all(
        {"resourceType": "Organization", "id": "org"},
        {"resourceType": "Practitioner", "id": "dr"},
        {
            "resourceType": "Patient",
            "id": "p1",
            "managingOrganization": {"reference": "Organization/org"},
            "generalPractitioner": [{"reference": "Practitioner/dr"}],
        },
        {"resourceType": "Patient", "id": "p2"},
        {
            "resourceType": "Encounter",
            "id": "e1",
            "status": "finished",
            "class": {"code": "AMB"},
            "subject": {"reference": "Patient/p1"},
        },
        {
            "resourceType": "Observation",
            "id": "o1",
            "status": "final",
            "code": {"text": "x"},
            "subject": {"reference": "Patient/p1"},
            "encounter": {"reference": "Encounter/e1"},
            "performer": [{"reference": "Practitioner/dr"}],
        },
        {
            "resourceType": "Observation",
            "id": "o2",
            "status": "final",
            "code": {"text": "y"},
            "subject": {"reference": "Patient/p2"},
        },
        {
            "resourceType": "Observation",
            "id": "o3",
            "status": "final",
            "code": {"text": "z"},
            "subject": {"reference": "Patient/gone"},
        },
        {
            "resourceType": "Provenance",
            "id": "prov",
            "recorded": "2024-01-01T00:00:00Z",
            "target": [{"reference": "Observation/o1"}],
            "agent": [{"who": {"reference": "Practitioner/dr"}}],
        },
    )
    return db


def included(db: SearchDb, rtype: str, params: list[tuple[str, str]]) -> tuple[set, set]:
    page = db.page(rtype, params)
    return set(db.names(page.pks)), set(db.names(page.included_pks))


def test_include(chart: SearchDb) -> None:
    matches, inc = included(chart, "Observation", [("_include", "Observation:subject")])
    assert matches == {"Observation/o1", "Observation/o2", "Observation/o3"}
    assert inc == {"Patient/p1", "Patient/p2"}  # Patient/gone does not exist
    _, inc = included(
        chart, "Observation", [("_id", "o1"), ("_include", "Observation:subject:Patient")]
    )
    assert inc == {"Patient/p1"}
    _, inc = included(chart, "Observation", [("_id", "o1"), ("_include", "Observation:*")])
    assert inc == {"Patient/p1", "Encounter/e1", "Practitioner/dr"}
    _, inc = included(chart, "Observation", [("_id", "o1"), ("_include", "*")])
    assert inc == {"Patient/p1", "Encounter/e1", "Practitioner/dr"}
    # an include for another source type adds nothing
    _, inc = included(chart, "Observation", [("_include", "Patient:organization")])
    assert inc == set()


def test_revinclude(chart: SearchDb) -> None:
    params = [("_id", "p1"), ("_revinclude", "Observation:subject")]
    assert included(chart, "Patient", params) == ({"Patient/p1"}, {"Observation/o1"})
    params = [("_id", "p1"), ("_revinclude", "*")]
    assert included(chart, "Patient", params)[1] == {"Observation/o1", "Encounter/e1"}
    params = [("_id", "o1"), ("_revinclude", "Provenance:target")]
    assert included(chart, "Observation", params)[1] == {"Provenance/prov"}


def test_iterate(chart: SearchDb) -> None:
    params = [
        ("_id", "o1"),
        ("_include", "Observation:subject"),
        ("_include:iterate", "Patient:organization"),
    ]
    assert included(chart, "Observation", params)[1] == {"Patient/p1", "Organization/org"}
    # without :iterate the second include only applies to the matches (Observations)
    params = [
        ("_id", "o1"),
        ("_include", "Observation:subject"),
        ("_include", "Patient:organization"),
    ]
    assert included(chart, "Observation", params)[1] == {"Patient/p1"}
    params = [
        ("_id", "p1"),
        ("_revinclude", "Observation:subject"),
        ("_revinclude:iterate", "Provenance:target"),
    ]
    assert included(chart, "Patient", params)[1] == {"Observation/o1", "Provenance/prov"}


def test_included_resources_are_not_repeated_matches(chart: SearchDb) -> None:
    params = [("_include", "Patient:general-practitioner"), ("_revinclude", "Patient:link")]
    matches, inc = included(chart, "Patient", params)
    assert matches == {"Patient/p1", "Patient/p2"}
    assert inc == {"Practitioner/dr"}


def test_include_cap(chart: SearchDb) -> None:
    chart = SearchDb(chart.store, chart.tenant, SearchLimits(max_included=2))
    page = chart.page("Observation", [("_id", "o1"), ("_include", "Observation:*")])
    assert len(page.included_pks) == 2 and page.include_truncated
    page = chart.page("Observation", [("_id", "o1"), ("_include", "Observation:subject")])
    assert len(page.included_pks) == 1 and not page.include_truncated
