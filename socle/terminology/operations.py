"""The FHIR terminology operations, at type and instance level, GET and POST.

CodeSystem `$lookup`, `$validate-code`, `$subsumes`; ValueSet `$expand`, `$validate-code`;
ConceptMap `$translate`. Inputs come from the query string (strings) or a Parameters body
(typed values); answers are Parameters resources (a ValueSet for `$expand`), as the
R4 OperationDefinitions state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from socle.fhir.errors import FhirError, bad_request, operation_outcome
from socle.fhir.operations.registry import INSTANCE, TYPE, OperationCall
from socle.terminology.catalog import Entry
from socle.terminology.expansion import ExpandOptions
from socle.terminology.service import Terminology, ValidationResult

if TYPE_CHECKING:
    from socle.fhir.engine import FhirEngine

_HL7 = "http://hl7.org/fhir/OperationDefinition/"


# -- parameter helpers ------------------------------------------------------------------


def _str(call: OperationCall, name: str) -> str | None:
    value = call.param(name)
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return str(value).lower() if isinstance(value, bool) else str(value)
    raise bad_request(f"Parameter {name} must be a simple value", name)


def _int(call: OperationCall, name: str) -> int | None:
    value = call.param(name)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value)
    else:
        raise bad_request(f"Parameter {name} must be a non-negative integer, not {value!r}", name)
    if number < 0:
        raise bad_request(f"Parameter {name} must not be negative", name)
    return number


def _dict(call: OperationCall, name: str) -> dict[str, Any] | None:
    value = call.param(name)
    if value is None:
        return None
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and "|" in value and name.startswith("coding"):
        system, _, code = value.partition("|")  # convenience on GET: coding=system|code
        return {"system": system or None, "code": code}
    raise bad_request(f"Parameter {name} must be a {name.capitalize()} (use POST)", name)


def _service(call: OperationCall) -> Terminology:
    svc = getattr(call.engine, "terminology", None)
    if svc is None:  # pragma: no cover - the plugin registers it
        raise FhirError(501, "not-supported", "No terminology service is registered")
    return svc


def _instance(call: OperationCall, kind: str) -> Entry | None:
    if call.level != INSTANCE or not call.res_id:
        return None
    svc = _service(call)
    entry = svc.view(call.ctx.tenant).by_id(kind, call.res_id)
    if entry is None:
        raise FhirError(404, "not-found", f"{kind}/{call.res_id} is not known")
    return entry


def _validation_parameters(res: ValidationResult) -> dict[str, Any]:
    params: list[dict[str, Any]] = [{"name": "result", "valueBoolean": res.result}]
    if res.message:
        params.append({"name": "message", "valueString": res.message})
    if res.display:
        params.append({"name": "display", "valueString": res.display})
    if res.system:
        params.append({"name": "system", "valueUri": res.system})
    if res.code:
        params.append({"name": "code", "valueCode": res.code})
    if res.version:
        params.append({"name": "version", "valueString": res.version})
    if res.issues:
        params.append({"name": "issues", "resource": operation_outcome(res.issues)})
    return {"resourceType": "Parameters", "parameter": params}


def _code_input(
    call: OperationCall, code_name: str = "code", coding_name: str = "coding"
) -> tuple[str | None, str | None, str | None, str | None]:
    """(system, code, version, display) from code/system/version/display or a Coding."""
    coding = _dict(call, coding_name)
    if coding is not None:
        return (
            coding.get("system"),
            coding.get("code"),
            coding.get("version"),
            coding.get("display"),
        )
    return _str(call, "system"), _str(call, code_name), _str(call, "version"), _str(call, "display")


# -- CodeSystem ----------------------------------------------------------------------------


def lookup(call: OperationCall) -> dict[str, Any]:
    """CodeSystem $lookup: display, designations, properties, parent and child."""
    svc = _service(call)
    entry = _instance(call, "CodeSystem")
    system, code, version, _display = _code_input(call)
    if entry is not None:
        system, version = entry.url, version or entry.version
    if not code:
        raise bad_request("$lookup needs a code (code and system, or coding)", "code")
    if not system:
        raise bad_request("$lookup needs the code system (system or coding.system)", "system")
    found = svc.lookup(
        system,
        code,
        version,
        display_language=_str(call, "displayLanguage"),
        tenant=call.ctx.tenant,
    )
    wanted = {p for p in (call.params.get("property") or []) if isinstance(p, str)}
    params: list[dict[str, Any]] = [{"name": "name", "valueString": found.name}]
    if found.version:
        params.append({"name": "version", "valueString": found.version})
    if found.display:
        params.append({"name": "display", "valueString": found.display})
    if found.definition and (not wanted or "definition" in wanted):
        params.append({"name": "definition", "valueString": found.definition})
    params.append({"name": "abstract", "valueBoolean": found.abstract})
    if not wanted or "designation" in wanted:
        for d in found.designations:
            parts: list[dict[str, Any]] = []
            if d.get("language"):
                parts.append({"name": "language", "valueCode": d["language"]})
            if d.get("use"):
                parts.append({"name": "use", "valueCoding": d["use"]})
            parts.append({"name": "value", "valueString": d["value"]})
            params.append({"name": "designation", "part": parts})
    for pcode, kind, value in found.properties:
        if wanted and pcode not in wanted:
            continue
        parts = [{"name": "code", "valueCode": pcode}]
        if value is not None:
            parts.append({"name": "value", f"value{kind}": value})
        params.append({"name": "property", "part": parts})
    return {"resourceType": "Parameters", "parameter": params}


def codesystem_validate(call: OperationCall) -> dict[str, Any]:
    """CodeSystem $validate-code."""
    svc = _service(call)
    entry = _instance(call, "CodeSystem")
    concept = _dict(call, "codeableConcept")
    url = entry.url if entry is not None else _str(call, "url") or _str(call, "system")
    version = _str(call, "version") or (entry.version if entry is not None else None)
    if concept is not None:
        for coding in concept.get("coding") or []:
            if url is None or coding.get("system") == url:
                res = svc.validate_code(
                    coding.get("system") or url,
                    coding.get("code") or "",
                    coding.get("display"),
                    version,
                    tenant=call.ctx.tenant,
                )
                if res.result:
                    return _validation_parameters(res)
        return _validation_parameters(
            ValidationResult(False, f"No coding of the CodeableConcept is valid in {url}")
        )
    system, code, c_version, display = _code_input(call)
    system = url or system
    if not code:
        raise bad_request("$validate-code needs a code, a coding or a codeableConcept", "code")
    if not system:
        raise bad_request("$validate-code needs the code system (url)", "url")
    res = svc.validate_code(system, code, display, version or c_version, tenant=call.ctx.tenant)
    return _validation_parameters(res)


def subsumes(call: OperationCall) -> dict[str, Any]:
    """CodeSystem $subsumes: equivalent, subsumes, subsumed-by or not-subsumed."""
    svc = _service(call)
    entry = _instance(call, "CodeSystem")
    coding_a, coding_b = _dict(call, "codingA"), _dict(call, "codingB")
    code_a = coding_a.get("code") if coding_a else _str(call, "codeA")
    code_b = coding_b.get("code") if coding_b else _str(call, "codeB")
    system = entry.url if entry is not None else _str(call, "system")
    for coding in (coding_a, coding_b):
        if coding and coding.get("system"):
            if system and coding["system"] != system:
                raise bad_request("codingA and codingB must be from the same code system")
            system = system or coding["system"]
    if not code_a or not code_b:
        raise bad_request("$subsumes needs codeA and codeB (or codingA and codingB)")
    if not system:
        raise bad_request("$subsumes needs the code system (system)", "system")
    version = _str(call, "version") or (entry.version if entry is not None else None)
    outcome = svc.subsumes(system, code_a, code_b, version, tenant=call.ctx.tenant)
    return {"resourceType": "Parameters", "parameter": [{"name": "outcome", "valueCode": outcome}]}


# -- ValueSet ------------------------------------------------------------------------------


def _canonical_map(call: OperationCall, name: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in call.params.get(name) or []:
        if not isinstance(value, str) or "|" not in value:
            raise bad_request(f"{name} takes canonical references url|version", name)
        url, _, version = value.partition("|")
        out[url] = version
    return out


def expand(call: OperationCall) -> dict[str, Any]:
    """ValueSet $expand, with filter, offset/count, displayLanguage, activeOnly."""
    svc = _service(call)
    entry = _instance(call, "ValueSet")
    posted = call.resource_param("valueSet")
    url = _str(call, "url")
    version = _str(call, "valueSetVersion")
    if entry is not None:
        url, version = entry.url, entry.version
        posted = entry.resource() if not entry.url else None
    if posted is None and not url:
        raise bad_request("$expand needs a url, a valueSet or a ValueSet instance", "url")
    options = ExpandOptions(
        active_only=call.boolean("activeOnly", False),
        system_versions=_canonical_map(call, "system-version"),
        force_versions=_canonical_map(call, "force-system-version"),
        exclude_systems={
            v.partition("|")[0]
            for v in call.params.get("exclude-system") or []
            if isinstance(v, str)
        },
    )
    return svc.expand(
        url if posted is None else None,
        valueset=posted,
        version=version,
        filter=_str(call, "filter"),
        offset=_int(call, "offset") or 0,
        count=_int(call, "count"),
        display_language=_str(call, "displayLanguage"),
        include_designations=call.boolean("includeDesignations", False),
        include_definition=call.boolean("includeDefinition", False),
        options=options,
        tenant=call.ctx.tenant,
    )


def valueset_validate(call: OperationCall) -> dict[str, Any]:
    """ValueSet $validate-code: code+system, coding or codeableConcept; display is checked."""
    svc = _service(call)
    entry = _instance(call, "ValueSet")
    posted = call.resource_param("valueSet")
    url = _str(call, "url")
    vs_version = _str(call, "valueSetVersion")
    if entry is not None:
        url, vs_version = entry.url, entry.version
    if posted is None and not url:
        raise bad_request("$validate-code needs a url, a valueSet or a ValueSet instance", "url")
    kwargs: dict[str, Any] = {"tenant": call.ctx.tenant}
    if posted is not None:
        kwargs["valueset_resource"] = posted
    else:
        kwargs["value_set"] = url
    concept = _dict(call, "codeableConcept")
    if concept is not None:
        res = svc.validate_codeable_concept(concept, **kwargs)
        return _validation_parameters(res)
    coding = _dict(call, "coding")
    if coding is not None:
        system, code = coding.get("system"), coding.get("code")
        display, version = coding.get("display"), coding.get("version")
    else:
        system, code = _str(call, "system"), _str(call, "code")
        display, version = _str(call, "display"), _str(call, "systemVersion")
    if not code:
        raise bad_request("$validate-code needs a code, a coding or a codeableConcept", "code")
    if posted is None:
        kwargs["value_set_version"] = vs_version
    res = svc.validate_code(system, code, display, version, **kwargs)
    return _validation_parameters(res)


# -- ConceptMap ----------------------------------------------------------------------------


def translate(call: OperationCall) -> dict[str, Any]:
    """ConceptMap $translate, forward or reverse, with equivalences."""
    svc = _service(call)
    entry = _instance(call, "ConceptMap")
    posted = call.resource_param("conceptMap")
    system, code, version, _display = _code_input(call)
    concept = _dict(call, "codeableConcept")
    codings = [(system, code)]
    if concept is not None:
        codings = [(c.get("system"), c.get("code")) for c in concept.get("coding") or []]
    if not any(c for _s, c in codings):
        raise bad_request("$translate needs a code (with system), a coding or a codeableConcept")
    url = entry.url if entry is not None else _str(call, "url")
    matches = []
    message = None
    result = False
    for sys_, c in codings:
        if not c:
            continue
        res = svc.translate(
            c,
            sys_,
            url=url,
            version=_str(call, "conceptMapVersion"),
            conceptmap=posted,
            source=_str(call, "source"),
            target=_str(call, "target"),
            target_system=_str(call, "targetsystem") or _str(call, "targetSystem"),
            reverse=call.boolean("reverse", False),
            tenant=call.ctx.tenant,
        )
        matches.extend(res.matches)
        result = result or res.result
        message = message or res.message
    params: list[dict[str, Any]] = [{"name": "result", "valueBoolean": result}]
    if message and not result:
        params.append({"name": "message", "valueString": message})
    for m in matches:
        coding = {
            k: v
            for k, v in (
                ("system", m.system),
                ("version", m.version),
                ("code", m.code),
                ("display", m.display),
            )
            if v
        }
        parts: list[dict[str, Any]] = [{"name": "equivalence", "valueCode": m.equivalence}]
        if coding.get("code"):
            parts.append({"name": "concept", "valueCoding": coding})
        for product in m.product:
            parts.append(
                {
                    "name": "product",
                    "part": [
                        {"name": "element", "valueUri": product.get("property")},
                        {
                            "name": "concept",
                            "valueCoding": {
                                k: product[k]
                                for k in ("system", "code", "display")
                                if product.get(k)
                            },
                        },
                    ],
                }
            )
        parts.append({"name": "source", "valueUri": m.source})
        if m.comment:
            parts.append({"name": "comment", "valueString": m.comment})
        params.append({"name": "match", "part": parts})
    return {"resourceType": "Parameters", "parameter": params}


def _operations() -> list[tuple[str, str, Any, str]]:
    """(operation, resource type, handler, HL7 definition page): one row per operation."""
    return [
        ("lookup", "CodeSystem", lookup, "CodeSystem-lookup"),
        ("validate-code", "CodeSystem", codesystem_validate, "CodeSystem-validate-code"),
        ("subsumes", "CodeSystem", subsumes, "CodeSystem-subsumes"),
        ("expand", "ValueSet", expand, "ValueSet-expand"),
        ("validate-code", "ValueSet", valueset_validate, "ValueSet-validate-code"),
        ("translate", "ConceptMap", translate, "ConceptMap-translate"),
    ]


def register_operations(engine: FhirEngine) -> None:
    """Type- and instance-level registration, each pointing at its HL7 OperationDefinition."""
    for name, res_type, handler, page in _operations():
        engine.operations.operation(
            name,
            levels=(TYPE, INSTANCE),
            resource_types=(res_type,),
            definition_url=_HL7 + page,
        )(handler)
