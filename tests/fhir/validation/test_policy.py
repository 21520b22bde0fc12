"""The write policy: per type and per profile, required profiles, unknown definitions."""

from __future__ import annotations

import pytest

from socle.fhir.validation.policy import PolicyError, ValidationPolicy
from socle.fhir.validation.service import ValidationService
from tests.fhir.validation.support import PATIENT_INS, broken_variants, errors, ins_patient, service


def _service(policy: ValidationPolicy) -> ValidationService:
    from socle.fr.plugin import plugin

    svc = ValidationService(context=service().context, policy=policy)
    plugin.register_validation(svc)
    return svc


def test_default_checks_declared_profiles_only() -> None:
    svc = _service(ValidationPolicy())
    bad, location, message = broken_variants()["bad-ins-key"]
    assert errors(svc.validate_for_write(bad)) == [(location, message)]
    plain = {"resourceType": "Patient", "gender": "femme"}  # no profile: nothing to check
    assert svc.validate_for_write(plain) == []


def test_off_and_structural_per_type_and_per_profile() -> None:
    bad = broken_variants()["bad-ins-key"][0]
    assert _service(ValidationPolicy(types={"Patient": "off"})).validate_for_write(bad) == []
    assert _service(ValidationPolicy(default="structural")).validate_for_write(bad) == []
    skip = ValidationPolicy(profiles={PATIENT_INS: "off"})
    assert _service(skip).validate_for_write(bad) == []


def test_required_profiles_apply_without_declaration() -> None:
    svc = _service(ValidationPolicy(required={"Patient": (PATIENT_INS,)}))
    patient = ins_patient()
    del patient["meta"]
    assert errors(svc.validate_for_write(patient)) == []
    del patient["birthDate"]
    assert [loc for loc, _ in errors(svc.validate_for_write(patient))] == ["Patient.birthDate"]


def test_unknown_profile_and_extension_levels() -> None:
    patient = {
        "resourceType": "Patient",
        "meta": {"profile": ["https://example.org/unknown"]},
        "extension": [{"url": "https://example.org/ext", "valueString": "x"}],
    }
    lenient = _service(ValidationPolicy())
    assert errors(lenient.validate_for_write(patient)) == []
    strict = _service(ValidationPolicy(unknown_profile="error"))
    assert errors(strict.validate_for_write(patient)) == [
        (
            "Patient",
            "Profile https://example.org/unknown is not known: the resource was not checked "
            "against it",
        )
    ]
    patient["meta"]["profile"] = ["http://hl7.org/fhir/StructureDefinition/Patient"]
    strict = _service(ValidationPolicy(unknown_extension="error"))
    assert errors(strict.validate_for_write(patient)) == [
        (
            "Patient.extension[0]",
            "Patient.extension[0]: unknown extension https://example.org/ext: it cannot be "
            "validated",
        )
    ]


def test_policy_from_json_and_environment(tmp_path) -> None:  # noqa: ANN001
    policy = ValidationPolicy.from_json(
        {"default": "full", "types": {"AuditEvent": "structural"}, "required": {"Patient": ["x"]}}
    )
    assert policy.mode_for("AuditEvent") == "structural" and policy.required == {"Patient": ("x",)}
    path = tmp_path / "policy.json"
    path.write_text('{"unknownExtension": "error"}')
    assert (
        ValidationPolicy.from_env({"SOCLE_VALIDATION_POLICY": f"@{path}"}).unknown_extension
        == "error"
    )
    assert ValidationPolicy.from_env({}) == ValidationPolicy()
    with pytest.raises(PolicyError, match="mode must be one of"):
        ValidationPolicy.from_json({"default": "strict"})
    with pytest.raises(PolicyError, match="unknown policy keys"):
        ValidationPolicy.from_json({"defaults": "full"})
    with pytest.raises(PolicyError, match="not valid JSON"):
        ValidationPolicy.from_env({"SOCLE_VALIDATION_POLICY": "{nope"})


def test_policy_applies_to_http_writes(client, fhir_engine) -> None:  # noqa: ANN001
    bad = broken_variants()["closed-slice"][0]
    saved = fhir_engine.validation.policy
    try:
        fhir_engine.validation.policy = ValidationPolicy(types={"Practitioner": "structural"})
        assert client.post("/fhir/Practitioner", json=bad).status_code == 201
    finally:
        fhir_engine.validation.policy = saved
    assert client.post("/fhir/Practitioner", json=bad).status_code == 422
