"""`socle packages list|install|remove|seed`: the FHIR packages Socle validates against.

Vendored packages (shipped in `socle/data/packages/`) are always there; `install` copies
an archive into `$SOCLE_DATA_DIR/packages/` and loads its definitions into the database
tenant so the API serves them; `remove` undoes both (vendored packages cannot be
removed). A running server picks up installed packages when it restarts.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

out = Console()
err = Console(stderr=True)


def add_commands(sub: argparse._SubParsersAction, db_options: Callable) -> None:
    packages = sub.add_parser("packages", help="list, install and remove FHIR packages")
    psub = packages.add_subparsers(dest="packages_command", required=True)

    lst = psub.add_parser("list", help="list the packages and how their dependencies resolve")
    db_options(lst)
    lst.add_argument("--warnings", action="store_true", help="show dependency warnings")
    lst.set_defaults(func=list_packages)

    install = psub.add_parser("install", help="install a package archive (.tgz)")
    db_options(install)
    install.add_argument("archive", help="FHIR NPM package (.tgz)")
    install.add_argument(
        "--no-seed", action="store_true", help="do not load its definitions into the database"
    )
    install.set_defaults(func=install_package)

    remove = psub.add_parser("remove", help="remove an installed package: NAME[@VERSION]")
    db_options(remove)
    remove.add_argument("spec", help="package name, optionally @version")
    remove.set_defaults(func=remove_package)

    seed = psub.add_parser(
        "seed", help="load the packages' definitions into the database (idempotent)"
    )
    db_options(seed)
    seed.add_argument("--tenant", help="tenant to load into (default: SOCLE_TENANT)")
    seed.add_argument("--force", action="store_true", help="rewrite even if up to date")
    seed.set_defaults(func=seed_command)


def _settings(args: argparse.Namespace):  # noqa: ANN202
    from socle.cli.commands import settings_from

    return settings_from(args)


def list_packages(args: argparse.Namespace) -> int:
    from socle.fhir.packages import ConformanceContext, PackageStore

    settings = _settings(args)
    store = PackageStore(settings.data_dir)
    context = ConformanceContext(store.packages(), load_core=False)
    table = Table(title="FHIR packages", show_lines=False)
    table.add_column("package", no_wrap=True)
    table.add_column("version", no_wrap=True)
    table.add_column("origin")
    table.add_column("definitions", justify="right")
    table.add_column("examples", justify="right")
    table.add_column("deps exact/other/missing")
    table.add_row("hl7.fhir.r4.core", "4.0.1", "core", "-", "-", "")
    counts: dict[str, list[int]] = {}
    for d in context.resolution.dependencies:
        if d.dependency == "hl7.fhir.r4.core":
            continue
        slot = 2 if d.used is None else 0 if d.exact else 1
        counts.setdefault(d.package, [0, 0, 0])[slot] += 1
    for p in sorted(context.packages, key=lambda p: p.name):
        exact, other, missing = counts.get(p.key, [0, 0, 0])
        table.add_row(
            p.name,
            p.version,
            p.origin,
            str(sum(1 for _ in p.conformance_resources())),
            str(len(p.examples)),
            f"[green]{exact}[/] / [yellow]{other}[/] / [red]{missing}[/]",
        )
    out.print(table)
    if args.warnings:
        for w in context.resolution.warnings:
            out.print(f"[yellow]![/] {w}", highlight=False)
    return 0


def install_package(args: argparse.Namespace) -> int:
    from socle.fhir.packages import PackageError, PackageStore

    settings = _settings(args)
    archive = Path(args.archive)
    if not archive.is_file():
        err.print(f"[red]No such file:[/] {archive}")
        return 2
    try:
        entry = PackageStore(settings.data_dir).install(archive)
    except PackageError as exc:
        err.print(f"[red]Not installed:[/] {exc}")
        return 1
    out.print(f"[green]Installed[/] {entry.name}@{entry.version} → {entry.path}")
    if not args.no_seed:
        report = _seed(settings, settings.tenant, [f"{entry.name}@{entry.version}"], force=True)
        for key, n in report.written.items():
            out.print(f"  {n} definitions of {key} loaded into tenant {settings.tenant}")
    return 0


def remove_package(args: argparse.Namespace) -> int:
    from socle.fhir.packages import PackageError, PackageStore
    from socle.fhir.packages.store import load_package, parse_spec

    settings = _settings(args)
    name, version = parse_spec(args.spec)
    store = PackageStore(settings.data_dir)
    candidates = [
        e
        for e in store.entries()
        if e.name == name and (version is None or e.version == version) and e.origin == "installed"
    ]
    packages = [load_package(e.path, e.origin) for e in candidates]
    try:
        removed = store.remove(name, version)
    except PackageError as exc:
        err.print(f"[red]Not removed:[/] {exc}")
        return 1
    engine = _engine(settings)
    try:
        from socle.fhir.packages.seed import unseed_package

        for entry, package in zip(removed, packages, strict=False):
            n = unseed_package(engine, settings.tenant, package)
            out.print(
                f"[green]Removed[/] {entry.name}@{entry.version} ({n} definitions deleted "
                f"from tenant {settings.tenant})"
            )
    finally:
        engine.close()
    return 0


def seed_command(args: argparse.Namespace) -> int:
    settings = _settings(args)
    tenant = args.tenant or settings.tenant
    report = _seed(settings, tenant, None, force=args.force)
    for key, n in report.written.items():
        out.print(f"[green]Loaded[/] {n} definitions of {key} into tenant {tenant}")
    for key in report.skipped:
        out.print(f"  {key}: up to date")
    return 0


def _engine(settings):  # noqa: ANN001, ANN202
    from socle.cli.commands import _migrate
    from socle.fhir.engine import FhirEngine

    _migrate(settings)
    return FhirEngine(settings)


def _seed(settings, tenant: str, keys: list[str] | None, *, force: bool):  # noqa: ANN001, ANN202
    from socle.fhir.packages.seed import seed_packages

    engine = _engine(settings)
    try:
        packages = engine.validation.context.non_core_packages()
        if keys is not None:
            packages = [p for p in packages if p.key in keys]
        return seed_packages(engine, tenant, packages, force=force)
    finally:
        engine.close()
