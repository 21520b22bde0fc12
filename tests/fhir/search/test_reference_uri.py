"""reference and uri parameters."""

from __future__ import annotations

import pytest

from tests.fhir.search.conftest import BASE, SearchDb

INS = "urn:oid:1.2.250.1.213.1.4.8"


def obs(oid: str, subject: dict, **extra) -> dict:  # noqa: ANN003
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"text": "x"},
        "subject": subject,
        **extra,
    }


@pytest.fixture
def refs(db: SearchDb) -> SearchDb:
    db.put_all(
        {"resourceType": "Patient", "id": "123"},
        {"resourceType": "Group", "id": "123", "type": "person", "actual": True},
        obs("rel", {"reference": "Patient/123"}),
        obs("abs-local", {"reference": f"{BASE}/Patient/123"}),
        obs("abs-remote", {"reference": "http://other.org/fhir/Patient/123"}),
        obs("group", {"reference": "Group/123"}),
        obs("versioned", {"reference": "Patient/123/_history/2"}),
        obs("ident", {"identifier": {"system": INS, "value": "1850"}}),
        obs("urn", {"reference": "urn:uuid:7f3b", "type": "Patient"}),
    )
    return db


def test_reference_forms(refs: SearchDb) -> None:
    local = {"rel", "abs-local", "versioned"}
    assert refs.idset("Observation", [("subject", "Patient/123")]) == local
    assert refs.idset("Observation", [("subject", "123")]) == local | {"group"}
    assert refs.idset("Observation", [("subject:Patient", "123")]) == local
    assert refs.idset("Observation", [("subject:Group", "123")]) == {"group"}
    assert refs.idset("Observation", [("subject", f"{BASE}/Patient/123")]) == local
    assert refs.idset("Observation", [("patient", "123")]) == local
    remote = "http://other.org/fhir/Patient/123"
    assert refs.idset("Observation", [("subject", remote)]) == {"abs-remote"}
    assert refs.idset("Observation", [("subject", "urn:uuid:7f3b")]) == {"urn"}
    assert refs.idset("Observation", [("subject", "Patient/123,Group/123")]) == local | {"group"}


def test_reference_identifier_and_missing(refs: SearchDb) -> None:
    assert refs.idset("Observation", [("subject:identifier", f"{INS}|1850")]) == {"ident"}
    assert refs.idset("Observation", [("subject:identifier", "1850")]) == {"ident"}
    assert refs.idset("Observation", [("subject:identifier", "other|1850")]) == set()
    refs.put({"resourceType": "Observation", "id": "orphan", "status": "final", "code": {}})
    assert refs.idset("Observation", [("subject:missing", "true")]) == {"orphan", "ident"}


def test_canonical_reference_with_version(db: SearchDb) -> None:
    q = "http://example.org/Questionnaire/phq9"
    for rid, canonical in [("v1", f"{q}|1.0"), ("v2", f"{q}|2.0"), ("nov", q)]:
        db.put(
            {
                "resourceType": "QuestionnaireResponse",
                "id": rid,
                "status": "completed",
                "questionnaire": canonical,
            }
        )
    assert db.idset("QuestionnaireResponse", [("questionnaire", f"{q}|2.0")]) == {"v2"}
    assert db.idset("QuestionnaireResponse", [("questionnaire", q)]) == {"v1", "v2", "nov"}


@pytest.fixture
def valuesets(db: SearchDb) -> SearchDb:
    for vid, url in [
        ("root", "http://acme.org/fhir"),
        ("vs", "http://acme.org/fhir/ValueSet/123"),
        ("vs-sub", "http://acme.org/fhir/ValueSet/123/extra"),
        ("near", "http://acme.org/fhirx/ValueSet/9"),
        ("urn", "urn:oid:1.2.3"),
    ]:
        db.put({"resourceType": "ValueSet", "id": vid, "status": "active", "url": url})
    return db


def test_uri_exact_below_above(valuesets: SearchDb) -> None:
    vs = "http://acme.org/fhir/ValueSet/123"
    assert valuesets.idset("ValueSet", [("url", vs)]) == {"vs"}
    assert valuesets.idset("ValueSet", [("url", "http://acme.org/fhir/ValueSet")]) == set()
    below = valuesets.idset("ValueSet", [("url:below", "http://acme.org/fhir")])
    assert below == {"root", "vs", "vs-sub"}  # not fhirx
    assert valuesets.idset("ValueSet", [("url:below", "http://acme.org/fhir/")]) == {"vs", "vs-sub"}
    above = valuesets.idset("ValueSet", [("url:above", f"{vs}/_history/5")])
    assert above == {"root", "vs"}
    assert valuesets.idset("ValueSet", [("url", "urn:oid:1.2.3")]) == {"urn"}
