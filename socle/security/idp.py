"""The embedded OpenID Connect provider (authlib), for development, demos and vendor rigs.

Endpoints under `/auth` (the issuer is `…/auth`):
* `/.well-known/openid-configuration`, `/jwks`: discovery and published keys;
* `/authorize` (GET): authorization code flow, PKCE (S256) mandatory for public clients;
  shows the login page unless a login session (cookie) is already there;
* `/login` (POST): password, password + TOTP, or simulated CPS card (RPPS + PIN); rate
  limited per address, accounts lock after repeated failures; every attempt is audited;
* `/token`: authorization_code, refresh_token (rotated), client_credentials;
* `/introspect` (RFC 7662), `/revoke` (RFC 7009: refresh and access tokens), `/userinfo`;
* `/logout`: ends the login session, revokes its refresh and access tokens and, when the user came
  from an external federator (`provider=`), sends the browser on to that provider's
  `end_session_endpoint` so the federator session ends too.
"""

from __future__ import annotations

import hashlib
import html
import secrets
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import orjson
from authlib.oauth2 import AuthorizationServer, OAuth2Error
from authlib.oauth2.rfc6749 import OAuth2Payload, OAuth2Request, grants
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from joserfc.jwk import RSAKey
from sqlalchemy import delete, insert, select, update
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from socle.fhir.errors import FhirError
from socle.fhir.rest.http import read_limited
from socle.security import jose
from socle.security import tables as T
from socle.security.accounts import Account, AccountStore, Client
from socle.security.audit import AuditRecord
from socle.security.issuer import TokenIssuer
from socle.security.keys import idp_keys
from socle.security.revocation import JTI, SID
from socle.security.tokens import TokenError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from socle.security.revocation import Revocations
    from socle.security.service import Security

SESSION_COOKIE = "socle_sid"
CSRF_COOKIE = "socle_csrf"
CODE_TTL = 300


FORM_LIMIT = 64 * 1024  # login, token and logout forms are small


def _h(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass
class AuthenticatedUser:
    """An account as authenticated for one grant: how, when, in which session/context."""

    account: Account
    acr: str = "eidas1"
    amr: list[str] = field(default_factory=list)
    auth_time: int = 0
    sid: str | None = None
    launch_patient: str | None = None

    def get_user_id(self) -> str:
        return self.account.get_user_id()


@dataclass
class _Code:
    client_id: str
    data: dict[str, Any]
    account_pk: int
    code_hash: str

    def get_redirect_uri(self) -> str | None:
        return self.data.get("redirect_uri")

    def get_scope(self) -> str:
        return self.data.get("scope", "")

    def get_nonce(self) -> str | None:
        return self.data.get("nonce")

    def get_auth_time(self) -> int | None:
        return self.data.get("auth_time")

    def get_acr(self) -> str | None:
        return self.data.get("acr")

    def get_amr(self) -> list[str] | None:
        return self.data.get("amr")

    @property
    def code_challenge(self) -> str | None:
        return self.data.get("code_challenge")

    @property
    def code_challenge_method(self) -> str | None:
        return self.data.get("code_challenge_method")


@dataclass
class _Refresh:
    token_hash: str
    client_id: str
    account_pk: int | None
    sid: str | None
    data: dict[str, Any]
    expires: int
    revoked: bool

    def get_scope(self) -> str:
        return self.data.get("scope", "")

    def check_client(self, client: Client) -> bool:
        return client.client_id == self.client_id

    def is_revoked(self) -> bool:
        return self.revoked

    def is_expired(self) -> bool:
        return self.expires < time.time()

    def get_expires_in(self) -> int:
        return max(0, int(self.expires - time.time()))

    def get_client_id(self) -> str:
        return self.client_id

    def get_user(self) -> None:
        return None


@dataclass
class _Access:
    """One of our access tokens, as the revocation endpoint sees it (RFC 7009)."""

    token_id: str
    client_id: str | None
    expires: int

    def check_client(self, client: Client) -> bool:
        return client.client_id == self.client_id


class _Payload(OAuth2Payload):
    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._data = dict(pairs)
        lists: defaultdict[str, list] = defaultdict(list)
        for k, v in pairs:
            lists[k].append(v)
        self._datalist = lists

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list]:
        return self._datalist


class _Request(OAuth2Request):
    """authlib's request, built from an already-read Starlette request.

    The https check of `OAuth2Request.__init__` is skipped on purpose: TLS usually ends at
    a reverse proxy, and production refuses a non-https issuer at start-up instead.
    """

    def __init__(
        self,
        method: str,
        uri: str,
        headers: dict[str, str],
        args: list[tuple[str, str]],
        form: list[tuple[str, str]],
    ) -> None:
        self.method = method
        self.uri = uri
        self.headers = headers
        self._body = None
        self._args = dict(args)
        self._form = dict(form)
        self.payload = _Payload(args + form)
        self.client = None
        self.auth_method = None
        self.user = None
        self.authorization_code = None
        self.refresh_token = None
        self.credential = None
        self._scope = None

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


class _Pkce(CodeChallenge):
    """PKCE with S256 only, mandatory for public clients from the authorization request on."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        request = grant.request
        client = request.client
        public = client is not None and client.secret_hash is None
        if public and not request.payload.data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge (S256)")
        super().validate_code_challenge(grant, redirect_uri)

    def get_authorization_code_challenge(self, authorization_code: _Code) -> str | None:
        return authorization_code.code_challenge

    def get_authorization_code_challenge_method(self, authorization_code: _Code) -> str | None:
        return authorization_code.code_challenge_method


class LoginSessions:
    """Ending login sessions of the embedded provider: a logout (one session) and `socle
    accounts` (every session of an account whose access or credentials changed).

    An ended session stops its refresh tokens at once and, on the next request of any
    worker, every access token carrying its `sid` (the revocation list keeps the `sid` as
    long as such a token can live)."""

    def __init__(self, db: Engine, revocations: Revocations, access_token_ttl: int) -> None:
        self.db = db
        self.revocations = revocations
        self.access_token_ttl = access_token_ttl

    def end(self, tenant: str, sid: str) -> None:
        """End one session (it may be unknown here: its `sid` is revoked all the same)."""
        sessions, refresh = T.security_session, T.security_refresh
        self._end(tenant, sessions.c.sid == sid, refresh.c.sid == sid, [sid])

    def end_account(self, tenant: str, account_pk: int) -> int:
        """End every session of an account and revoke all its refresh tokens; returns the
        number of sessions that were still valid."""
        sessions, refresh = T.security_session, T.security_refresh
        return self._end(
            tenant, sessions.c.account_pk == account_pk, refresh.c.account_pk == account_pk
        )

    def _end(
        self, tenant: str, session_match: Any, refresh_match: Any, sids: list[str] | None = None
    ) -> int:
        sessions, refresh = T.security_session, T.security_refresh
        now = int(time.time())
        with self.db.begin() as conn:
            if sids is None:  # the sessions still valid: their access tokens may be live
                sids = list(
                    conn.execute(
                        select(sessions.c.sid).where(
                            sessions.c.tenant == tenant, session_match, sessions.c.expires > now
                        )
                    ).scalars()
                )
            ended = update(sessions).where(sessions.c.tenant == tenant, session_match)
            conn.execute(ended.values(ended=True))
            revoked = update(refresh).where(refresh.c.tenant == tenant, refresh_match)
            conn.execute(revoked.values(revoked=True))
        expires = now + self.access_token_ttl + 60
        for sid in sids:
            self.revocations.revoke(tenant, SID, sid, expires)
        return len(sids)


class Provider:
    """The embedded identity provider of one app (one tenant)."""

    def __init__(self, security: Security, tenant: str) -> None:
        self.security = security
        self.config = security.config
        self.tenant = tenant
        self.db = security.engine.store.engine
        self.accounts: AccountStore = security.accounts
        self.issuer: TokenIssuer = security.issuer
        self.sessions = LoginSessions(self.db, security.revocations, self.config.access_token_ttl)
        self.server = self._server()
        self._hits: dict[str, deque[float]] = defaultdict(deque)
        self._hits_lock = threading.Lock()

    # -- authlib wiring -----------------------------------------------------------------

    def _server(self) -> AuthorizationServer:
        provider = self

        class Server(AuthorizationServer):
            def query_client(self, client_id: str) -> Client | None:
                return provider.accounts.client(provider.tenant, client_id)

            def save_token(self, token: dict[str, Any], request: Any) -> None:
                provider._save_refresh(token, request)

            def create_oauth2_request(self, request: Any) -> Any:
                return request

            def create_json_request(self, request: Any) -> Any:
                return request

            def handle_response(self, status: int, body: Any, headers: Any) -> Response:
                content = orjson.dumps(body) if isinstance(body, dict) else (body or b"")
                return Response(
                    content,
                    status_code=status,
                    headers={**dict(headers or []), "Cache-Control": "no-store"},
                    media_type="application/json" if isinstance(body, dict) else None,
                )

            def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
                return None

        class CodeGrant(grants.AuthorizationCodeGrant):
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

            def save_authorization_code(self, code: str, request: Any) -> None:
                provider._save_code(code, request)

            def query_authorization_code(self, code: str, client: Client) -> _Code | None:
                return provider._query_code(code, client)

            def delete_authorization_code(self, authorization_code: _Code) -> None:
                provider._delete_code(authorization_code)

            def authenticate_user(self, authorization_code: _Code) -> AuthenticatedUser | None:
                account = provider.accounts.account_by_pk(authorization_code.account_pk)
                if account is None:
                    return None
                d = authorization_code.data
                return AuthenticatedUser(
                    account,
                    d.get("acr", "eidas1"),
                    d.get("amr", []),
                    d.get("auth_time", 0),
                    d.get("sid"),
                    d.get("launch_patient"),
                )

        class RefreshGrant(grants.RefreshTokenGrant):
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
            INCLUDE_NEW_REFRESH_TOKEN = True

            def authenticate_refresh_token(self, refresh_token: str) -> _Refresh | None:
                found = provider._query_refresh(refresh_token)
                if found is None or found.revoked or found.is_expired():
                    return None
                return found

            def authenticate_user(self, refresh_token: _Refresh) -> AuthenticatedUser | None:
                if refresh_token.account_pk is None:
                    return None
                account = provider.accounts.account_by_pk(refresh_token.account_pk)
                if account is None:
                    return None
                d = refresh_token.data
                return AuthenticatedUser(
                    account,
                    d.get("acr", "eidas1"),
                    d.get("amr", []),
                    d.get("auth_time", 0),
                    refresh_token.sid,
                    d.get("launch_patient"),
                )

            def revoke_old_credential(self, refresh_token: _Refresh) -> None:
                provider._revoke_refresh(refresh_token.token_hash)

        class ClientCredentials(grants.ClientCredentialsGrant):
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

        class OpenID(OpenIDCode):
            def exists_nonce(self, nonce: str, request: Any) -> bool:
                return False

            def resolve_client_private_key(self, client: Client) -> Any:
                key = provider.issuer.signing_key()
                return RSAKey.import_key(key.private, {"kid": key.kid})

            def get_client_algorithm(self, client: Client) -> str:
                return "RS256"

            def get_encode_header(self, client: Client) -> dict[str, str]:
                return {"alg": "RS256", "kid": provider.issuer.signing_key().kid}

            def get_client_claims(self, client: Client) -> dict[str, Any]:
                return {
                    "iss": provider.config.issuer,
                    "aud": [client.client_id],
                    "exp": int(time.time()) + 3600,
                }

            def generate_user_info(self, user: AuthenticatedUser, scope: str) -> UserInfo:
                return provider.userinfo(user.account, scope, user)

        class Introspection(IntrospectionEndpoint):
            CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

            def query_token(self, token: str, token_type_hint: str | None) -> Any:
                return provider._introspect_lookup(token)

            def introspect_token(self, token: Any) -> dict[str, Any]:
                return token

            def check_permission(self, token: Any, client: Client, request: Any) -> bool:
                return True

            def create_introspection_payload(self, token: Any) -> dict[str, Any]:
                return token if token else {"active": False}

        class Revocation(RevocationEndpoint):
            CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

            def query_token(self, token: str, token_type_hint: str | None) -> Any:
                return provider._query_refresh(token) or provider._query_access(token)

            def revoke_token(self, token: Any, request: Any) -> None:
                if isinstance(token, _Access):
                    provider._revoke_access(token)
                else:
                    provider._revoke_refresh(token.token_hash)

        server = Server()
        server.register_token_generator("default", self._generate_token)
        server.register_grant(CodeGrant, [_Pkce(required=True), OpenID(require_nonce=False)])
        server.register_grant(RefreshGrant)
        server.register_grant(ClientCredentials)
        server.register_endpoint(Introspection)
        server.register_endpoint(Revocation)
        return server

    def _generate_token(
        self,
        grant_type: str,
        client: Client,
        user: AuthenticatedUser | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        # never more than the client is registered for (authlib does not narrow it)
        scope = client.get_allowed_scope(scope or "")
        if user is None:  # client credentials: a backend service
            claims = {"sub": client.client_id, "kind": "system"}
            token = self.issuer.access_token(claims, scope=scope, client_id=client.client_id)
            return {
                "token_type": "Bearer",
                "access_token": token,
                "expires_in": self.config.access_token_ttl,
                "scope": scope,
            }
        account = user.account
        claims = self.issuer.subject_claims(account.kind, account.get_user_id(), account.attributes)
        patient = claims.get("patient") or user.launch_patient
        access = self.issuer.access_token(
            claims,
            scope=scope,
            client_id=client.client_id,
            acr=user.acr,
            amr=user.amr,
            auth_time=user.auth_time,
            sid=user.sid,
            patient=patient if "launch/patient" in scope.split() or claims.get("patient") else None,
        )
        out: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": access,
            "expires_in": self.config.access_token_ttl,
            "scope": scope,
        }
        if patient and ("launch/patient" in scope.split() or account.kind == "patient"):
            out["patient"] = patient
        if include_refresh_token and (
            "offline_access" in scope.split() or "online_access" in scope.split()
        ):
            out["refresh_token"] = secrets.token_urlsafe(32)
        return out

    # -- persistence ----------------------------------------------------------------------

    def _save_code(self, code: str, request: Any) -> None:
        user: AuthenticatedUser = request.user
        data = request.payload.data
        record = {
            "redirect_uri": data.get("redirect_uri"),
            "scope": request.scope or data.get("scope", ""),
            "nonce": data.get("nonce"),
            "code_challenge": data.get("code_challenge"),
            "code_challenge_method": data.get("code_challenge_method"),
            "acr": user.acr,
            "amr": user.amr,
            "auth_time": user.auth_time,
            "sid": user.sid,
            "launch_patient": user.launch_patient,
        }
        with self.db.begin() as conn:
            conn.execute(
                insert(T.security_code).values(
                    code_hash=_h(code),
                    tenant=self.tenant,
                    client_id=request.client.client_id,
                    account_pk=user.account.pk,
                    data=orjson.dumps(record).decode(),
                    expires=int(time.time()) + CODE_TTL,
                )
            )

    def _query_code(self, code: str, client: Client) -> _Code | None:
        with self.db.connect() as conn:
            row = conn.execute(
                select(T.security_code).where(
                    T.security_code.c.code_hash == _h(code),
                    T.security_code.c.tenant == self.tenant,
                )
            ).first()
        if row is None or row.client_id != client.client_id or row.expires < time.time():
            return None
        return _Code(row.client_id, orjson.loads(row.data), int(row.account_pk), row.code_hash)

    def _delete_code(self, code: _Code) -> None:
        with self.db.begin() as conn:
            conn.execute(
                delete(T.security_code).where(T.security_code.c.code_hash == code.code_hash)
            )

    def _save_refresh(self, token: dict[str, Any], request: Any) -> None:
        refresh = token.get("refresh_token")
        if not refresh:
            return
        user: AuthenticatedUser | None = request.user
        data = {
            "scope": token.get("scope", ""),
            "acr": user.acr if user else None,
            "amr": user.amr if user else None,
            "auth_time": user.auth_time if user else None,
            "launch_patient": user.launch_patient if user else None,
        }
        with self.db.begin() as conn:
            conn.execute(
                insert(T.security_refresh).values(
                    token_hash=_h(refresh),
                    tenant=self.tenant,
                    client_id=request.client.client_id,
                    account_pk=user.account.pk if user else None,
                    sid=user.sid if user else None,
                    data=orjson.dumps(data).decode(),
                    expires=int(time.time()) + self.config.refresh_token_ttl,
                    revoked=False,
                )
            )

    def _query_refresh(self, token: str) -> _Refresh | None:
        with self.db.connect() as conn:
            row = conn.execute(
                select(T.security_refresh).where(
                    T.security_refresh.c.token_hash == _h(token),
                    T.security_refresh.c.tenant == self.tenant,
                )
            ).first()
        if row is None:
            return None
        return _Refresh(
            row.token_hash,
            row.client_id,
            row.account_pk,
            row.sid,
            orjson.loads(row.data),
            int(row.expires),
            bool(row.revoked),
        )

    def _revoke_refresh(self, token_hash: str) -> None:
        with self.db.begin() as conn:
            conn.execute(
                update(T.security_refresh)
                .where(T.security_refresh.c.token_hash == token_hash)
                .values(revoked=True)
            )

    def _query_access(self, token: str) -> _Access | None:
        """One of our (unexpired) access tokens, for revocation; None otherwise."""
        try:
            validated = self.security.validator.validate(token)
        except TokenError:
            return None
        claims = validated.claims
        if claims.get("iss") != self.config.issuer or not claims.get("jti"):
            return None
        return _Access(str(claims["jti"]), claims.get("client_id"), int(claims.get("exp", 0)))

    def _revoke_access(self, token: _Access) -> None:
        self.security.revocations.revoke(self.tenant, JTI, token.token_id, token.expires)

    def _live(self, claims: dict[str, Any]) -> bool:
        """Not revoked by a logout or RFC 7009 (after a reload if another worker did it)."""
        if self.security.revocations.stale():
            self.security.revocations.refresh()
        return not self.security.revoked(
            str(claims.get("iss")), claims.get("sid"), claims.get("jti")
        )

    def _introspect_lookup(self, token: str) -> dict[str, Any] | None:
        try:
            validated = self.security.validator.validate(token)
            if not self._live(validated.claims):
                return None
        except TokenError:
            refresh = self._query_refresh(token)
            if refresh is None or refresh.revoked or refresh.is_expired():
                return None
            return {
                "active": True,
                "token_type": "refresh_token",
                "client_id": refresh.client_id,
                "scope": refresh.get_scope(),
                "exp": refresh.expires,
                "iss": self.config.issuer,
            }
        claims = {k: v for k, v in validated.claims.items() if not k.startswith("_")}
        return {"active": True, "token_type": "Bearer", **claims}

    # -- sessions -------------------------------------------------------------------------

    def _new_session(self, result: Any) -> tuple[str, str]:
        cookie = secrets.token_urlsafe(32)
        sid = secrets.token_urlsafe(12)
        data = {"acr": result.acr, "amr": result.amr, "auth_time": int(time.time())}
        with self.db.begin() as conn:
            conn.execute(
                insert(T.security_session).values(
                    sid_hash=_h(cookie),
                    sid=sid,
                    tenant=self.tenant,
                    account_pk=result.account.pk,
                    data=orjson.dumps(data).decode(),
                    expires=int(time.time()) + self.config.session_ttl,
                    ended=False,
                )
            )
        return cookie, sid

    def _session(self, cookie: str | None) -> tuple[AuthenticatedUser, str] | None:
        if not cookie:
            return None
        with self.db.connect() as conn:
            row = conn.execute(
                select(T.security_session).where(T.security_session.c.sid_hash == _h(cookie))
            ).first()
        if row is None or row.ended or row.expires < time.time() or row.tenant != self.tenant:
            return None
        account = self.accounts.account_by_pk(int(row.account_pk))
        if account is None:
            return None
        data = orjson.loads(row.data)
        user = AuthenticatedUser(account, data["acr"], data["amr"], data["auth_time"], row.sid)
        return user, row.sid

    def _end_session(self, cookie: str | None) -> AuthenticatedUser | None:
        """Logout from the browser: the session of the cookie."""
        found = self._session(cookie)
        if found is None:
            return None
        user, sid = found
        self.end_session(sid)
        return user

    def end_session(self, sid: str) -> None:
        """End a login session: its refresh tokens and, on the next request (any worker),
        every access token carrying its `sid`."""
        self.sessions.end(self.tenant, sid)

    def _hinted_sid(self, hint: str | None) -> str | None:
        """The session named by an `id_token_hint` we signed (OIDC RP-initiated logout, for
        apps without the browser's cookie); an expired hint still names its session."""
        if not hint:
            return None
        try:
            header, claims, signing_input, signature = jose.split(hint)
            if claims.get("iss") != self.config.issuer:
                return None
            keys = {k.kid: k for k in idp_keys(self.config.data_dir)}
            jose.verify(header, signing_input, signature, keys, frozenset({"RS256"}))
        except jose.JoseError:
            return None
        sid = claims.get("sid")
        return sid if isinstance(sid, str) and sid else None

    # -- helpers --------------------------------------------------------------------------

    def userinfo(
        self, account: Account, scope: str, user: AuthenticatedUser | None = None
    ) -> UserInfo:
        claims = self.issuer.subject_claims(account.kind, account.get_user_id(), account.attributes)
        info = UserInfo(sub=claims["sub"])
        for name in ("name", "fhirUser", "kind", "rpps", "profession", "specialty", "ins"):
            if claims.get(name):
                info[name] = claims[name]
        if claims.get("SubjectNameID"):
            info["SubjectNameID"] = claims["SubjectNameID"]
        if user is not None and user.sid:
            info["sid"] = user.sid
        return info

    def _rate_limited(self, key: str) -> bool:
        limit = self.config.login_rate_per_minute
        now = time.monotonic()
        with self._hits_lock:
            hits = self._hits[key]
            while hits and now - hits[0] > 60:
                hits.popleft()
            if len(hits) >= limit:
                return True
            hits.append(now)
        return False

    def _audit(
        self,
        request: Request,
        action: str,
        outcome: int,
        account: Account | None,
        description: str,
        username: str | None = None,
    ) -> None:
        agent: dict[str, Any] = {"id": username or "anonymous"}
        if account is not None:
            claims = self.issuer.subject_claims(
                account.kind, account.get_user_id(), account.attributes
            )
            agent = {
                "kind": account.kind,
                "id": account.get_user_id(),
                "rpps": claims.get("rpps"),
                "ins": claims.get("ins"),
                "reference": claims.get("fhirUser"),
                "display": claims.get("name"),
                "profession": claims.get("profession"),
            }
        self.security.guard.audit_event(
            AuditRecord(
                tenant=self.tenant,
                action=action,
                outcome=outcome,
                agent=agent,
                patients=[account.attributes["patient"]]
                if account is not None and account.attributes.get("patient")
                else [],
                description=description,
                network=self.security.client_address(request),
            )
        )

    async def _oauth_request(self, request: Request) -> _Request:
        form: list[tuple[str, str]] = []
        if request.method == "POST":
            try:
                raw = await read_limited(request, FORM_LIMIT)
            except FhirError as exc:
                raise InvalidRequestError("request too large") from exc
            form = parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)
        args = list(request.query_params.multi_items())
        uri = self.config.issuer + request.url.path.removeprefix("/auth")
        if request.url.query:
            uri += "?" + request.url.query
        return _Request(request.method, uri, request.headers, args, form)

    # -- endpoints ------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        return [
            Route("/auth/.well-known/openid-configuration", self.discovery),
            Route("/auth/jwks", self.jwks),
            Route("/auth/authorize", self.authorize, methods=["GET"]),
            Route("/auth/login", self.login, methods=["POST"]),
            Route("/auth/token", self.token, methods=["POST"]),
            Route("/auth/introspect", self.introspect, methods=["POST"]),
            Route("/auth/revoke", self.revoke, methods=["POST"]),
            Route("/auth/userinfo", self.userinfo_endpoint, methods=["GET", "POST"]),
            Route("/auth/logout", self.logout, methods=["GET", "POST"]),
        ]

    def metadata(self) -> dict[str, Any]:
        iss = self.config.issuer
        return {
            "issuer": iss,
            "authorization_endpoint": f"{iss}/authorize",
            "token_endpoint": f"{iss}/token",
            "jwks_uri": f"{iss}/jwks",
            "userinfo_endpoint": f"{iss}/userinfo",
            "introspection_endpoint": f"{iss}/introspect",
            "revocation_endpoint": f"{iss}/revoke",
            "end_session_endpoint": f"{iss}/logout",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
                "none",
            ],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": [
                "openid",
                "fhirUser",
                "profile",
                "offline_access",
                "launch/patient",
            ],
            "acr_values_supported": ["eidas1", "eidas2", "eidas3"],
            "claims_supported": ["sub", "name", "fhirUser", "rpps", "profession", "ins", "acr"],
        }

    async def discovery(self, request: Request) -> Response:
        return JSONResponse(self.metadata())

    async def jwks(self, request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(self.issuer.jwks))

    async def authorize(self, request: Request) -> Response:
        oauth = await self._oauth_request(request)
        try:
            grant = await run_in_threadpool(self.server.get_consent_grant, oauth)
        except OAuth2Error as error:
            return HTMLResponse(
                _page(
                    "Demande refusée",
                    f"<p>{html.escape(error.get_error_description() or error.error)}</p>",
                ),
                400,
            )
        prompt = oauth.payload.data.get("prompt", "")
        if "login" not in prompt.split():
            found = await run_in_threadpool(self._session, request.cookies.get(SESSION_COOKIE))
            if found is not None:
                user, _sid = found
                user.launch_patient = user.account.attributes.get("patient")
                if (
                    "launch/patient" in (oauth.payload.scope or "").split()
                    and not user.launch_patient
                ):
                    found = None  # a professional must pick the patient: show the form
                else:
                    return await run_in_threadpool(
                        self.server.create_authorization_response, oauth, user, grant
                    )
        return self._login_page(request, oauth)

    def _login_page(
        self, request: Request, oauth: _Request, error: str | None = None, status: int = 200
    ) -> Response:
        csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
        query = urlencode(list(oauth.args.items()))
        launch = "launch/patient" in (oauth.payload.scope or "").split()
        body = f"""
<form method="post" action="{html.escape(urlsplit(self.config.issuer).path)}/login">
  <input type="hidden" name="request" value="{html.escape(query)}">
  <input type="hidden" name="csrf" value="{html.escape(csrf)}">
  <label>Mode de connexion
    <select name="method">
      <option value="password">Mot de passe (+ code TOTP si activé)</option>
      <option value="cps">Carte CPS (simulée) : RPPS + code PIN</option>
    </select></label>
  <label>Identifiant (RPPS, INS ou nom d'utilisateur)
    <input name="username" autocomplete="username" required></label>
  <label>Mot de passe ou code PIN
    <input name="secret" type="password" autocomplete="current-password" required></label>
  <label>Code TOTP (si demandé)
    <input name="otp" inputmode="numeric" autocomplete="one-time-code"></label>
  {_LAUNCH_FIELD if launch else ""}
  <button type="submit">Se connecter</button>
</form>"""
        if error:
            body = f'<p class="error" role="alert">{html.escape(error)}</p>' + body
        if self.config.demo:
            body += (
                "<p class='demo'>Démo : professionnels = RPPS du jeu de démo, patients = INS, "
                "mot de passe <code>demo</code>, PIN CPS <code>1234</code>.</p>"
            )
        response = HTMLResponse(_page("Connexion à Socle", body), status)
        response.set_cookie(
            CSRF_COOKIE, csrf, httponly=True, samesite="strict", secure=self._secure(), path="/auth"
        )
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Frame-Options"] = "DENY"
        return response

    def _secure(self) -> bool:
        return self.config.issuer.startswith("https://")

    async def login(self, request: Request) -> Response:
        raw = await read_limited(request, FORM_LIMIT)
        form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        address = self.security.client_address(request) or "?"
        original = parse_qsl(form.get("request", ""), keep_blank_values=True)
        oauth = _Request("GET", f"{self.config.issuer}/authorize", request.headers, original, [])
        csrf = request.cookies.get(CSRF_COOKIE)
        if not csrf or not secrets.compare_digest(csrf, form.get("csrf", "")):
            return HTMLResponse(
                _page("Session expirée", "<p>Rechargez la page de connexion.</p>"), 400
            )
        username = form.get("username", "").strip()
        if self._rate_limited(f"ip:{address}") or self._rate_limited(f"user:{username}"):
            await run_in_threadpool(
                self._audit, request, "login-failed", 429, None, "rate limited", username
            )
            return self._login_page(
                request, oauth, "Trop de tentatives : réessayez dans une minute.", 429
            )
        try:
            grant = await run_in_threadpool(self.server.get_consent_grant, oauth)
        except OAuth2Error as error:
            return HTMLResponse(
                _page(
                    "Demande refusée",
                    f"<p>{html.escape(error.get_error_description() or error.error)}</p>",
                ),
                400,
            )
        result = await run_in_threadpool(
            self.accounts.login,
            self.tenant,
            username,
            form.get("method", "password"),
            form.get("secret", ""),
            form.get("otp") or None,
        )
        if result.account is None:
            await run_in_threadpool(
                self._audit, request, "login-failed", 401, None, result.error or "failed", username
            )
            return self._login_page(request, oauth, result.error, 401)
        cookie, sid = await run_in_threadpool(self._new_session, result)
        launch = result.account.attributes.get("patient") or form.get("launch_patient") or None
        user = AuthenticatedUser(
            result.account, result.acr, result.amr, int(time.time()), sid, launch
        )
        await run_in_threadpool(
            self._audit,
            request,
            "login",
            200,
            result.account,
            f"login ({result.acr}, {'+'.join(result.amr)})",
        )
        response = await run_in_threadpool(
            self.server.create_authorization_response, oauth, user, grant
        )
        response.set_cookie(
            SESSION_COOKIE,
            cookie,
            httponly=True,
            samesite="lax",
            secure=self._secure(),
            path="/auth",
            max_age=self.config.session_ttl,
        )
        return response

    async def token(self, request: Request) -> Response:
        address = self.security.client_address(request) or "?"
        if self._rate_limited(f"token:{address}"):
            return JSONResponse({"error": "slow_down"}, 429)
        oauth = await self._oauth_request(request)
        return await run_in_threadpool(self.server.create_token_response, oauth)

    async def introspect(self, request: Request) -> Response:
        oauth = await self._oauth_request(request)
        return await run_in_threadpool(self.server.create_endpoint_response, "introspection", oauth)

    async def revoke(self, request: Request) -> Response:
        oauth = await self._oauth_request(request)
        return await run_in_threadpool(self.server.create_endpoint_response, "revocation", oauth)

    async def userinfo_endpoint(self, request: Request) -> Response:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer "):
            return JSONResponse(
                {"error": "invalid_token"}, 401, headers={"WWW-Authenticate": "Bearer"}
            )
        try:
            validated = await run_in_threadpool(
                self.security.validator.validate, header[7:].strip()
            )
        except TokenError as exc:
            return JSONResponse(
                {"error": "invalid_token", "error_description": exc.reason},
                401,
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        claims = validated.claims
        if not await run_in_threadpool(self._live, claims):
            return JSONResponse(
                {"error": "invalid_token", "error_description": "token revoked"},
                401,
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        info = {
            k: claims[k]
            for k in (
                "sub",
                "name",
                "fhirUser",
                "kind",
                "rpps",
                "profession",
                "ins",
                "SubjectNameID",
            )
            if k in claims
        }
        return JSONResponse(info)

    async def logout(self, request: Request) -> Response:
        params = dict(request.query_params)
        if request.method == "POST":
            raw = await read_limited(request, FORM_LIMIT)
            params.update(parse_qsl(raw.decode("utf-8", "replace")))
        user = await run_in_threadpool(self._end_session, request.cookies.get(SESSION_COOKIE))
        hinted = self._hinted_sid(params.get("id_token_hint"))
        if hinted is not None:
            await run_in_threadpool(self.end_session, hinted)
        await run_in_threadpool(
            self._audit,
            request,
            "logout",
            200,
            user.account if user else None,
            "logout" + (f" (federator {params['provider']})" if params.get("provider") else ""),
        )
        target = params.get("post_logout_redirect_uri")
        provider_name = params.get("provider")
        if provider_name:
            federator = self.security.federator_logout(
                provider_name, params.get("id_token_hint"), target, params.get("state")
            )
            if federator:
                response: Response = RedirectResponse(federator, 302)
                response.delete_cookie(SESSION_COOKIE, path="/auth")
                return response
        if target:
            client = (
                self.accounts.client(self.tenant, params.get("client_id", ""))
                if params.get("client_id")
                else None
            )
            if client is not None and client.check_redirect_uri(target):
                sep = "&" if "?" in target else "?"
                state = f"{sep}state={params['state']}" if params.get("state") else ""
                response = RedirectResponse(target + state, 302)
            else:
                response = HTMLResponse(_page("Déconnecté", "<p>Vous êtes déconnecté.</p>"))
        else:
            response = HTMLResponse(_page("Déconnecté", "<p>Vous êtes déconnecté.</p>"))
        response.delete_cookie(SESSION_COOKIE, path="/auth")
        return response


_LAUNCH_FIELD = (
    '<label>Patient du contexte (id FHIR, professionnels) <input name="launch_patient"></label>'
)
_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}"
    "label{display:block;margin:.8rem 0}input,select{display:block;width:100%;padding:.4rem}"
    "button{margin-top:1rem;padding:.5rem 1.2rem}.error{color:#b00020}"
    ".demo{color:#555;font-size:.9rem}"
)


def _page(title: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{_STYLE}</style>
</head><body><h1>{html.escape(title)}</h1>{body}</body></html>"""
