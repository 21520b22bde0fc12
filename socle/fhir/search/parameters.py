"""Parsing of search parameters: names (modifiers, chains, ``_has``), values, result
parameters, into a validated `SearchQuery`.

Errors are FhirError 400 naming the parameter in ``expression``: ``not-supported`` for an
unknown parameter or modifier, ``invalid`` for a malformed value, ``too-costly`` for a
hard limit. With ``lenient=True`` the offending parameter is dropped (and reported in
`SearchQuery.issues`, not in `applied`), except ``too-costly`` errors, which always fail
(dropping a filter would make the query more expensive, not less), and ``_count`` above
the maximum, which is clamped. A parameter with an empty value is ignored, as the spec
allows, so ``?name=`` neither filters nor appears in the self link.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from socle.fhir.errors import FhirError, Issue
from socle.fhir.indexing.registry import SearchParam, SearchParamRegistry
from socle.fhir.search import compartment as C
from socle.fhir.search.clauses import (
    HANDLERS,
    RESOURCE_COLUMNS,
    SORTABLE,
    composite,
    special,
    token,
)
from socle.fhir.search.clauses import date as date_clause
from socle.fhir.search.clauses.base import ValueEnv
from socle.fhir.search.limits import SearchLimits, too_costly
from socle.fhir.search.model import (
    Chain,
    Criterion,
    Has,
    IncludeSpec,
    InList,
    Leaf,
    SearchQuery,
    SortKey,
    Types,
)
from socle.fhir.search.paging import CURSOR_PARAM
from socle.fhir.search.values import parse_bool, split_or, unescape

RESULT_PARAMS = frozenset(
    {
        "_sort",
        "_count",
        "_total",
        "_summary",
        "_elements",
        "_format",
        "_pretty",
        "_contained",
        "_containedType",
        "_include",
        "_revinclude",
    }
)
# Defined by the spec or the registry but not answerable from the index tables.
NOT_SUPPORTED = frozenset({"_text", "_content", "_query", "_filter"})
LIST = "_list"
# R4's functional lists ("the current problems of the patient in context"): they need a
# clinical definition of "current" per list that Socle does not make up.
FUNCTIONAL_LISTS = frozenset(
    {"$current-problems", "$current-medications", "$current-allergies", "$current-drug-allergies"}
)
_LIST_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")  # a FHIR id
SUMMARY_VALUES = frozenset({"true", "text", "data", "count", "false"})
TOTAL_VALUES = frozenset({"none", "estimate", "accurate"})
_ELEMENT = re.compile(r"[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*(\[x\])?")
_TYPE = re.compile(r"[A-Z][A-Za-z]{1,63}")


def invalid(message: str, name: str) -> FhirError:
    return FhirError(400, "invalid", message, [name])


def unsupported(message: str, name: str) -> FhirError:
    return FhirError(400, "not-supported", message, [name])


class QueryParser:
    """Validates the raw ``(name, value)`` pairs of one request (one instance per call)."""

    def __init__(
        self,
        registry: SearchParamRegistry,
        limits: SearchLimits,
        resource_types: frozenset[str],
        *,
        base_url: str | None = None,
        lenient: bool = False,
        now_us: int = 0,
    ) -> None:
        self.registry = registry
        self.limits = limits
        self.resource_types = resource_types
        self.base_url = base_url
        self.lenient = lenient
        self.now_us = now_us

    # ---------------------------------------------------------------------- entry point

    def parse(
        self,
        res_type: str | None,
        params: Iterable[tuple[str, str]],
        compartment: tuple[str, str] | None = None,
    ) -> SearchQuery:
        pairs = [(n, v) for n, v in params if v != ""]
        query = SearchQuery(res_types=(res_type,) if res_type else None, compartment=compartment)
        self._types(query, res_type, pairs)
        for name, value in pairs:
            if name == "_type":
                continue
            if name == CURSOR_PARAM:
                query.cursor = value
                continue
            try:
                self._one(query, name, value)
            except FhirError as err:
                _mention(err, name)
                if not self.lenient or err.code == "too-costly":
                    raise
                issue = err.issues[0]
                query.issues.append(Issue("warning", issue.code, issue.diagnostics, [name]))
        return query

    def _one(self, query: SearchQuery, name: str, value: str) -> None:
        base = name.split(":", 1)[0]
        if base in RESULT_PARAMS:
            value = self._result_param(query, name, base, value)
        else:
            if len(query.criteria) >= self.limits.max_criteria:
                raise too_costly(f"More than {self.limits.max_criteria} search parameters", name)
            query.criteria.append(self.criterion(query.res_types, name, value))
        query.applied.append((name, value))

    # ----------------------------------------------------------------------- the types

    def _types(self, query: SearchQuery, res_type: str | None, pairs: list) -> None:
        """Resolve ``_type`` (system search) and the compartment into `query.res_types`.

        A bad ``_type`` is never dropped, even when lenient: ignoring it would widen a
        search to every type.
        """
        wanted = [v for n, v in pairs if n == "_type"]
        if wanted and res_type is not None:
            raise invalid("_type is only allowed in a system-level search", "_type")
        types = set(self.resource_types) if wanted else None
        for value in wanted:
            listed = {t.strip() for t in value.split(",")}
            unknown = sorted(listed - self.resource_types)
            if unknown:
                raise invalid(f"Unknown resource type(s) in _type: {', '.join(unknown)}", "_type")
            types &= listed
        if types is not None:
            query.res_types = tuple(sorted(types))
            query.applied.extend(("_type", v) for v in wanted)
        if query.compartment is not None:
            self._compartment(query, res_type)

    def _compartment(self, query: SearchQuery, res_type: str | None) -> None:
        """Restrict the types to the compartment's; a type-level search outside it is a 400."""
        comp_type, _ = query.compartment  # type: ignore[misc]
        allowed = C.compartment_types(comp_type)
        if res_type is not None and res_type not in allowed:
            raise invalid(f"{res_type} is not in the {comp_type} compartment", res_type)
        if query.res_types is None:
            query.res_types = allowed
        else:
            query.res_types = tuple(t for t in query.res_types if t in allowed)

    # ---------------------------------------------------------------------- parameters

    def param(self, types: Types, code: str, name: str) -> SearchParam:
        """The definition of `code` on every type of `types` (same parameter type on all)."""
        if code in NOT_SUPPORTED:
            raise unsupported(f"Search parameter {code} is not supported", name)
        found = [self.registry.get(t, code) for t in (types or ("Resource",))]
        missing = [t for t, p in zip(types or ("Resource",), found, strict=True) if p is None]
        if missing:
            where = ", ".join(missing) if types else "all resource types"
            raise unsupported(f"Unknown search parameter {code!r} for {where}", name)
        kinds = {p.type for p in found if p is not None}
        if len(kinds) > 1:
            raise invalid(f"Search parameter {code} has different types across {types}", name)
        first = found[0]
        assert first is not None
        targets = tuple(dict.fromkeys(t for p in found if p is not None for t in p.targets))
        return replace(first, targets=targets)

    def kind(self, param: SearchParam, name: str) -> str:
        if param.code in RESOURCE_COLUMNS:
            return param.code
        if param.type not in HANDLERS:
            raise unsupported(f"{param.type} parameters ({param.code}) are not supported", name)
        return param.type

    def criterion(self, types: Types, name: str, raw: str, depth: int = 0) -> Criterion:
        if depth > self.limits.max_chain_depth:
            raise too_costly(f"Chains deeper than {self.limits.max_chain_depth} links", name)
        if name.startswith("_has:") or name == "_has":
            return self._has(types, name, raw, depth)
        if name.split(":", 1)[0] == LIST:
            return self._list(types, name, raw)
        head, dot, rest = name.partition(".")
        if dot:
            return self._chain(types, head, rest, name, raw, depth)
        return self._leaf(types, name, raw)

    def _chain(self, types: Types, head: str, rest: str, name: str, raw: str, depth: int) -> Chain:
        code, _, modifier = head.partition(":")
        param = self.param(types, code, name)
        if param.type != "reference":
            raise invalid(f"{code} is not a reference parameter, it cannot be chained", name)
        targets = self._target_types(param, modifier or None, name)
        next_code = rest.split(".", 1)[0].split(":", 1)[0]
        if next_code in ("_has", LIST):
            candidates = targets
        else:
            candidates = tuple(t for t in targets if self.registry.get(t, next_code) is not None)
        if not candidates:
            raise unsupported(f"No target of {code} has a search parameter {next_code!r}", name)
        inner = self.criterion(candidates, rest, raw, depth + 1)
        return Chain(code, types, candidates, inner)

    def _target_types(self, param: SearchParam, modifier: str | None, name: str) -> tuple[str, ...]:
        if modifier is None:
            return param.targets or tuple(sorted(self.resource_types))
        if not _TYPE.fullmatch(modifier) or modifier not in self.resource_types:
            raise unsupported(f"Unknown modifier :{modifier} in a chain", name)
        if param.targets and modifier not in param.targets:
            raise invalid(f"{param.code} cannot refer to a {modifier}", name)
        return (modifier,)

    def _has(self, types: Types, name: str, raw: str, depth: int) -> Has:
        parts = name.split(":", 3)
        if len(parts) != 4 or not all(parts):
            raise invalid("_has expects _has:Type:reference:parameter", name)
        _, source, code, rest = parts
        if source not in self.resource_types:
            raise invalid(f"Unknown resource type {source!r} in _has", name)
        param = self.param((source,), code, name)
        if param.type != "reference":
            raise invalid(f"{source}.{code} is not a reference parameter", name)
        if types is not None and param.targets and not set(types) & set(param.targets):
            raise invalid(f"{source}.{code} cannot refer to {', '.join(types)}", name)
        inner = self.criterion((source,), rest, raw, depth + 1)
        return Has(source, code, types, inner)

    def _list(self, types: Types, name: str, raw: str) -> InList:
        """``_list=ID[,ID…]``: the items of ``List/ID`` (see `socle.fhir.search.chain`)."""
        if name != LIST:
            raise unsupported(f"{LIST} takes no modifier", name)
        if self.registry.get("List", "item") is None:
            raise unsupported("_list needs the List.item search parameter", name)
        return InList(self._values(raw, name, _list_id), types)

    def _leaf(self, types: Types, name: str, raw: str) -> Leaf:
        code, _, modifier_text = name.partition(":")
        modifier = modifier_text or None
        param = self.param(types, code, name)
        kind = self.kind(param, name)
        if modifier == "missing" and kind not in RESOURCE_COLUMNS:
            return Leaf(code, kind, types, modifier, missing=self._value(parse_bool, raw, name))
        if kind == "reference" and modifier == "identifier":
            values = self._values(raw, name, lambda v: token.parse(v, None, ValueEnv(code)))
            return Leaf(f"{code}:identifier", "token", types, None, values)
        self._check_modifier(param, kind, modifier, name)
        components = self._components(param, name) if kind == "composite" else ()
        env = ValueEnv(code, param.targets, self.base_url, self.now_us, components)
        parse = _value_parser(kind)
        values = self._values(raw, name, lambda v: parse(v, modifier, env))
        return Leaf(code, kind, types, modifier, values, components=components)

    def _components(self, param: SearchParam, name: str) -> tuple[composite.Component, ...]:
        """The components of a composite parameter, from their own definitions."""
        found = []
        for url, _ in param.components:
            component = self.registry.by_url(url)
            if component is None or component.type not in composite.COMPONENT_HANDLERS:
                raise unsupported(f"Composite {param.code} has an unusable component {url}", name)
            found.append(composite.Component(component.code, component.type, component.targets))
        if not found:
            raise unsupported(f"Composite {param.code} has no components", name)
        return tuple(found)

    def _check_modifier(
        self, param: SearchParam, kind: str, modifier: str | None, name: str
    ) -> None:
        if modifier is None:
            return
        if kind == "reference" and _TYPE.fullmatch(modifier):
            self._target_types(param, modifier, name)
            return
        supported = (
            special.ID_MODIFIERS
            if kind == "_id"
            else getattr(HANDLERS.get(kind), "MODIFIERS", frozenset())
        )
        if modifier not in supported:
            raise unsupported(f"Modifier :{modifier} is not supported on {param.code}", name)

    def _values(self, raw: str, name: str, parse: Callable[[str], Any]) -> tuple[Any, ...]:
        alternatives = [alt for alt in split_or(raw) if alt != ""]
        if len(alternatives) > self.limits.max_or_values:
            raise too_costly(f"More than {self.limits.max_or_values} values", name)
        if not alternatives:
            raise invalid(f"No value in {raw!r} for {name}", name)
        return tuple(self._value(parse, alt, name) for alt in alternatives)

    @staticmethod
    def _value(parse: Callable[[str], Any], raw: str, name: str) -> Any:
        try:
            return parse(raw)
        except ValueError as exc:
            raise invalid(f"Invalid value {raw!r} for {name}: {exc}", name) from exc

    # ------------------------------------------------------------------ result params

    def _result_param(self, query: SearchQuery, name: str, base: str, value: str) -> str:
        """Apply one result parameter; returns the value as it will appear in `applied`."""
        if base in ("_include", "_revinclude"):
            self._include(query, name, base, value)
            return value
        if name != base:
            raise unsupported(f"{base} takes no modifier", name)
        if base == "_count":
            query.count = self._count(value, name)
            if query.count < int(value):  # clamped (lenient)
                query.issues.append(
                    Issue(
                        "information",
                        "informational",
                        f"_count={value} lowered to the maximum of {query.count}",
                        [name],
                    )
                )
            return str(query.count)
        if base == "_sort":
            query.sort = self._sort(query.res_types, value)
        elif base == "_total":
            query.total = self._choice(value, TOTAL_VALUES, name)
        elif base == "_summary":
            query.summary = self._choice(value, SUMMARY_VALUES, name)
        elif base == "_elements":
            query.elements = self._elements(value, name)
        elif base == "_contained":
            self._choice(value, frozenset({"false"}), name)
        elif base == "_containedType":
            self._choice(value, frozenset({"container"}), name)
        return value  # _format and _pretty are the REST layer's

    def _count(self, value: str, name: str) -> int:
        if not value.isdigit():
            raise invalid(f"_count must be a non-negative integer, not {value!r}", name)
        count = int(value)
        if count > self.limits.max_count:
            if not self.lenient:
                raise too_costly(f"_count above the maximum of {self.limits.max_count}", name)
            return self.limits.max_count
        return count

    @staticmethod
    def _choice(value: str, allowed: frozenset[str], name: str) -> str:
        if value not in allowed:
            raise invalid(f"{name} must be one of {', '.join(sorted(allowed))}", name)
        return value

    @staticmethod
    def _elements(value: str, name: str) -> str:
        items = [e.strip() for e in value.split(",")]
        bad = [e for e in items if not _ELEMENT.fullmatch(e)]
        if bad:
            raise invalid(f"Invalid element name(s) in _elements: {', '.join(bad)}", name)
        return ",".join(items)

    def _sort(self, types: Types, value: str) -> list[SortKey]:
        keys: list[SortKey] = []
        for item in value.split(","):
            item = item.strip()
            descending = item.startswith("-")
            code = item[1:] if descending else item
            if not code or any(k.code == code for k in keys):
                raise invalid(f"Invalid or repeated _sort key {item!r}", "_sort")
            kind = self.kind(self.param(types, code, "_sort"), "_sort")
            if kind not in SORTABLE and kind not in RESOURCE_COLUMNS:
                raise unsupported(f"Cannot sort on {kind} parameter {code}", "_sort")
            keys.append(SortKey(code, kind, types, descending))
        if len(keys) > self.limits.max_sort_keys:
            raise too_costly(f"More than {self.limits.max_sort_keys} _sort keys", "_sort")
        return keys

    def _include(self, query: SearchQuery, name: str, base: str, value: str) -> None:
        modifier = name[len(base) + 1 :] if ":" in name else None
        if modifier not in (None, "iterate", "recurse"):
            raise unsupported(f"Modifier :{modifier} is not supported on {base}", name)
        spec = self._include_spec(value, name, base == "_revinclude", modifier is not None)
        if len(query.includes) >= self.limits.max_include_params:
            raise too_costly(f"More than {self.limits.max_include_params} includes", name)
        query.includes.append(spec)

    def _include_spec(self, value: str, name: str, reverse: bool, iterate: bool) -> IncludeSpec:
        if value == "*":
            return IncludeSpec(None, None, None, iterate, reverse)
        parts = value.split(":")
        if len(parts) not in (2, 3) or parts[0] not in self.resource_types:
            raise invalid(f"{name} expects SourceType:parameter[:TargetType] or *", name)
        source, code = parts[0], parts[1]
        target = parts[2] if len(parts) == 3 else None
        if code == "*":
            return IncludeSpec(source, None, target, iterate, reverse)
        param = self.param((source,), code, name)
        if param.type != "reference":
            raise invalid(f"{source}.{code} is not a reference parameter", name)
        if target is not None:
            self._target_types(param, target, name)
        return IncludeSpec(source, code, target, iterate, reverse)


def _mention(err: FhirError, name: str) -> None:
    """Make sure the diagnostics name the parameter as the client wrote it."""
    issue = err.issues[0]
    if name not in issue.diagnostics:
        issue.diagnostics = f"{name}: {issue.diagnostics}"


def _list_id(raw: str) -> str:
    """The id of a List; a functional list (``$current-problems``…) is not supported."""
    text = unescape(raw)
    if text.startswith("$"):
        known = "an R4 functional list" if text in FUNCTIONAL_LISTS else "a functional list"
        raise unsupported(f"_list={text}: {known}, which Socle does not implement", LIST)
    if not _LIST_ID.fullmatch(text):
        raise ValueError("expects the id of a List (letters, digits, '-' and '.', at most 64)")
    return text


def _value_parser(kind: str) -> Callable[[str, str | None, ValueEnv], Any]:
    if kind == "_id":
        return special.parse_id
    if kind == "_lastUpdated":
        return date_clause.parse
    return HANDLERS[kind].parse
