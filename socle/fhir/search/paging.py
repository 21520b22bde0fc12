"""Keyset paging: the cursor is the sort key and pk of a page's edge row, never an OFFSET.

A page is "the rows after (or, for a previous page, before) that row in the sort order",
so rows inserted or deleted by others never shift the pages a client walks through:
each row is seen at most once, and unchanged rows are never skipped. The token is
base64url JSON (opaque to clients; tampering can only yield a 400 or a different page),
tagged with a hash of the ``_sort`` so it cannot be replayed against another order.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import ColumnElement, and_, or_

from socle.fhir.errors import FhirError

CURSOR_PARAM = "_cursor"
MAX_CURSOR_CHARS = 4096


@dataclass(frozen=True, slots=True)
class Cursor:
    values: list[Any]  # the edge row's sort key values
    pk: int
    backward: bool = False  # True: the page *before* the edge row
    total: int | None = None  # total computed for the first page, reused on the next ones


@dataclass(frozen=True, slots=True)
class OrderKey:
    """One ORDER BY term; `nulls_last` is True for forward paging (NULLs sort last)."""

    column: Any
    descending: bool
    nulls_last: bool = True

    def reversed(self) -> OrderKey:
        return OrderKey(self.column, not self.descending, not self.nulls_last)

    def order(self) -> Any:
        term = self.column.desc() if self.descending else self.column.asc()
        return term.nulls_last() if self.nulls_last else term.nulls_first()

    def after(self, value: Any) -> ColumnElement[bool] | None:
        """Rows strictly after `value` in this order (None: no row can be)."""
        if value is None:
            return self.column.is_not(None) if not self.nulls_last else None
        beyond = self.column < value if self.descending else self.column > value
        return or_(beyond, self.column.is_(None)) if self.nulls_last else beyond

    def equal(self, value: Any) -> ColumnElement[bool]:
        return self.column.is_(None) if value is None else self.column == value


def signature(sort_text: str) -> str:
    return hashlib.blake2b(sort_text.encode(), digest_size=6).hexdigest()


def encode(cursor: Cursor, sort_text: str) -> str:
    body = {"v": cursor.values, "p": cursor.pk, "s": signature(sort_text)}
    if cursor.backward:
        body["b"] = 1
    if cursor.total is not None:
        body["t"] = cursor.total
    return base64.urlsafe_b64encode(orjson.dumps(body)).decode().rstrip("=")


def decode(token: str, sort_text: str, kinds: list[tuple[type, ...]]) -> Cursor:
    """Parse and check a token against the current sort (key count and value types)."""
    try:
        if len(token) > MAX_CURSOR_CHARS:
            raise ValueError("too long")
        body = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        values, pk, total = body["v"], body["p"], body.get("t")
        ok = (
            body["s"] == signature(sort_text)
            and type(pk) is int
            and isinstance(values, list)
            and len(values) == len(kinds)
            and all(v is None or type(v) in k for v, k in zip(values, kinds, strict=True))
            and (total is None or type(total) is int)
        )
        if not ok:
            raise ValueError("does not match this search")
        return Cursor(values, pk, bool(body.get("b")), total)
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
        raise FhirError(400, "invalid", f"Invalid paging cursor: {exc}", [CURSOR_PARAM]) from exc


def after_condition(keys: list[OrderKey], pk: OrderKey, cursor: Cursor) -> ColumnElement[bool]:
    """Rows after the cursor row in the order `keys` then `pk` (lexicographic keyset)."""
    alternatives = []
    prefix: list[ColumnElement[bool]] = []
    for key, value in zip(keys, cursor.values, strict=True):
        beyond = key.after(value)
        if beyond is not None:
            alternatives.append(and_(*prefix, beyond))
        prefix.append(key.equal(value))
    last = pk.after(cursor.pk)
    assert last is not None
    alternatives.append(and_(*prefix, last))
    return or_(*alternatives)
