from __future__ import annotations

import pytest

from socle.fhir.indexing.registry import (
    SearchParamRegistry,
    default_registry,
    load_r4_registry,
    restrict_expression,
    split_union,
)

MAILBOX_MSS = {
    "resourceType": "SearchParameter",
    "id": "as-sp-mailbox-mss",
    "url": "https://interop.esante.gouv.fr/ig/fhir/annuaire/SearchParameter/as-sp-mailbox-mss",
    "version": "1.0.0",
    "name": "AsMailboxMssSearchParameter",
    "status": "active",
    "code": "mailbox-mss",
    "base": ["Organization", "Practitioner", "PractitionerRole"],
    "type": "string",
    "expression": "telecom.value",
    "modifier": ["contains", "exact"],
}


def test_r4_bundle_is_loaded() -> None:
    registry = default_registry()
    assert len(registry) == 1378
    assert registry is default_registry()
    assert len(registry.version) == 16
    assert registry.fingerprint() == registry.version
    assert load_r4_registry().version == registry.version


def test_union_is_restricted_per_base() -> None:
    registry = default_registry()
    telecom = registry.get("Patient", "telecom")
    assert telecom is not None
    assert telecom.expression == "Patient.telecom"
    assert "Person" in telecom.base  # the original bases are kept
    assert registry.get("Practitioner", "telecom").expression == "Practitioner.telecom"
    patient = registry.get("Observation", "patient")
    assert patient.expression == "Observation.subject.where(resolve() is Patient)"
    assert patient.targets == ("Patient",)
    assert patient.type == "reference"
    code = registry.get("MedicationRequest", "code")
    assert code.expression == "(MedicationRequest.medication as CodeableConcept)"
    # by_url gives the unrestricted definition
    full = registry.by_url(patient.url)
    assert full is not None and "Condition.subject" in (full.expression or "")


def test_resource_level_parameters_apply_to_all_types() -> None:
    registry = default_registry()
    patient = registry.for_type("Patient")
    for code in ("_id", "_lastUpdated", "_tag", "_profile", "_security", "_source"):
        assert code in patient
    assert "_text" in patient and "_content" in patient
    assert registry.get("Patient", "_tag").expression == "Resource.meta.tag"
    bundle = registry.for_type("Bundle")
    assert "_id" in bundle and "_text" not in bundle  # Bundle is not a DomainResource
    assert registry.get("Patient", "nope") is None
    assert registry.get("NotAType", "_id") is not None


def test_defaults_for_modifiers_and_comparators() -> None:
    registry = default_registry()
    birthdate = registry.get("Patient", "birthdate")
    assert set(birthdate.comparators) == {"eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"}
    custom = SearchParamRegistry([{**MAILBOX_MSS, "type": "number", "modifier": None}])
    assert custom.get("Organization", "mailbox-mss").comparators == (
        "eq",
        "ne",
        "gt",
        "lt",
        "ge",
        "le",
        "sa",
        "eb",
        "ap",
    )
    assert custom.get("Organization", "mailbox-mss").modifiers == ("missing",)
    assert registry.get("Patient", "family").modifiers == ("missing", "exact", "contains")
    assert "of-type" in registry.get("Patient", "identifier").modifiers
    assert registry.get("Patient", "name").comparators == ()
    assert registry.get("Patient", "name").multiple_or is True


def test_composite_components() -> None:
    registry = default_registry()
    combo = registry.get("Observation", "combo-code-value-quantity")
    assert combo.type == "composite"
    assert combo.expression == "Observation | Observation.component"
    assert combo.components == (
        ("http://hl7.org/fhir/SearchParameter/Observation-combo-code", "code"),
        (
            "http://hl7.org/fhir/SearchParameter/Observation-combo-value-quantity",
            "value.as(Quantity)",
        ),
    )
    assert registry.by_url(combo.components[1][0]).type == "quantity"


def test_relationship_errata_swaps_component_definitions() -> None:
    relationship = default_registry().get("DocumentReference", "relationship")
    assert relationship.components == (
        ("http://hl7.org/fhir/SearchParameter/DocumentReference-relation", "code"),
        ("http://hl7.org/fhir/SearchParameter/DocumentReference-relatesto", "target"),
    )


def test_add_package_parameter() -> None:
    registry = load_r4_registry()
    before, generation = registry.version, registry.generation
    param = registry.add(MAILBOX_MSS)
    assert param.code == "mailbox-mss"
    assert registry.version != before
    assert registry.generation == generation + 1
    for base in ("Organization", "Practitioner", "PractitionerRole"):
        found = registry.get(base, "mailbox-mss")
        assert found is not None and found.expression == "telecom.value"
    assert found.modifiers == ("contains", "exact")
    assert registry.get("Patient", "mailbox-mss") is None
    assert registry.by_url(MAILBOX_MSS["url"]) == param
    # adding the same definition again replaces it
    registry.add(
        {**MAILBOX_MSS, "expression": "Organization.telecom.value", "base": ["Organization"]}
    )
    assert registry.get("Practitioner", "mailbox-mss") is None
    assert registry.get("Organization", "mailbox-mss").expression == "Organization.telecom.value"


def test_package_parameter_overrides_core_code() -> None:
    registry = load_r4_registry()
    registry.add(
        {
            "resourceType": "SearchParameter",
            "url": "http://example.org/SearchParameter/org-name",
            "code": "name",
            "base": ["Organization"],
            "type": "string",
            "expression": "Organization.name",
        }
    )
    assert registry.get("Organization", "name").url == "http://example.org/SearchParameter/org-name"
    assert registry.get("Organization", "name").expression == "Organization.name"
    assert registry.get("Patient", "name").url == "http://hl7.org/fhir/SearchParameter/Patient-name"


def test_registry_from_bundle_and_invalid_parameters() -> None:
    registry = SearchParamRegistry.from_bundle(
        {"resourceType": "Bundle", "entry": [{"resource": MAILBOX_MSS}, {"resource": {"x": 1}}]}
    )
    assert len(registry) == 1
    assert registry.resource_types() == {"Organization", "Practitioner", "PractitionerRole"}
    with pytest.raises(ValueError):
        registry.add({"resourceType": "SearchParameter", "code": "x", "type": "token"})


def test_split_union_respects_parentheses_and_strings() -> None:
    assert split_union("A.b | (A.c as X) | A.d.where(x = 'p|q')") == [
        "A.b",
        "(A.c as X)",
        "A.d.where(x = 'p|q')",
    ]
    assert split_union("A.b") == ["A.b"]


def test_restrict_expression() -> None:
    expression = "Patient.name | Person.name | Resource.id | name"
    assert restrict_expression(expression, "Patient") == "Patient.name | Resource.id | name"
    assert restrict_expression(expression, "Group") == "Resource.id | name"
    assert restrict_expression("Person.name", "Patient") is None
    assert restrict_expression(expression, "Resource") == expression
    assert restrict_expression(None, "Patient") is None


def test_copy_is_independent() -> None:
    original = load_r4_registry()
    clone = original.copy()
    assert len(clone) == len(original) and clone.version == original.version
    assert clone.get("Patient", "name") == original.get("Patient", "name")
    clone.add(MAILBOX_MSS)
    assert clone.get("Organization", "mailbox-mss") is not None
    assert original.get("Organization", "mailbox-mss") is None
    assert clone.version != original.version
    assert len(clone) == len(original) + 1
