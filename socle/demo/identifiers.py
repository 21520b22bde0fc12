"""Check digits of French health identifiers (NIR/INS, RPPS, FINESS), for making test numbers.

Only the arithmetic lives here: it lets the demo and synthetic generators produce numbers that
pass the same checks as real ones. Validating an INS against the national service is a
separate concern.

Formulas:

* NIR (the INS-NIR matricule): 13 characters + 2-digit key.
  ``key = 97 - (N mod 97)`` written on two digits, where ``N`` is the 13 characters read as an
  integer; for Corsica the département ``2A`` is read as ``19`` and ``2B`` as ``18``.
  Layout: sex (1) | year (2) | month (2) | place of birth (5: INSEE code of the commune, or
  ``99`` + country code) | order number in the birth register (3).
* RPPS: 11 digits = 10 digits + Luhn check digit. The national identifier of a health
  professional (IDNPS) is ``'8' + RPPS``.
* FINESS: 9 characters = 8 characters + Luhn check digit; the first two are the
  département. Corsican numbers start with ``2A``/``2B``; their key rule is not handled here
  (the validator rejects them) and the generators only produce numeric ones.
"""

from __future__ import annotations

import re

_NIR_RE = re.compile(r"[1-478]\d{4}(?:\d{2}|2[AB])\d{8}")
_CORSICA = {"2A": "19", "2B": "18"}
_SEX_DIGIT = {"male": "1", "female": "2", "1": "1", "2": "2", 1: "1", 2: "2"}


def nir_key(nir13: str) -> str:
    """Two-digit key of a 13-character NIR: 97 - (N mod 97), with 2A -> 19 and 2B -> 18."""
    if len(nir13) != 13:
        raise ValueError(f"a NIR body has 13 characters, got {len(nir13)}")
    dept = nir13[5:7].upper()
    numeric = nir13[:5] + _CORSICA.get(dept, dept) + nir13[7:]
    if not numeric.isdigit():
        raise ValueError(f"not a NIR body: {nir13!r}")
    return f"{97 - int(numeric) % 97:02d}"


CORSICA_SPLIT = 1976  # 2A and 2B replaced 20 on 1 January 1976


def make_nir(
    sex: str | int,
    birth_year: int,
    birth_month: int,
    dept: str,
    commune: str,
    order: int,
) -> str:
    """Build a 15-character NIR (with key) consistent with sex, birth month and birthplace.

    `dept` + `commune` must form the 5-character INSEE code of the birthplace: ``'35'`` +
    ``'238'`` (Rennes), ``'2A'`` + ``'004'`` (Ajaccio), ``'971'`` + ``'20'``
    (Pointe-à-Pitre), or ``'99'`` + a country code for births abroad. A birth in Corsica
    before 1976, when the island was one department, is numbered ``20`` (as INSEE did).
    """
    if sex not in _SEX_DIGIT:
        raise ValueError(f"sex must be 'male'/'female' or 1/2, got {sex!r}")
    if not 1 <= birth_month <= 12:
        raise ValueError(f"birth month out of range: {birth_month}")
    if not 1 <= order <= 999:
        raise ValueError(f"order number out of range: {order}")
    place = (dept + commune).upper()
    if len(place) != 5 or not (place.isdigit() or place[:2] in _CORSICA and place[2:].isdigit()):
        raise ValueError(f"birthplace must be a 5-character INSEE code, got {place!r}")
    if place[:2] in _CORSICA and birth_year < CORSICA_SPLIT:
        place = "20" + place[2:]
    body = f"{_SEX_DIGIT[sex]}{birth_year % 100:02d}{birth_month:02d}{place}{order:03d}"
    return body + nir_key(body)


def is_valid_nir(nir: str) -> bool:
    """True if `nir` has the 15-character NIR shape and its key matches."""
    if not _NIR_RE.fullmatch(nir):
        return False
    return nir_key(nir[:13]) == nir[13:]


def luhn_check_digit(digits: str) -> str:
    """Luhn digit to append to `digits`: double every second digit from the right, sum, mod 10."""
    if not digits.isdigit():
        raise ValueError(f"Luhn needs digits only, got {digits!r}")
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 0:  # these become odd positions once the check digit is appended
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def is_luhn_valid(number: str) -> bool:
    """True if the last digit of `number` is the Luhn check digit of the others."""
    return len(number) >= 2 and number.isdigit() and luhn_check_digit(number[:-1]) == number[-1]


def rpps_with_key(base10: str) -> str:
    """11-digit RPPS number: the 10 given digits followed by their Luhn check digit."""
    if len(base10) != 10 or not base10.isdigit():
        raise ValueError(f"an RPPS body has 10 digits, got {base10!r}")
    return base10 + luhn_check_digit(base10)


def is_valid_rpps(rpps: str) -> bool:
    """True for 11 digits whose last one is the Luhn key of the first ten."""
    return len(rpps) == 11 and is_luhn_valid(rpps)


def idnps_from_rpps(rpps: str) -> str:
    """National professional identifier (IDNPS, OID 1.2.250.1.71.4.2.1) of an RPPS holder."""
    return "8" + rpps


def finess_with_key(base8: str) -> str:
    """9-digit FINESS number: the 8 given digits followed by their Luhn check digit."""
    if len(base8) != 8 or not base8.isdigit():
        raise ValueError(f"a numeric FINESS body has 8 digits, got {base8!r}")
    return base8 + luhn_check_digit(base8)


def is_valid_finess(finess: str) -> bool:
    """True for 9 digits whose last one is the Luhn key (Corsican 2A/2B forms: False)."""
    return len(finess) == 9 and is_luhn_valid(finess)
