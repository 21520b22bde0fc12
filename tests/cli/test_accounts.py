"""`socle accounts`: production accounts with argon2 passwords and TOTP, through the CLI."""

from __future__ import annotations

import io
import secrets
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import orjson
import pyotp
import pytest
from sqlalchemy import insert, select

from socle.cli.main import main

PASSWORD = "correct horse battery"
RPPS = "https://rpps.esante.gouv.fr"
G15 = "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante"


@pytest.fixture
def prod(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A private database and data directory, with SOCLE_ENV=production (no shortcuts)."""
    url = f"sqlite:///{tmp_path / 'accounts.db'}"
    for name, value in {
        "SOCLE_ENV": "production",
        "SOCLE_AUTH_ISSUER": "https://idp.example/auth",
        "SOCLE_DATABASE_URL": url,
        "SOCLE_DATA_DIR": str(tmp_path),
        "SOCLE_TENANT": "default",
    }.items():
        monkeypatch.setenv(name, value)
    return {"url": url, "dir": str(tmp_path)}


def run(monkeypatch, capsys, *args: str, stdin: str = "") -> tuple[int, str, str]:  # noqa: ANN001
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def _store(prod: dict[str, str]):  # noqa: ANN202
    from socle.fhir.storage.database import create_db_engine
    from socle.security.accounts import AccountStore

    db = create_db_engine(prod["url"], pool_size=1)
    return db, AccountStore(db, None, demo=False)  # type: ignore[arg-type]


def test_create_an_administrator_with_totp_in_production(prod, monkeypatch, capsys) -> None:  # noqa: ANN001
    code, out, err = run(
        monkeypatch, capsys, "accounts", "create", "alice.admin", "--password-stdin",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert code == 0, err
    uri = out.strip().splitlines()[-1]
    parts = urlsplit(uri)
    assert parts.scheme == "otpauth" and parts.netloc == "totp"
    assert "alice.admin" in parts.path and parse_qs(parts.query)["issuer"] == ["Socle"]
    secret = parse_qs(parts.query)["secret"][0]
    db, store = _store(prod)
    try:
        # the stored password is an argon2 hash, never the password
        from socle.security import tables as T

        with db.connect() as conn:
            row = conn.execute(select(T.security_account)).one()
        assert row.password_hash.startswith("$argon2id$") and PASSWORD not in row.password_hash
        assert row.kind == "admin" and row.totp_secret == secret
        # the embedded provider's login: password + the TOTP code → eIDAS substantial
        ok = store.login("default", "alice.admin", "password", PASSWORD, pyotp.TOTP(secret).now())
        assert ok.account is not None and ok.acr == "eidas2" and ok.amr == ["pwd", "otp"]
        assert store.login("default", "alice.admin", "password", PASSWORD).account is None
        assert store.login("default", "alice.admin", "password", "wrong", "000000").account is None
    finally:
        db.dispose()
    code, out, _ = run(monkeypatch, capsys, "accounts", "list", "--format", "json")
    assert code == 0
    (listed,) = orjson.loads(out)
    assert listed["username"] == "alice.admin" and listed["totp"] and not listed["disabled"]


def test_weak_passwords_duplicates_and_admins_without_totp_are_refused(
    prod, monkeypatch, capsys
) -> None:  # noqa: ANN001, E501
    args = ("accounts", "create", "bob", "--password-stdin")
    assert run(monkeypatch, capsys, *args, stdin="short\n")[0] == 2
    assert run(monkeypatch, capsys, *args, "--no-totp", stdin=PASSWORD + "\n")[0] == 2
    assert run(monkeypatch, capsys, *args, stdin=PASSWORD + "\n")[0] == 0
    code, _, err = run(monkeypatch, capsys, *args, stdin=PASSWORD + "\n")
    assert code == 1 and "already exists" in err


def test_practitioner_account_from_the_directory(prod, monkeypatch, capsys) -> None:  # noqa: ANN001
    assert main(["migrate"]) == 0
    from socle.config import load_settings
    from socle.fhir.context import RequestContext
    from socle.fhir.engine import FhirEngine

    engine = FhirEngine(load_settings())
    try:
        doctor = {
            "resourceType": "Practitioner",
            "id": "dr-house",
            "identifier": [{"system": RPPS, "value": "10001234567"}],
            "name": [{"family": "House", "given": ["Gregory"]}],
            "qualification": [{"code": {"coding": [{"system": G15, "code": "10"}]}}],
        }
        ctx = RequestContext(tenant="default")
        with engine.store.session("default", write=True) as s:
            engine.crud.update(s, ctx, "Practitioner", "dr-house", doctor)
    finally:
        engine.close()
    code, out, err = run(
        monkeypatch, capsys, "accounts", "create", "ghouse", "--kind", "practitioner",
        "--rpps", "10001234567", "--no-totp", "--password-stdin", stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert code == 0, err
    assert "otpauth" not in out
    db, store = _store(prod)
    try:
        account = store.account("default", "ghouse")
        assert account is not None and account.kind == "practitioner"
        assert account.attributes["rpps"] == "10001234567"
        assert account.attributes["profession"] == "10"
        assert account.attributes["fhir_user"] == "Practitioner/dr-house"
        ok = store.login("default", "ghouse", "password", PASSWORD)
        assert ok.account is not None and ok.acr == "eidas1"
    finally:
        db.dispose()
    code, _, err = run(
        monkeypatch, capsys, "accounts", "create", "nobody", "--kind", "practitioner",
        "--rpps", "10009999999", "--password-stdin", stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert code == 1 and "No Practitioner" in err


def test_disable_ends_sessions_and_enable_restores(prod, monkeypatch, capsys) -> None:  # noqa: ANN001
    from socle.security import tables as T
    from socle.security.audit import verify
    from socle.security.keys import audit_key
    from socle.security.revocation import Revocations

    args = ("accounts", "create", "carol", "--password-stdin")
    assert run(monkeypatch, capsys, *args, stdin=PASSWORD + "\n")[0] == 0
    db, store = _store(prod)
    try:
        account = store.account("default", "carol")
        sid = secrets.token_urlsafe(12)
        with db.begin() as conn:  # a login session of the embedded provider
            conn.execute(
                insert(T.security_session).values(
                    sid_hash=secrets.token_hex(32), sid=sid, tenant="default",
                    account_pk=account.pk, data="{}", expires=int(time.time()) + 3600,
                    ended=False,
                )
            )  # fmt: skip
        assert run(monkeypatch, capsys, "accounts", "disable", "carol")[0] == 0
        revocations = Revocations(db, Path(prod["dir"]))
        revocations.refresh()
        assert revocations.is_revoked(sid, None)  # its access tokens stop at once
        totp = store._row("default", "carol").totp_secret
        code = pyotp.TOTP(totp).now()
        assert store.login("default", "carol", "password", PASSWORD, code).account is None
        assert run(monkeypatch, capsys, "accounts", "enable", "carol")[0] == 0
        assert store.login("default", "carol", "password", PASSWORD, code).account is not None
        # a new second factor: the old codes no longer work
        code_, out, _ = run(monkeypatch, capsys, "accounts", "reset-totp", "carol")
        new_secret = parse_qs(urlsplit(out.strip().splitlines()[-1]).query)["secret"][0]
        assert code_ == 0 and new_secret != totp
        assert run(monkeypatch, capsys, "accounts", "disable", "nobody")[0] == 1
        # every change is in the (intact) audit trail
        result = verify(db, audit_key(Path(prod["dir"])).public_key())
        assert result.ok and result.checked >= 4
        with db.connect() as conn:
            actions = conn.execute(select(T.audit_log.c.action)).scalars().all()
        assert actions.count("account") >= 4
    finally:
        db.dispose()
