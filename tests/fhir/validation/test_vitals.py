"""The R4 vital-signs profiles (vendored from the HL7 R4 build) are resolved and enforced."""

from __future__ import annotations

import pytest

from tests.fhir.validation.support import FR_CORE, errors, example, service

CORE = "http://hl7.org/fhir/StructureDefinition/"
BODY_WEIGHT = CORE + "bodyweight"
VITALS = (
    "vitalsigns",
    "bodyweight",
    "bodyheight",
    "bmi",
    "bp",
    "heartrate",
    "resprate",
    "bodytemp",
    "headcircum",
    "oxygensat",
    "vitalspanel",
)


def _weight() -> dict:
    """The FR Core body-weight example without its meta.profile (checked explicitly)."""
    obs = example("hl7.fhir.fr.core/Observation-FRCoreObservationBodyWeightExample.json")
    del obs["meta"]
    return obs


@pytest.mark.parametrize("name", VITALS)
def test_vital_signs_profiles_come_with_the_r4_core(name: str) -> None:
    ctx = service().context
    sd = ctx.structure_definition(CORE + name)
    assert sd is not None and sd["type"] == "Observation"
    assert ctx.index.resolve(CORE + name).package == "hl7.fhir.r4.core@4.0.1"


def test_fr_core_vitals_derive_from_them() -> None:
    validator = service().validator
    prof = validator.profile(FR_CORE + "fr-core-observation-body-weight")
    assert validator.ancestry(prof)[1:3] == (BODY_WEIGHT, CORE + "vitalsigns")


def test_an_observation_conforming_to_bodyweight() -> None:
    assert errors(service().validate(_weight(), [BODY_WEIGHT])) == []


def test_bodyweight_requires_its_loinc_code() -> None:
    obs = _weight()
    obs["code"]["coding"][0]["code"] = "8302-2"
    assert errors(service().validate(obs, [BODY_WEIGHT])) == [
        (
            "Observation.code.coding",
            "Observation.code.coding: slice 'BodyWeightCode' requires at least 1 element, "
            f"found 0 (from {BODY_WEIGHT})",
        )
    ]


def test_bodyweight_unit_is_a_required_binding() -> None:
    obs = _weight()
    obs["valueQuantity"].update(code="mg", unit="mg")
    assert errors(service().validate(obs, [BODY_WEIGHT])) == [
        (
            "Observation.value.ofType(Quantity).code",
            "Observation.value.ofType(Quantity).code: 'mg' is not in the value set "
            "http://hl7.org/fhir/ValueSet/ucum-bodyweight|4.0.1 (required binding, from "
            f"{BODY_WEIGHT})",
        )
    ]


def test_vitalsigns_category_is_required() -> None:
    obs = _weight()
    del obs["category"]
    assert sorted(errors(service().validate(obs, [BODY_WEIGHT]))) == [
        (
            "Observation.category",
            f"Observation.category: minimum required = 1, but only found 0 (from {BODY_WEIGHT})",
        ),
        (
            "Observation.category",
            "Observation.category: slice 'VSCat' requires at least 1 element, found 0 "
            f"(from {BODY_WEIGHT})",
        ),
    ]
