"""Access tokens of the embedded provider: RS256 JWTs (RFC 9068 `at+jwt`) with SMART claims.

Shared by the identity provider's token endpoint and `socle token` (the test shortcut),
so both produce exactly the same kind of token.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from socle.security import jose
from socle.security.config import SecurityConfig
from socle.security.keys import idp_keys

# attributes of an account copied into its tokens (the resource server trusts them)
SUBJECT_CLAIMS = (
    "rpps",
    "idnps",
    "profession",
    "category",
    "specialty",
    "organization",
    "ins",
    "acting_for",
    "roles",
)


class TokenIssuer:
    def __init__(self, config: SecurityConfig) -> None:
        self.config = config
        self._keys: list[jose.Jwk] | None = None
        self._loaded = 0.0

    def signing_key(self) -> jose.Jwk:
        if self._keys is None or time.monotonic() - self._loaded > 60:
            self._keys = idp_keys(self.config.data_dir)
            self._loaded = time.monotonic()
        return self._keys[0]

    def jwks(self) -> dict[str, Any]:
        self.signing_key()
        return {"keys": [k.public_jwk() for k in self._keys or []]}

    def subject_claims(self, kind: str, subject: str, attributes: dict[str, Any]) -> dict[str, Any]:
        claims: dict[str, Any] = {"sub": subject, "kind": kind}
        for name in SUBJECT_CLAIMS:
            if attributes.get(name):
                claims[name] = attributes[name]
        if attributes.get("fhir_user"):
            claims["fhirUser"] = attributes["fhir_user"]
        if attributes.get("display"):
            claims["name"] = attributes["display"]
        if attributes.get("idnps"):
            claims["SubjectNameID"] = attributes["idnps"]
        if kind == "patient" and attributes.get("patient"):
            claims["patient"] = attributes["patient"]
        if kind == "related" and attributes.get("patient"):
            claims["patient"] = attributes["patient"]
        return claims

    def access_token(
        self,
        claims: dict[str, Any],
        *,
        scope: str,
        client_id: str,
        ttl: int | None = None,
        acr: str | None = None,
        amr: list[str] | None = None,
        auth_time: int | None = None,
        sid: str | None = None,
        patient: str | None = None,
        audience: str | None = None,
        now: int | None = None,
    ) -> str:
        now = int(time.time()) if now is None else now
        body = dict(claims)
        body.update(
            iss=self.config.issuer,
            aud=audience or self.config.fhir_base,
            iat=now,
            nbf=now,
            exp=now + (ttl or self.config.access_token_ttl),
            jti=secrets.token_urlsafe(16),
            scope=scope,
            client_id=client_id,
        )
        if acr:
            body["acr"] = acr
        if amr:
            body["amr"] = amr
        if auth_time:
            body["auth_time"] = auth_time
        if sid:
            body["sid"] = sid
        if patient:
            body["patient"] = patient
        return jose.sign(body, self.signing_key(), typ="at+jwt")
