"""From validated token claims to a `Principal`, per kind of issuer.

* embedded (Socle's own provider): the claims carry the subject's attributes, copied from
  the directory when the token was issued (`kind`, `rpps`, `profession`, `fhirUser`…);
* `psc` (Pro Santé Connect style): `SubjectNameID` is the IDNPS ("8" + RPPS),
  `SubjectRefPro.exercices[]` gives profession (`codeProfession`, TRE_G15), category
  (`codeCategorieProfessionnelle`), specialty (`codeSavoirFaire`) and structures
  (`activities[].identifiantStructure`); missing claims are read from the userinfo
  endpoint. The Practitioner is looked up in the directory by RPPS;
* `franceconnect` (FranceConnect / FranceConnect+ style): a patient, found by INS when
  the provider sends one, else by identity traits (family name, given names, birth date,
  sex) which must match exactly one Patient;
* `generic`: `fhirUser` and `patient` claims, or a backend service (client credentials).

`acr` becomes an eIDAS level through the provider's `acr_map` (defaults: eidas1..3 and
the eIDAS LoA URIs).
"""

from __future__ import annotations

from typing import Any

from socle.security.config import DEFAULT_ACR
from socle.security.information import (
    Information,
    patient_attributes,
    practitioner_attributes,
)
from socle.security.principal import PATIENT, PRACTITIONER, SYSTEM, Principal
from socle.security.scopes import Scopes
from socle.security.tokens import TokenError, Validated


def eidas_level(acr: Any, mapping: dict[str, int]) -> int:
    if not isinstance(acr, str):
        return 1
    return mapping.get(acr) or DEFAULT_ACR.get(acr) or 1


def principal_from(validated: Validated, info: Information, tenant: str, token: str) -> Principal:
    claims, issuer = validated.claims, validated.issuer
    base = {
        "subject": str(claims.get("sub") or claims.get("client_id") or ""),
        "issuer": issuer.issuer,
        "client_id": claims.get("client_id") or claims.get("azp"),
        "eidas": eidas_level(claims.get("acr"), issuer.acr_map),
        "acr": claims.get("acr"),
        "token_id": claims.get("jti"),
        "session_id": claims.get("sid"),
        "expires": int(claims.get("exp") or 0),
    }
    scope_claim = claims.get("scope")
    if scope_claim is None and issuer.provider is not None:
        scope_claim = issuer.provider.scope
    scopes = Scopes.parse(scope_claim)
    if issuer.kind == "embedded":
        return _embedded(claims, scopes, base)
    if issuer.kind == "psc":
        return _psc(claims, scopes, base, validated, info, tenant, token)
    if issuer.kind == "franceconnect":
        return _franceconnect(claims, scopes, base, validated, info, tenant, token)
    return _generic(claims, scopes, base)


def _embedded(claims: dict[str, Any], scopes: Scopes, base: dict[str, Any]) -> Principal:
    kind = claims.get("kind") or SYSTEM
    return Principal(
        kind=kind,
        scopes=scopes,
        display=claims.get("name"),
        fhir_user=claims.get("fhirUser"),
        rpps=claims.get("rpps"),
        idnps=claims.get("SubjectNameID"),
        profession=claims.get("profession"),
        category=claims.get("category"),
        specialty=claims.get("specialty"),
        organization=claims.get("organization"),
        roles=frozenset(claims.get("roles") or ()),
        patient=claims.get("patient"),
        ins=claims.get("ins"),
        acting_for=claims.get("acting_for"),
        **base,
    )


def _userinfo(validated: Validated, token: str) -> dict[str, Any]:
    cached = validated.claims.get("_userinfo")
    if cached is not None:
        return cached
    if not validated.issuer.userinfo:
        return {}
    try:
        request_token = token
        import urllib.request

        import orjson

        req = urllib.request.Request(
            validated.issuer.userinfo,
            headers={"Authorization": f"Bearer {request_token}", "Accept": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=5) as response:  # noqa: S310
            info = orjson.loads(response.read())
    except Exception as exc:  # noqa: BLE001
        raise TokenError(f"the provider's userinfo endpoint failed: {exc}") from exc
    validated.claims["_userinfo"] = info
    return info


def _psc(claims, scopes, base, validated, info: Information, tenant, token) -> Principal:  # noqa: ANN001
    data = dict(claims)
    if "SubjectRefPro" not in data:
        data.update(_userinfo(validated, token))
    idnps = str(data.get("SubjectNameID") or data.get("preferred_username") or "")
    if not idnps:
        raise TokenError("the Pro Santé Connect token identifies no professional (SubjectNameID)")
    rpps = idnps[1:] if idnps.startswith("8") and len(idnps) == 12 else idnps
    exercise = ((data.get("SubjectRefPro") or {}).get("exercices") or [{}])[0]
    activity = (exercise.get("activities") or [{}])[0]
    found = info.practitioner_by_rpps(tenant, rpps)
    attrs = practitioner_attributes(found) if found else {}
    given, family = data.get("given_name") or "", data.get("family_name") or ""
    return Principal(
        kind=PRACTITIONER,
        scopes=scopes,
        display=f"{given} {family}".strip() or attrs.get("display"),
        fhir_user=attrs.get("fhir_user"),
        rpps=rpps,
        idnps=idnps,
        profession=exercise.get("codeProfession") or attrs.get("profession"),
        category=exercise.get("codeCategorieProfessionnelle") or attrs.get("category"),
        specialty=exercise.get("codeSavoirFaire") or attrs.get("specialty"),
        organization=activity.get("identifiantStructure") or attrs.get("organization"),
        **base,
    )


def _franceconnect(claims, scopes, base, validated, info: Information, tenant, token) -> Principal:  # noqa: ANN001
    data = dict(claims)
    if "birthdate" not in data and "ins" not in data:
        data.update(_userinfo(validated, token))
    patient = None
    if data.get("ins"):
        patient = info.patient_by_identifier(tenant, str(data["ins"]))
    if patient is None and data.get("family_name") and data.get("birthdate"):
        given = str(data.get("given_name") or "").split(" ")[0]
        patient = info.patient_by_traits(
            tenant, data["family_name"], given, data["birthdate"], data.get("gender")
        )
    if patient is None:
        raise TokenError("no single patient matches the identity traits of this token")
    attrs = patient_attributes(patient)
    return Principal(
        kind=PATIENT,
        scopes=scopes,
        display=attrs.get("display"),
        fhir_user=attrs["fhir_user"],
        patient=attrs["patient"],
        ins=attrs.get("ins"),
        **base,
    )


def _generic(claims: dict[str, Any], scopes: Scopes, base: dict[str, Any]) -> Principal:
    fhir_user = claims.get("fhirUser")
    if not fhir_user:
        return Principal(kind=SYSTEM, scopes=scopes, **base)
    kind = {"Practitioner": PRACTITIONER, "Patient": PATIENT}.get(
        str(fhir_user).split("/")[-2] if "/" in str(fhir_user) else "", SYSTEM
    )
    patient = claims.get("patient")
    if kind == PATIENT and not patient:
        patient = str(fhir_user).split("/")[-1]
    return Principal(
        kind=kind,
        scopes=scopes,
        fhir_user="/".join(str(fhir_user).split("/")[-2:]),
        patient=patient,
        profession=claims.get("profession"),
        **base,
    )
