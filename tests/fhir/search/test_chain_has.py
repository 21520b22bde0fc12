"""Chained parameters and _has reverse chaining, at several depths."""

from __future__ import annotations

import pytest

from tests.fhir.search.conftest import SearchDb

RPPS = "urn:oid:1.2.250.1.71.4.2.1"
LOINC = "http://loinc.org"


@pytest.fixture
def clinic(db: SearchDb) -> SearchDb:
    db.put_all(
        {"resourceType": "Organization", "id": "chu", "name": "CHU de Lyon"},
        {"resourceType": "Organization", "id": "clinique", "name": "Clinique du Parc"},
        {
            "resourceType": "Practitioner",
            "id": "dr1",
            "name": [{"family": "House"}],
            "identifier": [{"system": RPPS, "value": "10001"}],
        },
        {
            "resourceType": "Practitioner",
            "id": "dr2",
            "name": [{"family": "Grey"}],
            "identifier": [{"system": RPPS, "value": "10002"}],
        },
        {
            "resourceType": "PractitionerRole",
            "id": "role1",
            "practitioner": {"reference": "Practitioner/dr1"},
            "organization": {"reference": "Organization/chu"},
        },
        {
            "resourceType": "Patient",
            "id": "alice",
            "name": [{"family": "Durand"}],
            "generalPractitioner": [{"reference": "Practitioner/dr1"}],
            "managingOrganization": {"reference": "Organization/chu"},
        },
        {
            "resourceType": "Patient",
            "id": "bob",
            "name": [{"family": "Durand"}],
            "generalPractitioner": [{"reference": "PractitionerRole/role1"}],
            "managingOrganization": {"reference": "Organization/clinique"},
        },
        {
            "resourceType": "Patient",
            "id": "carol",
            "name": [{"family": "Petit"}],
            "generalPractitioner": [{"reference": "Practitioner/dr2"}],
        },
        {
            "resourceType": "Observation",
            "id": "o1",
            "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "1234"}]},
            "subject": {"reference": "Patient/alice"},
            "performer": [{"reference": "Practitioner/dr2"}],
        },
        {
            "resourceType": "Observation",
            "id": "o2",
            "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "9999"}]},
            "subject": {"reference": "Patient/bob"},
        },
        {
            "resourceType": "Observation",
            "id": "o3",
            "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "1234"}]},
            "subject": {"reference": "Group/g1"},
        },
        {
            "resourceType": "AuditEvent",
            "id": "a1",
            "recorded": "2024-01-01T00:00:00Z",
            "type": {"code": "rest"},
            "agent": [{"requestor": True, "who": {"reference": "Practitioner/dr1"}}],
            "source": {"observer": {"reference": "Device/d1"}},
            "entity": [{"what": {"reference": "Observation/o1"}}],
        },
    )
    return db


def test_chain_one_level(clinic: SearchDb) -> None:
    assert clinic.idset("Observation", [("subject:Patient.name", "durand")]) == {"o1", "o2"}
    assert clinic.idset("Observation", [("patient.family", "dur")]) == {"o1", "o2"}
    assert clinic.idset("Observation", [("subject.name", "petit")]) == set()
    gp = [("general-practitioner.identifier", f"{RPPS}|10001")]
    assert clinic.idset("Patient", gp) == {"alice"}
    assert clinic.idset("Patient", [("organization.name", "chu")]) == {"alice"}


def test_chain_with_type_modifier_and_modifiers_inside(clinic: SearchDb) -> None:
    params = [("general-practitioner:Practitioner.family:exact", "Grey")]
    assert clinic.idset("Patient", params) == {"carol"}
    params = [("general-practitioner:PractitionerRole.practitioner", "Practitioner/dr1")]
    assert clinic.idset("Patient", params) == {"bob"}
    assert clinic.idset("Patient", [("organization.name:missing", "false")]) == {"alice", "bob"}


def test_chain_two_and_three_levels(clinic: SearchDb) -> None:
    params = [("subject:Patient.organization.name", "clinique")]
    assert clinic.idset("Observation", params) == {"o2"}
    params = [("subject:Patient.general-practitioner:PractitionerRole.organization.name", "chu")]
    assert clinic.idset("Observation", params) == {"o2"}


def test_chains_are_independent_and(clinic: SearchDb) -> None:
    params = [("subject:Patient.name", "durand"), ("subject:Patient.organization", "chu")]
    assert clinic.idset("Observation", params) == {"o1"}


def test_has(clinic: SearchDb) -> None:
    assert clinic.idset("Patient", [("_has:Observation:patient:code", "1234")]) == {"alice"}
    assert clinic.idset("Patient", [("_has:Observation:subject:code", "1234,9999")]) == {
        "alice",
        "bob",
    }
    assert clinic.idset("Patient", [("_has:Observation:patient:code", "0000")]) == set()
    # the referring resource must be current: deleting it removes the match
    clinic.delete("Observation", "o1")
    assert clinic.idset("Patient", [("_has:Observation:patient:code", "1234")]) == set()


def test_has_nested_and_with_chain(clinic: SearchDb) -> None:
    nested = [("_has:Observation:patient:_has:AuditEvent:entity:type", "rest")]
    assert clinic.idset("Patient", nested) == {"alice"}
    chained = [("_has:Observation:performer:subject:Patient.name", "durand")]
    assert clinic.idset("Practitioner", chained) == {"dr2"}
    reverse_in_chain = [("general-practitioner:Practitioner._has:AuditEvent:agent:type", "rest")]
    assert clinic.idset("Patient", reverse_in_chain) == {"alice"}


def test_chain_to_deleted_target_does_not_match(clinic: SearchDb) -> None:
    clinic.delete("Organization", "chu")
    assert clinic.idset("Patient", [("organization.name", "chu")]) == set()
    # a dangling reference has no target that could lack a name
    assert clinic.idset("Patient", [("organization.name:missing", "true")]) == set()
    assert clinic.idset("Patient", [("organization:missing", "false")]) == {"alice", "bob"}


def test_chain_to_id_and_last_updated(clinic: SearchDb) -> None:
    assert clinic.idset("Observation", [("subject:Patient._id", "alice")]) == {"o1"}
    assert clinic.idset("Observation", [("subject:Patient._lastUpdated", "gt2000")]) == {"o1", "o2"}
