"""Named French identifier rules (INS, RPPS, IDNPS), checked with the profiles they belong to.

Each rule has a stable code, the profile it applies to (and every profile derived from
it) and its source. Where a profile states the rule as an invariant, the profile's own
invariant is what runs (e.g. FR Core `fr-core-1`/`fr-core-2` on INS identity status);
these rules cover what the guides only say in prose.

Rules (severity; profile they apply to, with the profiles derived from it):

* FR-INS-001 (error; FR Core Patient INS): an INS value (NIR, NIA, test or demo NIR) is
  15 characters: sex digit, year, month, place (2A/2B allowed), order, 2-digit key;
* FR-INS-002 (error): the key is 97 - (N mod 97), N the first 13 characters read as a
  number with 2A -> 19 and 2B -> 18;
* FR-INS-003 (warning): the sex digit (1/2) agrees with `gender` (male/female);
* FR-INS-004 (warning): the year digits agree with `birthDate`;
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

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from socle.demo.identifiers import is_luhn_valid, nir_key
from socle.fhir.errors import Issue

FR_CORE = "https://hl7.fr/ig/fhir/core/StructureDefinition/"
PATIENT_INS = FR_CORE + "fr-core-patient-ins"
PRACTITIONER = FR_CORE + "fr-core-practitioner"

INS_SYSTEMS = {
    "urn:oid:1.2.250.1.213.1.4.8": "INS-NIR",
    "urn:oid:1.2.250.1.213.1.4.9": "INS-NIA",
    "urn:oid:1.2.250.1.213.1.4.10": "INS-NIR-TEST",
    "urn:oid:1.2.250.1.213.1.4.11": "INS-NIR-DEMO",
}
RPPS_SYSTEM = "https://rpps.esante.gouv.fr"
IDNPS_SYSTEM = "urn:oid:1.2.250.1.71.4.2.1"
IDNPS_PREFIXES = "0134568"

_INS_SHAPE = re.compile(r"[1-478]\d{4}(?:\d{2}|2[AB])\d{8}")

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
    """FR-INS-001..004 on every INS identifier of a Patient."""
    issues: list[Issue] = []
    for i, ident, value in _identifiers(resource, path, INS_SYSTEMS):
        where = f"{path}.identifier[{i}].value"
        kind = INS_SYSTEMS[ident["system"]]
        if not _INS_SHAPE.fullmatch(value):
            issues.append(
                _issue(
                    "error",
                    "FR-INS-001",
                    f"FR-INS-001: {kind} '{value}' is not a 15-character INS (13-character "
                    "matricule: sex digit, year, month, place with 2A/2B, order; then a "
                    "2-digit key)",
                    where,
                )
            )
            continue
        expected = nir_key(value[:13])
        if value[13:] != expected:
            issues.append(
                _issue(
                    "error",
                    "FR-INS-002",
                    f"FR-INS-002: {kind} '{value}' has key {value[13:]}, expected {expected} "
                    "(key = 97 - (first 13 characters mod 97), 2A read as 19, 2B as 18)",
                    where,
                )
            )
        gender = resource.get("gender")
        sex = value[0]
        if (sex, gender) in (("1", "female"), ("2", "male")):
            issues.append(
                _issue(
                    "warning",
                    "FR-INS-003",
                    f"FR-INS-003: {kind} '{value}' starts with sex digit {sex}, which does "
                    f"not agree with gender '{gender}'",
                    where,
                )
            )
        birth = resource.get("birthDate")
        if isinstance(birth, str) and len(birth) >= 4 and birth[2:4] != value[1:3]:
            issues.append(
                _issue(
                    "warning",
                    "FR-INS-004",
                    f"FR-INS-004: {kind} '{value}' has birth year digits {value[1:3]}, which "
                    f"do not agree with birthDate {birth}",
                    where,
                )
            )
    return issues


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
        "INS identifiers: shape and NIR key (FR-INS-001..004)",
        ins_identifiers,
    ),
    NamedRule(
        "FR-RPPS",
        PRACTITIONER,
        "RPPS and IDNPS identifiers (FR-RPPS-001/002, FR-IDNPS-001..003)",
        rpps_identifiers,
    ),
)
