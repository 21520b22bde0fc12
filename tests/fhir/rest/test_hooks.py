"""Services refuse writes through validators and hooks: 422 with their OperationOutcome."""

from __future__ import annotations

from socle.fhir.errors import FhirError, Issue
from tests.fhir.rest.helpers import patient


def test_write_validator_error_gives_422_and_writes_nothing(client, fhir_engine) -> None:  # noqa: ANN001
    def no_martin(resource):  # noqa: ANN001, ANN202
        names = [n.get("family") for n in resource.get("name", [])]
        if "Interdit" in names:
            return [
                Issue(
                    "error",
                    "business-rule",
                    "family Interdit is refused",
                    ["Patient.name[0].family"],
                )
            ]
        return [Issue("warning", "informational", "checked")]

    fhir_engine.write_validators.append(no_martin)
    try:
        r = client.post("/fhir/Patient", json=patient(family="Interdit"))
        assert r.status_code == 422
        issue = r.json()["issue"][0]
        assert issue["code"] == "business-rule" and issue["expression"] == [
            "Patient.name[0].family"
        ]
        ok = client.post(
            "/fhir/Patient", json=patient(), headers={"Prefer": "return=OperationOutcome"}
        )
        assert ok.status_code == 201
        assert ok.json()["issue"][0]["diagnostics"] == "checked"
        total = client.get("/fhir/Patient?_summary=count").json()["total"]
        assert total == 1
    finally:
        fhir_engine.write_validators.remove(no_martin)


def test_write_hook_can_refuse(client, fhir_engine) -> None:  # noqa: ANN001
    def frozen(_ctx, resource, created):  # noqa: ANN001, ANN202
        if not created and resource.get("resourceType") == "Patient":
            raise FhirError(422, "business-rule", "Patients are frozen once created")

    fhir_engine.hooks.write.append(frozen)
    try:
        body = client.post("/fhir/Patient", json=patient()).json()
        r = client.put(f"/fhir/Patient/{body['id']}", json={**body, "gender": "male"})
        assert r.status_code == 422
        assert client.get(f"/fhir/Patient/{body['id']}").json()["gender"] == "female"
    finally:
        fhir_engine.hooks.write.remove(frozen)
