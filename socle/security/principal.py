"""The authenticated subject, as `RequestContext.principal` carries it."""

from __future__ import annotations

from dataclasses import dataclass, field

from socle.security.scopes import Scopes

PRACTITIONER, PATIENT, RELATED, SECRETARY, ADMIN, SYSTEM = (
    "practitioner",
    "patient",
    "related",
    "secretary",
    "admin",
    "system",
)
PROFESSIONALS = frozenset({PRACTITIONER, SECRETARY})


@dataclass(slots=True)
class Principal:
    """Who is asking: identity, professional attributes, scopes and assurance level.

    `patient` is the patient in context: the launch patient of a `patient/` token, or
    the patient who is the user. `acting_for` is the professional a secretary works for.
    """

    kind: str
    subject: str
    issuer: str
    scopes: Scopes
    client_id: str | None = None
    display: str | None = None
    fhir_user: str | None = None  # Practitioner/…, Patient/…, RelatedPerson/…
    rpps: str | None = None
    idnps: str | None = None
    profession: str | None = None  # TRE_G15 code
    category: str | None = None  # TRE_R09 code
    specialty: str | None = None  # TRE_R38 code
    organization: str | None = None  # structure identifier (FINESS…) or Organization/…
    roles: frozenset[str] = frozenset()
    eidas: int = 1
    acr: str | None = None
    patient: str | None = None  # Patient id in context
    ins: str | None = None
    acting_for: str | None = None  # Practitioner/… a secretary acts for
    token_id: str | None = None
    session_id: str | None = None
    expires: int = 0
    network: str | None = None  # client address
    extras: dict = field(default_factory=dict)

    @property
    def practitioner_ref(self) -> str | None:
        """The professional whose care relationships apply (a secretary's doctor)."""
        if self.kind == "secretary":
            return self.acting_for
        if self.kind == "practitioner":
            return self.fhir_user
        return None

    @property
    def agent_id(self) -> str:
        """Stable audit identifier: RPPS, INS, or issuer subject / client id."""
        if self.rpps:
            return f"rpps:{self.rpps}"
        if self.ins:
            return f"ins:{self.ins}"
        if self.kind == "system":
            return f"client:{self.client_id or self.subject}"
        return f"sub:{self.subject}"[:128]
