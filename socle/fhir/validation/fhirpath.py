"""FHIRPath invariants (ElementDefinition.constraint) evaluated with fhirpathpy.

Expressions are parsed once and cached. fhirpathpy lacks a few functions the FHIR
specification adds to FHIRPath; they are provided here:

* `hasValue()` — a primitive with a value;
* `htmlChecks()` — narrative sanity (the structural validator already checks the xhtml);
* `conformsTo()`, `memberOf()` — answered true (profiles and bindings are checked by the
  profile validator itself, not from inside invariants);
* `resolve()` — contained resources (`#id`) and Bundle entries (by `fullUrl`);
* `trace()` — silent.

An invariant fails only when it evaluates to `false`; an empty result is treated as
satisfied, and an expression fhirpathpy cannot evaluate is reported as "not checked"
(information) rather than as a failure of the resource.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from fhirpathpy import apply_parsed_path
from fhirpathpy.engine.nodes import ResourceNode
from fhirpathpy.parser import parse

from socle.fhir.validation.fhirpath_native import Unsupported, compile_native

log = logging.getLogger(__name__)


def _model() -> dict:
    from fhirpathpy.models import models

    return models["r4"]


def _has_value(inputs: list[Any]) -> bool:
    return len(inputs) == 1 and inputs[0] is not None and not isinstance(inputs[0], dict | list)


def _true(_inputs: list[Any], *_args: Any) -> bool:
    return True


def _get_value(inputs: list[Any]) -> list[Any]:
    return [i for i in inputs if i is not None and not isinstance(i, dict | list)]


@dataclass(slots=True)
class EvalContext:
    """What `%resource`, `%rootResource` and `resolve()` refer to during one evaluation."""

    resource: dict[str, Any]
    root: dict[str, Any]
    bundle: dict[str, dict[str, Any]] | None = None  # fullUrl -> resource


_current = threading.local()
_MISSING = object()


def _resolve(inputs: list[Any]) -> list[Any]:
    ctx: EvalContext | None = getattr(_current, "ctx", None)
    out: list[Any] = []
    if ctx is None:
        return out
    for item in inputs:
        ref = item.get("reference") if isinstance(item, dict) else item
        if not isinstance(ref, str):
            continue
        target = resolve_reference(ref, ctx.resource, ctx.root, ctx.bundle)
        if target is not None:
            out.append(target)
    return out


def resolve_reference(
    ref: str,
    resource: dict[str, Any],
    root: dict[str, Any],
    bundle: dict[str, dict[str, Any]] | None,
) -> dict[str, Any] | None:
    """A reference's target when it is inside the validated content (contained, Bundle)."""
    if ref.startswith("#"):
        wanted = ref[1:]
        for holder in (resource, root):
            for c in holder.get("contained") or ():
                if isinstance(c, dict) and c.get("id") == wanted:
                    return c
        return None
    if not bundle:
        return None
    found = bundle.get(ref)
    if found is not None:
        return found
    parts = ref.split("/")
    if len(parts) >= 2:
        tail = "/".join(parts[-2:]) if "_history" not in parts else "/".join(parts[-4:-2])
        for full_url, res in bundle.items():
            if full_url.endswith("/" + tail) or full_url == tail:
                return res
    return None


_USER_FUNCTIONS = {
    "hasValue": {"fn": _has_value},
    "htmlChecks": {"fn": _true},
    "conformsTo": {"fn": _true, "arity": {1: ["String"]}},
    "memberOf": {"fn": _true, "arity": {1: ["String"]}},
    "resolve": {"fn": _resolve},
    "getValue": {"fn": _get_value},
}


def _silent_trace(_label: str, _value: Any) -> None:
    return None


_OPTIONS = {"userInvocationTable": _USER_FUNCTIONS, "traceFn": _silent_trace, "returnRawData": True}


class InvariantEngine:
    """Evaluates FHIRPath invariants; expressions are compiled once per expression text.

    Most invariants compile to native closures (`fhirpath_native`); the others, and any
    evaluation the native code declines at run time, go through fhirpathpy.
    """

    def __init__(self, native: bool = True) -> None:
        self._parsed: dict[str, Any] = {}
        self._native: dict[str, Any] = {}
        self._broken: set[str] = set()
        self._model = _model()
        self.use_native = native

    def compile(self, expression: str) -> Any | None:
        parsed = self._parsed.get(expression)
        if parsed is None and expression not in self._broken:
            try:
                parsed = parse(expression)
            except Exception:  # noqa: BLE001 - an unparsable package expression
                log.info("cannot parse FHIRPath invariant %r", expression)
                self._broken.add(expression)
                return None
            self._parsed[expression] = parsed
        return parsed

    def evaluate(self, expression: str, node: Any, type_path: str, ctx: EvalContext) -> bool | None:
        """True/False for the invariant on `node` (of type `type_path`); None: not checkable."""
        parsed = self.compile(expression)
        if parsed is None:
            return None
        if self.use_native:
            fn = self._native.get(expression, _MISSING)
            if fn is _MISSING:
                try:
                    fn = compile_native(parsed)
                except (Unsupported, ValueError, KeyError, IndexError, TypeError):
                    fn = None
                self._native[expression] = fn
            if fn is not None:
                env = {"resource": ctx.resource, "rootResource": ctx.root, "$root": [node]}
                try:
                    return _truth(fn([node], None, env))
                except Unsupported:
                    pass  # fall back to fhirpathpy for this evaluation
                except (TypeError, ValueError, KeyError, IndexError, AttributeError):
                    pass
        _current.ctx = ctx
        try:
            focus = ResourceNode.create_node(node, type_path)
            result = apply_parsed_path(
                focus,
                parsed,
                {"resource": ctx.resource, "rootResource": ctx.root},
                self._model,
                _OPTIONS,
            )
        except Exception as exc:  # noqa: BLE001 - fhirpathpy gaps must not fail validation
            log.debug("invariant %r not evaluated: %s", expression, exc)
            return None
        finally:
            _current.ctx = None
        return _truth(result)


def _truth(result: Any) -> bool:
    if not isinstance(result, list):
        result = [result]
    if not result:
        return True
    if len(result) == 1:
        value = result[0]
        if isinstance(value, ResourceNode):
            value = value.data
        if isinstance(value, bool):
            return value
        return True
    return all(v is not False for v in result)
