"""Checks of FHIR primitive values in their JSON form (R4 regexes and JSON types).

Each check returns None for a valid value or a short English reason. Regexes come from
the vendored definitions and are compiled once with re.ASCII: the spec regexes follow
XML Schema/Java semantics where `\\s` is ASCII whitespace, so a non-breaking space (common
in French typography) is an ordinary character, as it is for the reference validator.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from typing import Any

from socle.fhir.definitions.model import FhirModel

Check = Callable[[Any], str | None]

MAX_STRING_CHARS = 1024 * 1024  # string.maxLength in the R4 definitions
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

_EXPECTED = {
    "base64Binary": "base64 characters (A-Z a-z 0-9 + / =) in groups of 4",
    "canonical": "a URI without whitespace",
    "code": "a token without leading, trailing or repeated whitespace",
    "date": "YYYY, YYYY-MM or YYYY-MM-DD",
    "dateTime": (
        "YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss[.fff] with a time zone "
        "(Z or +hh:mm/-hh:mm)"
    ),
    "id": "1 to 64 characters among A-Z a-z 0-9 '-' '.'",
    "instant": "YYYY-MM-DDThh:mm:ss[.fff] with a time zone (Z or +hh:mm/-hh:mm)",
    "markdown": "text without vertical tab or form feed characters",
    "oid": "urn:oid: followed by a dotted OID (e.g. urn:oid:1.2.250.1)",
    "string": "text without vertical tab or form feed characters",
    "time": "hh:mm:ss[.fff]",
    "uri": "a URI without whitespace",
    "url": "a URL without whitespace",
    "uuid": "urn:uuid: followed by a lower-case UUID",
}
_DATED = frozenset({"date", "dateTime", "instant"})


def describe(value: Any) -> str:
    """Short description of a JSON value for messages ("string 'abc'", "number 1.5")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {'true' if value else 'false'}"
    if isinstance(value, int | float):
        return f"number {value!r}"
    if isinstance(value, str):
        return f"string {_shown(value)}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _shown(text: str) -> str:
    """Quoted, truncated text for messages."""
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _invalid_calendar_date(value: str) -> bool:
    """True for regex-valid but impossible dates such as 2023-02-30."""
    if len(value) < 10 or value[8:10] <= "28":
        return False
    year, month, day = int(value[:4]), int(value[5:7]), int(value[8:10])
    return day > calendar.monthrange(year, month)[1]


# FHIR strings "SHALL NOT contain Unicode character points below 32, except for u0009
# (horizontal tab), u000D (carriage return) and u000A (line feed)"; the R4 regexes let
# them through (`\S` matches them), and a NUL is refused by PostgreSQL as a database error.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _control_reason(char: str) -> str:
    return (
        f"control character U+{ord(char):04X} (below U+0020, FHIR allows only tab, "
        "carriage return and line feed)"
    )


def _string_check(type_code: str, regex: re.Pattern[str] | None) -> Check:
    expected = _EXPECTED.get(type_code, "a valid value")
    dated = type_code in _DATED

    def check(value: Any) -> str | None:
        if type(value) is not str:
            return f"expected a JSON string ({type_code}), found {describe(value)}"
        if not value:
            return "empty string: FHIR forbids empty strings, omit the element instead"
        if len(value) > MAX_STRING_CHARS:
            return f"{type_code} longer than {MAX_STRING_CHARS} characters"
        if regex is not None and regex.fullmatch(value) is None:
            return f"invalid {type_code} {_shown(value)}: expected {expected}"
        if (control := _CONTROL.search(value)) is not None:
            return f"invalid {type_code} {_shown(value)}: {_control_reason(control.group())}"
        if dated and _invalid_calendar_date(value):
            return f"invalid {type_code} {_shown(value)}: no such calendar date"
        return None

    return check


def _check_xhtml(value: Any) -> str | None:
    if type(value) is not str:
        return f"expected a JSON string (xhtml), found {describe(value)}"
    if (control := _CONTROL.search(value)) is not None:
        return f"invalid xhtml: {_control_reason(control.group())}"
    text = value.strip()
    if not text.startswith("<div") or len(text) < 5 or text[4] not in " \t\r\n>/":
        return f"narrative xhtml must be a <div> element, found {describe(value)}"
    if not (text.endswith("</div>") or text.endswith("/>")):
        return "narrative xhtml must end with </div>"
    return None


def _check_boolean(value: Any) -> str | None:
    if type(value) is bool:
        return None
    return f"expected a JSON boolean (true or false), found {describe(value)}"


def _check_decimal(value: Any) -> str | None:
    if type(value) is int or type(value) is float:
        return None
    return f"expected a JSON number (decimal), found {describe(value)}"


def _int_check(type_code: str, low: int, high: int) -> Check:
    def check(value: Any) -> str | None:
        if type(value) is not int:
            return f"expected a JSON integer ({type_code}), found {describe(value)}"
        if value < low or value > high:
            return f"{type_code} {value} out of range [{low}, {high}]"
        return None

    return check


def primitive_checks(model: FhirModel) -> dict[str, Check]:
    """One check per FHIR primitive type code."""
    checks: dict[str, Check] = {
        "boolean": _check_boolean,
        "decimal": _check_decimal,
        "integer": _int_check("integer", INT32_MIN, INT32_MAX),
        "positiveInt": _int_check("positiveInt", 1, INT32_MAX),
        "unsignedInt": _int_check("unsignedInt", 0, INT32_MAX),
        "xhtml": _check_xhtml,
    }
    for code in model.primitive_types - checks.keys():
        pattern = model.primitive_regex(code)
        regex = re.compile(pattern, re.ASCII) if pattern else None
        checks[code] = _string_check(code, regex)
    return checks
