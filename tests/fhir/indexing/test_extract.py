from __future__ import annotations

import copy
import time

import pytest

from socle.fhir.indexing.entries import (
    DATE_MAX,
    CompositeEntry,
    DateEntry,
    QuantityEntry,
    ReferenceEntry,
    StringEntry,
    TokenEntry,
    UriEntry,
)
from socle.fhir.indexing.extract import EXTRACTOR_VERSION, IndexExtractor, native_coverage
from socle.fhir.indexing.registry import load_r4_registry
from tests.fhir.indexing import samples as s
from tests.fhir.indexing.test_registry import MAILBOX_MSS
from tests.fhir.test_datetime import us

LOINC, UCUM = s.LOINC, s.UCUM
MMHG = "g.m-1.s-2"


@pytest.fixture(scope="module")
def extractor() -> IndexExtractor:
    return IndexExtractor(base_url="https://annuaire.example.org/fhir/")


def param(entries: list, code: str) -> list:
    return [e for e in entries if e.param == code]


# ----------------------------------------------------------------------------- Patient


def test_patient_names(extractor: IndexExtractor) -> None:
    entries = extractor.extract(s.PATIENT)
    assert param(entries, "family") == [
        StringEntry("family", "d artagnan helene", "D'Artagnan-Hélène")
    ]
    assert param(entries, "given") == [
        StringEntry("given", "loetitia", "Lœtitia"),
        StringEntry("given", "marie", "Marie"),
    ]
    assert param(entries, "name") == [
        StringEntry("name", "mme", "Mme"),
        StringEntry("name", "loetitia", "Lœtitia"),
        StringEntry("name", "marie", "Marie"),
        StringEntry("name", "d artagnan helene", "D'Artagnan-Hélène"),
        StringEntry(
            "name", "mme loetitia marie d artagnan helene", "Mme Lœtitia Marie D'Artagnan-Hélène"
        ),
        StringEntry("name", "laetitia dartagnan", "Laetitia Dartagnan"),
    ]


def test_patient_tokens(extractor: IndexExtractor) -> None:
    entries = extractor.extract(s.PATIENT)
    assert param(entries, "identifier") == [
        TokenEntry(
            "identifier",
            s.INS_NIR,
            "281097512345678",
            "nir definitif",
            "http://interopsante.org/CodeSystem/fr-v2-0203",
            "INS-NIR",
        ),
        TokenEntry("identifier", "http://hopital.example.org/ipp", "IPP-42", None),
    ]
    assert param(entries, "gender") == [TokenEntry("gender", None, "female", None)]
    assert param(entries, "active") == [TokenEntry("active", None, "true", None)]
    assert param(entries, "deceased") == [TokenEntry("deceased", None, "false", None)]
    assert param(entries, "telecom") == [
        TokenEntry("telecom", None, "+33 1 23 45 67 89", None),
        TokenEntry("telecom", None, "loetitia@example.org", None),
    ]
    assert param(entries, "phone") == [TokenEntry("phone", None, "+33 1 23 45 67 89", None)]
    assert param(entries, "email") == [TokenEntry("email", None, "loetitia@example.org", None)]


def test_patient_resource_level_params(extractor: IndexExtractor) -> None:
    entries = extractor.extract(s.PATIENT)
    meta = s.PATIENT["meta"]
    assert param(entries, "_profile") == [UriEntry("_profile", meta["profile"][0])]
    assert param(entries, "_tag") == [TokenEntry("_tag", "http://example.org/tags", "demo", None)]
    assert param(entries, "_security") == [
        TokenEntry(
            "_security", "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "N", None
        )
    ]
    assert param(entries, "_source") == [UriEntry("_source", "http://example.org/source#abc")]
    assert param(entries, "_id") == param(entries, "_lastUpdated") == []


def test_patient_dates_addresses_and_references(extractor: IndexExtractor) -> None:
    entries = extractor.extract(s.PATIENT)
    assert param(entries, "birthdate") == [
        DateEntry("birthdate", us(1981, 9, 7), us(1981, 9, 8) - 1)
    ]
    assert param(entries, "address-city") == [
        StringEntry("address-city", "saint etienne", "Saint-Étienne")
    ]
    assert [e.value for e in param(entries, "address")] == [
        "12 rue de l eglise",
        "batiment b",
        "saint etienne",
        "42000",
        "fra",
    ]
    assert param(entries, "general-practitioner") == [
        ReferenceEntry("general-practitioner", "Practitioner", "pr1", None, None),
        # absolute URL under the server base: indexed as local
        ReferenceEntry("general-practitioner", "Organization", "o9", None, None),
    ]
    assert param(entries, "general-practitioner:identifier") == [
        TokenEntry("general-practitioner:identifier", s.RPPS, "10001234567", None)
    ]
    assert param(entries, "organization") == [
        ReferenceEntry("organization", "Organization", "o1", None, None)
    ]


def test_absolute_reference_keeps_url_without_base() -> None:
    entries = IndexExtractor().extract(s.PATIENT)
    url = "https://annuaire.example.org/fhir/Organization/o9"
    assert ReferenceEntry("general-practitioner", "Organization", "o9", url, None) in entries


# ------------------------------------------------------------------------- Observation


def test_observation(extractor: IndexExtractor) -> None:
    entries = extractor.extract(s.OBSERVATION)
    weight = TokenEntry("code", LOINC, "29463-7", "body weight")
    assert param(entries, "code") == [weight, TokenEntry("code", None, None, "poids")]
    kg = ("http://unitsofmeasure.org", "kg", "kg", "g", 72500.0)
    assert param(entries, "value-quantity") == [
        QuantityEntry("value-quantity", 72.5, 72.45, 72.55, *kg)
    ]
    at = us(2024, 3, 1, 9)
    assert param(entries, "date") == [DateEntry("date", at, at + 999_999)]
    assert param(entries, "subject") == [ReferenceEntry("subject", "Patient", "p1", None, None)]
    assert param(entries, "patient") == [ReferenceEntry("patient", "Patient", "p1", None, None)]
    assert param(entries, "category") == [
        TokenEntry(
            "category",
            "http://terminology.hl7.org/CodeSystem/observation-category",
            "vital-signs",
            "vital signs",
        )
    ]
    assert param(entries, "code-value-quantity") == [
        CompositeEntry(
            "code-value-quantity",
            (weight, QuantityEntry("value-quantity", 72.5, 72.45, 72.55, *kg)),
        )
    ]
    assert param(entries, "component-code-value-quantity") == []
    assert param(entries, "value-concept") == param(entries, "value-string") == []


def test_observation_components(extractor: IndexExtractor) -> None:
    entries = extractor.extract(s.BLOOD_PRESSURE)
    systolic = TokenEntry("component-code", LOINC, "8480-6", None)
    diastolic = TokenEntry("component-code", LOINC, "8462-4", None)
    assert param(entries, "component-code") == [systolic, diastolic]
    q120 = QuantityEntry(
        "component-value-quantity", 120.0, 119.5, 120.5, UCUM, "mm[Hg]", "mmHg", MMHG, 15998640.0
    )
    q80 = QuantityEntry(
        "component-value-quantity", 80.0, 79.5, 80.5, UCUM, "mm[Hg]", "mmHg", MMHG, 10665760.0
    )
    assert param(entries, "component-value-quantity") == [q120, q80]
    # each composite pairs values of the same component only
    assert param(entries, "component-code-value-quantity") == [
        CompositeEntry("component-code-value-quantity", (systolic, q120)),
        CompositeEntry("component-code-value-quantity", (diastolic, q80)),
    ]
    combo_codes = [e.code for e in param(entries, "combo-code")]
    assert combo_codes == ["85354-9", "8480-6", "8462-4"]
    combos = param(entries, "combo-code-value-quantity")
    assert [(c.components[0].code, c.components[1].value) for c in combos] == [
        ("8480-6", 120.0),
        ("8462-4", 80.0),
    ]
    assert param(entries, "date") == [
        DateEntry("date", us(2024, 3, 1), us(2024, 3, 2, 12, 30, 1) - 1)
    ]
    # urn:uuid subject with Reference.type: kept by "resolve() is Patient", url only
    urn = s.BLOOD_PRESSURE["subject"]["reference"]
    assert param(entries, "patient") == [ReferenceEntry("patient", "Patient", None, urn, None)]
    assert param(entries, "focus") == [ReferenceEntry("focus", "Group", "g1", None, None)]


def test_observation_subject_group_is_not_patient(extractor: IndexExtractor) -> None:
    obs = {**s.OBSERVATION, "subject": {"reference": "Group/g1"}}
    entries = extractor.extract(obs)
    assert param(entries, "patient") == []
    assert param(entries, "subject") == [ReferenceEntry("subject", "Group", "g1", None, None)]


# ------------------------------------------------------------- Encounter, DocumentReference


def test_encounter(extractor: IndexExtractor) -> None:
    entries = extractor.extract(s.ENCOUNTER)
    period = DateEntry("date", us(2024, 3, 1, 7), us(2024, 3, 6) - 1)
    assert param(entries, "date") == [period]
    assert param(entries, "class") == [
        TokenEntry("class", "http://terminology.hl7.org/CodeSystem/v3-ActCode", "IMP", None)
    ]
    assert param(entries, "length") == [
        QuantityEntry("length", 4.0, 3.5, 4.5, UCUM, "d", "days", "s", 345600.0)
    ]
    assert param(entries, "practitioner") == [
        ReferenceEntry("practitioner", "Practitioner", "pr1", None, None)
    ]
    open_ended = {**s.ENCOUNTER, "period": {"start": "2024-03-01T08:00:00+01:00"}}
    assert param(extractor.extract(open_ended), "date") == [
        DateEntry("date", us(2024, 3, 1, 7), DATE_MAX)
    ]


def test_document_reference(extractor: IndexExtractor) -> None:
    entries = extractor.extract(s.DOCUMENT_REFERENCE)
    assert param(entries, "type") == [TokenEntry("type", LOINC, "11488-4", "consult note")]
    at = us(2024, 3, 2, 9, 15, 30, 250_000)
    assert param(entries, "date") == [DateEntry("date", at, at + 9_999)]
    assert param(entries, "subject") == [ReferenceEntry("subject", "Patient", "p1", None, None)]
    assert param(entries, "relatesto") == [
        ReferenceEntry("relatesto", "DocumentReference", "d0", None, None)
    ]
    assert param(entries, "relation") == [TokenEntry("relation", None, "replaces", None)]
    assert param(entries, "relationship") == [
        CompositeEntry(
            "relationship",
            (
                TokenEntry("relation", None, "replaces", None),
                ReferenceEntry("relatesto", "DocumentReference", "d0", None, None),
            ),
        )
    ]
    assert param(entries, "period") == [DateEntry("period", us(2024, 2, 1), DATE_MAX)]
    assert param(entries, "identifier") == [
        TokenEntry("identifier", "urn:ietf:rfc:3986", "urn:oid:1.2.3.4.5", None)
    ]
    assert param(entries, "location") == [UriEntry("location", "http://example.org/docs/d1.pdf")]


# ------------------------------------------------------------ MedicationRequest, Condition


def test_medication_request(extractor: IndexExtractor) -> None:
    entries = extractor.extract(s.MEDICATION_REQUEST)
    assert param(entries, "code") == [
        TokenEntry("code", "http://phast.fr/cip", "3400930000000", None),
        TokenEntry("code", None, None, "paracetamol 500 mg"),
    ]
    assert param(entries, "authoredon") == [
        DateEntry("authoredon", us(2024, 3, 1), us(2024, 3, 2) - 1)
    ]
    assert param(entries, "patient") == [ReferenceEntry("patient", "Patient", "p1", None, None)]
    assert param(entries, "intent") == [TokenEntry("intent", None, "order", None)]
    by_reference = {**s.MEDICATION_REQUEST, "medicationReference": {"reference": "Medication/m9"}}
    del by_reference["medicationCodeableConcept"]
    entries = extractor.extract(by_reference)
    assert param(entries, "code") == []
    assert param(entries, "medication") == [
        ReferenceEntry("medication", "Medication", "m9", None, None)
    ]


def test_condition(extractor: IndexExtractor) -> None:
    entries = extractor.extract(s.CONDITION)
    assert param(entries, "onset-age") == [
        QuantityEntry("onset-age", 52.0, 51.5, 52.5, UCUM, "a", "a", "s", 1640995200.0)
    ]
    assert param(entries, "onset-date") == []  # onsetAge is not a date
    assert param(entries, "abatement-date") == [
        DateEntry("abatement-date", us(2024, 1, 1), us(2025, 1, 1) - 1)
    ]
    assert param(entries, "clinical-status") == [
        TokenEntry(
            "clinical-status",
            "http://terminology.hl7.org/CodeSystem/condition-clinical",
            "active",
            None,
        )
    ]


# --------------------------------------------------------------------------- packages


def test_package_search_parameter_on_organization() -> None:
    registry = load_r4_registry()
    extractor = IndexExtractor(registry)
    assert param(extractor.extract(s.ORGANIZATION), "mailbox-mss") == []
    fingerprint = extractor.fingerprint
    registry.add(MAILBOX_MSS)
    registry.add(
        {
            "resourceType": "SearchParameter",
            "url": "https://example.org/fhir/SearchParameter/mailbox-type",
            "code": "mailbox-type",
            "base": ["Organization"],
            "type": "token",
            "expression": "Organization.telecom.extension("
            "'https://example.org/fhir/StructureDefinition/mailbox-type').value",
        }
    )
    assert extractor.fingerprint != fingerprint
    assert extractor.fingerprint.startswith(f"{EXTRACTOR_VERSION}:")
    entries = extractor.extract(s.ORGANIZATION)  # the plan is rebuilt after add()
    assert param(entries, "mailbox-mss") == [
        StringEntry("mailbox-mss", "secretariat@hsl mssante fr", "secretariat@hsl.mssante.fr")
    ]
    assert param(entries, "mailbox-type") == [TokenEntry("mailbox-type", None, "ORG", None)]


# -------------------------------------------------------------------------- robustness


def test_odd_data_is_skipped_value_by_value(extractor: IndexExtractor) -> None:
    patient = {
        "resourceType": "Patient",
        "birthDate": "le 7 septembre",
        "name": [{"given": [None, 5, "Zoé"], "family": {"x": 1}}, "not a name", None],
        "identifier": ["x", {"system": "s", "value": "v"}, {"value": 12}],
        "telecom": {"value": "01"},  # not a list
        "gender": ["female"],
        "generalPractitioner": [{"reference": 12}, {"reference": "Practitioner/ok"}],
        "deceasedBoolean": "yes",
    }
    entries = extractor.extract(patient)
    assert param(entries, "birthdate") == []
    assert param(entries, "given") == [StringEntry("given", "zoe", "Zoé")]
    assert param(entries, "identifier") == [TokenEntry("identifier", "s", "v", None)]
    assert param(entries, "telecom") == [TokenEntry("telecom", None, "01", None)]
    assert param(entries, "gender") == [TokenEntry("gender", None, "female", None)]
    assert param(entries, "general-practitioner") == [
        ReferenceEntry("general-practitioner", "Practitioner", "ok", None, None)
    ]
    obs = copy.deepcopy(s.OBSERVATION)
    obs["valueQuantity"]["value"] = "abc"
    obs["effectiveDateTime"] = 2024
    entries = extractor.extract(obs)
    assert param(entries, "value-quantity") == param(entries, "date") == []
    assert param(entries, "code-value-quantity") == []
    assert len(param(entries, "code")) == 2


def test_degenerate_inputs(extractor: IndexExtractor) -> None:
    assert extractor.extract({}) == []
    assert extractor.extract({"resourceType": 3}) == []
    assert extractor.extract([]) == []  # type: ignore[arg-type]
    assert extractor.extract({"resourceType": "Unknown", "meta": {"tag": [{"code": "t"}]}}) == [
        TokenEntry("_tag", None, "t", None)
    ]


def test_entries_are_deduplicated(extractor: IndexExtractor) -> None:
    patient = {
        "resourceType": "Patient",
        "name": [{"family": "Martin"}, {"family": "Martin"}],
        "identifier": [{"system": "s", "value": "1"}, {"system": "s", "value": "1"}],
    }
    entries = extractor.extract(patient)
    assert param(entries, "family") == [StringEntry("family", "martin", "Martin")]
    assert len(param(entries, "identifier")) == 1
    assert len(entries) == len(set(entries))


def test_composite_combinations_are_capped() -> None:
    extractor = IndexExtractor(max_combinations=3)
    obs = copy.deepcopy(s.OBSERVATION)
    obs["code"]["coding"] = [{"system": LOINC, "code": str(i)} for i in range(10)]
    assert len(param(extractor.extract(obs), "code-value-quantity")) == 3


def test_extract_speed(extractor: IndexExtractor) -> None:
    """Smoke guard: typical resources well under a millisecond (target <= 100 us)."""
    for resource in s.ALL:
        extractor.extract(resource)
        start = time.perf_counter()
        for _ in range(200):
            extractor.extract(resource)
        assert (time.perf_counter() - start) / 200 < 0.001, resource["resourceType"]


def test_native_coverage_report() -> None:
    native, total, fallbacks = native_coverage()
    assert (native, fallbacks) == (total, [])
    assert total > 1600
    registry = load_r4_registry()
    registry.add({**MAILBOX_MSS, "expression": "telecom.value.lower()"})
    native, total, fallbacks = native_coverage(registry)
    assert native == total - 3
    assert fallbacks[0] == "Organization.mailbox-mss: telecom.value.lower()"
