"""A small UCUM canonicaliser: enough to match ``100 mg/dL`` with ``1 g/L``.

Quantities are indexed with a canonical (value, code) pair so a search in one unit finds
values recorded in a commensurable one. Instead of a full UCUM library this parses unit
terms built from a short table of atoms and the metric prefixes, joined by ``.`` and
``/`` with integer exponents (``kg/m2``, ``mmol/L``, ``10*9/L``, ``mL/min/{1.73_m2}``).
Curly-brace annotations count as 1, as UCUM says.

Canonical units are products of base units rendered in UCUM syntax, positive exponents
first, each group in the order ``g``, ``m``, ``s``, ``mol``, ``K``, ``[iU]`` (arbitrary
international unit): ``mg/dL`` -> ``g.m-3``, ``mmol/L`` -> ``mol.m-3``, ``%`` -> ``1``,
``mm[Hg]`` -> ``g.m-1.s-2``. Deliberate departures from strict UCUM: ``mol`` is a base
unit (UCUM makes it a dimensionless count of 6.022e23, which would make mmol/L
commensurable with 10*9/L); ``Cel`` and ``[degF]`` convert to ``K`` only when alone.
Conversions are strictly increasing, so the search side can convert the bounds of a
query range with `to_canonical` too. Values are rounded to 12 significant digits to
absorb binary floating point noise (0.1 * 3 ...).
"""

from __future__ import annotations

import re
from functools import lru_cache

_BASES = ("g", "m", "s", "mol", "K", "[iU]")
_PREFIXES = {
    "da": 1e1,
    "G": 1e9,
    "M": 1e6,
    "k": 1e3,
    "h": 1e2,
    "d": 1e-1,
    "c": 1e-2,
    "m": 1e-3,
    "u": 1e-6,
    "n": 1e-9,
    "p": 1e-12,
    "f": 1e-15,
}
# atom: (factor to base units, {base: exponent}, metric i.e. accepts prefixes)
_ATOMS: dict[str, tuple[float, dict[str, int], bool]] = {
    "g": (1.0, {"g": 1}, True),
    "m": (1.0, {"m": 1}, True),
    "s": (1.0, {"s": 1}, True),
    "mol": (1.0, {"mol": 1}, True),
    "K": (1.0, {"K": 1}, True),
    "L": (1e-3, {"m": 3}, True),
    "l": (1e-3, {"m": 3}, True),
    "Pa": (1e3, {"g": 1, "m": -1, "s": -2}, True),
    "m[Hg]": (133.322e6, {"g": 1, "m": -1, "s": -2}, True),
    "U": (1e-6 / 60, {"mol": 1, "s": -1}, True),  # enzyme unit: umol/min
    "[iU]": (1.0, {"[iU]": 1}, True),
    "[IU]": (1.0, {"[iU]": 1}, True),
    "min": (60.0, {"s": 1}, False),
    "h": (3600.0, {"s": 1}, False),
    "d": (86400.0, {"s": 1}, False),
    "wk": (604800.0, {"s": 1}, False),
    "mo": (2629800.0, {"s": 1}, False),  # mean Julian month
    "a": (31557600.0, {"s": 1}, False),  # Julian year
    "%": (0.01, {}, False),
    "[lb_av]": (453.59237, {"g": 1}, False),
    "[in_i]": (0.0254, {"m": 1}, False),
}
_OFFSET_UNITS = {
    "Cel": lambda v: v + 273.15,
    "[degF]": lambda v: (v - 32.0) * 5.0 / 9.0 + 273.15,
}
_COMPONENT = re.compile(r"([./]?)((?:[^./{}\[\]]|\{[^}]*\}|\[[^\]]*\])+)")
_POWER_OF_TEN = re.compile(r"10[*^]([+-]?\d+)")
_EXPONENT = re.compile(r"(.*?)([+-]?\d+)?")


def _atom(symbol: str) -> tuple[float, dict[str, int]] | None:
    found = _ATOMS.get(symbol)
    if found is not None:
        return found[0], found[1]
    for prefix, factor in _PREFIXES.items():
        if symbol.startswith(prefix):
            rest = _ATOMS.get(symbol[len(prefix) :])
            if rest is not None and rest[2]:
                return factor * rest[0], rest[1]
    return None


def _component(text: str) -> tuple[float, dict[str, int]] | None:
    text = re.sub(r"\{[^}]*\}", "", text)
    if not text or text == "1":
        return 1.0, {}
    if text.isdigit():
        return float(text), {}
    m = _POWER_OF_TEN.fullmatch(text)
    if m is not None:
        return 10.0 ** int(m[1]), {}
    m = _EXPONENT.fullmatch(text)
    if m is None:
        return None
    symbol, exponent = m[1], int(m[2]) if m[2] else 1
    found = _atom(symbol)
    if found is None:
        return None
    factor, dims = found
    return factor**exponent, {k: v * exponent for k, v in dims.items()}


@lru_cache(maxsize=1024)
def unit_factor(code: str) -> tuple[float, str] | None:
    """``(factor, canonical_code)`` of a multiplicative UCUM unit, None if unknown."""
    pos, factor, dims = 0, 1.0, dict.fromkeys(_BASES, 0)
    code = code.strip()
    while pos < len(code):
        m = _COMPONENT.match(code, pos)
        if m is None or (pos > 0 and not m[1]):
            return None
        part = _component(m[2])
        if part is None:
            return None
        sign = -1 if m[1] == "/" else 1
        factor = factor * part[0] if sign > 0 else factor / part[0]
        for base, exp in part[1].items():
            dims[base] += sign * exp
        pos = m.end()
    if not code:
        return None
    ordered = sorted((b for b in _BASES if dims[b]), key=lambda b: dims[b] < 0)  # stable
    rendered = ".".join(b if dims[b] == 1 else f"{b}{dims[b]}" for b in ordered)
    return factor, rendered or "1"


def _round(value: float) -> float:
    return float(f"{value:.12g}")


def to_canonical(value: float, code: str) -> tuple[float, str] | None:
    """Convert a value in UCUM unit `code` to ``(canonical_value, canonical_code)``."""
    offset = _OFFSET_UNITS.get(code.strip())
    if offset is not None:
        return _round(offset(value)), "K"
    found = unit_factor(code)
    if found is None:
        return None
    return _round(value * found[0]), found[1]
