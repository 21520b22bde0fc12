"""FHIR `$operations` of the INS service (all on Patient; see docs/ins.md for parameters)."""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import date
from typing import TYPE_CHECKING, Any

import orjson

from socle.fhir.errors import FhirError, Issue, bad_request, operation_outcome
from socle.fhir.guard import READ, Access
from socle.fhir.operations.registry import INSTANCE, TYPE, OperationCall
from socle.ins import model as M
from socle.ins import service
from socle.ins import status as S
from socle.ins import teleservice as T
from socle.ins.nir import INS_SYSTEMS, NirIssue, check_nir, mask_matricules
from socle.ins.nir import clean as clean_nir
from socle.ins.outgoing import filter_resource, shares_ins

if TYPE_CHECKING:
    from socle.fhir.context import RequestContext
    from socle.fhir.engine import FhirEngine

MATCH_GRADE = "http://hl7.org/fhir/StructureDefinition/match-grade"
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


def _str(call: OperationCall, *names: str, number: bool = False) -> str | None:
    """The text of the first of `names` the call has (a string value, or the value of an
    Identifier, Coding or Reference). Given twice, or as a boolean (or a number, unless
    `number`), it is a 400: read otherwise, it would be searched or checked as text."""
    for name in names:
        values = call.params.get(name) or []
        if not values or values[0] is None:
            continue
        if len(values) > 1:
            raise bad_request(f"'{name}' is given {len(values)} times: once", name)
        value = values[0]
        if isinstance(value, dict):
            value = value.get("value") or value.get("code") or value.get("reference")
        if isinstance(value, bool) or (isinstance(value, int | float) and not number):
            raise bad_request(f"'{name}' must be text, not {value!r}", name)
        return str(value) if value is not None else None
    return None


def _list(call: OperationCall, name: str) -> list[str]:
    """The texts of a repeating parameter (a boolean or a number is a 400, as in `_str`)."""
    values = [v for v in call.params.get(name) or [] if v not in (None, "")]
    for value in values:
        if isinstance(value, bool | int | float):
            raise bad_request(f"'{name}' must be text, not {value!r}", name)
    return [str(v) for v in values]


def _count(call: OperationCall, default: int, most: int) -> int:
    """The `count` parameter: a positive integer, capped (400 when it is not a number)."""
    raw = _str(call, "count", number=True)
    if raw in (None, ""):
        return default
    if not raw.strip().isdigit() or int(raw) < 1:
        raise bad_request(f"count must be a positive integer, not {raw!r}", "count")
    return min(int(raw), most)


def _traits(call: OperationCall) -> dict[str, Any] | None:
    patient = call.resource_param("patient") or call.resource_param()
    if patient:
        ident = M.read_identity(patient)
        return {
            "family": ident.birth_family,
            "given": " ".join(ident.given),
            "birthDate": ident.birth_date,
            "gender": ident.sex,
            "birthplace": ident.birthplace or None,
        }
    if not any(call.param(n) for n in ("family", "given", "birthDate", "gender")):
        return None
    return {
        "family": _str(call, "family") or "",
        "given": " ".join(_list(call, "given")),
        "birthDate": _str(call, "birthDate", "birthdate") or "",
        "gender": _str(call, "gender") or "",
        "birthplace": _str(call, "birthplace"),
    }


def _insi_parameters(result: T.InsiResult, patient: dict[str, Any] | None) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {"name": "result", "valueCode": result.code},
        {"name": "label", "valueString": result.label},
    ]
    if result.detail:
        params.append({"name": "detail", "valueString": _detail(result.detail, patient)})
    for rec in result.identities:
        identity = T.patient_of(rec)
        params.append({"name": "identity", "resource": identity})
        for old in rec.get("historique") or []:
            params.append(
                {
                    "name": "history",
                    "valueIdentifier": {
                        "system": f"urn:oid:{old['oid']}",
                        "value": old["matricule"],
                        "use": "old",
                    },
                }
            )
    if patient is not None:
        params.append({"name": "patient", "resource": filter_resource(patient)})
    return {"resourceType": "Parameters", "parameter": params}


def ins_check(call: OperationCall) -> dict[str, Any]:
    """Check an INS matricule (NIR/NIA): key, structure and agreement with the traits."""
    if call.res_id:
        with call.engine.store.session(call.ctx.tenant) as s:
            patient = call.engine.crud.read(s, "Patient", call.res_id).resource or {}
        # read as stored (the INS is what is checked), but only if the caller may read it
        call.engine.guard.authorize(call.ctx, Access(READ, "Patient", call.res_id, patient))
        ident = M.read_identity(patient)
        if not ident.ins:
            raise FhirError(422, "business-rule", f"Patient/{call.res_id} has no INS")
        value, system = ident.ins, ident.ins_system
        gender, birth, place = ident.sex, ident.birth_date, ident.birthplace
        # the outgoing rule: the INS of an identity that is not qualifiée is not shared,
        # not even in the answer that checks it
        hidden = ident.status != M.QUAL
        paths = _patient_paths(patient, ident)
    else:
        value = _str(call, "value", "ins", "matricule")
        if value is None:
            raise bad_request("$ins-check needs the matricule in 'value'", "value")
        system = _str(call, "system")
        gender = _str(call, "gender")
        birth = _str(call, "birthDate")
        place = _str(call, "birthplace")
        hidden = False  # the caller's own number
        paths = _parameter_paths(call)
    check = check_nir(value, system=system, gender=gender, birth_date=birth, birthplace=place)
    issues = [_check_issue(i, check.value, hidden, paths) for i in check.issues]
    params: list[dict[str, Any]] = [{"name": "valid", "valueBoolean": check.valid}]
    if not hidden:
        params.append({"name": "value", "valueString": check.value})
    if check.kind:
        params.append({"name": "kind", "valueCode": check.kind})
    if check.sex:
        params.append({"name": "sex", "valueCode": check.sex})
    if check.birthplace:
        params.append({"name": "birthplace", "valueString": check.birthplace})
    if check.reason:
        reason = _masked(check.reason, check.value) if hidden else check.reason
        params.append({"name": "reason", "valueString": reason})
    params.append({"name": "outcome", "resource": operation_outcome(issues)})
    return {"resourceType": "Parameters", "parameter": params}


CS_INS_CHECK = f"{M.SOCLE}/CodeSystem/ins-check"  # check_nir's issue codes
# the input each check_nir finding is about (the rest: the matricule itself)
_INPUT_OF = {
    "system": "system",
    "nia-kind": "system",
    "nir-kind": "system",
    "sex-mismatch": "gender",
    "year-mismatch": "birthDate",
    "month-mismatch": "birthDate",
    "birth-date": "birthDate",
    "birthplace-mismatch": "birthplace",
}


def _check_issue(finding: NirIssue, value: str, hidden: bool, paths: dict[str, str]) -> Issue:
    """One OperationOutcome issue of $ins-check: check_nir's code in `details` (a coded
    reason), `expression` the FHIRPath of the input it is about, when there is one."""
    error = finding.severity == "error"
    path = paths.get(_INPUT_OF.get(finding.code, "value"))
    return Issue(
        finding.severity,
        "invalid" if error else "informational",
        _masked(finding.message, value) if hidden else finding.message,
        [path] if path else [],
        {"coding": [{"system": CS_INS_CHECK, "code": finding.code}]},
    )


def _parameter_paths(call: OperationCall) -> dict[str, str]:
    """FHIRPath of each $ins-check input the call has (see `_param_path`)."""
    names = {
        "value": ("value", "ins", "matricule"),
        "system": ("system",),
        "gender": ("gender",),
        "birthDate": ("birthDate",),
        "birthplace": ("birthplace",),
    }
    return {key: path for key, aliases in names.items() if (path := _param_path(call, *aliases))}


def _posted_path(posted: list[Any], name: str) -> str | None:
    for i, param in enumerate(posted):
        if isinstance(param, dict) and param.get("name") == name:
            value_key = next((k for k in param if k.startswith("value")), None)
            return f"Parameters.parameter[{i}]" + (f".{value_key}" if value_key else "")
    return None


def _patient_paths(patient: dict[str, Any], ident: M.Identity) -> dict[str, str]:
    """FHIRPath, in the Patient, of the INS and the traits $ins-check compared with it."""
    out = {"gender": "Patient.gender", "birthDate": "Patient.birthDate"}
    for i, idf in enumerate(patient.get("identifier") or []):
        if (idf.get("system"), idf.get("value")) == (ident.ins_system, ident.ins):
            out["value"] = f"Patient.identifier[{i}].value"
            out["system"] = f"Patient.identifier[{i}].system"
            break
    for i, ext in enumerate(patient.get("extension") or []):
        if ext.get("url") == M.EXT_BIRTH_PLACE:
            out["birthplace"] = f"Patient.extension[{i}]"
            break
    return out


def _detail(text: str, patient: dict[str, Any] | None) -> str:
    """INSi's detail about a stored Patient, without the INS it holds unless the identity
    is qualified (the outgoing rule: a failed verification quotes the matricule)."""
    if patient is None or shares_ins(patient):
        return text
    return mask_matricules(text)


def _masked(text: str, value: str) -> str:
    """`text` without the matricule (or its 13 digits before the key) it may quote."""
    for part in (value, value[:13]):
        if len(part) >= 13:
            text = text.replace(part, "the matricule")
    return text


def ins_retrieve(call: OperationCall) -> dict[str, Any]:
    """INSi récupération by traits or by Carte Vitale data; on an instance, applied to it."""
    card = None
    if call.param("cardNir") or call.param("carte-vitale"):
        card = {
            "nir": _str(call, "cardNir", "carte-vitale") or "",
            "birthDate": _str(call, "birthDate", "birthdate") or "",
            "given": " ".join(_list(call, "given")) or None,
            "family": _str(call, "family"),
            "gender": _str(call, "gender"),
        }
    traits = None if card else _traits(call)
    if call.res_id is None and card is None and traits is None:
        raise bad_request(
            "$ins-retrieve needs traits (family, given, birthDate, gender) or "
            "Carte Vitale data (cardNir, birthDate)",
            code="required",
        )
    try:
        result, patient = service.retrieve(
            call.engine, call.ctx.tenant, pid=call.res_id, traits=traits, card=card, ctx=call.ctx
        )
    except FhirError as exc:  # the Patient's own traits INSi cannot read: its content (422)
        own = call.res_id is not None and traits is None and card is None
        if not own or exc.status != 400:
            raise
        raise _unverifiable(call.res_id or "", exc, "retrieved") from exc
    return _insi_parameters(result, patient)


def ins_verify(call: OperationCall) -> dict[str, Any]:
    """INSi vérification of an INS and traits; on an instance, of the Patient's own.

    Traits INSi cannot read are refused before any comparison (400 for the caller's;
    422 for a Patient's own, whose INS is then left as it is: no insi-fail)."""
    ins = _str(call, "ins", "value", "matricule")
    system = _ins_system(call, _str(call, "system"))
    traits = _traits(call)
    if call.res_id is None and (ins is None or traits is None):
        raise bad_request(
            "$ins-verify needs 'ins' and the traits (family, given, birthDate, gender)",
            code="required",
        )
    try:
        result, patient = service.verify(
            call.engine,
            call.ctx.tenant,
            pid=call.res_id,
            ins=ins,
            system=system,
            traits=traits,
            ctx=call.ctx,
        )
    except FhirError as exc:
        if call.res_id is None or exc.status != 400:
            raise
        raise _unverifiable(call.res_id, exc) from exc
    return _insi_parameters(result, patient)


def _ins_system(call: OperationCall, system: str | None) -> str | None:
    """The INS's OID: `system`, or that of an `ins` given as an Identifier (the INS is the
    matricule with its OID); the two disagreeing is a 400."""
    given = call.param("ins")
    own = given.get("system") if isinstance(given, dict) else None
    if own is not None and not isinstance(own, str):
        raise bad_request(f"ins.system must be text, not {own!r}", "ins")
    if own and system and own.removeprefix("urn:oid:") != system.removeprefix("urn:oid:"):
        raise bad_request(f"ins.system {own!r} disagrees with system {system!r}", "system")
    return system or own


def _unverifiable(pid: str, exc: FhirError, what: str = "verified") -> FhirError:
    """A stored Patient whose INS or traits INSi cannot read: the request was right, the
    content is not (422), and each issue names the Patient."""
    issues = [
        Issue(
            i.severity, i.code, f"Patient/{pid} cannot be {what}: {mask_matricules(i.diagnostics)}"
        )
        for i in exc.issues
    ]
    return FhirError(422, issues[0].code, issues[0].diagnostics, issues=issues)


def ins_validate(call: OperationCall) -> dict[str, Any]:
    """Record the check of an identity document (validationMode code, e.g. CN, PA).

    A missing or unknown `mode`, or a `date` that is not one, is a bad request (400); a
    known document that cannot validate (a driving licence…) is a business rule (422)."""
    mode = _str(call, "mode", "validationMode")
    if not mode:
        raise bad_request(
            "$ins-validate needs the identity document checked in 'mode' (one of "
            f"{', '.join(sorted(M.HIGH_TRUST_DOCUMENTS))})",
            _param_path(call, "mode", "validationMode"),
            code="required",
        )
    if mode not in M.VALIDATION_MODES:
        raise bad_request(
            f"mode {mode!r} is not an identity validation mode code (known: "
            f"{', '.join(sorted(M.VALIDATION_MODES))})",
            _param_path(call, "mode", "validationMode"),
        )
    on = _str(call, "date")
    if on is not None and not _is_date(on):
        raise bad_request(f"date {on!r} is not a date (YYYY-MM-DD)", _param_path(call, "date"))
    patient = service.apply_event(
        call.engine, call.ctx.tenant, call.res_id or "", S.DOCUMENT, ctx=call.ctx, mode=mode, on=on
    )
    return filter_resource(patient)


def _is_date(text: str) -> bool:
    """YYYY-MM-DD and real (fromisoformat alone also reads 20250102 and 2025-W01-1)."""
    if not _DATE.fullmatch(text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _param_path(call: OperationCall, *names: str) -> str | None:
    """The FHIRPath of the first of `names` the call has: its entry in the posted
    Parameters (``Parameters.parameter[2].valueString``), else ``http.name`` for a query
    parameter (FHIR's convention for HTTP parameters)."""
    posted = (call.body or {}).get("parameter") if call.body else None
    for name in names:
        if isinstance(posted, list) and (path := _posted_path(posted, name)):
            return path
        if name in call.params:
            return f"http.{name}"
    return None


def ins_invalidate(call: OperationCall) -> dict[str, Any]:
    """Send an identity back to provisoire (identity vigilance decision)."""
    pid = call.res_id or ""
    patient = service.apply_event(call.engine, call.ctx.tenant, pid, S.INVALIDATE, ctx=call.ctx)
    return filter_resource(patient)


def ins_attribute(call: OperationCall) -> dict[str, Any]:
    """Set (value=true) or clear (value=false) an identity attribute: DOUT, FICT or HOMA."""
    attribute = _str(call, "attribute")
    if not attribute:
        raise bad_request(
            f"$ins-attribute needs 'attribute' (one of {', '.join(sorted(M.ATTRIBUTES))})",
            code="required",
        )
    if attribute not in M.ATTRIBUTES:
        raise bad_request(
            f"attribute {attribute!r} is not one of {', '.join(sorted(M.ATTRIBUTES))}",
            _param_path(call, "attribute"),
        )
    # absent: true (sets the attribute, as callers of the first version expect)
    value = call.boolean("value", True, _param_path(call, "value"))
    patient = service.set_attribute(
        call.engine, call.ctx.tenant, call.res_id or "", attribute, value, ctx=call.ctx
    )
    return filter_resource(patient)


def _match_bundle(call: OperationCall, found: list[tuple[Any, dict]]) -> dict[str, Any]:
    entries = []
    for m, patient in found:
        entries.append(
            {
                "fullUrl": f"{call.ctx.base_url}/Patient/{m.patient_id}",
                "resource": filter_resource(patient),
                "search": {
                    "extension": [{"url": MATCH_GRADE, "valueCode": m.grade}],
                    "mode": "match",
                    "score": m.score,
                },
            }
        )
    return {"resourceType": "Bundle", "type": "searchset", "total": len(entries), "entry": entries}


def match(call: OperationCall) -> dict[str, Any]:
    """PDQm / FHIR $match: scored candidates for a Patient (onlyCertainMatches, count)."""
    if len(call.params.get("resource") or []) > 1:
        raise bad_request("$match takes one Patient in 'resource', not several", "resource")
    patient = call.resource_param()
    if not patient or patient.get("resourceType") != "Patient":  # ITI-119: a Patient
        raise bad_request("$match needs a Patient in the 'resource' parameter", "resource")
    _check_structure(call, patient)
    count = _count(call, 10, 100)
    only = call.boolean("onlyCertainMatches", False, _param_path(call, "onlyCertainMatches"))
    found = service.match(
        call.engine,
        call.ctx.tenant,
        patient,
        count=count,
        only_certain=only,
        ctx=call.ctx,
    )
    by_id = _local_id_matches(call.engine, call.ctx, patient)
    if by_id:  # certain, ahead of the scored ones (each Patient once)
        known = {m.patient_id for m, _ in by_id}
        found = [*by_id, *((m, p) for m, p in found if m.patient_id not in known)][:count]
    if only and len({M.read_identity(p).ins or p["id"] for _, p in found}) > 1:
        found = []  # ITI-119 Case 5: several certain matches not known to be one person
    return _match_bundle(call, found)


GENDERS = ("male", "female", "other", "unknown")  # administrative-gender (required)


def _check_structure(call: OperationCall, patient: dict[str, Any]) -> None:
    """The Patient to match must be a well-formed Patient (types, dates, its gender one
    of the required codes): 400 with the issues, before anything reads it."""
    errors = [
        i for i in call.engine.structural.validate(patient) if i.severity in ("error", "fatal")
    ]
    gender = patient.get("gender")
    if gender is not None and gender not in GENDERS:
        errors.append(
            Issue("error", "code-invalid", f"gender {gender!r} is not one of {GENDERS}", [])
        )
    if errors:
        raise FhirError(400, errors[0].code, errors[0].diagnostics, issues=errors)


def _local_id_matches(
    engine: FhirEngine, ctx: RequestContext, patient: dict[str, Any]
) -> list[tuple[Any, dict[str, Any]]]:
    """Active Patients carrying one of the query's local (non-INS) identifiers.

    The same identifier in the same assigning authority is the same record: a certain
    match, which the traits-only scoring (its INS aside) cannot see (FHIR $match, ITI-119
    "ID or Name"). The identifier of a merged record names its survivor, as in $ihe-pix."""
    from socle.ins.vigilance import CERTAIN, Match, replaced_by, survivor

    tokens = [
        f"{i['system']}|{i['value']}"
        for i in patient.get("identifier") or []
        if isinstance(i, dict) and i.get("system") and i.get("value")
        if i["system"] not in INS_SYSTEMS and i.get("use") != "old"
    ]
    if not tokens:
        return []
    guard = engine.guard.search_criteria(ctx, "Patient")
    out: dict[str, tuple[Any, dict[str, Any]]] = {}
    with engine.store.session(ctx.tenant) as s:
        for token in dict.fromkeys(tokens):
            pks = engine.search.find_pks(s, "Patient", [("identifier", token), *guard], limit=20)
            for stored in s.fetch_current(pks):
                if stored.content is None:
                    continue
                found = orjson.loads(stored.content)
                if replaced_by(found):  # a merged record: the patient is its survivor
                    end = s.read("Patient", survivor(engine, s, found["id"]))
                    found = orjson.loads(end.content) if end is not None and end.content else {}
                if (
                    found
                    and found.get("active", True) is not False
                    and engine.guard.visible(ctx, found)
                ):
                    match = Match(found["id"], 1.0, CERTAIN, {"identifier": 1.0})
                    out[found["id"]] = (match, found)
    return [out[pid] for pid in sorted(out)]


def ins_duplicates(call: OperationCall) -> dict[str, Any]:
    """Potential duplicates of one Patient, scored."""
    found = service.duplicates(call.engine, call.ctx.tenant, call.res_id or "", ctx=call.ctx)
    return _match_bundle(call, found)


def _source_identifier(call: OperationCall) -> tuple[str, str]:
    """`sourceIdentifier` as (system, value): a token ``system|value`` (GET), or an
    Identifier when it is posted in a Parameters (valueIdentifier)."""
    if len(call.params.get("sourceIdentifier") or []) > 1:
        raise bad_request("PIXm takes one sourceIdentifier, not several", "sourceIdentifier")
    raw = call.param("sourceIdentifier")
    if isinstance(raw, dict):  # valueIdentifier
        system, value = raw.get("system") or "", raw.get("value") or ""
        if not isinstance(system, str) or not isinstance(value, str):
            raise bad_request(
                "sourceIdentifier's system and value must be text", "sourceIdentifier"
            )
    else:
        system, _, value = str(raw or "").partition("|")
    if not system or not value:
        raise bad_request(
            "sourceIdentifier is required, as 'system|value' (the assigning authority and "
            "the identifier)",
            "sourceIdentifier",
        )
    return system, value


def ihe_pix(call: OperationCall) -> dict[str, Any]:
    """PIXm [ITI-83]: the other identifiers of the patient known by `sourceIdentifier`.

    Failures as ITI-83 2:3.83.4.2.2.2-4 says: an identifier domain the Manager does not
    know is 400 ``code-invalid`` (source) or 403 ``code-invalid`` (target), a known
    domain without that identifier is 404 ``not-found``. The source may also be the
    Patient's logical id (``[base]|Patient/[id]``)."""
    src_system, src_value = _source_identifier(call)
    # a logical-id source ([base]|Patient/[id]) is not answered with itself (ITI-83)
    own = src_value.removeprefix("Patient/") if src_system == call.ctx.base_url.rstrip("/") else ""
    # repeated, or comma-separated as in a query string
    targets = {t.strip() for v in _list(call, "targetSystem") for t in v.split(",") if t.strip()}
    patients = _pix_patients(call.engine, call.ctx, src_system, src_value, targets)
    params: list[dict[str, Any]] = []
    for patient in patients:
        shown = filter_resource(patient)
        for idf in shown.get("identifier") or []:
            if (idf.get("system"), idf.get("value")) == (src_system, src_value):
                continue
            if targets and idf.get("system") not in targets:
                continue
            params.append({"name": "targetIdentifier", "valueIdentifier": idf})
        if patient.get("active", True) is not False and patient["id"] != own:
            params.append(
                {"name": "targetId", "valueReference": {"reference": f"Patient/{patient['id']}"}}
            )
    return {"resourceType": "Parameters", "parameter": params}


def _known_domain(engine: FhirEngine, s: Any, system: str, base_url: str) -> bool:
    """An identifier domain the Manager knows: the INS ones, Socle's IPP, its own Patient
    logical ids (`base_url`), or one some Patient of the tenant has an identifier in."""
    if system in INS_SYSTEMS or system in (M.LOCAL_ID_SYSTEM, base_url):
        return True
    return bool(engine.search.find_pks(s, "Patient", [("identifier", f"{system}|")], limit=1))


def _pix_patients(
    engine: FhirEngine,
    ctx: RequestContext,
    system: str,
    value: str,
    targets: Collection[str] = (),
) -> list[dict[str, Any]]:
    """The Patients carrying `system|value` and, for a merged one, its survivor, as far as
    the caller may search and see them (one read-only transaction; each one read once).

    Raises the ITI-83 failures: unknown source domain (400), unknown target domain (403),
    identifier not found (404)."""
    from socle.ins.vigilance import replaced_by, survivor

    base = ctx.base_url.rstrip("/")
    with engine.store.session(ctx.tenant) as s:
        if not _known_domain(engine, s, system, base):
            raise FhirError(400, "code-invalid", "sourceIdentifier Assigning Authority not found")
        unknown = sorted(t for t in targets if not _known_domain(engine, s, t, base))
        if unknown:  # the diagnostics ITI-83 asks for; the domains in `expression`
            raise FhirError(
                403,
                "code-invalid",
                "targetSystem not found",
                [f"targetSystem={t}" for t in unknown],
            )
        found: dict[str, dict[str, Any]] = {}
        if system == base:  # the logical id of a Patient of this server
            pid = value.removeprefix("Patient/")
            stored = s.read("Patient", pid) if "/" not in pid else None
            if stored is not None and stored.content is not None:
                patient = orjson.loads(stored.content)
                criteria = engine.guard.search_criteria(ctx, "Patient")
                if not criteria or engine.search.find_pks(
                    s, "Patient", [("_id", pid), *criteria], limit=1
                ):
                    found[pid] = patient
        else:
            criteria = [
                ("identifier", f"{_escaped(system)}|{_escaped(value)}"),  # one identifier
                *engine.guard.search_criteria(ctx, "Patient"),
            ]
            pks = engine.search.find_pks(s, "Patient", criteria, limit=10)
            for stored in s.fetch_current(pks):
                if stored.content is not None:
                    patient = orjson.loads(stored.content)
                    # an INS identifies a patient only as the current INS of a qualified
                    # identity (RNIV): not a former one (use old), not a non-qualified one
                    if system not in INS_SYSTEMS or _current_ins(patient, value):
                        found[patient["id"]] = patient
        # a merged identity's survivor, followed from the replaced-by link already read
        ends = [survivor(engine, s, nxt) for p in found.values() if (nxt := replaced_by(p))]
        shown = {pid: p for pid, p in found.items() if engine.guard.visible(ctx, p)}
        others = [pid for pid in ends if pid not in found]
        shown.update(service.visible_patients(engine, s, ctx, others))
        _one_patient(shown, [e for e in ends if e in shown])  # among what the caller sees
    if not shown:
        raise FhirError(404, "not-found", "sourceIdentifier Patient Identifier not found")
    return list(shown.values())


def _current_ins(patient: dict[str, Any], value: str) -> bool:
    """`value` is the current INS of this Patient, whose identity is qualified."""
    try:
        ident = M.read_identity(patient)
    except FhirError:  # a reliability extension that cannot be read: not qualified
        return False
    return ident.status == M.QUAL and clean_nir(ident.ins) == clean_nir(value)


def _escaped(text: str) -> str:
    """A token part as FHIR search reads it literally (`\\`, `,`, `$`, `|` escaped): a
    comma in an identifier is not a list of identifiers."""
    for char in ("\\", ",", "$", "|"):
        text = text.replace(char, "\\" + char)
    return text


def _one_patient(found: dict[str, dict[str, Any]], ends: list[str]) -> None:
    """A source identifier names one patient (merged records count as their survivor):
    one on several active identities (an INS collision under review) is a 409."""
    from socle.ins.vigilance import replaced_by

    people = set(ends) | {pid for pid, p in found.items() if not replaced_by(p)}
    if len(people) > 1:
        raise FhirError(
            409,
            "conflict",
            "sourceIdentifier names several patients (an identity collision awaiting the "
            "identity vigilance cell's decision)",
        )


def ins_worklist(call: OperationCall) -> dict[str, Any]:
    """The identity vigilance worklist: collisions, potential duplicates, attributes…"""
    limit = _count(call, 100, 1000)
    items = service.worklist(call.engine, call.ctx.tenant, limit=limit, ctx=call.ctx)
    params = []
    for item in items:
        parts: list[dict[str, Any]] = [
            {"name": "kind", "valueCode": item["kind"]},
            {"name": "score", "valueDecimal": item["score"]},
        ]
        for pid in item["patients"]:
            parts.append({"name": "patient", "valueReference": {"reference": f"Patient/{pid}"}})
        for key in ("ins", "grade", "attributes"):
            if item.get(key):
                parts.append({"name": key, "valueString": str(item[key])})
        params.append({"name": "item", "part": parts})
    return {"resourceType": "Parameters", "parameter": params}


def _ref_id(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("reference") or value.get("value") or ""
    return str(value or "").split("/_history")[0].split("/")[-1]


def ins_merge(call: OperationCall) -> dict[str, Any]:
    """Merge source-patient (a duplicate) into target-patient (the surviving identity)."""
    source = _ref_id(call.param("source-patient"))
    target = _ref_id(call.param("target-patient"))
    if not source or not target:
        raise bad_request("$ins-merge needs source-patient and target-patient")
    out = service.merge(call.engine, call.ctx.tenant, source, target, ctx=call.ctx)
    return _summary(out)


def ins_unmerge(call: OperationCall) -> dict[str, Any]:
    """Undo the merge of this (replaced) Patient."""
    return _summary(service.unmerge(call.engine, call.ctx.tenant, call.res_id or "", ctx=call.ctx))


def _summary(out: dict[str, Any]) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {"name": "source", "valueReference": {"reference": f"Patient/{out['source']}"}},
        {"name": "target", "valueReference": {"reference": f"Patient/{out['target']}"}},
    ]
    for ref in out.get("repointed", []) + out.get("restored", []):
        params.append({"name": "updated", "valueReference": {"reference": ref}})
    return {"resourceType": "Parameters", "parameter": params}


def register(engine: FhirEngine) -> None:
    op = engine.operations.operation
    p = ("Patient",)
    op("ins-check", levels=(TYPE, INSTANCE), resource_types=p)(ins_check)
    op("ins-retrieve", levels=(TYPE, INSTANCE), resource_types=p, affects_state=True)(ins_retrieve)
    op("ins-verify", levels=(TYPE, INSTANCE), resource_types=p, affects_state=True)(ins_verify)
    op("ins-validate", levels=(INSTANCE,), resource_types=p, affects_state=True)(ins_validate)
    op("ins-invalidate", levels=(INSTANCE,), resource_types=p, affects_state=True)(ins_invalidate)
    op("ins-attribute", levels=(INSTANCE,), resource_types=p, affects_state=True)(ins_attribute)
    op("match", levels=(TYPE,), resource_types=p)(match)
    op("ins-duplicates", levels=(INSTANCE,), resource_types=p)(ins_duplicates)
    op("ihe-pix", levels=(TYPE,), resource_types=p)(ihe_pix)
    op("ins-worklist", levels=(TYPE,), resource_types=p)(ins_worklist)
    op("ins-merge", levels=(TYPE,), resource_types=p, affects_state=True)(ins_merge)
    op("ins-unmerge", levels=(INSTANCE,), resource_types=p, affects_state=True)(ins_unmerge)
