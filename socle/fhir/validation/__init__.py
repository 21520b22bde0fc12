"""Resource validation: a pipeline of validators, so profile checks plug in after the kernel.

The structural validator lives in `socle.fhir.validation.structural` (imported lazily by
callers: building it loads the FHIR model).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

from socle.fhir.errors import Issue


@runtime_checkable
class ResourceValidator(Protocol):
    """Anything that reports issues about a resource (parsed JSON); [] means valid."""

    def validate(self, resource: dict[str, Any]) -> list[Issue]: ...


class ValidationPipeline:
    """Runs validators in order and returns all their issues.

    With `stop_on_error`, validators after one that reported an error are skipped, so a
    later (e.g. profile) validator never sees a structurally broken resource.
    """

    def __init__(
        self, validators: Iterable[ResourceValidator] = (), *, stop_on_error: bool = False
    ) -> None:
        self.validators: list[ResourceValidator] = list(validators)
        self.stop_on_error = stop_on_error

    def append(self, validator: ResourceValidator) -> None:
        self.validators.append(validator)

    def validate(self, resource: dict[str, Any]) -> list[Issue]:
        issues: list[Issue] = []
        for validator in self.validators:
            found = validator.validate(resource)
            issues.extend(found)
            if self.stop_on_error and any(i.severity in ("error", "fatal") for i in found):
                break
        return issues
