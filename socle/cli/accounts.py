"""`socle accounts`: the embedded provider's accounts, for production as well as demos.

`create` makes an administrator or a password account (argon2 hash) and enrols a TOTP
second factor, printing its `otpauth://` URI (to scan into an authenticator app) once;
administrators always get one. `list` shows the accounts, `disable` / `enable` stop or
allow an account (disabling also revokes its open sessions, so its tokens stop on the
next request), `reset-totp` enrols a new second factor, `set-password` replaces the
password. Nothing here depends on demo mode, so it works with `SOCLE_ENV=production`.
Every change is written to the audit trail.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import TYPE_CHECKING, Any

import orjson
import pyotp

from socle.cli.commands import console, settings_from

if TYPE_CHECKING:
    from socle.security.accounts import Account

KINDS = ("admin", "practitioner", "patient", "secretary", "related")
MIN_PASSWORD = 12
ISSUER_NAME = "Socle"


def add_commands(sub, db_options) -> None:  # noqa: ANN001
    accounts = sub.add_parser("accounts", help="accounts of the embedded identity provider")
    commands = accounts.add_subparsers(dest="accounts_command", required=True)

    create = commands.add_parser("create", help="create an account (argon2 password + TOTP)")
    db_options(create)
    create.add_argument("username")
    create.add_argument("--kind", choices=KINDS, default="admin")
    create.add_argument("--rpps", help="practitioner (or the doctor of a secretary) by RPPS")
    create.add_argument("--ins", help="patient by INS")
    create.add_argument("--patient-id", help="patient by FHIR id (patient, related)")
    create.add_argument("--related-id", help="RelatedPerson id (related)")
    create.add_argument("--display", help="display name")
    create.add_argument("--no-totp", action="store_true", help="no second factor (not admins)")
    _common(create)
    create.set_defaults(func=create_account)

    listing = commands.add_parser("list", help="list the accounts")
    db_options(listing)
    listing.add_argument("--tenant", default=None)
    listing.add_argument("--format", choices=["table", "json"], default="table")
    listing.set_defaults(func=list_accounts)

    for name, func, text in (
        ("disable", disable_account, "disable an account and end its sessions"),
        ("enable", enable_account, "enable a disabled account (and unlock it)"),
        ("reset-totp", reset_totp, "enrol a new TOTP second factor"),
        ("set-password", set_password, "replace the password"),
    ):
        command = commands.add_parser(name, help=text)
        db_options(command)
        command.add_argument("username")
        _common(command)
        command.set_defaults(func=func)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tenant", default=None)
    parser.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin (scripts)"
    )


# -- commands ---------------------------------------------------------------------------------


def create_account(args: argparse.Namespace) -> int:
    """Create the account; print the otpauth URI of its second factor."""
    with _Context(args) as c:
        if c.store.account(c.tenant, args.username) is not None:
            console.print(f"[red]Account {args.username!r} already exists[/] in {c.tenant}")
            return 1
        if args.kind == "admin" and args.no_totp:
            console.print("[red]Administrators always have a TOTP second factor[/]")
            return 2
        attributes = _attributes(c, args)
        if attributes is None:
            return 1
        password = _password(args)
        if password is None:
            return 2
        secret = None if args.no_totp else pyotp.random_base32()
        account = c.store.create_account(
            c.tenant, args.username, args.kind, attributes, password=password, totp_secret=secret
        )
        c.audit(args.username, f"account {args.username} ({args.kind}) created")
    console.print(f"Account [bold]{account.username}[/] ({account.kind}) created in {c.tenant}")
    if secret:
        _print_totp(args.username, secret, c.tenant)
    return 0


def list_accounts(args: argparse.Namespace) -> int:
    with _Context(args) as c:
        accounts = c.store.accounts(c.tenant)
    listed = [
        {
            "username": a.username,
            "kind": a.kind,
            "totp": a.has_totp,
            "cps_pin": a.has_pin,
            "disabled": a.disabled,
            "locked": a.locked,
            "fhirUser": a.attributes.get("fhir_user"),
        }
        for a in accounts
    ]
    if args.format == "json":
        sys.stdout.write(orjson.dumps(listed, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    for a in listed:
        flags = [f for f in ("totp", "cps_pin", "disabled", "locked") if a[f]]
        sys.stdout.write(
            f"{a['username']}\t{a['kind']}\t{','.join(flags) or '-'}\t{a['fhirUser'] or ''}\n"
        )
    return 0


def disable_account(args: argparse.Namespace) -> int:
    return _set_disabled(args, True)


def enable_account(args: argparse.Namespace) -> int:
    return _set_disabled(args, False)


def reset_totp(args: argparse.Namespace) -> int:
    secret = pyotp.random_base32()
    with _Context(args) as c:
        account = c.found(args.username, c.store.set_totp(c.tenant, args.username, secret))
        if account is None:
            return 1
        c.end_sessions(account)
        c.audit(args.username, f"account {args.username}: new TOTP second factor")
    _print_totp(args.username, secret, c.tenant)
    return 0


def set_password(args: argparse.Namespace) -> int:
    password = _password(args)
    if password is None:
        return 2
    with _Context(args) as c:
        account = c.found(args.username, c.store.set_password(c.tenant, args.username, password))
        if account is None:
            return 1
        c.end_sessions(account)
        c.audit(args.username, f"account {args.username}: password replaced")
    console.print(f"Password of [bold]{args.username}[/] replaced; its sessions were ended")
    return 0


def _set_disabled(args: argparse.Namespace, disabled: bool) -> int:
    with _Context(args) as c:
        account = c.found(args.username, c.store.set_disabled(c.tenant, args.username, disabled))
        if account is None:
            return 1
        if disabled:
            c.end_sessions(account)
        verb = "disabled" if disabled else "enabled"
        c.audit(args.username, f"account {args.username} {verb}")
    console.print(f"Account [bold]{args.username}[/] {verb}")
    return 0


# -- helpers ----------------------------------------------------------------------------------


class _Context:
    """The engine, account store, provider sessions and audit trail of one command."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.settings = settings_from(args)
        self.tenant = getattr(args, "tenant", None) or self.settings.tenant

    def __enter__(self) -> _Context:
        from socle.cli.security import _engine
        from socle.security.accounts import AccountStore
        from socle.security.idp import LoginSessions
        from socle.security.information import Information
        from socle.security.revocation import Revocations

        self.engine = _engine(self.settings)
        self.db = self.engine.store.engine
        self.info = Information(self.engine, self.settings.data_dir)
        self.store = AccountStore(self.db, self.info, demo=False)
        # the server's access-token lifetime: how long a revoked session must stay listed
        ttl = int(os.environ.get("SOCLE_AUTH_TOKEN_TTL", "900"))
        self.sessions = LoginSessions(self.db, Revocations(self.db, self.settings.data_dir), ttl)
        return self

    def __exit__(self, *exc: object) -> None:
        self.engine.close()

    def found(self, username: str, account: Account | None) -> Account | None:
        """The changed account; say so when it does not exist."""
        if account is None:
            console.print(f"[red]No account {username!r}[/] in tenant {self.tenant}")
        return account

    def end_sessions(self, account: Account) -> int:
        """End the account's login sessions: their refresh and access tokens stop."""
        return self.sessions.end_account(self.tenant, account.pk)

    def audit(self, username: str, description: str) -> None:
        """The change, in the audit trail (who ran the command, on which account)."""
        from socle.security.audit import AuditLog, AuditRecord

        operator = os.environ.get("SUDO_USER") or getpass.getuser()
        AuditLog(self.db, self.settings.data_dir).append(
            AuditRecord(
                tenant=self.tenant,
                action="account",
                outcome=200,
                agent={"id": f"cli:{operator}", "kind": "admin", "display": operator},
                entities=[f"urn:socle:account:{username}"],
                description=description,
            )
        )


def _attributes(c: _Context, args: argparse.Namespace) -> dict[str, Any] | None:
    """What tokens will say about the account, taken from the directory or the record."""
    from socle.security.accounts import find_patient, subject_attributes

    kind = args.kind
    if kind == "admin":
        return subject_attributes(kind, display=args.display or args.username)
    if kind in ("practitioner", "secretary"):
        if not args.rpps:
            console.print("[red]--rpps is required[/] (the Practitioner's RPPS)")
            return None
        found = c.info.practitioner_by_rpps(c.tenant, args.rpps)
        if found is None:
            console.print(f"[red]No Practitioner with RPPS {args.rpps}[/] in tenant {c.tenant}")
            return None
        return subject_attributes(kind, practitioner=found, display=args.display)
    patient = find_patient(c.info, c.tenant, ins=args.ins, patient_id=args.patient_id)
    if patient is None:
        console.print("[red]No such patient[/] (give --ins or --patient-id)")
        return None
    if kind == "patient":
        return subject_attributes(kind, patient=patient)
    if not args.related_id:
        console.print("[red]--related-id is required[/] (the RelatedPerson)")
        return None
    return subject_attributes(
        kind,
        patient_id=patient["id"],
        related_id=args.related_id,
        display=args.display or args.username,
    )


def _password(args: argparse.Namespace) -> str | None:
    """From stdin (scripts) or typed twice; at least MIN_PASSWORD characters."""
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            console.print("[red]The two passwords differ[/]")
            return None
    if len(password) < MIN_PASSWORD:
        console.print(f"[red]A password needs at least {MIN_PASSWORD} characters[/]")
        return None
    return password


def _print_totp(username: str, secret: str, tenant: str) -> None:
    """The otpauth URI on stdout (scan it once; it is not shown again)."""
    uri = pyotp.TOTP(secret).provisioning_uri(name=f"{username}@{tenant}", issuer_name=ISSUER_NAME)
    console.print("TOTP second factor: add this URI to an authenticator app (shown once):")
    sys.stdout.write(uri + "\n")


__all__ = ["add_commands"]
