"""HL7 v2 PAM (IHE PAM, French national extension) patient identity feed.

Parsing uses the `hl7` package (python-hl7). Handled events: ADT A28 (create person),
A31 (update person), A08 (update patient information), A01/A04 (admission, registration)
and A03 (discharge) — which create or update the Patient — A40 (merge: MRG-1 into PID-3)
and A47 (change of identifier: MRG-1 replaced by PID-3).

Mapping (PAM FR):

* PID-3 identifiers: ``value^^^namespace&OID&ISO^type``; type ``PI`` is the local
  identifier (IPP) that keys the Patient, type ``INS`` (or an INS OID) the INS matricule;
  the withdrawn INS-C and the other types (NH, AN…) are ignored;
* PID-5 names: type ``L`` birth name (5.1) and first names (5.2 the first one, 5.3 the
  space-separated list of all of them — or, from older senders, of the others); type
  ``D`` used name and first name;
* PID-7 birth date (partial dates kept), PID-8 sex (M, F, U, O, A, N);
* PID-11 with address type ``BDL``: the birthplace INSEE code in 11.9; the other
  addresses, PID-13 telecom and PID-29/30 death as Patient elements (`_demographics`);
* PID-32 identity reliability: VIDE/PROV, RECUP, VALI, QUAL and the attributes
  DOUT/DOUTE, FICT/FICTI (repetitions); the table's other codes are accepted, unused.

Character sets (MSH-18): ``8859/1`` (ISO-8859-1), ``8859/15`` (Latin-9) or ``UNICODE
UTF-8``; without MSH-18, UTF-8 is tried, then ISO-8859-1. The ACK is encoded like the
message it answers.

Nothing is stored when a message is refused: a message is stored in one database
transaction with its audit entry, alone or beside other senders' messages that arrived
at the same time (`groupcommit.py`: a batch with a refused message is undone and its
messages stored one by one).
"""

from __future__ import annotations

import functools
import logging
import os
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from typing import TYPE_CHECKING, Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import hl7

from socle.fhir.context import RequestContext
from socle.fhir.datetime import default_timezone
from socle.fhir.errors import FhirError
from socle.fhir.storage.store import WriteConflict
from socle.ins import audit, service
from socle.ins import encounter as E
from socle.ins import index as X
from socle.ins import model as M
from socle.ins import normalize as N
from socle.ins import status as S
from socle.ins import vigilance as V
from socle.ins.contexts import server_context
from socle.ins.nir import INS_OIDS, OID_NIA, OID_NIR
from socle.ins.nir import clean as clean_nir

if TYPE_CHECKING:
    from socle.fhir.engine import FhirEngine

log = logging.getLogger("socle.ins.hl7")
PATIENT_EVENTS = {"A28", "A31", "A08", "A01", "A03", "A04"}
VISIT_EVENTS = {"A01", "A03", "A04"}  # also create or update the Encounter (PV1)
CONFLICT_RETRIES = 3
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
HANDLED = PATIENT_EVENTS | {"A40", "A47"}
CHARSETS = {
    "8859/1": "iso-8859-1",
    "8859/15": "iso-8859-15",  # HL7 v2.5 table 0211 (Latin-9: €, Œ, œ), sent by French GAMs
    "UNICODE UTF-8": "utf-8",
    "UTF-8": "utf-8",
    "ASCII": "ascii",
    "": "utf-8",
}
_CODECS = frozenset(CHARSETS.values())  # an ACK is written in the message's own charset
# PID-8, HL7 table 0001 (v2.5 adds A ambiguous and N not applicable) -> FHIR gender
SEX_CODES = {**M.GENDER_OF_SEX, "A": "other", "N": "unknown"}
# PID-32, HL7 table 0445 as France extends it (PAM FR; FR Core CodeSystem v2-0445).
# VIDE ("identité non encore qualifiée") is the provisional status of older senders.
STATUS_CODES = {"PROV": M.PROV, "VIDE": M.PROV, "RECUP": M.RECUP, "VALI": M.VALI, "QUAL": M.QUAL}
# The table's other codes (duplicates, collisions, hidden identity…) are valid values that
# say nothing about the RNIV status: accepted and not stored (table 0445 is not refused).
OTHER_0445_CODES = frozenset(
    {"DOUB", "DESA", "DPOT", "DOUA", "COLP", "COLV", "FILI", "CACH", "ANOM", "IDVER"}
    | {"RECD", "IDRA", "USUR", "HOMD", "INVA"}
)
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


NULL = '""'  # HL7's explicit null ("delete this value"): the same as an absent value here


ERROR_TEXT = {
    "100": "Segment sequence error",
    "101": "Required field missing",
    "102": "Data type error",
    "103": "Table value not found",
    "200": "Unsupported message type",
    "201": "Unsupported event code",
    "202": "Unsupported processing id",
    "203": "Unsupported version id",
    "204": "Unknown key identifier",
    "205": "Duplicate key identifier",
    "206": "Application record locked",
    "207": "Application internal error",
}


@dataclass(slots=True, frozen=True)
class Header:
    """What the feed, its ACK and its audit entry read of a message's MSH: read once."""

    application: str  # MSH-3 as sent (an HD: namespace^OID^ISO)
    facility: str  # MSH-4 as sent
    receiver: str  # MSH-5 as sent (the ACK's sender)
    receiver_facility: str  # MSH-6 as sent
    message_type: str  # MSH-9 as sent (ADT^A31^ADT_A05)
    kind: str  # MSH-9.1
    event: str  # MSH-9.2
    control: str  # MSH-10
    processing: str  # MSH-11 (P production, T training, D debugging)
    version: str  # MSH-12 as sent (a VID: 2.5^FRA^2.11)
    charset: str  # MSH-18
    segment: str  # the MSH segment as received

    @property
    def application_name(self) -> str:
        return self.application.split("^")[0]

    @property
    def facility_name(self) -> str:
        return self.facility.split("^")[0]


@dataclass(slots=True)
class Outcome:
    """The answer to one message, and what the audit trail needs to know about it."""

    ack: bytes
    accepted: bool
    message: Any = None
    error: Hl7Error | None = None
    written: list[str] = field(default_factory=list)  # Patient/…, Encounter/… (AA only)
    header: Header | None = None


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
    raw = raw.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte order mark some senders add
    codec = charset_of(raw)
    if codec.startswith("unknown:"):
        raise Hl7Error("AE", "103", f"Unsupported character set {codec[8:]!r} in MSH-18", "MSH-18")
    try:
        return raw.decode(codec), codec
    except UnicodeDecodeError:
        if codec == "utf-8" and b"\r" in raw:
            return raw.decode("iso-8859-1"), "iso-8859-1"
        raise Hl7Error("AE", "102", f"The message is not valid {codec}", "MSH-18") from None


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


_SEGMENT_NAME = re.compile(r"[A-Z][A-Z0-9]{2}")
_LINES = re.compile(r"\r\n|\r|\n")
# Segments the feed reads; the others (PD1, NK1, PV2, ZBE, OBX, IN1…) are checked for a
# valid name but not parsed: a PAM message carries many, and parsing is most of its cost.
READ_SEGMENTS = frozenset({"MSH", "EVN", "PID", "PV1", "MRG"})
# Repetitions a read segment may carry in all (names, identifiers, addresses…): far more
# than any patient has, and a bound on the work a message can ask for.
MAX_REPETITIONS = 200


def segments_of(text: str) -> list[str]:
    """The message's segments. HL7 ends a segment with <CR> alone (<CR><LF> is taken as
    one end), so a line feed inside a field is data, not the start of a segment; only a
    message without any <CR> (a file written with Unix line ends) is split on line
    feeds."""
    if "\r" not in text:
        return [seg for seg in text.split("\n") if seg.strip()]
    return [seg.lstrip("\n") for seg in text.split("\r") if seg.strip()]


def parse(text: str) -> tuple[Any, Header]:
    """The message's segments that the feed reads, parsed, and its header (AE when it is
    not an HL7 message, or not one message)."""
    segments = segments_of(text)
    if not segments or not segments[0].startswith("MSH") or len(segments[0]) < 8:
        raise Hl7Error("AE", "100", "The message does not start with a valid MSH segment", "MSH")
    repetition = segments[0][5]
    for i, seg in enumerate(segments):
        if not _SEGMENT_NAME.fullmatch(seg[:3]):
            raise Hl7Error("AE", "100", f"Segment {i + 1} has no valid segment name", seg[:3])
        if i and seg[:3] == "MSH":
            raise Hl7Error(
                "AE",
                "100",
                f"Segment {i + 1} starts a second message: an MLLP block carries one message "
                "(send each in its own block, or as a batch to a batch receiver)",
                "MSH",
            )
        if seg[:3] in READ_SEGMENTS and seg.count(repetition) > MAX_REPETITIONS:
            raise Hl7Error(
                "AE", "102", f"{seg[:3]}: more than {MAX_REPETITIONS} repetitions", seg[:3]
            )
    try:
        msg = hl7.parse("\r".join(s for s in segments if s[:3] in READ_SEGMENTS))
    except Exception as exc:  # noqa: BLE001 - any parser failure is a malformed message
        reason = str(exc) or type(exc).__name__
        raise Hl7Error("AE", "102", f"Malformed HL7 message: {reason}", "MSH") from exc
    return msg, _header(_msh(msg), segments[0])


def readable_header(raw: bytes) -> Header | None:
    """The MSH of a message refused before it could be parsed (bad charset, bad segment),
    read on its own (MSH is plain ASCII): its NAK still echoes MSH-10 in MSA-2 and
    answers the sender, as HL7 requires once the header is readable. None if it is not."""
    first = _LINES.split(raw.removeprefix(b"\xef\xbb\xbf").decode("iso-8859-1"), 1)[0]
    if not first.startswith("MSH") or len(first) < 8:
        return None
    try:
        return _header(_msh(hl7.parse(first)), first)
    except Exception:  # noqa: BLE001 - an unreadable MSH: the NAK names no message
        return None


_VERSION = re.compile(r"2\.[1-9](\.\d+)?")  # HL7 v2.x: 2.3.1, 2.5, 2.5.1, 2.6…
PROCESSING_IDS = frozenset({"P", "T", "D"})  # HL7 table 0103


def check_header(header: Header) -> None:
    """MSH fields every message must carry right: control ID (AE), processing ID, version,
    then an ADT event the feed handles (AR: the header is not accepted)."""
    if not header.control:
        raise Hl7Error("AE", "101", "MSH-10 (message control ID) is missing", "MSH-10")
    processing = header.processing.split("^")[0]
    if processing and processing not in PROCESSING_IDS:
        raise Hl7Error("AR", "202", f"Unsupported processing ID {processing!r} (P, T, D)", "MSH-11")
    version = header.version.split("^")[0]
    if not version:
        raise Hl7Error("AR", "101", "MSH-12 (version ID) is missing", "MSH-12")
    if not _VERSION.fullmatch(version):
        raise Hl7Error("AR", "203", f"Unsupported version ID {version!r} (HL7 v2.x)", "MSH-12")
    if header.kind != "ADT":
        raise Hl7Error("AR", "200", f"Unsupported message type {header.kind!r}", "MSH-9")
    if header.event not in HANDLED:
        raise Hl7Error("AR", "201", f"Unsupported event {header.event!r}", "MSH-9")


def _header(msh: Any, segment: str) -> Header:
    msh9 = _field(msh, 9)
    return Header(
        application=_s(_field(msh, 3)),
        facility=_s(_field(msh, 4)),
        receiver=_s(_field(msh, 5)),
        receiver_facility=_s(_field(msh, 6)),
        message_type=_s(msh9),
        kind=_component(msh9, 1, 1) or _component(msh9, 1),
        event=_component(msh9, 1, 2),
        control=_s(_field(msh, 10)),
        processing=_s(_field(msh, 11)),
        version=_s(_field(msh, 12)),
        charset=_s(_field(msh, 18)),
        segment=segment,
    )


def _msh(msg: Any) -> Any:
    return msg.segment("MSH")


def _segment(msg: Any, name: str, required: bool = True) -> Any:
    try:
        return msg.segment(name)
    except KeyError:
        if required:
            raise Hl7Error("AE", "100", f"Missing {name} segment", name) from None
        return None


_OID = re.compile(r"[0-2](\.(0|[1-9]\d*))+")


def _system_of(authority: Any) -> tuple[str, str]:
    """(system, OID) of an HD assigning authority (CX-4).

    Its universal ID (HD-2) names the system only when it is an OID: senders also put
    local codes there with another type (``AUT-AFFECTATION&1204567809&M``), which are no
    ``urn:oid:`` — the namespace (HD-1), or that code, names the system then."""
    namespace = _component(authority, 1) if not isinstance(authority, str) else authority
    oid = _component(authority, 2) if not isinstance(authority, str) else ""
    if oid and _OID.fullmatch(oid):
        return f"urn:oid:{oid}", oid
    namespace = namespace or oid
    return (f"{M.SOCLE}/sid/{namespace}" if namespace else M.LOCAL_ID_SYSTEM), ""


def _cx_list(field: Any, unescape: Any = None) -> list[tuple[str, str, str, str]]:
    """(value, system, oid, type) of each CX repetition, the value's HL7 escape sequences
    (``X12\\T\\3``) read as the characters they stand for."""
    out = []
    for rep in _repetitions(field):
        value = _component(rep, 1)
        if unescape is not None and "\\" in value:
            value = unescape(value).strip()
        authority = rep[3] if not isinstance(rep, str) and len(rep) > 3 else ""
        system, oid = _system_of(authority)
        kind = _component(rep, 5)
        if value and value != NULL:
            out.append((value, system, oid, kind))
    return out


INS_C_OID = "1.2.250.1.213.1.4.2"  # the calculated INS (INS-C), withdrawn: no matricule
OBSOLETE_INS_TYPES = frozenset({"INS-C", "INS-A"})
# Patient record numbers that senders outside PAM FR (and older ones) give the IPP as (HL7
# table 0203: medical record, patient external, person number): they key the Patient
# only when PID-3 (or MRG-1) has no PI identifier.
RECORD_TYPES = frozenset({"MR", "PT", "PN"})


def _role(oid: str, kind: str) -> str:
    """What a PID-3/MRG-1 identifier is to the feed: ``INS`` (the matricule: an INS OID,
    or type INS or its older INS-NIR/INS-NIA forms), ``PI`` (the IPP: type PI, or no type),
    ``RECORD`` (a record number standing for the IPP, see `RECORD_TYPES`) or ``""``
    (ignored).

    PAM FR: the IPP is the PI identifier and the INS the INS one; the withdrawn INS-C/INS-A
    (OID 1.2.250.1.213.1.4.2) that older senders still add is neither, nor are the other
    types (NH, AN, PPN…), which must not key a Patient or stand for its INS."""
    kind = kind.upper()
    if oid == INS_C_OID or kind in OBSOLETE_INS_TYPES:
        return ""
    if oid in INS_OIDS or kind.startswith("INS"):
        return "INS"
    if kind in ("PI", ""):
        return "PI"
    return "RECORD" if kind in RECORD_TYPES else ""


class LocalId(NamedTuple):
    """A local identifier of PID-3/MRG-1 and its HL7 table 0203 type (PI, MR, PT, PN)."""

    system: str
    value: str
    kind: str


def _local_ids(cx: list[tuple[str, str, str, str]]) -> list[LocalId]:
    """The identifiers that key the Patient: the PI ones (an untyped one is a PI), else
    the record numbers."""
    roles = [
        (_role(oid, kind), LocalId(system, value, kind.upper() or "PI"))
        for value, system, oid, kind in cx
    ]
    pi = [ident for role, ident in roles if role == "PI"]
    return pi or [ident for role, ident in roles if role == "RECORD"]


def _hl7_date(text: str, where: str) -> str:
    """A TS (PID-7) as a FHIR date, its time part dropped ('' if empty).

    HL7 v2.5 lets a TS have a reduced precision (YYYY, YYYYMM): it stays a partial FHIR
    date, as does the day or month 00 that French registries write when it is unknown
    (19600000 -> 1960), instead of being refused as "not a date"."""
    text = text.split("^", 1)[0].strip()
    if not text:
        return ""
    if re.fullmatch(r"\d{4}|\d{6}", text):
        y, mo, d = text[:4], text[4:6], ""
    elif re.fullmatch(r"\d{8}", text[:8]):
        y, mo, d = text[:4], text[4:6], text[6:8]
    else:
        raise Hl7Error("AE", "102", f"{where}: {text!r} is not a date (YYYYMMDD)", where)
    if mo == "00" and d in ("", "00"):
        mo = d = ""
    elif d == "00":
        d = ""
    try:
        date(int(y), int(mo or 1), int(d or 1))
    except ValueError:
        raise Hl7Error("AE", "102", f"{where}: {text} is an impossible date", where) from None
    return "-".join(x for x in (y, mo, d) if x)


_TS = re.compile(r"(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.\d{1,4})?([+-]\d{4})?")


def _hl7_datetime(text: str, where: str) -> str:
    """An HL7 TS/DTM (YYYY[MM[DD[HH[MM[SS]]]]][+ZZZZ]) as a FHIR dateTime ('' if empty).

    A time without an offset is the sender's local time (`hl7_timezone`; FHIR requires
    an offset)."""
    text = text.strip()
    if not text:
        return ""
    m = _TS.fullmatch(text)
    if not m or (m.group(4) and not m.group(3)):
        raise Hl7Error("AE", "102", f"{where}: {text!r} is not a date/time", where)
    y, mo, d, h, mi, sec, tz = m.groups()
    try:
        if not h:
            date(int(y), int(mo or 1), int(d or 1))  # the date must exist
            return "-".join(x for x in (y, mo, d) if x)
        moment = datetime(int(y), int(mo), int(d), int(h), int(mi or 0), int(sec or 0))
    except ValueError:
        raise Hl7Error("AE", "102", f"{where}: {text} is an impossible date/time", where) from None
    if tz:
        sign = 1 if tz[0] == "+" else -1
        offset = timedelta(hours=int(tz[1:3]), minutes=int(tz[3:5])) * sign
        return moment.replace(tzinfo=timezone(offset)).isoformat()
    return moment.replace(tzinfo=hl7_timezone()).isoformat()


@functools.cache
def hl7_timezone() -> tzinfo:
    """The zone of HL7 times sent without an offset: the sender's local time (HL7 v2.5
    2.A.22), `SOCLE_HL7_TIMEZONE` (IANA name; default Europe/Paris, the time of the GAMs
    this feed serves; overseas sites set theirs). An unknown name falls back to
    `SOCLE_DEFAULT_TIMEZONE`, with an error in the log."""
    name = os.environ.get("SOCLE_HL7_TIMEZONE", "").strip() or "Europe/Paris"
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        log.error("unknown SOCLE_HL7_TIMEZONE: the default time zone is used", extra={"zone": name})
        return default_timezone()


def visit_of(msg: Any, event: str) -> E.Visit:
    """The stay a movement (A01, A03, A04) is about, from PV1 (and EVN/MSH for the time)."""
    pv1 = _segment(msg, "PV1")
    numbers = _cx_list(_field(pv1, 19))
    if not numbers and event != E.DISCHARGE:  # PAM FR: required; without it a resent
        # admission would open a second stay (a discharge closes the open one)
        raise Hl7Error("AE", "101", "PV1-19 (visit number) is missing", "PV1-19")
    evn = _segment(msg, "EVN", required=False)
    occurred = (
        (_component(_field(evn, 6), 1) if evn is not None else "")
        or (_component(_field(evn, 2), 1) if evn is not None else "")
        or _component(_field(_msh(msg), 7), 1)
    )
    where = "EVN-6" if evn is not None else "MSH-7"
    admit = _component(_field(pv1, 44), 1)
    discharge = next((_component(r, 1) for r in _repetitions(_field(pv1, 45))), "")
    visit = E.Visit(event, patient_class=_component(_field(pv1, 2), 1).upper())
    if numbers:
        value, system, _, _ = numbers[0]
        visit.number = (system, value)
    visit.start = _hl7_datetime(admit, "PV1-44") if admit else ""
    if event == E.DISCHARGE:
        visit.end = _hl7_datetime(discharge or occurred, "PV1-45" if discharge else where)
    elif not visit.start:
        visit.start = _hl7_datetime(occurred, where)
    if E.ends_before_start(visit.start, visit.end):
        raise Hl7Error(
            "AE",
            "102",
            f"PV1-45: the discharge ({visit.end}) is before the admission ({visit.start})",
            "PV1-45" if discharge else where,
        )
    return visit


def _verbatim(text: str) -> str:
    return text


_HEX = re.compile(r"\\X((?:[0-9A-Fa-f]{2})+)\\")


def unescaper(msg: Any) -> Any:
    """The message's unescape (python-hl7's), with ``\\Xhh…\\`` read as UTF-8 when its
    bytes are UTF-8 (``\\XC389\\`` is É), else as ISO-8859-1 (``\\XE9\\`` is é):
    python-hl7 reads each byte as a character, which turns UTF-8 escapes into mojibake."""

    def hexes(match: re.Match[str]) -> str:
        data = bytes.fromhex(match.group(1))
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("iso-8859-1")
        return msg.escape(text)

    def unescape(text: str) -> str:
        if msg.esc == "\\" and "\\X" in text:
            text = _HEX.sub(hexes, text)
        return msg.unescape(text)

    return unescape


def _birth_given(first: str, listed: str) -> list[str]:
    """The birth first names of an ``L`` name, in order.

    PAM FR (2.10 and later) puts the first first name in PID-5.2 and the whole list of
    birth first names, that first one included, in PID-5.3 (``SECLET^MARYSE^MARYSE
    BERTHE``); older senders put only the other first names in 5.3. The list is taken
    alone when it starts with 5.2, else it follows 5.2."""
    head = N.given_list(first.replace(",", " "))
    names = N.given_list(listed.replace(",", " "))
    if head and names[: len(head)] == head:
        return names
    return head + names


def identity_from_pid(
    pid: Any, base: M.Identity | None = None, unescape: Any = _verbatim
) -> tuple[M.Identity, list]:
    """The Identity carried by a PID segment, and its local identifiers (`LocalId`).

    `unescape`: the message's (`msg.unescape`), so that names and identifiers written with
    HL7 escape sequences (``D\\T\\ARC``, ``O\\X27\\BRIEN``) are read as the characters
    they stand for. A field sent as ``""`` (HL7's null) counts as absent."""
    ident = base or M.Identity()
    cx = _cx_list(_field(pid, 3), unescape)
    _read_ins(ident, cx)
    _read_names(ident, _repetitions(_field(pid, 5)), unescape)
    birth = _value(pid, 7)
    if birth:
        ident.birth_date = _hl7_date(birth, "PID-7")
        if ident.birth_date > date.today().isoformat()[: len(ident.birth_date)]:
            raise Hl7Error("AE", "102", f"PID-7: {birth} is in the future", "PID-7")
    sex = _value(pid, 8)
    if sex:
        if sex not in SEX_CODES:
            known = ", ".join(SEX_CODES)
            raise Hl7Error("AE", "103", f"PID-8: unknown sex {sex!r} ({known})", "PID-8")
        ident.sex = SEX_CODES[sex]
    for rep in _repetitions(_field(pid, 11)):
        if _component(rep, 7) == "BDL" and _component(rep, 9):
            ident.birthplace = _component(rep, 9).upper()
    _read_reliability(ident, [_component(rep, 1) for rep in _repetitions(_field(pid, 32))])
    if ident.status in (M.RECUP, M.QUAL) and ident.ins:
        ident.method = ident.method or "INSI"
        ident.collection_date = ident.collection_date or date.today().isoformat()
    return ident, _local_ids(cx)


def _value(segment: Any, n: int) -> str:
    """A field's text, '' when absent or sent as HL7's null ``""``."""
    text = _s(_field(segment, n))
    return "" if text == NULL else text


def _read_ins(ident: M.Identity, cx: list[tuple[str, str, str, str]]) -> None:
    """The INS matricule of PID-3, cleaned as `nir.clean` does (spaces and dots removed,
    2a/2b upper-cased); two different ones are refused: which is the patient's cannot be
    told."""
    found: set[tuple[str, str]] = set()
    for value, _system, oid, kind in cx:
        if _role(oid, kind) == "INS":
            oid = oid or (OID_NIA if kind.upper() == "INS-NIA" else OID_NIR)
            found.add((clean_nir(value), f"urn:oid:{oid}"))
    if len(found) > 1:
        raise Hl7Error("AE", "205", "PID-3 carries two different INS matricules", "PID-3")
    if found:
        ident.ins, ident.ins_system = found.pop()


def _read_names(ident: M.Identity, names: list[Any], unescape: Any) -> None:
    """PID-5: the birth name (type L) and the used name (type D)."""
    # an untyped name is the birth name (L) only when no repetition says which one is
    untyped = "" if any(_component(rep, 7) == "L" for rep in names) else "L"
    for rep in names:
        kind = _component(rep, 7) or untyped
        family, first, others = (
            unescape(_component(rep, 1, 1) or _component(rep, 1)),
            unescape(_component(rep, 2)),
            unescape(_component(rep, 3)),
        )
        family = "" if family == NULL else family
        if kind == "L":
            ident.birth_family = N.trait(family)
            ident.given = _birth_given(first, others)
        elif kind == "D":
            ident.used_family = N.trait(family)
            ident.used_given = N.trait(first)


def _read_reliability(ident: M.Identity, codes: list[str]) -> None:
    """PID-32: one RNIV status and the attributes (table 0445 as PAM FR extends it)."""
    statuses = {STATUS_CODES[c] for c in codes if c in STATUS_CODES}
    if len(statuses) > 1:
        raise Hl7Error(
            "AE", "103", "PID-32 carries two identity statuses: " + "~".join(codes), "PID-32"
        )
    if statuses:
        ident.status = statuses.pop()
    for code in codes:
        if code in ATTRIBUTE_CODES:
            ident.attributes.add(ATTRIBUTE_CODES[code])
        elif code and code != NULL and code not in STATUS_CODES and code not in OTHER_0445_CODES:
            raise Hl7Error(
                "AE", "103", f"PID-32: unknown identity reliability code {code!r}", "PID-32"
            )


def _find(s: Any, ids: list[LocalId]) -> tuple[str, dict[str, Any]] | None:
    """The Patient known by one of these local identifiers, with its current content."""
    return X.resource_by_identifier(s, "Patient", [(i.system, i.value) for i in ids])


def _find_one(s: Any, ids: list[LocalId]) -> tuple[str, dict[str, Any]] | None:
    """The one Patient PID-3's local identifiers name (AE 205 when they name several:
    writing would put one patient's IPP on another)."""
    if len(ids) < 2:
        return _find(s, ids)
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for ident in ids:
        hit = _find(s, [ident])
        if hit is not None:
            found.setdefault(hit[0], hit)
    if len(found) > 1:
        named = ", ".join(f"Patient/{p}" for p in found)
        raise Hl7Error(
            "AE", "205", f"PID-3 identifiers belong to different patients ({named})", "PID-3"
        )
    return next(iter(found.values()), None)


def _refuse_merged(patient: dict[str, Any], pid: str, where: str) -> None:
    """A merged (replaced-by) Patient takes no more messages: its identifier was retired
    by the A40, and what is written on it would be lost to the surviving record."""
    survivor = V.replaced_by(patient)
    if survivor is not None:
        raise Hl7Error(
            "AE",
            "204",
            f"{where} names Patient/{pid}, merged into Patient/{survivor}: send the message "
            "with the surviving patient's identifier",
            where,
        )


def _local_identifiers(locals_: list[LocalId]) -> list[dict[str, Any]]:
    """PID-3's local identifiers as FHIR Identifiers, typed as the sender typed them."""
    return [
        {
            "use": "usual",
            "type": {"coding": [{"system": V2_0203, "code": i.kind}]},
            "system": i.system,
            "value": i.value,
        }
        for i in locals_
    ]


def _unchanged(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Same content but for meta: a resent message or an A08 that changes nothing."""
    strip = ("meta", "text")
    return {k: v for k, v in old.items() if k not in strip} == {
        k: v for k, v in new.items() if k not in strip
    }


def _upsert(engine: FhirEngine, s: Any, ctx: RequestContext, msg: Any, who: str) -> str:
    """Create or update the Patient keyed by its PID-3 local identifier; returns its id."""
    pid_segment, unescape = _segment(msg, "PID"), unescaper(msg)
    ident, locals_ = identity_from_pid(pid_segment, unescape=unescape)
    if not locals_:
        raise _no_local_id()
    missing = ident.missing_traits(birthplace=False)
    absent = [
        f
        for f, v in (
            ("PID-5", ident.birth_family),
            ("PID-7", ident.birth_date),
            ("PID-8", ident.sex),
        )
        if not v
    ]
    if absent:
        raise Hl7Error("AE", "101", "Missing mandatory trait(s): " + "; ".join(missing), absent[0])
    found = _find_one(s, locals_)
    existing, old_patient = found if found else (None, None)
    if existing is not None:
        _refuse_merged(old_patient, existing, "PID-3")
    old = M.read_identity(old_patient) if old_patient and M.is_managed(old_patient) else None
    # PID-32 not sent: the sender says nothing of the status, which stays as stored (an
    # identity Socle qualified is not made provisional by an older GAM's A08), unless a
    # strict trait changed (the RNIV downgrade, `check_direct_write`)
    kept = old is not None and not _value(pid_segment, 32)
    if kept:
        _keep_reliability(ident, old)
    try:
        checked, _ = S.check_direct_write(old if kept else None, ident)
    except FhirError as exc:
        raise refusal(exc, "PID") from exc
    transitions = []
    if old is not None and old.status != checked.status:
        transitions.append(S.Transition(S.FEED, old.status, checked.status, who))
    base = old_patient or {"resourceType": "Patient"}
    systems = {i.system for i in locals_}
    identifiers = [i for i in base.get("identifier") or [] if i.get("system") not in systems]
    patient = M.write_identity(
        {**base, "identifier": identifiers + _local_identifiers(locals_)}, checked
    )
    patient.update(_demographics(pid_segment, unescape))
    patient = {k: v for k, v in patient.items() if v is not None}
    patient.setdefault("active", True)
    if existing is None:
        created = engine.crud.create(s, ctx, "Patient", patient)
        if checked.status != M.PROV:  # its first status is a transition too
            first = S.Transition(S.FEED, "", checked.status, who)
            ref = f"Patient/{created.res_id}/_history/{created.version}"
            service.record_transitions(engine, s, ctx, ref, [first], who)
        return created.res_id
    patient["id"] = existing
    if not _unchanged(old_patient, patient):
        service.write_patient(engine, s, ctx, existing, patient, transitions, who)
    return existing


def _keep_reliability(ident: M.Identity, old: M.Identity) -> None:
    """The stored status, its attributes and evidence, and the INS and birthplace when the
    message does not carry them, copied onto the identity a message without PID-32 sent."""
    ident.status, ident.attributes = old.status, set(old.attributes)
    ident.method, ident.collection_date = old.method, old.collection_date
    ident.validation_mode, ident.validation_date = old.validation_mode, old.validation_date
    ident.old_ins = list(old.old_ins)
    if not ident.ins:
        ident.ins, ident.ins_system = old.ins, old.ins_system
    ident.birthplace = ident.birthplace or old.birthplace


ADDRESS_USES = {"H": "home", "O": "work", "B": "work", "C": "temp", "M": "home"}
TELECOM_USES = {"PRN": "home", "ORN": "home", "WPN": "work", "VHN": "temp", "EMR": "temp"}


def _demographics(pid: Any, unescape: Any) -> dict[str, Any]:
    """PID-11 (addresses other than the birthplace), PID-13 (telecom) and PID-29/30
    (death) as Patient elements. HL7 update rules: an absent field changes nothing, a
    field sent as ``""`` removes the element (None here)."""
    out: dict[str, Any] = {}
    if _s(_field(pid, 11)):
        addresses = [a for a in map(_address, _repetitions(_field(pid, 11))) if a]
        if addresses or _value(pid, 11) == "":
            out["address"] = [_unescaped(a, unescape) for a in addresses] or None
    if _s(_field(pid, 13)):
        out["telecom"] = [
            _unescaped(c, unescape) for c in map(_telecom, _repetitions(_field(pid, 13))) if c
        ] or None
    died, flag = _value(pid, 29), _value(pid, 30).upper()
    if died or flag or _s(_field(pid, 29)) or _s(_field(pid, 30)):
        moment = _hl7_datetime(_component(_field(pid, 29), 1), "PID-29") if died else ""
        out["deceasedDateTime"] = moment or None
        out["deceasedBoolean"] = True if flag == "Y" and not moment else None
    return out


def _unescaped(element: dict[str, Any], unescape: Any) -> dict[str, Any]:
    return {
        k: [unescape(x) for x in v] if isinstance(v, list) else unescape(v) if k != "use" else v
        for k, v in element.items()
    }


def _address(rep: Any) -> dict[str, Any] | None:
    """An XAD repetition as an Address (None for the birthplace, BDL, and empty ones)."""
    kind = _component(rep, 7).upper()
    if kind == "BDL" or _s(rep) == NULL:
        return None
    parts = {
        "line": [x for x in (_component(rep, 1, 1), _component(rep, 2)) if x],
        "city": _component(rep, 3),
        "state": _component(rep, 4),
        "postalCode": _component(rep, 5),
        "country": _component(rep, 6),
    }
    address = {k: v for k, v in parts.items() if v}
    if address and kind in ADDRESS_USES:
        address["use"] = ADDRESS_USES[kind]
    return address or None


def _telecom(rep: Any) -> dict[str, Any] | None:
    """An XTN repetition as a ContactPoint: 4 the e-mail, else 12 (unformatted), 6+7 or
    1 the number; 2 the use, 3 the equipment (PH, CP, FX, Internet)."""
    equipment = _component(rep, 3).upper()
    email = _component(rep, 4)
    number = _component(rep, 12) or (_component(rep, 6) + _component(rep, 7)) or _component(rep, 1)
    value = email or number
    if not value or value == NULL:
        return None
    system = "email" if email or equipment in ("INTERNET", "X.400") else "phone"
    system = "fax" if equipment == "FX" else system
    contact = {"system": system, "value": value}
    use = "mobile" if equipment == "CP" else TELECOM_USES.get(_component(rep, 2).upper())
    if use:
        contact["use"] = use
    return contact


def _no_local_id() -> Hl7Error:
    return Hl7Error("AE", "101", "PID-3 has no local identifier (type PI, or MR/PT/PN)", "PID-3")


def _mrg_ids(msg: Any, mrg: Any = None) -> list[LocalId]:
    """MRG-1's local identifiers: the INS a sender may repeat there names
    no record to merge or rename, and must stay on the Patient (see `_role`)."""
    mrg = mrg if mrg is not None else _segment(msg, "MRG")
    return _local_ids(_cx_list(_field(mrg, 1), unescaper(msg)))


def _pid_ids(msg: Any, pid: Any = None) -> list[LocalId]:
    pid = pid if pid is not None else _segment(msg, "PID")
    return identity_from_pid(pid, unescape=unescaper(msg))[1]


def _patient_groups(msg: Any) -> list[tuple[Any, Any]]:
    """The (PID, MRG) pairs of an A40 (ADT_A39: the PATIENT group repeats, one merge each),
    in message order; AE 100 when a group lacks its MRG."""
    groups: list[list[Any]] = []
    for segment in msg:
        name = str(segment[0])
        if name == "PID":
            groups.append([segment, None])
        elif name == "MRG" and groups and groups[-1][1] is None:
            groups[-1][1] = segment
        elif name == "MRG":
            raise Hl7Error("AE", "100", "A40: an MRG segment without its PID", "MRG")
    if not groups:
        raise Hl7Error("AE", "100", "Missing PID segment", "PID")
    for n, (_, mrg) in enumerate(groups, 1):
        if mrg is None:
            raise Hl7Error("AE", "100", f"A40: patient group {n} has no MRG segment", "MRG")
    return [(pid, mrg) for pid, mrg in groups]


def _merge(engine: FhirEngine, s: Any, ctx: RequestContext, msg: Any) -> list[str]:
    """A40: in each patient group, the patient of MRG-1 (source) merged into the one of
    PID-3 (target); all the groups are merged, or none (the message is refused).

    The same A40 sent again (its ACK was lost) is answered AA and changes nothing."""
    written: list[str] = []
    for n, (pid, mrg) in enumerate(_patient_groups(msg)):
        if n:
            s.flush()  # the next group reads what this one wrote
        written += _merge_group(engine, s, ctx, _pid_ids(msg, pid), _mrg_ids(msg, mrg))
    return list(dict.fromkeys(written))


def _merge_group(
    engine: FhirEngine, s: Any, ctx: RequestContext, target_ids: list, source_ids: list
) -> list[str]:
    target, source = _find_one(s, target_ids), _find_one(s, source_ids)
    if not target or not source:
        where = "PID-3" if not target else "MRG-1"
        raise Hl7Error("AE", "204", f"A40: unknown patient in {where}", where)
    if V.replaced_by(source[1]) == target[0]:
        return [target[0], source[0]]
    try:
        V.merge(engine, s, ctx, source[0], target[0])
    except FhirError as exc:
        raise refusal(exc, "MRG-1") from exc
    return [target[0], source[0]]


def _change_identifier(
    engine: FhirEngine, s: Any, ctx: RequestContext, msg: Any, who: str
) -> list[str]:
    """A47: the MRG-1 identifier of a patient replaced by the PID-3 one.

    The same A47 sent again (MRG-1 gone, PID-3 in place) is answered AA, changing nothing."""
    new_ids = _pid_ids(msg)
    if not new_ids:
        raise _no_local_id()
    old_ids = _mrg_ids(msg)
    found = _find_one(s, old_ids)
    holder = _find_one(s, new_ids)
    if not found:
        if holder:
            return [holder[0]]
        raise Hl7Error("AE", "204", "A47: unknown identifier in MRG-1", "MRG-1")
    pid, patient = found
    _refuse_merged(patient, pid, "MRG-1")
    if holder and holder[0] != pid:
        raise Hl7Error(
            "AE", "205", f"A47: the PID-3 identifier belongs to Patient/{holder[0]}", "PID-3"
        )
    drop = {(i.system, i.value) for i in old_ids + new_ids}
    kept = [
        i for i in patient.get("identifier") or [] if (i.get("system"), i.get("value")) not in drop
    ]
    kept += _local_identifiers(new_ids)
    service.write_patient(engine, s, ctx, pid, {**patient, "identifier": kept}, [], who)
    return [pid]


def _apply(
    engine: FhirEngine, s: Any, ctx: RequestContext, msg: Any, event: str, who: str
) -> list[str]:
    """Store what one accepted message says; returns the references it wrote."""
    if event == "A40":
        return [f"Patient/{p}" for p in _merge(engine, s, ctx, msg)]
    if event == "A47":
        return [f"Patient/{p}" for p in _change_identifier(engine, s, ctx, msg, who)]
    visit = visit_of(msg, event) if event in VISIT_EVENTS else None
    pid = _upsert(engine, s, ctx, msg, who)
    written = [f"Patient/{pid}"]
    stay = E.record_visit(engine, s, ctx, visit, pid) if visit is not None else None
    return written + ([stay] if stay else [])


@dataclass(slots=True)
class Received:
    """One message as read off the wire, before it is stored or refused."""

    raw: bytes
    peer: str | None
    started: float
    codec: str = "utf-8"
    msg: Any = None  # the parsed message, once its MSH could be read
    header: Header | None = None  # with it
    error: Hl7Error | None = None  # set when it is refused before any write


def receive(raw: bytes, peer: str | None = None) -> Received:
    """Decode and parse a message and check it is an event the feed handles; a refusal
    is kept in `error` (its NAK still names the message when the MSH was readable)."""
    received = Received(raw, peer, time.time())
    try:
        text, received.codec = decode(raw)
        received.msg, received.header = parse(text)
        check_header(received.header)
    except Hl7Error as exc:
        received.error = exc
        received.header = received.header or readable_header(raw)
    return received


def handle(engine: FhirEngine, tenant: str, raw: bytes, peer: str | None = None) -> Outcome:
    """Process one message; always returns an ACK (AA, AE or AR) in the message's charset."""
    return store(engine, tenant, receive(raw, peer))


def store(engine: FhirEngine, tenant: str, received: Received) -> Outcome:
    """Store a received message in a transaction of its own, or refuse it.

    The transaction (retried on a write conflict with a concurrent writer) carries the
    message's audit-trail entry (no audit, no write); a refused message is audited on
    its own."""
    if received.error is None:
        try:
            return _store(engine, tenant, received)
        except Hl7Error as exc:
            received.error = exc
        except FhirError as exc:
            received.error = refusal(exc, "PID")
        except audit.Unavailable:
            received.error = _unaudited()
    return _refuse(engine, tenant, received)


def _unaudited() -> Hl7Error:
    return Hl7Error("AR", "207", "The message could not be audited: send it again", "MSH")


# The PID field each Patient element the feed writes comes from (for ERR-2), and the HL7
# table 0357 code of each FHIR issue type (other content refusals: 102, a wrong value).
_FIELD_OF = (
    ("Patient.identifier", "PID-3"),
    ("Patient.name", "PID-5"),
    ("Patient.birthDate", "PID-7"),
    ("Patient.gender", "PID-8"),
    ("Patient.address", "PID-11"),
    ("Patient.telecom", "PID-13"),
    ("Patient.deceased", "PID-29"),
    (f"Patient.extension('{M.EXT_BIRTH_PLACE}')", "PID-11"),
    ("Patient.extension", "PID-32"),
    ("Encounter.period", "PV1-45"),
    ("Encounter", "PV1-19"),
)
_CODE_OF = {
    "required": "101",
    "code-invalid": "103",
    "not-found": "204",
    "duplicate": "205",
    "conflict": "205",  # already merged elsewhere, a cycle: resending will not mend it
}


def refusal(exc: FhirError, where: str) -> Hl7Error:
    """What the repository refused in a message (a FHIR error of the write it asked for),
    as an HL7 error: AE with the table 0357 code of the issue and the field it comes
    from (`where` when the issue names no element). A concurrent change (a write
    conflict, AR 206: send it again) never gets here: `_store` retries it."""
    issue = exc.issues[0]
    paths = issue.expression or []
    field = next((f for prefix, f in _FIELD_OF for p in paths if p.startswith(prefix)), where)
    return Hl7Error("AE", _CODE_OF.get(issue.code, "102"), issue.diagnostics, field)


def _refuse(engine: FhirEngine, tenant: str, received: Received) -> Outcome:
    """The NAK of a refused message, after its audit entry (a transaction of its own)."""
    msg, header, error, codec = received.msg, received.header, received.error, received.codec
    assert error is not None
    outcome = Outcome(ack(header, error.ack, error, codec), False, msg, error, header=header)
    try:
        audit.record(engine, tenant, outcome, received.peer, received.started)
    except audit.Unavailable:
        log.error("HL7 message not audited: refused")
        error = _unaudited()
        return Outcome(ack(header, error.ack, error, codec), False, msg, error, header=header)
    return outcome


def internal_error(raw: bytes) -> bytes:
    """The NAK (AR, 207) of a message whose processing failed unexpectedly (the database
    went away…): the sender keeps its link and sends the message again later."""
    err = Hl7Error("AR", "207", "Application internal error: send the message again", "MSH")
    codec = charset_of(raw)
    return ack(readable_header(raw), "AR", err, codec if codec in _CODECS else "utf-8")


def _store(engine: FhirEngine, tenant: str, received: Received) -> Outcome:
    """Apply an accepted message in one write transaction; its ACK."""
    for attempt in range(CONFLICT_RETRIES):
        try:
            return store_together(engine, tenant, [received])[0]
        except WriteConflict:
            if attempt == CONFLICT_RETRIES - 1:
                raise Hl7Error(
                    "AR", "206", "Concurrent updates of this patient: send it again", "PID"
                ) from None
    raise AssertionError("unreachable")


def store_together(engine: FhirEngine, tenant: str, messages: list[Received]) -> list[Outcome]:
    """Accepted messages applied, each with its audit entry, in one write transaction
    (group commit): all are stored, or none when one fails (raised as `store` would see
    it). A message reads what the ones before it wrote (each is flushed in turn).

    The audit entries are appended after all the messages are applied: on PostgreSQL the
    chain's head row is then locked after the resources' rows, in the order every other
    write takes them (a REST write locks its Patient, then the head at commit). Appending
    each entry after its message locked the head first, then the next message's Patient:
    a deadlock with a REST write of that Patient."""
    ctx = server_context(service.op_context(RequestContext(tenant=tenant), tenant))
    outcomes = []
    with engine.store.session(tenant, write=True) as s:
        for i, received in enumerate(messages):
            msg, header = received.msg, received.header
            assert header is not None
            who = f"HL7 {header.application_name}/{header.facility_name}"
            written = _apply(engine, s, ctx, msg, header.event, who)
            answer = ack(header, "AA", codec=received.codec)
            outcomes.append(Outcome(answer, True, msg, written=written, header=header))
            if i < len(messages) - 1:
                s.flush()  # the last one's rows go with the first audit entry (it flushes)
        for received, outcome in zip(messages, outcomes, strict=True):
            audit.record(engine, tenant, outcome, received.peer, received.started, session=s)
    return outcomes


_KEEP_ENDINGS = re.compile(r"(\r\n|\r)")  # segment ends, kept (see `segments_of`)
_KEEP_LINE_ENDS = re.compile(r"(\n)")  # a message without any <CR>


def outgoing(raw: bytes) -> bytes:
    """An accepted message as it is forwarded to the subscriber, under RNIV's outgoing
    rule: the INS leaves only with an identity PID-32 says is qualified. Removed: the INS
    repetitions of MRG-1 always (the merged or renamed record, whose status nothing
    says), and, unless the PID segment's own PID-32 says QUAL, those of its PID-2, PID-3
    and PID-4 and its PID-19 (where a NIR may be written). Anything else is sent as
    received, byte for byte when nothing is removed."""
    text, codec = decode(raw)
    if len(text) < 8:
        return raw
    seps = (text[3], text[4], text[5], text[7])  # field, component, repetition, subcomponent
    parts = (_KEEP_ENDINGS if "\r" in text else _KEEP_LINE_ENDS).split(text)
    changed = False
    for i, segment in enumerate(parts):
        body = segment.lstrip("\n")  # as `segments_of` reads it
        if body[3:4] != seps[0] or body[:3] not in ("PID", "MRG"):
            continue
        shown = _without_ins(body, seps)
        if shown != body:
            parts[i], changed = segment[: len(segment) - len(body)] + shown, True
    return "".join(parts).encode(codec) if changed else raw


def _without_ins(segment: str, seps: tuple[str, str, str, str]) -> str:
    """A PID or MRG segment with the INS it may not share removed (see `outgoing`)."""
    fsep, comp, rep, sub = seps
    fields = segment.split(fsep)
    if segment[:3] == "MRG":
        cx_fields, blanked = (1,), ()
    elif "QUAL" in _codes(fields, 32, rep, comp):
        return segment
    else:
        cx_fields, blanked = (2, 3, 4), (19,)
    for n in cx_fields:
        if len(fields) > n:
            fields[n] = rep.join(r for r in fields[n].split(rep) if not _is_ins(r, comp, sub))
    for n in blanked:
        if len(fields) > n:
            fields[n] = ""
    return fsep.join(fields)


def _codes(fields: list[str], n: int, rep: str, comp: str) -> list[str]:
    return [r.split(comp)[0] for r in fields[n].split(rep)] if len(fields) > n else []


def _is_ins(cx: str, comp: str, sub: str) -> bool:
    """A CX repetition, as text, that carries an INS matricule (see `_role`)."""
    components = cx.split(comp)
    authority = components[3].split(sub) if len(components) > 3 else []
    oid = authority[1] if len(authority) > 1 else ""
    kind = components[4] if len(components) > 4 else ""
    return bool(components[0]) and _role(oid, kind) == "INS"


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


def _erl(location: str) -> str:
    """ERR-2 (an ERL: segment ID ^ segment sequence ^ field position) of an error location
    such as ``PID-3`` or ``MSH``; a segment name read off a bad message is escaped."""
    if not location:
        return ""
    segment, _, position = location.partition("-")
    return f"{_esc(segment)}^1" + (f"^{position}" if position.isdigit() else "")


def ack(
    header: Header | None, code: str, error: Hl7Error | None = None, codec: str = "utf-8"
) -> bytes:
    """ACK (AA) or NAK (AE/AR with an ERR segment) answering the message of `header`
    (None if unreadable)."""
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S+0000")  # with its offset (2.A.22)
    me, my_facility, processing = "SOCLE", "SOCLE", "P"
    if header is not None:
        app, fac, control = header.application, header.facility, header.control
        version, charset, trigger = header.version or "2.5", header.charset, header.event
        # the ACK comes from the application the message was sent to (MSH-5/6 swapped)
        me, my_facility = header.receiver or me, header.receiver_facility or my_facility
        if header.processing.split("^")[0] in PROCESSING_IDS:
            processing = header.processing.split("^")[0]
    else:
        app = fac = control = trigger = charset = ""
        version = "2.5"
    # MSH-10 of the ACK itself: unique, whatever the message's (ST, 20 characters)
    ack_id = f"ACK{uuid.uuid4().hex[:17]}"
    segments = [
        f"MSH|^~\\&|{me}|{my_facility}|{app}|{fac}|{stamp}||ACK^{trigger}^ACK|{ack_id}|"
        f"{processing}|{version}||||||{charset}",
        f"MSA|{code}|{control}" + (f"|{_esc(error.text)[:80]}" if error else ""),
    ]
    if error is not None:
        label = ERROR_TEXT.get(error.code, "Error")
        location = _erl(error.location)
        segments.append(f"ERR||{location}|{error.code}^{label}^HL70357|E||||{_esc(error.text)}")
    text = "\r".join(segments) + "\r"
    return text.encode(codec if codec in _CODECS else "utf-8", errors="replace")
