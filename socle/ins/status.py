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
    invalidate identity invalidated by the vigilance cell any -> PROV (INS put "old")

Setting the INS aside also clears its INSi record (methodCollection/dateCollection): a
later upgrade by a direct write needs a new INSi call, not the old one (`_demote_ins`).

Anything else is refused: QUAL needs both an INSi success and a high-trust document;
``document`` refuses a low-trust document (permis de conduire, carte vitale…); ``document``
and ``insi`` are refused while the identity is douteuse or fictive (and ``insi`` for a
fictive identity, which INSi does not know).

Direct writes (`check_direct_write`, from the write hook and the HL7 feed) state a status
instead of naming an event; they are judged against the stored identity:

* refused (422) when inconsistent: an invalid INS; the FR Core identityStatus and the RNIV
  status disagree (PROV/RECUP are written PROV, VALI/QUAL VALI); name[official].given is
  not the beginning of the birth first-names list; a douteuse/fictive identity above
  PROV; missing traits or a low-trust document for VALI/QUAL; RECUP/QUAL without INS;
* refused when the INS of a RECUP/QUAL identity is replaced without a new INSi record
  (methodCollection INSI, dateCollection after the stored one): the INS comes only from
  INSi;
* ``traits`` / ``doubt`` applied when a strict trait changed or DOUT/FICT was set;
* an upgrade is the ``document`` and/or ``insi`` event, and needs its evidence
  (validationMode + validationDate; methodCollection INSI + dateCollection) dated on or
  after the day the stored identity reached its status (`Identity.status_date`, which
  the server records): evidence that predates a downgrade is what the downgrade set
  aside, and a new document check or INSi call is needed;
* a write that drops the reliability extensions of an identity under vigilance withdraws
  its evidence: the ``invalidate`` event (`evidence_withdrawn`), not a status derived
  from what is left.

Every applied transition is recorded as a Provenance and an AuditEvent (see `records`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from socle.fhir.errors import FhirError, Issue
from socle.ins import model as M
from socle.ins import normalize as N
from socle.ins.nir import check_nir, clean

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
CREATED = "created"  # a Patient created with a status other than provisional
EVENTS = {
    DOCUMENT: "Contrôle d'un document d'identité à haut niveau de confiance",
    INSI: "Récupération ou vérification INSi réussie",
    INSI_FAIL: "Vérification INSi en échec",
    TRAITS: "Modification d'un trait strict",
    DOUBT: "Attribut douteuse ou fictive positionné",
    INVALIDATE: "Invalidation par la cellule d'identitovigilance",
    ATTRIBUTE: "Attribut d'identité positionné ou retiré",
    FEED: "Statut reçu du flux d'identités HL7 v2 (PAM)",
    CREATED: "Identité créée avec ce statut",
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
        _check_document_date(ident, today)
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
    new.fr_status = ""  # what was read no longer holds: write_identity writes the new one
    return new, Transition(event, before, new.status, detail)


def _blocked_text(attrs: set[str], what: str) -> str:
    names = " and ".join("douteuse" if a == M.DOUT else "fictive" for a in sorted(attrs))
    return f"An identity with the attribute {names} stays provisional: it cannot be {what}"


def check_direct_write(old: M.Identity | None, new: M.Identity) -> tuple[M.Identity, str | None]:
    """Rules for a Patient written directly (PUT/POST/transaction, HL7 feed).

    Returns the identity to store (possibly downgraded) and the event applied, if any.
    Raises FhirError (422) for inconsistent content, TransitionError for an upgrade
    without fresh evidence or an INS replaced outside INSi (see the module docstring).
    """
    issues = _content_issues(old, new)
    if issues:
        raise FhirError(422, "business-rule", issues[0].diagnostics, issues=issues)
    if old is None:
        return new, None
    _check_ins_replaced(old, new)
    # a strict trait modified outside INSi: the identity falls back to provisional
    if old.status != M.PROV and old.strict_traits() != new.strict_traits():
        downgraded, _ = apply(new, TRAITS)
        return downgraded, TRAITS
    if (new.attributes - old.attributes) & {M.DOUT, M.FICT} and new.status != M.PROV:
        downgraded, _ = apply(new, DOUBT)
        return downgraded, DOUBT
    if _ORDER[new.status] > _ORDER[old.status] or ({old.status, new.status} == {M.RECUP, M.VALI}):
        needs = _missing_evidence(old, new)
        if needs:
            raise TransitionError(
                f"Illegal identity status change {old.status} -> {new.status}: it needs "
                + " and ".join(needs),
                "Patient.extension",
            )
    return new, None


def evidence_withdrawn(old: M.Identity, new: M.Identity) -> M.Identity:
    """A Patient under identity vigilance written without its reliability extensions.

    Its status would otherwise be derived from what is left (QUAL -> RECUP, not an RNIV
    transition). Withdrawing the evidence is read as the ``invalidate`` event: the
    identity is provisional, its INS set aside (``old``) with its INSi record; the
    attributes (douteuse, fictive, homonyme) are vigilance findings, kept as stored."""
    body = copy.deepcopy(new)
    body.attributes = set(old.attributes)
    withdrawn, _ = apply(body, INVALIDATE)
    return withdrawn


def _issue(text: str, code: str = "business-rule", where: str | None = None) -> Issue:
    return Issue("error", code, text, [where] if where else [])


def _content_issues(old: M.Identity | None, new: M.Identity) -> list[Issue]:
    """What makes `new` inconsistent whatever the version it replaces."""
    issues: list[Issue] = []
    carried = old is not None and (old.ins, old.ins_system) == (new.ins, new.ins_system)
    if new.ins and not carried:  # a stored INS is not judged again (it may predate a rule)
        check = check_nir(new.ins, system=new.ins_system)
        if not check.valid:
            # not quoted: the identity is not qualifiée (the outgoing rule)
            issues.append(_issue(f"The INS: {check.reason}", where="Patient.identifier"))
    declared = M.FR_STATUS_CODES.get(new.fr_status)
    if declared and declared != M.FR_STATUS_OF[new.status]:
        issues.append(
            _issue(
                f"The FR Core identityStatus {new.fr_status} disagrees with the RNIV status "
                f"{new.status}: a {new.status} identity has identityStatus "
                f"{M.FR_STATUS_OF[new.status]} (PROV and RECUP are written PROV, VALI and "
                "QUAL are written VALI)",
                where="Patient.extension",
            )
        )
    blocked = new.attributes & {M.DOUT, M.FICT}
    if new.status in (M.VALI, M.QUAL, M.RECUP) and blocked:
        issues.append(
            _issue(
                _blocked_text(blocked, f"{M.STATUSES[new.status].lower()}"),
                where="Patient.extension",
            )
        )
    if new.status in (M.VALI, M.QUAL):
        issues += _validated_issues(old, new)
    if new.status in (M.RECUP, M.QUAL) and not new.ins:
        issues.append(
            _issue(
                f"A {new.status} identity must carry its INS matricule",
                "required",
                "Patient.identifier",
            )
        )
    given = _given_disagreement(old, new)
    if given:
        issues.append(_issue(given, where="Patient.name"))
    return issues


def _validated_issues(old: M.Identity | None, new: M.Identity) -> list[Issue]:
    """A VALI/QUAL identity: its mandatory traits, and a high-trust document."""
    issues: list[Issue] = []
    missing = new.missing_trait_paths()
    if missing:
        issues.append(
            _issue(
                f"Missing mandatory trait(s) for a {new.status} identity: "
                + "; ".join(label for label, _ in missing),
                "required",
                missing[0][1],
            )
        )
    # checked when the document is new: an identity validated before the list
    # followed FR Core (CS, CE, IE) stays writable, its document is not re-judged
    kept = old is not None and old.validation_mode == new.validation_mode
    if new.validation_mode and new.validation_mode not in M.HIGH_TRUST_DOCUMENTS and not kept:
        issues.append(
            _issue(
                f"validationMode {new.validation_mode} is not a high-trust document: the "
                f"identity cannot be {new.status}",
                where="Patient.extension",
            )
        )
    return issues


def _given_disagreement(old: M.Identity | None, new: M.Identity) -> str | None:
    """Why name[official].given disagrees with the birth first-names list, if it does.

    ``given`` holds the first birth first name (or the first ones, or all) of the list
    (fr-core-patient-birth-list-given-name). A ``given`` that is not the beginning of the
    list is refused rather than read as a trait change: which of the two the writer meant
    is unknown, and storing both would keep an inconsistent strict trait. The pair a
    stored version already carried is not judged again."""
    shown = N.compare_key(" ".join(new.name_given))
    listed = N.compare_key(" ".join(new.given))
    if not shown or listed == shown or listed.startswith(shown + " "):
        return None
    if old is not None and (old.name_given, old.given) == (new.name_given, new.given):
        return None
    return (
        f"name[use=official].given ({' '.join(new.name_given)}) disagrees with the birth "
        f"first names list ({' '.join(new.given)}, extension "
        "fr-core-patient-birth-list-given-name): given holds the first birth first name(s) "
        "of the list; change both together (changing the birth first names is a strict "
        "trait change)"
    )


def _ins_key(ident: M.Identity) -> tuple[str, str]:
    return ident.ins_system, clean(ident.ins)


def _check_ins_replaced(old: M.Identity, new: M.Identity) -> None:
    """RNIV: the INS of a récupérée/qualifiée identity comes only from INSi.

    Replacing it (another matricule or OID) needs a new INSi record: methodCollection
    INSI with a dateCollection after the stored one."""
    if old.status not in (M.RECUP, M.QUAL) or not old.ins or not new.ins:
        return
    if _ins_key(new) == _ins_key(old):
        return
    if new.method == "INSI" and new.collection_date[:10] > old.collection_date[:10]:
        return
    raise TransitionError(
        f"The INS of a {M.STATUSES[old.status].lower()} ({old.status}) identity comes only "
        "from INSi: replacing it needs a new INSi retrieval or verification "
        "(methodCollection INSI with a dateCollection after the stored one; use "
        "$ins-retrieve or $ins-verify)",
        "Patient.identifier",
    )


def _check_document_date(ident: M.Identity, checked_on: str) -> None:
    """The document check is dated: not in the future, not before the identity reached
    its current status (a check older than a downgrade says nothing of the identity as it
    is now: the direct-write rule, `_predates`). The date is the caller's local one: it
    may be the next day of the UTC date (a French site just after midnight), not later."""
    latest = datetime.now(UTC).date() + timedelta(days=1)
    if checked_on[:10] > latest.isoformat():
        raise TransitionError(
            f"The identity document check date {checked_on} is in the future",
            "Patient.extension",
        )
    if _predates(checked_on, ident):
        raise TransitionError(
            f"The identity document check date {checked_on} is before the identity reached "
            f"its current status ({ident.status_date[:10]}): check the document again",
            "Patient.extension",
        )


def _predates(evidence: str, old: M.Identity) -> bool:
    """Evidence dated before the stored identity reached its status (day precision)."""
    since = old.status_date[:10]
    return bool(since) and (evidence or "")[:10] < since


def _missing_evidence(old: M.Identity, new: M.Identity) -> list[str]:
    """What an upgrade from `old` to `new` lacks: each piece of evidence must be presented,
    be new, and postdate the moment the stored identity reached its status (evidence
    that predates a downgrade is the evidence the downgrade set aside)."""
    needs = []
    since = old.status_date[:10]
    document = new.status in (M.VALI, M.QUAL) and old.status in (M.PROV, M.RECUP)
    if document and new.validation_mode not in M.HIGH_TRUST_DOCUMENTS:
        needs.append("a high-trust identity document (validationMode)")
    elif document and _predates(new.validation_date, old):
        needs.append(
            f"an identity document checked on or after {since}, when the identity became "
            f"{old.status} (validationDate {new.validation_date or 'absent'}): check the "
            "document again"
        )
    # an INS the stored identity holds without an INSi record (a plain Patient's, whose
    # status is only derived) was never obtained from INSi: qualifying it needs one too
    insi = new.status in (M.RECUP, M.QUAL) and (
        old.status in (M.PROV, M.VALI) or old.method != "INSI"
    )
    # the INSi record the stored PROV/VALI identity already carried is not evidence
    # of a new INSi call (it predates the INS being set aside)
    stale = (old.method, old.collection_date) == (new.method, new.collection_date)
    if insi and (new.method != "INSI" or not new.collection_date or stale):
        needs.append(
            "an INSi retrieval or verification (methodCollection INSI "
            "and dateCollection; use $ins-retrieve or $ins-verify)"
        )
    elif insi and _predates(new.collection_date, old):
        needs.append(
            f"a new INSi retrieval or verification on or after {since}, when the identity "
            f"became {old.status} (dateCollection {new.collection_date}; use $ins-retrieve "
            "or $ins-verify)"
        )
    return needs


# --------------------------------------------------------------------------- records


def records(
    patient_ref: str, transition: Transition, who: str = "Socle INS", reason: str = ""
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Provenance and AuditEvent recording one transition on `patient_ref`.

    `patient_ref` is versioned (``Patient/x/_history/n``) when known.
    """
    stamp = M.now_instant()
    label = f"{transition.before or 'new'} -> {transition.after}"
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
        "action": "C" if not transition.before else "U",
        "recorded": stamp,
        "outcome": "0",
        "outcomeDesc": text,
        "agent": [{"who": {"display": who}, "requestor": True}],
        "source": {"observer": {"display": "Socle INS"}},
        "entity": [
            {
                "what": {"reference": base_ref},
                "detail": [
                    {"type": f"status-{when}", "valueString": status}
                    for when, status in (("before", transition.before), ("after", transition.after))
                    if status
                ],
            }
        ],
    }
    return provenance, audit
