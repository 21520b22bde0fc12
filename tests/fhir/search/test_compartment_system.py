"""Compartment search (Patient/123/Observation) and system-level search (_type)."""

from __future__ import annotations

import pytest

from socle.fhir.errors import FhirError
from tests.fhir.search.conftest import SearchDb


@pytest.fixture
def record(db: SearchDb) -> SearchDb:
    db.put_all(
        {"resourceType": "Patient", "id": "123", "name": [{"family": "Durand"}]},
        {
            "resourceType": "Patient",
            "id": "456",
            "name": [{"family": "Durand"}],
            "link": [{"other": {"reference": "Patient/123"}, "type": "seealso"}],
        },
        {
            "resourceType": "Observation",
            "id": "o-subject",
            "status": "final",
            "code": {"text": "a"},
            "subject": {"reference": "Patient/123"},
        },
        {
            "resourceType": "Observation",
            "id": "o-performer",
            "status": "final",
            "code": {"text": "b"},
            "performer": [{"reference": "Patient/123"}],
        },
        {
            "resourceType": "Observation",
            "id": "o-other",
            "status": "final",
            "code": {"text": "a"},
            "subject": {"reference": "Patient/456"},
        },
        {
            "resourceType": "Observation",
            "id": "o-remote",
            "status": "final",
            "code": {"text": "a"},
            "subject": {"reference": "http://other.org/fhir/Patient/123"},
        },
        {
            "resourceType": "Encounter",
            "id": "e1",
            "status": "finished",
            "class": {"code": "AMB"},
            "subject": {"reference": "Patient/123"},
        },
        {"resourceType": "Organization", "id": "org", "name": "Durand SA"},
    )
    return db


def test_compartment_search(record: SearchDb) -> None:
    comp = ("Patient", "123")
    assert record.idset("Observation", [], compartment=comp) == {"o-subject", "o-performer"}
    assert record.idset("Observation", [("code", "a")], compartment=comp) == set()
    assert record.idset("Observation", [("code:text", "a")], compartment=comp) == {"o-subject"}
    assert record.idset("Encounter", [], compartment=comp) == {"e1"}
    assert record.idset("Patient", [], compartment=comp) == {"123", "456"}  # itself + link


def test_compartment_of_all_types(record: SearchDb) -> None:
    found = record.idset(None, [], compartment=("Patient", "123"))
    assert found == {
        "Patient/123",
        "Patient/456",
        "Observation/o-subject",
        "Observation/o-performer",
        "Encounter/e1",
    }
    found = record.idset(
        None, [("_type", "Encounter,Organization")], compartment=("Patient", "123")
    )
    assert found == {"Encounter/e1"}


def test_compartment_errors(record: SearchDb) -> None:
    with pytest.raises(FhirError) as err:
        record.ids("Organization", [], compartment=("Patient", "123"))
    assert err.value.status == 400
    with pytest.raises(FhirError) as err:
        record.ids("Observation", [], compartment=("Encounter", "e1"))
    assert err.value.code == "not-supported"


def test_system_search(record: SearchDb) -> None:
    assert len(record.ids(None, [])) == 8
    types = [("_type", "Patient,Organization")]
    assert record.idset(None, types) == {"Patient/123", "Patient/456", "Organization/org"}
    by_name = record.idset(None, [*types, ("name", "durand")])
    assert by_name == {"Patient/123", "Patient/456", "Organization/org"}
    assert record.idset(None, [("_id", "e1,org")]) == {"Encounter/e1", "Organization/org"}
    assert record.idset(None, [("_type", "Patient"), ("_type", "Patient,Organization")]) == {
        "Patient/123",
        "Patient/456",
    }


def test_system_search_refuses_type_specific_params(record: SearchDb) -> None:
    with pytest.raises(FhirError) as err:
        record.ids(None, [("name", "durand")])
    assert err.value.status == 400 and "name" in err.value.issues[0].expression
    with pytest.raises(FhirError):
        record.ids(None, [("_type", "Patient,Observation"), ("name", "durand")])
    with pytest.raises(FhirError):
        record.ids(None, [("_type", "Nope")])
    with pytest.raises(FhirError):
        record.ids("Patient", [("_type", "Patient")])
