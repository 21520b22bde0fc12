"""`SecurityGuard`: the one implementation of the kernel's Guard, with the policy and audit.

The kernel asks it (`authorize`, `search_criteria`, `visible`) wherever data is read or
written; the REST layer calls `record` once per request with the HTTP outcome. What the
request touched (patients, resources, decisions) is collected in
`ctx.extras["socle.audit"]` by the first three and written by `record` as one
AuditEvent. A request that writes gets its event earlier, inside the write's own
transaction (`before_commit`, called by `transactions.TrackedStore` just before a write
session of the request commits), so that the write and its event commit together;
`record` then only adds what came after. Break-glass side effects (the time-boxed grant,
the patient's notification, the emergency event, in one transaction) are applied by
`record`, after the data session has ended.

A context without a principal is refused (401), unless a service marks its own internal
work with `ctx.extras["socle.internal"] = True`.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import insert

from socle.fhir.errors import FhirError
from socle.fhir.guard import (
    CREATE,
    DELETE,
    OPERATION,
    READ,
    REQUEST_ACCESS,
    SEARCH,
    Access,
    AuditFailed,
    current_request,
)
from socle.security import tables as T
from socle.security.audit import AuditLog, AuditRecord, AuditUnavailable
from socle.security.information import Information
from socle.security.links import looked_into, refusal_text
from socle.security.policy import Decision, Policy, RequestFacts, deny
from socle.security.principal import (
    ADMIN,
    PATIENT,
    PRACTITIONER,
    RELATED,
    SECRETARY,
    SYSTEM,
    Principal,
)

if TYPE_CHECKING:
    from socle.fhir.context import RequestContext
    from socle.fhir.engine import FhirEngine
    from socle.fhir.storage.store import StoreSession

log = logging.getLogger("socle.security")
NOTES = "socle.audit"
FACTS = "socle.request"
SEARCH_GUARDED = "socle.search_guarded"  # set by search_criteria: the search was confined
AUDITED = "socle.audited"  # a write transaction of the request committed with its event
CLASS_SYSTEM = "https://mos.esante.gouv.fr/NOS/TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument"


@dataclass
class Notes:
    """What one request touched and how it was decided (for its AuditEvent)."""

    patients: dict[str, None] = field(default_factory=dict)
    entities: dict[str, None] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    hidden: int = 0
    break_glass: dict[str, str] = field(default_factory=dict)  # patient -> reason
    via_code: bool = False

    def empty(self) -> bool:
        """Nothing noted that an AuditEvent has not already told."""
        return not (self.patients or self.entities or self.reasons or self.hidden)

    def consumed(self) -> Notes:
        """Fresh notes after an event was written; pending break-glass grants carry over."""
        return Notes(break_glass=self.break_glass, via_code=self.via_code)


def notes_of(ctx: RequestContext) -> Notes:
    notes = ctx.extras.get(NOTES)
    if notes is None:
        notes = ctx.extras[NOTES] = Notes()
    return notes


def agent_of(p: Principal | None) -> dict[str, Any]:
    if p is None:
        return {"id": "anonymous"}
    return {
        "kind": p.kind,
        "id": p.agent_id,
        "rpps": p.rpps,
        "ins": p.ins,
        "reference": p.fhir_user,
        "display": p.display,
        "profession": p.profession,
        "client_id": p.client_id,
        "token_id": p.token_id,
    }


class SecurityGuard:
    """Authorisation through the policy engine, and the audit trail."""

    audits = True  # the REST layer records every interaction through it
    checks_replaced = True

    def __init__(
        self,
        engine: FhirEngine,
        policy: Policy,
        information: Information,
        audit: AuditLog,
        break_glass_minutes: int = 60,
    ) -> None:
        self.engine = engine
        self.policy = policy
        self.info = information
        self.audit = audit
        self.break_glass_minutes = break_glass_minutes
        self._masks: dict[str, tuple[tuple[int, int], float, list[tuple[str, set[str], str]]]] = {}
        self._lock = threading.Lock()

    # -- the Guard protocol ---------------------------------------------------------------

    def authorize(self, ctx: RequestContext, access: Access) -> None:
        p = self._subject(ctx)
        if p is None:
            return
        if access.action == OPERATION:
            decision = self._operation(ctx, p, access)
        else:
            if access.resource is None and access.res_id and access.action == DELETE:
                # decide on what is being deleted (its patient, class, labels)
                current = self.info.read(ctx.tenant, access.res_type or "", access.res_id)
                access = Access(access.action, access.res_type, access.res_id, current)
            decision = self.policy.decide(
                p, access.action, access.res_type or "", access.resource, ctx.tenant, _facts(ctx)
            )
        self._note(ctx, access, decision)
        if not decision.allow:
            raise _refusal(decision)

    def search_criteria(self, ctx: RequestContext, res_type: str | None) -> list[tuple[str, str]]:
        p = self._subject(ctx)
        if p is None:
            return []
        result = self.policy.search_scope(p, res_type, ctx.tenant)
        if isinstance(result, Decision):
            self._note(ctx, Access(SEARCH, res_type), result)
            raise _refusal(result)
        criteria = list(result)
        if p.kind in (PRACTITIONER, SECRETARY) and res_type == "DocumentReference":
            hidden = self._masked_for(ctx.tenant, p)
            if hidden:
                criteria.append(("_id:not", ",".join(sorted(hidden))))
            # classes the matrix does not let this profession read: out of the query (and
            # of the total), not only out of the page
            unreadable = self.policy.unreadable_classes(p)
            if unreadable:
                codes = ",".join(f"{CLASS_SYSTEM}|{code}" for code in sorted(unreadable))
                criteria.append(("category:not", codes))
        if p.kind in (PATIENT, RELATED) and res_type == "DocumentReference":
            criteria.append(("security-label:not", "INVISIBLE_PATIENT"))
        notes_of(ctx).reasons.append(f"search {res_type or '*'} confined by {criteria or 'none'}")
        ctx.extras[SEARCH_GUARDED] = True
        return criteria

    def visible(self, ctx: RequestContext, resource: dict[str, Any]) -> bool:
        p = self._subject(ctx)
        if p is None:
            return True
        decision = self.policy.decide(
            p, READ, resource.get("resourceType", ""), resource, ctx.tenant, _facts(ctx)
        )
        notes = notes_of(ctx)
        if decision.allow:
            for pid in decision.patients:
                notes.patients[pid] = None
            if decision.break_glass:
                self._note_break_glass(ctx, decision)
            return True
        notes.hidden += 1
        return False

    def check_query(self, ctx: RequestContext, res_type: str | None, criteria: list) -> None:
        """Chains, `_has` and `_list` may only look into types readable without per-resource
        rules (see `socle.security.links`); administrators and system clients are free."""
        p = self._subject(ctx)
        if p is None or p.kind in (SYSTEM, ADMIN):
            return
        transparent = self.policy.transparent_types(p)
        for target, how in looked_into(criteria):
            if target not in transparent:
                decision = deny("search-links", refusal_text(target, how, transparent))
                self._note(ctx, Access(SEARCH, res_type), decision)
                raise _refusal(decision)

    def record(self, ctx: RequestContext, access: Access, outcome: int) -> None:
        """The request's AuditEvent, unless its write transaction already carried it."""
        p = ctx.principal if isinstance(ctx.principal, Principal) else None
        notes = notes_of(ctx)
        if ctx.extras.pop("socle.dirty", False):
            self.info.invalidate()  # after the commit too: no stale facts cached meanwhile
        unguarded = access.action == SEARCH and outcome < 400 and not ctx.extras.get(SEARCH_GUARDED)
        if unguarded:  # fail closed: a search that never asked the guard is not answered
            notes.reasons.append("search refused: it was not confined by the guard")
            outcome = 500
        for pid, reason in notes.break_glass.items():
            if outcome < 400:
                self._start_break_glass(ctx, p, pid, reason)
        if ctx.extras.get(AUDITED) and outcome < 400 and notes.empty():
            return  # told by the event committed with the write
        self.audit.append(self._record_of(ctx, access, outcome))
        if unguarded:
            raise FhirError(
                500, "exception", "This search path does not consult the access policy: refused"
            )

    def before_commit(self, session: Any) -> RequestContext | None:
        """A request's write transaction is about to commit: add its AuditEvent to it, so
        that the write and its audit commit together (no audit, no write)."""
        ctx = current_request.get()
        if ctx is None or not isinstance(ctx.principal, Principal):
            return None
        access = ctx.extras.get(REQUEST_ACCESS)
        if access is None:
            return None
        outcome = 201 if access.action == CREATE else 200
        try:
            self.audit.append_in(session.conn, self._record_of(ctx, access, outcome), session)
        except AuditUnavailable as exc:
            raise AuditFailed() from exc
        ctx.extras[NOTES] = notes_of(ctx).consumed()
        return ctx

    def after_commit(self, ctx: RequestContext) -> None:
        ctx.extras[AUDITED] = True

    def _record_of(self, ctx: RequestContext, access: Access, outcome: int) -> AuditRecord:
        """The AuditEvent content of what the request did so far."""
        p = ctx.principal if isinstance(ctx.principal, Principal) else None
        notes = notes_of(ctx)
        facts = _facts(ctx)
        entities = list(notes.entities)
        if access.res_type and access.res_id:
            entities.insert(0, f"{access.res_type}/{access.res_id}")
        description = "; ".join(dict.fromkeys(notes.reasons))
        if notes.hidden:
            description += f"; {notes.hidden} result(s) withheld by the policy"
        on_behalf = None
        if p is not None and p.kind == SECRETARY and p.acting_for:
            on_behalf = {"reference": p.acting_for, "id": p.acting_for}
        return AuditRecord(
            tenant=ctx.tenant,
            action=access.action,
            outcome=outcome,
            agent=agent_of(p),
            on_behalf=on_behalf,
            patients=list(notes.patients),
            entities=list(dict.fromkeys(entities)),
            query=facts.path if access.action in (SEARCH, "history") else None,
            description=description.strip("; ") or None,
            purpose="ETREAT" if notes.break_glass else facts.purpose,
            network=facts.network,
            started=ctx.extras.get("socle.started"),
            res_type=access.res_type,
            operation=access.operation,
        )

    # -- helpers --------------------------------------------------------------------------

    def _subject(self, ctx: RequestContext) -> Principal | None:
        p = ctx.principal
        if isinstance(p, Principal):
            return p
        if ctx.extras.get("socle.internal"):
            return None
        raise FhirError(401, "login", "Authentication is required")

    def _note(self, ctx: RequestContext, access: Access, decision: Decision) -> None:
        notes = notes_of(ctx)
        for pid in decision.patients:
            notes.patients[pid] = None
        if access.res_type and access.res_id:
            notes.entities[f"{access.res_type}/{access.res_id}"] = None
        verdict = "allowed" if decision.allow else "refused"
        notes.reasons.append(
            f"{access.action} {verdict} by rule '{decision.rule}': {decision.reason}"
        )
        if decision.via_code:
            notes.via_code = True
        if decision.allow and decision.break_glass:
            self._note_break_glass(ctx, decision)

    def _note_break_glass(self, ctx: RequestContext, decision: Decision) -> None:
        reason = _facts(ctx).break_glass
        if not reason:
            return  # a grant already running: nothing new to start
        notes = notes_of(ctx)
        for pid in decision.patients:
            notes.break_glass[pid] = reason

    def _start_break_glass(
        self, ctx: RequestContext, p: Principal | None, patient: str, reason: str
    ) -> None:
        """Record the time-boxed grant, notify the patient, audit the emergency access."""
        if p is None:
            return
        facts = self.info.facts(ctx.tenant, patient)
        if p.subject in facts.break_glass:
            return
        now = int(time.time())
        expires = now + 60 * self.break_glass_minutes
        with self.engine.store.session(ctx.tenant, write=True) as s:
            s.execute(
                insert(T.security_break_glass).values(
                    tenant=ctx.tenant,
                    subject=p.subject,
                    patient=patient,
                    reason=reason,
                    started=now,
                    expires=expires,
                )
            )
            self._notify(s, ctx, p, patient, reason, expires)
            event = AuditRecord(
                tenant=ctx.tenant,
                action="break-glass",
                outcome=200,
                agent=agent_of(p),
                patients=[patient],
                description=f"Emergency access until {_iso(expires)}: {reason}",
                purpose="ETREAT",
                network=_facts(ctx).network,
            )
            self.audit.append_in(s.conn, event, s)  # no grant without its trace
        self.info.invalidate()

    def _notify(
        self, s: Any, ctx: RequestContext, p: Principal, patient: str, reason: str, expires: int
    ) -> None:  # noqa: ANN401
        """The patient's notification: a Communication in their record."""
        from socle.fhir.context import RequestContext as Ctx

        who = p.display or p.agent_id
        text = (
            f"Accès en urgence à votre dossier par {who} (bris de glace). Motif : {reason}. "
            f"Accès ouvert jusqu'au {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(expires))}."
        )
        communication = {
            "resourceType": "Communication",
            "status": "completed",
            "category": [{"coding": [{"system": "urn:socle:notification", "code": "break-glass"}]}],
            "subject": {"reference": f"Patient/{patient}"},
            "recipient": [{"reference": f"Patient/{patient}"}],
            "sent": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "payload": [{"contentString": text}],
        }
        if p.fhir_user:
            communication["sender"] = {"reference": p.fhir_user}
        internal = Ctx(tenant=ctx.tenant, base_url=ctx.base_url, extras={"socle.internal": True})
        self.engine.crud.insert(s, internal, "Communication", str(uuid.uuid4()), communication)

    def _operation(self, ctx: RequestContext, p: Principal, access: Access) -> Decision:
        ops = self.policy.data["operations"]
        name = (access.operation or "").lstrip("$")
        allowed = ops.get(name, ops["default"])
        if p.kind not in allowed and "*" not in allowed:
            return deny("operation", f"${name} is not available to a {p.kind} account")
        if p.kind in (SYSTEM, ADMIN) or access.res_type is None:
            target = access.res_type or "*"
            if not any(p.scopes.grants_for(target, letter) for letter in "cruds"):
                return deny("scope", f"The token's scopes grant nothing on {target}")
            return Decision(True, f"${name} allowed", "operation")
        resource = access.resource
        if resource is None and access.res_id:
            resource = self.info.read(ctx.tenant, access.res_type, access.res_id)
            if resource is None:
                return deny("operation", f"{access.res_type}/{access.res_id} is not known", 404)
        if resource is not None:
            decision = self.policy.decide(
                p, READ, access.res_type, resource, ctx.tenant, _facts(ctx)
            )
            if not decision.allow:
                return decision
            return Decision(
                True, f"${name} on {decision.reason}", "operation", patients=decision.patients
            )
        if not any(p.scopes.grants_for(access.res_type, letter) for letter in "cruds"):
            return deny("scope", f"The token's scopes grant nothing on {access.res_type}")
        return Decision(True, f"${name} allowed", "operation")

    def _masked_for(self, tenant: str, p: Principal) -> set[str]:
        """Masked documents of the tenant this professional may not see (for `_id:not`)."""
        gen = self.info.generation.current()
        hit = self._masks.get(tenant)
        now = time.monotonic()
        if hit is None or hit[0] != gen or now - hit[1] > 5:
            with self.info.reading(tenant) as (s, shareable):
                hit = (gen, now, self._load_masks(s))
            if shareable:
                with self._lock:
                    self._masks[tenant] = hit
        me = p.practitioner_ref
        out = set()
        for doc_id, authors, patient in hit[2]:
            if me in authors:
                continue
            if patient and me in self.info.facts(tenant, patient).general_practitioners:
                continue
            out.add(doc_id)
        return out

    def _load_masks(self, s: Any) -> list[tuple[str, set[str], str]]:
        from socle.security.consent import KIND_SYSTEM

        search = self.engine.search
        consents = [
            orjson.loads(v.content)
            for v in s.fetch_current(
                search.find_pks(s, "Consent", [("category", f"{KIND_SYSTEM}|mask")], 10_000)
            )
            if v.content
        ]
        refs = set()
        for c in consents:
            if c.get("status") != "active":
                continue
            for item in (c.get("provision") or {}).get("data") or []:
                ref = (item.get("reference") or {}).get("reference") or ""
                if ref.startswith("DocumentReference/"):
                    refs.add(ref.split("/", 1)[1])
        labelled = search.find_pks(
            s, "DocumentReference", [("security-label", "MASQUE_PS")], 10_000
        )
        docs = {v.res_id: v for v in s.fetch_current(labelled)}
        for doc_id in refs - set(docs):
            stored = s.read("DocumentReference", doc_id)
            if stored is not None:
                docs[doc_id] = stored
        out = []
        for doc_id, stored in docs.items():
            if not stored.content:
                continue
            doc = orjson.loads(stored.content)
            authors = {
                "/".join(a["reference"].split("/")[-2:])
                for a in doc.get("author") or []
                if isinstance(a, dict) and isinstance(a.get("reference"), str)
            }
            patients = self.policy.compartments.patients(doc)
            out.append((doc_id, authors, next(iter(patients), "")))
        return out

    def audit_event(self, record: AuditRecord, session: StoreSession | None = None) -> bool:
        """Events outside the FHIR interactions (login, logout, refused token, HL7 message):
        inside `session`'s transaction when given (they commit together), else on their own."""
        if session is not None:
            self.audit.append_in(session.conn, record, session)
        else:
            self.audit.append(record)
        return True


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _facts(ctx: RequestContext) -> RequestFacts:
    facts = ctx.extras.get(FACTS)
    if facts is None:
        facts = ctx.extras[FACTS] = RequestFacts()
    return facts


def _refusal(decision: Decision) -> FhirError:
    code = "not-found" if decision.status == 404 else "forbidden"
    return FhirError(decision.status, code, decision.reason)


__all__ = ["SecurityGuard", "AuditUnavailable", "notes_of", "agent_of"]
