"""number parameters, and the numeric comparison quantities share.

Per R4 every prefix compares "the range of the search value" with "the range of the
target value". The search value's range is its implicit precision for ``eq``/``ne``
(``100`` means [99.5, 100.5)), the exact value for the other prefixes, and ±10 % for
``ap``. The target's range is the value itself for a plain number (the R4 examples:
``gt100`` is "greater than exactly 100", whatever the stored precision), and a real
interval for a Range (``[low, high]``, open ends infinite) or a Quantity with a
comparator (``<5`` is (-inf, 5]):

- ``eq``: target within the search range; ``ne``: not within it;
- ``gt``/``ge``: the target reaches above (or to) the value; ``lt``/``le``: below (or to);
- ``sa``/``eb``: the target lies entirely above / below the value;
- ``ap``: the target overlaps [value - 10 %, value + 10 %].

Index rows tell the cases apart without a flag: a plain value has
``low < value < high`` (its precision), a comparator or an open end has an infinite
bound, and a Range has ``value = low`` (or ``value = high`` when open below). Each test
is an OR of ANDs of plain comparisons (`disjuncts`): the plain values are served by the
``(…, value)`` indexes, the interval alternatives by the partial ``ix_idx_*_interval``
indexes, through BitmapOr on PostgreSQL and MULTI-INDEX OR on SQLite.
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
    return compare(t.c.value, value, t.c.low, t.c.high)


INF = float("inf")
Conjunctions = list[list[ColumnElement[bool]]]  # OR of ANDs of simple comparisons


def compare(column: Any, v: NumberValue, *args: Any, **kw: Any) -> ColumnElement[bool]:
    """The prefix test of a numeric `column` against `v` (see `disjuncts`)."""
    return or_(*(and_(*terms) for terms in disjuncts(column, v, *args, **kw)))


def disjuncts(
    column: Any,
    v: NumberValue,
    low: Any = None,
    high: Any = None,
    *,
    raw_value: Any = None,
    range_high: Any = None,
) -> Conjunctions:
    """The prefix test as an OR of ANDs of plain comparisons.

    That shape (no OR nested in an AND) lets SQLite's MULTI-INDEX OR and PostgreSQL's
    BitmapOr serve each alternative from an index: ``value > x`` from the value index,
    the interval alternatives from the partial ``ix_idx_*_interval`` indexes.

    `low`/`high` are the row's bounds: given, Ranges and comparators compare as
    intervals. When `column` is a converted value (a quantity's canonical value),
    `raw_value` is the row's own value (to recognise a Range by ``low = value``) and
    `range_high` the Range's high bound converted like `column`.
    """
    if low is None or high is None:
        return _point(column, v)
    raw = column if raw_value is None else raw_value
    top = high if range_high is None else range_high
    return _interval(column, v, low, high, raw, top)


def _point(column: Any, v: NumberValue) -> Conjunctions:
    if v.prefix == "eq":
        return [[column >= v.low, column < v.high]]
    if v.prefix == "ne":
        return [[column < v.low], [column >= v.high]]
    if v.prefix == "ap":
        return [[column >= v.low, column <= v.high]]
    ops = {
        "gt": column.__gt__,
        "sa": column.__gt__,
        "lt": column.__lt__,
        "eb": column.__lt__,
        "ge": column.__ge__,
        "le": column.__le__,
    }
    return [[ops[v.prefix](v.value)]]


def _interval(value: Any, v: NumberValue, low: Any, high: Any, raw: Any, top: Any) -> Conjunctions:
    """Target interval [lo, hi]: lo is -inf (open below) else `value`; hi is +inf (open
    above), else `top` for a Range (``low = raw``), else `value`."""
    x = v.value
    low_open, high_open, is_range = low == -INF, high == INF, low == raw
    closed = [low != -INF, high != INF]
    tests: dict[str, Conjunctions] = {
        "eq": [
            [value >= v.low, value < v.high, *closed, low != raw],
            [value >= v.low, value < v.high, *closed, top < v.high],
        ],
        "ne": [
            [value < v.low],
            [value >= v.high],
            [low_open],
            [high_open],
            [is_range, top >= v.high],
        ],
        "gt": [[value > x], [high_open], [is_range, top > x]],
        "ge": [[value >= x], [high_open], [is_range, top >= x]],
        "lt": [[value < x], [low_open]],
        "le": [[value <= x], [low_open]],
        "sa": [[value > x, low != -INF]],
        "eb": [[value < x, high != INF, low != raw], [value < x, high != INF, top < x]],
        # ap: overlap with [v.low, v.high], i.e. (lo <= v.high) and (hi >= v.low)
        "ap": [
            [below, above]
            for below in (value <= v.high, low_open)
            for above in (value >= v.low, high_open)
        ]
        + [[below, is_range, top >= v.low] for below in (value <= v.high, low_open)],
    }
    return tests[v.prefix]


def sort_value(t: FromClause, descending: bool) -> Any:
    return (func.max if descending else func.min)(t.c.value)
