"""HL7 v2 PAM (IHE PAM, French national extension) patient identity feed.

Parsing uses the `hl7` package (python-hl7). Handled events: ADT A28 (create person),
A31 (update person), A08 (update patient information), A01/A04 (admission, registration)
and A03 (discharge) — which create or update the Patient — A40 (merge: MRG-1 into PID-3)
and A47 (change of identifier: MRG-1 replaced by PID-3).

Mapping (PAM FR):

* PID-3 identifiers: ``value^^^namespace&OID&ISO^type``; type ``PI`` is the local
  identifier (IPP) that keys the Patient, type ``INS`` (or an INS OID) the INS matricule;
* PID-5 names: type ``L`` birth name (5.1) and first names (5.2 first one, 5.3 the
  others, space-separated); type ``D`` used name and first name;
* PID-7 birth date, PID-8 sex (M, F, U, O);
* PID-11 with address type ``BDL``: the birthplace INSEE code in 11.9;
* PID-32 identity reliability: PROV, RECUP, VALI, QUAL and the attributes DOUT/DOUTE,
  FICT/FICTI (repetitions).

Character sets (MSH-18): ``8859/1`` (ISO-8859-1) or ``UNICODE UTF-8``; without MSH-18,
UTF-8 is tried, then ISO-8859-1. The ACK is encoded like the message it answers.

Nothing is stored when a message is refused: one message is one database transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import hl7

from socle.fhir.context import RequestContext
from socle.fhir.errors import FhirError
from socle.ins import index as X
from socle.ins import model as M
from socle.ins import normalize as N
from socle.ins import service
from socle.ins import status as S
from socle.ins import vigilance as V
from socle.ins.nir import INS_OIDS

if TYPE_CHECKING:
    from socle.fhir.engine import FhirEngine

PATIENT_EVENTS = {"A28", "A31", "A08", "A01", "A03", "A04"}
HANDLED = PATIENT_EVENTS | {"A40", "A47"}
CHARSETS = {
    "8859/1": "iso-8859-1",
    "UNICODE UTF-8": "utf-8",
    "UTF-8": "utf-8",
    "ASCII": "ascii",
    "": "utf-8",
}
STATUS_CODES = {"PROV": M.PROV, "RECUP": M.RECUP, "VALI": M.VALI, "QUAL": M.QUAL}
ATTRIBUTE_CODES = {
    "DOUT": M.DOUT,
    "DOUTE": M.DOUT,
    "FICT": M.FICT,
    "FICTI": M.FICT,
    "HOMA": M.HOMA,
    "HOMON": M.HOMA,
}


class Hl7Error(Exception):
    """A refused message: ACK code (AE/AR), HL7 table 0357 error code, text, location."""

    def __init__(self, ack: str, code: str, text: str, location: str = "") -> None:
        super().__init__(text)
        self.ack, self.code, self.text, self.location = ack, code, text, location


ERROR_TEXT = {
    "100": "Segment sequence error",
    "101": "Required field missing",
    "102": "Data type error",
    "103": "Table value not found",
    "200": "Unsupported message type",
    "201": "Unsupported event code",
    "204": "Unknown key identifier",
    "207": "Application internal error",
}


@dataclass(slots=True)
class Outcome:
    ack: bytes
    accepted: bool
    message: Any = None


def charset_of(raw: bytes) -> str:
    """The Python codec named by MSH-18 (read on the raw bytes: MSH is plain ASCII)."""
    head = raw.split(b"\r", 1)[0].split(b"\n", 1)[0]
    if not head.startswith(b"MSH") or len(head) < 4:
        return "utf-8"
    sep = head[3:4]
    fields = head.split(sep)
    declared = fields[17].decode("ascii", "replace").strip() if len(fields) > 17 else ""
    if not declared:
        return "utf-8"
    return CHARSETS.get(declared.upper(), "unknown:" + declared)


def decode(raw: bytes) -> tuple[str, str]:
    codec = charset_of(raw)
    if codec.startswith("unknown:"):
        raise Hl7Error("AR", "103", f"Unsupported character set {codec[8:]!r} in MSH-18", "MSH-18")
    try:
        return raw.decode(codec), codec
    except UnicodeDecodeError:
        if codec == "utf-8" and b"\r" in raw:
            return raw.decode("iso-8859-1"), "iso-8859-1"
        raise Hl7Error("AR", "102", f"The message is not valid {codec}", "MSH-18") from None


def _s(value: Any) -> str:
    return str(value).strip() if value is not None else ""


def _component(field: Any, *path: int) -> str:
    """1-based component/subcomponent of a field (python-hl7 containers), '' if absent."""
    try:
        current = field
        for p in path:
            if isinstance(current, str):
                return current if p == 1 else ""
            if len(current) < p:
                return ""
            current = current[p - 1]
        return _s(current)
    except (IndexError, TypeError):
        return ""


def _repetitions(field: Any) -> list[Any]:
    if field is None or _s(field) == "":
        return []
    if isinstance(field, hl7.Field) and field and isinstance(field[0], hl7.Repetition):
        return list(field)
    return [field]


def _field(segment: Any, n: int) -> Any:
    return segment[n] if len(segment) > n else None


def parse(text: str) -> Any:
    segments = [s for s in re.split(r"\r\n|\r|\n", text) if s.strip()]
    if not segments or not segments[0].startswith("MSH") or len(segments[0]) < 8:
        raise Hl7Error("AR", "100", "The message does not start with a valid MSH segment", "MSH")
    for i, seg in enumerate(segments):
        if not re.fullmatch(r"[A-Z][A-Z0-9]{2}", seg[:3]):
            raise Hl7Error("AR", "100", f"Segment {i + 1} has no valid segment name", seg[:3])
    try:
        return hl7.parse("\r".join(segments))
    except Exception as exc:  # noqa: BLE001 - any parser failure is a malformed message
        raise Hl7Error("AR", "102", f"Malformed HL7 message: {exc}", "MSH") from exc


def _msh(msg: Any) -> Any:
    return msg.segment("MSH")


def _trigger(msg: Any) -> tuple[str, str]:
    msh9 = _field(_msh(msg), 9)
    return _component(msh9, 1, 1) or _component(msh9, 1), _component(msh9, 1, 2)


def _segment(msg: Any, name: str, required: bool = True) -> Any:
    try:
        return msg.segment(name)
    except KeyError:
        if required:
            raise Hl7Error("AR", "100", f"Missing {name} segment", name) from None
        return None


def _system_of(authority: Any) -> tuple[str, str]:
    namespace = _component(authority, 1) if not isinstance(authority, str) else authority
    oid = _component(authority, 2) if not isinstance(authority, str) else ""
    if oid:
        return f"urn:oid:{oid}", oid
    return (f"{M.SOCLE}/sid/{namespace}" if namespace else M.LOCAL_ID_SYSTEM), ""


def _cx_list(field: Any) -> list[tuple[str, str, str, str]]:
    """(value, system, oid, type) of each CX repetition."""
    out = []
    for rep in _repetitions(field):
        value = _component(rep, 1)
        authority = rep[3] if not isinstance(rep, str) and len(rep) > 3 else ""
        system, oid = _system_of(authority)
        kind = _component(rep, 5)
        if value:
            out.append((value, system, oid, kind))
    return out


def _hl7_date(text: str, where: str) -> str:
    digits = text[:8]
    if not digits:
        return ""
    if not re.fullmatch(r"\d{8}", digits):
        raise Hl7Error("AE", "102", f"{where}: {text!r} is not a date (YYYYMMDD)", where)
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:8])).isoformat()
    except ValueError:
        raise Hl7Error("AE", "102", f"{where}: {text} is an impossible date", where) from None


def identity_from_pid(pid: Any, base: M.Identity | None = None) -> tuple[M.Identity, list]:
    """The Identity carried by a PID segment, and the local identifiers (system, value)."""
    ident = base or M.Identity()
    locals_: list[tuple[str, str]] = []
    ins_found = None
    for value, system, oid, kind in _cx_list(_field(pid, 3)):
        if oid in INS_OIDS or kind.upper().startswith("INS"):
            oid = oid or "1.2.250.1.213.1.4.8"
            ins_found = (value, f"urn:oid:{oid}")
        else:
            locals_.append((system, value))
    if ins_found:
        ident.ins, ident.ins_system = ins_found
    for rep in _repetitions(_field(pid, 5)):
        kind = _component(rep, 7) or "L"
        family, first, others = (
            _component(rep, 1, 1) or _component(rep, 1),
            _component(rep, 2),
            _component(rep, 3),
        )
        if kind == "L":
            ident.birth_family = N.trait(family)
            ident.given = N.given_list(" ".join(x for x in (first, others.replace(",", " ")) if x))
        elif kind == "D":
            ident.used_family = N.trait(family)
            ident.used_given = N.trait(first)
    birth = _s(_field(pid, 7))
    if birth:
        ident.birth_date = _hl7_date(birth, "PID-7")
    sex = _s(_field(pid, 8))
    if sex:
        if sex not in M.GENDER_OF_SEX:
            raise Hl7Error("AE", "103", f"PID-8: unknown sex {sex!r} (M, F, U, O)", "PID-8")
        ident.sex = M.GENDER_OF_SEX[sex]
    for rep in _repetitions(_field(pid, 11)):
        if _component(rep, 7) == "BDL" and _component(rep, 9):
            ident.birthplace = _component(rep, 9).upper()
    codes = [_component(rep, 1) for rep in _repetitions(_field(pid, 32))]
    for code in codes:
        if code in STATUS_CODES:
            ident.status = STATUS_CODES[code]
        elif code in ATTRIBUTE_CODES:
            ident.attributes.add(ATTRIBUTE_CODES[code])
        elif code:
            raise Hl7Error(
                "AE", "103", f"PID-32: unknown identity reliability code {code!r}", "PID-32"
            )
    if ident.status in (M.RECUP, M.QUAL) and ident.ins:
        ident.method = ident.method or "INSI"
        ident.collection_date = ident.collection_date or date.today().isoformat()
    return ident, locals_


def _find(engine: FhirEngine, s: Any, ids: list[tuple[str, str]]) -> str | None:
    for system, value in ids:
        pks = engine.search.find_pks(s, "Patient", [("identifier", f"{system}|{value}")])
        found = s.fetch_current(pks)
        if found:
            return found[0].res_id
    return None


def _upsert(engine: FhirEngine, s: Any, ctx: RequestContext, pid_seg: Any, who: str) -> str:
    ident, locals_ = identity_from_pid(pid_seg)
    if not locals_:
        raise Hl7Error("AE", "101", "PID-3 has no local identifier (type PI)", "PID-3")
    missing = ident.missing_traits(birthplace=False)
    if not ident.birth_family or not ident.birth_date or not ident.sex:
        raise Hl7Error("AE", "101", "Missing mandatory trait(s): " + "; ".join(missing), "PID-5")
    existing = _find(engine, s, locals_)
    old_patient = engine.crud.read(s, "Patient", existing).resource if existing else None
    old = M.read_identity(old_patient) if old_patient and M.is_managed(old_patient) else None
    try:
        checked, event = S.check_direct_write(None, ident)
    except FhirError as exc:
        raise Hl7Error("AE", "207", exc.issues[0].diagnostics, "PID") from exc
    transitions = []
    if old is not None and old.status != checked.status:
        transitions.append(S.Transition("feed", old.status, checked.status, who))
    base = old_patient or {"resourceType": "Patient"}
    identifiers = [
        i
        for i in base.get("identifier") or []
        if i.get("system") not in {sys for sys, _ in locals_}
    ]
    identifiers += [
        {
            "use": "usual",
            "type": {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "PI"}
                ]
            },
            "system": sys,
            "value": val,
        }
        for sys, val in locals_
    ]
    patient = M.write_identity({**base, "identifier": identifiers}, checked)
    patient.setdefault("active", True)
    if existing:
        patient["id"] = existing
        service.write_patient(engine, s, ctx, existing, patient, transitions, who)
        return existing
    result = engine.crud.create(s, ctx, "Patient", patient)
    X.mark_synced(s, result.res_id, result.version, result.resource or patient)
    return result.res_id


def handle(engine: FhirEngine, tenant: str, raw: bytes) -> Outcome:
    """Process one message; always returns an ACK (AA, AE or AR) in the message's charset."""
    codec = "utf-8"
    msg = None
    try:
        text, codec = decode(raw)
        msg = parse(text)
        kind, event = _trigger(msg)
        if kind != "ADT":
            raise Hl7Error("AR", "200", f"Unsupported message type {kind!r}", "MSH-9")
        if event not in HANDLED:
            raise Hl7Error("AR", "201", f"Unsupported event {event!r}", "MSH-9")
        who = f"HL7 {_component(_field(_msh(msg), 3), 1)}/{_component(_field(_msh(msg), 4), 1)}"
        ctx = service.op_context(RequestContext(tenant=tenant), tenant)
        with engine.store.session(tenant, write=True) as s:
            pid = _segment(msg, "PID")
            if event in PATIENT_EVENTS:
                _upsert(engine, s, ctx, pid, who)
            elif event == "A40":
                mrg = _segment(msg, "MRG")
                _, target_ids = identity_from_pid(pid)
                source_ids = [
                    (sys, v)
                    for v, sys, _, kind in _cx_list(_field(mrg, 1))
                    if not kind.upper().startswith("INS")
                ]
                target, source = _find(engine, s, target_ids), _find(engine, s, source_ids)
                if not target or not source:
                    raise Hl7Error(
                        "AE",
                        "204",
                        f"A40: unknown patient in {'PID-3' if not target else 'MRG-1'}",
                        "MRG-1",
                    )
                X.sync(engine, s)
                try:
                    V.merge(engine, s, ctx, source, target)
                except FhirError as exc:
                    raise Hl7Error("AE", "207", exc.issues[0].diagnostics, "MRG-1") from exc
            else:  # A47: MRG-1 identifier replaced by the PID-3 one
                mrg = _segment(msg, "MRG")
                _, new_ids = identity_from_pid(pid)
                old_ids = [(sys, v) for v, sys, _, _ in _cx_list(_field(mrg, 1))]
                found = _find(engine, s, old_ids)
                if not found:
                    raise Hl7Error("AE", "204", "A47: unknown identifier in MRG-1", "MRG-1")
                patient = engine.crud.read(s, "Patient", found).resource or {}
                olds = set(old_ids)
                kept = [
                    i
                    for i in patient.get("identifier") or []
                    if (i.get("system"), i.get("value")) not in olds
                ]
                kept += [{"use": "usual", "system": sys, "value": v} for sys, v in new_ids]
                service.write_patient(
                    engine, s, ctx, found, {**patient, "identifier": kept}, [], who
                )
        return Outcome(ack(msg, "AA", codec=codec), True, msg)
    except Hl7Error as exc:
        return Outcome(ack(msg, exc.ack, exc, codec), False, msg)
    except FhirError as exc:
        err = Hl7Error("AE", "207", exc.issues[0].diagnostics, "PID")
        return Outcome(ack(msg, "AE", err, codec), False, msg)


def _esc(text: str) -> str:
    return (
        text.replace("\\", "\\E\\")
        .replace("|", "\\F\\")
        .replace("^", "\\S\\")
        .replace("&", "\\T\\")
        .replace("~", "\\R\\")
        .replace("\r", " ")
        .replace("\n", " ")
    )


def ack(msg: Any, code: str, error: Hl7Error | None = None, codec: str = "utf-8") -> bytes:
    """ACK (AA) or NAK (AE/AR with an ERR segment) answering `msg` (None if unreadable)."""
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    if msg is not None:
        msh = _msh(msg)
        app, fac = _s(_field(msh, 3)), _s(_field(msh, 4))
        control, version = _s(_field(msh, 10)), _s(_field(msh, 12)) or "2.5"
        charset = _s(_field(msh, 18))
        trigger = _trigger(msg)[1]
    else:
        app = fac = control = trigger = charset = ""
        version = "2.5"
    segments = [
        f"MSH|^~\\&|SOCLE|SOCLE|{app}|{fac}|{stamp}||ACK^{trigger}^ACK|ACK{control or stamp}|P|"
        f"{version}||||||{charset}",
        f"MSA|{code}|{control}" + (f"|{_esc(error.text)[:80]}" if error else ""),
    ]
    if error is not None:
        label = ERROR_TEXT.get(error.code, "Error")
        location = error.location.replace("-", "^^") if error.location else ""
        segments.append(f"ERR||{location}|{error.code}^{label}^HL70357|E||||{_esc(error.text)}")
    text = "\r".join(segments) + "\r"
    return text.encode(
        codec if codec in ("iso-8859-1", "utf-8", "ascii") else "utf-8", errors="replace"
    )
