"""Broken variants of FR Core / Annuaire resources: exact error and location, everywhere.

Each variant breaks one rule of its profile (missing required element, too many
repetitions, wrong fixed value, code outside a required binding, bad INS key, extension
used outside its context, element in no slice of a closed slicing). The same error must
come out of the validator, `$validate` (200 + OperationOutcome) and a write (422); the CLI
is covered in tests/cli.
"""

from __future__ import annotations

import pytest

from tests.fhir.validation.support import (
    bp_observation,
    broken_variants,
    dp_practitioner,
    errors,
    ins_patient,
    service,
)

VARIANTS = broken_variants()


@pytest.mark.parametrize("make", [ins_patient, bp_observation, dp_practitioner])
def test_baselines_are_valid(make) -> None:  # noqa: ANN001
    assert errors(service().validate(make())) == []


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_validator_reports_the_exact_error(name: str) -> None:
    resource, location, message = VARIANTS[name]
    assert errors(service().validate(resource)) == [(location, message)]


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_validate_operation_reports_it_with_200(client, name: str) -> None:  # noqa: ANN001
    resource, location, message = VARIANTS[name]
    rt = resource["resourceType"]
    r = client.post(f"/fhir/{rt}/$validate", json=resource)
    assert r.status_code == 200
    outcome = r.json()
    assert outcome["resourceType"] == "OperationOutcome"
    found = [
        (i["expression"][0], i["diagnostics"])
        for i in outcome["issue"]
        if i["severity"] in ("error", "fatal")
    ]
    assert found == [(location, message)]


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_write_is_refused_with_422(client, name: str) -> None:  # noqa: ANN001
    resource, location, message = VARIANTS[name]
    rt = resource["resourceType"]
    r = client.post(f"/fhir/{rt}", json=resource)
    assert r.status_code == 422
    issues = r.json()["issue"]
    assert issues[0]["severity"] == "error"
    assert (issues[0]["expression"][0], issues[0]["diagnostics"]) == (location, message)
    assert client.get(f"/fhir/{rt}?_summary=count").json()["total"] == 0


def test_valid_profiled_resources_are_written(client) -> None:  # noqa: ANN001
    for resource in (ins_patient(), bp_observation(), dp_practitioner()):
        r = client.post(f"/fhir/{resource['resourceType']}", json=resource)
        assert r.status_code == 201, r.text


def test_parameters_body_and_profile_parameter(client) -> None:  # noqa: ANN001
    """`Parameters` with `resource` and `profile`: the profile is applied on top."""
    patient = ins_patient()
    del patient["meta"]
    del patient["birthDate"]
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "resource", "resource": patient},
            {
                "name": "profile",
                "valueCanonical": VARIANTS["missing-required"][2].split("(from ")[1].rstrip(")"),
            },
        ],
    }
    r = client.post("/fhir/Patient/$validate", json=body)
    assert r.status_code == 200
    locations = [i["expression"][0] for i in r.json()["issue"] if i["severity"] == "error"]
    assert locations == ["Patient.birthDate"]


def test_validate_modes_and_instance_level(client) -> None:  # noqa: ANN001
    created = client.post("/fhir/Patient", json=ins_patient()).json()
    pid = created["id"]
    # GET on an instance validates the stored resource
    r = client.get(f"/fhir/Patient/{pid}/$validate")
    assert r.status_code == 200
    assert not [i for i in r.json()["issue"] if i["severity"] == "error"]
    # mode=update with another id is an error in the outcome, still 200
    other = {**created, "id": "someone-else"}
    r = client.post(f"/fhir/Patient/{pid}/$validate?mode=update", json=other)
    assert r.status_code == 200
    assert r.json()["issue"][0]["expression"] == ["Patient.id"]
    # mode=delete: the instance must exist
    assert client.get(f"/fhir/Patient/{pid}/$validate?mode=delete").status_code == 200
    assert client.get("/fhir/Patient/nobody/$validate?mode=delete").status_code == 404
    # a malformed request is a 400
    assert client.post("/fhir/Patient/$validate?mode=bogus", json=created).status_code == 400
    assert client.get("/fhir/Patient/$validate").status_code == 400
    # the wrong type is reported, not raised
    r = client.post("/fhir/Observation/$validate", json=created)
    assert r.status_code == 200 and r.json()["issue"][0]["code"] == "invalid"


def test_unknown_explicit_profile_is_an_error_declared_one_a_warning(client) -> None:  # noqa: ANN001
    patient = {"resourceType": "Patient", "meta": {"profile": ["https://example.org/nope"]}}
    r = client.post("/fhir/Patient/$validate?profile=https://example.org/other", json=patient)
    issues = {(i["severity"], i["diagnostics"]) for i in r.json()["issue"]}
    assert (
        "error",
        "Profile https://example.org/other is not known: the resource was not checked against it",
    ) in issues
    assert (
        "warning",
        "Profile https://example.org/nope is not known: the resource was not checked against it",
    ) in issues
    # on write, an unknown declared profile does not block
    assert client.post("/fhir/Patient", json=patient).status_code == 201
