"""Convert between the FHIR `Parameters` resource and plain Python values."""

from __future__ import annotations

from typing import Any

from socle.fhir.errors import bad_request


def parameters_to_dict(body: dict[str, Any]) -> dict[str, list[Any]]:
    """name -> values; a value is the value[x], a resource, or a nested dict of parts."""
    out: dict[str, list[Any]] = {}
    for i, param in enumerate(body.get("parameter") or []):
        if not isinstance(param, dict) or not isinstance(param.get("name"), str):
            raise bad_request("Each parameter needs a name", f"Parameters.parameter[{i}]")
        out.setdefault(param["name"], []).append(_value_of(param))
    return out


def _value_of(param: dict[str, Any]) -> Any:
    if "resource" in param:
        return param["resource"]
    if "part" in param:
        return parameters_to_dict({"parameter": param["part"]})
    for key, value in param.items():
        if key.startswith("value"):
            return value
    return None


def to_parameters(values: dict[str, Any]) -> dict[str, Any]:
    """Build a Parameters resource; value types are given as (type, value) tuples or resources."""
    params = []
    for name, value in values.items():
        for item in value if isinstance(value, list) else [value]:
            params.append(_parameter(name, item))
    return {"resourceType": "Parameters", "parameter": params}


def _parameter(name: str, item: Any) -> dict[str, Any]:
    if isinstance(item, dict) and "resourceType" in item:
        return {"name": name, "resource": item}
    if isinstance(item, tuple):
        value_type, value = item
        return {"name": name, f"value{value_type}": value}
    if isinstance(item, bool):
        return {"name": name, "valueBoolean": item}
    if isinstance(item, int):
        return {"name": name, "valueInteger": item}
    if isinstance(item, dict):
        return {"name": name, "part": to_parameters(item)["parameter"]}
    return {"name": name, "valueString": str(item)}
