"""The `socle` command line: serve, migrate, load, demo."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from socle.cli import accounts, commands, ins, packages, terminology, validate
from socle.cli import security as security_cli  # socle/security: token, audit, serve --auth oidc


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="socle", description="Socle e-health platform")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="start the HTTP server")
    _db_options(serve)
    serve.add_argument("--host", default=os.environ.get("SOCLE_HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("SOCLE_PORT", "8080")))
    serve.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("SOCLE_WORKERS", "0")) or None,
        help="worker processes (default: one per CPU core)",
    )
    serve.add_argument(
        "--auth",
        choices=["none", "oidc"],
        default=os.environ.get("SOCLE_AUTH", "oidc"),
        help="authentication mode: 'oidc' (bearer tokens; embedded provider by default) or "
        "'none' (only allowed on a loopback host)",
    )
    ins.add_serve_options(serve)
    serve.set_defaults(func=commands.serve)

    migrate = sub.add_parser("migrate", help="create or upgrade the database schema")
    _db_options(migrate)
    migrate.set_defaults(func=commands.migrate)

    load = sub.add_parser("load", help="load Bundles, NDJSON files and resources")
    _db_options(load)
    load.add_argument("paths", nargs="+", help="files or directories (.json, .ndjson)")
    load.set_defaults(func=commands.load)

    demo = sub.add_parser("demo", help="load the generated French demo data set")
    _db_options(demo)
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument(
        "--if-empty", action="store_true", help="only when the database holds no resource"
    )
    demo.set_defaults(func=commands.demo)

    terminology.add_parser(sub, _db_options)
    ins.add_commands(sub, _db_options)
    packages.add_commands(sub, _db_options)
    validate.add_commands(sub, _db_options)
    security_cli.add_commands(sub, _db_options)  # token, audit verify|checkpoint
    accounts.add_commands(sub, _db_options)  # accounts create|list|disable|enable|…
    return parser


def _db_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database", help="database URL (SOCLE_DATABASE_URL)")
    parser.add_argument("--data-dir", help="data directory (SOCLE_DATA_DIR)")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
