"""NIR / NIA rules: the INS matricule, checked character by character with precise reasons.

This module is *the* library function for INS matricules in Socle: the INS service, the
HL7 v2 feed and profile validation (``socle/fr``) all call `check_nir`, so a bad number
gets the same explanation wherever it arrives.

Layout of the 15 characters (13 + key)::

    S YY MM DDCCC OOO KK
    │ │  │  │     │   └ key = 97 - (N mod 97), N the 13 first characters as an integer,
    │ │  │  │     │     with Corsica 2A -> 19 and 2B -> 18 (computed by socle.demo.identifiers)
    │ │  │  │     └ order number in the birth register, 001-999
    │ │  │  └ place of birth, 5 characters: département (2 characters, 2A/2B for Corsica,
    │ │  │    20 before 1976) + commune (3 digits); overseas 97x + commune (2 digits);
    │ │  │    born abroad: 99 + INSEE country code (3 digits)
    │ │  └ month of birth: 01-12; 20 and 30-42 (month unknown or fictitious in the civil
    │ │    register) and 50 or more (provisional registrations) are also allowed
    │ └ year of birth (2 digits, any value)
    └ sex: 1 male, 2 female; 3/4 provisional number, 7/8 temporary (NIA): odd = male

Structural faults are errors (the number is not a NIR); disagreements with the patient's
traits (sex, birth year and month, birthplace) are warnings, since a NIR keeps the
place and month of its first registration even when civil status is later corrected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from socle.demo.identifiers import nir_key

# INS matricule systems (FR Core 2.2.0 Patient.identifier slices)
OID_NIR = "1.2.250.1.213.1.4.8"
OID_NIA = "1.2.250.1.213.1.4.9"
OID_TEST = "1.2.250.1.213.1.4.10"
OID_DEMO = "1.2.250.1.213.1.4.11"
INS_OIDS = {
    OID_NIR: "INS-NIR",
    OID_NIA: "INS-NIA",
    OID_TEST: "INS-NIR-TEST",
    OID_DEMO: "INS-NIR-DEMO",
}
INS_SYSTEMS = {f"urn:oid:{oid}": code for oid, code in INS_OIDS.items()}


def is_ins(identifier: Any) -> bool:
    """A FHIR Identifier (JSON) of one of the four INS systems."""
    return isinstance(identifier, dict) and identifier.get("system") in INS_SYSTEMS


SEX_DIGITS = {"1": "male", "2": "female", "3": "male", "4": "female", "7": "male", "8": "female"}
_KIND_OF_SEX_DIGIT = {"1": "NIR", "2": "NIR", "3": "provisional", "4": "provisional"}
_KIND_OF_SEX_DIGIT.update({"7": "NIA", "8": "NIA"})
_OVERSEAS = {"971", "972", "973", "974", "975", "976", "977", "978"}
# the separators people write in a NIR: spaces (any, no-break ones too) and dots; a dash
# is not one, lest "-185…" (a sign) or "1-85-03…" pass for a matricule
_SPACES = re.compile(r"[\s.]+")
_BIRTH_DATE = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?", re.ASCII)
# municipal districts (arrondissements) whose INSEE codes a NIR may hold for their city's
_DISTRICTS = (
    (75101, 75120, "75056"),  # Paris
    (69381, 69389, "69123"),  # Lyon
    (13201, 13216, "13055"),  # Marseille
)


def _digits(text: str) -> bool:
    """ASCII digits only: str.isdigit() also accepts '１' or '٣', which int() would read."""
    return text.isascii() and text.isdigit()


@dataclass(slots=True, frozen=True)
class NirIssue:
    """One finding: a stable `code` (for programs), a French-and-English message, severity."""

    code: str
    message: str
    severity: str = "error"  # error: not a valid matricule; warning: traits disagree


@dataclass(slots=True)
class NirCheck:
    """The verdict on one matricule, with the fields read from it when they could be."""

    value: str
    issues: list[NirIssue] = field(default_factory=list)
    kind: str | None = None  # NIR, NIA or provisional (from the sex digit)
    sex: str | None = None  # male / female
    year: str | None = None  # two digits
    month: int | None = None
    regular_month: bool = False  # 01-12: comparable with a birth date
    birthplace: str | None = None  # 5-character INSEE code (commune, or 99 + country)
    born_abroad: bool = False
    order: str | None = None
    key: str | None = None

    @property
    def valid(self) -> bool:
        return not any(i.severity == "error" for i in self.issues)

    @property
    def errors(self) -> list[NirIssue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def reason(self) -> str | None:
        """The first error's message (None when the matricule is valid)."""
        errors = self.errors
        return errors[0].message if errors else None

    def to_json(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "valid": self.valid,
            "kind": self.kind,
            "sex": self.sex,
            "birthplace": self.birthplace,
            "issues": [
                {"code": i.code, "severity": i.severity, "message": i.message} for i in self.issues
            ],
        }


def clean(value: str) -> str:
    """Remove the spaces and dots people type in a NIR; upper-case 2a/2b."""
    return _SPACES.sub("", value or "").upper()


def check_nir(
    value: Any,
    *,
    system: str | None = None,
    gender: Any = None,
    birth_date: str | date | None = None,
    birthplace: Any = None,
) -> NirCheck:
    """Check a 15-character INS matricule (NIR or NIA) and, optionally, the patient's traits.

    `value` is text (spaces and dots are separators; anything else is a reason). `system`
    is the identifier system (``urn:oid:…`` or a bare OID): it must be one of the four INS
    systems. `gender` (male/female, M/F, 1/2, any case), `birth_date` (YYYY, YYYY-MM or
    YYYY-MM-DD) and `birthplace` (5-character INSEE code) are compared with what the number
    encodes: every disagreement is a warning.
    """
    v = clean(value) if isinstance(value, str) else ""
    out = NirCheck(v)
    add = out.issues.append
    if system is not None:
        oid = system[8:] if system.startswith("urn:oid:") else system
        if oid not in INS_OIDS:
            add(
                NirIssue(
                    "system",
                    f"{system!r} is not an INS system (expected one of "
                    f"{', '.join(sorted(INS_SYSTEMS))})",
                )
            )
    if not _readable(value, v, out):
        return out
    body, key = v[:13], v[13:]
    if not _structure(body, out):
        return out
    if not _digits(key):
        add(NirIssue("key-format", f"The key {key!r} must be two digits"))
        return out
    out.key = key
    if not 1 <= int(key) <= 97:
        add(NirIssue("key-range", f"The key {key} is out of range (01-97)"))
    expected = nir_key(body)
    if key != expected:
        add(NirIssue("key", f"Wrong key: {key} given, {expected} expected for {body}"))
    if system is not None:
        oid = system[8:] if system.startswith("urn:oid:") else system
        if oid == OID_NIA and out.kind == "NIR":
            add(NirIssue("nia-kind", "An NIA normally starts with 7 or 8", "warning"))
        if oid == OID_NIR and out.kind == "NIA":
            add(
                NirIssue(
                    "nir-kind",
                    "A number starting with 7 or 8 is an NIA, not a NIR "
                    f"(system urn:oid:{OID_NIA})",
                    "warning",
                )
            )
    _compare_traits(out, gender, birth_date, birthplace)
    return out


def _readable(value: Any, v: str, out: NirCheck) -> bool:
    """Whether `v` (the cleaned `value`) is text of 15 ASCII letters or digits; else say why.

    Characters come before the length: "-185037512345641" has a sign, not 16 characters."""
    add = out.issues.append
    if value is None:
        add(NirIssue("empty", "No matricule given (None)"))
        return False
    if not isinstance(value, str):
        kind = type(value).__name__
        add(NirIssue("type", f"The matricule must be text (a string), not {kind}: {value!r}"))
        return False
    if not v:
        add(NirIssue("empty", "The matricule is empty" + (" (only spaces)" if value else "")))
        return False
    bad = next((i for i, c in enumerate(v) if not (c.isascii() and c.isalnum())), None)
    if bad is not None:
        if bad == 0 and v[0] in "+-":
            why = "a matricule has no sign"
        elif v[bad] == "-":
            why = "a dash is not a separator (spaces and dots are)"
        else:
            why = "only the digits 0-9 are allowed (and 2A/2B at characters 6-7)"
        add(NirIssue("characters", f"Character {bad + 1} {v[bad]!r}: {why}"))
        return False
    if len(v) != 15:
        add(NirIssue("length", f"A matricule has 15 characters (13 + a 2-digit key), got {len(v)}"))
        return False
    return True


def _structure(body: str, out: NirCheck) -> bool:
    """Check the 13-character body; False when it is too broken to read any further."""
    add = out.issues.append
    sex, year, month, dept, order = body[0], body[1:3], body[3:5], body[5:7], body[10:13]
    if sex not in SEX_DIGITS:
        add(
            NirIssue(
                "sex-digit",
                f"First character {sex!r}: the sex digit must be 1 or 2 "
                "(3, 4 provisional; 7, 8 temporary NIA)",
            )
        )
    else:
        out.sex, out.kind = SEX_DIGITS[sex], _KIND_OF_SEX_DIGIT[sex]
    if not _digits(year):
        add(NirIssue("year", f"Characters 2-3 {year!r}: the birth year must be two digits"))
    else:
        out.year = year
    if not _digits(month):
        add(NirIssue("month", f"Characters 4-5 {month!r}: the birth month must be two digits"))
    else:
        m = int(month)
        if 1 <= m <= 12 or 20 <= m <= 42 or m >= 50:
            out.month, out.regular_month = m, 1 <= m <= 12
        else:
            add(
                NirIssue(
                    "month",
                    f"Characters 4-5: month {month} is impossible (01-12, or the "
                    "special values 20-42 and 50-99)",
                )
            )
    place = body[5:10]
    _place(place, out)
    if not _digits(order):
        add(NirIssue("order", f"Characters 11-13 {order!r}: the order number must be digits"))
    elif order == "000":
        add(NirIssue("order", "Characters 11-13: the order number 000 does not exist (001-999)"))
    else:
        out.order = order
    readable = (_digits(dept) or dept in ("2A", "2B")) and _digits(body[7:])
    readable = readable and _digits(body[:5])
    if not readable:
        add(NirIssue("characters", "Only digits are allowed, apart from 2A/2B at characters 6-7"))
    return readable


def _place(place: str, out: NirCheck) -> None:
    fault = _place_fault(place)
    if fault is not None:
        code, characters, why = fault
        out.issues.append(NirIssue(code, f"Characters {characters}: {why}"))
        return
    out.born_abroad = place.startswith("99")
    out.birthplace = place


def _place_fault(place: str) -> tuple[str, str, str] | None:
    """What makes a 5-character birthplace impossible: (issue code, the NIR characters it
    is in, why), or None. One rule for the NIR's place and for an INSEE code given alone."""
    dept, commune = place[:2], place[2:]
    if dept in ("2A", "2B") and len(place) == 5:
        if not _digits(commune) or commune == "000":
            return "commune", "8-10", f"{commune!r} is not a Corsican commune"
        return None
    if len(place) != 5 or not _digits(place):
        return (
            "place",
            "6-10",
            f"{place!r}: a birthplace is 5 digits (or 2A/2B + 3 digits for Corsica)",
        )
    if dept == "00":
        return "department", "6-7", "département 00 does not exist"
    if dept == "99":
        if commune == "100":
            return "country", "8-10", "99100 is France, not a country of birth abroad"
        if int(commune) < 101:
            return (
                "country",
                "8-10",
                f"{commune} is not an INSEE country code of birth abroad (99101-99999)",
            )
        return None
    if dept == "97" and place[:3] not in _OVERSEAS:
        return "department", "6-8", f"{place[:3]} is not an overseas département (971-978)"
    if dept in ("97", "98") and place[3:] == "00":
        return "commune", "9-10", f"commune 00 does not exist in {place[:3]}"
    if dept not in ("97", "98") and commune == "000":
        return "commune", "8-10", f"commune 000 does not exist in {dept}"
    return None


def insee_reason(code: Any) -> str | None:
    """None when `code` is a possible INSEE birthplace code (a commune: 2 digits or 2A/2B +
    3 digits; 99 + a country for a birth abroad; 99999 unknown), else why it is not."""
    if not isinstance(code, str):
        return f"an INSEE code is a string, not {type(code).__name__}"
    fault = _place_fault(code.strip().upper())
    return None if fault is None else fault[2]


SEX_CODES = {
    "M": "male",
    "F": "female",
    "1": "male",
    "2": "female",
    "male": "male",
    "female": "female",
}


def sex_of(value: Any) -> str | None:
    """FHIR gender (male/female) of an INSi sex code: M/F, 1/2 or male/female, any case."""
    text = str(value or "").strip()
    return SEX_CODES.get(text) or SEX_CODES.get(text.upper()) or SEX_CODES.get(text.lower())


_INSI_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})", re.ASCII)


_MATRICULE = re.compile(r"\b\d{5}(?:\d{2}|2[ABab])\d{6}(?:\d{2})?\b")  # NIR/NIA, key or not


def mask_matricules(text: str) -> str:
    """`text` with every NIR or NIA it quotes replaced (the outgoing rule: the matricule
    of an identity that is not qualified is not written where it can be read)."""
    return _MATRICULE.sub("the matricule", text)


def future_date(insi: str) -> bool:
    """A birth date (INSi form, 00 for an unknown part) after today, at its precision."""
    year, month, day = insi[:4], insi[5:7], insi[8:10]
    today = date.today().isoformat()
    if month == "00":
        return year > today[:4]
    if day == "00":
        return f"{year}-{month}" > today[:7]
    return insi > today


def insi_date(text: Any) -> str | None:
    """The INSi form YYYY-MM-DD of a birth date, or None when it is not a date.

    The national registries keep a birth date whose day, or day and month, are unknown
    with ``00`` in their place (``1962-00-00``, ``1962-05-00``); FHIR writes those as
    ``1962`` and ``1962-05``, read here as the same date. A known day and month must make a
    real date (``date.fromisoformat`` alone also took ``1985-W10-1``, a week date).
    """
    value = str(text or "").strip()
    if len(value) == 4:
        value += "-00-00"
    elif len(value) == 7:
        value += "-00"
    parts = _INSI_DATE.fullmatch(value)
    if parts is None:
        return None
    year, month, day = (int(p) for p in parts.groups())
    if year == 0 or month > 12 or (month == 0 and day != 0):
        return None
    if month and day:
        try:
            date(year, month, day)
        except ValueError:
            return None
    return value


def _compare_traits(
    out: NirCheck, gender: Any, birth_date: str | date | None, birthplace: Any
) -> None:
    """Warnings for every trait that disagrees with what the number encodes."""
    _compare_sex(out, gender)
    if birth_date and out.year is not None and out.month is not None:
        _compare_birth_date(out, birth_date)
    _compare_birthplace(out, birthplace)


def _compare_sex(out: NirCheck, gender: Any) -> None:
    """male/female, M/F or 1/2, in any case and with stray spaces ("Female", " f")."""
    sex = sex_of(gender)
    if sex and out.sex and sex != out.sex:
        out.issues.append(
            NirIssue(
                "sex-mismatch",
                f"The matricule encodes sex {out.sex}, the patient is {sex}",
                "warning",
            )
        )


def _compare_birth_date(out: NirCheck, birth_date: str | date) -> None:
    """Year and month against the number: each disagreement is reported, and a date that
    cannot be read, or does not exist (1985-02-30), is said not to be compared."""
    add = out.issues.append
    text = birth_date.isoformat() if isinstance(birth_date, date) else str(birth_date).strip()
    parts = _BIRTH_DATE.fullmatch(text)
    if parts is None:
        # never int() an unread date (it raised on "1985-3-7"): say why nothing is compared
        add(
            NirIssue(
                "birth-date",
                f"The birth date {text!r} is not YYYY, YYYY-MM or YYYY-MM-DD: "
                "not compared with the matricule",
                "warning",
            )
        )
        return
    year, month, day = parts.groups()
    checked = insi_date(text)
    if checked is None or future_date(checked):
        why = "does not exist" if checked is None else "is in the future"
        message = f"The birth date {text!r} {why}: not compared with the matricule"
        add(NirIssue("birth-date", message, "warning"))
        return
    if year[2:] != out.year:
        add(
            NirIssue(
                "year-mismatch",
                f"The matricule encodes birth year ..{out.year}, the birth date is {text}",
                "warning",
            )
        )
    # a month 00 (unknown, as INSi writes it) or a special month of the number: no comparison
    if out.regular_month and month not in (None, "00") and int(month) != out.month:
        add(
            NirIssue(
                "month-mismatch",
                f"The matricule encodes birth month {out.month:02d}, the birth date is {text}",
                "warning",
            )
        )


def _compare_birthplace(out: NirCheck, birthplace: Any) -> None:
    if not isinstance(birthplace, str) or not birthplace.strip() or not out.birthplace:
        return
    if not same_place(out.birthplace, birthplace):
        out.issues.append(
            NirIssue(
                "birthplace-mismatch",
                f"The matricule encodes birthplace {out.birthplace}, "
                f"the patient's INSEE code is {birthplace.strip()}",
                "warning",
            )
        )


def _place_key(code: str) -> str:
    """One spelling per place: Corsica's communes kept their numbers when département 20
    (a NIR of a birth before 1976) became 2A and 2B, so 20004 is 2A004 (Ajaccio)."""
    code = code.strip().upper()
    return "20" + code[2:] if code[:2] in ("2A", "2B") else code


def _city(code: str) -> str:
    """The commune code of a Paris, Lyon or Marseille district (arrondissement) code."""
    if len(code) == 5 and _digits(code):
        n = int(code)
        for low, high, city in _DISTRICTS:
            if low <= n <= high:
                return city
    return code


def same_place(a: str, b: str) -> bool:
    """Whether two INSEE codes name one birthplace: equal, Corsica's 20xxx and 2Axxx/2Bxxx,
    or a district and its city (75112 and 75056). Two districts of a city stay apart: both
    are precise, and they disagree."""
    ka, kb = _place_key(a), _place_key(b)
    return ka == kb or _city(ka) == kb or ka == _city(kb)


def nir_reason(value: str, **traits: Any) -> str | None:
    """None when `value` is a valid matricule, else the precise reason why not."""
    return check_nir(value, **traits).reason


def is_valid_matricule(value: str, system: str | None = None) -> bool:
    return check_nir(value, system=system).valid


def matricule_system(value: str) -> str:
    """The INS identifier system of a matricule, by its first character: NIA (7 or 8: a
    person not yet given a NIR) or NIR; no check of the rest (see `check_nir`)."""
    oid = OID_NIA if _KIND_OF_SEX_DIGIT.get(str(value)[:1]) == "NIA" else OID_NIR
    return f"urn:oid:{oid}"


def ins_kind(system: str | None) -> str | None:
    """INS-NIR / INS-NIA / INS-NIR-TEST / INS-NIR-DEMO for an INS system, else None."""
    if not system:
        return None
    oid = system[8:] if system.startswith("urn:oid:") else system
    return INS_OIDS.get(oid)
