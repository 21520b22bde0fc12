"""date parameters: prefixes with the R4 range semantics.

Both the resource value and the search value are inclusive ``[low, high]`` µs ranges
(`socle.fhir.datetime.parse_range`). Per the R4 prefix table:

- ``eq``: the search range fully contains the resource range; ``ne``: it does not;
- ``gt``/``lt``: the resource range reaches above / below the search range;
- ``ge``/``le``: ``gt``/``lt`` or ``eq``;
- ``sa``/``eb``: the resource range starts after / ends before the search range;
- ``ap``: the ranges overlap once the search range is widened by 10 % of its distance
  to now (at least a day), as the spec suggests.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, and_, func, or_
from sqlalchemy.sql.expression import FromClause

from socle.fhir.datetime import parse_range
from socle.fhir.search.clauses.base import ValueEnv
from socle.fhir.search.values import split_prefix, unescape

MODIFIERS: frozenset[str] = frozenset()
NEGATING: frozenset[str] = frozenset()
_DAY_US = 86_400_000_000


class DateValue(NamedTuple):
    prefix: str
    low: int
    high: int


def parse(raw: str, modifier: str | None, env: ValueEnv) -> DateValue:
    prefix, text = split_prefix(unescape(raw))
    low, high, _ = parse_range(text)
    if prefix == "ap":
        margin = max(abs(env.now_us - low) // 10, _DAY_US)
        low, high = low - margin, high + margin
    return DateValue(prefix, low, high)


def match(t: FromClause, value: DateValue, modifier: str | None) -> ColumnElement[bool]:
    return range_match(t.c.low, t.c.high, value)


def range_match(low: Any, high: Any, v: DateValue) -> ColumnElement[bool]:
    """The prefix test for a resource range [low, high] (columns) against `v`.

    Since ``low <= high`` in every row, ``high <= x`` implies ``low <= x``: those implied
    bounds on ``low`` are written out too. They change no result, but they close the
    range scanned in the ``(…, low, high)`` index (``eq`` a day: that day's rows instead
    of every row from that day to the end of the table) and give the planners a range
    they can estimate (PostgreSQL took ``low >= a AND high <= b`` for 60,000 rows where
    300 matched, and chose its plan accordingly).
    """
    within = and_(low >= v.low, high <= v.high, low <= v.high)
    tests = {
        "eq": lambda: within,
        "ne": lambda: or_(low < v.low, high > v.high),
        "gt": lambda: high > v.high,
        "lt": lambda: low < v.low,
        "ge": lambda: or_(high > v.high, within),
        "le": lambda: and_(low <= v.high, or_(low < v.low, within)),
        "sa": lambda: low > v.high,
        "eb": lambda: and_(high < v.low, low < v.low),
        "ap": lambda: and_(low <= v.high, high >= v.low),
    }
    return tests[v.prefix]()


def point_match(column: Any, v: DateValue) -> ColumnElement[bool]:
    """The prefix test for an instant stored as one column (``_lastUpdated``): the
    range test with ``low = high``, simplified to plain comparisons so that each prefix is
    one range of the ``(tenant, res_type, last_updated)`` index."""
    tests = {
        "eq": lambda: and_(column >= v.low, column <= v.high),
        "ne": lambda: or_(column < v.low, column > v.high),
        "gt": lambda: column > v.high,
        "lt": lambda: column < v.low,
        "ge": lambda: column >= v.low,
        "le": lambda: column <= v.high,
        "sa": lambda: column > v.high,
        "eb": lambda: column < v.low,
        "ap": lambda: and_(column >= v.low, column <= v.high),
    }
    return tests[v.prefix]()


def sort_value(t: FromClause, descending: bool) -> Any:
    return func.max(t.c.high) if descending else func.min(t.c.low)
