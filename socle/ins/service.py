"""In-process API of the INS service: what the FHIR operations, the CLI and the HL7 feed call.

Every function takes the engine and a tenant and opens one session: a write session for
what changes a Patient (the change, its index row, Provenance and AuditEvent commit
together), a read-only one for matching, PIXm and the worklist (the identity index is
kept current by the write path, see `index.py`). `ctx` is the caller's request context:
results pass its guard (`visible`, which also names the patients for the audit trail);
None (the CLI) means the server's own work.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import orjson

from socle.fhir.context import RequestContext
from socle.fhir.errors import FhirError
from socle.fhir.guard import READ, UPDATE, Access
from socle.ins import index as X
from socle.ins import model as M
from socle.ins import status as S
from socle.ins import teleservice as T
from socle.ins import vigilance as V
from socle.ins.contexts import server_context
from socle.ins.nir import mask_matricules

if TYPE_CHECKING:
    from socle.fhir.engine import FhirEngine
    from socle.fhir.storage.store import StoreSession

OP_FLAG = "ins_operation"  # ctx.extras flag: the write hook lets INS operations through


def op_context(ctx: RequestContext | None, tenant: str) -> RequestContext:
    """The context of an INS operation's writes: the write hook leaves them alone (the
    operation applies the RNIV rules itself); without a caller, the server's own."""
    base = ctx or server_context(RequestContext(tenant=tenant))
    return dataclasses.replace(base, extras={**base.extras, OP_FLAG: True})


def reader_context(ctx: RequestContext | None, tenant: str) -> RequestContext:
    """The context read-only functions filter results with (the server's own: all)."""
    return ctx or server_context(RequestContext(tenant=tenant))


def visible_patients(
    engine: FhirEngine, s: StoreSession, ctx: RequestContext, ids: list[str]
) -> dict[str, dict[str, Any]]:
    """The current Patients among `ids` that exist and that the caller may see.

    Asking the guard also names each patient in the caller's audit entry."""
    out: dict[str, dict[str, Any]] = {}
    found = s.read_many("Patient", ids)
    for pid in dict.fromkeys(ids):
        stored = found.get(pid)
        if stored is None or stored.content is None:
            continue  # deleted since it was indexed
        patient = orjson.loads(stored.content)
        if engine.guard.visible(ctx, patient):
            out[pid] = patient
    return out


def write_patient(
    engine: FhirEngine,
    s: StoreSession,
    ctx: RequestContext,
    pid: str,
    patient: dict[str, Any],
    transitions: list[S.Transition],
    who: str = "Socle INS",
) -> dict[str, Any]:
    """Store a Patient an INS operation changed, index it, record its transitions."""
    result = engine.crud.update(s, ctx, "Patient", pid, patient)
    record_transitions(engine, s, ctx, f"Patient/{pid}/_history/{result.version}", transitions, who)
    return result.resource or patient


def record_transitions(
    engine: FhirEngine,
    s: StoreSession,
    ctx: RequestContext,
    patient_ref: str,
    transitions: list[S.Transition],
    who: str = "Socle INS",
) -> None:
    """The Provenance and AuditEvent of each transition of a Patient version, in the
    writer's transaction (the server's own records)."""
    server = server_context(ctx)
    for transition in transitions:
        prov, audit = S.records(patient_ref, transition, who)
        engine.crud.create(s, server, "Provenance", prov)
        engine.crud.create(s, server, "AuditEvent", audit)


def _current(engine: FhirEngine, s: StoreSession, pid: str) -> dict[str, Any]:
    return engine.crud.read(s, "Patient", pid).resource or {}


def apply_event(
    engine: FhirEngine,
    tenant: str,
    pid: str,
    event: str,
    *,
    ctx: RequestContext | None = None,
    mode: str | None = None,
    on: str | None = None,
) -> dict[str, Any]:
    """Apply one RNIV event (document, invalidate…) to a stored Patient. An event that
    changes nothing (invalidating a provisional identity, the same document check again)
    writes nothing."""
    ctx = op_context(ctx, tenant)
    with engine.store.session(tenant, write=True) as s:
        patient = _current(engine, s, pid)
        ident, transition = S.apply(M.read_identity(patient), event, mode=mode, on=on)
        if _unchanged(engine, ctx, pid, patient, ident):
            return patient
        return write_patient(engine, s, ctx, pid, M.write_identity(patient, ident), [transition])


def set_attribute(
    engine: FhirEngine,
    tenant: str,
    pid: str,
    attribute: str,
    value: bool,
    ctx: RequestContext | None = None,
) -> dict[str, Any]:
    """Set or clear an identity attribute (DOUT and FICT demote the identity to PROV); the
    same call again changes nothing and writes nothing."""
    if attribute not in M.ATTRIBUTES:
        raise FhirError(400, "invalid", f"attribute must be one of {sorted(M.ATTRIBUTES)}")
    ctx = op_context(ctx, tenant)
    with engine.store.session(tenant, write=True) as s:
        patient = _current(engine, s, pid)
        ident = M.read_identity(patient)
        transitions = []
        if value:
            ident.attributes.add(attribute)
            if attribute in (M.DOUT, M.FICT) and ident.status != M.PROV:
                ident, t = S.apply(ident, S.DOUBT, detail=attribute)
                transitions.append(t)
            else:
                transitions.append(
                    S.Transition(S.ATTRIBUTE, ident.status, ident.status, f"+{attribute}")
                )
        else:
            ident.attributes.discard(attribute)
            transitions.append(
                S.Transition(S.ATTRIBUTE, ident.status, ident.status, f"-{attribute}")
            )
        if _unchanged(engine, ctx, pid, patient, ident):
            return patient
        return write_patient(engine, s, ctx, pid, M.write_identity(patient, ident), transitions)


def _unchanged(
    engine: FhirEngine,
    ctx: RequestContext,
    pid: str,
    patient: dict[str, Any],
    ident: M.Identity,
) -> bool:
    """Whether storing `ident` would leave `patient` as it is: a repeated $ins-attribute or
    $ins-invalidate then writes no version, Provenance or AuditEvent ("PROV -> PROV"). The
    caller must still be one who may update the Patient (the guard decides as for the
    write it spares). Compared as written: fields derived on writing (the FR Core status)
    do not count, nor the status date each writing stamps."""
    after = M.write_identity(patient, ident)
    before = M.write_identity(patient, M.read_identity(patient))
    for written in (after, before):
        M.set_status_date(written, "")
    if after != before:
        return False
    engine.guard.authorize(ctx, Access(UPDATE, "Patient", pid, patient))
    return True


def _insi_result_to_patient(
    engine: FhirEngine,
    s: StoreSession,
    ctx: RequestContext,
    pid: str,
    result: T.InsiResult,
    verifying: bool,
    own_traits: bool = True,
) -> dict[str, Any] | None:
    patient = _current(engine, s, pid)
    ident = M.read_identity(patient)
    if result.code == T.FOUND:
        new = T.identity_of(result.identities[0], ident)
        _same_person(pid, ident, new, own_traits)
        transitions = []
        if ident.strict_traits() != new.strict_traits() and ident.status in (M.VALI, M.QUAL):
            # INSi traits replace the local ones: the document check must be done again
            new.status, new.validation_mode, new.validation_date = M.PROV, "", ""
            transitions.append(
                S.Transition(S.TRAITS, ident.status, M.PROV, "traits replaced by INSi")
            )
        new, t = S.apply(new, S.INSI, detail=result.detail)
        transitions.append(t)
        if _unchanged(engine, ctx, pid, patient, new):  # the same answer again, the same day
            return patient
        return write_patient(engine, s, ctx, pid, M.write_identity(patient, new), transitions)
    if verifying and ident.ins:
        # recorded in the Provenance/AuditEvent: no longer qualified, its INS not quoted
        new, t = S.apply(ident, S.INSI_FAIL, detail=mask_matricules(result.detail))
        return write_patient(engine, s, ctx, pid, M.write_identity(patient, new), [t])
    return None


def _same_person(pid: str, local: M.Identity, found: M.Identity, own_traits: bool) -> None:
    """RNIV: the identity INSi returned is attached to a Patient only when it is the same
    person: INSi traits may correct the local spelling, not contradict a trait both give
    (another birth name, first name, birth date or sex). A Patient with neither a birth
    name nor a birth date cannot be checked: INSi's identity fills it only when the query
    was made of its own traits (a Carte Vitale or traits the caller gave could name
    anyone). 422, nothing written."""
    if not (local.birth_family or local.birth_date):
        if own_traits:
            return
        raise S.TransitionError(
            f"Patient/{pid} has too few traits (birth name, birth date) to check that the "
            "identity INSi returned is its own: complete it first"
        )
    against = V.contradictions(local, found)
    if against:
        raise S.TransitionError(
            f"INSi returned another person than Patient/{pid} (they differ in "
            f"{', '.join(against)}): its identity is not attached"
        )


def retrieve(
    engine: FhirEngine,
    tenant: str,
    *,
    pid: str | None = None,
    traits: dict[str, Any] | None = None,
    card: dict[str, Any] | None = None,
    ctx: RequestContext | None = None,
) -> tuple[T.InsiResult, dict[str, Any] | None]:
    """INSi récupération by traits or Carte Vitale; with `pid`, applied to that Patient."""
    ctx = op_context(ctx, tenant)
    with engine.store.session(tenant, write=pid is not None) as s:
        if pid is not None:
            ident = M.read_identity(_current(engine, s, pid))
            if M.FICT in ident.attributes:
                raise S.TransitionError("A fictive identity is not known to INSi")
            traits_given = traits
            traits = traits or _traits_of(ident)
        if card:
            result = T.retrieve_by_card(
                s,
                holder_nir=card.get("nir", ""),
                birth_date=card.get("birthDate", ""),
                given=card.get("given"),
                family=card.get("family"),
                sex=card.get("gender"),
            )
        else:
            t = traits or {}
            result = T.retrieve(
                s,
                family=t.get("family", ""),
                given=t.get("given", ""),
                birth_date=t.get("birthDate", ""),
                sex=t.get("gender", ""),
                birthplace=t.get("birthplace"),
            )
        patient = None
        if pid is not None:
            own = traits_given is None and not card
            patient = _insi_result_to_patient(
                engine, s, ctx, pid, result, verifying=False, own_traits=own
            )
        return result, patient


def verify(
    engine: FhirEngine,
    tenant: str,
    *,
    pid: str | None = None,
    ins: str | None = None,
    system: str | None = None,
    traits: dict[str, Any] | None = None,
    ctx: RequestContext | None = None,
) -> tuple[T.InsiResult, dict[str, Any] | None]:
    """INSi vérification of an INS + traits; with `pid`, the Patient's own INS and traits.

    The OID is part of the INS: given (`system`), the registry must hold the matricule
    under it (01 otherwise). Left out, the matricule is verified under the OID the
    registry holds it under, which the answer's identity carries: a matricule names one
    identity whatever its OID, and a caller that kept only the number (or a client that
    sent `ins` without `system`) must not get 01 for a NIR because a test OID was
    assumed."""
    ctx = op_context(ctx, tenant)
    with engine.store.session(tenant, write=pid is not None) as s:
        if pid is not None:
            ident = M.read_identity(_current(engine, s, pid))
            if not ident.ins:
                raise FhirError(422, "business-rule", f"Patient/{pid} has no INS to verify")
            ins, system = ident.ins, ident.ins_system
            traits = _traits_of(ident)
        if not ins:
            raise FhirError(400, "required", "INSi verification needs the INS (matricule)")
        t = traits or {}
        result = T.verify(
            s,
            matricule=ins,
            oid=system or None,  # none: the OID the registry holds the matricule under
            family=t.get("family", ""),
            given=t.get("given", ""),
            birth_date=t.get("birthDate", ""),
            sex=t.get("gender", ""),
            birthplace=t.get("birthplace"),
        )
        patient = None
        if pid is not None:
            patient = _insi_result_to_patient(engine, s, ctx, pid, result, verifying=True)
        return result, patient


def _traits_of(ident: M.Identity) -> dict[str, Any]:
    return {
        "family": ident.birth_family,
        "given": " ".join(ident.given),
        "birthDate": ident.birth_date,
        "gender": ident.sex,
        "birthplace": ident.birthplace or None,
    }


def load_registry(
    engine: FhirEngine,
    tenant: str,
    records: list[Any],
    replace: bool,
    *,
    allow_empty: bool = False,
    warnings: list[Any] | None = None,
) -> int:
    """Load registry records in one transaction (all or nothing); `warnings` collects the
    records loaded despite a disagreement with their matricule."""
    with engine.store.session(tenant, write=True) as s:
        return T.load(s, records, replace=replace, allow_empty=allow_empty, warnings=warnings)


def match(
    engine: FhirEngine,
    tenant: str,
    patient: dict[str, Any],
    *,
    count: int = 10,
    only_certain: bool = False,
    exclude: str | None = None,
    min_score: float = 0.70,
    ctx: RequestContext | None = None,
) -> list[tuple[V.Match, dict[str, Any]]]:
    """Scored matches of a (possibly partial) Patient that the caller may see, best first."""
    ctx = reader_context(ctx, tenant)
    ident = M.read_identity(patient)
    with engine.store.session(tenant) as s:
        return _matches(engine, s, ctx, ident, count, only_certain, exclude, min_score)


def _matches(
    engine: FhirEngine,
    s: StoreSession,
    ctx: RequestContext,
    ident: M.Identity,
    count: int,
    only_certain: bool,
    exclude: str | None,
    min_score: float,
) -> list[tuple[V.Match, dict[str, Any]]]:
    """The best `count` matches the caller may see: scored on the index, then read and
    filtered page by page, so hidden or deleted Patients leave room for the next ones."""
    count = max(1, count)
    found = V.find_matches(s, ident, exclude=exclude, min_score=min_score, limit=500)
    if only_certain:
        found = [m for m in found if m.grade == V.CERTAIN]
    out: list[tuple[V.Match, dict[str, Any]]] = []
    for start in range(0, len(found), count):  # hidden or deleted ones make room for others
        page = found[start : start + count]
        shown = visible_patients(engine, s, ctx, [m.patient_id for m in page])
        out += [(m, shown[m.patient_id]) for m in page if m.patient_id in shown]
        if len(out) >= count:
            break
    return out[:count]


def duplicates(
    engine: FhirEngine, tenant: str, pid: str, ctx: RequestContext | None = None
) -> list[tuple[V.Match, dict]]:
    """Potential duplicates of one Patient (which the caller must be allowed to read)."""
    ctx = reader_context(ctx, tenant)
    with engine.store.session(tenant) as s:
        patient = _current(engine, s, pid)
        engine.guard.authorize(ctx, Access(READ, "Patient", pid, patient))
        ident = M.read_identity(patient)
        return _matches(engine, s, ctx, ident, 20, False, pid, 0.70)


def worklist(
    engine: FhirEngine, tenant: str, limit: int = 100, ctx: RequestContext | None = None
) -> list[dict[str, Any]]:
    """The vigilance worklist, without items about a Patient the caller may not see."""
    ctx = reader_context(ctx, tenant)
    with engine.store.session(tenant) as s:
        items = V.worklist(s, limit)
        ids = [p for item in items for p in item["patients"]]
        shown = visible_patients(engine, s, ctx, ids)
    return [i for i in items if all(p in shown for p in i["patients"])]


def merge(
    engine: FhirEngine, tenant: str, source: str, target: str, ctx: RequestContext | None = None
) -> dict[str, Any]:
    ctx = op_context(ctx, tenant)
    with engine.store.session(tenant, write=True) as s:
        return V.merge(engine, s, ctx, source, target)


def unmerge(
    engine: FhirEngine, tenant: str, source: str, ctx: RequestContext | None = None
) -> dict[str, Any]:
    ctx = op_context(ctx, tenant)
    with engine.store.session(tenant, write=True) as s:
        return V.unmerge(engine, s, ctx, source)


def outdated(engine: FhirEngine, tenant: str) -> int:
    """How many identity index rows of a tenant `reindex` would rewrite (all are read)."""
    with engine.store.session(tenant) as s:
        return X.outdated(s, sample=None)


def reindex(engine: FhirEngine, tenant: str) -> int:
    """Rebuild the identity index of a tenant from Patient history."""
    from sqlalchemy import delete

    from socle.ins.tables import ins_identity, ins_sync

    with engine.store.session(tenant, write=True) as s:
        s.execute(delete(ins_identity).where(ins_identity.c.tenant == tenant))
        s.execute(delete(ins_sync).where(ins_sync.c.tenant == tenant))
        return X.sync(engine, s)
