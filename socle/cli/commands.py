"""Implementations of the CLI sub-commands."""

from __future__ import annotations

import argparse
import ipaddress
import os
import signal
import sys
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from socle.config import Settings, load_settings

console = Console(stderr=True)


def settings_from(args: argparse.Namespace) -> Settings:
    """Environment first, then CLI flags; exported back so worker processes agree."""
    settings = load_settings().with_overrides(
        database_url=getattr(args, "database", None),
        data_dir=Path(args.data_dir) if getattr(args, "data_dir", None) else None,
    )
    os.environ["SOCLE_DATA_DIR"] = str(settings.data_dir)
    if settings.database_url:
        os.environ["SOCLE_DATABASE_URL"] = settings.database_url
    return settings


def _engine(settings: Settings):
    from socle.fhir.engine import FhirEngine

    _migrate(settings)
    engine = FhirEngine(settings)
    engine.load_plugins()
    return engine


def _migrate(settings: Settings) -> None:
    from socle.fhir.storage.database import create_db_engine
    from socle.fhir.storage.migrate import migrate as run_migrations

    engine = create_db_engine(settings.effective_database_url, pool_size=1)
    try:
        run_migrations(engine)
    finally:
        engine.dispose()


def migrate(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    _migrate(settings)
    console.print(f"[green]Schema is up to date[/] ({_safe_url(settings)})")
    return 0


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = settings_from(args)
    if args.auth == "none":
        if not _loopback(args.host):
            console.print(
                f"[red]Refusing to serve on {args.host} without authentication.[/] "
                "--auth none is only allowed on a loopback address (127.0.0.1, ::1, localhost)."
            )
            return 2
        os.environ["SOCLE_AUTH"] = "none"
        console.print(
            "[bold yellow]WARNING: authentication is disabled (--auth none); "
            "every request is trusted. Loopback development use only.[/]"
        )
    else:
        from socle.cli.security import prepare_oidc

        refused = prepare_oidc(args, settings)
        if refused:
            return refused
    _migrate(settings)
    workers = args.workers or os.cpu_count() or 1
    _prepare_metrics_dir(settings)
    console.print(f"Socle on http://{args.host}:{args.port}/fhir ({workers} workers)")
    from socle.observability import configure_logging

    configure_logging(settings.log_level)
    from socle.cli.ins import start_beside_server

    mllp = start_beside_server(args)
    if isinstance(mllp, int):
        return mllp
    if mllp is not None:
        # uvicorn shuts down on SIGTERM, then raises it again with the handler it found:
        # make that an exit, so that the listener below stops cleanly too
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        uvicorn.run(
            "socle.server:app_factory",
            log_config=None,
            factory=True,
            host=args.host,
            port=args.port,
            workers=workers,
            log_level=settings.log_level,
            access_log=False,
        )
    finally:
        if mllp is not None:
            mllp.stop()
            mllp.engine.close()
    return 0


def _prepare_metrics_dir(settings: Settings) -> None:
    """Workers share Prometheus metrics through files; start each server with a clean slate."""
    import shutil

    path = settings.data_dir / "metrics"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path.resolve())


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load(args: argparse.Namespace) -> int:
    from socle.fhir.loader import count_items, discover

    settings = settings_from(args)
    try:
        files = discover(args.paths)
    except FileNotFoundError as exc:
        console.print(f"[red]No such file or directory:[/] {exc}")
        return 2
    engine = _engine(settings)
    report = _run_loader(engine, files, count_items(files))
    engine.store.analyze()
    console.print(
        f"Loaded {report.resources} resources from {report.items} items; "
        f"[{'red' if report.failed else 'green'}]{report.failed} failed[/]"
    )
    for line in report.errors:
        console.print(f"  [red]x[/] {line}", soft_wrap=True, highlight=False)
    return 1 if report.failed else 0


def _run_loader(engine, files, total):  # noqa: ANN001
    from socle.fhir.context import RequestContext
    from socle.fhir.loader import Loader
    from socle.fhir.rest.interactions.transaction import bundle_processor

    ctx = RequestContext(tenant=engine.settings.tenant)
    loader = Loader(engine, bundle_processor(engine), ctx)
    with _progress() as progress:
        task = progress.add_task("Loading", total=total)
        return loader.load(files, on_item=lambda n: progress.advance(task, n))


def _progress() -> Progress:
    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not sys.stderr.isatty() and os.environ.get("SOCLE_PROGRESS") != "1",
    )


def demo(args: argparse.Namespace) -> int:
    from socle.demo.generator import demo_bundles

    settings = settings_from(args)
    engine = _engine(settings)
    if args.if_empty and _has_data(engine, settings):
        console.print("Database already holds data; demo not loaded.")
        return 0
    from socle.fhir.context import RequestContext
    from socle.fhir.rest.interactions.transaction import bundle_processor

    processor = bundle_processor(engine)
    ctx = RequestContext(tenant=settings.tenant)
    bundles = demo_bundles(seed=args.seed)
    done = 0
    with _progress() as progress:
        task = progress.add_task("Demo data", total=len(bundles))
        for bundle in bundles:
            result = processor.process(ctx, bundle, "minimal")
            done += len(result.get("entry", []))
            progress.advance(task)
    for loader in engine.demo_loaders:  # the services' own demo data (INSi registry…)
        said = loader(engine, settings.tenant, bundles, args.seed)
        if said:
            console.print(said)
    engine.store.analyze()
    console.print(f"[green]Demo data loaded:[/] {done} entries")
    return 0


def _has_data(engine, settings: Settings) -> bool:  # noqa: ANN001
    from sqlalchemy import select

    from socle.fhir.storage.schema import resource

    with engine.store.session(settings.tenant) as s:
        stmt = select(resource.c.pk).where(resource.c.tenant == settings.tenant).limit(1)
        return s.execute(stmt).first() is not None


def _safe_url(settings: Settings) -> str:
    from sqlalchemy.engine import make_url

    return make_url(settings.effective_database_url).render_as_string(hide_password=True)
