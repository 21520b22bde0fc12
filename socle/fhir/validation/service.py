"""The validation service: structural + profile validation + service rules, with a policy.

One `ValidationService` per engine (or per `socle validate` run). It is cheap to create:
the packages and the R4 core definitions are loaded the first time a profile is needed,
so writes of resources that declare no profile never pay for them. They are read again
when `socle packages install/remove` changes the installed archives (noticed with one
`stat()` per use), and the profiles `/metadata` advertises are those of the same context.

`register(engine)` wires it into the engine (called from `FhirEngine.__init__`):

* `engine.validation` is the service;
* its write validator joins `engine.write_validators` (errors -> 422);
* the packages' SearchParameters are added to `engine.registry`;
* `$validate` is registered (see `socle.fhir.operations.validate`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from socle.fhir.definitions.model import FhirModel, get_model
from socle.fhir.errors import Issue
from socle.fhir.packages.context import ConformanceContext
from socle.fhir.packages.store import PackageStore
from socle.fhir.validation.policy import ValidationPolicy
from socle.fhir.validation.profile import ProfileValidator, Rule, ValidatorOptions
from socle.fhir.validation.structural import StructuralValidator
from socle.fhir.validation.terminology import Terminology

if TYPE_CHECKING:
    from socle.fhir.engine import FhirEngine

log = logging.getLogger(__name__)

_ORDER = {"fatal": 0, "error": 1, "warning": 2, "information": 3}
_SETTLE_NS = 100_000_000  # file times are coarser than this
_RACY = -1


def has_errors(issues: Iterable[Issue]) -> bool:
    return any(i.severity in ("error", "fatal") for i in issues)


class ValidationService:
    """Validates resources for writes, `$validate` and the command line (thread-safe)."""

    def __init__(
        self,
        *,
        data_dir: Path | None = None,
        context: ConformanceContext | None = None,
        policy: ValidationPolicy | None = None,
        model: FhirModel | None = None,
        structural: StructuralValidator | None = None,
        terminology: Terminology | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.policy = policy or ValidationPolicy()
        self.model = model or get_model()
        self.structural = structural or StructuralValidator(self.model)
        self._context = context
        self._terminology = terminology
        self._validator: ProfileValidator | None = None
        self._rules: list[tuple[str, str, Rule]] = []
        self._definitions: list[dict[str, Any]] = []  # a service's own, in every context
        self._lock = threading.Lock()
        # a context given by the caller is theirs; one built here follows the archives
        self._follows_store = context is None
        self._installed_dir = PackageStore(data_dir).installed_dir
        self._stamp: int | None = None  # the installed archives when the context was read
        self._generation = 0  # bumped each time a context is put in place
        self._profiles: tuple[int, dict[str, list[str]]] | None = None

    # -- lazily built parts ----------------------------------------------------------------

    @property
    def store(self) -> PackageStore:
        return PackageStore(self.data_dir)

    @property
    def context(self) -> ConformanceContext:
        self._follow_packages()
        return self._loaded_context()

    def _loaded_context(self) -> ConformanceContext:
        """The context in place, read on first use (without looking at the packages)."""
        context = self._context
        if context is None:
            with self._lock:
                context = self._context
                if context is None:
                    stamp = self._settled(self._installed_stamp())  # before reading
                    context = self._read_context()
                    self._install_context(context, stamp)
        return context

    @property
    def validator(self) -> ProfileValidator:
        self._follow_packages()  # once per use: `_loaded_context` does not look again
        validator = self._validator
        if validator is None:
            context = self._loaded_context()
            with self._lock:
                validator = self._validator
                if validator is None:
                    options = ValidatorOptions(
                        unknown_extension=self.policy.unknown_extension,
                        unknown_profile=self.policy.unknown_profile,
                        best_practice=self.policy.best_practice,
                    )
                    validator = ProfileValidator(context, self._terminology, self.model, options)
                    for url, name, rule in self._rules:
                        validator.add_rule(url, name, rule)
                    if self._context is context:  # not replaced meanwhile
                        self._validator = validator
        return validator

    def set_terminology(self, terminology: Terminology) -> None:
        """Check bindings through a terminology server (the SMT plugs in here)."""
        with self._lock:
            self._terminology = terminology
            self._validator = None

    def reload(self) -> None:
        """Forget loaded definitions (they are read again when next needed)."""
        with self._lock:
            self._context = None
            self._validator = None
            self._profiles = None

    # -- following `socle packages install/remove` --------------------------------------------

    def _installed_stamp(self) -> int | None:
        """The modification time of the installed-packages directory: `socle packages
        install/remove` (of this process or another) add, replace or delete archives in it,
        which changes it. One `stat()`; the vendored archives never change at run time."""
        folder = self._installed_dir
        if folder is None:
            return None
        try:
            return folder.stat().st_mtime_ns
        except OSError:
            return None

    @staticmethod
    def _settled(stamp: int | None) -> int | None:
        """The stamp to remember for a read that starts now: `_RACY` when the directory
        changed so recently that another change within the same clock tick would keep its
        time (file times are coarse), so that the next use reads the packages once more."""
        if stamp is not None and abs(time.time_ns() - stamp) < _SETTLE_NS:
            return _RACY
        return stamp

    def _read_context(self) -> ConformanceContext:
        context = ConformanceContext.from_store(self.store)
        for warning in context.resolution.warnings:
            log.debug("packages: %s", warning)
        return context

    def _install_context(self, context: ConformanceContext, stamp: int | None) -> None:
        """Put a context in place (lock held): validator and profiles follow it."""
        for definition in self._definitions:
            context.add(definition)
        self._context = context
        self._validator = None
        self._profiles = None
        self._stamp = stamp
        self._generation += 1

    def _current(self) -> tuple[ConformanceContext, int]:
        """The context in use and its generation, consistently."""
        while True:
            context = self.context
            with self._lock:
                if self._context is context:
                    return context, self._generation

    def _follow_packages(self) -> None:
        """Read the packages again when the installed archives changed since the context was
        read, so that validation and `supportedProfile` use the same definitions. An archive
        that cannot be read keeps the loaded definitions in use (until the next change)."""
        if not self._follows_store or self._context is None:
            return
        stamp = self._installed_stamp()
        if stamp == self._stamp:
            return
        recorded = self._settled(stamp)  # read before the packages: a later change reloads
        generation = self._generation
        with self._lock:
            if self._generation != generation or self._context is None:
                return  # read meanwhile by another thread
            try:
                context = self._read_context()
            except Exception:  # noqa: BLE001 - a broken archive must not break validation
                log.exception("the FHIR packages changed but cannot be read; keeping the old ones")
                self._stamp = recorded  # not again before the next change
                return
            self._install_context(context, recorded)

    # -- extension points ------------------------------------------------------------------

    def add_definitions(self, definitions: list[dict[str, Any]]) -> None:
        """Conformance resources of a service's own (its extensions, code systems), known
        to every context this service reads, also after the packages change."""
        with self._lock:
            self._definitions.extend(definitions)
            if self._context is not None:
                for definition in definitions:
                    self._context.add(definition)
                self._validator = None

    def add_rule(self, profile_url: str, name: str, rule: Rule) -> None:
        """Check `rule` whenever a resource is validated against `profile_url` or a profile
        derived from it (see `ProfileValidator.add_rule`)."""
        with self._lock:
            self._rules.append((profile_url, name, rule))
            if self._validator is not None:
                self._validator.add_rule(profile_url, name, rule)

    # -- validation ------------------------------------------------------------------------

    def validate(
        self,
        resource: Any,
        profiles: Iterable[str] = (),
        *,
        base: bool = True,
    ) -> list[Issue]:
        """Everything known about `resource`: structural issues, then (when structurally
        sound) its declared profiles, the explicit `profiles`, or the base definition of
        its type when no profile applies. For `$validate` and `socle validate`."""
        issues = self.structural.validate(resource)
        if has_errors(issues):
            return _sorted(issues)
        try:
            issues.extend(self.validator.validate(resource, list(profiles), base=base))
        except Exception:  # noqa: BLE001 - report, never crash the caller
            log.exception("profile validation failed")
            issues.append(_crashed("error"))
        return _sorted(_dedupe(issues))

    def validate_for_write(self, resource: dict[str, Any]) -> list[Issue]:
        """The engine's write validator (structural already done by the kernel).

        Per the policy: nothing unless the resource declares a profile in `meta.profile`
        or its type has required profiles; then those profiles (and the profiles declared
        by resources inside it), with the service rules."""
        if type(resource) is not dict:
            return []
        rt = resource.get("resourceType")
        if not isinstance(rt, str) or self.policy.mode_for(rt) != "full":
            return []
        required = [p for p in self.policy.required.get(rt, ()) if self.policy.profile_enabled(p)]
        meta = resource.get("meta")
        if not required and not (type(meta) is dict and meta.get("profile")):
            return []
        try:
            return self.validator.validate(
                resource, required, declared=True, accept=self.policy.profile_enabled
            )
        except Exception:  # noqa: BLE001 - a validator bug must not turn writes into 500s
            log.exception("profile validation failed on write")
            return [_crashed("warning")]

    def search_parameters(self) -> list[dict[str, Any]]:
        return self.context.search_parameters()

    def supported_profiles(self) -> tuple[int, dict[str, list[str]]]:
        """(key, resource type -> profile URLs) for the CapabilityStatement.

        The profiles are those the validator uses: the StructureDefinitions with
        derivation=constraint and kind=resource of the loaded conformance context (the R4
        core's own profiles excluded), each URL once, as its bare canonical, with the type
        of the version a reference to it resolves to (the highest loaded). Computed once
        per context; `key` changes when the context does (after `socle packages
        install/remove`, see `_follow_packages`)."""
        try:
            context, generation = self._current()
        except Exception:  # noqa: BLE001 - a broken archive must not break /metadata
            log.exception("cannot read the FHIR packages; no supportedProfile")
            return 0, {}
        cached = self._profiles
        if cached is not None and cached[0] == generation:
            return cached
        result = (generation, _resource_profiles(context))
        with self._lock:
            if self._generation == generation:
                self._profiles = result
        return result


def _resource_profiles(context: ConformanceContext) -> dict[str, list[str]]:
    """Resource type -> sorted profile URLs of the context's packages (one entry per URL)."""
    by_type: dict[str, set[str]] = {}
    seen: set[str] = set()
    for _, item in context.conformance_resources():
        url = item.url
        if item.resource_type != "StructureDefinition" or not url or url in seen:
            continue
        seen.add(url)
        used = context.index.resolve(url, "StructureDefinition")
        meta = used.meta if used is not None else {}
        if (
            meta.get("derivation") == "constraint"
            and meta.get("kind") == "resource"
            and isinstance(meta.get("type"), str)
        ):
            by_type.setdefault(meta["type"], set()).add(url)
    return {t: sorted(urls) for t, urls in sorted(by_type.items())}


def _crashed(severity: str) -> Issue:
    return Issue(
        severity,
        "exception",
        "Profile validation could not complete (internal error, see the server log)",
        [],
    )


def _dedupe(issues: list[Issue]) -> list[Issue]:
    seen: set[tuple] = set()
    out = []
    for i in issues:
        key = (i.severity, i.code, i.diagnostics, tuple(i.expression))
        if key not in seen:
            seen.add(key)
            out.append(i)
    return out


def _sorted(issues: list[Issue]) -> list[Issue]:
    return sorted(issues, key=lambda i: _ORDER.get(i.severity, 4))


def register(engine: FhirEngine) -> ValidationService:
    """Wire conformance into an engine (see module docstring)."""
    from socle.fhir.operations.validate import register as register_validate

    policy = ValidationPolicy.from_env()
    service = ValidationService(
        data_dir=engine.settings.data_dir,
        policy=policy,
        model=engine.model,
        structural=engine.structural,
    )
    engine.validation = service
    engine.write_validators.append(service.validate_for_write)
    _add_search_parameters(engine, service)
    register_validate(engine)
    return service


def _add_search_parameters(engine: FhirEngine, service: ValidationService) -> None:
    """The packages' SearchParameters extend the registry (read from the archives only:
    the R4 core is not loaded for this)."""
    try:
        packages = service.store.packages()
    except Exception:  # noqa: BLE001 - a broken installed archive must not stop the server
        log.exception("cannot read the FHIR packages; their search parameters are not loaded")
        return
    for package in packages:
        for item in package.conformance_resources():
            if item.resource_type != "SearchParameter":
                continue
            try:
                engine.registry.add(item.parse())
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("%s: search parameter %s ignored: %s", package.key, item.url, exc)
