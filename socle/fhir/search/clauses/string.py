"""string parameters: starts-with (default), ``:exact`` and ``:contains``.

Values are compared in the normalised form the indexer wrote (`socle.fhir.text.normalize`:
case, accents and punctuation folded), except ``:exact`` which uses the original text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Boolean, ColumnElement, String, func, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FromClause
from sqlalchemy.sql.functions import FunctionElement

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
        return contains(t.c.value, value)
    return starts_with(t.c.value, value)


class _Contains(FunctionElement[bool]):
    """`column` holds `text`: its arguments are the column, the text, and the ``LIKE``
    form; compiled as ``instr`` on SQLite and as the ``LIKE`` elsewhere."""

    type = Boolean()
    inherit_cache = True
    name = "contains"


def contains(column: Any, text: str) -> ColumnElement[bool]:
    """The normalised `column` contains `text` (``:contains``).

    PostgreSQL gets ``LIKE '%…%'`` (the text's ``%`` and ``_`` escaped), which its trigram
    index answers. SQLite, which has no such index and reads every value of the
    parameter, gets ``instr(value, text) > 0``: the same test on these values (both
    sides are normalised, so lower case: SQLite's LIKE folds ASCII case, PostgreSQL's
    does not, instr neither), without the pattern machinery of LIKE, which cost SQLite
    a third more for the 164,000 Patient names of the 1M benchmark.
    """
    return _Contains(column, literal(text, String), column.contains(text, autoescape=True))


@compiles(_Contains)
def _contains_like(element: _Contains, compiler: Any, **kw: Any) -> str:
    return compiler.process(list(element.clauses)[2], **kw)


@compiles(_Contains, "sqlite")
def _contains_instr(element: _Contains, compiler: Any, **kw: Any) -> str:
    column, text, _ = list(element.clauses)
    return f"(instr({compiler.process(column, **kw)}, {compiler.process(text, **kw)}) > 0)"


def sort_value(t: FromClause, descending: bool) -> Any:
    return (func.max if descending else func.min)(t.c.value)
