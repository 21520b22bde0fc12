"""RNIV identity statuses and the only transitions allowed between them.

Statuses: PROV (provisoire), RECUP (récupérée: INS obtained from INSi, identity document
not checked), VALI (validée: high-trust document checked, no INS), QUAL (qualifiée: both).
Attributes DOUT (douteuse) and FICT (fictive) keep an identity provisional.

Events and their effect::

    document  high-trust identity document checked      PROV->VALI  RECUP->QUAL
    insi      INSi retrieval or verification succeeded  PROV->RECUP VALI->QUAL (RECUP, QUAL kept)
    insi-fail INSi verification failed                  QUAL->VALI  RECUP->PROV (INS put "old")
    traits    a strict trait modified outside INSi      any -> PROV (INS put "old")
    doubt     attribute DOUT or FICT set                any -> PROV (INS put "old")
    invalidate identity invalidated by the vigilance cell any -> PROV

Setting the INS aside also clears its INSi record (methodCollection/dateCollection): a
later upgrade by a direct write needs a new INSi call, not the old one (`_demote_ins`).

Anything else is refused: QUAL needs both an INSi success and a high-trust document;
``document`` refuses a low-trust document (permis de conduire, carte vitale…); ``document``
and ``insi`` are refused while the identity is douteuse or fictive (and ``insi`` for a
fictive identity, which INSi does not know).

Every applied transition is recorded as a Provenance and an AuditEvent (see `records`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from socle.fhir.errors import FhirError, Issue
from socle.ins import model as M
from socle.ins.nir import check_nir

DOCUMENT, INSI, INSI_FAIL, TRAITS, DOUBT, INVALIDATE, ATTRIBUTE, FEED = (
    "document",
    "insi",
    "insi-fail",
    "traits",
    "doubt",
    "invalidate",
    "attribute",
    "feed",
)
EVENTS = {
    DOCUMENT: "Contrôle d'un document d'identité à haut niveau de confiance",
    INSI: "Récupération ou vérification INSi réussie",
    INSI_FAIL: "Vérification INSi en échec",
    TRAITS: "Modification d'un trait strict",
    DOUBT: "Attribut douteuse ou fictive positionné",
    INVALIDATE: "Invalidation par la cellule d'identitovigilance",
    ATTRIBUTE: "Attribut d'identité positionné ou retiré",
    FEED: "Statut reçu du flux d'identités HL7 v2 (PAM)",
}
_ORDER = {M.PROV: 0, M.RECUP: 1, M.VALI: 1, M.QUAL: 2}


class TransitionError(FhirError):
    """An illegal status change: 422 with the RNIV reason."""

    def __init__(self, message: str, expression: str | None = None) -> None:
        super().__init__(422, "business-rule", message, expression)


@dataclass(slots=True)
class Transition:
    event: str
    before: str
    after: str
    detail: str = ""

    @property
    def changed(self) -> bool:
        return self.before != self.after


def _demote_ins(ident: M.Identity) -> None:
    """Set the INS aside (``use: old``) with the record of how it was collected.

    methodCollection/dateCollection describe the collection of the current INS (FR Core
    identity reliability); once the INS is set aside they no longer hold, and leaving
    them would let a later direct write re-promote the identity (PROV -> RECUP,
    VALI -> QUAL) on that stale evidence, without a new INSi call (RNIV)."""
    if ident.ins or ident.method == "INSI":
        ident.method = ident.collection_date = ""
    if ident.ins:
        ident.old_ins.append((ident.ins_system, ident.ins))
        ident.ins, ident.ins_system = "", ""


def apply(
    ident: M.Identity,
    event: str,
    *,
    mode: str | None = None,
    on: str | None = None,
    detail: str = "",
) -> tuple[M.Identity, Transition]:
    """The identity after `event`, and the transition (raises TransitionError if illegal)."""
    new = copy.deepcopy(ident)
    before = ident.status
    today = on or date.today().isoformat()
    blocked = ident.attributes & {M.DOUT, M.FICT}
    if event == DOCUMENT:
        if not mode:
            raise TransitionError("Validating an identity needs the identity document type")
        if mode not in M.HIGH_TRUST_DOCUMENTS:
            label = M.VALIDATION_MODES.get(mode, mode)
            raise TransitionError(
                f"{label} ({mode}) is not a high-trust identity document: the identity "
                f"cannot be validated (accepted: {', '.join(sorted(M.HIGH_TRUST_DOCUMENTS))})"
            )
        if blocked:
            raise TransitionError(_blocked_text(blocked, "validated"))
        missing = ident.missing_traits()
        if missing:
            raise TransitionError("Missing mandatory trait(s): " + "; ".join(missing))
        new.validation_mode, new.validation_date = mode, today
        new.status = {M.PROV: M.VALI, M.RECUP: M.QUAL}.get(before, before)
    elif event == INSI:
        if blocked:
            raise TransitionError(_blocked_text(blocked, "qualified through INSi"))
        if not new.ins:
            raise TransitionError("An INSi success must bring an INS matricule")
        check = check_nir(new.ins, system=new.ins_system)
        if not check.valid:
            # not quoted: the identity is not qualifiée yet (the outgoing rule)
            raise TransitionError(f"The INS INSi returned is not valid: {check.reason}")
        new.method, new.collection_date = "INSI", today
        new.status = {M.PROV: M.RECUP, M.VALI: M.QUAL}.get(before, before)
    elif event == INSI_FAIL:
        _demote_ins(new)
        new.status = {M.QUAL: M.VALI, M.RECUP: M.PROV}.get(before, before)
    elif event in (TRAITS, DOUBT, INVALIDATE):
        _demote_ins(new)
        new.status = M.PROV
        new.validation_mode = new.validation_date = ""
    else:
        raise TransitionError(f"Unknown identity event {event!r}")
    return new, Transition(event, before, new.status, detail)


def _blocked_text(attrs: set[str], what: str) -> str:
    names = " and ".join("douteuse" if a == M.DOUT else "fictive" for a in sorted(attrs))
    return f"An identity with the attribute {names} stays provisional: it cannot be {what}"


def check_direct_write(old: M.Identity | None, new: M.Identity) -> tuple[M.Identity, str | None]:
    """Rules for a Patient written directly (PUT/POST/transaction, HL7 feed).

    Returns the identity to store (possibly downgraded) and the event applied, if any.
    Raises TransitionError for an upgrade without evidence or inconsistent content.
    """
    issues: list[Issue] = []
    if new.ins:
        check = check_nir(new.ins, system=new.ins_system)
        if not check.valid:
            issues.append(
                Issue(
                    "error",
                    "business-rule",
                    f"INS {new.ins}: {check.reason}",
                    ["Patient.identifier"],
                )
            )
    if new.status in (M.VALI, M.QUAL, M.RECUP) and new.attributes & {M.DOUT, M.FICT}:
        issues.append(
            Issue(
                "error",
                "business-rule",
                _blocked_text(
                    new.attributes & {M.DOUT, M.FICT}, f"{M.STATUSES[new.status].lower()}"
                ),
            )
        )
    if new.status in (M.VALI, M.QUAL):
        missing = new.missing_traits()
        if missing:
            issues.append(
                Issue(
                    "error",
                    "required",
                    "Missing mandatory trait(s) for a "
                    f"{new.status} identity: " + "; ".join(missing),
                )
            )
        # checked when the document is new: an identity validated before the list
        # followed FR Core (CS, CE, IE) stays writable, its document is not re-judged
        kept = old is not None and old.validation_mode == new.validation_mode
        if new.validation_mode and new.validation_mode not in M.HIGH_TRUST_DOCUMENTS and not kept:
            issues.append(
                Issue(
                    "error",
                    "business-rule",
                    f"validationMode {new.validation_mode}"
                    " is not a high-trust document: the identity cannot be "
                    f"{new.status}",
                )
            )
    if new.status in (M.RECUP, M.QUAL) and not new.ins:
        issues.append(
            Issue("error", "business-rule", f"A {new.status} identity must carry its INS matricule")
        )
    if issues:
        raise FhirError(422, "business-rule", issues[0].diagnostics, issues=issues)
    if old is None:
        return new, None
    # a strict trait modified outside INSi: the identity falls back to provisional
    if old.status != M.PROV and old.strict_traits() != new.strict_traits():
        downgraded, _ = apply(new, TRAITS)
        return downgraded, TRAITS
    if (new.attributes - old.attributes) & {M.DOUT, M.FICT} and new.status != M.PROV:
        downgraded, _ = apply(new, DOUBT)
        return downgraded, DOUBT
    if _ORDER[new.status] > _ORDER[old.status] or ({old.status, new.status} == {M.RECUP, M.VALI}):
        needs = []
        document = new.status in (M.VALI, M.QUAL) and old.status in (M.PROV, M.RECUP)
        if document and new.validation_mode not in M.HIGH_TRUST_DOCUMENTS:
            needs.append("a high-trust identity document (validationMode)")
        insi = new.status in (M.RECUP, M.QUAL) and old.status in (M.PROV, M.VALI)
        # the INSi record the stored PROV/VALI identity already carried is not evidence
        # of a new INSi call (it predates the INS being set aside)
        stale = (old.method, old.collection_date) == (new.method, new.collection_date)
        if insi and (new.method != "INSI" or not new.collection_date or stale):
            needs.append(
                "an INSi retrieval or verification (methodCollection INSI "
                "and dateCollection; use $ins-retrieve or $ins-verify)"
            )
        if needs:
            raise TransitionError(
                f"Illegal identity status change {old.status} -> {new.status}: it needs "
                + " and ".join(needs),
                "Patient.extension",
            )
    return new, None


# --------------------------------------------------------------------------- records


def now_instant() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def records(
    patient_ref: str, transition: Transition, who: str = "Socle INS", reason: str = ""
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Provenance and AuditEvent recording one transition on `patient_ref`.

    `patient_ref` is versioned (``Patient/x/_history/n``) when known.
    """
    stamp = now_instant()
    label = f"{transition.before} -> {transition.after}"
    text = f"{EVENTS.get(transition.event, transition.event)}: {label}"
    if transition.detail:
        text += f" ({transition.detail})"
    activity = M.coding(M.CS_INS_EVENT, transition.event, EVENTS.get(transition.event))
    provenance = {
        "resourceType": "Provenance",
        "target": [{"reference": patient_ref}],
        "recorded": stamp,
        "activity": {"coding": [activity], "text": label},
        "reason": [{"text": reason or text}],
        "agent": [{"who": {"display": who}}],
    }
    base_ref = patient_ref.split("/_history")[0]
    audit = {
        "resourceType": "AuditEvent",
        "type": {
            "system": "http://dicom.nema.org/resources/ontology/DCM",
            "code": "110110",
            "display": "Patient Record",
        },
        "subtype": [activity],
        "action": "U",
        "recorded": stamp,
        "outcome": "0",
        "outcomeDesc": text,
        "agent": [{"who": {"display": who}, "requestor": True}],
        "source": {"observer": {"display": "Socle INS"}},
        "entity": [
            {
                "what": {"reference": base_ref},
                "detail": [
                    {"type": "status-before", "valueString": transition.before},
                    {"type": "status-after", "valueString": transition.after},
                ],
            }
        ],
    }
    return provenance, audit
