"""Accounts of the embedded provider through their public API: `AccountStore` changes,
`subject_attributes`, `LoginSessions`, and `socle accounts` against a live provider."""

from __future__ import annotations

import io
import uuid
import warnings

import httpx
import pyotp
import pytest

from socle.demo.identifiers import nir_key
from socle.security.accounts import AccountStore, find_patient, subject_attributes
from tests.security.conftest import INS, internal_write, practitioner

with warnings.catch_warnings():
    warnings.simplefilter("ignore")

    from tests.security.test_oidc_flows import NIR, _discovery, authorization_request
    from tests.security.test_oidc_flows import live as live  # noqa: F401 - the fixture
    from tests.security.test_revocation import _logged_in

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

PASSWORD = "correct horse battery"


@pytest.fixture
def store(security) -> AccountStore:  # noqa: ANN001
    """A production-like store (no demo provisioning) on the security engine's database."""
    return AccountStore(security.accounts.db, security.info, demo=False, lockout_threshold=2)


def test_accounts_are_listed_and_changed_through_the_store(store: AccountStore, tenant) -> None:  # noqa: ANN001
    secret = pyotp.random_base32()
    store.create_account(
        tenant, "zoe", "admin", subject_attributes("admin", display="Zoé"), password=PASSWORD
    )
    store.create_account(tenant, "ann", "admin", {"roles": ["admin"]}, totp_secret=secret)
    listed = store.accounts(tenant)
    assert [a.username for a in listed] == ["ann", "zoe"]
    assert listed[0].has_totp and not listed[1].has_totp
    assert not any(a.disabled or a.locked for a in listed)
    assert store.accounts(f"{tenant}-other") == []

    # a new password: the old one stops working
    changed = store.set_password(tenant, "zoe", PASSWORD + "!")
    assert changed is not None and changed.username == "zoe"
    assert store.login(tenant, "zoe", "password", PASSWORD).account is None
    assert store.login(tenant, "zoe", "password", PASSWORD + "!").account is not None

    # a second factor, enrolled then changed
    first = pyotp.random_base32()
    assert store.set_totp(tenant, "zoe", first).has_totp
    assert store.login(tenant, "zoe", "password", PASSWORD + "!").account is None
    ok = store.login(tenant, "zoe", "password", PASSWORD + "!", pyotp.TOTP(first).now())
    assert ok.account is not None and ok.acr == "eidas2"
    second = pyotp.random_base32()
    store.set_totp(tenant, "zoe", second)
    ok = store.login(tenant, "zoe", "password", PASSWORD + "!", pyotp.TOTP(second).now())
    assert ok.account is not None

    # disabled: no login, not found by pk (tokens, sessions); enabled again
    account = store.set_disabled(tenant, "zoe", True)
    assert account is not None and account.disabled
    code = pyotp.TOTP(second).now()
    assert store.login(tenant, "zoe", "password", PASSWORD + "!", code).account is None
    assert store.account_by_pk(account.pk) is None
    assert store.set_disabled(tenant, "zoe", False).disabled is False
    assert store.account_by_pk(account.pk) is not None

    # no such account: nothing changes, None says so
    for change in (
        lambda: store.set_disabled(tenant, "nobody", True),
        lambda: store.set_password(tenant, "nobody", PASSWORD),
        lambda: store.set_totp(tenant, "nobody", first),
    ):
        assert change() is None
    assert store.account(tenant, "nobody") is None


def test_enabling_an_account_unlocks_it(store: AccountStore, tenant) -> None:  # noqa: ANN001
    store.create_account(tenant, "bob", "admin", {"roles": ["admin"]}, password=PASSWORD)
    for _ in range(2):  # lockout_threshold=2
        assert store.login(tenant, "bob", "password", "wrong").account is None
    assert store.account(tenant, "bob").locked
    assert store.accounts(tenant)[0].locked
    assert store.login(tenant, "bob", "password", PASSWORD).account is None  # locked
    unlocked = store.set_disabled(tenant, "bob", False)
    assert unlocked is not None and not unlocked.locked
    assert store.login(tenant, "bob", "password", PASSWORD).account is not None


def test_subject_attributes_by_kind() -> None:
    found = {
        "practitioner": practitioner("10001234567", "10", "House") | {"id": "dr-house"},
        "roles": [{"organization": {"reference": "Organization/chu"}}],
    }
    doctor = subject_attributes("practitioner", practitioner=found)
    assert doctor["fhir_user"] == "Practitioner/dr-house" and doctor["rpps"] == "10001234567"
    assert doctor["profession"] == "10" and doctor["display"] == "Test House"
    assert doctor["organization"] == "Organization/chu"
    assert subject_attributes("practitioner", practitioner=found, display="ignored") == doctor
    assert subject_attributes("secretary", practitioner=found) == {
        "acting_for": "Practitioner/dr-house",
        "organization": "Organization/chu",
        "display": "Secrétariat de Test House",
    }
    named = subject_attributes("secretary", practitioner=found, display="Accueil")
    assert named["display"] == "Accueil"
    patient = {
        "resourceType": "Patient",
        "id": "p1",
        "identifier": [{"system": INS, "value": NIR}],
        "name": [{"family": "Martin", "given": ["Léa"]}],
    }
    assert subject_attributes("patient", patient=patient) == {
        "fhir_user": "Patient/p1",
        "patient": "p1",
        "ins": NIR,
        "display": "Léa Martin",
    }
    assert subject_attributes("related", patient_id="p1", related_id="rp1") == {
        "fhir_user": "RelatedPerson/rp1",
        "patient": "p1",
    }
    named = subject_attributes("related", patient_id="p1", related_id="rp1", display="Jo")
    assert named["display"] == "Jo"
    assert subject_attributes("admin", display="Root") == {"display": "Root", "roles": ["admin"]}
    for kind, given in (
        ("practitioner", {}),
        ("secretary", {}),
        ("patient", {}),
        ("related", {"patient_id": "p1"}),
        ("robot", {}),
    ):
        with pytest.raises(ValueError):
            subject_attributes(kind, **given)


def test_find_patient_by_ins_or_id(sec_engine, security, tenant) -> None:  # noqa: ANN001
    body = f"1850375123{uuid.uuid4().int % 999 + 1:03d}"  # a valid matricule: the INS rules
    nir = body + nir_key(body)
    pid = internal_write(
        sec_engine,
        tenant,
        {"resourceType": "Patient", "identifier": [{"system": INS, "value": nir}]},
    )
    info = security.info
    assert find_patient(info, tenant, ins=nir)["id"] == pid
    assert find_patient(info, tenant, patient_id=pid)["id"] == pid
    assert find_patient(info, tenant, patient_id="missing") is None
    assert find_patient(info, tenant) is None


# -- `socle accounts` against a live provider: real sessions and tokens ---------------------


def _run(monkeypatch, live, *args: str) -> int:  # noqa: ANN001
    from socle.cli.main import main

    settings = live["engine"].settings
    monkeypatch.setenv("SOCLE_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("SOCLE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("SOCLE_AUTH_TOKEN_TTL", "900")
    return main(["accounts", *args, "--tenant", "live"])


def _authorize_url(live) -> str:  # noqa: ANN001
    return authorization_request(live["base"], "openid patient/*.rs offline_access")[1]


def _refresh(live, token: dict) -> int:  # noqa: ANN001
    meta = _discovery(live["base"])
    return httpx.post(
        meta["token_endpoint"],
        data={
            "grant_type": "refresh_token",
            "refresh_token": token["refresh_token"],
            "client_id": "socle-demo",
        },
    ).status_code


def test_cli_disable_ends_live_sessions_and_enable_restores(live, monkeypatch, capsys) -> None:  # noqa: ANN001, F811
    patient_url = f"{live['base']}/fhir/Patient/{live['patient']}"
    with httpx.Client() as browser:
        token = _logged_in(live, browser)  # the demo account of NIR, with a login session
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        assert httpx.get(patient_url, headers=headers).status_code == 200
        assert _run(monkeypatch, live, "disable", NIR) == 0
        # the access token stops at once, the refresh token too, the login session as well
        refused = httpx.get(patient_url, headers=headers)
        assert refused.status_code == 401 and "revoked" in refused.text
        assert _refresh(live, token) == 400
        assert browser.get(_authorize_url(live)).status_code == 200  # the login page, no SSO
    # disabled: no login at all; enabled: logins work again
    accounts = live["security"].accounts
    assert accounts.login("live", NIR, "password", "demo").account is None
    assert _run(monkeypatch, live, "enable", NIR) == 0
    assert accounts.login("live", NIR, "password", "demo").account is not None
    with httpx.Client() as browser:
        token = _logged_in(live, browser)
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        assert httpx.get(patient_url, headers=headers).status_code == 200
        # a new password also ends the sessions (read from stdin, like scripts do)
        monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
        assert _run(monkeypatch, live, "set-password", NIR, "--password-stdin") == 0
        assert httpx.get(patient_url, headers=headers).status_code == 401
        assert _refresh(live, token) == 400
    assert accounts.login("live", NIR, "password", "demo").account is None
    assert accounts.login("live", NIR, "password", PASSWORD).account is not None
    err = capsys.readouterr().err
    assert f"Account {NIR} disabled" in err and f"Account {NIR} enabled" in err
    assert "its sessions were ended" in err
