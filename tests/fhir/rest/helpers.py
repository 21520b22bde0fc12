"""Small builders of invented resources for the REST tests."""

from __future__ import annotations

from typing import Any

FHIR = "application/fhir+json"
INS_TEST = "urn:oid:1.2.250.1.213.1.4.10"


def patient(family: str = "Martin", given: str = "Léa", **extra: Any) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Patient",
        "name": [{"family": family, "given": [given]}],
        "gender": "female",
        "birthDate": "1980-04-12",
    }
    res.update(extra)
    return res


def with_ins(res: dict[str, Any], value: str) -> dict[str, Any]:
    return {**res, "identifier": [{"system": INS_TEST, "value": value}]}


def observation(subject: str, value: float = 72.0) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
        "subject": {"reference": subject},
        "effectiveDateTime": "2024-05-02T10:00:00+02:00",
        "valueQuantity": {
            "value": value,
            "unit": "kg",
            "system": "http://unitsofmeasure.org",
            "code": "kg",
        },
    }


def issue_codes(body: dict[str, Any]) -> list[str]:
    assert body["resourceType"] == "OperationOutcome", body
    return [i["code"] for i in body["issue"]]
