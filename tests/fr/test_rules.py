"""French identifier rules (INS, RPPS, IDNPS): the rules themselves, then through profiles."""

from __future__ import annotations

import pytest

from socle.demo.identifiers import make_nir, rpps_with_key
from socle.fr.rules import IDNPS_SYSTEM, RPPS_SYSTEM, ins_identifiers, rpps_identifiers
from tests.fhir.validation.support import VALID_NIR, errors, ins_patient, service

NIR = "urn:oid:1.2.250.1.213.1.4.8"
RPPS = rpps_with_key("1000123456")


def _codes(issues) -> list[tuple[str, str]]:  # noqa: ANN001
    return [(i.severity, i.diagnostics.split(":", 1)[0]) for i in issues]


def _patient(value: str, system: str = NIR, **extra) -> dict:  # noqa: ANN003
    return {"resourceType": "Patient", "identifier": [{"system": system, "value": value}], **extra}


@pytest.mark.parametrize(
    "value, found",
    [
        (VALID_NIR, []),
        ("260052A00401281", []),  # Corsica 2A read as 19
        ("172112B03301752", []),  # Corsica 2B read as 18
        ("185037512345641", []),
        ("185037512345642", [("error", "FR-INS-002")]),
        ("18503751234564", [("error", "FR-INS-001")]),
        ("585037512345641", [("error", "FR-INS-001")]),
        ("1850375123456AB", [("error", "FR-INS-001")]),
    ],
)
def test_ins_shape_and_key(value: str, found: list) -> None:  # noqa: ANN001
    for system in (NIR, "urn:oid:1.2.250.1.213.1.4.9", "urn:oid:1.2.250.1.213.1.4.10"):
        assert _codes(ins_identifiers(_patient(value, system), "Patient")) == found


def test_ins_consistency_warnings_and_other_systems() -> None:
    nir = make_nir("female", 1990, 5, "35", "238", 7)
    assert (
        _codes(ins_identifiers(_patient(nir, gender="female", birthDate="1990-05-02"), "Patient"))
        == []
    )
    assert _codes(ins_identifiers(_patient(nir, gender="male", birthDate="1991"), "Patient")) == [
        ("warning", "FR-INS-003"),
        ("warning", "FR-INS-004"),
    ]
    assert ins_identifiers(_patient("not checked", "urn:oid:1.2.250.1.213.1.4.2"), "Patient") == []
    issue = ins_identifiers(_patient("18503751234564"), "Bundle.entry[2].resource")[0]
    assert issue.expression == ["Bundle.entry[2].resource.identifier[0].value"]


def _practitioner(*identifiers: tuple[str, str]) -> dict:
    return {
        "resourceType": "Practitioner",
        "identifier": [{"system": s, "value": v} for s, v in identifiers],
    }


@pytest.mark.parametrize(
    "identifiers, found",
    [
        ([(RPPS_SYSTEM, RPPS), (IDNPS_SYSTEM, "8" + RPPS)], []),
        ([(RPPS_SYSTEM, "1000123456")], [("error", "FR-RPPS-001")]),
        ([(RPPS_SYSTEM, RPPS[:-1] + str((int(RPPS[-1]) + 1) % 10))], [("warning", "FR-RPPS-002")]),
        ([(IDNPS_SYSTEM, "212345678")], [("error", "FR-IDNPS-001")]),
        ([(IDNPS_SYSTEM, "8123")], [("error", "FR-IDNPS-001")]),
        ([(IDNPS_SYSTEM, "0751234567")], []),  # ADELI-based: no RPPS inside
        (
            [(RPPS_SYSTEM, RPPS), (IDNPS_SYSTEM, "8" + rpps_with_key("1000999999"))],
            [("error", "FR-IDNPS-002")],
        ),
        (
            [(IDNPS_SYSTEM, "8" + RPPS[:-1] + str((int(RPPS[-1]) + 1) % 10))],
            [("warning", "FR-IDNPS-003")],
        ),
    ],
)
def test_rpps_and_idnps(identifiers, found) -> None:  # noqa: ANN001
    assert _codes(rpps_identifiers(_practitioner(*identifiers), "Practitioner")) == found


def test_rules_run_only_with_their_profiles() -> None:
    bad = _patient(VALID_NIR[:13] + "00", birthDate="1974-12-25", gender="male")
    assert errors(service().validate(bad)) == []  # no FR Core INS profile: not checked
    patient = ins_patient()
    patient["identifier"][0]["value"] = VALID_NIR[:13] + "00"
    assert [loc for loc, _ in errors(service().validate(patient))] == [
        "Patient.identifier[0].value"
    ]
