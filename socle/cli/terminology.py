"""`socle terminology …`: load terminology files, list what is served, try the operations."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson


def add_parser(sub: Any, db_options: Callable[[argparse.ArgumentParser], None]) -> None:
    term = sub.add_parser("terminology", help="terminology server: load, list, expand, lookup")
    tsub = term.add_subparsers(dest="term_command", required=True)

    load = tsub.add_parser(
        "load",
        help="load CodeSystems/ValueSets/ConceptMaps (FHIR JSON/XML, NPM .tgz, SVS XML, "
        "CSV, OWL/RDF) into the FHIR store",
    )
    db_options(load)
    load.add_argument("paths", nargs="*", help="files or directories")
    load.add_argument(
        "--builtin",
        action="store_true",
        help="also store the terminology vendored with Socle (R4 core, v2/v3, FR Core, "
        "ANS, NOS, CI-SIS JDV) so that FHIR search finds it",
    )
    load.add_argument("--url", help="canonical url of a CSV/OWL code system")
    load.add_argument("--version", dest="cs_version", help="version of a CSV/OWL code system")
    load.add_argument("--name", help="name of a CSV code system")
    load.add_argument("--title", help="title of a CSV code system")
    load.add_argument("--language", default="fr", help="language of displays (default fr)")
    load.set_defaults(func=load_command)

    listing = tsub.add_parser("list", help="list the code systems, value sets and concept maps")
    db_options(listing)
    listing.add_argument("--type", choices=["CodeSystem", "ValueSet", "ConceptMap"])
    listing.add_argument("--contains", help="only canonicals containing this text")
    listing.set_defaults(func=list_command)

    exp = tsub.add_parser("expand", help="expand a value set (prints the ValueSet JSON)")
    db_options(exp)
    exp.add_argument("url")
    exp.add_argument("--filter")
    exp.add_argument("--count", type=int, default=20)
    exp.add_argument("--display-language")
    exp.set_defaults(func=expand_command)

    look = tsub.add_parser("lookup", help="look a code up in a code system")
    db_options(look)
    look.add_argument("system")
    look.add_argument("code")
    look.set_defaults(func=lookup_command)


def _engine(args: argparse.Namespace):  # noqa: ANN202
    from socle.cli.commands import _engine as make_engine
    from socle.cli.commands import settings_from
    from socle.terminology.plugin import service_for

    engine = make_engine(settings_from(args))
    return engine, service_for(engine)


def load_command(args: argparse.Namespace) -> int:
    from socle.cli.commands import _progress, console
    from socle.terminology.readers import ReadError, ReadOptions, read_path

    paths = [Path(p) for p in args.paths]
    missing = [p for p in paths if not p.exists()]
    if missing:
        console.print(f"[red]No such file or directory:[/] {missing[0]}")
        return 2
    if not paths and not args.builtin:
        console.print("[red]Nothing to load:[/] give files, directories or --builtin")
        return 2
    engine, svc = _engine(args)
    tenant = engine.settings.tenant
    options = ReadOptions(
        url=args.url,
        version=args.cs_version,
        name=args.name,
        title=args.title,
        language=args.language,
    )
    items: list[tuple[str, dict[str, Any]]] = []
    errors: list[str] = []
    started = time.perf_counter()
    with _progress() as progress:
        reading = progress.add_task("Reading", total=None)
        if args.builtin:
            for entry in svc.builtin().all():
                items.append((f"built-in {entry.source}: {entry.canonical}", entry.resource()))
            progress.update(reading, completed=len(items))

        def seen(n: int) -> None:
            progress.update(reading, description=f"Reading ({n} concepts)")

        for path in paths:
            try:
                for item in read_path(path, options, on_concept=seen):
                    items.append(item)
                    progress.update(reading, completed=len(items))
            except ReadError as exc:
                errors.append(str(exc))
        progress.update(reading, total=len(items), completed=len(items))
        from socle.terminology.codesystem import concept_count
        from socle.terminology.loading import TerminologyLoader

        weight = sum(max(concept_count(r), 1) for _w, r in items)
        task = progress.add_task("Loading", total=weight)
        loader = TerminologyLoader(engine, svc, tenant)
        report = loader.load(items, on_resource=lambda _w, n: progress.advance(task, max(n, 1)))
    elapsed = time.perf_counter() - started
    failed = report.failed + len(errors)
    console.print(
        f"Terminology: {report.created} created, {report.updated} updated, "
        f"{report.unchanged} unchanged, [{'red' if failed else 'green'}]{failed} failed[/] "
        f"({report.concepts} concepts, {elapsed:.1f} s)"
    )
    for line in errors + report.errors:
        console.print(f"  [red]x[/] {line}", soft_wrap=True, highlight=False)
    return 1 if failed else 0


def list_command(args: argparse.Namespace) -> int:
    _engine_, svc = _engine(args)
    kinds = [args.type] if args.type else ["CodeSystem", "ValueSet", "ConceptMap"]
    for kind in kinds:
        for entry in sorted(svc.entries(kind), key=lambda e: (e.url, e.version or "")):
            if args.contains and args.contains.lower() not in entry.canonical.lower():
                continue
            print(f"{kind}\t{entry.canonical}\t{entry.source}\t{entry.title or entry.name or ''}")
    return 0


def expand_command(args: argparse.Namespace) -> int:
    from socle.fhir.errors import FhirError

    engine, svc = _engine(args)
    try:
        result = svc.expand(
            args.url,
            filter=args.filter,
            count=args.count,
            display_language=args.display_language,
            tenant=engine.settings.tenant,
        )
    except FhirError as exc:
        print(exc.issues[0].diagnostics, file=sys.stderr)
        return 1
    sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


def lookup_command(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from socle.fhir.errors import FhirError

    engine, svc = _engine(args)
    try:
        found = svc.lookup(args.system, args.code, tenant=engine.settings.tenant)
    except FhirError as exc:
        print(exc.issues[0].diagnostics, file=sys.stderr)
        return 1
    sys.stdout.write(orjson.dumps(asdict(found), option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0
