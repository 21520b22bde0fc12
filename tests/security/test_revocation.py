"""Logout and RFC 7009 revocation make tokens unusable on the next request, with real
tokens from the embedded provider's flows over HTTP."""

from __future__ import annotations

import secrets
import time
import warnings
from pathlib import Path

import httpx
import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from authlib.integrations.httpx_client import OAuth2Client

from socle.security.revocation import JTI, SID, Revocations
from tests.security.test_oidc_flows import NIR, _discovery, _login, authorization_request
from tests.security.test_oidc_flows import live as live  # noqa: F401 - the fixture

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _logged_in(server, browser: httpx.Client) -> dict:  # noqa: ANN001
    """Authorization code + PKCE as a patient; the browser keeps the login session."""
    meta = _discovery(server["base"])
    client, uri, verifier = authorization_request(
        server["base"], "openid patient/*.rs offline_access"
    )
    answer = browser.get(uri)  # single sign-on once the browser has a login session
    if answer.status_code != 302:
        answer = _login(browser, uri, NIR, "demo")
    assert answer.status_code == 302, answer.text
    return client.fetch_token(
        meta["token_endpoint"],
        authorization_response=answer.headers["location"],
        code_verifier=verifier,
    )


def test_logout_revokes_the_access_and_refresh_tokens_of_the_session(live) -> None:  # noqa: ANN001, F811
    base = live["base"]
    meta = _discovery(base)
    patient_url = f"{base}/fhir/Patient/{live['patient']}"
    with httpx.Client() as browser:
        token = _logged_in(live, browser)
        other = _logged_in(live, browser)  # a second app in the same login session
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        assert httpx.get(patient_url, headers=headers).status_code == 200
        assert browser.get(meta["end_session_endpoint"]).status_code == 200
    refused = httpx.get(patient_url, headers=headers)
    assert refused.status_code == 401
    assert refused.json()["resourceType"] == "OperationOutcome"
    assert "revoked" in refused.json()["issue"][0]["diagnostics"]
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]
    second = {"Authorization": f"Bearer {other['access_token']}"}
    assert httpx.get(patient_url, headers=second).status_code == 401
    again = httpx.post(
        meta["token_endpoint"],
        data={
            "grant_type": "refresh_token",
            "refresh_token": token["refresh_token"],
            "client_id": "socle-demo",
        },
    )
    assert again.status_code == 400
    introspected = httpx.post(
        meta["introspection_endpoint"],
        data={"token": token["access_token"]},
        auth=("socle-system", "socle-system-secret"),
    ).json()
    assert introspected == {"active": False}
    assert httpx.get(meta["userinfo_endpoint"], headers=headers).status_code == 401


def test_rfc7009_revocation_of_an_access_token(live) -> None:  # noqa: ANN001, F811
    base = live["base"]
    meta = _discovery(base)
    auth = ("socle-system", "socle-system-secret")
    client = OAuth2Client(client_id=auth[0], client_secret=auth[1], scope="system/*.rs")
    token = client.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
    keep = client.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    url = f"{base}/fhir/Patient/{live['patient']}"
    assert httpx.get(url, headers=headers).status_code == 200
    # another client may not revoke it
    r = httpx.post(
        meta["revocation_endpoint"],
        data={"token": token["access_token"], "client_id": "socle-demo"},
    )
    assert httpx.get(url, headers=headers).status_code == 200
    r = httpx.post(meta["revocation_endpoint"], data={"token": token["access_token"]}, auth=auth)
    assert r.status_code == 200
    assert httpx.get(url, headers=headers).status_code == 401
    # only that token: the client's other token still works
    other = {"Authorization": f"Bearer {keep['access_token']}"}
    assert httpx.get(url, headers=other).status_code == 200


def test_other_workers_see_a_revocation_at_once(live, tmp_path: Path) -> None:  # noqa: ANN001, F811
    """Two revocation lists on one database and data directory stand for two worker
    processes; a third with its own data directory relies on the reload period."""
    db = live["engine"].store.engine
    data_dir = live["security"].config.data_dir
    mine = Revocations(db, data_dir)
    theirs = Revocations(db, data_dir, max_age=3600)
    elsewhere = Revocations(db, tmp_path, max_age=0.2)
    for revocations in (theirs, elsewhere):
        revocations.refresh()
    sid, jti = secrets.token_urlsafe(12), secrets.token_urlsafe(16)
    mine.revoke("live", SID, sid, int(time.time()) + 60)
    mine.revoke("live", JTI, jti, int(time.time()) + 60)
    assert mine.is_revoked(sid, None) and mine.is_revoked(None, jti)
    assert theirs.stale()  # the shared mtime moved: reload before trusting the list
    theirs.refresh()
    assert theirs.is_revoked(sid, "x") and theirs.is_revoked(None, jti)
    assert not theirs.is_revoked("other", "other")
    time.sleep(0.25)
    assert elsewhere.stale()
    elsewhere.refresh()
    assert elsewhere.is_revoked(sid, None)
    # expired revocations are forgotten
    old = secrets.token_urlsafe(12)
    mine.revoke("live", SID, old, int(time.time()) - 1)
    theirs.refresh()
    assert not theirs.is_revoked(old, None)


def test_logout_with_an_id_token_hint_and_no_cookie(live) -> None:  # noqa: ANN001, F811
    """OIDC RP-initiated logout from an app that does not hold the browser's cookie."""
    base = live["base"]
    meta = _discovery(base)
    with httpx.Client() as browser:
        token = _logged_in(live, browser)
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    url = f"{base}/fhir/Patient/{live['patient']}"
    assert httpx.get(url, headers=headers).status_code == 200
    forged = token["id_token"][:-8] + "AAAAAAAA"  # a hint we did not sign changes nothing
    httpx.get(meta["end_session_endpoint"], params={"id_token_hint": forged})
    assert httpx.get(url, headers=headers).status_code == 200
    out = httpx.get(meta["end_session_endpoint"], params={"id_token_hint": token["id_token"]})
    assert out.status_code == 200
    assert httpx.get(url, headers=headers).status_code == 401
    refresh = httpx.post(
        meta["token_endpoint"],
        data={
            "grant_type": "refresh_token",
            "refresh_token": token["refresh_token"],
            "client_id": "socle-demo",
        },
    )
    assert refresh.status_code == 400
