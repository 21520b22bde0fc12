from __future__ import annotations

import math
from decimal import Decimal

import pytest

from socle.fhir.indexing import convert as c
from socle.fhir.indexing.entries import (
    DATE_MAX,
    DATE_MIN,
    DateEntry,
    NumberEntry,
    QuantityEntry,
    ReferenceEntry,
    StringEntry,
    TokenEntry,
    UriEntry,
)
from socle.fhir.indexing.references import ParsedReference, parse_reference, split_canonical
from socle.fhir.indexing.ucum import to_canonical, unit_factor
from tests.fhir.test_datetime import us

UCUM = "http://unitsofmeasure.org"


def run(converter, value) -> list:
    out: list = []
    converter("p", value, out)
    return out


# ----------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (100, (100.0, 99.5, 100.5)),
        (0, (0.0, -0.5, 0.5)),
        (-3, (-3.0, -3.5, -2.5)),
        (1.5, (1.5, 1.45, 1.55)),
        (100.0, (100.0, 99.95, 100.05)),
        (0.001, (0.001, 0.0005, 0.0015)),
        (1e-05, (1e-05, 5e-06, 1.5e-05)),
        (Decimal("1.50"), (1.5, 1.495, 1.505)),
        ("1.50", (1.5, 1.495, 1.505)),
        ("100", (100.0, 99.5, 100.5)),
        ("1e2", (100.0, 50.0, 150.0)),
    ],
)
def test_number_range(value, expected) -> None:
    assert c.number_range(value) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("value", [True, None, "abc", float("nan"), float("inf"), [1], "NaN"])
def test_number_range_rejects(value) -> None:
    with pytest.raises((ValueError, TypeError)):
        c.number_range(value)


def test_number_converter() -> None:
    assert run(c.number_value, 3) == [NumberEntry("p", 3.0, 2.5, 3.5)]
    assert run(c.number_value, True) == []
    assert run(c.number_value, {"low": {"value": 0.2}, "high": {"value": 0.4}}) == [
        NumberEntry("p", 0.2, 0.2, 0.4)
    ]


# -------------------------------------------------------------------------------- UCUM


@pytest.mark.parametrize(
    ("value", "code", "canonical"),
    [
        (72.5, "kg", (72500.0, "g")),
        (500, "mg", (0.5, "g")),
        (250, "ug", (0.00025, "g")),
        (1, "[lb_av]", (453.59237, "g")),
        (1.5, "L", (0.0015, "m3")),
        (250, "mL", (0.00025, "m3")),
        (3, "dL", (0.0003, "m3")),
        (180, "cm", (1.8, "m")),
        (12, "mm", (0.012, "m")),
        (2, "[in_i]", (0.0508, "m")),
        (90, "s", (90.0, "s")),
        (30, "min", (1800.0, "s")),
        (2, "h", (7200.0, "s")),
        (4, "d", (345600.0, "s")),
        (1, "wk", (604800.0, "s")),
        (52, "a", (1640995200.0, "s")),
        (6, "mo", (15778800.0, "s")),
        (5, "mmol", (0.005, "mol")),
        (40, "umol", (4e-05, "mol")),
        (5.5, "mmol/L", (5.5, "mol.m-3")),
        (45, "%", (0.45, "1")),
        (37, "Cel", (310.15, "K")),
        (98.6, "[degF]", (310.15, "K")),
        (24.2, "kg/m2", (24200.0, "g.m-2")),
        (120, "mm[Hg]", (15998640.0, "g.m-1.s-2")),
        (13, "kPa", (13000000.0, "g.m-1.s-2")),
        (7.5, "10*9/L", (7.5e12, "m-3")),
        (72, "/min", (1.2, "s-1")),
        (72, "{beats}/min", (1.2, "s-1")),
        (90, "mL/min/{1.73_m2}", (1.5e-06, "m3.s-1")),
        (35, "U/L", (0.000583333333333, "mol.m-3.s-1")),
        (10, "m[iU]/mL", (10000.0, "[iU].m-3")),
        (1, "1", (1.0, "1")),
    ],
)
def test_ucum_canonical(value, code, canonical) -> None:
    got = to_canonical(value, code)
    assert got is not None, code
    assert got[1] == canonical[1]
    assert got[0] == pytest.approx(canonical[0], rel=1e-9)


def test_ucum_commensurable_units_agree() -> None:
    assert to_canonical(100, "mg/dL") == to_canonical(1, "g/L") == (1000.0, "g.m-3")
    assert to_canonical(1, "mmol/L") == to_canonical(1000, "umol/L")
    assert to_canonical(10, "m[iU]/mL") == to_canonical(10, "[IU]/L")
    assert to_canonical(0.1 * 3, "g")[0] == 0.3  # float noise is rounded away


@pytest.mark.parametrize("code", ["", "cd", "foo", "kmin", "mg//dL", "mg/", "Cel/s", "[pH]"])
def test_ucum_unknown_units(code: str) -> None:
    assert to_canonical(1, code) is None
    assert code == "Cel/s" or unit_factor(code) is None


# -------------------------------------------------------------------------- references


@pytest.mark.parametrize(
    ("reference", "base", "expected"),
    [
        ("Patient/123", None, ParsedReference("Patient", "123", None, None)),
        ("Patient/123/_history/2", None, ParsedReference("Patient", "123", "2", None)),
        (
            "http://x.org/fhir/Patient/123",
            None,
            ParsedReference("Patient", "123", None, "http://x.org/fhir/Patient/123"),
        ),
        (
            "http://x.org/fhir/Patient/123/_history/4",
            None,
            ParsedReference("Patient", "123", "4", "http://x.org/fhir/Patient/123"),
        ),
        (
            "http://x.org/fhir/Patient/123",
            "http://x.org/fhir/",
            ParsedReference("Patient", "123", None, None),
        ),
        ("urn:uuid:1234", None, ParsedReference(None, None, None, "urn:uuid:1234")),
        ("http://x.org/doc.pdf", None, ParsedReference(None, None, None, "http://x.org/doc.pdf")),
        ("#c1", None, None),
        ("", None, None),
        ("Patient?identifier=x|1", None, None),
        ("patient/1", None, None),
    ],
)
def test_parse_reference(reference, base, expected) -> None:
    assert parse_reference(reference, base) == expected


def test_split_canonical() -> None:
    assert split_canonical("http://x/StructureDefinition/y|1.0") == (
        "http://x/StructureDefinition/y",
        "1.0",
    )
    assert split_canonical("http://x/StructureDefinition/y") == (
        "http://x/StructureDefinition/y",
        None,
    )
    assert split_canonical("http://x/y|") == ("http://x/y", None)


def test_reference_converter() -> None:
    convert = c.reference_converter("https://socle.example.org/fhir")
    assert run(convert, {"reference": "Patient/1/_history/2", "display": "X"}) == [
        ReferenceEntry("p", "Patient", "1", None, "2")
    ]
    assert run(convert, {"reference": "https://socle.example.org/fhir/Patient/1"}) == [
        ReferenceEntry("p", "Patient", "1", None, None)
    ]
    assert run(convert, {"reference": "urn:uuid:abc", "type": "Patient"}) == [
        ReferenceEntry("p", "Patient", None, "urn:uuid:abc", None)
    ]
    assert run(convert, {"reference": "#contained"}) == []
    assert run(convert, {"identifier": {"system": "urn:oid:1.2", "value": "42"}}) == [
        TokenEntry("p:identifier", "urn:oid:1.2", "42", None)
    ]
    assert run(convert, "http://x/Questionnaire/q|2") == [
        ReferenceEntry("p", None, None, "http://x/Questionnaire/q", "2")
    ]
    assert run(convert, 42) == [] and run(convert, {"reference": 42}) == []
    assert run(c.reference_canonical, "http://x/ValueSet/v") == [
        ReferenceEntry("p", None, None, "http://x/ValueSet/v", None)
    ]
    assert run(c.reference_uri, "http://x/a|b") == [
        ReferenceEntry("p", None, None, "http://x/a|b", None)
    ]


# ------------------------------------------------------------------------------ tokens


def test_token_primitives() -> None:
    assert run(c.token_code, "female") == [TokenEntry("p", None, "female", None)]
    assert run(c.token_code, True) == [TokenEntry("p", None, "true", None)]
    assert run(c.token_code, False) == [TokenEntry("p", None, "false", None)]
    assert run(c.token_code, 3) == [TokenEntry("p", None, "3", None)]
    assert run(c.token_code, "") == [] and run(c.token_code, 1.5) == []


def test_token_codeable_concept() -> None:
    concept = {
        "coding": [
            {"system": "http://loinc.org", "code": "29463-7", "display": "Body Weight"},
            {"system": "http://snomed.info/sct", "code": "27113001"},
            "garbage",
        ],
        "text": "Poids corporel",
    }
    assert run(c.token_codeable_concept, concept) == [
        TokenEntry("p", "http://loinc.org", "29463-7", "body weight"),
        TokenEntry("p", "http://snomed.info/sct", "27113001", None),
        TokenEntry("p", None, None, "poids corporel"),
    ]
    assert run(c.token_coding, {"system": 5, "code": "x"}) == [TokenEntry("p", None, "x", None)]


def test_token_identifier() -> None:
    identifier = {
        "type": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}],
            "text": "Numéro de dossier",
        },
        "system": "http://hopital.example.org/ipp",
        "value": "IPP-42",
    }
    assert run(c.token_identifier, identifier) == [
        TokenEntry(
            "p",
            "http://hopital.example.org/ipp",
            "IPP-42",
            "numero de dossier",
            "http://terminology.hl7.org/CodeSystem/v2-0203",
            "MR",
        )
    ]
    assert run(c.token_identifier, {"value": "x"}) == [TokenEntry("p", None, "x", None)]
    assert run(c.token_identifier, {"type": {"text": "t"}}) == []


def test_token_contact_point_uses_value_only() -> None:
    point = {"system": "phone", "value": "01 23 45 67 89", "use": "work"}
    assert run(c.token_contact_point, point) == [TokenEntry("p", None, "01 23 45 67 89", None)]


def test_token_guess_by_shape() -> None:
    assert run(c.token_guess, {"system": "phone", "value": "01"}) == [
        TokenEntry("p", None, "01", None)
    ]
    assert run(c.token_guess, {"system": "urn:oid:1.2", "value": "01"}) == [
        TokenEntry("p", "urn:oid:1.2", "01", None)
    ]
    assert run(c.token_guess, {"coding": [{"code": "a"}]}) == [TokenEntry("p", None, "a", None)]
    assert run(c.token_guess, {"system": "s", "code": "a"}) == [TokenEntry("p", "s", "a", None)]
    assert run(c.token_guess, "x") == [TokenEntry("p", None, "x", None)]


# ----------------------------------------------------------------------------- strings


def test_string_human_name() -> None:
    name = {"family": "Lefèvre", "given": ["Hélène", "Zoé"], "suffix": ["Jr"], "prefix": ["Dr"]}
    assert run(c.string_human_name, name) == [
        StringEntry("p", "dr", "Dr"),
        StringEntry("p", "helene", "Hélène"),
        StringEntry("p", "zoe", "Zoé"),
        StringEntry("p", "lefevre", "Lefèvre"),
        StringEntry("p", "jr", "Jr"),
        StringEntry("p", "dr helene zoe lefevre jr", "Dr Hélène Zoé Lefèvre Jr"),
    ]
    assert run(c.string_human_name, {"text": "Œdipe Roi", "given": [None, 5]}) == [
        StringEntry("p", "oedipe roi", "Œdipe Roi")
    ]


def test_string_address() -> None:
    address = {
        "line": ["3 place de l'Hôtel-de-Ville"],
        "city": "Lyon",
        "district": "Rhône",
        "postalCode": "69001",
        "country": "France",
        "use": "home",
    }
    assert [e.value for e in run(c.string_address, address)] == [
        "3 place de l hotel de ville",
        "lyon",
        "rhone",
        "69001",
        "france",
    ]


def test_string_truncation_and_guess() -> None:
    long_text = "é" * 1000
    (entry,) = run(c.string_plain, long_text)
    assert len(entry.value) == len(entry.exact) == c.MAX_STRING
    assert run(c.string_guess, {"family": "Martin"})[0] == StringEntry("p", "martin", "Martin")
    assert run(c.string_guess, {"city": "Nantes"}) == [StringEntry("p", "nantes", "Nantes")]
    assert run(c.string_guess, 5) == []


# ------------------------------------------------------------------------------- dates


def test_date_values() -> None:
    assert run(c.date_string, "2024") == [DateEntry("p", us(2024, 1, 1), us(2025, 1, 1) - 1)]
    assert run(c.date_string, "not a date") == []
    assert run(c.date_period, {"start": "2024-01-01", "end": "2024-01-31"}) == [
        DateEntry("p", us(2024, 1, 1), us(2024, 2, 1) - 1)
    ]
    assert run(c.date_period, {"start": "2024-01-01"}) == [DateEntry("p", us(2024, 1, 1), DATE_MAX)]
    assert run(c.date_period, {"end": "2024-01-01"}) == [
        DateEntry("p", DATE_MIN, us(2024, 1, 2) - 1)
    ]
    assert run(c.date_period, {}) == [] and run(c.date_period, {"start": "bad"}) == []


def test_timing_uses_outer_limits() -> None:
    timing = {
        "event": ["2024-03-05T08:00:00Z", "2024-03-01T08:00:00Z", "junk"],
        "repeat": {"boundsPeriod": {"start": "2024-02-28", "end": "2024-03-02"}, "frequency": 2},
    }
    assert run(c.date_timing, timing) == [
        DateEntry("p", us(2024, 2, 28), us(2024, 3, 5, 8, 0, 1) - 1)
    ]
    assert run(c.date_timing, {"code": {"text": "BID"}}) == []
    assert run(c.date_guess, {"repeat": {"boundsPeriod": {"start": "2024"}}}) == [
        DateEntry("p", us(2024, 1, 1), DATE_MAX)
    ]


# --------------------------------------------------------------------------- quantities


def test_quantity_value() -> None:
    quantity = {"value": 5.4, "unit": "mmol/l", "system": UCUM, "code": "mmol/L"}
    assert run(c.quantity_value, quantity) == [
        QuantityEntry("p", 5.4, 5.35, 5.45, UCUM, "mmol/L", "mmol/l", "mol.m-3", 5.4)
    ]
    other_system = {"value": 2, "system": "http://snomed.info/sct", "code": "258684004"}
    assert run(c.quantity_value, other_system) == [
        QuantityEntry("p", 2.0, 1.5, 2.5, "http://snomed.info/sct", "258684004", None)
    ]
    no_system = {"value": 2, "code": "mg"}
    assert run(c.quantity_value, no_system)[0].canonical_code == "g"
    assert run(c.quantity_value, {"unit": "mg"}) == []
    assert run(c.quantity_value, {"value": "x"}) == []


def test_quantity_comparator_widens_range() -> None:
    (less,) = run(c.quantity_value, {"value": 5, "comparator": "<", "code": "mg", "system": UCUM})
    assert (less.low, less.high) == (-math.inf, 5.5)
    (more,) = run(c.quantity_value, {"value": 5, "comparator": ">="})
    assert (more.low, more.high) == (4.5, math.inf)


def test_money_and_range() -> None:
    assert run(c.quantity_money, {"value": 12.5, "currency": "EUR"}) == [
        QuantityEntry("p", 12.5, 12.45, 12.55, "urn:iso:std:iso:4217", "EUR", None)
    ]
    assert run(
        c.quantity_range, {"low": {"value": 18, "unit": "a", "system": UCUM, "code": "a"}}
    ) == [QuantityEntry("p", 18.0, 18.0, math.inf, UCUM, "a", "a", "s", 568036800.0)]
    assert run(c.quantity_range, {"high": {"value": 3}}) == [
        QuantityEntry("p", 3.0, -math.inf, 3.0, None, None, None)
    ]
    assert run(c.quantity_range, {}) == []


def test_uri_value() -> None:
    assert run(c.uri_value, "urn:oid:1.2.3") == [UriEntry("p", "urn:oid:1.2.3")]
    assert run(c.uri_value, {"x": 1}) == []


def test_converter_for() -> None:
    assert c.converter_for("token", "Identifier") is c.token_identifier
    assert c.converter_for("token", None) is c.token_guess
    assert c.converter_for("date", "Age") is None
    assert c.converter_for("reference", "canonical") is c.reference_canonical
    assert c.converter_for("reference", "Attachment") is None
    assert c.converter_for("special", "Location") is None
    assert c.converter_for("quantity", "Duration") is c.quantity_value
