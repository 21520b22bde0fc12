"""The write hook: INS and RNIV rules on every Patient written directly (REST, Bundles, loader).

On **every** Patient write (INS operations and the HL7 feed set a context flag and apply
the rules themselves):

* INS identifier values (the four INS systems) are stored without the spaces, dots and
  dashes people type (``nir.clean``), so that searches and the identity index find them;
* INS identifiers the outgoing rule hid from the client (the stored identity is not
  qualifiée) and that the new version lacks are put back as stored: a client that read
  the Patient (GET, or the PATCH base) never saw them, so leaving them out is not a
  removal. One the client replaced by an INS of its own is put back as ``old``;
* every INS identifier that arrives (any ``use``: a matricule with a wrong key is never
  valid) must pass ``check_nir``; those carried over from the stored version are not
  judged again;
* at most one current (not ``old``) INS identifier (FR Core fr-core-2).

Patients under identity vigilance (an identity reliability or RNIV status extension, in
the new version or the stored one) then get the RNIV rules (`status.check_direct_write`):
refused (422) for content whose statuses or first names disagree, a douteuse/fictive
identity claiming a higher status, missing traits, an upgrade without evidence dated
after the stored identity reached its status, or the INS of a récupérée/qualifiée
identity replaced without a new INSi record; downgraded (in place, RNIV) when a strict
trait was modified, or when the reliability extensions were removed (`invalidate`). The
server dates each status change (`M.EXT_RNIV_STATUS_DATE`) from the stored version,
whatever the client sent.

It runs in the writer's transaction (`engine.hooks.write`): the version being
replaced is read there, so a Bundle that writes one Patient twice compares each write
with the previous one, and no second connection is taken while the writer holds locks.
"""

from __future__ import annotations

import copy
import re
from typing import TYPE_CHECKING, Any

import orjson

from socle.fhir.errors import FhirError, Issue
from socle.ins import model as M
from socle.ins import status as S
from socle.ins.nir import check_nir, clean, is_ins
from socle.ins.outgoing import filter_patient
from socle.ins.service import OP_FLAG

if TYPE_CHECKING:
    from socle.fhir.context import RequestContext
    from socle.fhir.engine import FhirEngine
    from socle.fhir.storage.store import StoreSession


def _stored(s: StoreSession, resource: dict[str, Any]) -> dict[str, Any] | None:
    """The version being replaced (None for a creation or a deleted Patient): the one the
    write already read (`Hooks.reads_replaced`), else read now."""
    stored = s.read("Patient", resource["id"])  # from memory: the write locked the row
    if stored is None or stored.content is None:
        return None
    return orjson.loads(stored.content)


def _ins_identifiers(patient: dict[str, Any]) -> list[dict[str, Any]]:
    return [i for i in patient.get("identifier") or [] if is_ins(i)]


def _key(identifier: dict[str, Any]) -> tuple[str, str]:
    value = identifier.get("value")
    return identifier["system"], clean(value) if isinstance(value, str) else ""


def _normalise_ins(resource: dict[str, Any]) -> None:
    """Store INS values as check_nir reads them (no spaces, dots, dashes; 2A/2B)."""
    for identifier in _ins_identifiers(resource):
        if isinstance(identifier.get("value"), str):
            identifier["value"] = clean(identifier["value"])


def _restore_hidden_ins(previous: dict[str, Any], resource: dict[str, Any]) -> set[tuple[str, str]]:
    """Put back the INS identifiers the outgoing rule hid and the new version lacks.

    The client could not send what it never saw: such an identifier is kept as stored
    (same use, type, system, value), or as ``old`` when the client brought a current
    INS of its own (the hidden one was replaced: one current INS, fr-core-2). Returns the
    keys of the current INS put back: the client never saw them."""
    shown = {_key(i) for i in _ins_identifiers(filter_patient(previous))}
    sent = {_key(i) for i in _ins_identifiers(resource)}
    current = any(i.get("use") != "old" for i in _ins_identifiers(resource))
    hidden = [
        copy.deepcopy(i)
        for i in _ins_identifiers(previous)
        if _key(i) not in sent and _key(i) not in shown  # one it saw and left out: removed
    ]
    for identifier in hidden:
        if current and identifier.get("use") != "old":
            identifier["use"] = "old"
    if hidden:
        resource["identifier"] = [*(resource.get("identifier") or []), *hidden]
    return _current_ins(hidden)


def _current_ins(identifiers: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """The INS that are not set aside (``use`` other than old)."""
    return {_key(i) for i in identifiers if i.get("use") != "old"}


def _check_ins_identifiers(resource: dict[str, Any], previous: dict[str, Any] | None) -> None:
    """Refuse (422) an arriving INS that is not a matricule, or two current INS."""
    stored = _ins_identifiers(previous or {})
    issues = _invalid_ins(resource, {_key(i) for i in stored})
    current = _current_ins(_ins_identifiers(resource))
    if len(current) > 1 and current != _current_ins(stored):  # a stored pair is not re-judged
        issues.append(
            Issue(
                "error",
                "business-rule",
                f"{len(current)} current INS identifiers: a Patient has one official INS "
                "(FR Core fr-core-2); a replaced one has use 'old'",
                ["Patient.identifier"],
            )
        )
    if issues:
        raise FhirError(422, "business-rule", issues[0].diagnostics, issues=issues)


def _invalid_ins(resource: dict[str, Any], carried: set[tuple[str, str]]) -> list[Issue]:
    """check_nir on each INS identifier, whatever its use, but those `carried` over."""
    issues: list[Issue] = []
    for n, identifier in enumerate(resource.get("identifier") or []):
        if not is_ins(identifier):
            continue
        if _key(identifier) in carried:
            continue
        check = check_nir(identifier.get("value"), system=identifier["system"])
        if not check.valid:
            issues.append(
                Issue(
                    "error",
                    "business-rule",
                    f"INS {check.value} ({identifier['system']}): {check.reason}",
                    [f"Patient.identifier[{n}]"],
                )
            )
    return issues


def _apply_rniv(
    resource: dict[str, Any], previous: dict[str, Any] | None, unseen: set[tuple[str, str]]
) -> None:
    """RNIV rules on a Patient under identity vigilance; rewrites `resource` in place.

    A stored Patient without vigilance extensions is judged with its derived status (a
    plain Patient with an INS is récupérée): claiming a higher one needs the evidence.
    `unseen`: the current INS the client did not send (restored): a new INSi record
    must come with the INS that INSi returned, not with one the client never saw."""
    old = M.read_identity(previous) if previous else None
    new = M.read_identity(resource)
    withdrawn = previous is not None and _evidence_removed(previous, resource)
    if withdrawn and old is not None:
        new = S.evidence_withdrawn(old, new)
    elif old is not None and unseen and _new_insi_record(old, new):
        raise S.TransitionError(
            "A new INSi record (methodCollection INSI, dateCollection) comes with the INS "
            "INSi returned: send it in Patient.identifier",
            "Patient.identifier",
        )
    result, event = S.check_direct_write(old, new)
    if withdrawn:
        event = event or S.INVALIDATE
    if event is not None:
        rewritten = M.write_identity(resource, result)
        resource.clear()
        resource.update(rewritten)
    # dated by the server from the stored version, never from the body
    kept = old is not None and old.status == result.status
    M.set_status_date(resource, old.status_date if old is not None and kept else M.now_instant())


def _evidence_removed(previous: dict[str, Any], resource: dict[str, Any]) -> bool:
    """The write drops the vigilance extensions, or the FR Core reliability extension
    that holds the evidence (document, INSi record) of the stored status."""
    if not M.is_managed(previous):
        return False
    if not M.is_managed(resource):
        return True
    return M.has_reliability(previous) and not M.has_reliability(resource)


def _new_insi_record(old: M.Identity, new: M.Identity) -> bool:
    return new.method == "INSI" and (new.method, new.collection_date) != (
        old.method,
        old.collection_date,
    )


_LOCAL_PATIENT = re.compile(r"Patient/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?")


def _local_replaced_by(patient: dict[str, Any]) -> str | None:
    """The id of a local `Patient/<id>` (versioned or not) a replaced-by link names."""
    for link in patient.get("link") or []:
        if isinstance(link, dict) and link.get("type") == "replaced-by":
            other = link.get("other")
            ref = other.get("reference") if isinstance(other, dict) else None
            found = _LOCAL_PATIENT.fullmatch(ref) if isinstance(ref, str) else None
            return found.group(1) if found else None
    return None


def _chain_reaches(s: StoreSession, start: str, wanted: str, hops: int = 50) -> bool:
    """Whether the local replaced-by links from `start` reach `wanted`; a Patient not
    (yet) stored or deleted ends the chain (a transaction may write the survivor later)."""
    seen: set[str] = set()
    current: str | None = start
    while current and current not in seen and hops:
        if current == wanted:
            return True
        seen.add(current)
        hops -= 1
        stored = s.read("Patient", current)
        if stored is None or stored.content is None:
            return False
        current = _local_replaced_by(orjson.loads(stored.content))
    return False


def _check_link_cycle(s: StoreSession, patient: dict[str, Any], previous: dict | None) -> None:
    """A replaced-by link written directly must not close a cycle (A replaced by B, B by
    A): merged identities would then have no survivor ($ins-merge refuses it too)."""
    target, pid = _local_replaced_by(patient), patient.get("id")
    if not target or not pid or (previous is not None and _local_replaced_by(previous) == target):
        return
    if target == pid or _chain_reaches(s, target, pid):
        raise FhirError(
            422,
            "business-rule",
            f"Patient/{pid} replaced-by Patient/{target} would close a cycle of merged "
            "identities (the chain from the target leads back to this Patient)",
            "Patient.link",
        )


def make_write_hook(engine: FhirEngine):  # noqa: ARG001 - same factory shape as the others
    """The write hook applying the INS and RNIV rules to direct writes."""

    def ins_write_hook(
        s: StoreSession, ctx: RequestContext, resource: dict[str, Any], created: bool
    ) -> None:
        if resource.get("resourceType") != "Patient" or ctx.extras.get(OP_FLAG):
            return
        previous = _stored(s, resource) if not created and resource.get("id") else None
        _normalise_ins(resource)
        _check_link_cycle(s, resource, previous)
        unseen = _restore_hidden_ins(previous, resource) if previous is not None else set()
        _check_ins_identifiers(resource, previous)
        if M.is_managed(resource) or (previous is not None and M.is_managed(previous)):
            _apply_rniv(resource, previous, unseen)

    return ins_write_hook
