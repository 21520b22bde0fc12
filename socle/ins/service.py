"""In-process API of the INS service: what the FHIR operations, the CLI and the HL7 feed call.

Every function takes the engine and a tenant, opens one write session (so the identity
index is caught up and every change, Provenance and AuditEvent commit together) and
returns plain data.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from socle.fhir.context import RequestContext
from socle.fhir.errors import FhirError
from socle.ins import index as X
from socle.ins import model as M
from socle.ins import status as S
from socle.ins import teleservice as T
from socle.ins import vigilance as V
from socle.ins.contexts import server_context

if TYPE_CHECKING:
    from socle.fhir.engine import FhirEngine
    from socle.fhir.storage.store import StoreSession

OP_FLAG = "ins_operation"  # ctx.extras flag: the write hook lets INS operations through


def op_context(ctx: RequestContext | None, tenant: str) -> RequestContext:
    base = ctx or RequestContext(tenant=tenant)
    return dataclasses.replace(base, extras={**base.extras, OP_FLAG: True})


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
    stored = result.resource or patient
    X.mark_synced(s, pid, result.version, stored)
    server = server_context(ctx)
    for transition in transitions:
        prov, audit = S.records(f"Patient/{pid}/_history/{result.version}", transition, who)
        engine.crud.create(s, server, "Provenance", prov)
        engine.crud.create(s, server, "AuditEvent", audit)
    return stored


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
    """Apply one RNIV event (document, invalidate…) to a stored Patient."""
    ctx = op_context(ctx, tenant)
    with engine.store.session(tenant, write=True) as s:
        X.sync(engine, s)
        patient = _current(engine, s, pid)
        ident, transition = S.apply(M.read_identity(patient), event, mode=mode, on=on)
        return write_patient(engine, s, ctx, pid, M.write_identity(patient, ident), [transition])


def set_attribute(
    engine: FhirEngine,
    tenant: str,
    pid: str,
    attribute: str,
    value: bool,
    ctx: RequestContext | None = None,
) -> dict[str, Any]:
    if attribute not in M.ATTRIBUTES:
        raise FhirError(400, "invalid", f"attribute must be one of {sorted(M.ATTRIBUTES)}")
    ctx = op_context(ctx, tenant)
    with engine.store.session(tenant, write=True) as s:
        X.sync(engine, s)
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
                    S.Transition(S.DOUBT, ident.status, ident.status, f"+{attribute}")
                )
        else:
            ident.attributes.discard(attribute)
            transitions.append(
                S.Transition("attribute", ident.status, ident.status, f"-{attribute}")
            )
        return write_patient(engine, s, ctx, pid, M.write_identity(patient, ident), transitions)


def _insi_result_to_patient(
    engine: FhirEngine,
    s: StoreSession,
    ctx: RequestContext,
    pid: str,
    result: T.InsiResult,
    verifying: bool,
) -> dict[str, Any] | None:
    patient = _current(engine, s, pid)
    ident = M.read_identity(patient)
    if result.code == T.FOUND:
        new = T.identity_of(result.identities[0], ident)
        transitions = []
        if ident.strict_traits() != new.strict_traits() and ident.status in (M.VALI, M.QUAL):
            # INSi traits replace the local ones: the document check must be done again
            new.status, new.validation_mode, new.validation_date = M.PROV, "", ""
            transitions.append(
                S.Transition(S.TRAITS, ident.status, M.PROV, "traits replaced by INSi")
            )
        new, t = S.apply(new, S.INSI, detail=result.detail)
        transitions.append(t)
        return write_patient(engine, s, ctx, pid, M.write_identity(patient, new), transitions)
    if verifying and ident.ins:
        new, t = S.apply(ident, S.INSI_FAIL, detail=result.detail)
        return write_patient(engine, s, ctx, pid, M.write_identity(patient, new), [t])
    return None


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
    with engine.store.session(tenant, write=True) as s:
        if pid is not None:
            X.sync(engine, s)
            ident = M.read_identity(_current(engine, s, pid))
            if M.FICT in ident.attributes:
                raise S.TransitionError("A fictive identity is not known to INSi")
            traits = traits or _traits_of(ident)
        if card:
            result = T.retrieve_by_card(
                s,
                holder_nir=card.get("nir", ""),
                birth_date=card.get("birthDate", ""),
                given=card.get("given"),
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
            patient = _insi_result_to_patient(engine, s, ctx, pid, result, verifying=False)
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
    """INSi vérification of an INS + traits; with `pid`, the Patient's own INS and traits."""
    ctx = op_context(ctx, tenant)
    with engine.store.session(tenant, write=True) as s:
        if pid is not None:
            X.sync(engine, s)
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
            oid=system or f"urn:oid:{T.OID_TEST}",
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


def load_registry(engine: FhirEngine, tenant: str, records: list[Any], replace: bool) -> int:
    with engine.store.session(tenant, write=True) as s:
        return T.load(s, records, replace=replace)


def match(
    engine: FhirEngine,
    tenant: str,
    patient: dict[str, Any],
    *,
    count: int = 10,
    only_certain: bool = False,
    exclude: str | None = None,
    min_score: float = 0.70,
) -> list[tuple[V.Match, dict[str, Any]]]:
    """Scored matches of a (possibly partial) Patient, with the matched Patients."""
    ident = M.read_identity(patient)
    with engine.store.session(tenant, write=True) as s:
        X.sync(engine, s)
        found = V.find_matches(s, ident, exclude=exclude, min_score=min_score, limit=count)
        if only_certain:
            found = [m for m in found if m.grade == V.CERTAIN]
        out = []
        for m in found:
            out.append((m, _current(engine, s, m.patient_id)))
        return out


def duplicates(engine: FhirEngine, tenant: str, pid: str) -> list[tuple[V.Match, dict]]:
    with engine.store.session(tenant) as s:
        patient = _current(engine, s, pid)
    return match(engine, tenant, patient, count=20, exclude=pid)


def worklist(engine: FhirEngine, tenant: str, limit: int = 100) -> list[dict[str, Any]]:
    with engine.store.session(tenant, write=True) as s:
        X.sync(engine, s)
        return V.worklist(s, limit)


def merge(
    engine: FhirEngine, tenant: str, source: str, target: str, ctx: RequestContext | None = None
) -> dict[str, Any]:
    ctx = op_context(ctx, tenant)
    with engine.store.session(tenant, write=True) as s:
        X.sync(engine, s)
        return V.merge(engine, s, ctx, source, target)


def unmerge(
    engine: FhirEngine, tenant: str, source: str, ctx: RequestContext | None = None
) -> dict[str, Any]:
    ctx = op_context(ctx, tenant)
    with engine.store.session(tenant, write=True) as s:
        X.sync(engine, s)
        return V.unmerge(engine, s, ctx, source)


def reindex(engine: FhirEngine, tenant: str) -> int:
    """Rebuild the identity index of a tenant from Patient history."""
    from sqlalchemy import delete

    from socle.ins.tables import ins_identity, ins_sync

    with engine.store.session(tenant, write=True) as s:
        s.execute(delete(ins_identity).where(ins_identity.c.tenant == tenant))
        s.execute(delete(ins_sync).where(ins_sync.c.tenant == tenant))
        return X.sync(engine, s)


def sync(engine: FhirEngine, tenant: str) -> int:
    with engine.store.session(tenant, write=True) as s:
        return X.sync(engine, s)
