"""token parameters: ``code``, ``system|code``, ``|code``, ``system|``, ``:not``, ``:text``,
``:of-type``.

``|code`` means "no system" (a NULL system in the index), ``code`` means "any system".
"""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, and_, func, or_
from sqlalchemy.sql.expression import FromClause

from socle.fhir.search.clauses.base import ValueEnv
from socle.fhir.search.values import split_parts, unescape
from socle.fhir.text import normalize

MODIFIERS = frozenset({"not", "text", "of-type"})
NEGATING = frozenset({"not"})


class Token(NamedTuple):
    system: str | None  # None: any system; "" : no system
    code: str | None  # None: any code
    type_system: str | None = None  # :of-type only
    type_code: str | None = None


def parse(raw: str, modifier: str | None, env: ValueEnv) -> Token | str:
    if modifier == "text":
        return normalize(unescape(raw))
    parts = split_parts(raw)
    if modifier == "of-type":
        if len(parts) != 3 or not all(parts):
            raise ValueError("of-type expects type-system|type-code|value")
        return Token(None, parts[2], parts[0], parts[1])
    return parse_token(parts)


def parse_token(parts: list[str]) -> Token:
    """Already split and unescaped parts of a ``[system|]code`` value."""
    if len(parts) == 1:
        return Token(None, parts[0])
    if len(parts) != 2:
        raise ValueError("a token is [system|]code (escape a literal | as \\|)")
    system, code = parts
    if not system and not code:
        raise ValueError("empty system and code")
    return Token(system, code or None)


def match(t: FromClause, value: Token | str, modifier: str | None) -> ColumnElement[bool]:
    if modifier == "text":
        assert isinstance(value, str)
        # the display starts with the text, or one of its words does
        return or_(
            t.c.display.startswith(value, autoescape=True),
            t.c.display.contains(" " + value, autoescape=True),
        )
    assert isinstance(value, Token)
    if modifier == "of-type":
        return and_(
            t.c.type_system == value.type_system,
            t.c.type_code == value.type_code,
            t.c.code == value.code,
        )
    return token_match(t.c.system, t.c.code, value)


def token_match(system: Any, code: Any, value: Token) -> ColumnElement[bool]:
    """The system/code test, reusable on any pair of columns (e.g. ``:identifier``)."""
    tests = []
    if value.code is not None:
        tests.append(code == value.code)
    if value.system == "":
        tests.append(or_(system.is_(None), system == ""))
    elif value.system is not None:
        tests.append(system == value.system)
    return and_(*tests)


def sort_value(t: FromClause, descending: bool) -> Any:
    return (func.max if descending else func.min)(t.c.code)
