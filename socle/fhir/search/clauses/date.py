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
    """The prefix test for a resource range [low, high] (columns) against `v`."""
    within = and_(low >= v.low, high <= v.high)
    tests = {
        "eq": lambda: within,
        "ne": lambda: or_(low < v.low, high > v.high),
        "gt": lambda: high > v.high,
        "lt": lambda: low < v.low,
        "ge": lambda: or_(high > v.high, within),
        "le": lambda: or_(low < v.low, within),
        "sa": lambda: low > v.high,
        "eb": lambda: high < v.low,
        "ap": lambda: and_(low <= v.high, high >= v.low),
    }
    return tests[v.prefix]()


def sort_value(t: FromClause, descending: bool) -> Any:
    return func.max(t.c.high) if descending else func.min(t.c.low)
