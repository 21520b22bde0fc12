"""The validation service: structural + profile validation + service rules, with a policy.

One `ValidationService` per engine (or per `socle validate` run). It is cheap to create:
the packages and the R4 core definitions are loaded the first time a profile is needed,
so writes of resources that declare no profile never pay for them.

`register(engine)` wires it into the engine (called from `FhirEngine.__init__`):

* `engine.validation` is the service;
* its write validator joins `engine.write_validators` (errors -> 422);
* the packages' SearchParameters are added to `engine.registry`;
* `$validate` is registered (see `socle.fhir.operations.validate`).
"""

from __future__ import annotations

import logging
import threading
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
        self._lock = threading.Lock()
        self._profiles: tuple[tuple[int, ...], dict[str, list[str]]] = ((), {})

    # -- lazily built parts ----------------------------------------------------------------

    @property
    def store(self) -> PackageStore:
        return PackageStore(self.data_dir)

    @property
    def context(self) -> ConformanceContext:
        if self._context is None:
            with self._lock:
                if self._context is None:
                    self._context = ConformanceContext.from_store(self.store)
                    for warning in self._context.resolution.warnings:
                        log.debug("packages: %s", warning)
        return self._context

    @property
    def validator(self) -> ProfileValidator:
        if self._validator is None:
            context = self.context
            with self._lock:
                if self._validator is None:
                    options = ValidatorOptions(
                        unknown_extension=self.policy.unknown_extension,
                        unknown_profile=self.policy.unknown_profile,
                        best_practice=self.policy.best_practice,
                    )
                    validator = ProfileValidator(context, self._terminology, self.model, options)
                    for url, name, rule in self._rules:
                        validator.add_rule(url, name, rule)
                    self._validator = validator
        return self._validator

    def set_terminology(self, terminology: Terminology) -> None:
        """Check bindings through a terminology server (the SMT plugs in here)."""
        with self._lock:
            self._terminology = terminology
            self._validator = None

    def reload(self) -> None:
        """Forget loaded definitions (after `socle packages install/remove`)."""
        with self._lock:
            self._context = None
            self._validator = None

    # -- extension points ------------------------------------------------------------------

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

    def supported_profiles(self) -> tuple[tuple[int, ...], dict[str, list[str]]]:
        """(key, resource type -> profile URLs) for the CapabilityStatement.

        The profiles are the StructureDefinitions with derivation=constraint and
        kind=resource of the active packages. They are read from the archives (cached per
        process) on each call, not from the conformance context, so that the list follows
        `socle packages install/remove` without a restart; `key` changes with them."""
        try:
            packages = self.store.packages()
        except Exception:  # noqa: BLE001 - a broken archive must not break /metadata
            log.exception("cannot read the FHIR packages; supportedProfile left as it was")
            return self._profiles
        key = tuple(id(p) for p in packages)
        cached = self._profiles
        if cached[0] == key:
            return cached
        by_type: dict[str, set[str]] = {}
        for package in packages:
            for item in package.conformance_resources():
                meta = item.meta
                if (
                    item.resource_type == "StructureDefinition"
                    and item.url
                    and meta.get("derivation") == "constraint"
                    and meta.get("kind") == "resource"
                    and isinstance(meta.get("type"), str)
                ):
                    by_type.setdefault(meta["type"], set()).add(item.url)
        result = (key, {t: sorted(urls) for t, urls in sorted(by_type.items())})
        self._profiles = result
        return result


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
