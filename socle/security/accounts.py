"""Accounts and clients of the embedded identity provider, with argon2 hashes and TOTP.

Accounts: professionals (from the directory: Practitioner with RPPS and TRE_G15
profession; they log in with a password, password + TOTP, or a simulated CPS card: RPPS
+ PIN), patients (found by INS), secretaries (acting for a doctor), trusted persons or
legal representatives (RelatedPerson), administrators. Repeated failures lock an account
for a while (`lockout_threshold`, `lockout_seconds`).

Demo mode (never with SOCLE_ENV=production): an unknown username that is an RPPS or an
INS of the directory gets an account on first login, with the demo password `demo` and
CPS PIN `1234`; an administrator `admin` / `socle-admin` with TOTP secret
`DEMO_ADMIN_TOTP`; a public client `socle-demo` (PKCE, loopback redirect URIs) and a
backend client `socle-system` (secret `socle-system-secret`).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson
import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from socle.security import tables as T
from socle.security.information import (
    Information,
    patient_attributes,
    practitioner_attributes,
)
from socle.security.scopes import narrow

if TYPE_CHECKING:
    from sqlalchemy import Engine

HASHER = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)
DEMO_PASSWORD = "demo"
DEMO_PIN = "1234"
DEMO_ADMIN_PASSWORD = "socle-admin"
DEMO_ADMIN_TOTP = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
DEMO_SYSTEM_SECRET = "socle-system-secret"
ALL_SCOPES = (
    "openid fhirUser profile offline_access online_access launch launch/patient "
    "patient/*.cruds user/*.cruds"
)
_RPPS = re.compile(r"^\d{11}$")
_INS = re.compile(r"^[12378]\d{12}(\d{2})?$")
_DUMMY_HASH = HASHER.hash("not-a-password")


def hash_secret(secret: str) -> str:
    return HASHER.hash(secret)


def check_secret(stored: str | None, given: str | None) -> bool:
    if not given:
        return False
    try:
        return HASHER.verify(stored or _DUMMY_HASH, given) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def subject_attributes(
    kind: str,
    *,
    practitioner: dict[str, Any] | None = None,
    patient: dict[str, Any] | None = None,
    patient_id: str | None = None,
    related_id: str | None = None,
    display: str | None = None,
) -> dict[str, Any]:
    """What tokens say about a subject of `kind` (an account's `attributes`).

    `practitioner`: the directory entry (`Information.practitioner_by_rpps`) of a
    practitioner, or of the doctor a secretary acts for; `patient`: the Patient resource of
    a patient; `patient_id` and `related_id`: the patient a related person (RelatedPerson)
    acts for. `display` names an administrator, a secretary (default "Secrétariat de …")
    or a related person; practitioners and patients are named by the directory. Finding
    these resources, and saying what is missing, is the caller's part.
    """
    if kind == "admin":
        return {"display": display, "roles": ["admin"]}
    if kind in ("practitioner", "secretary"):
        if practitioner is None:
            raise ValueError(f"a {kind} needs the practitioner's directory entry")
        attrs = practitioner_attributes(practitioner)
        if kind == "practitioner":
            return attrs
        return {
            "acting_for": attrs["fhir_user"],
            "organization": attrs.get("organization"),
            "display": display or f"Secrétariat de {attrs.get('display', '')}".strip(),
        }
    if kind == "patient":
        if patient is None:
            raise ValueError("a patient needs the Patient resource")
        return patient_attributes(patient)
    if kind == "related":
        if not (patient_id and related_id):
            raise ValueError("a related person needs the patient and RelatedPerson ids")
        attrs = {"fhir_user": f"RelatedPerson/{related_id}", "patient": patient_id}
        if display:
            attrs["display"] = display
        return attrs
    raise ValueError(f"unknown account kind {kind!r}")


def find_patient(
    info: Information, tenant: str, *, ins: str | None = None, patient_id: str | None = None
) -> dict[str, Any] | None:
    """A patient by INS, else by FHIR id; None when neither finds one."""
    if ins:
        return info.patient_by_identifier(tenant, ins)
    if patient_id:
        return info.read(tenant, "Patient", patient_id)
    return None


@dataclass
class Account:
    pk: int
    tenant: str
    username: str
    kind: str
    attributes: dict[str, Any]
    has_totp: bool = False
    has_pin: bool = False
    disabled: bool = False
    locked_until: int = 0  # epoch seconds; locked after repeated failures until then

    def get_user_id(self) -> str:
        return f"acct-{self.pk}"

    @property
    def locked(self) -> bool:
        return self.locked_until > time.time()


@dataclass
class LoginResult:
    account: Account | None
    acr: str = "eidas1"
    amr: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class Client:
    """An OAuth client (authlib's ClientMixin)."""

    client_id: str
    secret_hash: str | None
    redirect_uris: list[str]
    grant_types: list[str]
    scope: str
    name: str = ""
    kind: str = "app"  # app (users) or system (backend service)

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.redirect_uris[0] if self.redirect_uris else None

    def get_allowed_scope(self, scope: str) -> str:
        return narrow(scope or "", self.scope)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        if redirect_uri in self.redirect_uris:
            return True
        # RFC 8252 7.3: native apps on loopback may use any port
        parts = urlsplit(redirect_uri)
        if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            return False
        for allowed in self.redirect_uris:
            a = urlsplit(allowed)
            if (
                a.scheme == "http"
                and a.hostname == parts.hostname
                and a.port is None
                and (a.path in ("", "/", "*") or a.path == parts.path)
            ):
                return True
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return check_secret(self.secret_hash, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.secret_hash is None:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


class AccountStore:
    """Accounts, clients and lock-out, in the database (shared by the workers).

    The embedded provider (`socle.security.idp`) and `socle accounts` both change accounts
    through it; ending an account's login sessions is the provider's (`LoginSessions`)."""

    def __init__(
        self,
        db: Engine,
        information: Information,
        *,
        demo: bool,
        lockout_threshold: int = 5,
        lockout_seconds: int = 900,
    ) -> None:
        self.db = db
        self.info = information
        self.demo = demo
        self.lockout_threshold = lockout_threshold
        self.lockout_seconds = lockout_seconds
        self._clients: dict[tuple[str, str], tuple[float, Client | None]] = {}

    # -- accounts ---------------------------------------------------------------------------

    def create_account(
        self,
        tenant: str,
        username: str,
        kind: str,
        attributes: dict[str, Any],
        *,
        password: str | None = None,
        pin: str | None = None,
        totp_secret: str | None = None,
    ) -> Account:
        values = {
            "tenant": tenant,
            "username": username,
            "kind": kind,
            "password_hash": hash_secret(password) if password else None,
            "pin_hash": hash_secret(pin) if pin else None,
            "totp_secret": totp_secret,
            "attributes": orjson.dumps(attributes).decode(),
            "failed_count": 0,
            "locked_until": 0,
            "disabled": False,
        }
        try:
            with self.db.begin() as conn:
                conn.execute(insert(T.security_account).values(**values))
        except IntegrityError:
            pass  # created concurrently (another worker): use that one
        found = self.account(tenant, username)
        assert found is not None
        return found

    def account(self, tenant: str, username: str) -> Account | None:
        row = self._row(tenant, username)
        return _account(row) if row is not None else None

    def account_by_pk(self, pk: int) -> Account | None:
        with self.db.connect() as conn:
            row = conn.execute(
                select(T.security_account).where(T.security_account.c.pk == pk)
            ).first()
        return _account(row) if row is not None and not row.disabled else None

    def _row(self, tenant: str, username: str) -> Any:
        with self.db.connect() as conn:
            return conn.execute(
                select(T.security_account).where(
                    T.security_account.c.tenant == tenant,
                    T.security_account.c.username == username,
                )
            ).first()

    def accounts(self, tenant: str) -> list[Account]:
        """Every account of the tenant (disabled ones included), by username."""
        table = T.security_account
        with self.db.connect() as conn:
            rows = conn.execute(
                select(table).where(table.c.tenant == tenant).order_by(table.c.username)
            ).all()
        return [_account(row) for row in rows]

    def set_disabled(self, tenant: str, username: str, disabled: bool) -> Account | None:
        """Disable an account (no more logins), or enable it again, which also unlocks it.
        Its open sessions are the provider's to end. None when there is no such account."""
        values: dict[str, Any] = {"disabled": disabled}
        if not disabled:
            values.update(failed_count=0, locked_until=0)
        return self._update(tenant, username, values)

    def set_password(self, tenant: str, username: str, password: str) -> Account | None:
        """Replace the password (stored as an argon2 hash)."""
        return self._update(tenant, username, {"password_hash": hash_secret(password)})

    def set_totp(self, tenant: str, username: str, secret: str | None) -> Account | None:
        """Enrol a new TOTP second factor (its base32 secret), or none."""
        return self._update(tenant, username, {"totp_secret": secret})

    def _update(self, tenant: str, username: str, values: dict[str, Any]) -> Account | None:
        table = T.security_account
        with self.db.begin() as conn:
            done = conn.execute(
                update(table)
                .where(table.c.tenant == tenant, table.c.username == username)
                .values(**values)
            ).rowcount
        return self.account(tenant, username) if done else None

    def provision_demo(self, tenant: str, username: str) -> Account | None:
        """Demo mode: an account for a directory professional (RPPS) or patient (INS)."""
        if not self.demo:
            return None
        if username == "admin":
            return self.create_account(
                tenant,
                "admin",
                "admin",
                subject_attributes("admin", display="Administrateur démo"),
                password=DEMO_ADMIN_PASSWORD,
                totp_secret=DEMO_ADMIN_TOTP,
            )
        if _RPPS.match(username):
            found = self.info.practitioner_by_rpps(tenant, username)
            if found is not None:
                attrs = subject_attributes("practitioner", practitioner=found)
                return self.create_account(
                    tenant, username, "practitioner", attrs, password=DEMO_PASSWORD, pin=DEMO_PIN
                )
        if _INS.match(username):
            patient = self.info.patient_by_identifier(tenant, username)
            if patient is not None:
                attrs = subject_attributes("patient", patient=patient)
                return self.create_account(
                    tenant, username, "patient", attrs, password=DEMO_PASSWORD
                )
        return None

    def login(
        self,
        tenant: str,
        username: str,
        method: str,
        secret: str,
        otp: str | None = None,
    ) -> LoginResult:
        """Check credentials; failures count towards the lock-out."""
        generic = "Identifiant ou secret invalide, ou compte verrouillé"
        row = self._row(tenant, username)
        if row is None and self.provision_demo(tenant, username) is not None:
            row = self._row(tenant, username)
        if row is None:
            check_secret(None, secret)  # same cost as a real check: no username probing
            return LoginResult(None, error=generic)
        now = int(time.time())
        if row.disabled or row.locked_until > now:
            return LoginResult(None, error=generic)
        if method == "cps":
            ok = row.pin_hash is not None and check_secret(row.pin_hash, secret)
            acr, amr = "eidas3", ["sc", "pin"]
        else:
            ok = check_secret(row.password_hash, secret)
            acr, amr = "eidas1", ["pwd"]
            if ok and row.totp_secret:
                ok = bool(otp) and pyotp.TOTP(row.totp_secret).verify(otp or "", valid_window=1)
                acr, amr = "eidas2", ["pwd", "otp"]
        with self.db.begin() as conn:
            if ok:
                conn.execute(
                    update(T.security_account)
                    .where(T.security_account.c.pk == row.pk)
                    .values(failed_count=0)
                )
            else:
                failed = row.failed_count + 1
                values: dict[str, Any] = {"failed_count": failed}
                if failed >= self.lockout_threshold:
                    values = {"failed_count": 0, "locked_until": now + self.lockout_seconds}
                conn.execute(
                    update(T.security_account)
                    .where(T.security_account.c.pk == row.pk)
                    .values(**values)
                )
        if not ok:
            return LoginResult(None, error=generic)
        return LoginResult(_account(row), acr, amr)

    # -- clients ----------------------------------------------------------------------------

    def register_client(
        self,
        tenant: str,
        client_id: str,
        *,
        secret: str | None,
        redirect_uris: list[str],
        grant_types: list[str],
        scope: str,
        name: str = "",
        kind: str = "app",
    ) -> None:
        meta = {
            "redirect_uris": redirect_uris,
            "grant_types": grant_types,
            "scope": scope,
            "name": name,
            "kind": kind,
        }
        try:
            with self.db.begin() as conn:
                conn.execute(
                    insert(T.security_client).values(
                        tenant=tenant,
                        client_id=client_id,
                        secret_hash=hash_secret(secret) if secret else None,
                        metadata=orjson.dumps(meta).decode(),
                    )
                )
        except IntegrityError:
            pass
        self._clients.pop((tenant, client_id), None)

    def client(self, tenant: str, client_id: str) -> Client | None:
        hit = self._clients.get((tenant, client_id))
        if hit is not None and time.monotonic() - hit[0] < 30:
            return hit[1]
        with self.db.connect() as conn:
            row = conn.execute(
                select(T.security_client).where(
                    T.security_client.c.tenant == tenant,
                    T.security_client.c.client_id == client_id,
                )
            ).first()
        client = None
        if row is not None:
            meta = orjson.loads(row.metadata)
            client = Client(
                row.client_id,
                row.secret_hash,
                meta["redirect_uris"],
                meta["grant_types"],
                meta["scope"],
                meta.get("name", ""),
                meta.get("kind", "app"),
            )
        self._clients[(tenant, client_id)] = (time.monotonic(), client)
        return client

    def ensure_demo(self, tenant: str) -> None:
        """Demo clients and administrator (demo mode only)."""
        if not self.demo:
            return
        if self.client(tenant, "socle-demo") is None:
            self.register_client(
                tenant,
                "socle-demo",
                secret=None,
                redirect_uris=["http://127.0.0.1/", "http://localhost/"],
                grant_types=["authorization_code", "refresh_token"],
                scope=ALL_SCOPES,
                name="Socle demo (public client, PKCE)",
            )
        if self.client(tenant, "socle-system") is None:
            self.register_client(
                tenant,
                "socle-system",
                secret=DEMO_SYSTEM_SECRET,
                redirect_uris=[],
                grant_types=["client_credentials"],
                scope="system/*.cruds",
                name="Socle demo backend service",
                kind="system",
            )
        if self._row(tenant, "admin") is None:
            self.provision_demo(tenant, "admin")


def _account(row: Any) -> Account:
    return Account(
        int(row.pk),
        row.tenant,
        row.username,
        row.kind,
        orjson.loads(row.attributes),
        has_totp=bool(row.totp_secret),
        has_pin=bool(row.pin_hash),
        disabled=bool(row.disabled),
        locked_until=int(row.locked_until or 0),
    )
