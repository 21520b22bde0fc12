"""The outgoing rule reaches Patients nested in other resources (contained, Bundles)."""

from __future__ import annotations

from typing import Any

from tests.ins.conftest import nir, person


def _observation_of(patient: dict[str, Any]) -> dict[str, Any]:
    """An Observation about `patient`, contained in it as #p1."""
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "weight"},
        "contained": [{**patient, "id": "p1"}],
        "subject": {"reference": "#p1"},
    }


def test_contained_patient_ins_is_hidden_unless_qualified(ins_client) -> None:  # noqa: ANN001
    ins = nir(order=611)
    obs = _observation_of(person(family="Nested", ins=ins, status="RECUP"))
    created = ins_client.post("/fhir/Observation", json=obs)
    assert created.status_code == 201, created.text
    assert ins not in created.text
    oid = created.json()["id"]
    for path in (f"/fhir/Observation/{oid}", f"/fhir/Observation/{oid}/_history/1"):
        answer = ins_client.get(path)
        assert answer.status_code == 200 and ins not in answer.text
        assert answer.json()["contained"][0]["name"]  # the Patient itself is still there
    for path in ("/fhir/Observation", f"/fhir/Observation/{oid}/_history"):
        answer = ins_client.get(path, params={"_id": oid} if path.endswith("Observation") else {})
        assert answer.status_code == 200 and ins not in answer.text


def test_contained_qualified_patient_keeps_its_ins(ins_client) -> None:  # noqa: ANN001
    ins = nir(order=612)
    obs = _observation_of(person(family="Shared", ins=ins, status="QUAL", mode="CNI"))
    created = ins_client.post("/fhir/Observation", json=obs)
    assert created.status_code == 201, created.text
    assert ins in ins_client.get(f"/fhir/Observation/{created.json()['id']}").text
