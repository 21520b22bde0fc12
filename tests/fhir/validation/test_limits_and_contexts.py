"""minValue[x]/maxValue[x] and extension contexts: valid resources and broken variants."""

# ruff: noqa: E501

from __future__ import annotations

from typing import Any

import pytest

from socle.fhir.packages.context import ConformanceContext
from socle.fhir.validation.profile import ProfileValidator
from tests.fhir.validation.support import PATIENT_INS, errors, ins_patient, service

EX = "https://example.org/StructureDefinition/"
LIMITS = EX + "limits"
FR_INSEE = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-address-insee-code"
BIRTH_PLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
ADXP_NUMBER = "http://hl7.org/fhir/StructureDefinition/iso21090-ADXP-houseNumber"
DATA_ABSENT = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
UCUM = "http://unitsofmeasure.org"


def _limits_profile() -> dict[str, Any]:
    return {
        "resourceType": "StructureDefinition",
        "url": LIMITS,
        "name": "Limits",
        "status": "active",
        "kind": "resource",
        "abstract": False,
        "type": "Observation",
        "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Observation",
        "derivation": "constraint",
        "differential": {
            "element": [
                {"id": "Observation", "path": "Observation"},
                {
                    "id": "Observation.effective[x]",
                    "path": "Observation.effective[x]",
                    "type": [{"code": "dateTime"}],
                    "minValueDateTime": "2000-01-01",
                    "maxValueDateTime": "2099-12-31T23:59:59Z",
                },
                {
                    "id": "Observation.value[x]",
                    "path": "Observation.value[x]",
                    "type": [{"code": "Quantity"}],
                    "minValueQuantity": {"value": 0, "system": UCUM, "code": "kg"},
                    "maxValueQuantity": {"value": 500, "system": UCUM, "code": "kg"},
                },
                {
                    "id": "Observation.component.value[x]",
                    "path": "Observation.component.value[x]",
                    "type": [{"code": "integer"}],
                    "minValueInteger": 1,
                    "maxValueInteger": 10,
                },
            ]
        },
    }


@pytest.fixture(scope="module")
def validator() -> ProfileValidator:
    ctx = ConformanceContext(service().context.packages)
    ctx.add(_limits_profile())
    return ProfileValidator(ctx)


def _observation(**changes: Any) -> dict[str, Any]:
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "weight"},
        "effectiveDateTime": "2024-03-01T10:00:00+01:00",
        "valueQuantity": {"value": 72.5, "system": UCUM, "code": "kg", "unit": "kg"},
        "component": [{"code": {"text": "score"}, "valueInteger": 4}],
    }
    obs.update(changes)
    return obs


def test_values_within_their_limits(validator: ProfileValidator) -> None:
    assert errors(validator.validate(_observation(), [LIMITS])) == []
    edges = _observation(
        effectiveDateTime="2000-01-01",
        valueQuantity={"value": 500, "system": UCUM, "code": "kg"},
        component=[{"code": {"text": "s"}, "valueInteger": 1}],
    )
    assert errors(validator.validate(edges, [LIMITS])) == []


def test_a_quantity_in_other_units_is_not_compared(validator: ProfileValidator) -> None:
    grams = _observation(valueQuantity={"value": 72500, "system": UCUM, "code": "g"})
    assert errors(validator.validate(grams, [LIMITS])) == []


@pytest.mark.parametrize(
    "changes, location, message",
    [
        (
            {"valueQuantity": {"value": -1, "system": UCUM, "code": "kg"}},
            "Observation.value.ofType(Quantity)",
            f"Observation.value.ofType(Quantity): value '-1 kg' is less than the minimum '0 kg' (from {LIMITS})",
        ),
        (
            {"valueQuantity": {"value": 500.5, "system": UCUM, "code": "kg"}},
            "Observation.value.ofType(Quantity)",
            f"Observation.value.ofType(Quantity): value '500.5 kg' is greater than the maximum '500 kg' (from {LIMITS})",
        ),
        (
            {"component": [{"code": {"text": "s"}, "valueInteger": 0}]},
            "Observation.component[0].value.ofType(integer)",
            f"Observation.component[0].value.ofType(integer): value 0 is less than the minimum 1 (from {LIMITS})",
        ),
        (
            {"component": [{"code": {"text": "s"}, "valueInteger": 11}]},
            "Observation.component[0].value.ofType(integer)",
            f"Observation.component[0].value.ofType(integer): value 11 is greater than the maximum 10 (from {LIMITS})",
        ),
        (
            {"effectiveDateTime": "1999-12"},
            "Observation.effective.ofType(dateTime)",
            f"Observation.effective.ofType(dateTime): value '1999-12' is less than the minimum '2000-01-01' (from {LIMITS})",
        ),
        (
            {"effectiveDateTime": "2100"},
            "Observation.effective.ofType(dateTime)",
            f"Observation.effective.ofType(dateTime): value '2100' is greater than the maximum '2099-12-31T23:59:59Z' (from {LIMITS})",
        ),
    ],
)
def test_values_outside_their_limits(
    validator: ProfileValidator, changes: dict, location: str, message: str
) -> None:
    assert errors(validator.validate(_observation(**changes), [LIMITS])) == [(location, message)]


# -- extension contexts --------------------------------------------------------------------


def _insee(code: str = "75056") -> dict[str, Any]:
    return {"url": FR_INSEE, "valueCoding": {"code": code}}


def test_extensions_in_their_context() -> None:
    patient = ins_patient()
    patient["address"] = [
        {
            "extension": [_insee()],
            "line": ["12 rue des Lilas"],
            "_line": [{"extension": [{"url": ADXP_NUMBER, "valueString": "12"}]}],
            "city": "Paris",
        }
    ]
    patient["_gender"] = {"extension": [{"url": DATA_ABSENT, "valueCode": "unknown"}]}
    assert errors(service().validate(patient)) == []


def test_an_extension_on_the_wrong_element() -> None:
    """FR Core's INSEE-code extension is for an Address, not for the Patient itself."""
    patient = ins_patient()
    patient["extension"].append(_insee())
    where = f"Patient.extension[{len(patient['extension']) - 1}]"
    assert errors(service().validate(patient)) == [
        (
            where,
            f"{where}: extension {FR_INSEE} is not allowed on the Patient resource; its context allows Address",
        )
    ]


def test_an_address_part_extension_on_a_name() -> None:
    patient = ins_patient()
    patient["name"][0]["_family"] = {"extension": [{"url": ADXP_NUMBER, "valueString": "12"}]}
    assert errors(service().validate(patient)) == [
        (
            "Patient.name[0].family.extension[0]",
            f"Patient.name[0].family.extension[0]: extension {ADXP_NUMBER} is not allowed on Patient.name.family (string); its context allows Address.line",
        )
    ]


def test_a_resource_extension_inside_a_bundle() -> None:
    """The location restarts at each inline resource: Patient's birthPlace on an
    Observation is out of context even two levels down."""
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "extension": [{"url": BIRTH_PLACE, "valueAddress": {"city": "Lyon"}}],
    }
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": "urn:uuid:1", "resource": ins_patient()}, {"resource": obs}],
    }
    where = "Bundle.entry[1].resource.extension[0]"
    assert errors(service().validate(bundle)) == [
        (
            where,
            f"{where}: extension {BIRTH_PLACE} is not allowed on the Observation resource; its context allows Patient",
        )
    ]


def test_a_resource_extension_on_a_backbone_element() -> None:
    """birthPlace is allowed on the Patient (where the profile slices it), not inside."""
    patient = ins_patient()
    assert any(e["url"] == BIRTH_PLACE for e in patient["extension"])
    assert service().validator.profile(PATIENT_INS) is not None
    patient["contact"] = [
        {
            "extension": [{"url": BIRTH_PLACE, "valueAddress": {"city": "Lyon"}}],
            "name": {"family": "Martin"},
        }
    ]
    assert errors(service().validate(patient)) == [
        (
            "Patient.contact[0].extension[0]",
            f"Patient.contact[0].extension[0]: extension {BIRTH_PLACE} is not allowed on Patient.contact (BackboneElement); its context allows Patient",
        )
    ]
