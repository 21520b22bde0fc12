"""Access-token validation: JWTs against the issuer's keys, opaque tokens by introspection.

Checks, in order: the issuer is trusted (exact `iss`), the algorithm is allowed for it,
the signature verifies with one of its keys (chosen by `kid`; an unknown `kid` triggers
one JWKS refresh, rate-limited, which is how key rotation is followed), then `exp`,
`nbf`, `iat` (30 s leeway) and `aud` (one of our FHIR base URLs).

Opaque (non-JWT) tokens are sent to the introspection endpoint (RFC 7662) of the
providers that have one. Valid results are cached until they expire (at most 5 min for
JWTs already verified, 60 s for introspection), so the steady-state cost is a dict hit.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
import urllib.parse
import urllib.request
from abc import ABC, abstractmethod
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from socle.security import jose
from socle.security.config import ProviderConfig, SecurityConfig
from socle.security.keys import idp_keys

log = logging.getLogger("socle.security")
LEEWAY = 30
HTTP_TIMEOUT = 5.0
CACHE_SIZE = 20_000


class TokenError(Exception):
    """The token is refused; `reason` is safe to return in WWW-Authenticate."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def http_json(
    url: str, data: dict[str, str] | None = None, auth: tuple[str, str] | None = None
) -> Any:
    """GET (or POST a form) and parse JSON; used for discovery, JWKS, introspection."""
    headers = {"Accept": "application/json"}
    body = None
    if data is not None:
        body = urllib.parse.urlencode(data).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    if auth is not None:
        raw = f"{urllib.parse.quote(auth[0])}:{urllib.parse.quote(auth[1])}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
    request = urllib.request.Request(url, data=body, headers=headers)
    with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:  # noqa: S310
        return orjson.loads(response.read())


class KeySource(ABC):
    """Keys of one issuer; `refresh()` reloads them at most every `min_interval` seconds."""

    min_interval = 30.0

    def __init__(self) -> None:
        self._keys: dict[str, jose.Jwk] = {}
        self._loaded_at = 0.0
        self._lock = threading.Lock()

    def keys(self) -> dict[str, jose.Jwk]:
        if not self._loaded_at:
            self.refresh(force=True)
        return self._keys

    def refresh(self, force: bool = False) -> bool:
        with self._lock:
            now = time.monotonic()
            if not force and now - self._loaded_at < self.min_interval:
                return False
            self._loaded_at = now
            try:
                self._keys = {k.kid: k for k in self.load()}
            except Exception as exc:  # noqa: BLE001 - keep the old keys on a fetch failure
                log.warning("could not load signing keys: %s", exc)
                return False
            return True

    @abstractmethod
    def load(self) -> list[jose.Jwk]:
        """Fetch the current keys (each source knows where they live)."""


class LocalKeys(KeySource):
    """The embedded provider's keys, read from the data directory."""

    min_interval = 2.0

    def __init__(self, data_dir: Path) -> None:
        super().__init__()
        self.data_dir = data_dir

    def load(self) -> list[jose.Jwk]:
        self._mtime = self._stamp()
        return [jose.Jwk(k.kid, k.alg, k.public) for k in idp_keys(self.data_dir)]

    def _stamp(self) -> int:
        try:
            return (Path(self.data_dir) / "keys" / "idp-jwks.json").stat().st_mtime_ns
        except OSError:
            return 0

    def refresh(self, force: bool = False) -> bool:
        # a rotation rewrites the key file: reload at once when it changed
        return super().refresh(force or self._stamp() != getattr(self, "_mtime", None))


class RemoteJwks(KeySource):
    def __init__(self, uri: str) -> None:
        super().__init__()
        self.uri = uri

    def load(self) -> list[jose.Jwk]:
        out = []
        for entry in http_json(self.uri).get("keys", []):
            try:
                out.append(jose.key_from_jwk(entry))
            except (jose.JoseError, KeyError, ValueError) as exc:
                log.info("ignoring JWK %s: %s", entry.get("kid"), exc)
        return out


@dataclass
class TrustedIssuer:
    issuer: str
    kind: str  # embedded | psc | franceconnect | generic
    audiences: frozenset[str]
    algorithms: frozenset[str]
    keys: KeySource | None
    provider: ProviderConfig | None = None
    introspection: str | None = None
    userinfo: str | None = None
    end_session: str | None = None
    acr_map: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class Validated:
    claims: dict[str, Any]
    issuer: TrustedIssuer
    expires: float


def discover(provider: ProviderConfig) -> ProviderConfig:
    """Fill issuer and endpoints from the provider's discovery document."""
    if not provider.discovery_url:
        return provider
    doc = http_json(provider.discovery_url)
    if provider.issuer and doc.get("issuer") != provider.issuer:
        raise TokenError(f"discovery issuer {doc.get('issuer')!r} != {provider.issuer!r}")
    from dataclasses import replace

    return replace(
        provider,
        issuer=doc["issuer"],
        jwks_uri=provider.jwks_uri or doc.get("jwks_uri"),
        introspection_endpoint=provider.introspection_endpoint or doc.get("introspection_endpoint"),
        userinfo_endpoint=provider.userinfo_endpoint or doc.get("userinfo_endpoint"),
        end_session_endpoint=provider.end_session_endpoint or doc.get("end_session_endpoint"),
    )


class TokenValidator:
    """Validates bearer tokens for the trusted issuers; thread-safe."""

    def __init__(self, config: SecurityConfig) -> None:
        self.config = config
        self.issuers: dict[str, TrustedIssuer] = {}
        self._pending = list(config.providers)
        self._cache: OrderedDict[str, Validated] = OrderedDict()
        self._cache_lock = threading.Lock()
        default_aud = frozenset(config.audiences)
        if config.embedded:
            self.issuers[config.issuer] = TrustedIssuer(
                config.issuer,
                "embedded",
                default_aud,
                frozenset({"RS256"}),
                LocalKeys(config.data_dir),
                introspection=None,
                acr_map={},
            )
        self._load_providers()

    def _load_providers(self) -> None:
        """Discovery of external providers; retried on use if a provider was down."""
        pending, self._pending = self._pending, []
        for provider in pending:
            try:
                p = discover(provider)
            except Exception as exc:  # noqa: BLE001
                log.warning("OIDC discovery failed for %s: %s", provider.name, exc)
                self._pending.append(provider)
                continue
            if not p.issuer:
                raise TokenError(f"provider {p.name} has no issuer")
            self.issuers[p.issuer] = TrustedIssuer(
                p.issuer,
                p.kind,
                frozenset(p.audiences) or frozenset(self.config.audiences),
                frozenset(p.algorithms) & jose.ASYMMETRIC_ALGS,
                RemoteJwks(p.jwks_uri) if p.jwks_uri else None,
                provider=p,
                introspection=p.introspection_endpoint,
                userinfo=p.userinfo_endpoint,
                end_session=p.end_session_endpoint,
                acr_map=p.acr_map,
            )

    def validate(self, token: str) -> Validated:
        now = time.time()
        cached = self._cache.get(token)
        if cached is not None:
            if cached.expires > now:
                return cached
            with self._cache_lock:
                self._cache.pop(token, None)
        if self._pending:
            self._load_providers()
        if token.count(".") == 2:
            result = self._validate_jwt(token, now)
        else:
            result = self._introspect(token, now)
        with self._cache_lock:
            self._cache[token] = result
            if len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return result

    def forget(self, token: str) -> None:
        with self._cache_lock:
            self._cache.pop(token, None)

    def _validate_jwt(self, token: str, now: float) -> Validated:
        try:
            header, claims, signing_input, signature = jose.split(token)
        except jose.JoseError as exc:
            raise TokenError(str(exc)) from exc
        iss = claims.get("iss")
        issuer = self.issuers.get(iss) if isinstance(iss, str) else None
        if issuer is None:
            raise TokenError(f"issuer {iss!r} is not trusted")
        if issuer.keys is None:
            raise TokenError(f"issuer {iss!r} has no signing keys configured")
        try:
            try:
                jose.verify(header, signing_input, signature, issuer.keys.keys(), issuer.algorithms)
            except jose.UnknownKey:
                if not issuer.keys.refresh():
                    raise
                jose.verify(header, signing_input, signature, issuer.keys.keys(), issuer.algorithms)
        except jose.JoseError as exc:
            raise TokenError(str(exc)) from exc
        expires = self._check_times(claims, now)
        self._check_audience(claims, issuer)
        return Validated(claims, issuer, min(expires, now + 300))

    @staticmethod
    def _check_times(claims: dict[str, Any], now: float) -> float:
        exp = claims.get("exp")
        if not isinstance(exp, int | float):
            raise TokenError("the token has no expiry (exp)")
        if exp < now - LEEWAY:
            raise TokenError("the token has expired")
        nbf = claims.get("nbf")
        if isinstance(nbf, int | float) and nbf > now + LEEWAY:
            raise TokenError("the token is not valid yet (nbf)")
        iat = claims.get("iat")
        if isinstance(iat, int | float) and iat > now + LEEWAY:
            raise TokenError("the token was issued in the future (iat)")
        return float(exp) + LEEWAY

    @staticmethod
    def _check_audience(claims: dict[str, Any], issuer: TrustedIssuer) -> None:
        aud = claims.get("aud")
        values = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if not any(a in issuer.audiences for a in values):
            raise TokenError("the token is not meant for this server (aud)")

    def _introspect(self, token: str, now: float) -> Validated:
        """RFC 7662 with each provider that has an introspection endpoint."""
        for issuer in self.issuers.values():
            provider = issuer.provider
            if not issuer.introspection or provider is None or not provider.client_id:
                continue
            try:
                answer = http_json(
                    issuer.introspection,
                    {"token": token, "token_type_hint": "access_token"},
                    (provider.client_id, provider.client_secret or ""),
                )
            except Exception as exc:  # noqa: BLE001
                log.warning("introspection at %s failed: %s", issuer.issuer, exc)
                continue
            if not isinstance(answer, dict) or answer.get("active") is not True:
                continue
            if answer.get("iss", issuer.issuer) != issuer.issuer:
                continue
            expires = self._check_times(answer, now) if "exp" in answer else now + 60
            if "aud" in answer:
                self._check_audience(answer, issuer)
            claims = {"iss": issuer.issuer, **answer}
            return Validated(claims, issuer, min(expires, now + 60))
        raise TokenError(
            "the token is neither a valid JWT nor active at any introspection endpoint"
        )
