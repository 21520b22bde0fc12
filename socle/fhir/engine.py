"""The FHIR engine: one object tying storage, indexing, search, validation and operations.

Services (INS, Annuaire, DMP…) receive the engine at start-up through `Plugin.register`
and add profiles, search parameters, `$operations`, routes and write hooks to it. They
never reach into the kernel's modules.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Protocol

from socle.config import Settings
from socle.fhir.context import RequestContext
from socle.fhir.crud import Crud
from socle.fhir.definitions.model import FhirModel, get_model
from socle.fhir.errors import FhirError, Issue
from socle.fhir.guard import Guard, OpenGuard
from socle.fhir.indexing.extract import IndexExtractor
from socle.fhir.indexing.registry import SearchParamRegistry, default_registry
from socle.fhir.operations.registry import OperationRegistry
from socle.fhir.search import SearchEngine, SearchLimits
from socle.fhir.storage.store import ResourceStore, new_store
from socle.fhir.validation.structural import StructuralValidator

log = logging.getLogger("socle.engine")

# (StoreSession, ctx, resource, created): runs in the writer's transaction, before the write
WriteHook = Callable[[Any, RequestContext, dict[str, Any], bool], None]
AfterWriteHook = Callable[[Any, RequestContext, Any], None]  # (StoreSession, ctx, Result)
DeleteHook = Callable[[RequestContext, str, str], None]
OutputHook = Callable[[RequestContext, dict[str, Any]], dict[str, Any]]
# (ctx, a past version, the current content or None when deleted) -> what may be shown
PastOutputHook = Callable[[RequestContext, dict[str, Any], dict[str, Any] | None], dict[str, Any]]
Validator = Callable[[dict[str, Any]], list[Issue]]


_NESTING = frozenset({"Bundle", "Parameters"})  # types whose content holds whole resources


@dataclass
class Hooks:
    """Callbacks that services attach to writes (they may raise FhirError to refuse one)."""

    write: list[WriteHook] = field(default_factory=list)
    after_write: list[AfterWriteHook] = field(default_factory=list)
    delete: list[DeleteHook] = field(default_factory=list)
    # Output hooks reshape what leaves the server (e.g. the INS outgoing-identifier rule),
    # keyed by resource type so that other types are served as stored, unparsed.
    output: dict[str, list[OutputHook]] = field(default_factory=dict)
    # Past-version hooks run first on a version that is no longer the current one (vread,
    # history), given the current content: what a past version may show can depend on
    # what holds now (the INS of an identity that is no longer qualified).
    past_output: dict[str, list[PastOutputHook]] = field(default_factory=dict)
    # Types whose write hooks read the version being replaced (`session.read`): the write
    # reads it first, once, and also rewrites only the index rows that change.
    reads_replaced: set[str] = field(default_factory=set)

    def before_write(
        self, session: Any, ctx: RequestContext, resource: dict[str, Any], created: bool
    ) -> None:
        """Before a version is written, in its transaction: a hook may read through the
        session (e.g. the version being replaced) or raise FhirError to refuse it."""
        for hook in self.write:
            hook(session, ctx, resource, created)

    def written(self, session: Any, ctx: RequestContext, result: Any) -> None:
        """After a version is written, inside the same transaction (e.g. a Provenance)."""
        for hook in self.after_write:
            hook(session, ctx, result)

    def add_output(self, res_type: str, hook: OutputHook) -> None:
        self.output.setdefault(res_type, []).append(hook)

    def add_past_output(self, res_type: str, hook: PastOutputHook) -> None:
        self.past_output.setdefault(res_type, []).append(hook)

    def past(
        self, ctx: RequestContext, resource: dict[str, Any], current: dict[str, Any] | None
    ) -> dict[str, Any]:
        """A past version as the past-version hooks let it be shown (before `present`)."""
        for hook in self.past_output.get(resource.get("resourceType", ""), ()):
            resource = hook(ctx, resource, current)
        return resource

    def reshapes(self, res_type: str, content: bytes | dict[str, Any] | None = None) -> bool:
        """Whether a resource must go through `present`: its type has output hooks, or its
        `content` (stored JSON, or parsed) nests a resource of such a type (contained, a
        Bundle's entry, a Parameters' part), which the hooks must reach too."""
        if res_type in self.output:
            return True
        if not self.output or content is None:
            return False
        if isinstance(content, dict):
            return bool(content.get("contained")) or res_type in _NESTING
        # stored content is compact JSON (orjson): a nested resource names its type so
        return any(b'"resourceType":"%s"' % t.encode() in content for t in self.output)

    def present(self, ctx: RequestContext, resource: dict[str, Any]) -> dict[str, Any]:
        """The resource as this request may see it once every output hook has run, on it
        and on the resources nested in it."""
        for hook in self.output.get(resource.get("resourceType", ""), ()):
            resource = hook(ctx, resource)
        return self._nested(ctx, resource) if self.output else resource

    def _nested(self, ctx: RequestContext, resource: dict[str, Any]) -> dict[str, Any]:
        """`present` applied to contained resources, Bundle entries and Parameters parts
        (a copy where one changed; the stored resource is never modified)."""
        out = resource
        contained = resource.get("contained")
        if isinstance(contained, list):
            shown = [self._shown(ctx, r) for r in contained]
            if any(a is not b for a, b in zip(shown, contained, strict=True)):
                out = {**out, "contained": shown}
        for key, holder in (("entry", "resource"), ("parameter", "resource"), ("part", "resource")):
            items = resource.get(key)
            if not isinstance(items, list):
                continue
            shown = [self._item(ctx, item, holder) for item in items]
            if any(a is not b for a, b in zip(shown, items, strict=True)):
                out = {**out, key: shown}
        return out

    def _shown(self, ctx: RequestContext, value: Any) -> Any:
        return self.present(ctx, value) if isinstance(value, dict) else value

    def _item(self, ctx: RequestContext, item: Any, holder: str) -> Any:
        if not isinstance(item, dict):
            return item
        out = item
        if isinstance(item.get(holder), dict):
            shown = self.present(ctx, item[holder])
            if shown is not item[holder]:
                out = {**out, holder: shown}
        if isinstance(item.get("part"), list):
            parts = self._nested(ctx, {"part": item["part"]})["part"]
            if parts is not item["part"]:
                out = {**out, "part": parts}
        return out

    def before_delete(self, ctx: RequestContext, res_type: str, res_id: str) -> None:
        for hook in self.delete:
            hook(ctx, res_type, res_id)


class Plugin(Protocol):
    """A service package: registers its operations, routes, hooks and validators."""

    name: str

    def register(self, engine: FhirEngine) -> None: ...


class FhirEngine:
    """Process-wide FHIR engine; thread-safe, shared by all requests of a worker."""

    def __init__(self, settings: Settings, store: ResourceStore | None = None) -> None:
        self.settings = settings
        self.store = store or new_store(settings.effective_database_url)
        self.model: FhirModel = get_model()
        self.registry: SearchParamRegistry = default_registry().copy()
        base = settings.base_url
        self.extractor = IndexExtractor(self.registry, base_url=base)
        limits = SearchLimits(default_count=settings.default_count, max_count=settings.max_count)
        self.search = SearchEngine(self.registry, limits=limits, base_url=base)
        self.structural = StructuralValidator(self.model)
        # Profile validation (a later issue) appends here; its errors refuse a write with 422.
        self.write_validators: list[Validator] = []
        self.operations = OperationRegistry()
        self.routes: list[Any] = []  # extra Starlette routes added by services
        # Services add to /metadata (security, SMART...): fn(statement, base_url) mutates it.
        self.capability_contributors: list[Any] = []
        # `socle demo`: after the demo Bundles are loaded, each service may add its own demo
        # data: fn(engine, tenant, bundles, seed) -> a line for the user (or None).
        self.demo_loaders: list[Any] = []
        self.hooks = Hooks()
        # Every access decision goes through the guard; socle.security installs the real one.
        self.guard: Guard = OpenGuard()
        self.plugins: list[str] = []
        self.crud = Crud(self)
        # Conformance: packages, profile validation on write, $validate (validation/service.py)
        from socle.fhir.validation.service import ValidationService, register

        self.validation: ValidationService = register(self)

    def require_type(self, res_type: str) -> None:
        """404 for a resource type the server does not know."""
        if not self.model.is_resource_type(res_type):
            raise FhirError(404, "not-supported", f"Unknown resource type {res_type!r}")

    def validate_for_write(self, resource: dict[str, Any]) -> list[Issue]:
        """Structural errors -> 400; errors from added validators (profiles) -> 422.

        Returns the warnings, which the REST layer may show with Prefer: OperationOutcome.
        """
        issues = self.structural.validate(resource)
        if any(i.severity in ("error", "fatal") for i in issues):
            raise FhirError(400, "invalid", "Invalid resource", issues=_errors_first(issues))
        warnings = list(issues)
        for validator in self.write_validators:
            found = validator(resource)
            if any(i.severity in ("error", "fatal") for i in found):
                raise FhirError(422, "processing", "Resource refused", issues=_errors_first(found))
            warnings.extend(found)
        return warnings

    def load_plugins(self, names: list[str] | None = None) -> None:
        """Register the services installed as `socle.plugins` entry points."""
        for ep in entry_points(group="socle.plugins"):
            if names is not None and ep.name not in names:
                continue
            plugin = ep.load()
            plugin.register(self)
            self.plugins.append(ep.name)
            log.info("plugin registered", extra={"plugin": ep.name})

    def close(self) -> None:
        self.store.dispose()


def _errors_first(issues: list[Issue]) -> list[Issue]:
    order = {"fatal": 0, "error": 1, "warning": 2, "information": 3}
    return sorted(issues, key=lambda i: order.get(i.severity, 4))
