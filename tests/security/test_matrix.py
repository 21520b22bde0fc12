"""The habilitation matrix, cell by cell: every profession x document class, read and
write, allowed exactly where the policy data says so (and refused with an explanation
everywhere else)."""

from __future__ import annotations

import pytest

from socle.fhir.indexing.registry import default_registry
from socle.security.compartment import Compartments
from socle.security.information import PatientFacts
from socle.security.policy import Policy, load_policy_data
from socle.security.principal import Principal
from socle.security.scopes import Scopes
from tests.security.conftest import document

DATA = load_policy_data()
CLASSES = sorted(DATA["classes"])
PROFESSIONS = sorted(p for p in DATA["professions"] if p != "SECRETARIAT")


class FakeInformation:
    """Alice's facts: the subject is her médecin traitant (so only the matrix decides)."""

    def facts(self, tenant: str, patient: str) -> PatientFacts:
        return PatientFacts(patient, True, general_practitioners=frozenset({"Practitioner/me"}))


POLICY = Policy(DATA, Compartments(default_registry()), FakeInformation())


def subject(profession: str) -> Principal:
    return Principal(
        kind="practitioner",
        subject="me",
        issuer="test",
        scopes=Scopes.parse("user/*.cruds"),
        fhir_user="Practitioner/me",
        rpps="99700000099",
        profession=profession,
    )


@pytest.mark.parametrize("profession", PROFESSIONS)
def test_every_cell_of_the_matrix(profession: str) -> None:
    row = DATA["matrix"][profession]
    p = subject(profession)
    for doc_class in CLASSES:
        doc = dict(document("alice", doc_class), id=f"d{doc_class}")
        for action, mode in (("read", "read"), ("create", "write"), ("update", "write")):
            decision = POLICY.decide(p, action, "DocumentReference", doc, "t")
            expected = doc_class in row[mode]
            assert decision.allow is expected, (profession, doc_class, action, decision.reason)
            assert decision.reason
            if not expected:
                assert decision.status == 403
                assert decision.rule == "habilitation"
                assert DATA["classes"][doc_class] in decision.reason


def test_matrix_covers_every_profession_and_class() -> None:
    assert set(DATA["matrix"]) == set(DATA["professions"])
    for row in DATA["matrix"].values():
        assert set(row["read"]) <= set(CLASSES) and set(row["write"]) <= set(CLASSES)


def test_secretariat_row() -> None:
    p = Principal(
        kind="secretary",
        subject="sec",
        issuer="test",
        scopes=Scopes.parse("user/*.cruds"),
        acting_for="Practitioner/me",
    )
    row = DATA["matrix"]["SECRETARIAT"]
    for doc_class in CLASSES:
        doc = dict(document("alice", doc_class), id="x")
        assert POLICY.decide(p, "read", "DocumentReference", doc, "t").allow is (
            doc_class in row["read"]
        )
        assert POLICY.decide(p, "create", "DocumentReference", doc, "t").allow is (
            doc_class in row["write"]
        )


def test_structured_resources_map_to_classes() -> None:
    nurse = subject("60")
    imaging = {
        "resourceType": "ImagingStudy",
        "id": "i",
        "status": "available",
        "subject": {"reference": "Patient/alice"},
    }
    assert not POLICY.decide(nurse, "read", "ImagingStudy", imaging, "t").allow
    obs = {"resourceType": "Observation", "id": "o", "subject": {"reference": "Patient/alice"}}
    assert POLICY.decide(nurse, "read", "Observation", obs, "t").allow


def test_unknown_profession_is_refused_with_a_reason() -> None:
    decision = POLICY.decide(
        subject("XX"), "read", "DocumentReference", dict(document("alice", "10"), id="d"), "t"
    )
    assert not decision.allow and "matrix" in decision.reason
