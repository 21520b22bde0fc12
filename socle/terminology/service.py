"""The terminology service: resolution, $lookup, $validate-code, $subsumes, $expand, $translate.

`TerminologyService` is the in-process interface (the validator calls it directly,
without HTTP); the REST operations in `operations.py` are thin wrappers around it.

Per tenant, the service keeps a `TenantState`: the store layer (terminology resources of
that tenant in the FHIR store) merged with the built-in layer, and a cache of expansions.
Whether the store changed is checked at most every `refresh_seconds` with one cheap query
(count and sum of versions of the tenant's CodeSystem/ValueSet/ConceptMap rows: any
create, update or delete changes it, whatever the commit order); a write in this process
forces the check at once. Only the resources that changed are re-read, and the expansion
cache of the tenant is dropped.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import func, select

from socle.fhir.errors import FhirError, Issue
from socle.terminology.builtin import package_signature, shared_layer
from socle.terminology.catalog import TYPES, Entry, Layer, View
from socle.terminology.codesystem import CodeSystemIndex, Concept, _same_language
from socle.terminology.conceptmap import NOT_A_MATCH, ConceptMapIndex, Match
from socle.terminology.expansion import CodeSet, Expander, ExpandOptions, Part
from socle.terminology.textindex import words_of
from socle.terminology.versions import split_canonical

log = logging.getLogger("socle.terminology")

DEFAULT_MAX_EXPANSION = 10_000


# -- results -----------------------------------------------------------------------------


@dataclass(slots=True)
class ValidationResult:
    """Answer of $validate-code. `unknown` means "cannot tell": system or value set unknown."""

    result: bool
    message: str | None = None
    display: str | None = None
    system: str | None = None
    code: str | None = None
    version: str | None = None
    unknown: bool = False
    issues: list[Issue] = field(default_factory=list)

    def warn(self, code: str, text: str, expression: str | None = None) -> None:
        self.issues.append(Issue("warning", code, text, [expression] if expression else []))
        self.message = f"{self.message}; {text}" if self.message else text


@dataclass(slots=True)
class LookupResult:
    system: str
    name: str
    version: str | None
    code: str
    display: str | None
    definition: str | None
    designations: list[dict[str, Any]]
    properties: list[tuple[str, str, Any]]  # code, FHIR type (Code, String…), value
    abstract: bool
    inactive: bool


@dataclass(slots=True)
class TranslationResult:
    result: bool
    message: str | None
    matches: list[Match]


@runtime_checkable
class TerminologyService(Protocol):
    """What the validator and other services use in-process (no HTTP)."""

    def validate_code(
        self,
        system: str | None,
        code: str,
        display: str | None = None,
        version: str | None = None,
        *,
        value_set: str | None = None,
        tenant: str | None = None,
    ) -> ValidationResult: ...

    def validate_coding(
        self, coding: dict[str, Any], *, value_set: str | None = None, tenant: str | None = None
    ) -> ValidationResult: ...

    def validate_codeable_concept(
        self, concept: dict[str, Any], *, value_set: str | None = None, tenant: str | None = None
    ) -> ValidationResult: ...

    def lookup(
        self,
        system: str,
        code: str,
        version: str | None = None,
        *,
        display_language: str | None = None,
        tenant: str | None = None,
    ) -> LookupResult: ...

    def expand(
        self,
        url: str | None = None,
        *,
        valueset: dict[str, Any] | None = None,
        filter: str | None = None,
        offset: int = 0,
        count: int | None = None,
        active_only: bool = False,
        display_language: str | None = None,
        tenant: str | None = None,
    ) -> dict[str, Any]: ...

    def subsumes(
        self,
        system: str,
        code_a: str,
        code_b: str,
        version: str | None = None,
        *,
        tenant: str | None = None,
    ) -> str: ...

    def translate(
        self,
        code: str,
        system: str | None = None,
        *,
        url: str | None = None,
        target_system: str | None = None,
        reverse: bool = False,
        tenant: str | None = None,
    ) -> TranslationResult: ...

    def has_value_set(self, url: str, *, tenant: str | None = None) -> bool: ...

    def has_code_system(self, url: str, *, tenant: str | None = None) -> bool: ...


# -- per-tenant state ---------------------------------------------------------------------


class TenantState:
    """The store layer of one tenant, its merged view and its expansion cache."""

    def __init__(self, tenant: str) -> None:
        self.tenant = tenant
        self.fingerprint: tuple | None = None
        self.known: dict[tuple[str, str], tuple[int, Entry]] = {}
        self.layer = Layer()
        self.view: View | None = None
        self.generation = 0
        self.next_check = 0.0
        self.force_until = 0.0
        self.lock = threading.Lock()
        self.expansions: OrderedDict[tuple, CodeSet] = OrderedDict()
        self.exp_lock = threading.Lock()


class Terminology:
    """The terminology service of one engine (thread-safe, per process)."""

    def __init__(
        self,
        store: Any = None,
        *,
        data_dir: Path | None = None,
        default_tenant: str = "default",
        max_expansion: int = DEFAULT_MAX_EXPANSION,
        refresh_seconds: float = 0.5,
        use_builtin: bool = True,
    ) -> None:
        self.store = store
        self.data_dir = data_dir
        self.default_tenant = default_tenant
        self.max_expansion = max_expansion
        self.refresh_seconds = refresh_seconds
        self.use_builtin = use_builtin
        self._builtin: Layer | None = None
        self._builtin_sig: tuple | None = None
        self._builtin_check = 0.0
        self._builtin_lock = threading.Lock()
        self._tenants: dict[str, TenantState] = {}
        self._tenants_lock = threading.Lock()
        self._supplemented: dict[tuple, CodeSystemIndex] = {}

    # -- layers --------------------------------------------------------------------------

    def builtin(self) -> Layer:
        if not self.use_builtin:
            if self._builtin is None:
                self._builtin = Layer()
            return self._builtin
        now = time.monotonic()
        if self._builtin is not None and now < self._builtin_check:
            return self._builtin
        with self._builtin_lock:
            if self._builtin is None or now >= self._builtin_check:
                sig = package_signature(self.data_dir)
                if self._builtin is None or sig != self._builtin_sig:
                    self._builtin = shared_layer(self.data_dir, sig)
                    self._builtin_sig = sig
                    with self._tenants_lock:
                        for state in self._tenants.values():
                            state.generation += 1
                            state.view = View([state.layer, self._builtin], state.generation)
                            with state.exp_lock:
                                state.expansions.clear()
                self._builtin_check = time.monotonic() + 30.0
        return self._builtin

    def state(self, tenant: str | None = None) -> TenantState:
        tenant = tenant or self.default_tenant
        state = self._tenants.get(tenant)
        if state is None:
            with self._tenants_lock:
                state = self._tenants.setdefault(tenant, TenantState(tenant))
        builtin = self.builtin()
        now = time.monotonic()
        if self.store is not None and (now >= state.next_check or now < state.force_until):
            self._refresh(state)
        if state.view is None:
            with state.lock:
                if state.view is None:
                    state.view = View([state.layer, builtin], state.generation)
        return state

    def view(self, tenant: str | None = None) -> View:
        state = self.state(tenant)
        assert state.view is not None
        return state.view

    def changed(self, tenant: str) -> None:
        """A terminology resource is being written in this process: check the store now."""
        state = self._tenants.get(tenant)
        if state is not None:
            state.force_until = time.monotonic() + 2.0
            state.next_check = 0.0

    def _refresh(self, state: TenantState) -> None:
        from socle.fhir.storage import schema as S

        r = S.resource.c
        where = (r.tenant == state.tenant, r.res_type.in_(TYPES))
        with state.lock:
            now = time.monotonic()
            if now < state.next_check and now >= state.force_until:
                return
            with self.store.session(state.tenant) as s:
                fp = tuple(
                    s.execute(
                        select(func.count(), func.coalesce(func.sum(r.version), 0)).where(*where)
                    ).one()
                )
                if fp != state.fingerprint:
                    rows = s.execute(
                        select(r.pk, r.res_type, r.res_id, r.version, r.deleted).where(*where)
                    ).all()
                    self._apply_changes(state, s, rows)
                    state.fingerprint = fp
            state.next_check = time.monotonic() + self.refresh_seconds

    def _apply_changes(self, state: TenantState, s: Any, rows: list) -> None:
        current = {(row.res_type, row.res_id): row for row in rows if not row.deleted}
        known = state.known
        stale = [k for k, (version, _e) in known.items() if k not in current]
        to_read = [
            row.pk
            for key, row in current.items()
            if key not in known or known[key][0] != row.version
        ]
        if not stale and not to_read:
            return
        fresh = dict(known)
        for key in stale:
            del fresh[key]
        for stored in s.fetch_current(to_read):
            if stored.content is None:
                continue
            try:
                import orjson

                resource = orjson.loads(stored.content)
                entry = Entry.of(resource, "store", stored.content, stored_version=stored.version)
            except Exception:  # noqa: BLE001 - a bad resource must not break the others
                log.exception("cannot index terminology resource %s", stored.res_id)
                continue
            fresh[(stored.res_type, stored.res_id)] = (stored.version, entry)
        state.known = fresh
        state.layer = Layer(entry for _v, entry in fresh.values())
        state.generation += 1
        state.view = View([state.layer, self.builtin()], state.generation)
        with state.exp_lock:
            state.expansions.clear()
        log.info(
            "terminology refreshed",
            extra={"tenant": state.tenant, "read": len(to_read), "removed": len(stale)},
        )

    # -- resolution ----------------------------------------------------------------------

    def codesystem_entry(self, view: View, system: str, version: str | None = None) -> Entry | None:
        entry = view.resolve("CodeSystem", system, version)
        if entry is None:
            return None
        if entry.extra.get("content") in ("not-present", "supplement"):
            return None
        return entry

    def cs_index(self, view: View, entry: Entry) -> CodeSystemIndex:
        """The concept index of a code system version, with its supplements applied."""
        base = entry.index(CodeSystemIndex)
        supplements = view.supplements(entry.url, entry.version)
        if not supplements:
            return base
        key = (entry.seq, tuple(s.seq for s in supplements))
        found = self._supplemented.get(key)
        if found is None:
            found = base.supplemented([s.resource() for s in supplements])
            with self._tenants_lock:
                if len(self._supplemented) > 64:
                    self._supplemented.clear()
                self._supplemented[key] = found
        return found

    def codesystem(
        self, system: str, version: str | None = None, *, tenant: str | None = None
    ) -> tuple[Entry, CodeSystemIndex]:
        view = self.view(tenant)
        entry = self.codesystem_entry(view, system, version)
        if entry is None:
            raise self._unknown_system(view, system, version)
        return entry, self.cs_index(view, entry)

    def _unknown_system(self, view: View, system: str, version: str | None) -> FhirError:
        if version:
            known = view.versions("CodeSystem", split_canonical(system)[0])
            if known:
                return FhirError(
                    404,
                    "not-found",
                    f"Version {version} of code system {system} is not known "
                    f"(known versions: {', '.join(v or '(none)' for v in known)})",
                )
        return FhirError(404, "not-found", f"Code system {system} is not known to this server")

    def canonical_system(self, view: View, system: str) -> str:
        """A `urn:oid:` system of a known CodeSystem becomes that CodeSystem's URL."""
        if system.startswith("urn:oid:"):
            entry = view.resolve("CodeSystem", system)
            if entry is not None and entry.url:
                return entry.url
        return system

    def valueset_entry(self, view: View, url: str, version: str | None = None) -> Entry:
        entry = view.resolve("ValueSet", url, version)
        if entry is None:
            raise FhirError(404, "not-found", f"Value set {url} is not known to this server")
        return entry

    def valueset_resource(
        self, view: View, url: str, version: str | None = None
    ) -> tuple[dict[str, Any], Entry | None]:
        """A ValueSet by canonical, including the implicit `<codesystem>?fhir_vs[=isa/X]`."""
        base, _, query = url.partition("?")
        if query.startswith("fhir_vs"):
            cs = self.codesystem_entry(view, base)
            if cs is None:
                raise FhirError(404, "not-found", f"Code system {base} is not known")
            include: dict[str, Any] = {"system": cs.url}
            value = query[len("fhir_vs") :].lstrip("=")
            if value.startswith("isa/"):
                include["filter"] = [{"property": "concept", "op": "is-a", "value": value[4:]}]
            elif value:
                raise FhirError(400, "invalid", f"Unsupported implicit value set {url}")
            return {
                "resourceType": "ValueSet",
                "url": url,
                "status": "active",
                "compose": {"include": [include]},
            }, None
        entry = self.valueset_entry(view, url, version)
        return entry.resource(), entry

    def has_value_set(self, url: str, *, tenant: str | None = None) -> bool:
        return self.view(tenant).resolve("ValueSet", url.partition("?")[0]) is not None

    def has_code_system(self, url: str, *, tenant: str | None = None) -> bool:
        return self.codesystem_entry(self.view(tenant), url) is not None

    # -- expansion -----------------------------------------------------------------------

    def codeset(
        self,
        state: TenantState,
        resource: dict[str, Any],
        entry: Entry | None,
        options: ExpandOptions,
        stack: tuple[str, ...] = (),
    ) -> CodeSet:
        """The membership of a value set (cached by resource version and options)."""
        key = (entry.seq, options.key()) if entry is not None else None
        if key is not None:
            with state.exp_lock:
                found = state.expansions.get(key)
                if found is not None:
                    state.expansions.move_to_end(key)
                    return found
        view = state.view
        assert view is not None
        generation = state.generation
        label = resource.get("url") or "(posted value set)"
        if label in stack:
            raise FhirError(400, "processing", f"Value set {label} includes itself")
        if len(stack) > 16:
            raise FhirError(400, "too-costly", "Value sets nest more than 16 levels deep")

        def resolve_cs(system: str, version: str | None):  # noqa: ANN202
            cs_entry = self.codesystem_entry(view, system, version)
            if cs_entry is None:
                return None
            return cs_entry.url, cs_entry.version, self.cs_index(view, cs_entry)

        def resolve_vs(canonical: str) -> CodeSet:
            nested, nested_entry = self.valueset_resource(view, canonical)
            return self.codeset(state, nested, nested_entry, options, (*stack, label))

        result = Expander(resolve_cs, resolve_vs, options).expand(resource)
        if key is not None and generation == state.generation:
            with state.exp_lock:
                state.expansions[key] = result
                while len(state.expansions) > 256:
                    state.expansions.popitem(last=False)
        return result

    def expand(
        self,
        url: str | None = None,
        *,
        valueset: dict[str, Any] | None = None,
        version: str | None = None,
        filter: str | None = None,
        offset: int = 0,
        count: int | None = None,
        active_only: bool = False,
        display_language: str | None = None,
        include_designations: bool = False,
        include_definition: bool = False,
        options: ExpandOptions | None = None,
        tenant: str | None = None,
    ) -> dict[str, Any]:
        """The ValueSet with its `expansion` (a page of it with offset/count)."""
        state = self.state(tenant)
        view = state.view
        assert view is not None
        options = options or ExpandOptions()
        options.active_only = options.active_only or active_only
        if valueset is not None:
            resource, entry = valueset, None
        elif url:
            resource, entry = self.valueset_resource(view, url, version)
        else:
            raise FhirError(400, "invalid", "$expand needs a url, a valueSet or an instance")
        if offset < 0 or (count is not None and count < 0):
            raise FhirError(400, "invalid", "offset and count must not be negative")
        codes = self.codeset(state, resource, entry, options)
        matched = codes.search(filter) if filter and words_of(filter) else None
        if matched is not None:
            total = sum(len(positions) for _part, positions in matched)
            page = codes.page(matched, offset, self._page_size(total, count))
        else:
            total = codes.total
            page = codes.slice(offset, self._page_size(total, count))
        lang = display_language or resource.get("language")
        contains = [
            self._contains_item(part, code, lang, include_designations, include_definition)
            for part, code in page
        ]
        params: list[dict[str, Any]] = []
        if filter:
            params.append({"name": "filter", "valueString": filter})
        if offset:
            params.append({"name": "offset", "valueInteger": offset})
        if count is not None:
            params.append({"name": "count", "valueInteger": count})
        if display_language:
            params.append({"name": "displayLanguage", "valueCode": display_language})
        if options.active_only:
            params.append({"name": "activeOnly", "valueBoolean": True})
        for system, cs_version in codes.used.items():
            ref = f"{system}|{cs_version}" if cs_version else system
            params.append({"name": "used-codesystem", "valueUri": ref})
        for warning in dict.fromkeys(codes.warnings):
            params.append({"name": "warning", "valueString": warning})
        out = {
            k: v
            for k, v in resource.items()
            if k not in ("compose", "expansion", "text", "meta", "contained")
        }
        out["resourceType"] = "ValueSet"
        expansion: dict[str, Any] = {
            "identifier": f"urn:uuid:{uuid.uuid4()}",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "total": total,
            "offset": offset,
        }
        if params:
            expansion["parameter"] = params
        if contains:
            expansion["contains"] = contains
        out["expansion"] = expansion
        return out

    def _page_size(self, total: int, count: int | None) -> int:
        limit = self.max_expansion
        if count is None:
            if total > limit:
                raise FhirError(
                    422,
                    "too-costly",
                    f"The expansion has {total} codes, more than this server returns at once "
                    f"(limit {limit}); page through it with offset and count (count <= {limit}) "
                    "or narrow it with filter",
                )
            return total
        return min(count, limit)

    def _contains_item(
        self, part: Part, code: str, lang: str | None, designations: bool, definition: bool
    ) -> dict[str, Any]:
        concept = part.concept(code)
        item: dict[str, Any] = {"system": part.system}
        if part.version:
            item["version"] = part.version
        item["code"] = concept.code if concept is not None else code
        override = part.codes.get(code) if not part.all else None
        display = self._display(concept, part.cs, lang, override)
        if display:
            item["display"] = display
        if (concept is not None and concept.inactive) or code in part.deprecated:
            item["inactive"] = True
        if concept is not None and concept.abstract:
            item["abstract"] = True
        if designations and concept is not None and concept.designations:
            item["designation"] = [_designation_json(d) for d in concept.designations]
        if definition and concept is not None and concept.definition:
            item.setdefault("extension", []).append(
                {
                    "url": "http://hl7.org/fhir/StructureDefinition/valueset-concept-definition",
                    "valueString": concept.definition,
                }
            )
        return item

    @staticmethod
    def _display(
        concept: Concept | None, cs: CodeSystemIndex | None, lang: str | None, override: str | None
    ) -> str | None:
        if concept is None:
            return override
        in_language = concept.display_for(lang) if lang else None
        if in_language and not (cs is not None and _same_language(lang or "", cs.language)):
            return in_language
        return override or concept.display

    # -- lookup / subsumes ---------------------------------------------------------------

    def lookup(
        self,
        system: str,
        code: str,
        version: str | None = None,
        *,
        display_language: str | None = None,
        tenant: str | None = None,
    ) -> LookupResult:
        entry, cs = self.codesystem(system, version, tenant=tenant)
        concept = cs.get(code)
        if concept is None:
            raise FhirError(
                404, "not-found", f"Code {code!r} is not in code system {entry.canonical}"
            )
        props: list[tuple[str, str, Any]] = []
        for pcode, kind, value in concept.properties:
            if pcode in ("parent", "child"):
                continue
            props.append((pcode, kind, value))
        props.extend(("parent", "Code", p) for p in concept.parents)
        props.extend(("child", "Code", c) for c in concept.children)
        props.append(("inactive", "Boolean", concept.inactive))
        designations = [_designation_json(d) for d in concept.designations]
        display = self._display(concept, cs, display_language, None)
        return LookupResult(
            system=entry.url,
            name=entry.name or entry.title or entry.url,
            version=entry.version,
            code=concept.code,
            display=display,
            definition=concept.definition,
            designations=designations,
            properties=props,
            abstract=concept.abstract,
            inactive=concept.inactive,
        )

    def subsumes(
        self,
        system: str,
        code_a: str,
        code_b: str,
        version: str | None = None,
        *,
        tenant: str | None = None,
    ) -> str:
        _entry, cs = self.codesystem(system, version, tenant=tenant)
        return cs.subsumes(code_a, code_b)

    # -- validation ----------------------------------------------------------------------

    def validate_code(
        self,
        system: str | None,
        code: str,
        display: str | None = None,
        version: str | None = None,
        *,
        value_set: str | None = None,
        value_set_version: str | None = None,
        valueset_resource: dict[str, Any] | None = None,
        tenant: str | None = None,
    ) -> ValidationResult:
        """Is `code` valid in `system` (and, when given, a member of `value_set`)?"""
        state = self.state(tenant)
        view = state.view
        assert view is not None
        if value_set is None and valueset_resource is None:
            return self._validate_in_system(view, system, code, display, version)
        if valueset_resource is not None:
            resource, entry = valueset_resource, None
        else:
            assert value_set is not None
            try:
                resource, entry = self.valueset_resource(view, value_set, value_set_version)
            except FhirError as exc:
                return ValidationResult(
                    False,
                    exc.issues[0].diagnostics,
                    unknown=True,
                    system=system,
                    code=code,
                    issues=list(exc.issues),
                )
        label = resource.get("url") or "the value set"
        if system is None:  # a bare `code`: a member in any of the value set's systems
            pairs = [
                (candidate, self._member(state, resource, entry, candidate, code, version, ()))
                for candidate in self._systems_of(view, resource)
            ]
            hit = next((p for p in pairs if p[1].found), None) or next(
                (p for p in pairs if p[1].unknown), None
            )
            if hit is not None:
                system, member = hit
            elif pairs:
                member = _Member(False)
            else:
                member = _Member(False, unknown=True, message=f"{label} names no code system")
        else:
            system = self.canonical_system(view, system)
            member = self._member(state, resource, entry, system, code, version, ())
        if member.unknown:
            return ValidationResult(False, member.message, system=system, code=code, unknown=True)
        if not member.found:
            ref = f"{system}#{code}" if system else repr(code)
            return ValidationResult(
                False,
                f"Code {ref} is not in value set {label}"
                + (f" ({member.message})" if member.message else ""),
                system=system,
                code=code,
            )
        result = ValidationResult(
            True,
            None,
            display=member.display,
            system=system,
            code=member.code or code,
            version=member.version,
        )
        if display and not _display_ok(display, member):
            result.warn(
                "invalid",
                f"Display {display!r} does not match the display of {system}#{code}: "
                f"expected {member.display!r}",
                "display",
            )
        if member.inactive:
            result.warn("business-rule", f"Code {system}#{code} is inactive")
        return result

    def _validate_in_system(
        self, view: View, system: str | None, code: str, display: str | None, version: str | None
    ) -> ValidationResult:
        if not system:
            return ValidationResult(False, "A code system is needed to validate a code", code=code)
        system = self.canonical_system(view, system)
        entry = self.codesystem_entry(view, system, version)
        if entry is None:
            err = self._unknown_system(view, system, version)
            return ValidationResult(
                False,
                err.issues[0].diagnostics,
                system=system,
                code=code,
                unknown=True,
                issues=list(err.issues),
            )
        cs = self.cs_index(view, entry)
        concept = cs.get(code)
        if concept is None:
            if cs.content in ("fragment", "example"):
                return ValidationResult(
                    False,
                    f"Code {code!r} is not in the {cs.content} of code system {entry.canonical}",
                    system=system,
                    code=code,
                    unknown=True,
                )
            return ValidationResult(
                False,
                f"Code {code!r} is not in code system {entry.canonical}",
                system=system,
                code=code,
                version=entry.version,
            )
        result = ValidationResult(
            True,
            None,
            display=concept.display,
            system=entry.url,
            code=concept.code,
            version=entry.version,
        )
        if display and not _display_ok(display, _Member(True, concept=concept)):
            result.warn(
                "invalid",
                f"Display {display!r} does not match the display of {system}#{code}: "
                f"expected {concept.display!r}",
                "display",
            )
        if concept.inactive:
            result.warn("business-rule", f"Code {system}#{code} is inactive")
        return result

    def validate_coding(
        self,
        coding: dict[str, Any],
        *,
        value_set: str | None = None,
        valueset_resource: dict[str, Any] | None = None,
        tenant: str | None = None,
    ) -> ValidationResult:
        code = coding.get("code")
        if not isinstance(code, str):
            return ValidationResult(False, "The coding has no code")
        return self.validate_code(
            coding.get("system"),
            code,
            coding.get("display"),
            coding.get("version"),
            value_set=value_set,
            valueset_resource=valueset_resource,
            tenant=tenant,
        )

    def validate_codeable_concept(
        self,
        concept: dict[str, Any],
        *,
        value_set: str | None = None,
        valueset_resource: dict[str, Any] | None = None,
        tenant: str | None = None,
    ) -> ValidationResult:
        """Valid when one of the codings is; otherwise the reasons of each."""
        codings = [c for c in concept.get("coding") or [] if isinstance(c, dict)]
        if not codings:
            return ValidationResult(False, "The CodeableConcept has no coding")
        failures: list[ValidationResult] = []
        for coding in codings:
            res = self.validate_coding(
                coding, value_set=value_set, valueset_resource=valueset_resource, tenant=tenant
            )
            if res.result:
                return res
            failures.append(res)
        return ValidationResult(
            False,
            "; ".join(f.message or "invalid" for f in failures),
            unknown=all(f.unknown for f in failures),
        )

    def _systems_of(self, view: View, resource: dict[str, Any], depth: int = 0) -> list[str]:
        """The code systems a value set draws from, nested value sets included."""
        compose = resource.get("compose")
        out: dict[str, None] = {}
        if not isinstance(compose, dict):
            for item in (resource.get("expansion") or {}).get("contains") or []:
                if item.get("system"):
                    out[item["system"]] = None
            return list(out)
        for inc in compose.get("include") or []:
            if inc.get("system"):
                url = split_canonical(inc["system"])[0]
                out[self.canonical_system(view, url)] = None
            elif depth < 8:
                for canonical in inc.get("valueSet") or []:
                    try:
                        nested, _entry = self.valueset_resource(view, canonical)
                    except FhirError:
                        continue
                    out.update(dict.fromkeys(self._systems_of(view, nested, depth + 1)))
        return list(out)

    def _member(
        self,
        state: TenantState,
        resource: dict[str, Any],
        entry: Entry | None,
        system: str,
        code: str,
        version: str | None,
        stack: tuple[str, ...],
    ) -> _Member:
        """Membership by evaluating each include for this one code (no full expansion)."""
        view = state.view
        assert view is not None
        label = resource.get("url") or "(value set)"
        if label in stack or len(stack) > 16:
            return _Member(False, unknown=True, message=f"value set {label} nests itself")
        compose = resource.get("compose")
        if not isinstance(compose, dict):
            codes = self.codeset(state, resource, entry, ExpandOptions())
            part = codes.contains(system, code)
            if part is None:
                return _Member(False)
            concept = part.concept(code)
            return _Member(True, concept=concept, code=code, override=part.codes.get(code))
        found: _Member | None = None
        unknown: _Member | None = None
        for inc in compose.get("include") or []:
            m = self._clause_member(state, inc, system, code, version, (*stack, label))
            if m.found:
                found = m
                break
            if m.unknown:
                unknown = m
        if found is None:
            return unknown or _Member(False)
        for exc in compose.get("exclude") or []:
            m = self._clause_member(state, exc, system, code, version, (*stack, label))
            if m.found:
                return _Member(False, message="excluded")
        if compose.get("inactive") is False and found.inactive:
            return _Member(False, message="inactive codes are excluded")
        return found

    def _clause_member(
        self,
        state: TenantState,
        inc: dict[str, Any],
        system: str,
        code: str,
        version: str | None,
        stack: tuple[str, ...],
    ) -> _Member:
        view = state.view
        assert view is not None
        result: _Member | None = None
        if inc.get("system"):
            inc_url, inc_version = split_canonical(inc["system"])  # HL7 v2 tables: url|version
            inc_system = self.canonical_system(view, inc_url)
            if inc_system != system:
                return _Member(False)
            inc_version = inc.get("version") or inc_version or version
            cs_entry = self.codesystem_entry(view, inc_system, inc_version)
            cs = self.cs_index(view, cs_entry) if cs_entry is not None else None
            concept = cs.get(code) if cs is not None else None
            listed = inc.get("concept") or []
            if listed:
                canonical = concept.code if concept is not None else code
                hit = next((c for c in listed if c.get("code") in (code, canonical)), None)
                if hit is None:
                    return _Member(False)
                result = _Member(
                    True,
                    concept=concept,
                    code=canonical,
                    override=hit.get("display"),
                    version=cs_entry.version if cs_entry else None,
                )
                if cs is not None and inc.get("filter"):
                    for f in inc["filter"]:
                        if canonical not in cs.cached_filter(
                            f.get("property"), f.get("op"), f.get("value")
                        ):
                            return _Member(False)
            elif cs is None:
                return _Member(False, unknown=True, message=f"code system {system} is not known")
            else:
                if concept is None:
                    return _Member(False, message=f"code {code!r} is not in {system}")
                for f in inc.get("filter") or []:
                    if concept.code not in cs.cached_filter(
                        f.get("property"), f.get("op"), f.get("value")
                    ):
                        return _Member(False)
                assert cs_entry is not None
                result = _Member(True, concept=concept, code=concept.code, version=cs_entry.version)
        for canonical in inc.get("valueSet") or []:
            try:
                nested, nested_entry = self.valueset_resource(view, canonical)
            except FhirError as exc:
                return _Member(False, unknown=True, message=exc.issues[0].diagnostics)
            m = self._member(state, nested, nested_entry, system, code, version, stack)
            if not m.found:
                return m
            result = result or m
        return result or _Member(False)

    # -- translation ---------------------------------------------------------------------

    def translate(
        self,
        code: str,
        system: str | None = None,
        *,
        url: str | None = None,
        version: str | None = None,
        conceptmap: dict[str, Any] | None = None,
        source: str | None = None,
        target: str | None = None,
        target_system: str | None = None,
        reverse: bool = False,
        tenant: str | None = None,
    ) -> TranslationResult:
        view = self.view(tenant)
        if system:
            system = self.canonical_system(view, system)
        maps: list[ConceptMapIndex] = []
        if conceptmap is not None:
            maps.append(ConceptMapIndex(conceptmap))
        elif url:
            entry = view.resolve("ConceptMap", url, version)
            if entry is None:
                raise FhirError(404, "not-found", f"Concept map {url} is not known to this server")
            maps.append(entry.index(ConceptMapIndex))
        else:
            for entry in view.all("ConceptMap"):
                cm = entry.index(ConceptMapIndex)
                src_vs, tgt_vs = (
                    (cm.target_vs, cm.source_vs) if reverse else (cm.source_vs, cm.target_vs)
                )
                if source and src_vs != source:
                    continue
                if target and tgt_vs != target:
                    continue
                systems = cm.target_systems if reverse else cm.source_systems
                if system and system not in systems and not (source or target):
                    continue
                maps.append(cm)
            if not maps and not (system or source or target):
                raise FhirError(400, "invalid", "$translate needs a url, a source or a system")
        matches: list[Match] = []
        for cm in maps:
            matches.extend(cm.translate(system, code, target_system, reverse))
        ok = any(m.equivalence not in NOT_A_MATCH for m in matches)
        message = (
            None
            if ok
            else (
                f"No mapping found for {system + '#' if system else ''}{code}"
                if not matches
                else "Only unmatched or disjoint mappings were found"
            )
        )
        return TranslationResult(ok, message, matches)

    # -- listing -------------------------------------------------------------------------

    def entries(self, kind: str, *, tenant: str | None = None) -> list[Entry]:
        return self.view(tenant).all(kind)


@dataclass(slots=True)
class _Member:
    found: bool
    concept: Concept | None = None
    code: str | None = None
    override: str | None = None
    version: str | None = None
    unknown: bool = False
    message: str | None = None

    @property
    def display(self) -> str | None:
        return self.override or (self.concept.display if self.concept else None)

    @property
    def inactive(self) -> bool:
        return bool(self.concept and self.concept.inactive)


def _display_ok(display: str, member: _Member) -> bool:
    candidates: list[str] = []
    if member.override:
        candidates.append(member.override)
    if member.concept is not None:
        candidates.extend(t for t in (member.concept.display,) if t)
        candidates.extend(d.value for d in member.concept.designations)
    if not candidates:
        return True  # nothing to compare with
    wanted = " ".join(display.split()).casefold()
    return any(" ".join(c.split()).casefold() == wanted for c in candidates)


def _designation_json(d: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if d.language:
        out["language"] = d.language
    if d.use:
        out["use"] = d.use
    out["value"] = d.value
    return out
