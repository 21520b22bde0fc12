"""One audit-trail entry per HL7 message of the PAM feed, accepted or refused.

The feed has no authenticated user: the agent is the sending application and facility
(MSH-3/MSH-4) with the peer's network address; the entry names the message (type,
MSH-10 control id, the MSH segment as the query), the Patients and Encounters it wrote,
the PID-3 identifiers it was about and the outcome (AA, or the AE/AR with its error).

It goes to the guard's audit trail (`engine.guard.audit_event`: the security module's
hash chain, that REST accesses go to): inside the message's own transaction when a
session is given (the Patient and its audit entry commit together), else right after.
Without it (`--auth none`, the open guard keeps no trail), REST accesses are not
audited either and neither are messages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import OperationalError

from socle.fhir.storage.store import PrecedingFailed, is_retryable

if TYPE_CHECKING:
    from socle.fhir.engine import FhirEngine
    from socle.fhir.storage.store import StoreSession
    from socle.ins.hl7feed import Outcome

ACK_STATUS = {"AA": 200, "AE": 422, "AR": 400}  # the HTTP-like outcome the trail records
# ... unless the refusal was no fault of the message (AR): a concurrent change, a failure
ERROR_STATUS = {"206": 409, "207": 500}


class Unavailable(Exception):
    """The trail could not be written: the message must be refused."""


def record(
    engine: FhirEngine,
    tenant: str,
    outcome: Outcome,
    peer: str | None,
    started: float,
    session: StoreSession | None = None,
) -> None:
    """Write the message's entry (in `session`'s transaction when given; nothing without a
    trail). Raises `Unavailable` when the trail fails."""
    try:
        engine.guard.audit_event(_entry(tenant, outcome, peer, started), session)
    except PrecedingFailed:
        raise  # the message's own rows failed (flushed with the entry), not the trail
    except Exception as exc:
        if isinstance(exc, OperationalError) and is_retryable(exc):
            raise  # a deadlock or lock conflict: the message's transaction is retried
        raise Unavailable(str(exc)) from exc


def _entry(tenant: str, outcome: Outcome, peer: str | None, started: float) -> Any:
    from socle.security.audit import AuditRecord

    facts = describe(outcome)
    code = "AA" if outcome.accepted else (outcome.error.ack if outcome.error else "AR")
    patients = [r.split("/", 1)[1] for r in outcome.written if r.startswith("Patient/")]
    return AuditRecord(
        tenant=tenant,
        action="operation",
        outcome=_status(code, outcome),
        agent={
            "id": f"hl7:{facts['application']}/{facts['facility']}",
            "display": f"HL7 v2 sender {facts['application']}/{facts['facility']}",
            "kind": "hl7-sender",
        },
        patients=patients,
        entities=list(outcome.written),
        query=facts["msh"] or None,
        description=facts["text"],
        network=peer,
        started=started,
        res_type="Patient",
        operation=f"hl7v2-{facts['type']}" if facts["type"] else "hl7v2",
    )


def _status(ack: str, outcome: Outcome) -> int:
    if ack == "AR" and outcome.error is not None and outcome.error.code in ERROR_STATUS:
        return ERROR_STATUS[outcome.error.code]
    return ACK_STATUS.get(ack, 400)


def describe(outcome: Outcome) -> dict[str, str]:
    """The message's identification and outcome, in words (for the entry's description)."""
    from socle.ins.hl7feed import _cx_list, _field, _segment

    header = outcome.header
    facts = {"application": "?", "facility": "?", "type": "", "control": "", "msh": ""}
    ids = ""
    if header is not None:
        facts["application"] = header.application_name or "?"
        facts["facility"] = header.facility_name or "?"
        facts["type"], facts["control"] = header.message_type, header.control
        facts["msh"] = header.segment
    if outcome.message is not None:  # None when the MSH alone could be read
        pid = _segment(outcome.message, "PID", required=False)
        if pid is not None:
            ids = ", ".join(f"{sys}|{value}" for value, sys, _, _ in _cx_list(_field(pid, 3)))
    verdict = "AA accepted"
    if not outcome.accepted and outcome.error is not None:
        verdict = f"{outcome.error.ack} refused ({outcome.error.code}): {outcome.error.text}"
    text = (
        f"HL7 v2 {facts['type'] or 'message'} control {facts['control'] or '?'} from "
        f"{facts['application']}/{facts['facility']}"
    )
    if ids:
        text += f", PID-3 {ids}"
    facts["text"] = f"{text}: {verdict}"[:900]
    return facts
