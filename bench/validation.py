"""Validation timings: `python -m bench.validation [--runs N]`.

Measures, after warm-up, the median time to validate a typical FR Core patient (the FR
Core INS example patient, with a valid NIR) structurally only, against its profile, and
through the whole service (structural + profile + French rules), plus the write-path
validator the engine runs after its own structural check. Figures go to
docs/validation.md; they are not asserted by tests.
"""

from __future__ import annotations

import argparse
import copy
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any


def _median_us(fn: Callable[[], Any], runs: int) -> float:
    for _ in range(max(50, runs // 10)):
        fn()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1e6


def typical_patient(service: Any) -> dict[str, Any]:
    from socle.demo.identifiers import make_nir

    for package, item in service.context.examples():
        if package.name == "hl7.fhir.fr.core" and item.filename.startswith("Patient-"):
            patient = item.parse()
            patient["identifier"][0]["value"] = make_nir("male", 1974, 12, "45", "234", 12)
            return patient
    raise LookupError("FR Core example patient not found")


def main(argv: list[str] | None = None) -> int:
    from socle.fhir.validation.service import ValidationService
    from socle.fr.plugin import plugin

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=2000)
    args = parser.parse_args(argv)

    service = ValidationService(data_dir=None)
    plugin.register_validation(service)
    patient = typical_patient(service)
    slim = copy.deepcopy(patient)
    slim.pop("text", None)
    assert not [i for i in service.validate(patient) if i.severity == "error"]
    rows = []
    for label, resource in (("FR Core INS patient", patient), ("same, without narrative", slim)):
        rows.append(
            (
                label,
                _median_us(lambda r=resource: service.structural.validate(r), args.runs),
                _median_us(lambda r=resource: service.validate_for_write(r), args.runs),
                _median_us(lambda r=resource: service.validate(r), args.runs),
            )
        )
    print(f"Python {platform.python_version()} on {platform.machine()}, {args.runs} runs")
    print("| resource | structural only | profile (write path) | $validate (all) |")
    print("|---|---|---|---|")
    for label, structural, write, full in rows:
        print(f"| {label} | {structural:.0f} µs | {write:.0f} µs | {full:.0f} µs |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
