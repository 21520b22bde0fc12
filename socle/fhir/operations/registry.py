"""The `$operation` registry: services add system, type and instance operations here.

A service declares an operation with its name, levels and resource types, and a handler
that receives an `OperationCall`. The REST layer routes `$name` requests through this
registry; the kernel never needs to change when a service adds one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from socle.fhir.errors import FhirError, bad_request

if TYPE_CHECKING:
    from socle.fhir.context import RequestContext
    from socle.fhir.engine import FhirEngine

SYSTEM, TYPE, INSTANCE = "system", "type", "instance"


@dataclass(slots=True)
class OperationCall:
    """Everything a handler needs: engine, request context, target and parameters."""

    engine: FhirEngine
    ctx: RequestContext
    name: str
    level: str
    res_type: str | None
    res_id: str | None
    method: str
    params: dict[str, list[Any]]  # from the query string and/or a Parameters body
    body: dict[str, Any] | None  # the raw body (a Parameters or a resource)

    def param(self, name: str, default: Any = None) -> Any:
        values = self.params.get(name)
        return values[0] if values else default

    def boolean(self, name: str, default: bool, location: str | None = None) -> bool:
        """A boolean parameter: valueBoolean, or the text true/false of a query string;
        `default` when absent, a 400 naming `location` (else the parameter) otherwise."""
        raw = self.param(name)
        if raw is None:
            return default
        if isinstance(raw, bool):
            return raw
        text = raw.strip().lower() if isinstance(raw, str) else None
        if text not in ("true", "false"):
            raise bad_request(
                f"'{name}' must be a boolean (true or false), not {raw!r}", location or name
            )
        return text == "true"

    def resource_param(self, name: str = "resource") -> dict[str, Any] | None:
        """The named resource parameter, or a bare resource posted as the body."""
        value = self.param(name)
        if isinstance(value, dict):
            return value
        if self.body and self.body.get("resourceType") not in (None, "Parameters"):
            return self.body
        return None


@dataclass(slots=True)
class OperationResult:
    """A handler's answer when it needs a status or headers other than 200 + JSON."""

    body: dict[str, Any] | None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[OperationCall], "dict[str, Any] | OperationResult"]


@dataclass(slots=True, frozen=True)
class Operation:
    name: str
    handler: Handler
    levels: frozenset[str]
    resource_types: frozenset[str] | None  # None: every type
    affects_state: bool = False
    definition_url: str | None = None
    documentation: str = ""

    def applies(self, level: str, res_type: str | None) -> bool:
        if level not in self.levels:
            return False
        return level == SYSTEM or self.resource_types is None or res_type in self.resource_types


class OperationRegistry:
    """Name -> operations; several handlers may share a name at different levels/types."""

    def __init__(self) -> None:
        self._ops: dict[str, list[Operation]] = {}

    def register(self, op: Operation) -> None:
        for other in self._ops.get(op.name, []):
            for level in op.levels & other.levels:
                if _overlap(op, other, level):
                    raise ValueError(f"${op.name} is already registered at {level} level")
        self._ops.setdefault(op.name, []).append(op)

    def operation(
        self,
        name: str,
        *,
        levels: tuple[str, ...] = (TYPE, INSTANCE),
        resource_types: tuple[str, ...] | None = None,
        affects_state: bool = False,
        definition_url: str | None = None,
    ) -> Callable[[Handler], Handler]:
        """Decorator form of `register`."""

        def decorate(handler: Handler) -> Handler:
            self.register(
                Operation(
                    name,
                    handler,
                    frozenset(levels),
                    frozenset(resource_types) if resource_types else None,
                    affects_state,
                    definition_url,
                    (handler.__doc__ or "").strip(),
                )
            )
            return handler

        return decorate

    def resolve(self, name: str, level: str, res_type: str | None) -> Operation:
        candidates = self._ops.get(name)
        if not candidates:
            raise FhirError(404, "not-supported", f"Operation ${name} is not supported")
        for op in candidates:
            if op.applies(level, res_type):
                return op
        where = f"{res_type} {level}" if res_type else level
        raise FhirError(404, "not-supported", f"Operation ${name} is not supported at {where}")

    def all(self) -> list[Operation]:
        return [op for ops in self._ops.values() for op in ops]


def _overlap(a: Operation, b: Operation, level: str) -> bool:
    if level == SYSTEM or a.resource_types is None or b.resource_types is None:
        return True
    return bool(a.resource_types & b.resource_types)
