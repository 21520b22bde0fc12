"""Structural validation against the base R4 definitions (invented data only)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from socle.fhir.errors import Issue
from socle.fhir.validation import ResourceValidator, ValidationPipeline
from socle.fhir.validation.structural import StructuralValidator

BIRTH_TIME = "http://hl7.org/fhir/StructureDefinition/patient-birthTime"


@pytest.fixture(scope="module")
def validator() -> StructuralValidator:
    return StructuralValidator()


def patient() -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": "pat-1",
        "meta": {"versionId": "1", "lastUpdated": "2024-01-02T10:00:00.123+01:00"},
        "text": {
            "status": "generated",
            "div": '<div xmlns="http://www.w3.org/1999/xhtml">Camille Exemple</div>',
        },
        "identifier": [{"system": "urn:oid:1.2.250.1.213.1.4.8", "value": "0000000000001"}],
        "active": True,
        "name": [{"use": "official", "family": "Exemple", "given": ["Camille", "Zoé"]}],
        "telecom": [{"system": "phone", "value": "0100000000", "use": "home"}],
        "gender": "female",
        "birthDate": "1980-02-29",
        "_birthDate": {"extension": [{"url": BIRTH_TIME, "valueDateTime": "1980-02-29T10:30:00Z"}]},
        "address": [{"line": ["1 rue de l’Exemple"], "city": "Paris", "postalCode": "75001"}],
        "contact": [
            {
                "relationship": [{"coding": [{"code": "N"}]}],
                "name": {"family": "Exemple", "given": ["Dominique"]},
            }
        ],
        "communication": [{"language": {"text": "français"}, "preferred": True}],
    }


def observation() -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
        "subject": {"reference": "Patient/pat-1"},
        "effectiveDateTime": "2024-03-01T08:15:00+01:00",
        "valueQuantity": {"value": 72, "unit": "/min", "system": "http://unitsofmeasure.org"},
        "component": [
            {
                "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                "valueQuantity": {"value": 120.5, "unit": "mm[Hg]", "code": "mm[Hg]"},
            },
            {"code": {"text": "note"}, "valueString": "au repos"},
        ],
        "referenceRange": [{"low": {"value": 60}, "high": {"value": 100}}],
    }


def only(issues: list[Issue]) -> Issue:
    assert len(issues) == 1, issues
    return issues[0]


def assert_one(issues: list[Issue], code: str, expression: str) -> Issue:
    issue = only(issues)
    assert (issue.severity, issue.code, issue.expression) == ("error", code, [expression]), issue
    return issue


# -- valid resources ----------------------------------------------------------------------


def test_valid_patient(validator: StructuralValidator) -> None:
    assert validator.validate(patient()) == []


def test_valid_observation(validator: StructuralValidator) -> None:
    assert validator.validate(observation()) == []


def test_valid_bundle_with_entries(validator: StructuralValidator) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:0b6f1e5c-3f0a-4c5e-9a39-1f2d3c4b5a69",
                "resource": patient(),
                "request": {"method": "POST", "url": "Patient"},
            },
            {"resource": observation(), "request": {"method": "POST", "url": "Observation"}},
        ],
    }
    assert validator.validate(bundle) == []


def test_valid_resource_with_contained(validator: StructuralValidator) -> None:
    obs = observation()
    obs["contained"] = [{"resourceType": "Patient", "id": "p1", "gender": "other"}]
    obs["subject"] = {"reference": "#p1"}
    assert validator.validate(obs) == []


def test_valid_questionnaire_with_nested_items(validator: StructuralValidator) -> None:
    questionnaire = {
        "resourceType": "Questionnaire",
        "status": "draft",
        "item": [
            {
                "linkId": "1",
                "type": "group",
                "item": [
                    {
                        "linkId": "1.1",
                        "type": "boolean",
                        "item": [{"linkId": "1.1.1", "type": "string"}],
                    }
                ],
            }
        ],
    }
    assert validator.validate(questionnaire) == []
    questionnaire["item"][0]["item"][0]["item"][0]["bogus"] = 1
    assert_one(
        validator.validate(questionnaire),
        "structure",
        "Questionnaire.item[0].item[0].item[0].bogus",
    )


def test_primitive_array_with_extension_only_entries(validator: StructuralValidator) -> None:
    pat = patient()
    pat["name"][0]["given"] = ["Camille", None]
    pat["name"][0]["_given"] = [
        None,
        {"extension": [{"url": "http://example.org/x", "valueCode": "a"}]},
    ]
    assert validator.validate(pat) == []


def test_french_text_with_non_breaking_space_is_valid(validator: StructuralValidator) -> None:
    pat = patient()
    pat["name"][0]["text"] = "Camille\u00a0Exemple : test « ok »"
    assert validator.validate(pat) == []


def test_control_characters_in_strings_are_refused(validator: StructuralValidator) -> None:
    """Below U+0020 FHIR strings allow only tab, CR and LF; the R4 regexes let the others
    through (a NUL then failed in PostgreSQL as a database error)."""
    pat = patient()
    pat["name"][0]["text"] = "Camille\tExemple\r\n"
    assert validator.validate(pat) == []
    pat["name"][0]["family"] = "Exem\x00ple"
    issue = only(validator.validate(pat))
    assert issue.expression == ["Patient.name[0].family"], issue
    assert "control character U+0000" in issue.diagnostics
    pat = patient()
    pat["text"]["div"] = '<div xmlns="http://www.w3.org/1999/xhtml">a\x1fb</div>'
    assert "control character U+001F" in only(validator.validate(pat)).diagnostics


# -- resourceType -------------------------------------------------------------------------


def test_missing_resource_type(validator: StructuralValidator) -> None:
    issue = only(validator.validate({"id": "x"}))
    assert issue.code == "invalid" and "resourceType" in issue.diagnostics


@pytest.mark.parametrize("rt", ["Patientt", "DomainResource", "HumanName", 12])
def test_unknown_or_abstract_resource_type(validator: StructuralValidator, rt: Any) -> None:
    issue = only(validator.validate({"resourceType": rt}))
    assert issue.code == "not-supported"
    assert str(rt) in issue.diagnostics


def test_resource_must_be_an_object(validator: StructuralValidator) -> None:
    assert only(validator.validate([])).code == "structure"  # type: ignore[arg-type]


# -- unknown elements and JSON shape ------------------------------------------------------


def test_unknown_top_level_element(validator: StructuralValidator) -> None:
    pat = patient()
    pat["foo"] = "bar"
    issue = assert_one(validator.validate(pat), "structure", "Patient.foo")
    assert "'foo'" in issue.diagnostics


def test_unknown_nested_element(validator: StructuralValidator) -> None:
    pat = patient()
    pat["name"][0]["foo"] = "bar"
    issue = assert_one(validator.validate(pat), "structure", "Patient.name[0].foo")
    assert "HumanName" in issue.diagnostics


def test_unknown_element_in_backbone(validator: StructuralValidator) -> None:
    pat = patient()
    pat["contact"][0]["nickname"] = "x"
    assert_one(validator.validate(pat), "structure", "Patient.contact[0].nickname")


def test_resource_type_not_allowed_inside_datatypes(validator: StructuralValidator) -> None:
    pat = patient()
    pat["name"][0]["resourceType"] = "HumanName"
    assert_one(validator.validate(pat), "structure", "Patient.name[0].resourceType")


def test_single_value_where_array_expected(validator: StructuralValidator) -> None:
    pat = patient()
    pat["name"] = {"family": "Exemple"}
    issue = assert_one(validator.validate(pat), "structure", "Patient.name")
    assert "array" in issue.diagnostics


def test_array_where_single_value_expected(validator: StructuralValidator) -> None:
    pat = patient()
    pat["gender"] = ["female"]
    issue = assert_one(validator.validate(pat), "structure", "Patient.gender")
    assert "single value" in issue.diagnostics


def test_array_of_primitives_where_object_expected(validator: StructuralValidator) -> None:
    pat = patient()
    pat["name"] = ["Camille Exemple"]
    assert_one(validator.validate(pat), "structure", "Patient.name[0]")


def test_null_values_are_rejected(validator: StructuralValidator) -> None:
    pat = patient()
    pat["gender"] = None
    assert_one(validator.validate(pat), "structure", "Patient.gender")
    pat = patient()
    pat["name"][0]["given"] = ["Camille", None]
    assert_one(validator.validate(pat), "structure", "Patient.name[0].given[1]")
    pat = patient()
    pat["name"] = [None]
    assert_one(validator.validate(pat), "structure", "Patient.name[0]")


def test_empty_arrays_and_objects_are_rejected(validator: StructuralValidator) -> None:
    pat = patient()
    pat["identifier"] = []
    assert_one(validator.validate(pat), "structure", "Patient.identifier")
    pat = patient()
    pat["maritalStatus"] = {}
    assert_one(validator.validate(pat), "structure", "Patient.maritalStatus")


def test_element_with_only_an_id_violates_ele1(validator: StructuralValidator) -> None:
    pat = patient()
    pat["maritalStatus"] = {"id": "m1"}
    assert_one(validator.validate(pat), "invariant", "Patient.maritalStatus")


# -- cardinality --------------------------------------------------------------------------


def test_missing_required_top_level_element(validator: StructuralValidator) -> None:
    obs = observation()
    del obs["status"]
    issue = assert_one(validator.validate(obs), "required", "Observation.status")
    assert "status" in issue.diagnostics


def test_missing_required_nested_element(validator: StructuralValidator) -> None:
    obs = observation()
    del obs["component"][1]["code"]
    assert_one(validator.validate(obs), "required", "Observation.component[1].code")
    pat = patient()
    del pat["communication"][0]["language"]
    assert_one(validator.validate(pat), "required", "Patient.communication[0].language")


def test_required_primitive_satisfied_by_its_extension(validator: StructuralValidator) -> None:
    obs = observation()
    del obs["status"]
    obs["_status"] = {"extension": [{"url": "http://example.org/why", "valueString": "unknown"}]}
    assert validator.validate(obs) == []


def test_required_choice_element(validator: StructuralValidator) -> None:
    qr = {
        "resourceType": "Questionnaire",
        "status": "draft",
        "item": [
            {
                "linkId": "1",
                "type": "string",
                "enableWhen": [{"question": "0", "operator": "exists"}],
            }
        ],
    }
    assert_one(validator.validate(qr), "required", "Questionnaire.item[0].enableWhen[0].answer[x]")


def test_max_zero_in_simple_quantity(validator: StructuralValidator) -> None:
    obs = observation()
    obs["referenceRange"][0]["low"]["comparator"] = "<"
    assert_one(validator.validate(obs), "structure", "Observation.referenceRange[0].low.comparator")
    obs = observation()
    obs["valueQuantity"]["comparator"] = "<"  # plain Quantity allows it
    assert validator.validate(obs) == []


# -- choice types -------------------------------------------------------------------------


def test_choice_type_not_allowed(validator: StructuralValidator) -> None:
    obs = observation()
    del obs["valueQuantity"]
    obs["valueReference"] = {"reference": "Patient/pat-1"}
    issue = assert_one(validator.validate(obs), "structure", "Observation.valueReference")
    assert "valueQuantity" in issue.diagnostics  # lists the allowed spellings


def test_only_one_choice_of_a_group(validator: StructuralValidator) -> None:
    obs = observation()
    obs["valueString"] = "soixante-douze"
    issue = assert_one(validator.validate(obs), "structure", "Observation.valueString")
    assert "valueQuantity" in issue.diagnostics and "valueString" in issue.diagnostics


def test_choice_value_is_validated_against_its_type(validator: StructuralValidator) -> None:
    obs = observation()
    obs["valueQuantity"]["value"] = "72"
    assert_one(validator.validate(obs), "value", "Observation.value.ofType(Quantity).value")


# -- primitives ---------------------------------------------------------------------------


def _at(key: str) -> str:
    """FHIRPath of a JSON property: `deceasedDateTime` -> `deceased.ofType(dateTime)`."""
    for base in ("deceased", "multipleBirth", "value"):
        suffix = key[len(base) :]
        if key.startswith(base) and suffix[:1].isupper():
            code = (
                suffix if suffix in ("Quantity", "SampledData") else suffix[0].lower() + suffix[1:]
            )
            return f"{base}.ofType({code})"
    return key


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("birthDate", "1980-13-01"),
        ("birthDate", "1980-02-30"),
        ("birthDate", "80-01-01"),
        ("birthDate", "1980-01-01T10:00:00Z"),
        ("birthDate", 1980),
        ("deceasedDateTime", "2020-01-01T10:00:00"),  # a time needs a zone
        ("deceasedDateTime", "2020-01-01T25:00:00Z"),
        ("id", "has space"),
        ("id", "x" * 65),
        ("id", "é"),
        ("gender", " female"),
        ("gender", "fe  male"),
        ("gender", ""),
        ("active", "true"),
        ("active", 1),
        ("implicitRules", "http://example.org/a b"),
        ("multipleBirthInteger", 2.5),
        ("multipleBirthInteger", 2**31),
        ("multipleBirthInteger", True),
    ],
)
def test_invalid_patient_primitive(validator: StructuralValidator, field: str, value: Any) -> None:
    pat = patient()
    pat[field] = value
    issue = assert_one(validator.validate(pat), "value", f"Patient.{_at(field)}")
    assert issue.diagnostics.startswith(f"Patient.{_at(field)}: ")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("birthDate", "1980"),
        ("birthDate", "1980-05"),
        ("deceasedDateTime", "2020-01-01T10:00:00.5+14:00"),
        ("id", "A-Za-z0-9.-"),
        ("multipleBirthInteger", -3),
        ("gender", "other"),
    ],
)
def test_valid_patient_primitive(validator: StructuralValidator, field: str, value: Any) -> None:
    pat = patient()
    pat[field] = value
    assert validator.validate(pat) == []


def test_empty_string_is_rejected(validator: StructuralValidator) -> None:
    pat = patient()
    pat["name"][0]["given"][1] = ""
    issue = assert_one(validator.validate(pat), "value", "Patient.name[0].given[1]")
    assert "empty" in issue.diagnostics


def test_instant_requires_full_precision_and_zone(validator: StructuralValidator) -> None:
    pat = patient()
    pat["meta"]["lastUpdated"] = "2024-01-02"
    assert_one(validator.validate(pat), "value", "Patient.meta.lastUpdated")


def test_decimal_must_be_a_json_number(validator: StructuralValidator) -> None:
    obs = observation()
    obs["component"][0]["valueQuantity"]["value"] = "120.5"
    issue = assert_one(
        validator.validate(obs), "value", "Observation.component[0].value.ofType(Quantity).value"
    )
    assert "number" in issue.diagnostics


@pytest.mark.parametrize(
    ("path", "value", "ok"),
    [
        ("positiveInt", 0, False),
        ("positiveInt", 1, True),
        ("unsignedInt", -1, False),
        ("unsignedInt", 0, True),
    ],
)
def test_integer_ranges(validator: StructuralValidator, path: str, value: int, ok: bool) -> None:
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": 0}
    sampled = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "valueSampledData": {"origin": {"value": 0}, "period": 1, "dimensions": 1},
    }
    if path == "positiveInt":
        sampled["valueSampledData"]["dimensions"] = value
        issues = validator.validate(sampled)
        expression = "Observation.value.ofType(SampledData).dimensions"
    else:
        bundle["total"] = value
        issues = validator.validate(bundle)
        expression = "Bundle.total"
    if ok:
        assert issues == []
    else:
        assert_one(issues, "value", expression)


@pytest.mark.parametrize(
    ("choice", "value", "ok"),
    [
        ("valueOid", "urn:oid:1.2.250.1.71", True),
        ("valueOid", "1.2.250", False),
        ("valueUuid", "urn:uuid:0b6f1e5c-3f0a-4c5e-9a39-1f2d3c4b5a69", True),
        ("valueUuid", "urn:uuid:0B6F1E5C-3F0A-4C5E-9A39-1F2D3C4B5A69", False),
        ("valueCanonical", "http://example.org/fhir/StructureDefinition/x|1.0", True),
        ("valueUrl", "http://example.org/a b", False),
    ],
)
def test_uri_family(validator: StructuralValidator, choice: str, value: str, ok: bool) -> None:
    params = {"resourceType": "Parameters", "parameter": [{"name": "p", choice: value}]}
    issues = validator.validate(params)
    if ok:
        assert issues == []
    else:
        assert_one(issues, "value", f"Parameters.parameter[0].{_at(choice)}")


def test_base64_binary(validator: StructuralValidator) -> None:
    binary = {"resourceType": "Binary", "contentType": "text/plain", "data": "SGVsbG8="}
    assert validator.validate(binary) == []
    binary["data"] = "not base64!"
    assert_one(validator.validate(binary), "value", "Binary.data")


def test_time_primitive(validator: StructuralValidator) -> None:
    obs = observation()
    del obs["valueQuantity"]
    obs["valueTime"] = "08:30:00"
    assert validator.validate(obs) == []
    obs["valueTime"] = "8:30"
    assert_one(validator.validate(obs), "value", "Observation.value.ofType(time)")


def test_narrative_div_must_be_a_div(validator: StructuralValidator) -> None:
    pat = patient()
    pat["text"]["div"] = "<p>hello</p>"
    assert_one(validator.validate(pat), "value", "Patient.text.div")
    pat = patient()
    del pat["text"]["div"]
    assert_one(validator.validate(pat), "required", "Patient.text.div")


# -- primitive extensions (_name) ---------------------------------------------------------


def test_primitive_extension_content_is_checked(validator: StructuralValidator) -> None:
    pat = patient()
    pat["_birthDate"] = {"extension": [{"url": BIRTH_TIME, "valueDateTime": "yesterday"}]}
    assert_one(
        validator.validate(pat), "value", "Patient.birthDate.extension[0].value.ofType(dateTime)"
    )
    pat = patient()
    pat["_birthDate"] = {"foo": 1}
    assert_one(validator.validate(pat), "structure", "Patient.birthDate.foo")
    pat = patient()
    pat["_birthDate"] = {"id": "b1"}
    assert_one(validator.validate(pat), "invariant", "Patient.birthDate")


def test_primitive_extension_without_value(validator: StructuralValidator) -> None:
    pat = patient()
    del pat["birthDate"]
    assert validator.validate(pat) == []


def test_primitive_extension_on_non_primitive_or_unknown(validator: StructuralValidator) -> None:
    pat = patient()
    pat["_name"] = {"id": "n"}
    assert_one(validator.validate(pat), "structure", "Patient._name")
    pat = patient()
    pat["_nickname"] = {"extension": [{"url": "http://example.org/x", "valueString": "x"}]}
    assert_one(validator.validate(pat), "structure", "Patient._nickname")


def test_primitive_extension_shape(validator: StructuralValidator) -> None:
    pat = patient()
    pat["_birthDate"] = [{"id": "x"}]
    assert_one(validator.validate(pat), "structure", "Patient._birthDate")
    pat = patient()
    pat["name"][0]["_given"] = [None]  # misaligned with two given names
    assert_one(validator.validate(pat), "structure", "Patient.name[0].given")
    pat = patient()
    pat["name"][0]["_given"] = {"id": "x"}
    assert_one(validator.validate(pat), "structure", "Patient.name[0].given")


def test_xhtml_cannot_have_extensions(validator: StructuralValidator) -> None:
    pat = patient()
    pat["text"]["_div"] = {"id": "d"}
    assert_one(validator.validate(pat), "structure", "Patient.text._div")


# -- extensions ---------------------------------------------------------------------------


def test_valid_extensions(validator: StructuralValidator) -> None:
    pat = patient()
    pat["extension"] = [
        {"url": "http://example.org/simple", "valueBoolean": True},
        {
            "url": "http://example.org/complex",
            "extension": [
                {"url": "part", "valueCodeableConcept": {"text": "x"}},
                {"url": "when", "valuePeriod": {"start": "2024"}},
            ],
        },
    ]
    pat["modifierExtension"] = [{"url": "http://example.org/mod", "valueCode": "x"}]
    assert validator.validate(pat) == []


def test_extension_without_url(validator: StructuralValidator) -> None:
    pat = patient()
    pat["extension"] = [{"valueString": "x"}]
    assert_one(validator.validate(pat), "required", "Patient.extension[0].url")


def test_extension_with_value_and_children(validator: StructuralValidator) -> None:
    pat = patient()
    pat["extension"] = [
        {
            "url": "http://example.org/both",
            "valueString": "x",
            "extension": [{"url": "a", "valueString": "y"}],
        }
    ]
    assert_one(validator.validate(pat), "invariant", "Patient.extension[0]")


def test_extension_with_neither_value_nor_children(validator: StructuralValidator) -> None:
    pat = patient()
    pat["name"][0]["extension"] = [{"url": "http://example.org/empty"}]
    assert_one(validator.validate(pat), "invariant", "Patient.name[0].extension[0]")


def test_extension_value_type_must_exist(validator: StructuralValidator) -> None:
    pat = patient()
    pat["extension"] = [{"url": "http://example.org/x", "valueFoo": "x"}]
    issue = assert_one(validator.validate(pat), "structure", "Patient.extension[0].valueFoo")
    assert "valueString" in issue.diagnostics


def test_nested_extension_is_validated(validator: StructuralValidator) -> None:
    pat = patient()
    pat["extension"] = [
        {"url": "http://example.org/c", "extension": [{"url": "a", "valueInteger": "1"}]}
    ]
    assert_one(
        validator.validate(pat), "value", "Patient.extension[0].extension[0].value.ofType(integer)"
    )


# -- contained and inline resources ---------------------------------------------------------


def test_contained_resource_is_validated(validator: StructuralValidator) -> None:
    obs = observation()
    obs["contained"] = [
        {"resourceType": "Patient", "id": "p1"},
        {"resourceType": "Patient", "id": "p2", "birthDate": "2020-02-31"},
    ]
    assert_one(validator.validate(obs), "value", "Observation.contained[1].birthDate")


def test_contained_resource_needs_a_known_type(validator: StructuralValidator) -> None:
    obs = observation()
    obs["contained"] = [{"id": "p1"}]
    assert_one(validator.validate(obs), "invalid", "Observation.contained[0]")
    obs["contained"] = [{"resourceType": "Nope"}]
    assert_one(validator.validate(obs), "not-supported", "Observation.contained[0]")


def test_contained_rules(validator: StructuralValidator) -> None:
    obs = observation()
    obs["contained"] = [
        {"resourceType": "Patient", "id": "p1", "contained": [{"resourceType": "Patient"}]}
    ]
    issues = validator.validate(obs)
    assert [i.code for i in issues] == ["invariant"]
    assert issues[0].expression == ["Observation.contained[0].contained"]
    obs["contained"] = [{"resourceType": "Patient", "id": "p1", "meta": {"versionId": "2"}}]
    assert_one(validator.validate(obs), "invariant", "Observation.contained[0].meta")


def test_bundle_entry_resources_are_validated(validator: StructuralValidator) -> None:
    bad_obs = observation()
    bad_obs["valueQuantity"]["value"] = "high"
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": patient()}, {"resource": bad_obs}],
    }
    assert_one(
        validator.validate(bundle), "value", "Bundle.entry[1].resource.value.ofType(Quantity).value"
    )
    bundle["entry"][0]["resource"] = {"resourceType": "Patient", "unknown": True}
    assert len(validator.validate(bundle)) == 2


def test_typed_inline_resource_must_match(validator: StructuralValidator) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction-response",
        "entry": [{"response": {"status": "400", "outcome": patient()}}],
    }
    assert_one(validator.validate(bundle), "structure", "Bundle.entry[0].response.outcome")


def test_issues_are_reported_together(validator: StructuralValidator) -> None:
    pat = patient()
    pat["foo"] = 1
    pat["gender"] = 3
    pat["name"][0]["given"] = []
    codes = sorted(i.code for i in validator.validate(pat))
    assert codes == ["structure", "structure", "value"]


def test_validate_does_not_modify_the_resource(validator: StructuralValidator) -> None:
    pat = patient()
    pat["foo"] = 1
    before = copy.deepcopy(pat)
    validator.validate(pat)
    assert pat == before


# -- pipeline -----------------------------------------------------------------------------


class _Always:
    def __init__(self, issue: Issue) -> None:
        self.issue = issue
        self.calls = 0

    def validate(self, resource: dict[str, Any]) -> list[Issue]:
        self.calls += 1
        return [self.issue]


def test_pipeline_runs_validators_in_order(validator: StructuralValidator) -> None:
    warn = _Always(Issue("warning", "business-rule", "profile says hi"))
    pipeline = ValidationPipeline([validator])
    pipeline.append(warn)
    pat = patient()
    pat["foo"] = 1
    issues = pipeline.validate(pat)
    assert [i.code for i in issues] == ["structure", "business-rule"]
    assert isinstance(validator, ResourceValidator)


def test_pipeline_can_stop_on_error(validator: StructuralValidator) -> None:
    later = _Always(Issue("warning", "business-rule", "x"))
    pipeline = ValidationPipeline([validator, later], stop_on_error=True)
    assert pipeline.validate({"resourceType": "Nope"})[0].code == "not-supported"
    assert later.calls == 0
    assert [i.code for i in pipeline.validate(patient())] == ["business-rule"]


def test_absurdly_deep_nesting_is_reported_not_raised(validator: StructuralValidator) -> None:
    item: dict[str, Any] = {"linkId": "leaf", "type": "display"}
    for i in range(2000):
        item = {"linkId": str(i), "type": "group", "item": [item]}
    issues = validator.validate(
        {"resourceType": "Questionnaire", "status": "draft", "item": [item]}
    )
    assert [i.code for i in issues] == ["too-costly"]
