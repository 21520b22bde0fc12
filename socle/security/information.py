"""Policy information point: the facts about a patient that access decisions need.

For one patient: the médecin traitant (`Patient.generalPractitioner`), the treating team
(active CareTeam participants, Encounter participants), the care circle (RelatedPerson),
the patient's choices (Consent, see `consent.py`) and active break-glass grants. They are
loaded with a handful of indexed queries and cached per (tenant, patient).

The cache is invalidated by a generation counter, bumped whenever a resource that feeds
these facts is written (before the write and again after the request commits) and shared
by the worker processes through the mtime of `$SOCLE_DATA_DIR/security.generation`; a
short TTL is the backstop for servers that share a database but not a data directory.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import select

from socle.ins.nir import INS_SYSTEMS
from socle.security import tables as T
from socle.security.consent import PatientChoices, read_choices
from socle.security.transactions import current_session

if TYPE_CHECKING:
    from socle.fhir.engine import FhirEngine

RELEVANT_TYPES = frozenset(
    {"Patient", "Consent", "CareTeam", "Encounter", "RelatedPerson", "PractitionerRole"}
)
RPPS_SYSTEM = "https://rpps.esante.gouv.fr"
IDNPS_SYSTEM = "urn:oid:1.2.250.1.71.4.2.1"
G15 = "TRE_G15-ProfessionSante"
TTL = 5.0
MAX_ENCOUNTERS = 500


class Generation:
    """A change counter shared by the workers through a file's mtime."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / "security.generation"
        self.local = 0
        if not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.touch()

    def current(self) -> tuple[int, int]:
        try:
            return self.local, os.stat(self.path).st_mtime_ns
        except OSError:
            return self.local, 0

    def bump(self) -> None:
        self.local += 1
        try:
            now = time.time_ns()
            os.utime(self.path, ns=(now, now))
        except OSError:
            pass


@dataclass
class PatientFacts:
    patient: str  # id
    exists: bool
    general_practitioners: frozenset[str] = frozenset()  # Practitioner/…
    team: frozenset[str] = frozenset()  # Practitioner/…
    organizations: frozenset[str] = frozenset()  # Organization/…
    related: frozenset[str] = frozenset()  # RelatedPerson/…
    choices: PatientChoices = field(default_factory=PatientChoices)
    break_glass: dict[str, float] = field(default_factory=dict)  # subject -> expiry


def patient_of_reference(value: Any) -> str | None:
    """'Patient/123' (or an absolute URL ending so) -> '123'."""
    if not isinstance(value, dict):
        return None
    ref = value.get("reference")
    if not isinstance(ref, str):
        return None
    head, sep, tail = ref.rpartition("Patient/")
    if not sep or (head and not head.endswith("/")) or "/" in tail or not tail:
        return None
    return tail


def _refs(value: Any) -> list[str]:
    out = []
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, dict) and isinstance(item.get("reference"), str):
            ref = item["reference"]
            parts = ref.split("/")
            out.append("/".join(parts[-2:]) if len(parts) >= 2 else ref)
    return out


class Information:
    """Cached facts per (tenant, patient), and directory look-ups for subjects."""

    def __init__(self, engine: FhirEngine, data_dir: Path) -> None:
        self.engine = engine
        self.generation = Generation(data_dir)
        self._facts: dict[tuple[str, str], tuple[tuple[int, int], float, PatientFacts]] = {}
        self._lock = threading.Lock()

    def facts(self, tenant: str, patient: str) -> PatientFacts:
        key = (tenant, patient)
        gen = self.generation.current()
        hit = self._facts.get(key)
        now = time.monotonic()
        if hit is not None and hit[0] == gen and now - hit[1] < TTL:
            return hit[2]
        with self.reading(tenant) as (s, shareable):
            facts = self._load(s, tenant, patient)
        if not shareable:
            return facts  # read through uncommitted writes: for this transaction only
        with self._lock:
            if len(self._facts) > 50_000:
                self._facts.clear()
            self._facts[key] = (gen, now, facts)
        return facts

    def invalidate(self) -> None:
        self.generation.bump()

    @contextmanager
    def reading(self, tenant: str) -> Iterator[tuple[Any, bool]]:
        """The caller's open session when there is one (a second connection inside a write
        transaction would not see its writes, and could starve the pool), else a new read
        session. The flag says whether what is read may be cached for other requests."""
        found = current_session(self.engine.store, tenant)
        if found is not None:
            session, state = found
            yield session, not state.dirty
            return
        with self.engine.store.session(tenant) as s:
            yield s, True

    # -- loading -----------------------------------------------------------------------

    def _search(self, s: Any, res_type: str, params: list[tuple[str, str]], limit: int) -> list:
        pks = self.engine.search.find_pks(s, res_type, params, limit=limit)
        return [orjson.loads(v.content) for v in s.fetch_current(pks) if v.content]

    def _load(self, s: Any, tenant: str, patient: str) -> PatientFacts:
        ref = f"Patient/{patient}"
        stored = s.read("Patient", patient)
        if stored is None or stored.content is None:
            return PatientFacts(patient, exists=False)
        resource = orjson.loads(stored.content)
        gps = set(_refs(resource.get("generalPractitioner")))
        consents = self._search(s, "Consent", [("patient", ref)], 1000)
        teams = self._search(s, "CareTeam", [("patient", ref)], 200)
        encounters = self._search(s, "Encounter", [("patient", ref)], MAX_ENCOUNTERS)
        related = self._search(s, "RelatedPerson", [("patient", ref)], 200)
        team: set[str] = set()
        orgs: set[str] = set()
        for ct in teams:
            if ct.get("status") in (None, "active", "proposed"):
                for p in ct.get("participant") or []:
                    team.update(_refs(p.get("member")))
                orgs.update(_refs(ct.get("managingOrganization")))
        for enc in encounters:
            for p in enc.get("participant") or []:
                team.update(_refs(p.get("individual")))
            orgs.update(_refs(enc.get("serviceProvider")))
        roles = [r for r in gps | team if r.startswith("PractitionerRole/")]
        resolved = self._role_practitioners(s, roles)
        gps = {resolved.get(r, r) for r in gps}
        team = {resolved.get(r, r) for r in team}
        now = time.time()
        rows = s.execute(
            select(T.security_break_glass.c.subject, T.security_break_glass.c.expires).where(
                T.security_break_glass.c.tenant == tenant,
                T.security_break_glass.c.patient == patient,
                T.security_break_glass.c.expires > int(now),
            )
        ).all()
        return PatientFacts(
            patient,
            exists=True,
            general_practitioners=frozenset(gps),
            team=frozenset(team),
            organizations=frozenset(orgs),
            related=frozenset(f"RelatedPerson/{r['id']}" for r in related),
            choices=read_choices(consents, now),
            break_glass={row.subject: float(row.expires) for row in rows},
        )

    @staticmethod
    def _role_practitioners(s: Any, roles: list[str]) -> dict[str, str]:
        out = {}
        for role in roles:
            stored = s.read("PractitionerRole", role.split("/", 1)[1])
            if stored is not None and stored.content:
                found = _refs(orjson.loads(stored.content).get("practitioner"))
                if found:
                    out[role] = found[0]
        return out

    # -- directory ---------------------------------------------------------------------

    def practitioner_by_rpps(self, tenant: str, rpps: str) -> dict[str, Any] | None:
        """The Practitioner with this RPPS (or IDNPS '8'+RPPS), with its roles' details."""
        with self.reading(tenant) as (s, _):
            found = self._search(s, "Practitioner", [("identifier", f"{RPPS_SYSTEM}|{rpps}")], 1)
            if not found:
                found = self._search(
                    s, "Practitioner", [("identifier", f"{IDNPS_SYSTEM}|8{rpps}")], 1
                )
            if not found:
                return None
            practitioner = found[0]
            roles = self._search(
                s, "PractitionerRole", [("practitioner", f"Practitioner/{practitioner['id']}")], 20
            )
        return {"practitioner": practitioner, "roles": roles}

    def patient_by_identifier(self, tenant: str, ins: str) -> dict[str, Any] | None:
        with self.reading(tenant) as (s, _):
            for system in INS_SYSTEMS:
                found = self._search(s, "Patient", [("identifier", f"{system}|{ins}")], 2)
                if len(found) == 1:
                    return found[0]
        return None

    def patient_by_traits(
        self, tenant: str, family: str, given: str, birthdate: str, gender: str | None
    ) -> dict[str, Any] | None:
        """FranceConnect identity traits -> the one matching Patient (none if ambiguous)."""
        params = [("family", family), ("given", given), ("birthdate", birthdate)]
        if gender:
            params.append(("gender", {"male": "male", "female": "female"}.get(gender, gender)))
        with self.reading(tenant) as (s, _):
            found = self._search(s, "Patient", params, 2)
        return found[0] if len(found) == 1 else None

    def read(self, tenant: str, res_type: str, res_id: str) -> dict[str, Any] | None:
        with self.reading(tenant) as (s, _):
            stored = s.read(res_type, res_id)
        return orjson.loads(stored.content) if stored is not None and stored.content else None


def practitioner_attributes(found: dict[str, Any]) -> dict[str, Any]:
    """Profession (TRE_G15), category (TRE_R09), specialty and structure of a practitioner."""
    practitioner = found["practitioner"]
    attrs: dict[str, Any] = {"fhir_user": f"Practitioner/{practitioner['id']}"}
    for ident in practitioner.get("identifier") or []:
        if ident.get("system") == RPPS_SYSTEM:
            attrs["rpps"] = ident.get("value")
        elif ident.get("system") == IDNPS_SYSTEM:
            attrs["idnps"] = ident.get("value")
    for qualification in practitioner.get("qualification") or []:
        for coding in (qualification.get("code") or {}).get("coding") or []:
            system = coding.get("system") or ""
            if G15 in system:
                attrs["profession"] = coding.get("code")
            elif "TRE_R09" in system:
                attrs["category"] = coding.get("code")
    for role in found.get("roles") or []:
        for concept in role.get("specialty") or []:
            for coding in concept.get("coding") or []:
                attrs.setdefault("specialty", coding.get("code"))
        orgs = _refs(role.get("organization"))
        if orgs:
            attrs.setdefault("organization", orgs[0])
    names = practitioner.get("name") or []
    if names:
        n = names[0]
        attrs["display"] = " ".join([*(n.get("given") or []), n.get("family") or ""]).strip()
    return attrs


def patient_attributes(patient: dict[str, Any]) -> dict[str, Any]:
    attrs: dict[str, Any] = {"fhir_user": f"Patient/{patient['id']}", "patient": patient["id"]}
    for ident in patient.get("identifier") or []:
        if ident.get("system") in INS_SYSTEMS:
            attrs["ins"] = ident.get("value")
    names = patient.get("name") or []
    if names:
        n = names[0]
        attrs["display"] = " ".join([*(n.get("given") or []), n.get("family") or ""]).strip()
    return attrs
