"""The oracle: FHIR R4 search answered in plain Python over the data set's JSON.

Written from the R4 search page, independently of the engine (its own parsing of names
and values, its own matching); it shares only `socle.fhir.text.normalize` (what "case-
and accent-insensitive" means) and `socle.fhir.datetime.parse_range` (what a date value
covers). Where R4 leaves a choice to the server, the choice documented in
docs/search.md is implemented here and marked "server choice".
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from socle.fhir.datetime import parse_range
from socle.fhir.text import normalize
from tests.fhir.search.oracle.dataset import BASE, Dataset
from tests.fhir.search.oracle.params import INF, PARAMS, Qty, Ref, Span, Tok, reference

Key = tuple[str, str]
PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
UCUM = "http://unitsofmeasure.org"
DAY = 86_400_000_000
# The oracle's own unit table: unit -> (dimension, factor to the dimension's unit).
UNITS: dict[str, tuple[str, Decimal]] = {
    "g": ("mass", Decimal(1)),
    "kg": ("mass", Decimal(1000)),
    "mg": ("mass", Decimal("0.001")),
    "m": ("length", Decimal(1)),
    "cm": ("length", Decimal("0.01")),
    "mm": ("length", Decimal("0.001")),
    "g/L": ("concentration", Decimal(1)),
    "mg/L": ("concentration", Decimal("0.001")),
    "mg/dL": ("concentration", Decimal("0.01")),
    "mmol/L": ("molarity", Decimal(1)),
    "kPa": ("pressure", Decimal(1000)),
    "mm[Hg]": ("pressure", Decimal("133.322")),
    "s": ("time", Decimal(1)),
    "min": ("time", Decimal(60)),
    "h": ("time", Decimal(3600)),
    "d": ("time", Decimal(86400)),
    "a": ("time", Decimal(31557600)),
    "mo": ("time", Decimal(2629800)),
}


class Unsupported(Exception):
    """A query the oracle does not answer (the test then expects a 400 or skips)."""


# --------------------------------------------------------------------- value syntax


def split(text: str, sep: str) -> list[str]:
    """Split on `sep` unless escaped by a backslash; the parts keep their escapes."""
    parts, current, i = [], "", 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            current += text[i : i + 2]
            i += 2
            continue
        if text[i] == sep:
            parts.append(current)
            current = ""
        else:
            current += text[i]
        i += 1
    return [*parts, current]


def unescape(text: str) -> str:
    out, i = "", 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in ",|$\\":
            out += text[i + 1]
            i += 2
        else:
            out += text[i]
            i += 1
    return out


def prefixed(text: str) -> tuple[str, str]:
    if text[:2] in PREFIXES and len(text) > 2 and (text[2].isdigit() or text[2] in "-+."):
        return text[:2], text[2:]
    return "eq", text


# ------------------------------------------------------------------------ matching


@dataclass
class Approx:
    """``ap`` is compared within a tolerance: the engine must find every `strict` match
    and nothing beyond the `loose` ones (the spec suggests ~10 %, the server chooses)."""

    loose: bool = False


def match_string(vals: list[str], modifier: str | None, raw: str, _: Approx) -> bool:
    q = unescape(raw)
    if modifier == "exact":
        return q in vals
    nq = normalize(q)
    if modifier == "contains":
        return any(nq in normalize(v) for v in vals)
    if modifier is None:
        return any(normalize(v).startswith(nq) for v in vals)
    raise Unsupported(modifier)


def token_matches(t: Tok, raw: str) -> bool:
    parts = [unescape(p) for p in split(raw, "|")]
    if len(parts) == 1:
        return t.code == parts[0]
    system, code = parts
    if code and t.code != code:
        return False
    if system == "":
        return t.system is None
    if not code and t.code is None:
        return False
    return t.system == system


def match_token(vals: list[Tok], modifier: str | None, raw: str, _: Approx) -> bool:
    if modifier == "text":
        # server choice: the display/text starts with the words, or one of its words does
        q = normalize(unescape(raw))
        texts = [normalize(x) for t in vals for x in t.texts]
        return any(x.startswith(q) or f" {q}" in x for x in texts)
    if modifier == "of-type":
        parts = [unescape(p) for p in split(raw, "|")]
        return any(t.code == parts[2] and (parts[0], parts[1]) in t.types for t in vals)
    if modifier == "not":
        return not any(token_matches(t, raw) for t in vals)
    if modifier is None:
        return any(token_matches(t, raw) for t in vals)
    raise Unsupported(modifier)


def date_test(prefix: str, s: Span, low: int, high: int) -> bool:
    contained = s.low >= low and s.high <= high
    return {
        "eq": contained,
        "ne": not contained,
        "gt": s.high > high,
        "lt": s.low < low,
        "ge": s.high > high or contained,
        "le": s.low < low or contained,
        "sa": s.low > high,
        "eb": s.high < low,
        "ap": s.low <= high and s.high >= low,
    }[prefix]


def match_date(vals: list[Span], modifier: str | None, raw: str, approx: Approx) -> bool:
    if modifier is not None:
        raise Unsupported(modifier)
    prefix, text = prefixed(unescape(raw))
    low, high, _ = parse_range(text)
    if prefix == "ap":
        gap = abs(NOW - low)
        margin = gap * 12 // 100 + DAY if approx.loose else gap * 8 // 100
        low, high = low - margin, high + margin
    return any(date_test(prefix, s, low, high) for s in vals)


def number_test(prefix: str, q: Qty, value: Decimal, approx: Approx) -> bool:
    """Target interval [q.low, q.high] against the search value (R4 prefix table)."""
    half = Decimal(5).scaleb(value.as_tuple().exponent - 1)
    if prefix in ("eq", "ne"):
        inside = q.low >= value - half and q.high < value + half
        return inside if prefix == "eq" else not inside
    if prefix == "ap":
        margin = abs(value) * (Decimal("0.11") if approx.loose else Decimal("0.09"))
        return q.low <= value + margin and q.high >= value - margin
    return {
        "gt": q.high > value,
        "lt": q.low < value,
        "ge": q.high >= value,
        "le": q.low <= value,
        "sa": q.low > value,
        "eb": q.high < value,
    }[prefix]


def match_number(vals: list[Qty], modifier: str | None, raw: str, approx: Approx) -> bool:
    if modifier is not None:
        raise Unsupported(modifier)
    prefix, text = prefixed(unescape(raw))
    return any(number_test(prefix, q, Decimal(text), approx) for q in vals)


def canonical(q: Qty) -> tuple[str, Qty] | None:
    unit = UNITS.get(q.code or "") if q.system in (UCUM, None) else None
    if unit is None:
        return None
    dim, f = unit
    return dim, Qty(q.low * f, q.high * f, q.value * f)


def match_quantity(vals: list[Qty], modifier: str | None, raw: str, approx: Approx) -> bool:
    if modifier is not None:
        raise Unsupported(modifier)
    parts = split(raw, "|")
    prefix, text = prefixed(unescape(parts[0]))
    value = Decimal(text)
    if len(parts) == 1:
        return any(number_test(prefix, q, value, approx) for q in vals)
    system, code = unescape(parts[1]) or None, unescape(parts[2]) or None
    wanted = UNITS.get(code or "") if system in (UCUM, None) else None
    for q in vals:
        converted = canonical(q)
        if wanted is not None and converted is not None:
            # both sides convertible: compare in the dimension's unit (server choice)
            dim, cq = converted
            if dim != wanted[0]:
                continue
            # the search value's precision scales with it
            scaled = (value * wanted[1]).scaleb(0)
            half = Decimal(5).scaleb(value.as_tuple().exponent - 1) * wanted[1]
            if prefix in ("eq", "ne"):
                inside = cq.low >= scaled - half and cq.high < scaled + half
                ok = inside if prefix == "eq" else not inside
            elif prefix == "ap":
                margin = abs(scaled) * (Decimal("0.11") if approx.loose else Decimal("0.09"))
                ok = cq.low <= scaled + margin and cq.high >= scaled - margin
            else:
                ok = number_test(prefix, cq, scaled, approx)
            if ok:
                return True
            continue
        if converted is not None and wanted is not None:
            continue
        if system is not None and q.system != system:
            continue
        if code is not None and q.code != code and (system is not None or q.unit != code):
            continue
        if number_test(prefix, q, value, approx):
            return True
    return False


def parse_ref(raw: str, modifier: str | None) -> tuple[str | None, str | None, str | None]:
    """(type, id, url) of a reference search value."""
    text = unescape(raw)
    found = reference(text)
    if found is not None:
        if found.url is not None:
            return None, None, found.url
        if modifier and found.type != modifier:
            raise Unsupported("type mismatch")
        return found.type, found.id, None
    if "/" in text or ":" in text:
        raise Unsupported(text)
    return modifier, text, None


def match_reference(vals: list[Ref], modifier: str | None, raw: str, _: Approx) -> bool:
    rtype, rid, url = parse_ref(raw, modifier)
    if url is not None:
        return any(v.url == url for v in vals)
    return any(v.url is None and v.id == rid and rtype in (None, v.type) for v in vals)


def uri_parents(uri: str) -> set[str]:
    start = uri.find("://") + 3 if "://" in uri else 0
    out = {uri}
    for i in range(start + 1, len(uri)):
        if uri[i] == "/":
            out |= {uri[:i], uri[: i + 1]}
    return out


def match_uri(vals: list[str], modifier: str | None, raw: str, _: Approx) -> bool:
    q = unescape(raw)
    if modifier is None:
        return q in vals
    if modifier == "below":
        return any(v == q or v.startswith(q if q.endswith("/") else q + "/") for v in vals)
    if modifier == "above":
        return any(v in uri_parents(q) for v in vals)
    raise Unsupported(modifier)


MATCHERS: dict[str, Callable[..., bool]] = {
    "string": match_string,
    "token": match_token,
    "date": match_date,
    "number": match_number,
    "quantity": match_quantity,
    "reference": match_reference,
    "uri": match_uri,
}


def match_composite(
    vals: list[tuple], kinds: tuple[str, ...], modifier: str | None, raw: str, approx: Approx
) -> bool:
    if modifier is not None:
        raise Unsupported(modifier)
    parts = split(raw, "$")
    if len(parts) != len(kinds):
        raise Unsupported("arity")
    return any(
        all(MATCHERS[k]([v], None, p, approx) for k, v, p in zip(kinds, combo, parts, strict=True))
        for combo in vals
    )


NOW = 0  # set by Oracle (µs), for ``ap`` on dates


# ------------------------------------------------------------------------- the oracle


@dataclass
class Expected:
    ids: list[Key]  # in the engine's order when a _sort is given, else creation order
    included: set[Key] = field(default_factory=set)
    loose: list[Key] | None = None  # ap: what the engine may add beyond `ids`


class Oracle:
    def __init__(self, data: Dataset, now_us: int) -> None:
        global NOW
        NOW = now_us
        self.data = data
        self.by_type: dict[str, list[tuple[Key, dict[str, Any]]]] = {}
        for key in sorted(data.current, key=lambda k: data.order[k]):
            self.by_type.setdefault(key[0], []).append((key, data.current[key]))

    # -- values ---------------------------------------------------------------------

    def values(self, rtype: str, code: str, resource: dict[str, Any]) -> list[Any]:
        if code == "_lastUpdated":
            at = self.data.last_updated[(rtype, resource["id"])]
            return [Span(at, at)]
        param = PARAMS.get(rtype, {}).get(code)
        if param is None:
            raise Unsupported(f"{rtype}.{code}")
        return param.read(resource)

    def kind(self, rtype: str, code: str) -> str:
        if code == "_lastUpdated":
            return "date"
        param = PARAMS.get(rtype, {}).get(code)
        if param is None:
            raise Unsupported(f"{rtype}.{code}")
        return param.kind

    # -- criteria -------------------------------------------------------------------

    def matches(
        self, rtype: str, resource: dict[str, Any], name: str, raw: str, approx: Approx
    ) -> bool:
        if name.startswith("_has:"):
            _, source, ref_code, rest = name.split(":", 3)
            me = (rtype, resource["id"])
            for _, other in self.by_type.get(source, []):
                refs = self.values(source, ref_code, other)
                if any(r.url is None and (r.type, r.id) == me for r in refs) and self.matches(
                    source, other, rest, raw, approx
                ):
                    return True
            return False
        head, dot, rest = name.partition(".")
        if dot:
            code, _, type_mod = head.partition(":")
            for ref in self.values(rtype, code, resource):
                if ref.url is not None or (type_mod and ref.type != type_mod):
                    continue
                target = self.data.current.get((ref.type, ref.id))
                if (
                    target is None
                    or rest.split(".")[0].split(":")[0] not in PARAMS.get(ref.type, {})
                    and not rest.startswith(("_has", "_list"))
                ):
                    continue
                if self.matches(ref.type, target, rest, raw, approx):
                    return True
            return False
        code, _, modifier = name.partition(":")
        mod = modifier or None
        if code == "_list":
            if mod is not None:
                raise Unsupported(name)
            me = (rtype, resource["id"])
            return any(self.listed(unescape(v), me) for v in split(raw, ",") if v)
        if code == "_id":
            ids = [unescape(v) for v in split(raw, ",")]
            found = resource["id"] in ids
            return not found if mod == "not" else found
        if mod == "identifier":
            vals = self.values(rtype, f"{code}:identifier", resource)
            return any(match_token(vals, None, alt, approx) for alt in split(raw, ","))
        vals = self.values(rtype, code, resource)
        if mod == "missing":
            return (not vals) == (raw == "true")
        kind = self.kind(rtype, code)
        alternatives = [a for a in split(raw, ",") if a]
        if kind == "composite":
            kinds = PARAMS[rtype][code].components
            return any(match_composite(vals, kinds, mod, a, approx) for a in alternatives)
        if kind == "reference" and mod is not None and mod[0].isupper():
            return any(match_reference(vals, mod, a, approx) for a in alternatives)
        if mod == "not" and kind == "token":
            return not any(match_token(vals, None, a, approx) for a in alternatives)
        return any(MATCHERS[kind](vals, mod, a, approx) for a in alternatives)

    def listed(self, list_id: str, key: Key) -> bool:
        """`key` is an ``entry.item`` of the current ``List/list_id``: a local reference
        (relative or under this server's base), entries flagged ``deleted`` included
        (server choice: ``_list`` reads the ``item`` parameter, ``List.entry.item``)."""
        if list_id.startswith("$"):
            raise Unsupported(f"functional list {list_id}")
        lst = self.data.current.get(("List", list_id))
        for entry in (lst or {}).get("entry", []):
            text = (entry.get("item") or {}).get("reference")
            ref = reference(text) if isinstance(text, str) else None
            if ref is not None and ref.url is None and (ref.type, ref.id) == key:
                return True
        return False

    # -- search ---------------------------------------------------------------------

    def search(self, rtype: str | None, params: list[tuple[str, str]]) -> Expected:
        types = [rtype] if rtype else None
        criteria, sort, includes = [], [], []
        for name, value in params:
            if value == "":
                continue
            if name == "_type":
                types = [t.strip() for t in value.split(",")]
            elif name == "_sort":
                sort = [s.strip() for s in value.split(",")]
            elif name.startswith(("_include", "_revinclude")):
                includes.append((name, value))
            elif name in ("_count", "_total", "_summary", "_elements"):
                continue
            else:
                criteria.append((name, value))
        pool = [kr for t in (types or sorted(self.by_type)) for kr in self.by_type.get(t, [])]
        pool.sort(key=lambda kr: self.data.order[kr[0]])
        approximate = any(
            prefixed(unescape(a))[0] == "ap" for _, v in criteria for a in split(v, ",")
        )

        def run(approx: Approx) -> list[tuple[Key, dict]]:
            return [
                (k, r)
                for k, r in pool
                if all(self.matches(k[0], r, n, v, approx) for n, v in criteria)
            ]

        found = run(Approx(False))
        loose = [k for k, _ in run(Approx(True))] if approximate else None
        if sort:
            found = self.sort(found, sort)
        keys = [k for k, _ in found]
        return Expected(keys, self.include(found, includes), loose)

    # -- _sort ----------------------------------------------------------------------

    def sort_value(self, key: Key, resource: dict[str, Any], item: str) -> Any:
        desc = item.startswith("-")
        code = item.lstrip("-")
        if code == "_id":
            return key[1]
        if code == "_lastUpdated":
            return self.data.last_updated[key]
        kind = self.kind(key[0], code)
        vals = self.values(key[0], code, resource)
        if kind == "string":
            found = [normalize(v) for v in vals]
        elif kind == "token":
            found = [t.code for t in vals if t.code is not None]
        elif kind == "date":
            found = [s.high if desc else s.low for s in vals]
        elif kind in ("number", "quantity"):
            found = [q.value for q in vals]
        elif kind == "reference":
            found = [r.url or f"{r.type}/{r.id}" for r in vals]
        else:
            found = list(vals)
        if not found:
            return None
        return max(found) if desc else min(found)

    def sort(self, found: list[tuple[Key, dict]], items: list[str]) -> list[tuple[Key, dict]]:
        rows = [(k, r, [self.sort_value(k, r, item) for item in items]) for k, r in found]

        def compare(a: tuple, b: tuple) -> int:
            for i, item in enumerate(items):
                x, y = a[2][i], b[2][i]
                if x == y:
                    continue
                if x is None:  # resources without a value sort last, both ways
                    return 1
                if y is None:
                    return -1
                less = x < y
                if item.startswith("-"):
                    less = not less
                return -1 if less else 1
            return self.data.order[a[0]] - self.data.order[b[0]]

        return [(k, r) for k, r, _ in sorted(rows, key=functools.cmp_to_key(compare))]

    # -- _include / _revinclude -----------------------------------------------------

    def include(self, found: list[tuple[Key, dict]], specs: list[tuple[str, str]]) -> set[Key]:
        matched = {k for k, _ in found}
        seen = set(matched)
        frontier = list(matched)
        out: set[Key] = set()
        first = True
        while frontier and specs:
            added: set[Key] = set()
            for name, value in specs:
                iterate = name.endswith((":iterate", ":recurse"))
                if not first and not iterate:
                    continue
                added |= self._apply(name.startswith("_revinclude"), value, frontier) - seen
            seen |= added
            out |= added
            frontier = list(added)
            first = False
        return out

    def _ref_params(self, rtype: str, code: str | None) -> list[str]:
        params = PARAMS.get(rtype, {})
        if code is None:
            return [c for c, p in params.items() if p.kind == "reference"]
        return [code]

    def _apply(self, reverse: bool, value: str, keys: list[Key]) -> set[Key]:
        if value == "*":
            source, code, target = None, None, None
        else:
            parts = value.split(":")
            source, code = parts[0], (None if parts[1] == "*" else parts[1])
            target = parts[2] if len(parts) == 3 else None
        out: set[Key] = set()
        if not reverse:
            for key in keys:
                if source is not None and key[0] != source:
                    continue
                resource = self.data.current[key]
                for c in self._ref_params(key[0], code):
                    for ref in self.values(key[0], c, resource):
                        k = (ref.type, ref.id)
                        if (
                            ref.url is None
                            and k in self.data.current
                            and target in (None, ref.type)
                        ):
                            out.add(k)
            return out
        wanted = set(keys)
        for stype in [source] if source else sorted(self.by_type):
            for skey, other in self.by_type.get(stype, []):
                for c in self._ref_params(stype, code):
                    for ref in self.values(stype, c, other):
                        k = (ref.type, ref.id)
                        if ref.url is None and k in wanted and target in (None, ref.type):
                            out.add(skey)
        return out


__all__ = ["BASE", "INF", "Expected", "Oracle", "Unsupported"]
