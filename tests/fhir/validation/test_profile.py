"""Profile validation features, on small profiles written for the tests (differentials)."""

# ruff: noqa: E501

from __future__ import annotations

import copy
from typing import Any

import pytest

from socle.fhir.errors import Issue
from socle.fhir.packages.context import ConformanceContext
from socle.fhir.validation.profile import ProfileValidator, ValidatorOptions
from tests.fhir.validation.support import errors, service

BASE = "http://hl7.org/fhir/StructureDefinition/"
EX = "https://example.org/StructureDefinition/"


def _profile(name: str, type_: str, elements: list[dict[str, Any]], base: str | None = None):
    return {
        "resourceType": "StructureDefinition",
        "url": EX + name,
        "name": name,
        "status": "active",
        "kind": "resource",
        "abstract": False,
        "type": type_,
        "baseDefinition": base or BASE + type_,
        "derivation": "constraint",
        "differential": {"element": [{"id": type_, "path": type_}, *elements]},
    }


def _slicing(path: str, discriminators: list[tuple[str, str]], rules: str, ordered=False):  # noqa: ANN001, ANN202
    return {
        "id": path,
        "path": path,
        "slicing": {
            "discriminator": [{"type": t, "path": p} for t, p in discriminators],
            "rules": rules,
            "ordered": ordered,
        },
    }


PROFILES = [
    _profile(
        "ordered-names",
        "Patient",
        [
            _slicing("Patient.name", [("value", "use")], "openAtEnd", ordered=True),
            {"id": "Patient.name:official", "path": "Patient.name", "sliceName": "official"},
            {
                "id": "Patient.name:official.use",
                "path": "Patient.name.use",
                "min": 1,
                "fixedCode": "official",
            },
            {"id": "Patient.name:usual", "path": "Patient.name", "sliceName": "usual"},
            {
                "id": "Patient.name:usual.use",
                "path": "Patient.name.use",
                "min": 1,
                "fixedCode": "usual",
            },
            {"id": "Patient.name.family", "path": "Patient.name.family", "maxLength": 10},
        ],
    ),
    _profile(
        "phones",
        "Patient",
        [
            _slicing("Patient.telecom", [("exists", "rank")], "closed"),
            {
                "id": "Patient.telecom:ranked",
                "path": "Patient.telecom",
                "sliceName": "ranked",
                "max": "1",
            },
            {"id": "Patient.telecom:ranked.rank", "path": "Patient.telecom.rank", "min": 1},
            {"id": "Patient.telecom:plain", "path": "Patient.telecom", "sliceName": "plain"},
            {"id": "Patient.telecom:plain.rank", "path": "Patient.telecom.rank", "max": "0"},
            {
                "id": "Patient.maritalStatus",
                "path": "Patient.maritalStatus",
                "binding": {
                    "strength": "required",
                    "valueSet": "http://hl7.org/fhir/ValueSet/marital-status",
                },
            },
            {
                "id": "Patient.generalPractitioner",
                "path": "Patient.generalPractitioner",
                "type": [{"code": "Reference", "targetProfile": [BASE + "Practitioner"]}],
            },
        ],
    ),
    _profile(
        "patient-bundle",
        "Bundle",
        [
            _slicing("Bundle.entry", [("type", "resource")], "closed"),
            {
                "id": "Bundle.entry:patient",
                "path": "Bundle.entry",
                "sliceName": "patient",
                "min": 1,
            },
            {
                "id": "Bundle.entry:patient.resource",
                "path": "Bundle.entry.resource",
                "type": [{"code": "Patient", "profile": [EX + "phones"]}],
            },
        ],
    ),
    _profile(
        "obs-pattern",
        "Observation",
        [
            _slicing("Observation.category", [("pattern", "$this")], "open"),
            {
                "id": "Observation.category:vs",
                "path": "Observation.category",
                "sliceName": "vs",
                "min": 1,
                "patternCodeableConcept": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                            "code": "vital-signs",
                        }
                    ]
                },
            },
            {
                "id": "Observation",
                "path": "Observation",
                "constraint": [
                    {
                        "key": "ex-1",
                        "severity": "error",
                        "human": "A final observation has a value",
                        "expression": "status = 'final' implies value.exists()",
                    }
                ],
            },
        ],
    ),
]


@pytest.fixture(scope="module")
def validator() -> ProfileValidator:
    ctx = ConformanceContext(service().context.packages)
    for p in PROFILES:
        ctx.add(copy.deepcopy(p))
    return ProfileValidator(ctx)


def _patient(**extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", **extra}


def test_ordered_open_at_end_slicing_and_max_length(validator) -> None:  # noqa: ANN001
    url = EX + "ordered-names"
    ok = _patient(name=[{"use": "official", "family": "A"}, {"use": "usual"}, {"use": "old"}])
    assert errors(validator.validate(ok, [url])) == []
    wrong = _patient(
        name=[
            {"use": "usual"},
            {"use": "official"},
            {"use": "old"},
            {"use": "usual", "family": "Abcdefghijkl"},
        ]
    )
    assert errors(validator.validate(wrong, [url])) == [
        (
            "Patient.name[1]",
            f"Patient.name[1]: slice 'official' is out of order (ordered slicing of Patient.name, from {url})",
        ),
        (
            "Patient.name[3]",
            f"Patient.name[3]: matches slice 'usual' after elements that match no slice (openAtEnd slicing, from {url})",
        ),
        (
            "Patient.name[3].family",
            f"Patient.name[3].family: value is 12 characters long, max 10 (from {url})",
        ),
    ]


CPT_2 = (
    "Constraint cpt-2 failed: A system is required if a value is "
    "provided. (from http://hl7.org/fhir/StructureDefinition/ContactPoint)"
)


def test_exists_discriminator_closed_binding_and_reference_type(validator) -> None:  # noqa: ANN001
    url = EX + "phones"
    ok = _patient(
        telecom=[{"system": "phone", "value": "1", "rank": 1}, {"system": "email", "value": "a@b"}],
        maritalStatus={
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "code": "M"}
            ]
        },
        generalPractitioner=[{"reference": "Practitioner/1"}],
    )
    assert errors(validator.validate(ok, [url])) == []
    bad = _patient(
        telecom=[{"value": "1", "rank": 1}, {"value": "2", "rank": 2}],
        maritalStatus={"text": "marié"},
        generalPractitioner=[{"reference": "Organization/1"}],
    )
    assert sorted(errors(validator.validate(bad, [url]))) == [
        (
            "Patient.generalPractitioner[0].reference",
            "Patient.generalPractitioner[0]: a reference to Organization is not allowed here (allowed: Practitioner)",
        ),
        (
            "Patient.maritalStatus",
            f"Patient.maritalStatus: no code provided, and a code from the value set http://hl7.org/fhir/ValueSet/marital-status is required (from {url})",
        ),
        (
            "Patient.telecom",
            f"Patient.telecom: slice 'ranked' allows at most 1, found 2 (from {url})",
        ),
        # the data type's own invariant (ContactPoint cpt-2), checked wherever it is used
        ("Patient.telecom[0]", CPT_2),
        ("Patient.telecom[1]", CPT_2),
    ]


def test_type_discriminator_and_entry_profiles_in_a_bundle(validator) -> None:  # noqa: ANN001
    url = EX + "patient-bundle"
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "fullUrl": "urn:uuid:1",
                "resource": _patient(
                    telecom=[
                        {"system": "phone", "value": "1", "rank": 1},
                        {"system": "phone", "value": "2", "rank": 3},
                    ]
                ),
            },
            {"fullUrl": "urn:uuid:2", "resource": {"resourceType": "Practitioner"}},
        ],
    }
    assert sorted(errors(validator.validate(bundle, [url]))) == [
        (
            "Bundle.entry[0].resource.telecom",
            f"Bundle.entry[0].resource.telecom: slice 'ranked' allows at most 1, found 2 (from {EX}phones)",
        ),
        (
            "Bundle.entry[1]",
            f"Bundle.entry[1]: does not match any slice of Bundle.entry (closed slicing, from {url})",
        ),
    ]


def test_pattern_discriminator_and_invariants(validator) -> None:  # noqa: ANN001
    url = EX + "obs-pattern"
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                        "display": "Vital",
                    }
                ]
            }
        ],
        "valueString": "ok",
    }
    assert errors(validator.validate(obs, [url])) == []
    del obs["valueString"]
    obs["category"][0]["coding"][0]["code"] = "laboratory"
    assert errors(validator.validate(obs, [url])) == [
        ("Observation", f"Constraint ex-1 failed: A final observation has a value (from {url})"),
        (
            "Observation.category",
            f"Observation.category: slice 'vs' requires at least 1 element, found 0 (from {url})",
        ),
    ]


def test_extensions_resolved_by_url() -> None:
    v = service().validator
    patient = _patient(
        extension=[
            {
                "url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace",
                "valueString": "Paris",
            },
            {"url": "https://example.org/unknown", "valueString": "x"},
        ],
        modifierExtension=[{"url": "https://example.org/modifier", "valueBoolean": True}],
        _birthDate={"extension": [{"url": "https://example.org/other", "valueString": "y"}]},
    )
    issues = v.validate(patient, base=True)
    assert errors(issues) == [
        (
            "Patient.extension[0].value.ofType(string)",
            "Patient.extension[0].value.ofType(string): type string is not allowed here by "
            "http://hl7.org/fhir/StructureDefinition/patient-birthPlace (allowed: Address)",
        ),
        (
            "Patient.modifierExtension[0]",
            "Patient.modifierExtension[0]: unknown modifier extension https://example.org/modifier: it cannot be validated",
        ),
    ]
    warnings = [(i.expression[0], i.code) for i in issues if i.severity == "warning"]
    assert ("Patient.extension[1]", "extension") in warnings
    assert ("Patient.birthDate.extension[0]", "extension") in warnings
    quiet = ProfileValidator(
        v.context, v.terminology, options=ValidatorOptions(unknown_extension="ignore")
    )
    assert not [
        i
        for i in quiet.validate(patient, base=True)
        if i.code == "extension" and i.severity == "warning"
    ]


def test_base_definition_invariants_contained_and_best_practice() -> None:
    v = service().validator
    patient = _patient(
        contained=[{"resourceType": "Practitioner", "id": "lonely"}],
        contact=[{"gender": "male"}],
    )
    issues = v.validate(patient, base=True)
    assert errors(issues) == [
        (
            "Patient",
            "Constraint dom-3 failed: If the resource is contained in another resource, it SHALL be referred to from elsewhere in the resource or SHALL refer to the containing resource (from http://hl7.org/fhir/StructureDefinition/DomainResource)",
        ),
        (
            "Patient.contact[0]",
            "Constraint pat-1 failed: SHALL at least contain a contact's details or a reference to an organization (from http://hl7.org/fhir/StructureDefinition/Patient)",
        ),
    ]
    assert ("warning", "Patient") in {
        (i.severity, i.expression[0]) for i in issues if "dom-6" in i.diagnostics
    }
    patient["generalPractitioner"] = [{"reference": "#lonely"}]
    patient["contact"][0]["name"] = {"family": "X"}
    assert errors(v.validate(patient, base=True)) == []


def test_rules_run_for_derived_profiles() -> None:
    ctx = ConformanceContext(service().context.packages)
    for p in PROFILES:
        ctx.add(copy.deepcopy(p))
    derived = _profile("more-phones", "Patient", [], base=EX + "phones")
    ctx.add(derived)
    v = ProfileValidator(ctx)
    seen: list[str] = []

    def rule(resource: dict, path: str) -> list[Issue]:
        seen.append(path)
        return [Issue("error", "business-rule", "refused by rule", [path + ".id"])]

    v.add_rule(EX + "phones", "test-rule", rule)
    assert errors(v.validate(_patient(), [derived["url"]])) == [("Patient.id", "refused by rule")]
    assert seen == ["Patient"]


def test_data_type_invariants_are_checked_where_the_type_is_used(validator) -> None:  # noqa: ANN001
    """per-1, qty-3, rng-2, ref-1… sit on the data type's own definition, not in the
    snapshot of the elements that use it: they are checked wherever a value of the type
    appears (as the reference validator does)."""
    core = "http://hl7.org/fhir/StructureDefinition/"
    act = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"}
    encounter = {"resourceType": "Encounter", "status": "finished", "class": act}
    ok = {**encounter, "period": {"start": "2025-01-02T08:00:00Z", "end": "2025-01-05"}}
    assert errors(validator.validate(ok, [core + "Encounter"])) == []
    backwards = {**encounter, "period": {"start": "2025-01-05", "end": "2025-01-02"}}
    found = errors(validator.validate(backwards, [core + "Encounter"]))
    assert [(path, text[:24]) for path, text in found] == [
        ("Encounter.period", "Constraint per-1 failed:")
    ]
    # a dateTime and a date: compared at the date's precision when they differ there
    later = {**encounter, "period": {"start": "2025-01-05T10:00:00Z", "end": "2025-01-02"}}
    assert [p for p, _ in errors(validator.validate(later, [core + "Encounter"]))] == [
        "Encounter.period"
    ]
    issues = validator.validate(ok, [core + "Encounter"])
    assert not [i for i in issues if "per-1" in i.diagnostics]  # decided, not "unknown"
    # instants in other zones: 10:00+01:00 is 09:00Z, before 09:30Z
    zones = {
        **encounter,
        "period": {"start": "2024-01-15T10:00:00+01:00", "end": "2024-01-15T09:30:00Z"},
    }
    assert errors(validator.validate(zones, [core + "Encounter"])) == []
    zones["period"]["end"] = "2024-01-15T08:30:00Z"
    assert [p for p, _ in errors(validator.validate(zones, [core + "Encounter"]))] == [
        "Encounter.period"
    ]
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "poids"},
        "subject": {"reference": "#nobody"},
        "valueQuantity": {"value": 70, "code": "kg"},
        "component": [
            {"code": {"text": "plage"}, "valueRange": {"low": {"value": 9}, "high": {"value": 3}}}
        ],
    }
    found = errors(validator.validate(observation, [core + "Observation"]))
    assert sorted(text.split(":")[0] for _, text in found) == [
        "Constraint qty-3 failed",
        "Constraint ref-1 failed",
        "Constraint rng-2 failed",
    ]
