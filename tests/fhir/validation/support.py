"""Shared helpers: one validation service per test process, package examples, variants."""

from __future__ import annotations

import copy
import functools
from typing import Any

from socle.demo.identifiers import make_nir
from socle.fhir.errors import Issue

FR_CORE = "https://hl7.fr/ig/fhir/core/StructureDefinition/"
PATIENT_INS = FR_CORE + "fr-core-patient-ins"
BP = FR_CORE + "fr-core-observation-bp"
INSEE_CODE = FR_CORE + "fr-core-address-insee-code"
AS_DP_PRACTITIONER = (
    "https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/as-dp-practitioner"
)
# A NIR consistent with the FR Core example patient (male, born December 1974).
VALID_NIR = make_nir("male", 1974, 12, "45", "234", 12)


@functools.cache
def service():  # noqa: ANN201
    """A standalone validation service with the French rules (vendored packages only)."""
    from socle.fhir.validation.service import ValidationService
    from socle.fr.plugin import plugin

    svc = ValidationService(data_dir=None)
    plugin.register_validation(svc)
    return svc


@functools.cache
def _examples() -> dict[str, dict[str, Any]]:
    out = {}
    for package, item in service().context.examples():
        out[f"{package.name}/{item.filename}"] = item.parse()
    return out


def example(key: str) -> dict[str, Any]:
    """A fresh copy of a package example: `hl7.fhir.fr.core/Patient-….json`."""
    return copy.deepcopy(_examples()[key])


def example_keys() -> list[str]:
    return sorted(_examples())


def ins_patient() -> dict[str, Any]:
    """The FR Core INS example patient, with a real NIR key (valid against its profile)."""
    patient = example("hl7.fhir.fr.core/Patient-FRCorePatientExample.json")
    patient["identifier"][0]["value"] = VALID_NIR
    return patient


def bp_observation() -> dict[str, Any]:
    return example("hl7.fhir.fr.core/Observation-FRCoreObservationBPExample.json")


def dp_practitioner() -> dict[str, Any]:
    return example("ans.fhir.fr.annuaire/Practitioner-334081DP.json")


def errors(issues: list[Issue]) -> list[tuple[str, str]]:
    """(location, message) of the error issues."""
    return [
        (i.expression[0] if i.expression else "", i.diagnostics)
        for i in issues
        if i.severity in ("error", "fatal")
    ]


def broken_variants() -> dict[str, tuple[dict[str, Any], str, str]]:
    """name -> (resource, expected error location, expected error message)."""
    out: dict[str, tuple[dict[str, Any], str, str]] = {}

    p = ins_patient()
    del p["birthDate"]
    out["missing-required"] = (
        p,
        "Patient.birthDate",
        f"Patient.birthDate: minimum required = 1, but only found 0 (from {PATIENT_INS})",
    )

    p = ins_patient()
    p["name"][0]["given"] = ["Pierre", "Yves"]
    out["too-many"] = (
        p,
        "Patient.name[0].given[1]",
        f"Patient.name[0].given: max allowed = 1, but found 2 (from {PATIENT_INS})",
    )

    o = bp_observation()
    o["component"][0]["valueQuantity"]["code"] = "mmHg"
    out["wrong-fixed"] = (
        o,
        "Observation.component[0].value.ofType(Quantity).code",
        "Observation.component[0].value.ofType(Quantity).code: value 'mmHg' does not equal "
        f"the fixed value 'mm[Hg]' (from {BP})",
    )

    p = ins_patient()
    p["gender"] = "femme"
    out["required-binding"] = (
        p,
        "Patient.gender",
        "Patient.gender: 'femme' is not in the value set "
        "https://hl7.fr/ig/fhir/core/ValueSet/fr-core-vs-patient-gender|2.2.0 "
        f"(required binding, from {PATIENT_INS})",
    )

    p = ins_patient()
    bad = VALID_NIR[:13] + f"{(int(VALID_NIR[13:]) + 1) % 100:02d}"
    p["identifier"][0]["value"] = bad
    out["bad-ins-key"] = (
        p,
        "Patient.identifier[0].value",
        f"FR-INS-002: INS-NIR '{bad}' has key {bad[13:]}, expected {VALID_NIR[13:]} "
        "(key = 97 - (first 13 characters mod 97), 2A read as 19, 2B as 18)",
    )

    p = ins_patient()
    p["extension"].append({"url": INSEE_CODE, "valueCoding": {"code": "75056"}})
    where = f"Patient.extension[{len(p['extension']) - 1}]"
    out["extension-context"] = (
        p,
        where,
        f"{where}: extension {INSEE_CODE} is not allowed on the Patient resource; its "
        "context allows Address",
    )

    pr = dp_practitioner()
    pr["telecom"].append({"system": "phone", "value": "0102030405"})
    out["closed-slice"] = (
        pr,
        "Practitioner.telecom[1]",
        "Practitioner.telecom[1]: does not match any slice of Practitioner.telecom "
        f"(closed slicing, from {AS_DP_PRACTITIONER})",
    )
    return out
