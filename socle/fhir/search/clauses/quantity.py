"""quantity parameters: ``[prefix]number[|system|code]`` and ``number||code``.

When the query unit is a UCUM unit (system UCUM or absent) that the indexer's
canonicaliser (`socle.fhir.indexing.ucum`) understands, the search runs on the canonical
columns, so ``le1|http://unitsofmeasure.org|g`` finds ``500 mg``. The conversion is
strictly increasing, so converting the bounds of the search range is exact. Rows the
indexer could not canonicalise still match on their own unit.

Prefixes follow `socle.fhir.search.clauses.number` (ranges and comparators compare as
intervals). In canonical units the high bound of a Range is converted exactly when the
Range is in the query's unit, and with the row's own factor (canonical value / value)
otherwise, which holds for the multiplicative UCUM units; a Range in another unit that
starts at 0, or in an offset unit (Cel, [degF]), then loses its high bound.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, and_, case, func, or_
from sqlalchemy.sql.expression import FromClause

from socle.fhir.indexing.ucum import to_canonical
from socle.fhir.search.clauses.base import ValueEnv
from socle.fhir.search.clauses.number import Conjunctions, NumberValue, number_value
from socle.fhir.search.clauses.number import disjuncts as number_disjuncts
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
    return or_(*(and_(*terms) for terms in disjuncts(t, value)))


def disjuncts(t: FromClause, value: QuantityValue) -> Conjunctions:
    """The test as an OR of ANDs (see `number.disjuncts`): canonical rows compared in
    canonical units, rows the indexer could not canonicalise on their own unit."""
    units: Conjunctions = [[]]
    if value.system is not None:
        units = [[t.c.system == value.system]]
        if value.code is not None:
            units[0].append(t.c.code == value.code)
    elif value.code is not None:  # no system: the unit code or its display
        units = [[t.c.code == value.code], [t.c.unit == value.code]]
    plain = number_disjuncts(t.c.value, value.number, t.c.low, t.c.high)
    if value.canonical is None:
        return [[*u, *p] for u in units for p in plain]
    converted = number_disjuncts(
        t.c.canonical_value,
        value.canonical,
        t.c.low,
        t.c.high,
        raw_value=t.c.value,
        range_high=_canonical_high(t, value.code),
    )
    canonical = [[t.c.canonical_code == value.canonical_code, *c] for c in converted]
    if value.system == UCUM:
        # rows in this very UCUM unit were canonicalised by the same function: no plain
        # row can match, and leaving the branch out keeps the plan on the indexes
        return canonical
    return canonical + [[t.c.canonical_code.is_(None), *u, *p] for u in units for p in plain]


def _canonical_high(t: FromClause, code: str | None) -> Any:
    """A Range's high bound in canonical units.

    In the query's own unit the conversion is known (affine: ``Cel`` too); in another
    unit it is taken from the row itself (canonical value / value), which holds for the
    multiplicative units and is unknown (NULL: no match) for a Range starting at 0.
    """
    from_row = t.c.high * (t.c.canonical_value / func.nullif(t.c.value, 0.0))
    zero, one = (to_canonical(x, code) if code else None for x in (0.0, 1.0))
    if zero is None or one is None:
        return from_row
    scale, offset = one[0] - zero[0], zero[0]
    return case((t.c.code == code, t.c.high * scale + offset), else_=from_row)


def sort_value(t: FromClause, descending: bool) -> Any:
    return (func.max if descending else func.min)(t.c.value)
