"""Wiring: one `Security` per engine, installed by `install()` when auth mode is oidc.

It builds the pieces (token validator, policy, information point, audit log, guard,
accounts, embedded provider), installs the guard as `engine.guard`, and gives the app
its routes (`/auth/…`, `/.well-known/smart-configuration`, `/fhir/AuditEvent`) and its
authentication middleware.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from socle.fhir.errors import Issue, operation_outcome
from socle.security.accounts import AccountStore
from socle.security.audit import AuditLog, AuditRecord, AuditUnavailable
from socle.security.capability import smart_contributor
from socle.security.compartment import Compartments
from socle.security.config import SecurityConfig, load_security_config
from socle.security.guard import FACTS, SecurityGuard
from socle.security.information import RELEVANT_TYPES, Information
from socle.security.issuer import TokenIssuer
from socle.security.policy import Policy, RequestFacts, load_policy_data
from socle.security.principal import Principal
from socle.security.revocation import Revocations
from socle.security.subjects import principal_from
from socle.security.tokens import TokenError, TokenValidator
from socle.security.transactions import TrackedStore, mark_dirty

if TYPE_CHECKING:
    from socle.fhir.engine import FhirEngine

log = logging.getLogger("socle.security")
FHIR_JSON = "application/fhir+json"
PUBLIC_EXACT = frozenset({"/", "/healthz", "/fhir/metadata"})
PUBLIC_PREFIXES = ("/.well-known/", "/fhir/.well-known/", "/auth/")


class Security:
    def __init__(self, engine: FhirEngine, config: SecurityConfig) -> None:
        self.engine = engine
        self.config = config
        self.info = Information(engine, config.data_dir)
        self.compartments = Compartments(engine.registry)
        self.policy = Policy(load_policy_data(config.policy_file), self.compartments, self.info)
        self.audit = AuditLog(engine.store.engine, config.data_dir, config.checkpoint_every)
        self.revocations = Revocations(engine.store.engine, config.data_dir)
        self.guard = SecurityGuard(
            engine, self.policy, self.info, self.audit, self.policy.break_glass_minutes
        )
        self.validator = TokenValidator(config)
        self.issuer = TokenIssuer(config)
        self.accounts = AccountStore(
            engine.store.engine,
            self.info,
            demo=config.demo,
            lockout_threshold=config.lockout_threshold,
            lockout_seconds=config.lockout_seconds,
        )
        self._providers: dict[str, Any] = {}
        self._principals: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()
        self.bg_header = self.policy.data["break_glass"]["header"].lower()
        self.code_header = self.policy.data["access_code_header"].lower()

    # -- per app -------------------------------------------------------------------------

    def provider(self, tenant: str) -> Any:
        from socle.security.idp import Provider

        with self._lock:
            found = self._providers.get(tenant)
            if found is None:
                found = self._providers[tenant] = Provider(self, tenant)
        return found

    def routes(self, tenant: str) -> list[Route]:
        from socle.security import auditapi

        out: list[Route] = [
            Route("/.well-known/smart-configuration", self.smart_configuration),
            Route("/fhir/.well-known/smart-configuration", self.smart_configuration),
            Route("/.well-known/openid-configuration", self.openid_configuration),
            *auditapi.routes(self),
        ]
        if self.config.embedded:
            provider = self.provider(tenant)
            self.accounts.ensure_demo(tenant)
            out += provider.routes()
        return out

    # -- discovery documents -----------------------------------------------------------------

    async def smart_configuration(self, request: Request) -> Response:
        iss = self.config.issuer
        body = {
            "issuer": iss,
            "jwks_uri": f"{iss}/jwks",
            "authorization_endpoint": f"{iss}/authorize",
            "token_endpoint": f"{iss}/token",
            "introspection_endpoint": f"{iss}/introspect",
            "revocation_endpoint": f"{iss}/revoke",
            "userinfo_endpoint": f"{iss}/userinfo",
            "end_session_endpoint": f"{iss}/logout",
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
                "none",
            ],
            "scopes_supported": [
                "openid",
                "fhirUser",
                "profile",
                "launch/patient",
                "offline_access",
                "online_access",
                "patient/*.cruds",
                "user/*.cruds",
                "system/*.cruds",
            ],
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
            "capabilities": [
                "launch-standalone",
                "client-public",
                "client-confidential-symmetric",
                "context-standalone-patient",
                "sso-openid-connect",
                "permission-offline",
                "permission-online",
                "permission-patient",
                "permission-user",
                "permission-v1",
                "permission-v2",
            ],
        }
        return JSONResponse(body)

    async def openid_configuration(self, request: Request) -> Response:
        return JSONResponse(self.provider(request.app.state.tenant).metadata())

    # -- authentication --------------------------------------------------------------------

    def cached(self, token: str, tenant: str) -> Principal | None:
        hit = self._principals.get(f"{tenant}\x00{token}")
        if hit is not None and hit[0] > time.time():
            return hit[1]
        return None

    def authenticate(self, token: str, tenant: str) -> Principal:
        """Token -> Principal (cached until the token expires)."""
        key = f"{tenant}\x00{token}"
        hit = self.cached(token, tenant)
        if hit is not None:
            return hit
        validated = self.validator.validate(token)
        principal = principal_from(validated, self.info, tenant, token)
        with self._lock:
            if len(self._principals) > 20_000:
                self._principals.clear()
            self._principals[key] = (validated.expires, principal)
        return principal

    def revoked(self, issuer: str, session_id: str | None, token_id: str | None) -> bool:
        """Whether a token of ours was revoked (logout, RFC 7009); the list must be fresh."""
        if issuer != self.config.issuer:
            return False
        return self.revocations.is_revoked(session_id, token_id)

    def client_address(self, request: Any) -> str | None:
        client = getattr(request, "client", None)
        host = client.host if client else None
        if host and host in self.config.trusted_proxies:
            forwarded = request.headers.get("x-forwarded-for")
            if forwarded:
                return forwarded.split(",")[0].strip()
        return host

    def min_eidas(self, method: str, path: str) -> int:
        parts = path.split("/")
        res_type = parts[2] if len(parts) > 2 and path.startswith("/fhir/") else ""
        best, best_rank = 1, -1
        for rule in self.config.min_eidas:
            if rule.method not in ("*", method):
                continue
            if rule.target == "*":
                rank = 0
            elif (
                rule.target.startswith("/")
                and path.startswith(rule.target)
                or rule.target == res_type
            ):
                rank = 2
            else:
                continue
            rank += 1 if rule.method != "*" else 0
            if rank > best_rank or (rank == best_rank and rule.level > best):
                best, best_rank = rule.level, rank
        return best

    def federator_logout(
        self, name: str, id_token_hint: str | None, redirect: str | None, state: str | None
    ) -> str | None:
        for issuer in self.validator.issuers.values():
            if issuer.provider is not None and issuer.provider.name == name and issuer.end_session:
                params = {"id_token_hint": id_token_hint, "post_logout_redirect_uri": redirect}
                params["state"] = state
                query = urlencode({k: v for k, v in params.items() if v})
                sep = "&" if "?" in issuer.end_session else "?"
                return issuer.end_session + (sep + query if query else "")
        return None

    def record_refusal(self, request: Any, tenant: str, status: int, reason: str) -> None:
        self.audit.append(
            AuditRecord(
                tenant=tenant,
                action="token-refused",
                outcome=status,
                agent={"id": "anonymous"},
                description=f"{request.method} {request.url.path}: {reason}",
                network=self.client_address(request),
            )
        )


def _challenge(realm: str, error: str, description: str) -> str:
    return f'{realm}, error="{error}", error_description="{description}"'


def _outcome(status: int, code: str, text: str, headers: dict[str, str]) -> Response:
    body = operation_outcome([Issue("error", code, text)])
    return Response(orjson.dumps(body), status, headers=headers, media_type=FHIR_JSON)


class AuthMiddleware:
    """Bearer token required everywhere but the public documents, login pages and /healthz."""

    def __init__(self, app: Any, security: Security) -> None:
        self.app = app
        self.security = security

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path in PUBLIC_EXACT or path.startswith(PUBLIC_PREFIXES):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        tenant = (
            scope["app"].state.tenant if "app" in scope else self.security.engine.settings.tenant
        )
        auth = request.headers.get("authorization", "")
        realm = 'Bearer realm="socle"'
        if not auth.lower().startswith("bearer ") or not auth[7:].strip():
            response = _outcome(
                401,
                "login",
                "A bearer access token is required (Authorization: Bearer …); see "
                "/.well-known/smart-configuration",
                {"WWW-Authenticate": realm},
            )
            await self._refused(
                request, tenant, 401, "no bearer token", response, scope, receive, send
            )
            return
        token = auth[7:].strip()
        principal = self.security.cached(token, tenant)
        if principal is None:
            try:
                principal = await run_in_threadpool(self.security.authenticate, token, tenant)
            except TokenError as exc:
                text = exc.reason.replace('"', "'")
                response = _outcome(
                    401,
                    "login",
                    f"Invalid access token: {exc.reason}",
                    {"WWW-Authenticate": _challenge(realm, "invalid_token", text)},
                )
                await self._refused(
                    request, tenant, 401, exc.reason, response, scope, receive, send
                )
                return
        if await self._revoked(principal):
            response = _outcome(
                401,
                "login",
                "This access token was revoked (logout or revocation): log in again",
                {"WWW-Authenticate": _challenge(realm, "invalid_token", "token revoked")},
            )
            await self._refused(
                request, tenant, 401, "token revoked", response, scope, receive, send
            )
            return
        required = self.security.min_eidas(request.method, path)
        if principal.eidas < required:
            response = _outcome(
                401,
                "login",
                f"This request needs an eIDAS level {required} authentication "
                f"(yours: {principal.eidas}); log in again with a stronger means",
                {
                    "WWW-Authenticate": f'{realm}, error="insufficient_user_authentication", '
                    f'acr_values="eidas{required}"'
                },
            )
            await self._refused(
                request,
                tenant,
                401,
                f"eIDAS {principal.eidas} < {required}",
                response,
                scope,
                receive,
                send,
            )
            return
        headers = request.headers
        state = scope.setdefault("state", {})
        state["socle_principal"] = principal
        query = scope.get("query_string", b"").decode("latin-1")
        state["socle_request"] = RequestFacts(
            break_glass=headers.get(self.security.bg_header),
            access_code=headers.get(self.security.code_header),
            purpose=headers.get("x-purpose-of-use"),
            network=self.security.client_address(request),
            method=request.method,
            path=path + ("?" + query if query else ""),
        )
        state["socle_started"] = time.time()
        await self.app(scope, receive, send)

    async def _revoked(self, principal: Principal) -> bool:
        """The revocation check: a set lookup, after a reload if another worker revoked."""
        revocations = self.security.revocations
        if revocations.stale():
            await run_in_threadpool(revocations.refresh)
        return self.security.revoked(principal.issuer, principal.session_id, principal.token_id)

    async def _refused(
        self, request, tenant, status, reason, response, scope, receive, send
    ) -> None:  # noqa: ANN001
        try:
            await run_in_threadpool(self.security.record_refusal, request, tenant, status, reason)
        except AuditUnavailable:
            response = _outcome(
                503,
                "transient",
                "The audit trail is unavailable: the request was refused; retry later",
                {"Retry-After": "30"},
            )
        await response(scope, receive, send)


def request_context_fields(request: Request) -> tuple[Any, dict[str, Any]]:
    """What `socle.fhir.rest.http.context()` puts in the RequestContext (principal, extras)."""
    state = request.state
    principal = getattr(state, "socle_principal", None)
    if principal is None:
        return None, {}
    return principal, {FACTS: state.socle_request, "socle.started": state.socle_started}


def install(engine: FhirEngine, config: SecurityConfig | None = None) -> Security:
    """Install security on `engine` (idempotent): the guard and the cache-invalidating hooks."""
    existing = getattr(engine, "socle_security", None)
    if existing is not None:
        return existing
    config = config or load_security_config(
        engine.settings.data_dir, engine.settings.base_url, "oidc"
    )
    security = Security(engine, config)
    engine.guard = security.guard
    engine.socle_security = security  # type: ignore[attr-defined]
    # a request's writes commit with their AuditEvent; facts are read in the caller's session
    engine.store = TrackedStore(
        engine.store, security.guard.before_commit, security.guard.after_commit
    )

    def on_write(_s: Any, ctx: Any, resource: dict[str, Any], created: bool) -> None:
        if resource.get("resourceType") in RELEVANT_TYPES:
            security.info.invalidate()
            mark_dirty()
            ctx.extras["socle.dirty"] = True

    def on_delete(ctx: Any, res_type: str, res_id: str) -> None:
        if res_type in RELEVANT_TYPES:
            security.info.invalidate()
            mark_dirty()
            ctx.extras["socle.dirty"] = True

    engine.hooks.write.append(on_write)
    engine.hooks.delete.append(on_delete)
    engine.capability_contributors.append(smart_contributor(config))
    log.info("security installed", extra={"issuer": config.issuer, "demo": config.demo})
    return security


__all__ = ["Security", "install", "request_context_fields", "AuthMiddleware"]
