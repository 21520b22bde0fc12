"""Which criterion drives a search: a static guess of how many resources each matches.

One criterion becomes the semi-join the query starts from (``pk IN (…)``), the others are
probed per candidate (correlated ``EXISTS``); see `socle.fhir.search.clauses.base`. The
choice matters on SQLite, whose planner knows neither the distribution of the index
values nor the size of a subquery: driving from ``code=29463-7`` (every body weight)
instead of ``subject=Patient/1`` costs a thousand times more. PostgreSQL turns both shapes
into semi-joins and reorders them from its statistics, so a wrong guess costs it little.

The guess ranks criteria by kind and form, from what identifies one or a few resources
(an identifier, a reference to a patient, a string equality) down to what typically
matches a large share of a type (codes, statuses, date ranges, quantities). Ties keep the
order of the request. A criterion that cannot drive (negations, ``_id``…) never does;
``_id``, ``_lastUpdated`` and compartments are answered from the `resource` table and its
own indexes, so when one of them is the best guess no index criterion drives.
"""

from __future__ import annotations

from collections.abc import Sequence

from socle.fhir.search.clauses import HANDLERS
from socle.fhir.search.clauses.date import DateValue
from socle.fhir.search.model import Chain, Criterion, Has, InList, Leaf

NEVER = 100.0  # cannot drive: negations and :missing=true
_DAY_US = 86_400_000_000
# References to these types point into a small shared directory: each target is referred
# to by a large share of the resources (every Observation of a practitioner...).
_DIRECTORY = frozenset(
    {"Organization", "Practitioner", "PractitionerRole", "Location", "HealthcareService"}
)
_IDENTIFYING = ("identifier", "url")
RESOURCE_ID = 0.0  # ``_id``: the unique index of the resource table
COMPARTMENT = 1.0
LIST = 1.0  # ``_list``: the items of a few Lists, found by their unique key


def rank(criterion: Criterion) -> float:
    """Lower is more selective; `NEVER` for a criterion that cannot drive."""
    if isinstance(criterion, Chain):
        return rank(criterion.inner) + 0.5
    if isinstance(criterion, Has):
        return rank(criterion.inner) + 1.0
    if isinstance(criterion, InList):
        return LIST
    return _leaf(criterion)


def _leaf(leaf: Leaf) -> float:
    if leaf.missing is not None:
        return NEVER if leaf.missing else 9.0
    kind, modifier = leaf.kind, leaf.modifier
    if kind == "_id":
        return NEVER if modifier == "not" else RESOURCE_ID
    if kind in HANDLERS and modifier in HANDLERS[kind].NEGATING:
        return NEVER
    if kind == "_lastUpdated":
        return 6.0 if all(_narrow(v) for v in leaf.values) else 8.0
    if kind == "token":
        if modifier == "text":
            return 5.5
        identifying = leaf.code.endswith(":identifier") or any(
            word in leaf.code for word in _IDENTIFYING
        )
        if identifying and all(getattr(v, "code", None) for v in leaf.values):
            return 1.5
        return 7.0
    if kind == "reference":
        types = {getattr(v, "type", None) for v in leaf.values}
        if types & _DIRECTORY:
            return 5.0
        return 2.0
    if kind == "string":
        if modifier == "exact":
            return 3.0
        if modifier == "contains":
            return 8.5  # no index can answer it: every value of the parameter is read
        shortest = min((len(v) for v in leaf.values), default=0)
        return 3.5 if shortest >= 3 else 6.5
    if kind == "uri":
        return 3.0
    if kind == "date":
        # a day of birth dates or of one type's events is rarer than a name prefix
        return 3.2 if all(_narrow(v) for v in leaf.values) else 8.0
    if kind == "composite":
        return 7.5
    return 8.0  # number, quantity


def _narrow(value: object) -> bool:
    """A date test that only a narrow range of instants can meet (eq on a day or less)."""
    return (
        isinstance(value, DateValue)
        and value.prefix == "eq"
        and value.high - value.low < 2 * _DAY_US
    )


def driver(criteria: Sequence[Criterion], compartment: bool = False) -> int | None:
    """Index of the criterion that drives the query; None when none should (no criterion
    can, or ``_id``/``_lastUpdated``/the compartment is a better start)."""
    best, best_rank = None, NEVER
    for i, criterion in enumerate(criteria):
        r = rank(criterion)
        if r < best_rank:
            best, best_rank = i, r
    if best is None:
        return None
    if compartment and best_rank >= COMPARTMENT:
        return None
    leaf = criteria[best]
    if isinstance(leaf, Leaf) and leaf.kind in ("_id", "_lastUpdated"):
        return None
    return best


# --- measured choice --------------------------------------------------------------------
# When the best guess is not an identifier, a reference or an id (rank >= UNCERTAIN) and
# several criteria could drive, the engine asks the index how many rows each has, up to
# PROBE_CAP (``SELECT count(*) FROM (SELECT 1 FROM idx_… WHERE … LIMIT cap)``): a few
# hundred index entries at most per criterion, which is nothing next to driving from
# 140,000 body weights to find the three above 150 kg. Only criteria whose test bounds
# the index scan are measured (a prefix, a code, a closed or one-sided value range), so
# that the measure itself never reads a whole parameter.

UNCERTAIN = 3.0
PROBE_CAP = 256
# SQLite, one criterion in pk order: at or above this many rows, walking the resources in
# rowid order and probing each beats materialising the criterion's whole list of pks
# (see `SearchEngine._rows`); it is measured up to this cap.
DENSE_ROWS = 5000
_BOUNDED_DATES = frozenset({"eq", "lt", "le", "eb", "sa", "ap"})
_BOUNDED_NUMBERS = frozenset({"eq", "gt", "ge", "lt", "le", "sa", "eb", "ap"})


def measurable(criterion: Criterion) -> bool:
    """An index leaf whose test is answered by a bounded scan of its value index."""
    if not isinstance(criterion, Leaf) or criterion.missing is not None:
        return False
    kind, modifier = criterion.kind, criterion.modifier
    if kind == "token":
        return modifier is None and all(getattr(v, "code", None) for v in criterion.values)
    if kind == "string":
        return modifier in (None, "exact")
    if kind == "date":
        return all(getattr(v, "prefix", None) in _BOUNDED_DATES for v in criterion.values)
    if kind in ("number", "quantity"):
        prefixes = [getattr(getattr(v, "number", v), "prefix", None) for v in criterion.values]
        return all(p in _BOUNDED_NUMBERS for p in prefixes)
    return kind == "uri" and modifier is None


def to_measure(criteria: Sequence[Criterion], static: int | None) -> list[int]:
    """The criteria worth measuring before choosing (none when the guess is sure)."""
    if static is None or rank(criteria[static]) < UNCERTAIN:
        return []
    found = [i for i, c in enumerate(criteria) if rank(c) < NEVER and measurable(c)]
    return found if len(found) >= 2 else []
