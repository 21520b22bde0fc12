"""French identifier rules (INS, RPPS, IDNPS): the rules themselves, then through profiles."""

from __future__ import annotations

import pytest

from socle.demo.identifiers import make_nir, rpps_with_key
from socle.fr import rules
from socle.fr.rules import IDNPS_SYSTEM, RPPS_SYSTEM, ins_identifiers, rpps_identifiers
from socle.ins import nir
from socle.ins.nir import check_nir
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
        ("585037512345641", [("error", "FR-INS-001"), ("error", "FR-INS-002")]),
        ("1850375123456AB", [("error", "FR-INS-001")]),
        ("185157512345641", [("error", "FR-INS-001"), ("error", "FR-INS-002")]),  # month 15
        ("185030012345641", [("error", "FR-INS-001"), ("error", "FR-INS-002")]),  # dept 00
        ("185037512300041", [("error", "FR-INS-001"), ("error", "FR-INS-002")]),  # order 000
        ("1 85 03 75 123 456 41", [("error", "FR-INS-001")]),  # spaces: not in FHIR
    ],
)
def test_ins_shape_and_key(value: str, found: list) -> None:  # noqa: ANN001
    for system in (NIR, "urn:oid:1.2.250.1.213.1.4.10", "urn:oid:1.2.250.1.213.1.4.11"):
        assert _codes(ins_identifiers(_patient(value, system), "Patient")) == found


@pytest.mark.parametrize(
    "value",
    [
        "185157512345641",  # month 15: impossible (01-12, 20-42, 50-99)
        "185037512300041",  # order 000
        "199039900012345",  # born abroad, country 000
        "185030012345641",  # département 00
        make_nir("male", 1985, 3, "75", "123", 456),
        make_nir("female", 1960, 5, "2A", "004", 12),
        "185207512345641",  # month 20: unknown month, allowed
    ],
)
def test_ins_rule_agrees_with_the_ins_service(value: str) -> None:
    """FR-INS-001/002 say "invalid" exactly when socle.ins.nir.check_nir does."""
    check = check_nir(value, system=NIR)
    issues = ins_identifiers(_patient(value), "Patient")
    assert bool([i for i in issues if i.severity == "error"]) == (not check.valid)
    if check.errors and check.errors[0].code not in ("key", "key-range"):
        assert check.errors[0].message in issues[0].diagnostics


def test_ins_kind_and_birthplace_warnings() -> None:
    nia = make_nir("male", 1985, 3, "75", "123", 456)
    issues = ins_identifiers(_patient(nia, "urn:oid:1.2.250.1.213.1.4.9"), "Patient")
    assert _codes(issues) == [("warning", "FR-INS-005")]
    assert "An NIA normally starts with 7 or 8" in issues[0].diagnostics
    born = {
        "url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace",
        "valueAddress": {
            "extension": [
                {
                    "url": "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-address-insee-code",
                    "valueCoding": {"code": "35238"},
                }
            ]
        },
    }
    same = ins_identifiers(
        _patient(make_nir("male", 1985, 3, "35", "238", 4), extension=[born]), "P"
    )
    assert same == []
    other = ins_identifiers(
        _patient(make_nir("male", 1985, 3, "75", "123", 4), extension=[born]), "P"
    )
    assert _codes(other) == [("warning", "FR-INS-006")]
    assert "birthplace 75123" in other[0].diagnostics and "35238" in other[0].diagnostics


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


def test_unreadable_birth_date_is_the_birth_date_rule() -> None:
    """check_nir's `birth-date` warning (a birthDate it cannot compare) is FR-INS-004, the
    birth-date rule, not the kind rule FR-INS-005 that unmapped warnings used to land in."""
    value = make_nir("female", 1990, 5, "35", "238", 7)
    issues = ins_identifiers(_patient(value, birthDate="1990-5-2"), "Patient")
    assert _codes(issues) == [("warning", "FR-INS-004")]
    assert "not compared with the matricule" in issues[0].diagnostics


def _nir_warning_codes() -> set[str]:
    """Every warning code `check_nir` can emit, read from its source: a new one must get
    its own FR rule, not the fallback."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(nir))
    codes = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", None) == "NirIssue"
            and len(node.args) == 3
            and isinstance(node.args[2], ast.Constant)
            and node.args[2].value == "warning"
        ):
            codes.add(node.args[0].value)
    return codes


def test_every_nir_warning_has_its_rule() -> None:
    codes = _nir_warning_codes()
    assert {"birth-date", "sex-mismatch", "nia-kind"} <= codes  # the source was read
    assert codes == set(rules._WARNING_RULES)
    subjects = {
        "FR-INS-003": {"sex-mismatch"},
        "FR-INS-004": {"year-mismatch", "month-mismatch", "birth-date"},
        "FR-INS-005": {"nia-kind", "nir-kind"},
        "FR-INS-006": {"birthplace-mismatch"},
    }
    assert {c: r for r, found in subjects.items() for c in found} == rules._WARNING_RULES


def test_one_list_of_ins_systems() -> None:
    assert rules.INS_SYSTEMS is nir.INS_SYSTEMS


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
