"""Policy decision point: pure Python, rules as data (`policy.json`), one explanation each.

`Policy.decide(subject, action, resource type, resource, tenant, request facts)` returns a
`Decision`: allowed or not, the HTTP status of a refusal (403, or 404 where the
existence of the resource must not leak), the rule that decided and a sentence that
says why and what to do about it. The inputs are:

* the subject (`Principal`): kind, TRE_G15 profession, specialty, organisation, roles,
  SMART scopes, eIDAS level, the patient in context, the doctor a secretary works for;
* the resource: type, patient (Patient compartment), document class (TRE_A03 category)
  and confidentiality codes (CI-SIS: MASQUE_PS, INVISIBLE_PATIENT,
  INVISIBLE_REPRESENTANTS_LEGAUX), authors;
* the context (`RequestFacts` + `PatientFacts`): care relationship (médecin traitant,
  treating team, establishment), the patient's choices (Consent), break-glass, a patient
  access code, the purpose of use.

Order of the rules (first refusal wins):
1. scopes: the token must grant the interaction on the type (SMART v2 letters);
2. `patient/` scopes confine to the patient in context;
3. open types (directory, conformance) and the AuditEvent trail;
4. patients see their own record (minus documents not yet announced to them), write
   only what they may deposit; trusted persons and legal representatives by delegation;
5. professionals: record closed or opposed, professional blocked, application refused,
   habilitation matrix profession x class, masked documents (visible to their authors
   and the médecin traitant only), and for reads a care relationship, a patient access
   code or break-glass.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from socle.security.consent import hash_code
from socle.security.information import PatientFacts
from socle.security.principal import (
    ADMIN,
    PATIENT,
    PRACTITIONER,
    RELATED,
    SECRETARY,
    SYSTEM,
    Principal,
)
from socle.security.scopes import ACTION_LETTER, matches_query

if TYPE_CHECKING:
    from socle.security.compartment import Compartments
    from socle.security.information import Information

READ_ACTIONS = frozenset({"read", "vread", "search", "history"})
WRITE_ACTIONS = frozenset({"create", "update", "patch", "delete"})
CLASS_SYSTEM_MARK = "TRE_A03"
MASKED = "MASQUE_PS"
HIDDEN_FROM_PATIENT = "INVISIBLE_PATIENT"
HIDDEN_FROM_REPRESENTATIVES = "INVISIBLE_REPRESENTANTS_LEGAUX"
TRAIT_CODES = frozenset({MASKED, HIDDEN_FROM_PATIENT, HIDDEN_FROM_REPRESENTATIVES})
DOCUMENT_TYPES = frozenset({"DocumentReference", "Composition", "DocumentManifest"})


@dataclass(slots=True)
class Decision:
    allow: bool
    reason: str
    rule: str
    status: int = 200  # 403 or 404 for a refusal
    patients: tuple[str, ...] = ()
    break_glass: bool = False
    via_code: bool = False


@dataclass(slots=True)
class RequestFacts:
    """What the request itself says: emergency reason, access code, purpose, address."""

    break_glass: str | None = None
    access_code: str | None = None
    purpose: str | None = None
    network: str | None = None
    method: str = "GET"
    path: str = ""


def allow(rule: str, reason: str, **kw: Any) -> Decision:
    return Decision(True, reason, rule, 200, **kw)


def deny(rule: str, reason: str, status: int = 403, **kw: Any) -> Decision:
    return Decision(False, reason, rule, status, **kw)


def load_policy_data(path: Path | None = None) -> dict[str, Any]:
    if path is not None:
        return orjson.loads(Path(path).read_bytes())
    return orjson.loads(resources.files("socle.security").joinpath("policy.json").read_bytes())


@dataclass
class DocTraits:
    doc_class: str
    labels: frozenset[str] = frozenset()
    authors: frozenset[str] = frozenset()
    masked: bool = False


def document_traits(resource: dict[str, Any] | None, data: dict[str, Any]) -> DocTraits:
    """Class (TRE_A03) and confidentiality codes of a resource, as the matrix sees it."""
    res_type = resource.get("resourceType") if resource else None
    labels: set[str] = set()
    authors: set[str] = set()
    doc_class = None
    if resource:
        for coding in (resource.get("meta") or {}).get("security") or []:
            if coding.get("code") in TRAIT_CODES:
                labels.add(coding["code"])
        for concept in resource.get("securityLabel") or []:
            for coding in concept.get("coding") or []:
                if coding.get("code") in TRAIT_CODES:
                    labels.add(coding["code"])
        if res_type in DOCUMENT_TYPES:
            categories = resource.get("category") or []
            if isinstance(categories, dict):
                categories = [categories]
            for concept in categories:
                for coding in concept.get("coding") or []:
                    if CLASS_SYSTEM_MARK in (coding.get("system") or ""):
                        doc_class = coding.get("code")
            for author in resource.get("author") or []:
                if isinstance(author, dict) and isinstance(author.get("reference"), str):
                    authors.add("/".join(author["reference"].split("/")[-2:]))
    if doc_class is None:
        doc_class = data["resource_classes"].get(res_type or "", data["default_class"])
    return DocTraits(doc_class, frozenset(labels), frozenset(authors), MASKED in labels)


class Policy:
    def __init__(
        self, data: dict[str, Any], compartments: Compartments, information: Information
    ) -> None:
        self.data = data
        self.compartments = compartments
        self.info = information
        self.open_read = frozenset(data["open_types"]["read"])
        self.open_write_kinds = frozenset(data["open_types"]["write_kinds"])
        self.patient_writable = frozenset(data["patient_writable_types"])
        self.secretary_types = frozenset(data["secretary_types"])
        self.matrix: dict[str, dict[str, frozenset[str]]] = {
            prof: {mode: frozenset(v) for mode, v in rights.items()}
            for prof, rights in data["matrix"].items()
        }
        self.patient_rights = {m: frozenset(v) for m, v in data["patient"].items()}
        bg = data["break_glass"]
        self.break_glass_professions = frozenset(bg["professions"])
        self.break_glass_minutes = int(bg["minutes"])
        self.relationship_required = data["care_relationship_required"]

    # -- names used in explanations -----------------------------------------------------

    def profession_name(self, code: str | None) -> str:
        return f"{self.data['professions'].get(code or '', 'profession inconnue')} ({code})"

    def class_name(self, code: str) -> str:
        return f"{code} ({self.data['classes'].get(code, 'classe inconnue')})"

    # -- the decision -------------------------------------------------------------------

    def decide(
        self,
        p: Principal,
        action: str,
        res_type: str,
        resource: dict[str, Any] | None,
        tenant: str,
        req: RequestFacts | None = None,
    ) -> Decision:
        req = req or RequestFacts()
        letter = ACTION_LETTER.get(action, "r")
        grants = p.scopes.grants_for(res_type, letter)
        if not grants:
            return deny(
                "scope",
                f"The access token's scopes do not allow '{letter}' on {res_type}: ask for "
                f"user/{res_type}.{letter} or patient/{res_type}.{letter} "
                f"(scopes: {p.scopes or 'none'})",
            )
        granular = resource is not None and all(g.query for g in grants)
        if granular and not any(matches_query(g, resource) for g in grants):
            return deny(
                "scope-query",
                f"The granular scopes restrict {res_type} and this one is outside them",
                404 if action in READ_ACTIONS else 403,
            )
        patients = tuple(sorted(self.compartments.patients(resource))) if resource else ()
        if p.kind == SYSTEM:
            if not any(g.context == "system" for g in grants):
                return deny("scope", "A client without a user needs system/ scopes")
            return allow("system", "Backend service with system scopes", patients=patients)
        patient_only = all(g.context == "patient" for g in grants)
        if patient_only:
            if p.patient is None:
                return deny(
                    "launch-context",
                    "patient/ scopes need a patient in context (launch/patient)",
                )
            if resource is not None and (not patients or any(x != p.patient for x in patients)):
                return deny("launch-context", "Not found in the patient in context", 404)
        if res_type == "AuditEvent":
            if action in WRITE_ACTIONS:
                return deny("audit-append-only", "The audit trail is written by the server only")
            return allow("audit", "Audit trail, filtered by subject", patients=patients)
        if p.kind == ADMIN:
            return allow("administrator", "Administrator account", patients=patients)
        if res_type in self.open_read:
            if action in READ_ACTIONS:
                return allow("open-type", f"{res_type} is not part of a patient record")
            if p.kind in self.open_write_kinds:
                return allow("open-type", f"{p.kind} may maintain {res_type}")
            return deny(
                "open-type",
                f"{res_type} (directory/conformance) is maintained by administrators and "
                "system clients only",
            )
        if p.kind == PATIENT:
            return self._patient(p, action, res_type, resource, patients, tenant)
        if p.kind == RELATED:
            return self._related(p, action, res_type, resource, patients, tenant)
        if p.kind in (PRACTITIONER, SECRETARY):
            return self._professional(p, action, res_type, resource, patients, tenant, req)
        return deny("subject", f"Unknown kind of subject {p.kind!r}")

    # -- patients and their circle ------------------------------------------------------

    def _patient(self, p, action, res_type, resource, patients, tenant) -> Decision:  # noqa: ANN001
        if not self.compartments.in_compartment(res_type):
            return deny("patient-scope", f"{res_type} is not part of your record", 404)
        if resource is None:
            return allow("own-record", "Your own record", patients=(p.patient,))
        if p.patient not in patients or len(patients) != 1:
            return deny("own-record", f"{res_type}/{resource.get('id')} is not known", 404)
        traits = document_traits(resource, self.data)
        if action in WRITE_ACTIONS:
            if res_type not in self.patient_writable:
                return deny(
                    "patient-write",
                    f"Patients may not write {res_type}; they may write "
                    f"{', '.join(sorted(self.patient_writable))}",
                    patients=patients,
                )
            if (
                res_type == "DocumentReference"
                and traits.doc_class not in self.patient_rights["write"]
            ):
                return deny(
                    "patient-write",
                    "Patients may only deposit documents of class "
                    + ", ".join(self.class_name(c) for c in sorted(self.patient_rights["write"])),
                    patients=patients,
                )
            return allow("own-record", "Your own record", patients=patients)
        if HIDDEN_FROM_PATIENT in traits.labels:
            return deny(
                "not-announced",
                f"{res_type}/{resource.get('id')} is not known",
                404,
                patients=patients,
            )
        rights = self.patient_rights["read"]
        if "*" not in rights and traits.doc_class not in rights:
            return deny("patient-read", "Not visible to patients", 404, patients=patients)
        return allow("own-record", "Your own record", patients=patients)

    def _related(self, p, action, res_type, resource, patients, tenant) -> Decision:  # noqa: ANN001
        if action in WRITE_ACTIONS:
            return deny("delegation", "A trusted person or legal representative reads only")
        if p.patient is None:
            return deny("delegation", "No patient is linked to this account")
        facts = self.info.facts(tenant, p.patient)
        if p.fhir_user not in facts.choices.delegations:
            return deny(
                "delegation",
                f"Patient/{p.patient} has given no active delegation to {p.fhir_user}",
                patients=(p.patient,),
            )
        if resource is None:
            return allow("delegation", "Delegation from the patient", patients=(p.patient,))
        if p.patient not in patients or len(patients) != 1:
            return deny("delegation", f"{res_type}/{resource.get('id')} is not known", 404)
        traits = document_traits(resource, self.data)
        classes = facts.choices.delegations[p.fhir_user]
        hidden = {HIDDEN_FROM_PATIENT} | (
            {HIDDEN_FROM_REPRESENTATIVES} if classes is None else set()
        )
        if traits.labels & hidden:
            return deny("not-announced", "Not known", 404, patients=patients)
        if classes is not None and traits.doc_class not in classes:
            return deny(
                "delegation",
                f"The delegation does not cover class {self.class_name(traits.doc_class)}",
                404,
                patients=patients,
            )
        return allow("delegation", "Delegation from the patient", patients=patients)

    # -- professionals --------------------------------------------------------------------

    def _professional(self, p, action, res_type, resource, patients, tenant, req) -> Decision:  # noqa: ANN001, PLR0911, PLR0912
        write = action in WRITE_ACTIONS
        mode = "write" if write else "read"
        me = p.practitioner_ref
        if p.kind == SECRETARY and res_type not in self.secretary_types:
            return deny(
                "secretariat",
                f"A secretariat may not access {res_type}; allowed: "
                + ", ".join(sorted(self.secretary_types)),
            )
        demographics = self.data["patient_demographics"]
        if res_type == "Patient" and demographics.get(mode):
            return allow("identity", "Patient identity (demographics)", patients=patients)
        facts_list = [self.info.facts(tenant, pid) for pid in patients]
        for facts in facts_list:
            refusal = self._patient_choices(p, facts)
            if refusal is not None:
                return refusal
        traits = document_traits(resource, self.data)
        profession = "SECRETARIAT" if p.kind == SECRETARY else (p.profession or "")
        rights = self.matrix.get(profession)
        if rights is None:
            return deny(
                "habilitation",
                f"No habilitation for {self.profession_name(profession)}: the matrix has no row",
                patients=patients,
            )
        if resource is None and res_type in DOCUMENT_TYPES:
            # a search over documents: allowed if some class is; each match is checked
            if rights.get(mode):
                return allow("habilitation", f"{res_type}: filtered document by document")
            return deny(
                "habilitation",
                f"The habilitation matrix lets {self.profession_name(profession)} {mode} "
                "no class of document",
            )
        if traits.doc_class not in rights.get(mode, ()) and "*" not in rights.get(mode, ()):
            return deny(
                "habilitation",
                f"The habilitation matrix does not let {self.profession_name(profession)} "
                f"{mode} class {self.class_name(traits.doc_class)}",
                patients=patients,
            )
        if resource is not None and facts_list:
            ref = f"{res_type}/{resource.get('id')}"
            masked = traits.masked or any(ref in f.choices.masked for f in facts_list)
            if (
                masked
                and me not in traits.authors
                and not any(me in f.general_practitioners for f in facts_list)
            ):
                return deny("masked", f"{ref} is not known", 404, patients=patients)
        why = f"{self.profession_name(profession)} may {mode} {self.class_name(traits.doc_class)}"
        if not facts_list or not self.relationship_required.get(mode, False):
            return allow("habilitation", why, patients=patients)
        for facts in facts_list:
            if not facts.exists:
                continue
            relation = self._relationship(p, facts, traits.doc_class, req)
            if relation is None:
                return self._break_glass(p, facts, req, patients, why)
            why += f"; {relation[1]}"
            if relation[0] == "code":
                return allow("access-code", why, patients=patients, via_code=True)
            if relation[0] == "break-glass":
                return allow("break-glass", why, patients=patients, break_glass=True)
        return allow("care-relationship", why, patients=patients)

    def _patient_choices(self, p: Principal, facts: PatientFacts) -> Decision | None:
        choices = facts.choices
        pid = (facts.patient,)
        if choices.closed:
            return deny(
                "closed",
                f"The record of Patient/{facts.patient} is closed: no access is possible",
                patients=pid,
            )
        if choices.opposition:
            return deny(
                "opposition",
                f"Patient/{facts.patient} has opposed access to their record by professionals",
                patients=pid,
            )
        me = p.practitioner_ref
        ids = {me, p.fhir_user, f"rpps:{p.rpps}" if p.rpps else None} - {None}
        if ids & choices.blocked:
            return deny(
                "blocked",
                f"Patient/{facts.patient} has blocked your access to their record; only the "
                "patient can lift this",
                patients=pid,
            )
        if p.client_id and p.client_id in choices.apps_denied:
            return deny(
                "app-refused",
                f"Patient/{facts.patient} has refused application {p.client_id!r}",
                patients=pid,
            )
        return None

    def _relationship(
        self, p: Principal, facts: PatientFacts, doc_class: str, req: RequestFacts
    ) -> tuple[str, str] | None:
        me = p.practitioner_ref
        if me and me in facts.general_practitioners:
            return "gp", "médecin traitant"
        if me and me in facts.team:
            return "team", "équipe de soins (CareTeam / Encounter)"
        if p.organization and p.organization in facts.organizations:
            return "team", f"établissement de prise en charge ({p.organization})"
        if req.access_code:
            digest = hash_code(req.access_code)
            now = time.time()
            for code in facts.choices.codes:
                if code.code_hash == digest and code.end >= now:
                    if code.actor and code.actor != me:
                        continue
                    if code.classes is not None and doc_class not in code.classes:
                        continue
                    return "code", "code d'accès donné par le patient"
        expiry = facts.break_glass.get(p.subject)
        if expiry and expiry > time.time():
            return "break-glass", "accès en urgence (bris de glace) en cours"
        return None

    def _break_glass(
        self,
        p: Principal,
        facts: PatientFacts,
        req: RequestFacts,
        patients: tuple[str, ...],
        why: str,
    ) -> Decision:
        header = self.data["break_glass"]["header"]
        if not req.break_glass:
            return deny(
                "care-relationship",
                f"No care relationship with Patient/{facts.patient}: you are neither their "
                "médecin traitant nor in their care team. Ask to be added to their CareTeam, "
                f"present a patient access code ({self.data['access_code_header']}), or in an "
                f"emergency break the glass with the header {header}: <reason>",
                patients=patients,
            )
        if p.profession not in self.break_glass_professions or p.kind != PRACTITIONER:
            return deny(
                "break-glass",
                f"{self.profession_name(p.profession)} may not use emergency access",
                patients=patients,
            )
        if facts.choices.no_break_glass:
            return deny(
                "break-glass",
                f"Patient/{facts.patient} has refused emergency access to their record",
                patients=patients,
            )
        if len(req.break_glass.strip()) < 5:
            return deny("break-glass", "Break-glass needs a stated reason (5 characters or more)")
        return allow(
            "break-glass",
            f"{why}; emergency access (break-glass): {req.break_glass.strip()}",
            patients=patients,
            break_glass=True,
        )

    def transparent_types(self, p: Principal) -> frozenset[str]:
        """Types this subject reads without any per-resource rule, so that a search may look
        into them through a chain or `_has`: open types, and patient identity for
        professionals; only those its scopes let it search."""
        types = set(self.open_read)
        identity = self.data["patient_demographics"].get("read")
        if identity and (
            p.kind == PRACTITIONER or (p.kind == SECRETARY and "Patient" in self.secretary_types)
        ):
            types.add("Patient")
        return frozenset(t for t in types if p.scopes.grants_for(t, "s"))

    def unreadable_classes(self, p: Principal) -> set[str]:
        """Document classes a professional may not read (empty if unknown or all)."""
        profession = "SECRETARIAT" if p.kind == SECRETARY else (p.profession or "")
        rights = self.matrix.get(profession)
        if rights is None or "*" in rights.get("read", ()):
            return set()
        return set(self.data["classes"]) - set(rights["read"])

    # -- searches -------------------------------------------------------------------------

    def search_scope(
        self, p: Principal, res_type: str | None, tenant: str
    ) -> Decision | list[tuple[str, str]]:
        """Criteria confining a search, or a refusal."""
        target = res_type or "*"
        grants = p.scopes.grants_for(target, "s")
        if not grants:
            return deny(
                "scope",
                f"The access token's scopes do not allow searching {target}: ask for "
                f"user/{target}.s or patient/{target}.s",
            )
        if p.kind in (SYSTEM, ADMIN) or res_type == "AuditEvent":
            return []
        if res_type is None:
            if p.kind in (PATIENT, RELATED) or all(g.context == "patient" for g in grants):
                return deny("search", "Search every type at once is not available to you")
            return []
        confine_to = None
        if p.kind in (PATIENT, RELATED) or all(g.context == "patient" for g in grants):
            confine_to = p.patient
            if confine_to is None:
                return deny("launch-context", "patient/ scopes need a patient in context")
        if res_type in self.open_read:
            return []
        if confine_to is not None:
            param = self.compartments.search_param(res_type)
            if param is None:
                return deny("patient-scope", f"{res_type} is not part of a patient record")
            if p.kind == RELATED:
                facts = self.info.facts(tenant, confine_to)
                if p.fhir_user not in facts.choices.delegations:
                    return deny(
                        "delegation",
                        f"Patient/{confine_to} has given no active delegation to {p.fhir_user}",
                    )
            value = confine_to if param == "_id" else f"Patient/{confine_to}"
            return [(param, value)]
        if p.kind == SECRETARY and res_type not in self.secretary_types:
            return deny("secretariat", f"A secretariat may not search {res_type}")
        return []
