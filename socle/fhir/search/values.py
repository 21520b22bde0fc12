"""Search value syntax: escaping, OR-splitting, prefixes and implicit number ranges.

FHIR reserves ``,`` (OR), ``|`` (token/quantity/reference parts) and ``$`` (composite
parts) inside values; a backslash escapes them and itself. Splitting happens on the raw
text first and unescaping last, so ``a\\,b`` stays one value ``a,b``.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
_ESCAPABLE = ",|$\\"


def split_unescaped(text: str, sep: str) -> list[str]:
    """Split on `sep` where it is not preceded by an escaping backslash (raw parts kept)."""
    parts: list[str] = []
    start, i = 0, 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            i += 2
            continue
        if ch == sep:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return parts


def unescape(text: str) -> str:
    """Remove the escaping backslashes of ``\\,`` ``\\|`` ``\\$`` ``\\\\``; others stay literal."""
    if "\\" not in text:
        return text
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] in _ESCAPABLE:
            out.append(text[i + 1])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def split_or(text: str) -> list[str]:
    """The raw (still escaped) OR alternatives of one parameter value."""
    return split_unescaped(text, ",")


def split_parts(raw: str) -> list[str]:
    """Unescaped ``|`` parts of one raw alternative (token, quantity, canonical)."""
    return [unescape(p) for p in split_unescaped(raw, "|")]


def split_prefix(raw: str) -> tuple[str, str]:
    """``ge2020`` -> ("ge", "2020"); no recognised prefix -> ("eq", raw)."""
    if len(raw) > 2 and raw[:2] in PREFIXES and (raw[2].isdigit() or raw[2] in "-+."):
        return raw[:2], raw[2:]
    return "eq", raw


def parse_decimal(text: str) -> Decimal:
    """A finite decimal (``1.5``, ``-2``, ``1e3``); ValueError otherwise."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation as exc:
        raise ValueError(f"not a number: {text!r}") from exc
    if not value.is_finite() or not text.strip():
        raise ValueError(f"not a number: {text!r}")
    return value


def implicit_range(value: Decimal) -> tuple[float, float]:
    """``[low, high)`` implied by the significant figures (100 -> [99.5, 100.5))."""
    half = Decimal(5).scaleb(value.as_tuple().exponent - 1)
    return float(value - half), float(value + half)


def parse_bool(text: str) -> bool:
    if text == "true":
        return True
    if text == "false":
        return False
    raise ValueError(f"expected true or false, not {text!r}")


def next_prefix(prefix: str) -> str | None:
    """The smallest string greater than every string starting with `prefix` (None: no bound).

    Used for index-friendly starts-with: ``value >= p AND value < next_prefix(p)``; both
    backends compare strings by code point (SQLite BINARY, PostgreSQL collation "C").
    """
    trimmed = prefix.rstrip("\U0010ffff")
    if not trimmed:
        return None
    last = ord(trimmed[-1]) + 1
    if 0xD800 <= last <= 0xDFFF:  # skip the surrogate block, which never appears in text
        last = 0xE000
    return trimmed[:-1] + chr(last)
