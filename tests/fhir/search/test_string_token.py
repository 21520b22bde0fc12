"""string and token parameters, on both backends."""

from __future__ import annotations

import pytest

from socle.fhir.errors import FhirError
from tests.fhir.search.conftest import SearchDb

INS = "urn:oid:1.2.250.1.213.1.4.8"
RPPS = "urn:oid:1.2.250.1.71.4.2.1"


def patient(pid: str, family: str, given: str, **extra) -> dict:  # noqa: ANN003
    return {
        "resourceType": "Patient",
        "id": pid,
        "name": [{"family": family, "given": [given]}],
        **extra,
    }


@pytest.fixture
def people(db: SearchDb) -> SearchDb:
    db.put_all(
        patient(
            "p1",
            "Dupont",
            "Jean",
            gender="male",
            active=True,
            identifier=[{"system": INS, "value": "123"}],
        ),
        patient(
            "p2",
            "Dupond",
            "Hélène",
            gender="female",
            active=False,
            identifier=[{"system": "urn:other", "value": "123"}],
        ),
        patient("p3", "Lœtitia-Dûpré", "Zoé", gender="female", identifier=[{"value": "123"}]),
        patient(
            "p4",
            "Martin_50%",
            "Paul",
            gender="other",
            identifier=[
                {
                    "system": INS,
                    "value": "456",
                    "type": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                "code": "NI",
                            }
                        ],
                        "text": "Identifiant national",
                    },
                }
            ],
        ),
        patient("p5", "Martin", "Anne"),
    )
    return db


def test_string_starts_with_is_case_and_accent_insensitive(people: SearchDb) -> None:
    assert people.idset("Patient", [("family", "dup")]) == {"p1", "p2"}  # not a word inside
    assert people.idset("Patient", [("family", "DUPON")]) == {"p1", "p2"}
    assert people.idset("Patient", [("family", "loetitia dupre")]) == {"p3"}
    assert people.idset("Patient", [("name", "helene")]) == {"p2"}
    assert people.idset("Patient", [("given", "zo")]) == {"p3"}
    assert people.idset("Patient", [("family", "upont")]) == set()


def test_string_exact_and_contains(people: SearchDb) -> None:
    assert people.idset("Patient", [("family:exact", "Dupont")]) == {"p1"}
    assert people.idset("Patient", [("family:exact", "dupont")]) == set()
    assert people.idset("Patient", [("family:contains", "pon")]) == {"p1", "p2"}
    # % and _ are literal characters, not LIKE wildcards
    assert people.idset("Patient", [("family:contains", "n 50%")]) == {"p4"}
    assert people.idset("Patient", [("family:contains", "%")]) == {"p4"}
    assert people.idset("Patient", [("family:contains", "ma%in")]) == set()
    assert people.idset("Patient", [("family:contains", "rt%n")]) == set()


def test_string_or_and_and(people: SearchDb) -> None:
    assert people.idset("Patient", [("family", "dupont,martin")]) == {"p1", "p4", "p5"}
    assert people.idset("Patient", [("family", "dup"), ("given", "jean")]) == {"p1"}


def test_escaped_comma_is_not_an_or(people: SearchDb) -> None:
    people.put(patient("p6", "Smith, Jr", "Bob"))
    assert people.idset("Patient", [("family", r"smith\, jr")]) == {"p6"}
    assert people.idset("Patient", [("family:exact", r"Smith\, Jr")]) == {"p6"}
    assert people.idset("Patient", [("family:exact", "Smith, Jr")]) == set()


def test_token_forms(people: SearchDb) -> None:
    assert people.idset("Patient", [("identifier", "123")]) == {"p1", "p2", "p3"}
    assert people.idset("Patient", [("identifier", f"{INS}|123")]) == {"p1"}
    assert people.idset("Patient", [("identifier", "|123")]) == {"p3"}
    assert people.idset("Patient", [("identifier", f"{INS}|")]) == {"p1", "p4"}
    assert people.idset("Patient", [("identifier", f"{INS}|123,urn:other|123")]) == {"p1", "p2"}
    assert people.idset("Patient", [("gender", "female")]) == {"p2", "p3"}
    assert people.idset("Patient", [("active", "true")]) == {"p1"}


def test_token_not_includes_resources_without_a_value(people: SearchDb) -> None:
    assert people.idset("Patient", [("gender:not", "female")]) == {"p1", "p4", "p5"}
    assert people.idset("Patient", [("gender:not", "female,male")]) == {"p4", "p5"}


def test_token_text_and_of_type(people: SearchDb) -> None:
    assert people.idset("Patient", [("identifier:text", "national")]) == {"p4"}
    assert people.idset("Patient", [("identifier:text", "identifiant nat")]) == {"p4"}
    v2 = "http://terminology.hl7.org/CodeSystem/v2-0203"
    assert people.idset("Patient", [("identifier:of-type", f"{v2}|NI|456")]) == {"p4"}
    assert people.idset("Patient", [("identifier:of-type", f"{v2}|NI|123")]) == set()


def test_missing(people: SearchDb) -> None:
    assert people.idset("Patient", [("gender:missing", "true")]) == {"p5"}
    assert people.idset("Patient", [("gender:missing", "false")]) == {"p1", "p2", "p3", "p4"}
    assert people.idset("Patient", [("active:missing", "true")]) == {"p3", "p4", "p5"}
    assert people.idset("Patient", [("family:missing", "false")]) == {"p1", "p2", "p3", "p4", "p5"}
    assert people.idset("Patient", [("birthdate:missing", "true")]) == {
        "p1",
        "p2",
        "p3",
        "p4",
        "p5",
    }


def test_id_and_meta_params(people: SearchDb) -> None:
    people.put(
        {
            "resourceType": "Patient",
            "id": "p7",
            "meta": {
                "tag": [{"system": "urn:tags", "code": "vip"}],
                "profile": ["http://interopsante.org/fhir/StructureDefinition/FrPatient"],
                "security": [{"system": "urn:sec", "code": "R"}],
                "source": "urn:source:lab",
            },
        }
    )
    assert people.idset("Patient", [("_id", "p1,p3")]) == {"p1", "p3"}
    assert people.idset("Patient", [("_id:not", "p1")]) == {"p2", "p3", "p4", "p5", "p7"}
    assert people.idset("Patient", [("_tag", "urn:tags|vip")]) == {"p7"}
    assert people.idset("Patient", [("_tag", "vip")]) == {"p7"}
    profile = "http://interopsante.org/fhir/StructureDefinition/FrPatient"
    assert people.idset("Patient", [("_profile", profile)]) == {"p7"}
    assert people.idset("Patient", [("_security", "urn:sec|R")]) == {"p7"}
    assert people.idset("Patient", [("_source", "urn:source:lab")]) == {"p7"}
    assert people.idset("Patient", [("_tag:missing", "false")]) == {"p7"}


def test_lenient_mode_drops_bad_parameters(people: SearchDb) -> None:
    params = [("family", "dupont"), ("nope", "1"), ("gender:in", "http://vs"), ("_pretty", "true")]
    page = people.page("Patient", params, lenient=True)
    assert people.names(page.pks) == ["Patient/p1"]
    assert page.applied == [("family", "dupont"), ("_pretty", "true")]
    with pytest.raises(FhirError) as err:
        people.page("Patient", params)
    assert err.value.status == 400 and err.value.issues[0].expression == ["nope"]
