"""`socle ins …` (INS service) and `socle mllp` (HL7 v2 PAM listener) sub-commands."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from socle.fhir.errors import FhirError


def add_commands(sub: argparse._SubParsersAction, db_options) -> None:  # noqa: ANN001
    ins = sub.add_parser("ins", help="INS service: registry, checks, teleservice, vigilance")
    isub = ins.add_subparsers(dest="ins_command", required=True)

    def cmd(name: str, help_text: str, func) -> argparse.ArgumentParser:  # noqa: ANN001
        p = isub.add_parser(name, help=help_text)
        db_options(p)
        p.add_argument("--tenant", default=os.environ.get("SOCLE_TENANT", "default"))
        p.set_defaults(func=func)
        return p

    p = cmd("load-registry", "load the reference identity registry (JSON or NDJSON)", load)
    p.add_argument("file", help="registry file ('-' for standard input)")
    p.add_argument("--replace", action="store_true", help="replace the tenant's registry")
    p.add_argument(
        "--allow-empty",
        action="store_true",
        help="with --replace, accept a file with no record (empties the registry)",
    )
    p = cmd("demo-registry", "generate an invented registry (test OID), print or load it", demo)
    p.add_argument("--count", type=int, default=200)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--load", action="store_true", help="load it instead of printing NDJSON")
    p = cmd("check", "check an INS matricule (NIR/NIA)", check)
    p.add_argument("value")
    p.add_argument("--system")
    for name in ("retrieve", "verify"):
        p = cmd(
            name,
            f"INSi {'récupération' if name == 'retrieve' else 'vérification'}",
            retrieve if name == "retrieve" else verify,
        )
        p.add_argument("--family")
        p.add_argument("--given")
        p.add_argument("--birth-date")
        p.add_argument("--gender", help="M/F or male/female")
        p.add_argument("--birthplace")
        if name == "retrieve":
            p.add_argument("--card-nir", help="Carte Vitale holder's NIR")
        else:
            p.add_argument("--ins", required=True)
            p.add_argument(
                "--system",
                help="INS OID of the matricule (urn:oid:…); default: the OID the registry "
                "holds it under",
            )
    p = cmd("reindex", "rebuild the identity matching index from Patient history", reindex)
    p.add_argument(
        "--check",
        action="store_true",
        help="change nothing: count the index rows written under older name forms or "
        "phonetic rules (exit 1 when there are some: run reindex)",
    )
    p = cmd("worklist", "print the identity vigilance worklist", worklist)
    p.add_argument("--count", type=int, default=50)

    mllp = sub.add_parser("mllp", help="HL7 v2 PAM feed: MLLP listener")
    db_options(mllp)
    mllp.add_argument("--host", default="127.0.0.1")
    mllp.add_argument("--port", type=int, default=2575)
    mllp.add_argument("--forward", help="subscriber host:port receiving accepted messages")
    mllp.add_argument("--tenant", default=os.environ.get("SOCLE_TENANT", "default"))
    mllp.add_argument(
        "--metrics-port",
        type=int,
        default=int(os.environ.get("SOCLE_MLLP_METRICS_PORT", "0")) or None,
        help="serve the feed's Prometheus metrics on http://HOST:PORT/metrics (default: off)",
    )
    mllp.add_argument(
        "--idle-timeout",
        type=_seconds,
        default=max(0.0, float(os.environ.get("SOCLE_MLLP_IDLE_TIMEOUT", "0"))),
        help="close a connection silent for this many seconds (default 0: never)",
    )
    mllp.add_argument(
        "--allow-remote",
        action="store_true",
        help="listen on a non-loopback address (MLLP has no authentication: put it behind "
        "a TLS tunnel or a network allow-list)",
    )
    mllp.add_argument(
        "--auth",
        choices=("oidc", "none"),
        default=os.environ.get("SOCLE_AUTH", "oidc"),
        help="oidc (default): the security module is installed and every message goes to "
        "the audit trail; none: no audit trail (development only)",
    )
    mllp.set_defaults(func=serve_mllp)


def _engine(args: argparse.Namespace):
    from socle.cli.commands import _engine as make_engine
    from socle.cli.commands import settings_from

    return make_engine(settings_from(args))


def _fail(exc: FhirError) -> int:
    for issue in exc.issues[:20]:
        print(f"error: {issue.diagnostics}", file=sys.stderr)
    return 1


def load(args: argparse.Namespace) -> int:
    from socle.ins import service
    from socle.ins.teleservice import read_records

    try:
        data = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    except OSError as exc:  # missing, a directory, no permission: one line, nothing loaded
        print(
            f"error: cannot read the registry file {args.file}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 1
    engine = _engine(args)
    try:
        warnings: list = []
        n = service.load_registry(
            engine,
            args.tenant,
            read_records(data),
            args.replace,
            allow_empty=args.allow_empty,
            warnings=warnings,
        )
    except FhirError as exc:
        return _fail(exc)
    finally:
        engine.close()
    for issue in warnings:
        print(f"warning: {issue.diagnostics}", file=sys.stderr)
    print(f"{n} identities loaded into the registry of tenant {args.tenant}")
    return 0


def demo(args: argparse.Namespace) -> int:
    from socle.ins.teleservice import demo_records

    records = demo_records(args.count, args.seed)
    if not args.load:
        for rec in records:
            print(json.dumps(rec, ensure_ascii=False))
        return 0
    from socle.ins import service

    engine = _engine(args)
    try:
        n = service.load_registry(engine, args.tenant, records, replace=True)
    finally:
        engine.close()
    print(f"{n} invented identities (test OID) loaded into tenant {args.tenant}")
    return 0


def check(args: argparse.Namespace) -> int:
    from socle.ins.nir import check_nir

    result = check_nir(args.value, system=args.system)
    print(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
    return 0 if result.valid else 1


def _print_result(result) -> int:  # noqa: ANN001
    print(
        json.dumps(
            {
                "result": result.code,
                "label": result.label,
                "detail": result.detail,
                "identities": result.identities,
            },
            ensure_ascii=False,
            indent=2,
        )
    )
    return 0 if result.code == "00" else 2


def retrieve(args: argparse.Namespace) -> int:
    from socle.ins import service

    engine = _engine(args)
    try:
        if args.card_nir:
            result, _ = service.retrieve(
                engine,
                args.tenant,
                card={
                    "nir": args.card_nir,
                    "birthDate": args.birth_date or "",
                    "given": args.given,
                    "family": args.family,
                    "gender": args.gender,
                },
            )
        else:
            result, _ = service.retrieve(
                engine,
                args.tenant,
                traits={
                    "family": args.family,
                    "given": args.given,
                    "birthDate": args.birth_date,
                    "gender": args.gender,
                    "birthplace": args.birthplace,
                },
            )
    except FhirError as exc:
        return _fail(exc)
    finally:
        engine.close()
    return _print_result(result)


def verify(args: argparse.Namespace) -> int:
    from socle.ins import service

    engine = _engine(args)
    try:
        result, _ = service.verify(
            engine,
            args.tenant,
            ins=args.ins,
            system=args.system,
            traits={
                "family": args.family,
                "given": args.given,
                "birthDate": args.birth_date,
                "gender": args.gender,
                "birthplace": args.birthplace,
            },
        )
    except FhirError as exc:
        return _fail(exc)
    finally:
        engine.close()
    return _print_result(result)


def reindex(args: argparse.Namespace) -> int:
    from socle.ins import service

    engine = _engine(args)
    try:
        if args.check:
            stale = service.outdated(engine, args.tenant)
            print(f"{stale} identity index rows written under older rules")
            return 1 if stale else 0
        n = service.reindex(engine, args.tenant)
    finally:
        engine.close()
    print(f"{n} patients indexed")
    return 0


def worklist(args: argparse.Namespace) -> int:
    from socle.ins import service

    engine = _engine(args)
    try:
        items = service.worklist(engine, args.tenant, args.count)
    finally:
        engine.close()
    for item in items:
        print(json.dumps(item, ensure_ascii=False))
    return 0


def serve_mllp(args: argparse.Namespace) -> int:
    server = _mllp_server(args, args.host, args.port, args.forward, args.allow_remote)
    if isinstance(server, int):
        return server
    print(f"MLLP listener on {args.host}:{server.port} (tenant {args.tenant})", file=sys.stderr)
    if args.metrics_port:  # the same host as the listener: loopback unless --allow-remote
        from prometheus_client import start_http_server

        start_http_server(args.metrics_port, addr=args.host)
        print(f"Metrics on http://{args.host}:{args.metrics_port}/metrics", file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.engine.close()
    return 0


def add_serve_options(serve: argparse.ArgumentParser) -> None:
    """`socle serve --mllp-port`: the PAM feed listener beside the HTTP server."""
    env = os.environ.get
    serve.add_argument(
        "--mllp-port",
        type=int,
        default=int(env("SOCLE_MLLP_PORT", "0")) or None,
        help="also run the HL7 v2 PAM feed's MLLP listener on this port (default: off)",
    )
    serve.add_argument("--mllp-host", default=env("SOCLE_MLLP_HOST", "127.0.0.1"))
    serve.add_argument("--mllp-forward", default=env("SOCLE_MLLP_FORWARD"))
    serve.add_argument(
        "--mllp-allow-remote",
        action="store_true",
        help="let the MLLP listener use a non-loopback address (no authentication on MLLP)",
    )


def _seconds(text: str) -> float:
    """A duration in seconds, 0 or more (argparse type)."""
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text}: a number of seconds, 0 or more")
    return value


def start_beside_server(args: argparse.Namespace):  # noqa: ANN201
    """The MLLP listener of `socle serve --mllp-port`, started in threads of the serving
    process (with several workers, the supervisor: one listener whatever their number);
    None without --mllp-port, an exit code when refused."""
    if not args.mllp_port:
        return None
    server = _mllp_server(
        args, args.mllp_host, args.mllp_port, args.mllp_forward, args.mllp_allow_remote
    )
    if isinstance(server, int):
        return server
    server.start_background()
    print(f"MLLP listener on {args.mllp_host}:{server.port}", file=sys.stderr)
    return server


def _mllp_server(
    args: argparse.Namespace, host: str, port: int, forward: str | None, allow_remote: bool
):  # noqa: ANN202
    """An MllpServer on its own engine, with the security module unless --auth none."""
    from socle.cli.commands import _loopback
    from socle.ins.mllp import MllpServer
    from socle.observability import configure_logging

    if not _loopback(host) and not allow_remote:
        print(
            f"Refusing to listen on {host}: MLLP carries no authentication. Use a loopback "
            "address behind a TLS tunnel, or allow remote peers on a trusted network.",
            file=sys.stderr,
        )
        return 2
    engine = _engine(args)
    configure_logging(engine.settings.log_level)
    if args.auth == "oidc":  # the same guard and audit trail as `socle serve`
        from socle.security import install

        install(engine)
    else:
        print("WARNING: --auth none: HL7 messages are not audited", file=sys.stderr)
    target = None
    if forward:
        forward_host, _, forward_port = forward.rpartition(":")
        target = (forward_host or "127.0.0.1", int(forward_port))
    tenant = getattr(args, "tenant", None) or engine.settings.tenant  # serve: SOCLE_TENANT
    idle = getattr(args, "idle_timeout", None)  # serve: SOCLE_MLLP_IDLE_TIMEOUT
    if idle is None:
        idle = max(0.0, float(os.environ.get("SOCLE_MLLP_IDLE_TIMEOUT", "0")))
    return MllpServer(engine, tenant, host, port, target, idle_timeout=idle or None)
