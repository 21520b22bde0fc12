"""Extension contexts: may this extension be used on the element that carries it?

An extension's StructureDefinition lists where it may appear (`context`): `element`
contexts name a type (`Address`, `Element`, `Patient`) or an element path
(`Patient.contact`, `Dosage.timing.repeat`, `Address.line`); `extension` contexts name the
URL of the extension it must be nested in; `fhirpath` contexts are expressions, which are
not judged here (the answer is then "unknown", never a false error).

The element carrying an extension is found from the FHIRPath location the validator
reports (`Patient.address[0].extension[1]` is carried by `Patient.address[0]`), read
against the base FHIR model, so every name it goes by can be compared with the contexts:
its path from the resource (`Patient.address`), its path from every datatype on the way
(`Address.line` for `Patient.address.line`), its own type, and `Element`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from socle.fhir.definitions.model import FhirModel, choice_name

_EXTENSION_AT_END = re.compile(r"\.(?:extension|modifierExtension)\[\d+\]$")
_SEGMENT = re.compile(r"ofType\(([A-Za-z]+)\)|([A-Za-z][A-Za-z0-9_]*)(?:\[(\d+)\])?")
_ANY_ELEMENT = frozenset({"Element", "Base"})
_ANY_RESOURCE = frozenset({"Resource", "DomainResource", "Base"})
_NOT_DATATYPES = frozenset({"BackboneElement", "Element", "Resource"})


@dataclass(frozen=True, slots=True)
class Holder:
    """The element an extension sits on: the names contexts may use for it."""

    names: frozenset[str]
    described: str  # for messages: `Patient.address (Address)`
    parent_url: str | None = None  # when the holder is itself an extension


def holder_path(relative: str) -> str | None:
    """`.address[0].extension[1]` -> `.address[0]` (None unless it ends on an extension)."""
    match = _EXTENSION_AT_END.search(relative)
    return relative[: match.start()] if match else None


def _segments(path: str) -> list[tuple[str, int | None, str | None]] | None:
    """`.value.ofType(Quantity)` -> [("value", None, "Quantity")] (name, index, ofType)."""
    out: list[tuple[str, int | None, str | None]] = []
    for part in filter(None, path.split(".")):
        m = _SEGMENT.fullmatch(part)
        if m is None:
            return None
        if m.group(1):
            if not out:
                return None
            name, index, _ = out[-1]
            out[-1] = (name, index, m.group(1))
        else:
            out.append((m.group(2), int(m.group(3)) if m.group(3) else None, None))
    return out


def describe_holder(model: FhirModel, resource: dict[str, Any], relative: str) -> Holder | None:
    """The names of the element at `relative` in `resource` (None if it cannot be read)."""
    rt = resource.get("resourceType")
    segments = _segments(relative)
    if not isinstance(rt, str) or segments is None:
        return None
    if not segments:  # `Element` also allows resources, as in the HL7 Java validator
        return Holder(frozenset({rt}) | _ANY_RESOURCE | _ANY_ELEMENT, f"the {rt} resource")
    key, names, prefixes = rt, [], []  # prefixes: (position, datatype) along the path
    code = rt
    for position, (name, _, of_type) in enumerate(segments):
        el = model.element(f"{key}.{name}")
        if el is None:
            return None
        if of_type is not None:
            if of_type not in el.types:
                return None
            code, key = of_type, el.type_keys[el.types.index(of_type)]
        elif len(el.types) == 1:
            code, key = el.types[0], el.type_keys[0]
        else:
            return None
        names.append(f"{name}[x]" if el.is_choice else name)
        prefixes.append((position, code, el.path))
    return Holder(
        _names(rt, names, prefixes, code),
        f"{rt}.{'.'.join(names)} ({code})",
        _parent_url(resource, segments) if code == "Extension" else None,
    )


def _names(
    rt: str, names: list[str], prefixes: list[tuple[int, str, str]], code: str
) -> frozenset[str]:
    out = {f"{rt}.{'.'.join(names)}", code} | _ANY_ELEMENT
    if code == "BackboneElement" or "." in code:
        out.add("BackboneElement")
    for position, type_code, definition_path in prefixes:
        out.add(definition_path)
        rest = names[position + 1 :]
        if rest and type_code not in _NOT_DATATYPES and "." not in type_code:
            out.add(f"{type_code}.{'.'.join(rest)}")
    out |= {n.replace("[x]", "") for n in out if "[x]" in n}
    return frozenset(out)


def _parent_url(resource: dict[str, Any], segments: list) -> str | None:
    """The url of the extension at the end of the path (nested extensions' context)."""
    node: Any = resource
    for name, index, of_type in segments:
        if type(node) is not dict:
            return None
        node = node.get(choice_name(name, of_type) if of_type else name)
        if index is not None:
            node = node[index] if type(node) is list and index < len(node) else None
    url = node.get("url") if type(node) is dict else None
    return url if isinstance(url, str) else None


def context_allows(contexts: tuple[tuple[str, str], ...], holder: Holder) -> bool | None:
    """True/False when the contexts decide, None when only FHIRPath contexts could."""
    undecided = False
    for kind, expression in contexts:
        if kind == "element":
            if expression.split(":", 1)[0] in holder.names:
                return True
        elif kind == "extension":
            if holder.parent_url and expression.split("|", 1)[0] == holder.parent_url:
                return True
        else:
            undecided = True
    return None if undecided else False
