"""Named French identifier rules (INS, RPPS, IDNPS), checked with the profiles they belong to.

Each rule has a stable code, the profile it applies to (and every profile derived from
it) and its source. Where a profile states the rule as an invariant, the profile's own
invariant is what runs (e.g. FR Core `fr-core-1`/`fr-core-2` on INS identity status);
these rules cover what the guides only say in prose.

Rules (severity; profile they apply to, with the profiles derived from it):

* FR-INS-001 (error; FR Core Patient INS): an INS value (NIR, NIA, test or demo NIR) is
  a valid 15-character matricule: sex digit, year, month, place (2A/2B allowed), order,
  2-digit key, each part checked by `socle.ins.nir.check_nir` (the INS service's rules);
* FR-INS-002 (error): the key is 97 - (N mod 97), N the first 13 characters read as a
  number with 2A -> 19 and 2B -> 18;
* FR-INS-003 (warning): the sex digit agrees with `gender` (male/female);
* FR-INS-004 (warning): the year (and a regular month) agree with `birthDate`; a
  `birthDate` that cannot be read as YYYY, YYYY-MM or YYYY-MM-DD is reported here, as not
  compared;
* FR-INS-005 (warning): the number's kind agrees with its system (an NIA starts with 7 or
  8, a NIR does not);
* FR-INS-006 (warning): the place agrees with the INSEE code of the birthplace;
* FR-RPPS-001 (error; FR Core Practitioner): an RPPS (`https://rpps.esante.gouv.fr`) is
  11 digits;
* FR-RPPS-002 (warning): the last RPPS digit is the Luhn key of the first ten;
* FR-IDNPS-001 (error): an IDNPS (`urn:oid:1.2.250.1.71.4.2.1`) starts with its
  identifier-type digit (0 ADELI, 1, 3, 4, 5, 6, 8 RPPS); with 8 it is 8 + 11 digits;
* FR-IDNPS-002 (error): an IDNPS 8... and an RPPS of the same practitioner agree
  (IDNPS = 8 + RPPS);
* FR-IDNPS-003 (warning): the RPPS inside an IDNPS 8... has a valid Luhn key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from socle.demo.identifiers import is_luhn_valid, nir_key
from socle.fhir.errors import Issue
from socle.ins.nir import INS_SYSTEMS, NirCheck, check_nir, clean

FR_CORE = "https://hl7.fr/ig/fhir/core/StructureDefinition/"
PATIENT_INS = FR_CORE + "fr-core-patient-ins"
PRACTITIONER = FR_CORE + "fr-core-practitioner"

BIRTH_PLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
INSEE_CODE = FR_CORE + "fr-core-address-insee-code"
RPPS_SYSTEM = "https://rpps.esante.gouv.fr"
IDNPS_SYSTEM = "urn:oid:1.2.250.1.71.4.2.1"
IDNPS_PREFIXES = "0134568"

# check_nir finding codes -> FR rule codes
_KEY_FINDINGS = frozenset({"key", "key-range"})
_WARNING_RULES = {
    "sex-mismatch": "FR-INS-003",
    "year-mismatch": "FR-INS-004",
    "month-mismatch": "FR-INS-004",
    "birth-date": "FR-INS-004",  # the birth date is unreadable: not compared with the number
    "nia-kind": "FR-INS-005",
    "nir-kind": "FR-INS-005",
    "birthplace-mismatch": "FR-INS-006",
}

Rule = Callable[[dict[str, Any], str], list[Issue]]


@dataclass(frozen=True)
class NamedRule:
    code: str
    profile: str
    description: str
    check: Rule


def _identifiers(resource: dict[str, Any], path: str, systems: set[str] | dict[str, str]):
    """(index, identifier, value) of the identifiers of the given systems with a value."""
    identifiers = resource.get("identifier")
    if type(identifiers) is not list:
        return
    for i, ident in enumerate(identifiers):
        if type(ident) is not dict or ident.get("system") not in systems:
            continue
        value = ident.get("value")
        if isinstance(value, str):
            yield i, ident, value


def _issue(severity: str, code: str, message: str, where: str) -> Issue:
    return Issue(severity, "business-rule" if severity == "error" else "value", message, [where])


# -- INS ---------------------------------------------------------------------------------


def ins_identifiers(resource: dict[str, Any], path: str) -> list[Issue]:
    """FR-INS-001..006 on every INS identifier of a Patient, through `check_nir` (the INS
    service's check is the reference, so a number gets the same verdict everywhere)."""
    issues: list[Issue] = []
    for i, ident, value in _identifiers(resource, path, INS_SYSTEMS):
        where = f"{path}.identifier[{i}].value"
        kind = INS_SYSTEMS[ident["system"]]
        if clean(value) != value:  # check_nir forgives spaces and 2a; a FHIR value may not
            reason = "it must be written in capitals, without spaces, dots or dashes"
            issues.append(_shape_issue(kind, value, reason, where))
            continue
        check = check_nir(
            value,
            system=ident["system"],
            gender=resource.get("gender") if isinstance(resource.get("gender"), str) else None,
            birth_date=_birth_date(resource),
            birthplace=_birthplace_code(resource),
        )
        issues.extend(_ins_issues(check, kind, value, where))
    return issues


def _ins_issues(check: NirCheck, kind: str, value: str, where: str) -> list[Issue]:
    """check_nir's findings as FR-INS issues (one per rule code)."""
    issues: list[Issue] = []
    shape = [f.message for f in check.errors if f.code not in _KEY_FINDINGS]
    if shape:
        issues.append(_shape_issue(kind, value, "; ".join(shape), where))
    if any(f.code in _KEY_FINDINGS for f in check.errors):
        issues.append(
            _issue(
                "error",
                "FR-INS-002",
                f"FR-INS-002: {kind} '{value}' has key {value[13:]}, expected "
                f"{nir_key(value[:13])} (key = 97 - (first 13 characters mod 97), 2A read as "
                "19, 2B as 18)",
                where,
            )
        )
    for code, messages in _warnings_by_rule(check).items():
        text = "; ".join(messages)
        issues.append(_issue("warning", code, f"{code}: {kind} '{value}': {text}", where))
    return issues


def _shape_issue(kind: str, value: str, reason: str, where: str) -> Issue:
    return _issue(
        "error",
        "FR-INS-001",
        f"FR-INS-001: {kind} '{value}' is not a valid 15-character INS (sex digit, year, "
        f"month, place with 2A/2B, order, 2-digit key): {reason}",
        where,
    )


def _warnings_by_rule(check: NirCheck) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for finding in check.issues:
        if finding.severity == "warning":
            code = _WARNING_RULES.get(finding.code, "FR-INS-005")
            out.setdefault(code, []).append(finding.message)
    return out


def _birth_date(resource: dict[str, Any]) -> str | None:
    birth = resource.get("birthDate")
    return birth if isinstance(birth, str) and len(birth) >= 4 and birth[:4].isdigit() else None


def _birthplace_code(resource: dict[str, Any]) -> str | None:
    """The INSEE code of the birthplace (FR Core birthPlace address, insee-code extension)."""
    for ext in resource.get("extension") or ():
        if type(ext) is not dict or ext.get("url") != BIRTH_PLACE:
            continue
        address = ext.get("valueAddress")
        for inner in (address.get("extension") or ()) if type(address) is dict else ():
            coding = inner.get("valueCoding") if type(inner) is dict else None
            if inner.get("url") == INSEE_CODE and type(coding) is dict:
                code = coding.get("code")
                if isinstance(code, str) and len(code) == 5:
                    return code
    return None


# -- RPPS / IDNPS ------------------------------------------------------------------------


def rpps_identifiers(resource: dict[str, Any], path: str) -> list[Issue]:
    """FR-RPPS-001/002 and FR-IDNPS-001/002/003 on a Practitioner's identifiers."""
    issues: list[Issue] = []
    rpps_values: list[str] = []
    for i, _ident, value in _identifiers(resource, path, {RPPS_SYSTEM}):
        where = f"{path}.identifier[{i}].value"
        if not (len(value) == 11 and value.isdigit()):
            issues.append(
                _issue(
                    "error",
                    "FR-RPPS-001",
                    f"FR-RPPS-001: RPPS '{value}' must be 11 digits",
                    where,
                )
            )
            continue
        rpps_values.append(value)
        if not is_luhn_valid(value):
            issues.append(
                _issue(
                    "warning",
                    "FR-RPPS-002",
                    f"FR-RPPS-002: RPPS '{value}' has an invalid check digit (Luhn key of the "
                    "first ten digits)",
                    where,
                )
            )
    for i, _ident, value in _identifiers(resource, path, {IDNPS_SYSTEM}):
        where = f"{path}.identifier[{i}].value"
        if not value or value[0] not in IDNPS_PREFIXES:
            issues.append(
                _issue(
                    "error",
                    "FR-IDNPS-001",
                    f"FR-IDNPS-001: IDNPS '{value}' must start with its identifier-type digit "
                    "(0 ADELI, 8 RPPS, 1, 3, 4, 5 or 6)",
                    where,
                )
            )
            continue
        if value[0] != "8":
            continue
        rpps = value[1:]
        if not (len(rpps) == 11 and rpps.isdigit()):
            issues.append(
                _issue(
                    "error",
                    "FR-IDNPS-001",
                    f"FR-IDNPS-001: IDNPS '{value}' of type 8 must be 8 followed by the 11 "
                    "digits of the RPPS",
                    where,
                )
            )
            continue
        if rpps_values and rpps not in rpps_values:
            issues.append(
                _issue(
                    "error",
                    "FR-IDNPS-002",
                    f"FR-IDNPS-002: IDNPS '{value}' does not match the RPPS "
                    f"{', '.join(repr(r) for r in rpps_values)} of the same practitioner "
                    "(IDNPS = 8 + RPPS)",
                    where,
                )
            )
        if not is_luhn_valid(rpps) and rpps not in rpps_values:
            issues.append(
                _issue(
                    "warning",
                    "FR-IDNPS-003",
                    f"FR-IDNPS-003: IDNPS '{value}' carries RPPS '{rpps}', whose check digit "
                    "is invalid",
                    where,
                )
            )
    return issues


RULES: tuple[NamedRule, ...] = (
    NamedRule(
        "FR-INS",
        PATIENT_INS,
        "INS identifiers: shape, NIR key and agreement with the traits (FR-INS-001..006)",
        ins_identifiers,
    ),
    NamedRule(
        "FR-RPPS",
        PRACTITIONER,
        "RPPS and IDNPS identifiers (FR-RPPS-001/002, FR-IDNPS-001..003)",
        rpps_identifiers,
    ),
)
