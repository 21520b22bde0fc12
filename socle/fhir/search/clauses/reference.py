"""reference parameters: ``id``, ``Type/id``, absolute URL, canonical ``url|version``,
and the ``:[Type]`` modifier (``:identifier`` is rewritten to a token search by the parser).

Local references (relative, or absolute under this server's base) are indexed with
``url`` NULL; absolute references to another server keep their ``url`` (and a parsed
type/id), so a local search adds ``url IS NULL`` and never matches a remote resource
that happens to share a type and id.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, and_, func
from sqlalchemy.sql.expression import FromClause

from socle.fhir.indexing.references import parse_reference
from socle.fhir.search.clauses.base import ValueEnv
from socle.fhir.search.values import split_parts

MODIFIERS: frozenset[str] = frozenset()  # :[Type] is checked against the targets instead
NEGATING: frozenset[str] = frozenset()


class RefValue(NamedTuple):
    type: str | None
    id: str | None
    url: str | None = None
    version: str | None = None


def parse(raw: str, modifier: str | None, env: ValueEnv) -> RefValue:
    """`modifier` here is a resource type (``subject:Patient=123``) or None."""
    parts = split_parts(raw)
    if len(parts) == 2:
        if not parts[0] or "/" not in parts[0] and ":" not in parts[0]:
            raise ValueError("url|version expects a canonical URL")
        return RefValue(None, None, parts[0], parts[1] or None)
    if len(parts) != 1 or not parts[0]:
        raise ValueError("a reference is id, Type/id, an absolute URL or url|version")
    text = parts[0]
    parsed = parse_reference(text, env.base_url)
    if parsed is None:
        if "/" in text or "?" in text or text.startswith("#"):
            raise ValueError(f"unusable reference {text!r}")
        return RefValue(modifier, text)
    if parsed.url is not None:
        return RefValue(None, None, parsed.url)
    if modifier is not None and parsed.type != modifier:
        raise ValueError(f"{text!r} is not a {modifier}")
    if env.targets and parsed.type not in env.targets:
        raise ValueError(f"{env.code} cannot refer to a {parsed.type}")
    return RefValue(parsed.type, parsed.id)


def match(t: FromClause, value: RefValue, modifier: str | None) -> ColumnElement[bool]:
    if value.url is not None:
        tests = [t.c.url == value.url]
        if value.version is not None:
            tests.append(t.c.version == value.version)
        return and_(*tests)
    tests = [t.c.target_id == value.id, t.c.url.is_(None)]
    if value.type is not None:
        tests.append(t.c.target_type == value.type)
    return and_(*tests)


def sort_value(t: FromClause, descending: bool) -> Any:
    local = t.c.target_type + "/" + t.c.target_id
    return (func.max if descending else func.min)(func.coalesce(t.c.url, local))
