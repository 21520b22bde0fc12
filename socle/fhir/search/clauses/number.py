"""number parameters, and the numeric comparison quantities share.

Per R4, ``eq``/``ne`` use the implicit precision of the search value (``100`` means
[99.5, 100.5)), the other prefixes compare with the exact value, and ``ap`` accepts
±10 % of it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, and_, func, or_
from sqlalchemy.sql.expression import FromClause

from socle.fhir.search.clauses.base import ValueEnv
from socle.fhir.search.values import implicit_range, parse_decimal, split_prefix, unescape

MODIFIERS: frozenset[str] = frozenset()
NEGATING: frozenset[str] = frozenset()


class NumberValue(NamedTuple):
    prefix: str
    value: float
    low: float  # eq/ne: implicit range [low, high); ap: [value - 10 %, value + 10 %]
    high: float


def parse(raw: str, modifier: str | None, env: ValueEnv) -> NumberValue:
    prefix, text = split_prefix(unescape(raw))
    return number_value(prefix, text)


def number_value(prefix: str, text: str) -> NumberValue:
    number = parse_decimal(text)
    low, high = implicit_range(number)
    value = float(number)
    if prefix == "ap":
        margin = abs(value) / 10 or (high - low) / 2
        low, high = value - margin, value + margin
    return NumberValue(prefix, value, low, high)


def match(t: FromClause, value: NumberValue, modifier: str | None) -> ColumnElement[bool]:
    return compare(t.c.value, value)


def compare(column: Any, v: NumberValue) -> ColumnElement[bool]:
    """The prefix test of a numeric column against `v`."""
    if v.prefix == "eq":
        return and_(column >= v.low, column < v.high)
    if v.prefix == "ne":
        return or_(column < v.low, column >= v.high)
    if v.prefix == "ap":
        return and_(column >= v.low, column <= v.high)
    ops = {
        "gt": column.__gt__,
        "sa": column.__gt__,
        "lt": column.__lt__,
        "eb": column.__lt__,
        "ge": column.__ge__,
        "le": column.__le__,
    }
    return ops[v.prefix](v.value)


def sort_value(t: FromClause, descending: bool) -> Any:
    return (func.max if descending else func.min)(t.c.value)
