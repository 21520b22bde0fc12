"""quantity parameters: ``[prefix]number[|system|code]`` and ``number||code``.

When the query unit is a UCUM unit (system UCUM or absent) that the indexer's
canonicaliser (`socle.fhir.indexing.ucum`) understands, the search runs on the canonical
columns, so ``le1|http://unitsofmeasure.org|g`` finds ``500 mg``. The conversion is
strictly increasing, so converting the bounds of the search range is exact. Rows the
indexer could not canonicalise still match on their own unit.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, and_, func, or_
from sqlalchemy.sql.expression import FromClause

from socle.fhir.indexing.ucum import to_canonical
from socle.fhir.search.clauses.base import ValueEnv
from socle.fhir.search.clauses.number import NumberValue, compare, number_value
from socle.fhir.search.values import split_parts, split_prefix, split_unescaped, unescape

MODIFIERS: frozenset[str] = frozenset()
NEGATING: frozenset[str] = frozenset()
UCUM = "http://unitsofmeasure.org"


class QuantityValue(NamedTuple):
    number: NumberValue
    system: str | None
    code: str | None
    canonical_code: str | None = None
    canonical: NumberValue | None = None


def parse(raw: str, modifier: str | None, env: ValueEnv) -> QuantityValue:
    pieces = split_unescaped(raw, "|")
    if len(pieces) not in (1, 3):
        raise ValueError("a quantity is [prefix]number or [prefix]number|system|code")
    prefix, text = split_prefix(unescape(pieces[0]))
    number = number_value(prefix, text)
    if len(pieces) == 1:
        return QuantityValue(number, None, None)
    _, system, code = split_parts(raw)
    value = QuantityValue(number, system or None, code or None)
    return canonicalise(value)


def canonicalise(value: QuantityValue) -> QuantityValue:
    """Add the canonical form of a UCUM query value, when the unit is convertible.

    Mirrors the indexer, which canonicalises UCUM units and units given without a system.
    """
    if value.system not in (UCUM, None) or not value.code:
        return value
    n = value.number
    points = [to_canonical(x, value.code) for x in (n.value, n.low, n.high)]
    if any(p is None for p in points):
        return value
    (cv, code), (low, _), (high, _) = points  # type: ignore[misc]
    return value._replace(canonical_code=code, canonical=NumberValue(n.prefix, cv, low, high))


def match(t: FromClause, value: QuantityValue, modifier: str | None) -> ColumnElement[bool]:
    plain = [compare(t.c.value, value.number)]
    if value.system is not None:
        plain.append(t.c.system == value.system)
        if value.code is not None:
            plain.append(t.c.code == value.code)
    elif value.code is not None:
        plain.append(or_(t.c.code == value.code, t.c.unit == value.code))
    if value.canonical is None:
        return and_(*plain)
    return or_(
        and_(
            t.c.canonical_code == value.canonical_code,
            compare(t.c.canonical_value, value.canonical),
        ),
        and_(t.c.canonical_code.is_(None), *plain),
    )


def sort_value(t: FromClause, descending: bool) -> Any:
    return (func.max if descending else func.min)(t.c.value)
