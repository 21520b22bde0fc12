"""Value converters: one FHIR value (JSON) -> index entries, per parameter type.

A converter is ``conv(param_code, value, out)``; it appends entries to `out` and ignores
values it cannot use (wrong shape, unparsable date...), so odd data never blocks a write.
`converter_for` picks one per (search parameter type, static FHIR type of the values);
when the type is unknown (fhirpathpy fallback, unknown element) a converter dispatching
on the JSON shape is used.

Representation choices (the storage and search engines rely on them):

* string: one entry per HumanName part (family, each given/prefix/suffix, text) plus the
  whole name (``text`` or the parts joined), one per Address part (each line, city,
  district, state, postalCode, country, text). Values longer than `MAX_STRING` characters
  are truncated (index-size limits); queries should be truncated the same way.
* token: ``code``/``string``/``uri``... -> system None; boolean -> ``"true"``/``"false"``;
  Coding -> (system, code, display); CodeableConcept -> one entry per coding plus one
  (None, None, text) entry for ``text``; Identifier -> (system, value, type display or
  text), with ``type_system``/``type_code`` set from each ``type.coding`` for ``:of-type``;
  ContactPoint -> (None, value): the R4 token table maps ContactPoint to its value only
  (its ``system`` is phone/email, not a URI; the ``phone``/``email`` parameters cover
  it). Displays are normalised with `socle.fhir.text.normalize`.
* reference: literal references become (type, id, url, version) via
  `socle.fhir.indexing.references.parse_reference` (absolute URLs keep both the url and
  the parsed type/id; URLs under the server base are made relative; ``#contained`` is
  skipped; ``urn:`` gives the url only, with ``Reference.type`` as type when present);
  canonical strings give (url, version); uri strings give url. ``Reference.identifier``
  is indexed as a `TokenEntry` whose param is ``"<code>:identifier"`` (token table),
  which is what ``subject:identifier=system|value`` searches.
* number: value with the implicit range of its significant figures. orjson parses JSON
  decimals to float, so the precision is that of Python's shortest ``repr`` (``1.50``
  in the JSON is indexed like ``1.5``: [1.45, 1.55]); JSON integers are exact
  (``100`` -> [99.5, 100.5]). `Decimal` or ``str`` values keep their exact precision.
* quantity: Quantity and its specialisations (Age, Duration, ...), Money (system
  ``urn:iso:std:iso:4217``, code = currency) and Range (low..high, open ends infinite,
  value = low or high). A comparator widens the range (``<5`` -> [-inf, 5]). The UCUM
  canonical form is set when the system is UCUM (or absent with a code) and the unit
  is known to `socle.fhir.indexing.ucum`.
* date: date/dateTime/instant strings, Period (open ends -> DATE_MIN/DATE_MAX) and Timing
  (one range from the earliest event/bounds start to the latest end). Values without a
  time zone are read in the default zone (UTC unless ``SOCLE_DEFAULT_TIMEZONE``), see
  `socle.fhir.datetime`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from socle.fhir.datetime import parse_range
from socle.fhir.indexing.entries import (
    DATE_MAX,
    DATE_MIN,
    DateEntry,
    IndexEntry,
    NumberEntry,
    QuantityEntry,
    ReferenceEntry,
    StringEntry,
    TokenEntry,
    UriEntry,
)
from socle.fhir.indexing.references import parse_reference, split_canonical
from socle.fhir.indexing.ucum import to_canonical
from socle.fhir.text import normalize as _normalize_uncached

Converter = Callable[[str, Any, list], None]

MAX_STRING = 512
UCUM = "http://unitsofmeasure.org"
ISO_4217 = "urn:iso:std:iso:4217"
_CONTACT_SYSTEMS = frozenset({"phone", "fax", "email", "pager", "url", "sms", "other"})
_NAME_PARTS = ("prefix", "given", "family", "suffix")
_ADDRESS_PARTS = ("line", "city", "district", "state", "postalCode", "country", "text")
_QUANTITY_TYPES = frozenset(
    {"Quantity", "SimpleQuantity", "MoneyQuantity", "Age", "Count", "Distance", "Duration"}
)
_STRING_TYPES = frozenset(
    {"string", "markdown", "code", "id", "uri", "url", "canonical", "oid", "uuid", "xhtml"}
)


normalize = lru_cache(maxsize=65536)(_normalize_uncached)
"""`socle.fhir.text.normalize`, memoised: displays and names repeat across resources."""


def _str(value: Any) -> str | None:
    """A non-empty string field, else None (guards every field read from client JSON)."""
    return value if type(value) is str and value else None


def _norm(value: Any) -> str | None:
    text = _str(value)
    return normalize(text)[:MAX_STRING] if text else None


# ------------------------------------------------------------------------------ string


def string_plain(code: str, value: Any, out: list) -> None:
    """A string/markdown value."""
    if type(value) is str and value:
        out.append(StringEntry(code, normalize(value)[:MAX_STRING], value[:MAX_STRING]))


def string_human_name(code: str, value: Any, out: list) -> None:
    """Every part of a HumanName, then the whole name."""
    if type(value) is not dict:
        return string_plain(code, value, out)
    words: list[str] = []
    for part in _NAME_PARTS:
        item = value.get(part)
        for text in item if type(item) is list else (item,):
            if type(text) is str and text:
                words.append(text)
                string_plain(code, text, out)
    text = _str(value.get("text"))
    string_plain(code, text or " ".join(words), out)


def string_address(code: str, value: Any, out: list) -> None:
    """Every part of an Address."""
    if type(value) is not dict:
        return string_plain(code, value, out)
    for part in _ADDRESS_PARTS:
        item = value.get(part)
        for text in item if type(item) is list else (item,):
            string_plain(code, text, out)


def string_guess(code: str, value: Any, out: list) -> None:
    """A string-like value of unknown type."""
    if type(value) is str:
        string_plain(code, value, out)
    elif type(value) is dict:
        if "family" in value or "given" in value:
            string_human_name(code, value, out)
        elif any(k in value for k in ("line", "city", "postalCode", "country", "district")):
            string_address(code, value, out)
        else:
            string_plain(code, value.get("text"), out)


# ------------------------------------------------------------------------------- token


def token_code(code: str, value: Any, out: list) -> None:
    """A primitive: code/string/uri/id (system None) or boolean/integer."""
    t = type(value)
    if t is str:
        if value:
            out.append(TokenEntry(code, None, value, None))
    elif t is bool:
        out.append(TokenEntry(code, None, "true" if value else "false", None))
    elif t is int:
        out.append(TokenEntry(code, None, str(value), None))


def token_coding(code: str, value: Any, out: list) -> None:
    """Coding: (system, code, normalised display)."""
    if type(value) is not dict:
        return
    system, c, display = _str(value.get("system")), _str(value.get("code")), value.get("display")
    if system or c or display:
        out.append(TokenEntry(code, system, c, _norm(display)))


def token_codeable_concept(code: str, value: Any, out: list) -> None:
    """CodeableConcept: each coding, plus the text as a display-only entry."""
    if type(value) is not dict:
        return
    codings = value.get("coding")
    if type(codings) is list:
        for coding in codings:
            token_coding(code, coding, out)
    text = _norm(value.get("text"))
    if text:
        out.append(TokenEntry(code, None, None, text))


def token_identifier(code: str, value: Any, out: list) -> None:
    """Identifier: (system, value, type display), one entry per type coding for :of-type."""
    if type(value) is not dict:
        return
    system, val = _str(value.get("system")), _str(value.get("value"))
    if not (system or val):
        return
    id_type = value.get("type")
    codings = id_type.get("coding") if type(id_type) is dict else None
    codings = [c for c in codings if type(c) is dict] if type(codings) is list else []
    text = _norm(id_type.get("text")) if type(id_type) is dict else None
    if not codings:
        out.append(TokenEntry(code, system, val, text))
        return
    for coding in codings:
        display = text or _norm(coding.get("display"))
        out.append(
            TokenEntry(
                code, system, val, display, _str(coding.get("system")), _str(coding.get("code"))
            )
        )


def token_contact_point(code: str, value: Any, out: list) -> None:
    """ContactPoint: the value only (system None), as in the R4 token table."""
    if type(value) is not dict:
        return
    val = _str(value.get("value"))
    if val:
        out.append(TokenEntry(code, None, val, None))


def token_guess(code: str, value: Any, out: list) -> None:
    """A token value of unknown type, dispatched on its JSON shape."""
    if type(value) is not dict:
        return token_code(code, value, out)
    if "coding" in value or ("text" in value and "code" not in value and "value" not in value):
        token_codeable_concept(code, value, out)
    elif "value" in value:
        system = value.get("system")
        if system in _CONTACT_SYSTEMS or "use" in value and "type" not in value and not system:
            token_contact_point(code, value, out)
        else:
            token_identifier(code, value, out)
    else:
        token_coding(code, value, out)


# -------------------------------------------------------------------------------- date


def _bounds(text: Any) -> tuple[int, int] | None:
    if type(text) is not str:
        return None
    try:
        low, high, _ = parse_range(text)
    except ValueError:
        return None
    return low, high


def date_string(code: str, value: Any, out: list) -> None:
    """date/dateTime/instant."""
    found = _bounds(value)
    if found is not None:
        out.append(DateEntry(code, found[0], found[1]))


def _period_bounds(value: Any) -> tuple[int, int] | None:
    if type(value) is not dict:
        return None
    start, end = value.get("start"), value.get("end")
    if start is None and end is None:
        return None
    low = _bounds(start) if start is not None else (DATE_MIN, DATE_MIN)
    high = _bounds(end) if end is not None else (DATE_MAX, DATE_MAX)
    if low is None or high is None:
        return None
    return low[0], high[1]


def date_period(code: str, value: Any, out: list) -> None:
    """Period: [start.low, end.high], open ends at DATE_MIN/DATE_MAX."""
    found = _period_bounds(value)
    if found is not None:
        out.append(DateEntry(code, found[0], found[1]))


def date_timing(code: str, value: Any, out: list) -> None:
    """Timing: the outer limits of its events and repeat.boundsPeriod."""
    if type(value) is not dict:
        return
    ranges = []
    events = value.get("event")
    for event in events if type(events) is list else ():
        found = _bounds(event)
        if found is not None:
            ranges.append(found)
    repeat = value.get("repeat")
    if type(repeat) is dict:
        found = _period_bounds(repeat.get("boundsPeriod"))
        if found is not None:
            ranges.append(found)
    if ranges:
        out.append(DateEntry(code, min(r[0] for r in ranges), max(r[1] for r in ranges)))


def date_guess(code: str, value: Any, out: list) -> None:
    """A date value of unknown type."""
    if type(value) is str:
        date_string(code, value, out)
    elif type(value) is dict:
        if "event" in value or "repeat" in value:
            date_timing(code, value, out)
        else:
            date_period(code, value, out)


# ------------------------------------------------------------------------------ number


def number_range(value: Any) -> tuple[float, float, float]:
    """``(value, low, high)``: ±half a unit of the last significant digit.

    Accepts int, float (precision of its shortest repr), Decimal and numeric strings.
    Raises ValueError/TypeError on non-numbers, booleans and non-finite floats.
    """
    t = type(value)
    if t is int:
        return float(value), value - 0.5, value + 0.5
    if t is float:
        if not math.isfinite(value):
            raise ValueError("non-finite number")
        text = repr(value)
        if "e" not in text and "E" not in text:
            digits = len(text) - text.index(".") - 1 if "." in text else 0
            half = 0.5 * 10.0**-digits
            low, high = float(f"{value - half:.15g}"), float(f"{value + half:.15g}")
            return value, low, high
    elif t is not str and not isinstance(value, Decimal):
        raise TypeError(f"not a number: {value!r}")
    else:
        text = str(value).strip()
    try:
        dec = Decimal(text)
    except InvalidOperation as exc:
        raise ValueError(f"not a number: {value!r}") from exc
    if not dec.is_finite():
        raise ValueError("non-finite number")
    exponent = dec.as_tuple().exponent
    half = Decimal(5).scaleb(int(exponent) - 1)
    return float(dec), float(dec - half), float(dec + half)


def number_value(code: str, value: Any, out: list) -> None:
    """integer/decimal; a Range gives its bounds."""
    if type(value) is dict:
        return number_range_value(code, value, out)
    try:
        v, low, high = number_range(value)
    except (ValueError, TypeError):
        return
    out.append(NumberEntry(code, v, low, high))


def number_range_value(code: str, value: Any, out: list) -> None:
    """Range for a number parameter: [low.value, high.value], open ends infinite."""
    found = _range_bounds(value)
    if found is not None:
        out.append(NumberEntry(code, found[0], found[1], found[2]))


# ---------------------------------------------------------------------------- quantity


def _range_bounds(value: Any) -> tuple[float, float, float] | None:
    if type(value) is not dict:
        return None
    lo, hi = value.get("low"), value.get("high")
    lo_v = lo.get("value") if type(lo) is dict else None
    hi_v = hi.get("value") if type(hi) is dict else None
    try:
        low = number_range(lo_v)[0] if lo_v is not None else -math.inf
        high = number_range(hi_v)[0] if hi_v is not None else math.inf
    except (ValueError, TypeError):
        return None
    if lo_v is None and hi_v is None:
        return None
    return (low if lo_v is not None else high), low, high


def _canonical(value: float, system: str | None, unit_code: str | None) -> tuple:
    if unit_code and (system == UCUM or system is None):
        found = to_canonical(value, unit_code)
        if found is not None:
            return found[1], found[0]
    return None, None


def quantity_value(code: str, value: Any, out: list) -> None:
    """Quantity (and Age, Duration...): value range, unit, UCUM canonical form."""
    if type(value) is not dict:
        return
    try:
        v, low, high = number_range(value.get("value"))
    except (ValueError, TypeError):
        return
    comparator = value.get("comparator")
    if comparator in ("<", "<="):
        low = -math.inf
    elif comparator in (">", ">="):
        high = math.inf
    system, unit_code, unit = _str(value.get("system")), _str(value.get("code")), value.get("unit")
    canonical_code, canonical_value = _canonical(v, system, unit_code)
    out.append(
        QuantityEntry(
            code, v, low, high, system, unit_code, _str(unit), canonical_code, canonical_value
        )
    )


def quantity_money(code: str, value: Any, out: list) -> None:
    """Money: the currency is the code, in ISO 4217."""
    if type(value) is not dict:
        return
    try:
        v, low, high = number_range(value.get("value"))
    except (ValueError, TypeError):
        return
    currency = _str(value.get("currency"))
    out.append(QuantityEntry(code, v, low, high, ISO_4217 if currency else None, currency, None))


def quantity_range(code: str, value: Any, out: list) -> None:
    """Range: [low, high] with the unit of whichever bound has one."""
    found = _range_bounds(value)
    if found is None:
        return
    bound = value.get("low") if type(value.get("low")) is dict else value.get("high")
    system, unit_code = _str(bound.get("system")), _str(bound.get("code"))
    canonical_code, canonical_value = _canonical(found[0], system, unit_code)
    out.append(
        QuantityEntry(
            code,
            found[0],
            found[1],
            found[2],
            system,
            unit_code,
            _str(bound.get("unit")),
            canonical_code,
            canonical_value,
        )
    )


def quantity_guess(code: str, value: Any, out: list) -> None:
    """A quantity-like value of unknown type."""
    if type(value) is not dict:
        return
    if "currency" in value:
        quantity_money(code, value, out)
    elif "low" in value or "high" in value:
        quantity_range(code, value, out)
    else:
        quantity_value(code, value, out)


# --------------------------------------------------------------------------- reference


def reference_converter(base_url: str | None) -> Converter:
    """Reference converter; absolute URLs under `base_url` are indexed as local."""

    def convert(code: str, value: Any, out: list) -> None:
        if type(value) is str:
            return reference_canonical(code, value, out)
        if type(value) is not dict:
            return
        ref = value.get("reference")
        if type(ref) is str:
            parsed = parse_reference(ref, base_url)
            if parsed is not None:
                target = parsed.type
                if target is None:
                    declared = _str(value.get("type"))
                    target = declared.rsplit("/", 1)[-1] if declared else None
                out.append(ReferenceEntry(code, target, parsed.id, parsed.url, parsed.version))
        identifier = value.get("identifier")
        if type(identifier) is dict:
            token_identifier(code + ":identifier", identifier, out)

    return convert


def reference_canonical(code: str, value: Any, out: list) -> None:
    """canonical: url and optional ``|version``."""
    if type(value) is str and value:
        url, version = split_canonical(value)
        out.append(ReferenceEntry(code, None, None, url, version))


def reference_uri(code: str, value: Any, out: list) -> None:
    """uri/url used as a reference: the url as is."""
    if type(value) is str and value:
        out.append(ReferenceEntry(code, None, None, value, None))


# --------------------------------------------------------------------------------- uri


def uri_value(code: str, value: Any, out: list) -> None:
    """uri/url/canonical/oid/uuid."""
    if type(value) is str and value:
        out.append(UriEntry(code, value))


def _ignore(code: str, value: Any, out: list) -> None:
    return None


# ---------------------------------------------------------------------------- dispatch

_BY_TYPE: dict[str, dict[str, Converter]] = {
    "string": {
        "HumanName": string_human_name,
        "Address": string_address,
        **dict.fromkeys(_STRING_TYPES, string_plain),
    },
    "token": {
        "Coding": token_coding,
        "CodeableConcept": token_codeable_concept,
        "Identifier": token_identifier,
        "ContactPoint": token_contact_point,
        **dict.fromkeys(_STRING_TYPES | {"boolean", "integer"}, token_code),
    },
    "date": {
        "date": date_string,
        "dateTime": date_string,
        "instant": date_string,
        "Period": date_period,
        "Timing": date_timing,
    },
    "number": {
        "integer": number_value,
        "decimal": number_value,
        "positiveInt": number_value,
        "unsignedInt": number_value,
        "Range": number_range_value,
    },
    "quantity": {
        "Money": quantity_money,
        "Range": quantity_range,
        **dict.fromkeys(_QUANTITY_TYPES, quantity_value),
    },
    "reference": {
        "canonical": reference_canonical,
        "uri": reference_uri,
        "url": reference_uri,
    },
    "uri": dict.fromkeys(("uri", "url", "canonical", "oid", "uuid", "id"), uri_value),
}
_GUESS: dict[str, Converter] = {
    "string": string_guess,
    "token": token_guess,
    "date": date_guess,
    "number": number_value,
    "quantity": quantity_guess,
    "uri": uri_value,
}


def converter_for(
    param_type: str, fhir_type: str | None, base_url: str | None = None
) -> Converter | None:
    """The converter for values of `fhir_type` in a `param_type` parameter.

    None means the combination cannot produce entries (e.g. a date parameter over an
    ``Age`` alternative of ``Condition.onset``), so the extractor can drop it.
    """
    if param_type == "reference":
        if fhir_type in _BY_TYPE["reference"]:
            return _BY_TYPE["reference"][fhir_type]
        if fhir_type in (None, "Reference"):
            return reference_converter(base_url)
        return None
    table = _BY_TYPE.get(param_type)
    if table is None:
        return None
    if fhir_type is None:
        return _GUESS[param_type]
    return table.get(fhir_type)


__all__ = ["Converter", "IndexEntry", "converter_for", "number_range"]
