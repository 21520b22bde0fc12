"""Security settings, from SOCLE_* variables (see docs/security.md for the full list).

`SOCLE_ENV=production` turns every test shortcut off for good: demo accounts, `socle token`,
lazily provisioned directory accounts and plain-HTTP issuers cannot be re-enabled by
another variable (asking for them is a start-up error, not a silent downgrade).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson


class ConfigError(Exception):
    pass


@dataclass(frozen=True)
class ProviderConfig:
    """An external OpenID Connect provider trusted for access tokens.

    `kind` selects the claim mapping: `psc` (Pro Santé Connect: professionals),
    `franceconnect` (FranceConnect / FranceConnect+: patients), `generic`.
    """

    name: str
    kind: str = "generic"
    discovery_url: str | None = None
    issuer: str | None = None
    jwks_uri: str | None = None
    introspection_endpoint: str | None = None
    userinfo_endpoint: str | None = None
    end_session_endpoint: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    audiences: tuple[str, ...] = ()
    algorithms: tuple[str, ...] = ("RS256", "PS256", "ES256", "EdDSA")
    acr_map: dict[str, int] = field(default_factory=dict)
    scope: str | None = None  # SMART scopes granted to this provider's users, if not in token

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProviderConfig:
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown provider settings: {', '.join(sorted(unknown))}")
        values = dict(data)
        for key in ("audiences", "algorithms"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)


# acr values of the French federators and of eIDAS, mapped to eIDAS levels 1-3
DEFAULT_ACR = {
    "eidas1": 1,
    "eidas2": 2,
    "eidas3": 3,
    "http://eidas.europa.eu/LoA/low": 1,
    "http://eidas.europa.eu/LoA/substantial": 2,
    "http://eidas.europa.eu/LoA/high": 3,
}


@dataclass(frozen=True)
class EidasRule:
    """Minimum eIDAS level for requests matching (method, resource type or path prefix)."""

    method: str  # GET, POST… or *
    target: str  # a resource type, a path prefix starting with /, or *
    level: int


@dataclass(frozen=True)
class SecurityConfig:
    mode: str = "none"
    production: bool = False
    data_dir: Path = Path("var")
    issuer: str = "http://127.0.0.1:8080/auth"
    audiences: tuple[str, ...] = ("http://127.0.0.1:8080/fhir",)
    embedded: bool = True
    demo: bool = True
    providers: tuple[ProviderConfig, ...] = ()
    access_token_ttl: int = 900
    refresh_token_ttl: int = 8 * 3600
    session_ttl: int = 8 * 3600
    min_eidas: tuple[EidasRule, ...] = (EidasRule("*", "*", 1),)
    policy_file: Path | None = None
    checkpoint_every: int = 1000
    lockout_threshold: int = 5
    lockout_seconds: int = 900
    login_rate_per_minute: int = 20
    trusted_proxies: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ()  # browser origins allowed to call the API (SMART apps)

    @property
    def fhir_base(self) -> str:
        return self.audiences[0]


def parse_min_eidas(spec: str) -> tuple[EidasRule, ...]:
    """`*=1,DocumentReference=2,POST:*=2,/metrics=3` -> rules (most specific wins)."""
    rules = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        target, _, level = part.rpartition("=")
        method, _, target = target.rpartition(":") if ":" in target else ("*", "", target)
        if not level.isdigit() or not 1 <= int(level) <= 3:
            raise ConfigError(f"SOCLE_AUTH_MIN_EIDAS: bad level in {part!r}")
        rules.append(EidasRule(method.upper() or "*", target or "*", int(level)))
    return tuple(rules) or (EidasRule("*", "*", 1),)


def _flag(name: str) -> bool | None:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return None
    return raw.lower() in ("1", "true", "yes", "on")


def load_security_config(
    data_dir: Path | None = None, base_url: str | None = None, mode: str | None = None
) -> SecurityConfig:
    env = os.environ
    production = env.get("SOCLE_ENV", "development").lower() == "production"
    mode = mode or env.get("SOCLE_AUTH", "none")
    if mode not in ("none", "oidc"):
        raise ConfigError(f"SOCLE_AUTH must be none or oidc, not {mode!r}")
    base_url = base_url or env.get("SOCLE_BASE_URL") or None
    if base_url:
        root = base_url.rstrip("/").removesuffix("/fhir")
    else:
        host = env.get("SOCLE_HOST", "127.0.0.1")
        host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        root = f"http://{host}:{env.get('SOCLE_PORT', '8080')}"
    issuer = env.get("SOCLE_AUTH_ISSUER") or f"{root}/auth"
    audiences = tuple(
        a.strip() for a in env.get("SOCLE_AUTH_AUDIENCE", "").split(",") if a.strip()
    ) or (f"{root}/fhir",)
    demo_flag = _flag("SOCLE_AUTH_DEMO")
    if production and demo_flag:
        raise ConfigError("SOCLE_AUTH_DEMO cannot be enabled with SOCLE_ENV=production")
    demo = (not production) and (demo_flag is not False)
    if production and issuer.startswith("http://"):
        raise ConfigError("SOCLE_ENV=production needs an https issuer (SOCLE_AUTH_ISSUER)")
    providers: list[ProviderConfig] = []
    providers_file = env.get("SOCLE_AUTH_PROVIDERS")
    if providers_file:
        data = orjson.loads(Path(providers_file).read_bytes())
        providers = [ProviderConfig.from_dict(p) for p in data.get("providers", data)]
    policy = env.get("SOCLE_POLICY_FILE")
    return SecurityConfig(
        mode=mode,
        production=production,
        data_dir=Path(data_dir or env.get("SOCLE_DATA_DIR", "var")),
        issuer=issuer.rstrip("/"),
        audiences=audiences,
        embedded=_flag("SOCLE_AUTH_EMBEDDED") is not False,
        demo=demo,
        providers=tuple(providers),
        access_token_ttl=int(env.get("SOCLE_AUTH_TOKEN_TTL", "900")),
        min_eidas=parse_min_eidas(env.get("SOCLE_AUTH_MIN_EIDAS", "*=1")),
        policy_file=Path(policy) if policy else None,
        checkpoint_every=int(env.get("SOCLE_AUDIT_CHECKPOINT_EVERY", "1000")),
        trusted_proxies=tuple(
            p.strip() for p in env.get("SOCLE_TRUSTED_PROXIES", "").split(",") if p.strip()
        ),
        cors_origins=tuple(
            o.strip().rstrip("/") for o in env.get("SOCLE_CORS_ORIGINS", "").split(",") if o.strip()
        ),
    )
