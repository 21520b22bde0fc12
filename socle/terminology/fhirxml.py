"""FHIR XML -> FHIR JSON, driven by the R4 model (which elements repeat, which are numbers).

Enough for the resources a terminology load meets (CodeSystem, ValueSet, ConceptMap,
Bundle); it follows the general R4 XML rules: primitive values in `@value`, element ids
and extensions on primitives in `_name`, `@url` on extensions, contained resources
wrapped in an element named after their type, and XHTML narrative kept as a string.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from socle.fhir.definitions.model import FhirModel, get_model

FHIR_NS = "http://hl7.org/fhir"
XHTML_NS = "http://www.w3.org/1999/xhtml"
_INTEGER = {"integer", "positiveInt", "unsignedInt", "integer64"}


class FhirXmlError(ValueError):
    pass


def _local(tag: Any) -> str | None:
    if not isinstance(tag, str):
        return None  # comments, processing instructions
    return tag.rsplit("}", 1)[-1]


def is_fhir_xml(data: bytes) -> bool:
    return f'xmlns="{FHIR_NS}"'.encode() in data[:4096]


def parse_fhir_xml(data: bytes, model: FhirModel | None = None) -> dict[str, Any]:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise FhirXmlError(f"not well-formed XML: {exc}") from exc
    if not root.tag.startswith("{" + FHIR_NS + "}"):
        raise FhirXmlError("the root element is not in the FHIR namespace")
    return _resource(root, model or get_model())


def _resource(elem: Any, model: FhirModel) -> dict[str, Any]:
    rtype = _local(elem.tag) or ""
    if not model.is_resource_type(rtype):
        raise FhirXmlError(f"{rtype} is not a FHIR R4 resource type")
    out: dict[str, Any] = {"resourceType": rtype}
    out.update(_complex(elem, rtype, model))
    return out


def _complex(elem: Any, type_key: str, model: FhirModel) -> dict[str, Any]:
    info = model.type_info(type_key)
    if info is None:
        raise FhirXmlError(f"unknown FHIR type {type_key}")
    out: dict[str, Any] = {}
    if elem.get("id") is not None:
        out["id"] = elem.get("id")
    if elem.get("url") is not None and type_key == "Extension":
        out["url"] = elem.get("url")
    for child in elem:
        name = _local(child.tag)
        if name is None:
            continue
        prop = info.json_keys.get(name)
        if prop is None:
            raise FhirXmlError(f"unexpected element {name} in {type_key}")
        if prop.category == "resource":
            inner = [c for c in child if _local(c.tag)]
            if len(inner) != 1:
                raise FhirXmlError(f"{name} must wrap exactly one resource")
            value: Any = _resource(inner[0], model)
            _put(out, name, value, prop.element.is_array)
        elif prop.type_code == "xhtml":
            out[name] = etree.tostring(child, encoding="unicode", with_tail=False)
        elif prop.category == "primitive":
            raw = child.get("value")
            value = _primitive(raw, prop.type_code) if raw is not None else None
            extra = _complex(child, "Element", model) if len(child) or child.get("id") else None
            _put_primitive(out, name, value, extra, prop.element.is_array)
        else:
            _put(out, name, _complex(child, prop.type_key, model), prop.element.is_array)
    return out


def _primitive(raw: str, type_code: str) -> Any:
    if type_code == "boolean":
        if raw not in ("true", "false"):
            raise FhirXmlError(f"invalid boolean {raw!r}")
        return raw == "true"
    if type_code in _INTEGER:
        try:
            return int(raw)
        except ValueError as exc:
            raise FhirXmlError(f"invalid integer {raw!r}") from exc
    if type_code == "decimal":
        try:
            return int(raw) if raw.lstrip("-").isdigit() else float(raw)
        except ValueError as exc:
            raise FhirXmlError(f"invalid decimal {raw!r}") from exc
    return raw


def _put(out: dict[str, Any], name: str, value: Any, is_array: bool) -> None:
    if is_array:
        out.setdefault(name, []).append(value)
    else:
        out[name] = value


def _put_primitive(
    out: dict[str, Any], name: str, value: Any, extra: dict[str, Any] | None, is_array: bool
) -> None:
    if not is_array:
        if value is not None:
            out[name] = value
        if extra:
            out["_" + name] = extra
        return
    values = out.setdefault(name, [])
    values.append(value)
    if extra or "_" + name in out:
        extras = out.setdefault("_" + name, [None] * (len(values) - 1))
        extras.append(extra)
