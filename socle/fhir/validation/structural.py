"""Structural validation of FHIR R4 JSON resources against the base definitions.

Runs on every write, so it walks the JSON once with precomputed per-type tables (from
`FhirModel`) and never compiles anything per call. It checks what the base
StructureDefinitions and the JSON format state: known elements, array vs single shape,
cardinality, choice types, primitive lexical forms, primitive extensions (`_name`),
extensions (ext-1), contained/inline resources, and the JSON rules (no null, no empty
object or array). FHIRPath invariants beyond ele-1, ext-1, dom-2 and dom-4 belong to
later validators.
"""

from __future__ import annotations

from typing import Any

from socle.fhir.definitions.model import (
    COMPLEX,
    PRIMITIVE,
    FhirModel,
    JsonProperty,
    TypeInfo,
    get_model,
)
from socle.fhir.errors import Issue
from socle.fhir.validation.primitives import Check, describe, primitive_checks

ERROR = "error"


def _located(path: str, key: str, prop: JsonProperty) -> str:
    """FHIRPath of a property's value: a choice is `value.ofType(Quantity)`, as the profile
    validator writes it, not its JSON name `valueQuantity`."""
    el = prop.element
    return f"{path}.{el.name}.ofType({prop.type_code})" if el.is_choice else f"{path}.{key}"


def _issue(code: str, diagnostics: str, path: str | None) -> Issue:
    return Issue(ERROR, code, diagnostics, [path] if path else [])


class StructuralValidator:
    """Validate a resource's JSON structure; `validate` returns all issues found."""

    def __init__(self, model: FhirModel | None = None) -> None:
        self._model = model or get_model()
        self._types: dict[str, TypeInfo] = dict(self._model.types)
        self._element = self._types["Element"]
        self._checks: dict[str, Check] = primitive_checks(self._model)

    def validate(self, resource: Any) -> list[Issue]:
        """All structural issues of `resource` (a parsed JSON object); empty when valid."""
        issues: list[Issue] = []
        try:
            self._resource(resource, "", None, False, issues)
        except RecursionError:  # only reachable when the JSON depth limit was bypassed
            issues.append(_issue("too-costly", "Resource nested too deeply to validate", None))
        return issues

    # -- resources ------------------------------------------------------------------------

    def _resource(
        self, obj: Any, path: str, expected: str | None, contained: bool, issues: list[Issue]
    ) -> None:
        """A whole resource (top level, contained, Bundle entry or typed inline resource)."""
        where = f" at {path}" if path else ""
        if type(obj) is not dict:
            issues.append(
                _issue(
                    "structure",
                    f"Expected a resource (JSON object){where}, found {describe(obj)}",
                    path,
                )
            )
            return
        rt = obj.get("resourceType")
        if rt is None:
            issues.append(_issue("invalid", f"Missing resourceType{where}", path))
            return
        if type(rt) is not str or not self._model.is_resource_type(rt):
            issues.append(_issue("not-supported", self._bad_type_message(rt, where), path))
            return
        if expected is not None and rt != expected:
            issues.append(
                _issue("structure", f"Expected a {expected} resource{where}, found {rt}", path)
            )
            return
        root = path or rt
        self._object(obj, self._types[rt], root, issues)
        if contained:
            self._contained_rules(obj, root, issues)

    def _bad_type_message(self, rt: Any, where: str) -> str:
        if type(rt) is not str:
            return f"resourceType must be a string{where}, found {describe(rt)}"
        if rt in self._model.abstract_resource_types:
            return f"resourceType '{rt}'{where} is abstract: use a concrete resource type"
        return f"Unknown resourceType '{rt}'{where}: not an R4 resource type"

    @staticmethod
    def _contained_rules(obj: dict[str, Any], root: str, issues: list[Issue]) -> None:
        """dom-2 and dom-4: no nested contained, no version metadata on contained resources."""
        if "contained" in obj:
            issues.append(
                _issue(
                    "invariant",
                    "A contained resource cannot itself contain resources (dom-2)",
                    f"{root}.contained",
                )
            )
        meta = obj.get("meta")
        if type(meta) is dict and ("versionId" in meta or "lastUpdated" in meta):
            issues.append(
                _issue(
                    "invariant",
                    "A contained resource cannot have meta.versionId or meta.lastUpdated (dom-4)",
                    f"{root}.meta",
                )
            )

    # -- objects --------------------------------------------------------------------------

    def _object(self, obj: dict[str, Any], info: TypeInfo, path: str, issues: list[Issue]) -> None:
        """Every property of a JSON object of type `info`, then its required elements."""
        json_keys = info.json_keys
        choices: dict[str, str] | None = None
        for key, value in obj.items():
            prop = json_keys.get(key)
            if prop is None:
                if key[:1] == "_":
                    self._primitive_extension(obj, key, value, info, path, issues)
                elif key != "resourceType" or info.kind != "resource":
                    issues.append(self._unknown(info, key, path))
                continue
            if value is None:
                issues.append(
                    _issue(
                        "structure",
                        f"Null value for '{key}' in {path}: FHIR JSON forbids null, "
                        "omit the element instead",
                        f"{path}.{key}",
                    )
                )
                continue
            el = prop.element
            if el.is_choice:
                choices = choices if choices is not None else {}
                first = choices.setdefault(el.name, key)
                if first != key:
                    issues.append(
                        _issue(
                            "structure",
                            f"Only one {el.name}[x] is allowed in {path}: found both "
                            f"'{first}' and '{key}'",
                            f"{path}.{key}",
                        )
                    )
                    continue
            if el.is_array:
                self._array(obj, key, value, prop, path, issues)
            elif type(value) is list:
                issues.append(
                    _issue(
                        "structure",
                        f"'{key}' in {path} must be a single value (max 1), found an array",
                        f"{path}.{key}",
                    )
                )
            elif prop.max_count == 0:
                issues.append(self._prohibited(key, path, info))
            else:
                self._value(value, prop, _located(path, key, prop), issues)
        if info.required:
            self._required(obj, info, path, issues)
        if info.key == "Extension":
            self._extension_rules(obj, path, issues)

    def _array(
        self,
        obj: dict[str, Any],
        key: str,
        value: Any,
        prop: JsonProperty,
        path: str,
        issues: list[Issue],
    ) -> None:
        """A repeating element: a non-empty array, within max, null only if `_key` fills it."""
        where = f"{path}.{key}"
        if type(value) is not list:
            issues.append(
                _issue(
                    "structure",
                    f"'{key}' in {path} must be an array (max {prop.element.max}), found "
                    f"{describe(value)}",
                    where,
                )
            )
            return
        if not value:
            issues.append(
                _issue(
                    "structure",
                    f"Empty array for '{key}' in {path}: FHIR JSON forbids empty arrays, "
                    "omit the element instead",
                    where,
                )
            )
            return
        if prop.max_count is not None and len(value) > prop.max_count:
            issues.append(
                _issue(
                    "structure",
                    f"Too many values for '{key}' in {path}: {len(value)} found, "
                    f"max {prop.max_count}",
                    where,
                )
            )
        ext = obj.get("_" + key) if prop.category == PRIMITIVE else None
        for i, item in enumerate(value):
            if item is None:
                if type(ext) is list and i < len(ext) and ext[i] is not None:
                    continue  # value carried only by its extension
                issues.append(
                    _issue(
                        "structure",
                        f"Null at {where}[{i}]: FHIR JSON forbids null in arrays unless "
                        f"'_{key}' has an entry at the same index",
                        f"{where}[{i}]",
                    )
                )
                continue
            self._value(item, prop, f"{where}[{i}]", issues)

    def _value(self, value: Any, prop: JsonProperty, path: str, issues: list[Issue]) -> None:
        """One value of an element, dispatched on its type category."""
        category = prop.category
        if category == PRIMITIVE:
            problem = self._checks[prop.type_code](value)
            if problem is not None:
                issues.append(_issue("value", f"{path}: {problem}", path))
        elif category == COMPLEX:
            if self._complex_shape_ok(value, prop.type_code, path, issues):
                self._object(value, self._types[prop.type_key], path, issues)
        else:
            expected = None if prop.type_code == "Resource" else prop.type_code
            self._resource(value, path, expected, prop.element.name == "contained", issues)

    @staticmethod
    def _complex_shape_ok(value: Any, type_code: str, path: str, issues: list[Issue]) -> bool:
        """A datatype or backbone value is a non-empty object with more than an id (ele-1)."""
        if type(value) is not dict:
            issues.append(
                _issue(
                    "structure",
                    f"{path} must be a JSON object ({type_code}), found {describe(value)}",
                    path,
                )
            )
            return False
        if not value:
            issues.append(
                _issue(
                    "structure",
                    f"Empty object at {path}: FHIR JSON forbids empty objects, "
                    "omit the element instead",
                    path,
                )
            )
            return False
        if len(value) == 1 and "id" in value:
            issues.append(
                _issue(
                    "invariant",
                    f"{path} has only an id: an element must have a value or children (ele-1)",
                    path,
                )
            )
        return True

    def _required(
        self, obj: dict[str, Any], info: TypeInfo, path: str, issues: list[Issue]
    ) -> None:
        """Elements with min >= 1 are present (a value or its `_name` extension counts)."""
        for el, spellings in info.required:
            for name in spellings:
                if name in obj:
                    break
            else:
                label = f"{el.name}[x]" if el.is_choice else el.name
                issues.append(
                    _issue(
                        "required",
                        f"Missing required element '{label}' in {path} (min {el.min})",
                        f"{path}.{label}",
                    )
                )

    # -- extensions -----------------------------------------------------------------------

    def _primitive_extension(
        self,
        obj: dict[str, Any],
        key: str,
        value: Any,
        info: TypeInfo,
        path: str,
        issues: list[Issue],
    ) -> None:
        """`_name`: id/extension of a primitive, one object or an array aligned with `name`."""
        name = key[1:]
        prop = info.json_keys.get(name)
        where = _located(path, name, prop) if prop is not None else f"{path}.{name}"
        if prop is None or prop.category != PRIMITIVE:
            issues.append(
                _issue(
                    "structure",
                    f"Unknown element '{key}' in {path}: '_' properties only accompany "
                    "primitive elements of the type",
                    f"{path}.{key}",
                )
            )
            return
        if prop.type_code == "xhtml":
            issues.append(
                _issue("structure", f"{where} (xhtml) cannot have extensions", f"{path}.{key}")
            )
            return
        if not prop.element.is_array:
            if type(value) is list:
                issues.append(
                    _issue(
                        "structure",
                        f"'{key}' in {path} must be a single object, found an array",
                        f"{path}.{key}",
                    )
                )
            else:
                self._element_extension(value, where, issues)
            return
        self._primitive_extension_array(obj, key, value, where, issues)

    def _primitive_extension_array(
        self, obj: dict[str, Any], key: str, value: Any, where: str, issues: list[Issue]
    ) -> None:
        """`_given`-style arrays: same length as the values, null where nothing is added."""
        if type(value) is not list or not value:
            found = "an empty array" if value == [] else describe(value)
            issues.append(
                _issue(
                    "structure",
                    f"'{key}' must be a non-empty array aligned with '{key[1:]}', found {found}",
                    where,
                )
            )
            return
        values = obj.get(key[1:])
        if type(values) is list and len(values) != len(value):
            issues.append(
                _issue(
                    "structure",
                    f"'{key}' has {len(value)} entries but '{key[1:]}' has {len(values)}: "
                    "they must be aligned index by index",
                    where,
                )
            )
        for i, item in enumerate(value):
            if item is not None:
                self._element_extension(item, f"{where}[{i}]", issues)
            elif values is None:  # otherwise already reported with the values or misalignment
                issues.append(
                    _issue(
                        "structure",
                        f"Null at '{key}'[{i}] with no value in '{key[1:]}' at that index",
                        f"{where}[{i}]",
                    )
                )

    def _element_extension(self, value: Any, path: str, issues: list[Issue]) -> None:
        """Content of a `_name` entry: an Element (id and extension only)."""
        if self._complex_shape_ok(value, "Element", path, issues):
            self._object(value, self._element, path, issues)

    @staticmethod
    def _extension_rules(obj: dict[str, Any], path: str, issues: list[Issue]) -> None:
        """ext-1: an extension has either a value[x] or nested extensions, not both."""
        has_value = any(k.startswith(("value", "_value")) for k in obj)
        has_children = "extension" in obj
        if has_value and has_children:
            msg = f"Extension at {path} has both a value[x] and nested extensions (ext-1)"
        elif not has_value and not has_children:
            msg = f"Extension at {path} has neither a value[x] nor nested extensions (ext-1)"
        else:
            return
        issues.append(_issue("invariant", msg, path))

    # -- messages -------------------------------------------------------------------------

    @staticmethod
    def _unknown(info: TypeInfo, key: str, path: str) -> Issue:
        """Unknown property; for `valueFoo`-like names, list the choice's allowed spellings."""
        for base in info.choice_names:
            if len(key) > len(base) and key.startswith(base) and key[len(base)].isupper():
                el = info.elements[base]
                allowed = ", ".join(el.json_names())
                return _issue(
                    "structure",
                    f"'{key}' is not allowed in {path}: type {key[len(base) :]} is not a choice "
                    f"of {el.path}; allowed: {allowed}",
                    f"{path}.{key}",
                )
        of_type = "" if path == info.key else f" (type {info.key})"
        return _issue("structure", f"Unknown element '{key}' in {path}{of_type}", f"{path}.{key}")

    @staticmethod
    def _prohibited(key: str, path: str, info: TypeInfo) -> Issue:
        return _issue(
            "structure",
            f"'{key}' is not allowed in {path} ({info.key} has max 0 for it)",
            f"{path}.{key}",
        )
