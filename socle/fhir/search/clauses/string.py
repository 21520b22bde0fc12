"""string parameters: starts-with (default), ``:exact`` and ``:contains``.

Values are compared in the normalised form the indexer wrote (`socle.fhir.text.normalize`:
case, accents and punctuation folded), except ``:exact`` which uses the original text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, func
from sqlalchemy.sql.expression import FromClause

from socle.fhir.indexing.convert import MAX_STRING
from socle.fhir.search.clauses.base import ValueEnv, starts_with
from socle.fhir.search.values import unescape
from socle.fhir.text import normalize

MODIFIERS = frozenset({"exact", "contains"})
NEGATING: frozenset[str] = frozenset()
_TRIGRAM = re.compile(r"\w{3}")  # pg_trgm looks a LIKE pattern up by its trigrams


def trigram_searchable(kind: str, modifier: str | None, values: Iterable[Any]) -> bool:
    """A ``:contains`` whose every value has a trigram to look up (three word
    characters in a row); shorter values would make the trigram index read itself
    whole, and are better answered from the parameter's B-tree range."""
    return kind == "string" and modifier == "contains" and all(_TRIGRAM.search(v) for v in values)


def parse(raw: str, modifier: str | None, env: ValueEnv) -> str:
    text = unescape(raw)  # truncated like the indexed values, so long prefixes still match
    return text[:MAX_STRING] if modifier == "exact" else normalize(text)[:MAX_STRING]


def match(t: FromClause, value: str, modifier: str | None) -> ColumnElement[bool]:
    if modifier == "exact":
        return t.c.exact == value
    if modifier == "contains":
        return t.c.value.contains(value, autoescape=True)  # escapes % and _ in the value
    return starts_with(t.c.value, value)


def sort_value(t: FromClause, descending: bool) -> Any:
    return (func.max if descending else func.min)(t.c.value)
