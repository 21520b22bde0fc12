"""Encounters from the PAM movements: A01 admission, A04 registration, A03 discharge.

The HL7 side (`hl7feed.visit_of`) reads the PV1 segment into a `Visit`; this module keeps
the FHIR side: one Encounter per visit number (PV1-19, identifier type ``VN``), linked to
the Patient, ``in-progress`` with ``period.start`` after an admission or registration,
``finished`` with ``period.end`` after a discharge. A discharge without a visit number
closes the patient's latest in-progress Encounter (or records a finished one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from socle.fhir.datetime import parse_range
from socle.fhir.errors import FhirError
from socle.ins import index as X

if TYPE_CHECKING:
    from socle.fhir.context import RequestContext
    from socle.fhir.engine import FhirEngine
    from socle.fhir.storage.store import StoreSession

ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
# PV1-2 patient class (HL7 table 0004) -> Encounter.class (v3 ActCode)
CLASSES = {
    "I": ("IMP", "inpatient encounter"),
    "O": ("AMB", "ambulatory"),
    "E": ("EMER", "emergency"),
    "P": ("PRENC", "pre-admission"),
    "R": ("AMB", "ambulatory"),
    "B": ("AMB", "ambulatory"),
    "N": ("AMB", "ambulatory"),
}
DEFAULT_CLASS = {"A01": "I", "A03": "I", "A04": "O"}
DISCHARGE = "A03"


@dataclass(slots=True)
class Visit:
    """What a PV1 segment says about one stay, in FHIR forms."""

    event: str  # A01, A03 or A04
    number: tuple[str, str] | None = None  # (system, value) of PV1-19
    patient_class: str = ""  # PV1-2
    start: str = ""  # FHIR dateTime: PV1-44, else when the event occurred
    end: str = ""  # FHIR dateTime: PV1-45, else when the event occurred (A03)


def _class_of(visit: Visit) -> dict[str, str]:
    code, display = CLASSES.get(
        visit.patient_class or DEFAULT_CLASS[visit.event], CLASSES[DEFAULT_CLASS[visit.event]]
    )
    return {"system": ACT_CODE, "code": code, "display": display}


def _open_encounter(
    engine: FhirEngine, s: StoreSession, pid: str
) -> tuple[str, dict[str, Any]] | None:
    """The patient's latest in-progress Encounter (a discharge that names no visit)."""
    import orjson

    query = engine.search.parse(
        "Encounter",
        [
            ("subject", f"Patient/{pid}"),
            ("status", "in-progress"),
            ("_sort", "-_lastUpdated"),
            ("_count", "1"),
        ],
    )
    found = s.fetch_current(engine.search.search(s, query).pks)
    return (found[0].res_id, orjson.loads(found[0].content)) if found else None


def record_visit(
    engine: FhirEngine, s: StoreSession, ctx: RequestContext, visit: Visit, pid: str
) -> str | None:
    """Create or update the Encounter of a movement; returns its reference. A discharge
    without a visit number closes the patient's open stay; with none open (the same
    discharge sent again) it writes nothing and returns None."""
    found = None
    if visit.number is not None:
        found = X.resource_by_identifier(s, "Encounter", [visit.number])
    elif visit.event == DISCHARGE:
        found = _open_encounter(engine, s, pid)
        if found is None:
            return None
    enc_id, encounter = found if found else (None, {"resourceType": "Encounter"})
    subject = f"Patient/{pid}"
    previous = (encounter.get("subject") or {}).get("reference")
    if previous and previous != subject:
        raise FhirError(
            422,
            "duplicate",
            f"Visit {visit.number[1] if visit.number else ''} belongs to {previous}, "
            f"not to {subject}",
            "Encounter.identifier",
        )
    encounter = dict(encounter)
    if visit.number is not None:
        system, value = visit.number
        encounter["identifier"] = [
            {
                "use": "official",
                "type": {"coding": [{"system": V2_0203, "code": "VN"}]},
                "system": system,
                "value": value,
            }
        ]
    if visit.patient_class or "class" not in encounter:
        encounter["class"] = _class_of(visit)
    encounter["subject"] = {"reference": subject}
    period = dict(encounter.get("period") or {})
    if visit.event == DISCHARGE:
        encounter["status"] = "finished"
        if visit.end:
            period["end"] = visit.end
    else:
        encounter["status"] = "in-progress"
        period.pop("end", None)  # a readmission under the same visit number reopens it
    if visit.start and (visit.event != DISCHARGE or "start" not in period):
        period["start"] = visit.start
    if ends_before_start(period.get("start", ""), period.get("end", "")):
        raise FhirError(
            422,
            "business-rule",
            f"The discharge ({period['end']}) is before the admission of the visit "
            f"({period['start']})",
            "Encounter.period",
        )
    if period:
        encounter["period"] = period
    if enc_id is None:
        return f"Encounter/{engine.crud.create(s, ctx, 'Encounter', encounter).res_id}"
    engine.crud.update(s, ctx, "Encounter", enc_id, encounter)
    return f"Encounter/{enc_id}"


def ends_before_start(start: str, end: str) -> bool:
    """A period that ends before it starts (FHIR invariant per-1), each bound read as the
    range its precision gives (2024-01-01 does not end before 2024-01-01T10:00)."""
    if not start or not end:
        return False
    return parse_range(start)[0] > parse_range(end)[1]
