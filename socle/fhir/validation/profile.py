"""Profile validation: a resource checked against StructureDefinition snapshots.

What is checked, for each profile (and every datatype/extension profile it points to):

* cardinality (where the profile narrows the base), types of choice elements and of
  inline resources;
* `fixed[x]` (exact) and `pattern[x]` (containment) values;
* slicing: discriminators `value`, `pattern`, `type`, `profile` and `exists` (paths with
  `extension('url')`, `resolve()`, `ofType()`), `open`/`closed`/`openAtEnd` rules,
  `ordered`, and per-slice cardinality;
* extensions, resolved by URL (slices first); unknown ones follow the configured policy,
  unknown modifier extensions are errors;
* FHIRPath invariants of the profile and of the base definitions it carries (reported
  with the constraint key);
* bindings: required -> error, extensible -> warning, through a `Terminology`;
* reference targets: the referenced type must be allowed, and a target found in the
  validated content (contained, Bundle) must conform to one of the target profiles;
* inline resources (contained, Bundle entries) against their own `meta.profile`.

Every issue carries a FHIRPath `expression` with indexes (`Patient.identifier[0].value`,
`Observation.value.ofType(Quantity)`). The walk only visits what is present in the JSON
and the parts of a profile that carry checks (see `compiled.py`).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC
from typing import Any, NamedTuple

import orjson

from socle.fhir.datetime import parse_range
from socle.fhir.definitions.builder import PRIMITIVE_TYPES
from socle.fhir.definitions.model import FhirModel, choice_name, get_model
from socle.fhir.errors import Issue
from socle.fhir.packages.context import ConformanceContext
from socle.fhir.packages.resolver import split_canonical
from socle.fhir.validation.compiled import (
    MISSING,
    CompiledProfile,
    Constraint,
    Discriminator,
    ElementDef,
    ProfileError,
    choice_suffixes,
    compile_profile,
)
from socle.fhir.validation.contexts import context_allows, describe_holder, holder_path
from socle.fhir.validation.fhirpath import EvalContext, InvariantEngine, resolve_reference
from socle.fhir.validation.snapshot import SnapshotError, generate_snapshot
from socle.fhir.validation.terminology import InMemoryTerminology, Terminology

log = logging.getLogger(__name__)

CORE_SD = "http://hl7.org/fhir/StructureDefinition/"
_EXTENSIONS = ("extension", "modifierExtension")
_QUANTITIES = frozenset({"Quantity", "Age", "Count", "Distance", "Duration", "MoneyQuantity"})
_CONTAINED_ONLY = frozenset({"dom-3", "dom-5"})  # trivially true without `contained`
_STRUCTURAL = frozenset({"ele-1", "ext-1"})  # checked by the structural validator
_SEVERITY_ORDER = {"fatal": 0, "error": 1, "warning": 2, "information": 3}

#: A rule plugged in by a service (e.g. French identifier rules) for some profiles:
#: `rule(resource, path) -> issues`, where `path` is the resource's FHIRPath prefix.
Rule = Callable[[dict[str, Any], str], list[Issue]]


@dataclass(frozen=True, slots=True)
class ValidatorOptions:
    """Policies for what the definitions cannot decide alone."""

    unknown_extension: str = "warning"  # ignore | information | warning | error
    unknown_profile: str = "warning"  # for meta.profile (an explicit profile is an error)
    best_practice: str = "warning"  # ignore | warning (best-practice invariants)
    unknown_value_set: str = "ignore"  # ignore | information | warning
    check_reference_targets: bool = True


class Item(NamedTuple):
    """One value of an element: JSON value, its `_name` sibling, FHIR type, FHIRPath."""

    value: Any
    ext: Any
    type: str
    path: str


@dataclass(slots=True)
class _Run:
    """State of one validation call."""

    issues: list[Issue] = field(default_factory=list)
    seen: set[tuple] = field(default_factory=set)
    declared: bool = True  # validate inline resources against their meta.profile
    base: bool = False  # validate resources without profile against the base definition
    resource: dict[str, Any] | None = None  # %resource
    res_path: str = ""  # FHIRPath location of `resource`
    root: dict[str, Any] | None = None  # %rootResource
    bundle: dict[str, dict[str, Any]] | None = None
    in_progress: set[tuple[int, str]] = field(default_factory=set)
    match_cache: dict[tuple[int, str], bool] = field(default_factory=dict)
    match_errors: dict[tuple[int, str], str] = field(default_factory=dict)
    unknown_vs: set[str] = field(default_factory=set)
    accept: Callable[[str], bool] | None = None  # filter for declared profiles (policy)

    def add(self, severity: str, code: str, message: str, path: str) -> None:
        key = (severity, code, message, path)
        if key in self.seen:
            return
        self.seen.add(key)
        self.issues.append(Issue(severity, code, message, [path] if path else []))

    def has_errors(self) -> bool:
        return any(i.severity in ("error", "fatal") for i in self.issues)

    def child(self) -> _Run:
        """A run sharing this one's context, whose issues are kept apart."""
        sub = _Run(declared=self.declared, base=self.base, accept=self.accept)
        sub.resource, sub.root, sub.bundle = self.resource, self.root, self.bundle
        sub.res_path = self.res_path
        sub.in_progress = self.in_progress
        sub.match_cache = self.match_cache
        sub.match_errors = self.match_errors
        sub.unknown_vs = self.unknown_vs
        return sub

    def merge(self, other: _Run) -> None:
        for issue in other.issues:
            self.add(
                issue.severity,
                issue.code,
                issue.diagnostics,
                issue.expression[0] if issue.expression else "",
            )


class ProfileValidator:
    """Validates resources against profiles from a `ConformanceContext` (thread-safe)."""

    def __init__(
        self,
        context: ConformanceContext,
        terminology: Terminology | None = None,
        model: FhirModel | None = None,
        options: ValidatorOptions | None = None,
    ) -> None:
        self.context = context
        self.terminology: Terminology = terminology or InMemoryTerminology(context)
        self.model = model or get_model()
        self.options = options or ValidatorOptions()
        self.invariants = InvariantEngine()
        self._profiles: dict[str, CompiledProfile | None] = {}
        self._context_verdicts: dict[tuple, tuple[bool | None, str]] = {}
        self._by_sd: dict[int, CompiledProfile] = {}
        self._choice_keys: dict[str, tuple[tuple[str, str], ...]] = {}
        self._type_rules: dict[str, tuple[CompiledProfile, ElementDef] | None] = {}
        self._choice_lookup: dict[str, dict[str, str]] = {}
        self._ancestry: dict[str, tuple[str, ...]] = {}
        self._rules: dict[str, list[tuple[str, Rule]]] = {}
        self._lock = threading.Lock()

    # -- definitions -----------------------------------------------------------------------

    def profile(self, canonical: str) -> CompiledProfile | None:
        """The compiled profile for a canonical (snapshot generated when missing)."""
        found = self._profiles.get(canonical, MISSING)
        if found is not MISSING:
            return found
        sd = self.context.structure_definition(canonical)
        compiled: CompiledProfile | None = None
        if sd is not None:
            compiled = self._by_sd.get(id(sd))
            if compiled is None:
                try:
                    if not (sd.get("snapshot") or {}).get("element"):
                        sd = dict(sd)
                        sd["snapshot"] = {"element": generate_snapshot(sd, self._sd_for)}
                    compiled = compile_profile(sd)
                except (ProfileError, SnapshotError) as exc:
                    log.warning("profile %s cannot be used: %s", canonical, exc)
                    compiled = None
                else:
                    self._by_sd[id(self.context.structure_definition(canonical))] = compiled
        with self._lock:
            self._profiles[canonical] = compiled
        return compiled

    def _sd_for(self, canonical: str) -> dict[str, Any] | None:
        """A StructureDefinition with a snapshot (for snapshot generation of derived ones)."""
        sd = self.context.structure_definition(canonical)
        if sd is None or (sd.get("snapshot") or {}).get("element"):
            return sd
        out = dict(sd)
        out["snapshot"] = {"element": generate_snapshot(out, self._sd_for)}
        return out

    def base_profile(self, type_code: str) -> CompiledProfile | None:
        return self.profile(CORE_SD + type_code)

    def ancestry(self, profile: CompiledProfile) -> tuple[str, ...]:
        """The profile's URL and those of every profile it derives from."""
        cached = self._ancestry.get(profile.url)
        if cached is not None:
            return cached
        chain = [profile.url]
        base = profile.base_definition
        while base and len(chain) < 20:
            parent = self.profile(base)
            if parent is None:
                chain.append(split_canonical(base)[0])
                break
            if parent.url in chain:
                break
            chain.append(parent.url)
            base = parent.base_definition
        result = tuple(chain)
        self._ancestry[profile.url] = result
        return result

    def add_rule(self, profile_url: str, name: str, rule: Rule) -> None:
        """Run `rule` on resources validated against `profile_url` or a profile derived
        from it (rules are how services add checks that live only in prose)."""
        self._rules.setdefault(profile_url, []).append((name, rule))

    # -- entry point -----------------------------------------------------------------------

    def validate(
        self,
        resource: dict[str, Any],
        profiles: Iterable[str] = (),
        *,
        declared: bool = True,
        base: bool = False,
        path: str | None = None,
        accept: Callable[[str], bool] | None = None,
    ) -> list[Issue]:
        """Issues of `resource` against `profiles` (explicit: unknown ones are errors),
        plus its `meta.profile` when `declared`, plus the base definition of its type
        when `base` and no profile applies; `accept` filters declared profiles.
        Assumes a structurally valid resource."""
        run = _Run(declared=declared, base=base, accept=accept)
        self._resource(resource, path or resource.get("resourceType", ""), run, list(profiles))
        return sorted(run.issues, key=lambda i: _SEVERITY_ORDER.get(i.severity, 4))

    def conforms(self, resource: dict[str, Any], canonical: str) -> bool:
        """True when `resource` has no error against `canonical` (used by slicing)."""
        issues = self.validate(resource, [canonical], declared=False)
        return not any(i.severity in ("error", "fatal") for i in issues)

    # -- resources -------------------------------------------------------------------------

    def _resource(
        self,
        resource: dict[str, Any],
        path: str,
        run: _Run,
        explicit: list[str],
        alternatives: Iterable[str] = (),
        contained_in: dict[str, Any] | None = None,
    ) -> None:
        """A whole resource: explicit profiles, its meta.profile (when `run.declared`),
        one of `alternatives` (profiles an element allows for it), else the base."""
        rt = resource.get("resourceType")
        if not isinstance(rt, str):
            return
        canonicals: list[tuple[str, bool]] = [(c, True) for c in explicit]
        if run.declared:
            meta = resource.get("meta")
            declared = meta.get("profile") if isinstance(meta, dict) else None
            if isinstance(declared, list):
                canonicals += [
                    (c, False)
                    for c in declared
                    if isinstance(c, str) and (run.accept is None or run.accept(c))
                ]
        saved = (run.resource, run.root, run.bundle, run.res_path)
        run.resource, run.res_path = resource, path
        run.root = contained_in if contained_in is not None else resource
        if rt == "Bundle":
            run.bundle = _bundle_index(resource)
        try:
            applied = 0
            done: set[str] = set()
            for canonical, is_explicit in canonicals:
                prof = self.profile(canonical)
                if prof is None:
                    self._unknown_profile(canonical, is_explicit, path, run)
                    continue
                if prof.url in done:
                    continue
                done.add(prof.url)
                applied += 1
                self._against(resource, prof, path, run)
            options = [(c, self.profile(c)) for c in alternatives]
            usable = [(c, p) for c, p in options if p is not None and p.url not in done]
            if usable:
                applied += 1
                if len(usable) == 1 and len(options) == 1:
                    self._against(resource, usable[0][1], path, run)  # type: ignore[arg-type]
                else:
                    self._any_of(
                        usable,
                        len(usable) < len(options),
                        path,
                        run,
                        lambda sub, prof: self._against(resource, prof, path, sub),
                        f"the {rt} ",
                    )
            if not applied and run.base:
                prof = self.base_profile(rt)
                if prof is not None:
                    self._against(resource, prof, path, run)
        finally:
            run.resource, run.root, run.bundle, run.res_path = saved

    def _unknown_profile(self, canonical: str, explicit: bool, path: str, run: _Run) -> None:
        severity = "error" if explicit else self.options.unknown_profile
        if severity == "ignore":
            return
        run.add(
            severity,
            "not-found" if explicit else "informational",
            f"Profile {canonical} is not known: the resource was not checked against it",
            path,
        )

    def _against(
        self, resource: dict[str, Any], prof: CompiledProfile, path: str, run: _Run
    ) -> None:
        key = (id(resource), prof.url)
        if key in run.in_progress:
            return
        rt = resource.get("resourceType")
        if prof.kind == "resource" and prof.type not in (rt, "Resource", "DomainResource"):
            run.add(
                "error",
                "invalid",
                f"Profile {prof.url} applies to {prof.type} resources, not {rt}",
                path,
            )
            return
        run.in_progress.add(key)
        try:
            self._constraints(prof.root, resource, rt or prof.type, path, run, prof)
            self._object(resource, prof.root, path, run, prof)
            for url in self.ancestry(prof):
                for name, rule in self._rules.get(url, ()):
                    try:
                        for issue in rule(resource, path):
                            run.add(
                                issue.severity,
                                issue.code,
                                issue.diagnostics,
                                issue.expression[0] if issue.expression else path,
                            )
                    except Exception:  # noqa: BLE001 - a broken rule must not break validation
                        log.exception("validation rule %s failed", name)
        finally:
            run.in_progress.discard(key)

    # -- objects and elements --------------------------------------------------------------

    def _object(
        self,
        obj: dict[str, Any],
        owner: ElementDef,
        path: str,
        run: _Run,
        prof: CompiledProfile,
    ) -> None:
        """Children of one JSON object against the element that describes it."""
        source = owner if owner.children or owner.ref is None else owner.ref
        key_map = source.key_map
        if key_map is None:
            key_map = self._key_map(source)
        done: list[ElementDef] = []
        for key in obj:
            child = key_map.get(key)
            if child is None or child in done:
                continue
            done.append(child)
            self._element(child, self._collect(obj, child, path), path, run, prof)
        for child in source.required:
            if child not in done:
                self._element(child, [], path, run, prof)
        for key, value in obj.items():
            if key[:1] == "_" and value is not None:
                self._primitive_extensions(value, self._key_path(path, key[1:], key_map), run)

    def _key_path(self, path: str, name: str, key_map: dict[str, ElementDef]) -> str:
        """FHIRPath of a JSON property: `value.ofType(string)` for `valueString`."""
        child = key_map.get(name)
        if child is not None and child.is_choice:
            code = dict(self._choices(child)).get(name)
            if code is not None:
                return f"{path}.{child.name}.ofType({code})"
        return f"{path}.{name}"

    def _key_map(self, source: ElementDef) -> dict[str, ElementDef]:
        """JSON property -> active child element, and the children to check when absent."""
        key_map: dict[str, ElementDef] = {}
        for child in source.active_children:
            if child.is_choice:
                for key, _ in self._choices(child):
                    key_map[key] = child
                    key_map["_" + key] = child
            else:
                key_map[child.name] = child
                key_map["_" + child.name] = child
        source.required = tuple(
            c
            for c in source.active_children
            if c.min > c.base_min or any(sl.min > 0 for sl in c.slices)
        )
        source.key_map = key_map
        return key_map

    def _collect(self, obj: dict[str, Any], el: ElementDef, path: str) -> list[Item]:
        if el.is_choice:
            lookup = self._choice_lookup.get(el.path)
            if lookup is None:
                lookup = dict(self._choices(el))
                self._choice_lookup[el.path] = lookup
            out = []
            for key in obj:
                bare = key[1:] if key[:1] == "_" else key
                code = lookup.get(bare)
                if code is None or (bare != key and bare in obj):
                    continue
                value, ext = obj.get(bare), obj.get("_" + bare)
                out.append(Item(value, ext, code, f"{path}.{el.name}.ofType({code})"))
            return out
        name = el.name
        value = obj.get(name)
        ext = obj.get("_" + name)
        if value is None and ext is None:
            return []
        code = el.types[0].code if el.types else ""
        if type(value) is list or type(ext) is list:
            values = value if type(value) is list else []
            exts = ext if type(ext) is list else []
            out = []
            for i in range(max(len(values), len(exts))):
                v = values[i] if i < len(values) else None
                e = exts[i] if i < len(exts) else None
                if v is not None or e is not None:
                    out.append(Item(v, e, _item_type(v, code), f"{path}.{name}[{i}]"))
            return out
        return [Item(value, ext, _item_type(value, code), f"{path}.{name}")]

    def _choices(self, el: ElementDef) -> tuple[tuple[str, str], ...]:
        cached = self._choice_keys.get(el.path)
        if cached is not None:
            return cached
        base = self.model.element(el.path[:-3] if el.path.endswith("[x]") else el.path)
        codes = base.types if base is not None and base.is_choice else ()
        codes = tuple(codes) or tuple(t.code for t in el.types)
        keys = tuple((choice_name(el.name, c), c) for c in codes)
        self._choice_keys[el.path] = keys
        return keys

    def _element(
        self,
        el: ElementDef,
        items: list[Item],
        parent: str,
        run: _Run,
        prof: CompiledProfile,
    ) -> None:
        where = f"{parent}.{el.name}"
        count = len(items)
        if count < el.min and el.min > el.base_min:
            run.add(
                "error",
                "required",
                f"{where}: minimum required = {el.min}, but only found {count} (from {prof.url})",
                where,
            )
        if el.max is not None and count > el.max and (el.base_max is None or el.max < el.base_max):
            run.add(
                "error",
                "structure",
                f"{where}: max allowed = {el.max}, but found {count} (from {prof.url})",
                items[el.max].path if el.max < count else where,
            )
        slices = self._slices(el, items, where, run, prof) if (el.slices or el.slicing) else None
        is_ext = el.name in _EXTENSIONS
        for i, item in enumerate(items):
            self._item(el, item, run, prof)
            matched = slices[i] if slices is not None else None
            if matched is not None:
                self._item(matched, item, run, prof)
            elif is_ext:
                self._extension_by_url(item, el.name == "modifierExtension", run)

    def _item(self, el: ElementDef, item: Item, run: _Run, prof: CompiledProfile) -> None:
        value, code, path = item.value, item.type, item.path
        if el.is_choice and el.type_codes and code not in el.type_codes:
            allowed = ", ".join(sorted(el.type_codes))
            run.add(
                "error",
                "structure",
                f"{path}: type {code} is not allowed here by {prof.url} (allowed: {allowed})",
                path,
            )
            return
        if value is None:
            return
        if el.fixed is not MISSING and not _equals(value, el.fixed):
            run.add(
                "error",
                "value",
                f"{path}: value {_show(value)} does not equal the fixed value "
                f"{_show(el.fixed)} (from {prof.url})",
                path,
            )
        if el.pattern is not MISSING and not _pattern_match(value, el.pattern):
            run.add(
                "error",
                "value",
                f"{path}: value {_show(value)} does not match the pattern "
                f"{_show(el.pattern)} (from {prof.url})",
                path,
            )
        if el.max_length is not None and isinstance(value, str) and len(value) > el.max_length:
            run.add(
                "error",
                "too-long",
                f"{path}: value is {len(value)} characters long, max {el.max_length} "
                f"(from {prof.url})",
                path,
            )
        if el.min_value is not MISSING or el.max_value is not MISSING:
            _value_limits(el, value, path, run, prof)
        if el.binding is not None:
            self._binding(el, value, code, path, run, prof)
        if type(value) is not dict:
            if el.constraints and code in PRIMITIVE_TYPES:
                self._constraints(el, value, code, path, run, prof)
            return
        is_resource = "resourceType" in value and code not in ("Extension",)
        type_path = code if not is_resource else value.get("resourceType", code)
        if el.children and code in ("BackboneElement", "Element"):
            type_path = el.path
        if el.constraints:
            self._constraints(el, value, type_path, path, run, prof)
        if is_resource:
            self._inline_resource(el, value, path, run)
            return
        type_rules = self._type_invariants(code)
        if type_rules is not None:
            self._constraints(type_rules[1], value, code, path, run, type_rules[0])
        if el.children or el.ref is not None:
            self._object(value, el, path, run, prof)
        elif code and code not in ("BackboneElement", "Element"):
            base = self.base_profile(code)
            if base is not None and base.root.active_children:
                self._object(value, base.root, path, run, base)
        for t in el.types:
            if t.code != code:
                continue
            if t.profiles:
                self._type_profiles(value, code, t.profiles, el.name, path, run)
            if code == "Reference" and t.target_profiles and self.options.check_reference_targets:
                self._reference(value, t.target_profiles, path, run)

    def _type_profiles(
        self,
        value: dict[str, Any],
        code: str,
        profiles: tuple[str, ...],
        name: str,
        path: str,
        run: _Run,
    ) -> None:
        """The value conforms to one of the type's profiles (one: plainly checked)."""
        known = [(p, self.profile(p)) for p in profiles]
        usable = [(p, c) for p, c in known if c is not None]
        missing = [p for p, c in known if c is None]
        if not usable:
            for p in missing:
                if code == "Extension":
                    self._unknown_extension(p, name == "modifierExtension", path, run)
                else:
                    self._unknown_profile(p, False, path, run)
            return

        def check(target: _Run, prof: CompiledProfile) -> None:
            if code == "Extension":
                self._extension_context(prof, path, target)
            self._constraints(prof.root, value, code, path, target, prof)
            self._object(value, prof.root, path, target, prof)

        if len(usable) == 1 and not missing:
            check(run, usable[0][1])
            return
        self._any_of(usable, bool(missing), path, run, check, "")

    def _any_of(
        self,
        usable: list[tuple[str, CompiledProfile | None]],
        unknown_left: bool,
        path: str,
        run: _Run,
        check: Callable[[_Run, CompiledProfile], None],
        what: str,
    ) -> None:
        """Run `check` per profile in separate runs: one without errors is enough."""
        tried: list[tuple[int, _Run]] = []
        for _, prof in usable:
            assert prof is not None
            sub = run.child()
            check(sub, prof)
            if not sub.has_errors():
                run.merge(sub)
                return
            tried.append((sum(1 for i in sub.issues if i.severity in ("error", "fatal")), sub))
        if unknown_left:
            return  # it may conform to a profile that is not available: cannot tell
        names = " or ".join(p for p, _ in usable)
        run.add("error", "structure", f"{path}: {what}does not conform to {names}", path)
        run.merge(min(tried, key=lambda t: t[0])[1])

    # -- invariants ------------------------------------------------------------------------

    def _type_invariants(self, code: str) -> tuple[CompiledProfile, ElementDef] | None:
        """The invariants of a complex data type itself (per-1, qty-3, ref-1, rng-2…), on
        its base definition's root: an element of that type does not carry them in its own
        snapshot. None when the type has none beyond ele-1 and ext-1, which the structural
        validator checks."""
        if code in self._type_rules:
            return self._type_rules[code]
        found = None
        if code and code not in ("BackboneElement", "Element", "Extension"):
            base = self.base_profile(code)
            own = base and tuple(c for c in base.root.constraints if c.key not in _STRUCTURAL)
            if base is not None and own:
                found = (base, replace(base.root, constraints=own))
        self._type_rules[code] = found
        return found

    def _constraints(
        self,
        el: ElementDef,
        node: Any,
        type_path: str,
        path: str,
        run: _Run,
        prof: CompiledProfile,
    ) -> None:
        if not el.constraints:
            return
        ctx: EvalContext | None = None
        for c in el.constraints:
            if c.best_practice and self.options.best_practice == "ignore":
                continue
            if c.key in _CONTAINED_ONLY and not (type(node) is dict and "contained" in node):
                continue
            if c.key == "dom-6":
                ok: bool | None = type(node) is dict and _has_div(node)
            elif c.key == "dom-3":
                ok = type(node) is not dict or _contained_referenced(node)
            else:
                if ctx is None:
                    ctx = EvalContext(run.resource or {}, run.root or {}, run.bundle)
                ok = self.invariants.evaluate(c.expression, node, type_path, ctx)
            if ok is False:
                run.add(
                    c.severity,
                    "invariant",
                    f"Constraint {c.key} failed: {c.human} (from {c.source or prof.url})",
                    path,
                )
            elif ok is None:
                run.add(
                    "information",
                    "informational",
                    f"Constraint {c.key} could not be evaluated: {c.expression}",
                    path,
                )

    # -- bindings --------------------------------------------------------------------------

    def _binding(
        self,
        el: ElementDef,
        value: Any,
        code: str,
        path: str,
        run: _Run,
        prof: CompiledProfile,
    ) -> None:
        binding = el.binding
        assert binding is not None
        codes = _codes(value, code)
        if codes is None:
            return
        vs = binding.value_set
        if not codes:
            if binding.strength == "required" and code == "CodeableConcept":
                run.add(
                    "error",
                    "code-invalid",
                    f"{path}: no code provided, and a code from the value set {vs} is "
                    f"required (from {prof.url})",
                    path,
                )
            return
        if not self.terminology.has_value_set(vs):
            self._unknown_value_set(vs, path, run)
            return
        results = [self.terminology.validate_code(vs, s, c) for s, c in codes]
        if any(r is True for r in results) or not all(r is False for r in results):
            return
        shown = ", ".join(f"{s}#{c}" if s else f"'{c}'" for s, c in codes)
        if binding.strength == "required":
            run.add(
                "error",
                "code-invalid",
                f"{path}: {shown} is not in the value set {vs} (required binding, from {prof.url})",
                path,
            )
        else:
            run.add(
                "warning",
                "code-invalid",
                f"{path}: {shown} is not in the value set {vs} (extensible binding, "
                f"from {prof.url})",
                path,
            )

    def _unknown_value_set(self, vs: str, path: str, run: _Run) -> None:
        level = self.options.unknown_value_set
        if level == "ignore" or vs in run.unknown_vs:
            return
        run.unknown_vs.add(vs)
        run.add(level, "not-found", f"ValueSet {vs} is not available: binding not checked", path)

    # -- extensions ------------------------------------------------------------------------

    def _extension_by_url(self, item: Item, modifier: bool, run: _Run) -> None:
        value = item.value
        if type(value) is not dict:
            return
        url = value.get("url")
        if not isinstance(url, str) or ":" not in url:
            return  # a relative url names a sub-extension; its parent's slicing decides
        prof = self.profile(url)
        if prof is None or prof.type != "Extension":
            self._unknown_extension(url, modifier, item.path, run)
            return
        self._extension_context(prof, item.path, run)
        self._constraints(prof.root, value, "Extension", item.path, run, prof)
        self._object(value, prof.root, item.path, run, prof)

    def _extension_context(self, prof: CompiledProfile, path: str, run: _Run) -> None:
        """The extension at `path` is used where its definition's `context` allows."""
        resource = run.resource
        if not prof.contexts or resource is None or not path.startswith(run.res_path):
            return
        relative = path[len(run.res_path) :]
        fast = (prof.url, resource.get("resourceType"), relative)
        verdict = self._context_verdicts.get(fast)
        if verdict is None:
            verdict = self._context_verdict(prof, resource, relative, fast)
        if verdict[0] is False:
            where = ", ".join(
                expr if kind == "element" else f"{kind} {expr}" for kind, expr in prof.contexts
            )
            run.add(
                "error",
                "structure",
                f"{path}: extension {prof.url} is not allowed on {verdict[1]}; its "
                f"context allows {where}",
                path,
            )

    def _context_verdict(
        self, prof: CompiledProfile, resource: dict[str, Any], relative: str, fast: tuple
    ) -> tuple[bool | None, str]:
        """(allowed, holder described); cached by location, without indexes when the
        holder is not itself an extension (whose url then matters)."""
        at = holder_path(relative)
        if at is None:
            return (None, "")
        key = (prof.url, fast[1], re.sub(r"\[\d+\]", "", at))
        nested = key[2].endswith((".extension", ".modifierExtension"))
        verdict = None if nested else self._context_verdicts.get(key)
        if verdict is None:
            holder = describe_holder(self.model, resource, at)
            allowed = None if holder is None else context_allows(prof.contexts, holder)
            verdict = (allowed, holder.described if holder is not None else "")
            if not nested:
                self._context_verdicts[key] = verdict
        if not nested and len(self._context_verdicts) < 100_000:
            self._context_verdicts[fast] = verdict
        return verdict

    def _unknown_extension(self, url: str, modifier: bool, path: str, run: _Run) -> None:
        level = "error" if modifier else self.options.unknown_extension
        if level == "ignore":
            return
        kind = "modifier extension" if modifier else "extension"
        run.add(
            level,
            "extension",
            f"{path}: unknown {kind} {url}: it cannot be validated",
            path,
        )

    def _primitive_extensions(self, ext: Any, path: str, run: _Run) -> None:
        """Extensions carried by a primitive (`_birthDate`): each resolved by URL."""
        holders = ext if type(ext) is list else [ext]
        for i, holder in enumerate(holders):
            if type(holder) is not dict:
                continue
            base = f"{path}[{i}]" if type(ext) is list else path
            for j, e in enumerate(holder.get("extension") or ()):
                self._extension_by_url(
                    Item(e, None, "Extension", f"{base}.extension[{j}]"), False, run
                )

    # -- inline resources and references ---------------------------------------------------

    def _inline_resource(self, el: ElementDef, value: dict[str, Any], path: str, run: _Run) -> None:
        rt = value.get("resourceType")
        allowed = el.type_codes
        if allowed and not allowed & {"Resource", "DomainResource"} and rt not in allowed:
            run.add(
                "error",
                "structure",
                f"{path}: a {rt} resource is not allowed here (allowed: "
                f"{', '.join(sorted(allowed))})",
                path,
            )
            return
        options = [p for t in el.types if t.code in (rt, "Resource") for p in t.profiles]
        contained_in = run.root if el.name == "contained" else None
        self._resource(value, path, run, [], options, contained_in)

    def _reference(
        self, value: dict[str, Any], targets: tuple[str, ...], path: str, run: _Run
    ) -> None:
        ref = value.get("reference")
        target: dict[str, Any] | None = None
        rtype: str | None = None
        if isinstance(ref, str):
            target = resolve_reference(ref, run.resource or {}, run.root or {}, run.bundle)
            if target is not None:
                rtype = target.get("resourceType")
            else:
                rtype = self._type_from_reference(ref)
        if rtype is None and isinstance(value.get("type"), str):
            rtype = value["type"]
        if rtype is None:
            return
        allowed: dict[str, list[str]] = {}
        for tp in targets:
            t = self._profile_type(tp)
            if t is not None:
                allowed.setdefault(t, []).append(tp)
        if not allowed or "Resource" in allowed or "DomainResource" in allowed:
            return
        if rtype not in allowed:
            run.add(
                "error",
                "structure",
                f"{path}: a reference to {rtype} is not allowed here (allowed: "
                f"{', '.join(sorted(allowed))})",
                f"{path}.reference" if ref else path,
            )
            return
        if target is None:
            return
        profiles = allowed[rtype]
        if any(split_canonical(p)[0] == CORE_SD + rtype for p in profiles):
            return
        if not any(self._conforms_cached(target, p, run) for p in profiles):
            first = run.match_errors.get((id(target), profiles[0]))
            run.add(
                "error",
                "structure",
                f"{path}: the referenced {rtype} does not conform to "
                f"{' or '.join(profiles)}" + (f" (first problem: {first})" if first else ""),
                path,
            )

    def _profile_type(self, canonical: str) -> str | None:
        url = split_canonical(canonical)[0]
        if url.startswith(CORE_SD):
            return url[len(CORE_SD) :]
        prof = self.profile(canonical)
        return prof.type if prof is not None else None

    def _type_from_reference(self, ref: str) -> str | None:
        if ref.startswith(("urn:", "#")):
            return None
        parts = ref.split("?", 1)[0].split("/")
        if "_history" in parts:
            parts = parts[: parts.index("_history")]
        if len(parts) >= 2 and self.model.is_resource_type(parts[-2]):
            return parts[-2]
        return None

    def _conforms_cached(self, resource: dict[str, Any], canonical: str, run: _Run) -> bool:
        key = (id(resource), canonical)
        found = run.match_cache.get(key)
        if found is None:
            prof = self.profile(canonical)
            if prof is None:
                found = True  # unknown profile: cannot say it does not conform
            elif (id(resource), prof.url) in run.in_progress:
                found = True
            else:
                sub = _Run(declared=False, bundle=run.bundle, in_progress=run.in_progress)
                sub.match_cache = run.match_cache
                sub.match_errors = run.match_errors
                sub.resource = sub.root = resource
                rt = resource.get("resourceType")
                sub.res_path = rt if isinstance(rt, str) else ""
                self._against(resource, prof, sub.res_path, sub)
                found = not sub.has_errors()
                errors = [i for i in sub.issues if i.severity in ("error", "fatal")]
                if errors:
                    run.match_errors[key] = errors[0].diagnostics
            run.match_cache[key] = found
        return found

    # -- slicing ---------------------------------------------------------------------------

    def _slices(
        self,
        el: ElementDef,
        items: list[Item],
        where: str,
        run: _Run,
        prof: CompiledProfile,
    ) -> list[ElementDef | None]:
        matchers = self._matchers(el)
        broken = [m for m in matchers if isinstance(m, str)]
        if broken and (
            items
            or any(
                isinstance(m, str) and sl.min > 0 for m, sl in zip(matchers, el.slices, strict=True)
            )
        ):
            run.add(
                "warning",
                "processing",
                f"{where}: some slices of {el.id} in {prof.url} cannot be evaluated "
                f"({'; '.join(broken)}); they were not checked",
                where,
            )
        type_choice = el.is_choice and all(
            d.type == "type" and d.path == "$this"
            for d in (el.slicing.discriminators if el.slicing else ())
        )
        assigned: list[int | None] = []
        counts = [0] * len(el.slices)
        for item in items:
            found = None
            for index, matcher in enumerate(matchers):
                if not isinstance(matcher, str) and matcher(item, run):
                    found = index
                    break
            assigned.append(found)
            if found is not None:
                counts[found] += 1
        rules = el.slicing.rules if el.slicing else "open"
        ordered = bool(el.slicing and el.slicing.ordered)
        last = -1
        seen_unmatched = False
        for item, index in zip(items, assigned, strict=True):
            if index is None:
                seen_unmatched = True
                if type_choice and item.type in el.type_codes:
                    continue  # a type slice constrains one type; the others stay allowed
                if rules == "closed" and not broken:
                    run.add(
                        "error",
                        "structure",
                        f"{item.path}: does not match any slice of {el.id} (closed slicing, "
                        f"from {prof.url})",
                        item.path,
                    )
                continue
            if rules == "openAtEnd" and seen_unmatched and not broken:
                run.add(
                    "error",
                    "structure",
                    f"{item.path}: matches slice '{el.slices[index].slice_name}' after "
                    f"elements that match no slice (openAtEnd slicing, from {prof.url})",
                    item.path,
                )
            if ordered and index < last:
                run.add(
                    "error",
                    "structure",
                    f"{item.path}: slice '{el.slices[index].slice_name}' is out of order "
                    f"(ordered slicing of {el.id}, from {prof.url})",
                    item.path,
                )
            last = max(last, index)
        for index, sl in enumerate(el.slices):
            if isinstance(matchers[index], str):
                continue
            n = counts[index]
            if n < sl.min:
                run.add(
                    "error",
                    "required",
                    f"{where}: slice '{sl.slice_name}' requires at least {sl.min} "
                    f"element{'s' if sl.min > 1 else ''}, found {n} (from {prof.url})",
                    where,
                )
            if sl.max is not None and n > sl.max:
                run.add(
                    "error",
                    "structure",
                    f"{where}: slice '{sl.slice_name}' allows at most {sl.max}, found {n} "
                    f"(from {prof.url})",
                    where,
                )
        return [el.slices[i] if i is not None else None for i in assigned]

    def _matchers(self, el: ElementDef) -> list[Callable[[Item, _Run], bool] | str]:
        """Per-slice matchers; a string instead tells why that slice cannot be evaluated."""
        if el.matchers is None:
            discriminators = el.slicing.discriminators if el.slicing else ()
            el.matchers = [self._slice_matcher(sl, discriminators) for sl in el.slices]
        return el.matchers

    def _slice_matcher(
        self, sl: ElementDef, discriminators: tuple[Discriminator, ...]
    ) -> Callable[[Item, _Run], bool] | str:
        tests = []
        for d in discriminators:
            test = self._discriminator_test(sl, d)
            if isinstance(test, str):
                return f"slice '{sl.slice_name}': {d.type} discriminator on '{d.path}' {test}"
            tests.append(test)
        if not tests:
            tests = [self._fallback_test(sl)]

        def match(item: Item, run: _Run) -> bool:
            return all(test(item, run) for test in tests)

        return match

    def _fallback_test(self, sl: ElementDef) -> Callable[[Item, _Run], bool]:
        """No discriminator (R4 allows it): an item matches if it conforms to the slice."""

        def test(item: Item, run: _Run) -> bool:
            sub = _Run(declared=False, bundle=run.bundle, resource=run.resource, root=run.root)
            dummy = CompiledProfile(sl.id, None, sl.id, "", "", None, None, sl, {})
            self._item(sl, item, sub, dummy)
            return not sub.has_errors()

        return test

    def _discriminator_test(
        self, sl: ElementDef, d: Discriminator
    ) -> Callable[[Item, _Run], bool] | str:
        """A test telling whether an item belongs to slice `sl`, or why there is none."""
        path = _split_path(d.path)
        if d.type in ("value", "pattern") and path[-1:] == ["url"]:
            url = self._extension_url(sl, path[:-1])
            if url is not None:
                return lambda item, run: any(v == url for v, _ in self._eval(item, path, run))
        target, resolved, note = self._locate(sl, path)
        if target is None:
            return f"does not designate an element of the slice{_because(note)}"
        if d.type in ("value", "pattern"):
            if note is not None:
                return f"designates an element the slice does not constrain{_because(note)}"
            if target.fixed is not MISSING:
                fixed = target.fixed
                return lambda item, run: any(
                    _equals(v, fixed) for v, _ in self._eval(item, path, run)
                )
            if target.pattern is not MISSING:
                pattern = target.pattern
                return lambda item, run: any(
                    _pattern_match(v, pattern) for v, _ in self._eval(item, path, run)
                )
            if target.binding is not None:
                vs = target.binding.value_set
                if not self.terminology.has_value_set(vs):
                    return f"needs the value set {vs}, which is not available"
                return lambda item, run: any(
                    self._in_value_set(v, t, vs) for v, t in self._eval(item, path, run)
                )
            return "has no fixed value, pattern or required binding to compare with"
        if d.type == "type":
            codes = target.type_codes
            return lambda item, run: any(
                t in codes for _, t in self._eval(item, path, run, typed=True)
            )
        if d.type == "exists":
            must = target.min >= 1
            forbid = target.max == 0
            return lambda item, run: (
                (bool(self._eval(item, path, run)) if must else True)
                and (not self._eval(item, path, run) if forbid else True)
            )
        if d.type == "profile":
            profiles = [p for t in target.types for p in t.profiles] if not resolved else []
            if not profiles:
                targets = [p for t in target.types for p in t.target_profiles]
                if not targets:
                    return "names no profile"
                return lambda item, run: any(
                    self._reference_conforms(v, targets, run)
                    for v, _ in self._eval(item, [p for p in path if p != "resolve()"], run)
                )
            return lambda item, run: any(
                isinstance(v, dict) and any(self._conforms_cached(v, p, run) for p in profiles)
                for v, _ in self._eval(item, path, run)
            )
        return f"has an unsupported type {d.type!r}"

    def _extension_url(self, sl: ElementDef, path: list[str]) -> str | None:
        """The URL an extension slice stands for (`url` discriminators), without resolving."""
        node: ElementDef | None = sl
        if path and path != ["$this"]:
            node, _ = self._target(sl, path)
        if node is None or "Extension" not in node.type_codes:
            return None
        url_child = node.children.get("url")
        if url_child is not None and isinstance(url_child.fixed, str):
            return url_child.fixed
        for t in node.types:
            for p in t.profiles:
                return split_canonical(p)[0]
        return None

    def _reference_conforms(self, value: Any, targets: list[str], run: _Run) -> bool:
        """Profile discriminator on a Reference: its target conforms to one of `targets`
        (when the target is not in the validated content, its type must match)."""
        if type(value) is not dict:
            return False
        ref = value.get("reference")
        target = None
        if isinstance(ref, str):
            target = resolve_reference(ref, run.resource or {}, run.root or {}, run.bundle)
        if target is not None:
            return any(self._conforms_cached(target, p, run) for p in targets)
        rtype = self._type_from_reference(ref) if isinstance(ref, str) else value.get("type")
        return rtype is not None and any(self._profile_type(p) == rtype for p in targets)

    def _suffix_type(self, suffix: str) -> str:
        """`Quantity` -> Quantity, `DateTime` -> dateTime (choice-name suffix to type code)."""
        if suffix in self.model.datatypes or self.model.is_resource_type(suffix):
            return suffix
        return suffix[0].lower() + suffix[1:]

    def _in_value_set(self, value: Any, code: str | None, vs: str) -> bool:
        codes = _codes(value, code or _guess_type(value))
        return bool(codes) and any(
            self.terminology.validate_code(vs, s, c) is True for s, c in codes
        )

    def _target(self, s: ElementDef, path: list[str]) -> tuple[ElementDef | None, bool]:
        """The element a discriminator path designates inside slice `s`."""
        node, resolved, _ = self._locate(s, path)
        return node, resolved

    def _locate(self, s: ElementDef, path: list[str]) -> tuple[ElementDef | None, bool, str | None]:
        """(element, through resolve(), note): the note says the element comes from the
        base type (not constrained by the slice) or from a type profile not available."""
        node: ElementDef | None = s
        resolved = False
        note: str | None = None
        for seg in path:
            if node is None:
                break
            if seg == "$this":
                continue
            if seg.startswith("extension("):
                url = seg[seg.index("(") + 1 : seg.rindex(")")].strip("'\"")
                node = self._extension_slice(node, url)
            elif seg == "resolve()":
                resolved = True
            elif seg.startswith("ofType("):
                code = seg[7:-1]
                for sl in node.slices:
                    if code in sl.type_codes:
                        node = sl
                        break
            else:
                node, how = self._child_how(node, seg)
                note = note or how
        return node, resolved, note

    def _child(self, node: ElementDef, name: str) -> ElementDef | None:
        return self._child_how(node, name)[0]

    def _child_how(self, node: ElementDef, name: str) -> tuple[ElementDef | None, str | None]:
        found = node.children.get(name)
        if found is not None:
            return found, None
        if not node.children and node.slices:
            # `code.coding.code` where `coding` is itself sliced: the value that
            # discriminates is the one fixed in its mandatory slice(s)
            for sl in node.slices:
                if sl.min >= 1 and name in sl.children:
                    return sl.children[name], None
        if node.ref is not None and name in node.ref.children:
            return node.ref.children[name], None
        missing = None
        for t in node.types:
            for p in t.profiles:
                prof = self.profile(p)
                if prof is None:
                    missing = missing or f"profile {p} is not available"
                elif name in prof.root.children:
                    return prof.root.children[name], None
        if len(node.types) == 1:
            base = self.base_profile(node.types[0].code)
            if base is not None and name in base.root.children:
                return base.root.children[name], missing or "base"
        return None, missing

    def _extension_slice(self, node: ElementDef, url: str) -> ElementDef | None:
        ext = self._child(node, "extension")
        if ext is None:
            return None
        for sl in ext.slices:
            url_child = self._child(sl, "url")
            if url_child is not None and url_child.fixed == url:
                return sl
            if any(split_canonical(p)[0] == url for t in sl.types for p in t.profiles):
                return sl
        prof = self.profile(url)
        return prof.root if prof is not None else None

    def _eval(
        self, item: Item, path: list[str], run: _Run, typed: bool = False
    ) -> list[tuple[Any, str | None]]:
        """Values a discriminator path selects in one item: (value, FHIR type or None)."""
        current: list[tuple[Any, str | None]] = [(item.value, item.type)]
        for seg in path:
            if seg == "$this":
                continue
            nxt: list[tuple[Any, str | None]] = []
            if seg.startswith("extension("):
                url = seg[seg.index("(") + 1 : seg.rindex(")")].strip("'\"")
                for v, _ in current:
                    if type(v) is dict:
                        for e in v.get("extension") or ():
                            if type(e) is dict and e.get("url") == url:
                                nxt.append((e, "Extension"))
            elif seg == "resolve()":
                for v, _ in current:
                    ref = v.get("reference") if type(v) is dict else None
                    if isinstance(ref, str):
                        found = resolve_reference(
                            ref, run.resource or {}, run.root or {}, run.bundle
                        )
                        if found is not None:
                            nxt.append((found, found.get("resourceType")))
            elif seg.startswith("ofType("):
                code = seg[7:-1]
                nxt = [(v, t) for v, t in current if t == code]
            else:
                for v, _ in current:
                    if type(v) is not dict:
                        continue
                    if seg in v:
                        _extend(nxt, v[seg], None)
                        continue
                    suffixes = choice_suffixes()
                    for key, val in v.items():
                        suffix = key[len(seg) :]
                        if key.startswith(seg) and suffix in suffixes:
                            _extend(nxt, val, self._suffix_type(suffix))
            current = nxt
            if not current:
                break
        if typed:
            return [(v, t or _guess_type(v)) for v, t in current]
        return current


# -- helpers -------------------------------------------------------------------------------


def _value_limits(el: ElementDef, value: Any, path: str, run: _Run, prof: CompiledProfile) -> None:
    """minValue[x] / maxValue[x]: the value is not below / above the limit."""
    for limit, below, word in ((el.min_value, True, "minimum"), (el.max_value, False, "maximum")):
        if limit is MISSING:
            continue
        order = _compare(value, limit[0], limit[1])
        if order is not None and (order < 0 if below else order > 0):
            run.add(
                "error",
                "value",
                f"{path}: value {_show(_limit_shown(value))} is "
                f"{'less' if below else 'greater'} than the {word} "
                f"{_show(_limit_shown(limit[1]))} (from {prof.url})",
                path,
            )


def _limit_shown(value: Any) -> Any:
    if type(value) is dict and "value" in value:
        unit = value.get("code") or value.get("unit")
        return f"{value['value']} {unit}" if unit else value["value"]
    return value


def _compare(value: Any, suffix: str, limit: Any) -> int | None:
    """-1/0/1 for value against limit; None when they cannot be compared (other units,
    wrong types: the structural check reports those)."""
    if suffix in ("Integer", "Decimal", "PositiveInt", "UnsignedInt", "Integer64"):
        if _number(value) and _number(limit):
            return (value > limit) - (value < limit)
        return None
    if suffix == "Quantity":
        if type(value) is not dict or type(limit) is not dict:
            return None
        if not (_number(value.get("value")) and _number(limit.get("value"))):
            return None
        for key in ("system", "code"):
            if key in limit and value.get(key) != limit[key]:
                return None
        return (value["value"] > limit["value"]) - (value["value"] < limit["value"])
    if suffix in ("Date", "DateTime", "Instant"):
        return _compare_dates(value, limit)
    if suffix == "Time" and isinstance(value, str) and isinstance(limit, str):
        return (value > limit) - (value < limit)
    return None


def _compare_dates(value: Any, limit: Any) -> int | None:
    """Dates are ranges: below when the whole value is before the limit, above when after."""
    if not (isinstance(value, str) and isinstance(limit, str)):
        return None
    try:
        low, high, _ = parse_range(value, UTC)  # both read alike: the zone cancels out
        limit_low, limit_high, _ = parse_range(limit, UTC)
    except ValueError:
        return None
    if high < limit_low:
        return -1
    if low > limit_high:
        return 1
    return 0


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _extend(out: list, value: Any, type_: str | None) -> None:
    if type(value) is list:
        out.extend((v, _type_of(v, type_)) for v in value if v is not None)
    elif value is not None:
        out.append((value, _type_of(value, type_)))


def _type_of(value: Any, type_: str | None) -> str | None:
    if type_ is not None:
        return type_
    if type(value) is dict and isinstance(value.get("resourceType"), str):
        return value["resourceType"]
    return None


def _guess_type(value: Any) -> str | None:
    if type(value) is dict:
        if isinstance(value.get("resourceType"), str):
            return value["resourceType"]
        if "coding" in value or ("text" in value and len(value) == 1):
            return "CodeableConcept"
        if "system" in value and "code" in value and "value" not in value:
            return "Coding"
        if "reference" in value:
            return "Reference"
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, str):
        return "string"
    return None


def _item_type(value: Any, declared: str) -> str:
    if declared in ("Resource", "DomainResource") and type(value) is dict:
        rt = value.get("resourceType")
        if isinstance(rt, str):
            return rt
    return declared


def _split_path(path: str) -> list[str]:
    """`extension('http://x.y/z').value` -> ["extension('http://x.y/z')", "value"]."""
    out: list[str] = []
    depth, start, quote = 0, 0, ""
    for i, ch in enumerate(path):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "." and depth == 0:
            out.append(path[start:i])
            start = i + 1
    out.append(path[start:])
    return [p for p in (s.strip() for s in out) if p]


def _equals(value: Any, expected: Any) -> bool:
    if type(value) is bool or type(expected) is bool:
        return value is expected
    if isinstance(value, int | float) and isinstance(expected, int | float):
        return float(value) == float(expected)
    if type(expected) is dict:
        if type(value) is not dict:
            return False
        keys = {k for k in value if not k.startswith("_") and k != "id"}
        return keys == set(expected) and all(_equals(value[k], expected[k]) for k in expected)
    if type(expected) is list:
        return (
            type(value) is list
            and len(value) == len(expected)
            and all(_equals(a, b) for a, b in zip(value, expected, strict=True))
        )
    return value == expected


def _pattern_match(value: Any, pattern: Any) -> bool:
    if type(pattern) is dict:
        if type(value) is not dict:
            return False
        return all(k in value and _pattern_match(value[k], pv) for k, pv in pattern.items())
    if type(pattern) is list:
        values = value if type(value) is list else [value]
        return all(any(_pattern_match(v, p) for v in values) for p in pattern)
    return _equals(value, pattern)


def _codes(value: Any, code: str | None) -> list[tuple[str | None, str]] | None:
    """(system, code) pairs of a coded value; None when the type is not coded."""
    if code in ("code", "string", "uri"):
        return [(None, value)] if isinstance(value, str) else []
    if type(value) is not dict:
        return None
    if code == "Coding":
        c = value.get("code")
        return [(value.get("system"), c)] if isinstance(c, str) else []
    if code == "CodeableConcept":
        return [
            (c.get("system"), c["code"])
            for c in value.get("coding") or ()
            if type(c) is dict and isinstance(c.get("code"), str)
        ]
    if code in _QUANTITIES:
        c = value.get("code")
        return [(value.get("system"), c)] if isinstance(c, str) else []
    return None


def _because(note: str | None) -> str:
    if not note or note == "base":
        return ""
    return f" ({note})"


def _local_refs(value: Any, out: set[str]) -> None:
    """Every `#...` string in a JSON tree (references, canonicals and uris to contained)."""
    if type(value) is dict:
        for v in value.values():
            _local_refs(v, out)
    elif type(value) is list:
        for v in value:
            _local_refs(v, out)
    elif type(value) is str and value[:1] == "#":
        out.add(value)


def _contained_referenced(resource: dict[str, Any]) -> bool:
    """dom-3: each contained resource is referenced from the container (or refers to it)."""
    contained = [c for c in resource.get("contained") or () if type(c) is dict]
    if not contained:
        return True
    refs: set[str] = set()
    _local_refs({k: v for k, v in resource.items() if k != "contained"}, refs)
    inner: list[set[str]] = []
    for c in contained:
        found: set[str] = set()
        _local_refs(c, found)
        inner.append(found)
        refs |= found
    for c, found in zip(contained, inner, strict=True):
        cid = c.get("id")
        if not isinstance(cid, str) or ("#" + cid not in refs and "#" not in found):
            return False
    return True


def _has_div(node: dict[str, Any]) -> bool:
    text = node.get("text")
    return type(text) is dict and "div" in text


def _bundle_index(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for entry in bundle.get("entry") or ():
        if type(entry) is not dict:
            continue
        res = entry.get("resource")
        if type(res) is not dict:
            continue
        full = entry.get("fullUrl")
        if isinstance(full, str):
            out[full] = res
        rt, rid = res.get("resourceType"), res.get("id")
        if isinstance(rt, str) and isinstance(rid, str):
            out.setdefault(f"{rt}/{rid}", res)
    return out


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f"'{value}'"
    text = orjson.dumps(value).decode()
    return text if len(text) <= 200 else text[:197] + "..."


__all__ = ["Constraint", "Item", "ProfileValidator", "Rule", "ValidatorOptions"]
