"""`socle token`, `socle audit verify|checkpoint` and `socle serve --auth oidc`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from socle.cli.commands import console, settings_from
from socle.config import Settings


def add_commands(sub, db_options) -> None:  # noqa: ANN001
    token = sub.add_parser(
        "token",
        help="print an access token of the embedded provider (test shortcut, not in production)",
    )
    db_options(token)
    token.add_argument(
        "--as",
        dest="kind",
        choices=["practitioner", "patient", "client", "admin", "secretary", "related"],
        default="practitioner",
    )
    token.add_argument("--rpps", help="practitioner (or doctor of a secretary) by RPPS")
    token.add_argument("--ins", help="patient by INS (NIR)")
    token.add_argument("--patient-id", help="patient by FHIR id (patient, related, launch)")
    token.add_argument("--related-id", help="RelatedPerson id (--as related)")
    token.add_argument("--client-id", default=None, help="client id (default socle-demo)")
    token.add_argument("--scope", help="scopes (default: a sensible set for the subject)")
    token.add_argument("--acr", default="eidas3", choices=["eidas1", "eidas2", "eidas3"])
    token.add_argument("--ttl", type=int, default=None, help="lifetime in seconds")
    token.add_argument("--tenant", default=None)
    token.add_argument("--rotate-keys", action="store_true", help="rotate the signing key first")
    token.set_defaults(func=make_token)

    audit = sub.add_parser("audit", help="the tamper-evident audit trail")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_sub.add_parser("verify", help="check the hash chain and signed checkpoints")
    db_options(verify)
    verify.add_argument("--public-key", help="PEM public key (default: the data directory's)")
    verify.set_defaults(func=audit_verify)
    checkpoint = audit_sub.add_parser("checkpoint", help="sign the current end of the trail")
    db_options(checkpoint)
    checkpoint.set_defaults(func=audit_checkpoint)


def _engine(settings):  # noqa: ANN001, ANN202
    from socle.cli.commands import _migrate
    from socle.fhir.engine import FhirEngine

    _migrate(settings)
    return FhirEngine(settings)


def make_token(args: argparse.Namespace) -> int:
    from socle.security.accounts import find_patient, subject_attributes
    from socle.security.config import ConfigError, load_security_config
    from socle.security.information import Information
    from socle.security.issuer import TokenIssuer
    from socle.security.keys import rotate

    settings = settings_from(args)
    try:
        config = load_security_config(settings.data_dir, settings.base_url, "oidc")
    except ConfigError as exc:
        console.print(f"[red]{exc}[/]")
        return 2
    if config.production or not config.demo:
        console.print(
            "[red]socle token is a test shortcut: it is disabled with SOCLE_ENV=production "
            "(and with SOCLE_AUTH_DEMO=0).[/] Use the OpenID Connect flows."
        )
        return 2
    if args.rotate_keys:
        key = rotate(config.data_dir)
        console.print(f"New signing key {key.kid}; previous keys stay published.")
    tenant = args.tenant or settings.tenant
    engine = _engine(settings)
    info = Information(engine, config.data_dir)
    issuer = TokenIssuer(config)
    kind = args.kind
    client_id = args.client_id or ("socle-system" if kind == "client" else "socle-demo")
    launch = None
    try:
        if kind == "client":
            claims = {"sub": client_id, "kind": "system"}
            scope = args.scope or "system/*.cruds"
        elif kind == "admin":
            attrs = subject_attributes("admin", display="Administrateur")
            claims = issuer.subject_claims("admin", "admin-cli", attrs)
            scope = args.scope or "openid fhirUser user/*.cruds"
        elif kind in ("practitioner", "secretary"):
            if not args.rpps:
                console.print("[red]--rpps is required[/] (a Practitioner's RPPS)")
                return 2
            found = info.practitioner_by_rpps(tenant, args.rpps)
            if found is None:
                console.print(f"[red]No Practitioner with RPPS {args.rpps} in tenant {tenant}[/]")
                return 1
            attrs = subject_attributes(kind, practitioner=found)
            claims = issuer.subject_claims(kind, f"cli-{kind}-{args.rpps}", attrs)
            scope = args.scope or "openid fhirUser user/*.cruds"
            launch = args.patient_id
        elif kind == "patient":
            patient = find_patient(info, tenant, ins=args.ins, patient_id=args.patient_id)
            if patient is None:
                console.print("[red]No such patient[/] (give --ins or --patient-id)")
                return 1
            attrs = subject_attributes("patient", patient=patient)
            claims = issuer.subject_claims("patient", f"cli-patient-{patient['id']}", attrs)
            scope = args.scope or "openid fhirUser launch/patient patient/*.cruds"
        else:  # related
            if not (args.related_id and args.patient_id):
                console.print("[red]--related-id and --patient-id are required[/]")
                return 2
            attrs = subject_attributes(
                "related", patient_id=args.patient_id, related_id=args.related_id
            )
            claims = issuer.subject_claims("related", f"cli-related-{args.related_id}", attrs)
            scope = args.scope or "openid fhirUser patient/*.rs"
        token = issuer.access_token(
            claims,
            scope=scope,
            client_id=client_id,
            ttl=args.ttl,
            acr=args.acr,
            amr=["cli"],
            patient=launch,
        )
    finally:
        engine.close()
    sys.stdout.write(token + "\n")
    return 0


def audit_verify(args: argparse.Namespace) -> int:
    from socle.security.audit import verify
    from socle.security.keys import audit_key, load_public_pem

    settings = settings_from(args)
    engine = _engine(settings)
    try:
        if args.public_key:
            public = load_public_pem(Path(args.public_key))
        else:
            public = audit_key(settings.data_dir).public_key()
        result = verify(engine.store.engine, public)
    finally:
        engine.close()
    if result.ok:
        console.print(
            f"[green]Audit trail intact[/]: {result.checked} entries, "
            f"{result.checkpoints} signed checkpoint(s), last entry {result.last_seq}"
        )
        return 0
    console.print(
        f"[red]Audit trail NOT intact[/]: {len(result.problems)} problem(s) "
        f"in {result.checked} entries"
    )
    for problem in result.problems:
        console.print(f"  entry {problem.seq}: [red]{problem.kind}[/] - {problem.detail}")
    return 1


def audit_checkpoint(args: argparse.Namespace) -> int:
    from socle.security.audit import AuditLog

    settings = settings_from(args)
    engine = _engine(settings)
    try:
        seq = AuditLog(engine.store.engine, settings.data_dir).checkpoint()
    finally:
        engine.close()
    console.print(f"Signed checkpoint at entry {seq}" if seq else "The audit trail is empty")
    return 0


def prepare_oidc(args: argparse.Namespace, settings: Settings) -> int:
    """Checks and messages of `socle serve --auth oidc` (embedded provider by default).

    Returns a non-zero exit code when the server must not start.
    """
    from socle.cli.commands import _loopback
    from socle.security.config import ConfigError, load_security_config

    os.environ["SOCLE_AUTH"] = "oidc"
    os.environ.setdefault("SOCLE_HOST", args.host)
    os.environ.setdefault("SOCLE_PORT", str(args.port))
    try:
        config = load_security_config(settings.data_dir, settings.base_url, "oidc")
    except ConfigError as exc:
        console.print(f"[red]{exc}[/]")
        return 2
    os.environ.setdefault("SOCLE_AUTH_ISSUER", config.issuer)
    if config.demo and not _loopback(args.host):
        console.print(
            f"[red]Refusing to serve on {args.host} with the demo accounts of the embedded "
            "provider (their passwords are public).[/] Use a loopback address, or set "
            "SOCLE_AUTH_DEMO=0 (or SOCLE_ENV=production) and configure real accounts/providers."
        )
        return 2
    console.print(f"Authentication: OpenID Connect, issuer {config.issuer}")
    if config.demo:
        console.print(
            "[yellow]Demo identity provider[/]: log in with a demo RPPS or INS and the "
            "password 'demo' (CPS PIN 1234), or print a token with "
            "[bold]socle token --as practitioner --rpps <RPPS>[/] "
            "(see the README, section Security)."
        )
    return 0
