"""Real OpenID Connect flows against the embedded provider, over HTTP, with authlib's
client: authorization code + PKCE, refresh (rotated), client credentials, introspection,
revocation, logout; TOTP and simulated CPS logins; lock-out and rate limiting."""

from __future__ import annotations

import re
import secrets
import warnings
from html import unescape
from pathlib import Path

import httpx
import pyotp
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from authlib.integrations.httpx_client import OAuth2Client

from socle.security.accounts import DEMO_ADMIN_TOTP
from tests.security.conftest import INS, internal_write, practitioner, security_config
from tests.security.servers import free_port, running

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
RPPS = "99700000077"
NIR = "285077512345655"


@pytest.fixture(scope="module")
def live(tmp_path_factory):  # noqa: ANN001, ANN201
    from socle.config import Settings
    from socle.fhir.engine import FhirEngine
    from socle.fhir.storage.database import create_db_engine
    from socle.fhir.storage.migrate import migrate
    from socle.security import install
    from socle.server import create_server

    folder = Path(tmp_path_factory.mktemp("live"))
    url = f"sqlite:///{folder / 'live.db'}"
    db = create_db_engine(url, pool_size=1)
    migrate(db)
    db.dispose()
    port = free_port()
    root = f"http://127.0.0.1:{port}"
    engine = FhirEngine(Settings(data_dir=folder, database_url=url))
    engine.load_plugins()
    security = install(
        engine,
        security_config(
            folder, issuer=f"{root}/auth", audiences=(f"{root}/fhir",), lockout_threshold=3
        ),
    )
    tenant = "live"
    internal_write(engine, tenant, practitioner(RPPS, "10", "Live"))
    patient = internal_write(
        engine,
        tenant,
        {
            "resourceType": "Patient",
            "identifier": [{"system": INS, "value": NIR}],
            "name": [{"family": "Live", "given": ["Alice"]}],
        },
    )
    app = create_server(engine.settings, engine, tenant=tenant, auth="oidc")
    with running(app, port) as base:
        yield {"base": base, "patient": patient, "security": security, "engine": engine}
    engine.close()


def _discovery(base: str) -> dict:
    return httpx.get(f"{base}/auth/.well-known/openid-configuration").json()


def authorization_request(base: str, scope: str) -> tuple[OAuth2Client, str, str]:
    """The demo client's code + PKCE request: (client, authorize URL, code verifier)."""
    client = OAuth2Client(
        client_id="socle-demo",
        scope=scope,
        redirect_uri="http://127.0.0.1:8765/cb",
        code_challenge_method="S256",
    )
    verifier = secrets.token_urlsafe(48)
    uri, _ = client.create_authorization_url(
        _discovery(base)["authorization_endpoint"], code_verifier=verifier
    )
    return client, uri, verifier


def _login(
    http: httpx.Client,
    authorize_url: str,
    username: str,
    secret: str,
    method: str = "password",
    otp: str | None = None,
    **extra: str,
) -> httpx.Response:
    page = http.get(authorize_url)
    assert page.status_code == 200, page.text
    fields = dict(re.findall(r'name="(request|csrf)" value="([^"]*)"', page.text))
    form = {
        "request": unescape(fields["request"]),
        "csrf": unescape(fields["csrf"]),
        "username": username,
        "secret": secret,
        "method": method,
        **extra,
    }
    if otp:
        form["otp"] = otp
    return http.post(f"{authorize_url.split('/auth/')[0]}/auth/login", data=form)


def _code_flow(live, username: str, secret: str, scope: str, **login) -> tuple[OAuth2Client, dict]:  # noqa: ANN001
    meta = _discovery(live["base"])
    client = OAuth2Client(
        client_id="socle-demo",
        scope=scope,
        redirect_uri="http://127.0.0.1:8765/callback",
        code_challenge_method="S256",
        token_endpoint_auth_method="none",
    )
    verifier = secrets.token_urlsafe(48)
    uri, state = client.create_authorization_url(
        meta["authorization_endpoint"],
        code_verifier=verifier,
        nonce="n-1",
        aud=f"{live['base']}/fhir",
    )
    with httpx.Client() as browser:
        answer = _login(browser, uri, username, secret, **login)
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith("http://127.0.0.1:8765/callback?") and f"state={state}" in location
    token = client.fetch_token(
        meta["token_endpoint"], authorization_response=location, code_verifier=verifier
    )
    return client, token


def test_authorization_code_pkce_refresh_and_fhir_access(live) -> None:  # noqa: ANN001
    base = live["base"]
    client, token = _code_flow(
        live, NIR, "demo", "openid fhirUser launch/patient patient/*.rs offline_access"
    )
    assert token["token_type"].lower() == "bearer"
    assert token["patient"] == live["patient"]
    # the id_token verifies against the published keys
    keys = KeySet.import_key_set(httpx.get(f"{base}/auth/jwks").json())
    id_token = jwt.decode(token["id_token"], keys)
    assert id_token.claims["iss"] == f"{base}/auth"
    assert id_token.claims["aud"] == ["socle-demo"] or id_token.claims["aud"] == "socle-demo"
    assert id_token.claims["nonce"] == "n-1"
    assert id_token.claims["fhirUser"] == f"Patient/{live['patient']}"
    # the access token opens the patient's own record
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    assert httpx.get(f"{base}/fhir/Patient/{live['patient']}", headers=headers).status_code == 200
    # refresh: a new pair, the old refresh token is revoked (rotation)
    old_refresh = token["refresh_token"]
    new = client.refresh_token(_discovery(base)["token_endpoint"], refresh_token=old_refresh)
    assert new["access_token"] != token["access_token"] and new["refresh_token"] != old_refresh
    again = httpx.post(
        f"{base}/auth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": old_refresh,
            "client_id": "socle-demo",
        },
    )
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    userinfo = httpx.get(
        f"{base}/auth/userinfo", headers={"Authorization": f"Bearer {new['access_token']}"}
    ).json()
    assert userinfo["fhirUser"] == f"Patient/{live['patient']}"


def test_pkce_is_mandatory_for_public_clients(live) -> None:  # noqa: ANN001
    r = httpx.get(
        f"{live['base']}/auth/authorize",
        params={
            "response_type": "code",
            "client_id": "socle-demo",
            "scope": "openid",
            "redirect_uri": "http://127.0.0.1:8765/callback",
            "state": "x",
        },
    )
    assert r.status_code == 400 and "PKCE" in r.text
    r = httpx.get(
        f"{live['base']}/auth/authorize",
        params={
            "response_type": "code",
            "client_id": "socle-demo",
            "scope": "openid",
            "redirect_uri": "https://evil.example/callback",
            "code_challenge": "a" * 43,
            "code_challenge_method": "S256",
        },
    )
    assert r.status_code == 400


def test_cps_login_gives_eidas3_and_practitioner_claims(live) -> None:  # noqa: ANN001
    client, token = _code_flow(live, RPPS, "1234", "openid fhirUser user/*.rs", method="cps")
    security = live["security"]
    principal = security.authenticate(token["access_token"], "live")
    assert (principal.kind, principal.rpps, principal.profession, principal.eidas) == (
        "practitioner",
        RPPS,
        "10",
        3,
    )


def test_totp_is_required_for_the_admin(live) -> None:  # noqa: ANN001
    _, uri, _ = authorization_request(live["base"], "openid user/*.rs")
    with httpx.Client() as browser:
        assert _login(browser, uri, "admin", "socle-admin").status_code == 401
    client, token = _code_flow(
        live, "admin", "socle-admin", "openid user/*.rs", otp=pyotp.TOTP(DEMO_ADMIN_TOTP).now()
    )
    assert live["security"].authenticate(token["access_token"], "live").eidas == 2


def test_client_credentials_introspection_and_scope_narrowing(live) -> None:  # noqa: ANN001
    base = live["base"]
    meta = _discovery(base)
    client = OAuth2Client(
        client_id="socle-system",
        client_secret="socle-system-secret",
        scope="system/*.rs user/*.cruds",
    )
    token = client.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
    assert token["scope"] == "system/*.rs"  # the escalation (user/*) was dropped
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    assert httpx.get(f"{base}/fhir/Patient/{live['patient']}", headers=headers).status_code == 200
    auth = ("socle-system", "socle-system-secret")
    active = httpx.post(
        meta["introspection_endpoint"], data={"token": token["access_token"]}, auth=auth
    ).json()
    assert active["active"] is True and active["client_id"] == "socle-system"
    assert httpx.post(
        meta["introspection_endpoint"], data={"token": "garbage"}, auth=auth
    ).json() == {"active": False}
    wrong = httpx.post(
        meta["token_endpoint"],
        data={"grant_type": "client_credentials"},
        auth=("socle-system", "wrong"),
    )
    assert wrong.status_code == 401


def test_logout_ends_the_session_and_revokes_refresh_tokens(live) -> None:  # noqa: ANN001
    base = live["base"]
    meta = _discovery(base)
    client = OAuth2Client(
        client_id="socle-demo",
        scope="openid patient/*.rs offline_access",
        redirect_uri="http://127.0.0.1:8765/cb",
        code_challenge_method="S256",
    )
    verifier = secrets.token_urlsafe(48)
    uri, _ = client.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier)
    with httpx.Client() as browser:
        answer = _login(browser, uri, NIR, "demo")
        token = client.fetch_token(
            meta["token_endpoint"],
            authorization_response=answer.headers["location"],
            code_verifier=verifier,
        )
        # single sign-on: a second authorization goes straight back with a code
        verifier2 = secrets.token_urlsafe(48)
        uri2, _ = client.create_authorization_url(
            meta["authorization_endpoint"], code_verifier=verifier2
        )
        assert browser.get(uri2).status_code == 302
        out = browser.get(meta["end_session_endpoint"])
        assert out.status_code == 200
        verifier3 = secrets.token_urlsafe(48)
        uri3, _ = client.create_authorization_url(
            meta["authorization_endpoint"], code_verifier=verifier3
        )
        assert browser.get(uri3).status_code == 200  # the login page again
    refused = httpx.post(
        meta["token_endpoint"],
        data={
            "grant_type": "refresh_token",
            "refresh_token": token["refresh_token"],
            "client_id": "socle-demo",
        },
    )
    assert refused.status_code == 400


def test_lockout_after_repeated_failures(live) -> None:  # noqa: ANN001
    meta = _discovery(live["base"])
    client = OAuth2Client(
        client_id="socle-demo",
        scope="openid",
        redirect_uri="http://127.0.0.1:8765/cb",
        code_challenge_method="S256",
    )
    uri, _ = client.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=secrets.token_urlsafe(48)
    )
    internal_write(live["engine"], "live", practitioner("99700000088", "60", "Locked"))
    with httpx.Client() as browser:
        for _ in range(3):
            assert _login(browser, uri, "99700000088", "bad").status_code == 401
        locked = _login(browser, uri, "99700000088", "demo")
    assert locked.status_code == 401  # the right password no longer works
    admin = live["security"].issuer.access_token(
        {"sub": "a", "kind": "admin"}, scope="user/*.rs", client_id="x"
    )
    trail = httpx.get(
        f"{live['base']}/fhir/AuditEvent?_count=500", headers={"Authorization": f"Bearer {admin}"}
    ).json()
    failed = [
        e
        for e in trail["entry"]
        if e["resource"]["subtype"][0]["code"] == "110122" and e["resource"]["outcome"] != "0"
    ]
    assert len(failed) >= 4


def test_login_rate_limit(live) -> None:  # noqa: ANN001
    meta = _discovery(live["base"])
    provider = live["security"].provider("live")
    client = OAuth2Client(
        client_id="socle-demo",
        scope="openid",
        redirect_uri="http://127.0.0.1:8765/cb",
        code_challenge_method="S256",
    )
    uri, _ = client.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=secrets.token_urlsafe(48)
    )
    statuses = []
    try:
        with httpx.Client() as browser:
            for i in range(25):
                statuses.append(_login(browser, uri, f"nobody{i}", "x").status_code)
    finally:
        provider._hits.clear()
    assert 429 in statuses
