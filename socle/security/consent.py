"""Patient choices held as FHIR Consent resources, read into one `PatientChoices` value.

Each Consent says what it is with a category coding of system `urn:socle:consent-kind`:

* `opposition`: the patient opposes access to the record by professionals;
* `closure`: the record is closed: no professional access, no more writes;
* `block`: named professionals may not access the record
  (`provision.actor.reference`: Practitioner/…, or an identifier with the RPPS);
* `mask`: documents hidden from professionals, except their authors and the médecin
  traitant (`provision.data.reference`);
* `app`: an application allowed (`provision.type = permit`) or refused (`deny`) the
  patient's data (`provision.actor.reference.identifier.value` = client_id);
* `access-code`: a time-limited code the patient gives a professional, granting chosen
  document classes (`identifier.value` = SHA-256 of the code, `provision.period`,
  `provision.class` = TRE_A03 codes, optional `provision.actor` to bind it to one person);
* `no-break-glass`: the patient refuses emergency (break-glass) access;
* `delegation`: a trusted person or legal representative may see the record
  (`provision.actor.reference` = RelatedPerson/…; `provision.actor.role` GUARD = legal
  representative: every class; any other role: only the `provision.class` listed).

Only `status = active` Consents whose `provision.period` covers now count. A Consent is
an ordinary FHIR resource: the change takes effect on the next request (the policy
information cache is invalidated by every Consent write).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

KIND_SYSTEM = "urn:socle:consent-kind"
RPPS_SYSTEMS = ("https://rpps.esante.gouv.fr", "urn:oid:1.2.250.1.71.4.2.1")
CLIENT_SYSTEM = "urn:socle:client-id"


@dataclass
class AccessCode:
    code_hash: str
    classes: frozenset[str] | None  # None: every class
    end: float
    actor: str | None  # Practitioner/… the code is bound to, if any


@dataclass
class PatientChoices:
    opposition: bool = False
    closed: bool = False
    no_break_glass: bool = False
    blocked: set[str] = field(default_factory=set)  # Practitioner/…, rpps:…
    masked: set[str] = field(default_factory=set)  # DocumentReference/…
    apps_denied: set[str] = field(default_factory=set)
    apps_permitted: set[str] = field(default_factory=set)
    codes: list[AccessCode] = field(default_factory=list)
    delegations: dict[str, frozenset[str] | None] = field(default_factory=dict)


def hash_code(code: str) -> str:
    return hashlib.sha256(code.strip().encode()).hexdigest()


def _instant(value: str | None, default: float) -> float:
    if not value:
        return default
    try:
        text = value if "T" in value else value + "T00:00:00+00:00"
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    except ValueError:
        return default


def consent_kind(consent: dict[str, Any]) -> str | None:
    for concept in consent.get("category") or []:
        for coding in concept.get("coding") or []:
            if coding.get("system") == KIND_SYSTEM:
                return coding.get("code")
    return None


def _actors(provision: dict[str, Any]) -> list[tuple[str | None, dict[str, Any]]]:
    out = []
    for actor in provision.get("actor") or []:
        role = None
        for coding in (actor.get("role") or {}).get("coding") or []:
            role = coding.get("code")
        out.append((role, actor.get("reference") or {}))
    return out


def _classes(provision: dict[str, Any]) -> frozenset[str] | None:
    codes = {c.get("code") for c in provision.get("class") or [] if c.get("code")}
    return frozenset(codes) if codes else None


def read_choices(consents: list[dict[str, Any]], now: float) -> PatientChoices:
    choices = PatientChoices()
    for consent in consents:
        if consent.get("status") != "active":
            continue
        provision = consent.get("provision") or {}
        period = provision.get("period") or {}
        start = _instant(period.get("start"), float("-inf"))
        end = _instant(period.get("end"), float("inf"))
        if not start <= now <= end:
            continue
        kind = consent_kind(consent)
        if kind == "opposition":
            choices.opposition = True
        elif kind == "closure":
            choices.closed = True
        elif kind == "no-break-glass":
            choices.no_break_glass = True
        elif kind == "block":
            for _role, ref in _actors(provision):
                if ref.get("reference"):
                    choices.blocked.add(ref["reference"])
                ident = ref.get("identifier") or {}
                if ident.get("system") in RPPS_SYSTEMS and ident.get("value"):
                    value = ident["value"]
                    choices.blocked.add("rpps:" + (value[1:] if len(value) == 12 else value))
        elif kind == "mask":
            for item in provision.get("data") or []:
                ref = (item.get("reference") or {}).get("reference")
                if ref:
                    choices.masked.add(ref)
        elif kind == "app":
            target = choices.apps_denied if provision.get("type") == "deny" else None
            target = target if target is not None else choices.apps_permitted
            for _role, ref in _actors(provision):
                client = (ref.get("identifier") or {}).get("value")
                if client:
                    target.add(client)
        elif kind == "access-code":
            for ident in consent.get("identifier") or []:
                if ident.get("value"):
                    actor = next(
                        (
                            r.get("reference")
                            for _role, r in _actors(provision)
                            if r.get("reference")
                        ),
                        None,
                    )
                    choices.codes.append(
                        AccessCode(ident["value"], _classes(provision), end, actor)
                    )
        elif kind == "delegation":
            classes = _classes(provision)
            for role, ref in _actors(provision):
                if ref.get("reference"):
                    choices.delegations[ref["reference"]] = None if role == "GUARD" else classes
    return choices
