"""Value syntax helpers: escaping, prefixes, implicit ranges, prefix bounds."""

from __future__ import annotations

from decimal import Decimal

import pytest

from socle.fhir.search.clauses.uri import ancestors
from socle.fhir.search.values import (
    implicit_range,
    next_prefix,
    parse_decimal,
    split_or,
    split_parts,
    split_prefix,
    unescape,
)


def test_split_or_respects_escapes() -> None:
    assert split_or("a,b") == ["a", "b"]
    assert split_or(r"a\,b,c") == [r"a\,b", "c"]
    assert split_or("a\\\\,b") == ["a\\\\", "b"]  # an escaped backslash does not escape the comma
    assert split_or("") == [""]


def test_split_parts_and_unescape() -> None:
    assert split_parts(r"sys\|x|co\,de") == ["sys|x", "co,de"]
    assert split_parts("|code") == ["", "code"]
    assert unescape(r"a\$b\\c\d") == "a$b\\c\\d"  # unknown escapes stay literal
    assert unescape("trailing\\") == "trailing\\"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ge2020", ("ge", "2020")),
        ("2020", ("eq", "2020")),
        ("ap-5", ("ap", "-5")),
        ("gt.5", ("gt", ".5")),
        ("eq", ("eq", "eq")),
        ("nearly", ("eq", "nearly")),
    ],
)
def test_split_prefix(raw: str, expected: tuple[str, str]) -> None:
    assert split_prefix(raw) == expected


def test_implicit_range() -> None:
    assert implicit_range(Decimal("100")) == (99.5, 100.5)
    assert implicit_range(Decimal("1e2")) == (50.0, 150.0)
    assert implicit_range(Decimal("100.00")) == (99.995, 100.005)
    for bad in ("NaN", "Infinity", "", "1,5", "abc"):
        with pytest.raises(ValueError):
            parse_decimal(bad)


def test_next_prefix() -> None:
    assert next_prefix("dup") == "duq"
    assert next_prefix("") is None
    assert next_prefix("a\U0010ffff") == "b"
    assert next_prefix("\ud7ff") == "\ue000"


def test_uri_ancestors() -> None:
    found = ancestors("http://acme.org/fhir/ValueSet/1")
    assert "http://acme.org/fhir" in found and "http://acme.org/fhir/" in found
    assert "http://acme.org" in found and "http://" not in found and "http:" not in found
    assert ancestors("urn:oid:1.2") == ("urn:oid:1.2",)
