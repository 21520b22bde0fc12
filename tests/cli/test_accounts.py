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
INS = "urn:oid:1.2.250.1.213.1.4.10"
NIR = "285077512345655"


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
    code, out, _ = run(monkeypatch, capsys, *args, stdin=PASSWORD + "\n")
    assert code == 0
    totp = parse_qs(urlsplit(out.strip().splitlines()[-1]).query)["secret"][0]
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
        code = pyotp.TOTP(totp).now()
        assert store.login("default", "carol", "password", PASSWORD, code).account is None
        assert run(monkeypatch, capsys, "accounts", "enable", "carol")[0] == 0
        assert store.login("default", "carol", "password", PASSWORD, code).account is not None
        # a new second factor: the old codes no longer work
        code_, out, _ = run(monkeypatch, capsys, "accounts", "reset-totp", "carol")
        new_secret = parse_qs(urlsplit(out.strip().splitlines()[-1]).query)["secret"][0]
        assert code_ == 0 and new_secret != totp
        assert store.login("default", "carol", "password", PASSWORD, code).account is None
        new_code = pyotp.TOTP(new_secret).now()
        assert store.login("default", "carol", "password", PASSWORD, new_code).account is not None
        assert run(monkeypatch, capsys, "accounts", "disable", "nobody")[0] == 1
        # every change is in the (intact) audit trail
        result = verify(db, audit_key(Path(prod["dir"])).public_key())
        assert result.ok and result.checked >= 4
        with db.connect() as conn:
            actions = conn.execute(select(T.audit_log.c.action)).scalars().all()
        assert actions.count("account") >= 4
    finally:
        db.dispose()


def _directory() -> None:
    """A practitioner (dr-house, RPPS 10001234567) and a patient (p-martin, INS NIR) in the
    database of the `prod` fixture."""
    assert main(["migrate"]) == 0
    from socle.config import load_settings
    from socle.fhir.context import RequestContext
    from socle.fhir.engine import FhirEngine

    engine = FhirEngine(load_settings())
    try:
        ctx = RequestContext(tenant="default")
        with engine.store.session("default", write=True) as s:
            engine.crud.update(
                s,
                ctx,
                "Practitioner",
                "dr-house",
                {
                    "resourceType": "Practitioner",
                    "id": "dr-house",
                    "identifier": [{"system": RPPS, "value": "10001234567"}],
                    "name": [{"family": "House", "given": ["Gregory"]}],
                    "qualification": [{"code": {"coding": [{"system": G15, "code": "10"}]}}],
                },
            )
            engine.crud.update(
                s,
                ctx,
                "Patient",
                "p-martin",
                {
                    "resourceType": "Patient",
                    "id": "p-martin",
                    "identifier": [{"system": INS, "value": NIR}],
                    "name": [{"family": "Martin", "given": ["Léa"]}],
                },
            )
    finally:
        engine.close()


def test_every_kind_of_account_and_the_listing(prod, monkeypatch, capsys) -> None:  # noqa: ANN001
    _directory()
    stdin = PASSWORD + "\n"
    create = ("accounts", "create", "--no-totp", "--password-stdin")
    for extra in (
        ("sec.house", "--kind", "secretary", "--rpps", "10001234567"),
        ("m.martin", "--kind", "patient", "--ins", NIR),
        ("j.martin", "--kind", "related", "--patient-id", "p-martin", "--related-id", "rp-1"),
    ):
        code, _, err = run(monkeypatch, capsys, *create, *extra, stdin=stdin)
        assert code == 0, err
    # what is missing is said, and nothing is created
    code, _, err = run(monkeypatch, capsys, *create, "x", "--kind", "secretary", stdin=stdin)
    assert code == 1 and "--rpps is required" in err
    code, _, err = run(monkeypatch, capsys, *create, "y", "--kind", "patient", stdin=stdin)
    assert code == 1 and "No such patient" in err
    code, _, err = run(
        monkeypatch, capsys, *create, "z", "--kind", "related", "--ins", NIR, stdin=stdin
    )
    assert code == 1 and "--related-id is required" in err
    db, store = _store(prod)
    try:
        secretary = store.account("default", "sec.house")
        assert secretary.attributes == {
            "acting_for": "Practitioner/dr-house",
            "organization": None,
            "display": "Secrétariat de Gregory House",
        }
        patient = store.account("default", "m.martin")
        assert patient.attributes["fhir_user"] == "Patient/p-martin"
        assert patient.attributes["ins"] == NIR
        related = store.account("default", "j.martin")
        assert related.attributes == {
            "fhir_user": "RelatedPerson/rp-1",
            "patient": "p-martin",
            "display": "j.martin",
        }
        assert [a.username for a in store.accounts("default")] == [
            "j.martin",
            "m.martin",
            "sec.house",
        ]
        # locked after failures: the listing says so
        for _ in range(5):
            store.login("default", "m.martin", "password", "wrong")
    finally:
        db.dispose()
    code, out, _ = run(monkeypatch, capsys, "accounts", "list")
    assert code == 0
    assert out.splitlines() == [
        "j.martin\trelated\t-\tRelatedPerson/rp-1",
        "m.martin\tpatient\tlocked\tPatient/p-martin",
        "sec.house\tsecretary\t-\t",
    ]
    code, out, _ = run(monkeypatch, capsys, "accounts", "list", "--format", "json")
    listed = {a["username"]: a for a in orjson.loads(out)}
    assert listed["m.martin"] == {
        "username": "m.martin",
        "kind": "patient",
        "totp": False,
        "cps_pin": False,
        "disabled": False,
        "locked": True,
        "fhirUser": "Patient/p-martin",
    }
    # enabling unlocks
    assert run(monkeypatch, capsys, "accounts", "enable", "m.martin")[0] == 0
    code, out, _ = run(monkeypatch, capsys, "accounts", "list")
    assert "m.martin\tpatient\t-\tPatient/p-martin" in out.splitlines()


def test_tokens_and_accounts_say_the_same_about_a_subject(prod, monkeypatch, capsys) -> None:  # noqa: ANN001
    """`socle token` (test shortcut) and an account of `socle accounts` build the subject's
    attributes the same way: the claims of their tokens agree."""
    import base64

    from socle.security.config import SecurityConfig
    from socle.security.issuer import TokenIssuer

    _directory()
    create = ("accounts", "create", "--no-totp", "--password-stdin")
    stdin = PASSWORD + "\n"
    subjects = {"secretary": ("--rpps", "10001234567"), "patient": ("--ins", NIR)}
    for kind, flags in subjects.items():
        code, _, err = run(monkeypatch, capsys, *create, kind, "--kind", kind, *flags, stdin=stdin)
        assert code == 0, err
    db, store = _store(prod)
    try:
        accounts = {kind: store.account("default", kind) for kind in subjects}
    finally:
        db.dispose()
    monkeypatch.setenv("SOCLE_ENV", "development")  # `socle token` is refused in production
    monkeypatch.delenv("SOCLE_AUTH_ISSUER")
    issuer = TokenIssuer(SecurityConfig())
    for kind, flags in subjects.items():
        code, out, err = run(monkeypatch, capsys, "token", "--as", kind, *flags)
        assert code == 0, err
        payload = out.strip().split(".")[1]
        claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        account = accounts[kind]
        expected = issuer.subject_claims(kind, "-", account.attributes)
        for name, value in expected.items():
            if name != "sub":
                assert claims.get(name) == value, (kind, name)


def test_changes_to_unknown_accounts_are_refused(prod, monkeypatch, capsys) -> None:  # noqa: ANN001
    assert run(monkeypatch, capsys, "accounts", "list")[:2] == (0, "")
    for command in ("disable", "enable", "reset-totp"):
        code, out, err = run(monkeypatch, capsys, "accounts", command, "ghost")
        assert code == 1 and "No account 'ghost'" in err and "otpauth" not in out
    code, _, err = run(
        monkeypatch, capsys, "accounts", "set-password", "ghost", "--password-stdin",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert code == 1 and "No account 'ghost'" in err
