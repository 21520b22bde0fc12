"""`socle validate FILE… [--profile URL] [--format text|json]`: offline validation.

Each file is a JSON resource (a Bundle is validated as a whole) or NDJSON (one resource
per line). Validation is what `$validate` does — structural checks, the declared and
requested profiles (or the base definition), the French rules — without any database.
Exit status: 0 when no file has an error, 1 otherwise, 2 when a file cannot be read.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from socle.fhir.errors import Issue, operation_outcome

_STYLE = {"fatal": "bold red", "error": "red", "warning": "yellow", "information": "cyan"}


def add_commands(sub: argparse._SubParsersAction, db_options: Callable) -> None:
    validate = sub.add_parser("validate", help="validate FHIR resources offline")
    validate.add_argument("files", nargs="+", help="JSON or NDJSON files")
    validate.add_argument(
        "--profile",
        action="append",
        default=[],
        help="canonical URL of a profile to validate against (repeatable)",
    )
    validate.add_argument("--format", choices=["text", "json"], default="text")
    validate.add_argument(
        "--data-dir", help="data directory holding installed packages (SOCLE_DATA_DIR)"
    )
    validate.add_argument(
        "--warnings", action="store_true", help="also list information-level issues"
    )
    validate.set_defaults(func=run)


def build_service(data_dir: Path | None):  # noqa: ANN201
    """A standalone validation service with the plugins' validation rules."""
    from socle.fhir.validation.policy import ValidationPolicy
    from socle.fhir.validation.service import ValidationService

    service = ValidationService(data_dir=data_dir, policy=ValidationPolicy.from_env())
    for ep in entry_points(group="socle.plugins"):
        try:
            plugin = ep.load()
        except Exception:  # noqa: BLE001 - a broken plugin must not stop offline validation
            continue
        hook = getattr(plugin, "register_validation", None)
        if callable(hook):
            hook(service)
    return service


def _items(path: Path) -> Iterator[tuple[str, Any]]:
    """(label, parsed JSON or an Exception) for each resource of a file."""
    raw = path.read_bytes()
    if path.suffix == ".ndjson":
        for n, line in enumerate(raw.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                yield f"{path}:{n}", orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                yield f"{path}:{n}", exc
        return
    try:
        yield str(path), orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        yield str(path), exc


def run(args: argparse.Namespace) -> int:
    import os

    data_dir = Path(args.data_dir or os.environ.get("SOCLE_DATA_DIR", "var"))
    paths = [Path(f) for f in args.files]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        Console(stderr=True).print(f"[red]No such file:[/] {', '.join(map(str, missing))}")
        return 2
    service = build_service(data_dir)
    results = []
    for path in paths:
        for label, data in _items(path):
            if isinstance(data, Exception):
                issues = [Issue("fatal", "structure", f"Not valid JSON: {data}", [])]
                ref = "?"
            else:
                issues = service.validate(data, args.profile)
                ref = _reference(data)
            results.append((label, ref, issues))
    errors = sum(_count(i, ("error", "fatal")) for _, _, i in results)
    warnings = sum(_count(i, ("warning",)) for _, _, i in results)
    if args.format == "json":
        payload = {
            "errors": errors,
            "warnings": warnings,
            "results": [
                {
                    "file": label,
                    "resource": ref,
                    "valid": _count(issues, ("error", "fatal")) == 0,
                    "outcome": operation_outcome(issues),
                }
                for label, ref, issues in results
            ],
        }
        sys.stdout.write(orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        _print_text(results, errors, warnings, show_info=args.warnings)
    return 1 if errors else 0


def _reference(data: Any) -> str:
    if not isinstance(data, dict):
        return "?"
    rt, rid = data.get("resourceType"), data.get("id")
    return f"{rt}/{rid}" if rid else str(rt)


def _count(issues: list[Issue], severities: tuple[str, ...]) -> int:
    return sum(1 for i in issues if i.severity in severities)


def _print_text(results: list, errors: int, warnings: int, *, show_info: bool) -> None:
    console = Console()
    for label, ref, issues in results:
        n_err = _count(issues, ("error", "fatal"))
        n_warn = _count(issues, ("warning",))
        status = "[red]INVALID[/]" if n_err else "[green]valid[/]"
        console.print(
            f"{status} {label} ({ref}): {n_err} error(s), {n_warn} warning(s)", highlight=False
        )
        shown = [i for i in issues if show_info or i.severity != "information"]
        if not shown:
            continue
        table = Table(show_header=True, header_style="bold", expand=False, show_lines=False)
        table.add_column("severity")
        table.add_column("location", overflow="fold")
        table.add_column("message", overflow="fold")
        for i in shown:
            style = _STYLE.get(i.severity, "")
            table.add_row(
                f"[{style}]{i.severity}[/]",
                ", ".join(i.expression),
                i.diagnostics,
            )
        console.print(table)
    colour = "red" if errors else "green"
    console.print(
        f"[{colour}]{len(results)} resource(s): {errors} error(s), {warnings} warning(s)[/]"
    )
