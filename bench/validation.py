"""Validation benchmarks: `python -m bench.validation [--runs N] [--count N] [--write]`.

Two measurements, each compared in the same run with structural-only validation:

* the median time to validate a typical FR Core patient after warm-up (the FR Core INS
  example patient, with a valid NIR): structural only, the write path's profile check,
  and `$validate` (structural + profile + French rules);
* the throughput over 10,000 mixed resources generated with a fixed seed (synthetic
  French records, never real people: patients, practitioners, roles, organizations,
  encounters, observations, conditions, prescriptions, documents). Most declare a FR Core
  or ANS profile in `meta.profile`, the others are plain; each resource is validated
  structurally only, then fully (structural + declared profiles, or the base definition
  of its type when none, + French rules), in alternating rounds.

`make bench` runs it (`python -m bench.run --only validation` alone) and writes the
"## Validation" section of docs/benchmarks.md. Nothing here is asserted by tests.
"""

from __future__ import annotations

import argparse
import copy
import gc
import os
import platform
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.common import MarkedSection

Json = dict[str, Any]
SECTION = MarkedSection("validation")
FR = "https://hl7.fr/ig/fhir/core/StructureDefinition/"
AS = "https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/"
PDSM = "https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/"
# LOINC code of a vital sign -> the FR Core profile for it
VITALS = {
    "29463-7": "fr-core-observation-body-weight",
    "8302-2": "fr-core-observation-body-height",
    "39156-5": "fr-core-observation-bmi",
    "85354-9": "fr-core-observation-bp",
    "8867-4": "fr-core-observation-heartrate",
    "9279-1": "fr-core-observation-resp-rate",
    "8310-5": "fr-core-observation-body-temperature",
    "2708-6": "fr-core-observation-saturation-oxygen",
    "59408-5": "fr-core-observation-saturation-oxygen",
    "9843-4": "fr-core-observation-head-circum",
}


# -- the typical FR Core patient -----------------------------------------------------------


def _median_us(fn: Callable[[], Any], runs: int) -> float:
    for _ in range(max(50, runs // 10)):
        fn()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1e6


def _cpu_us(fn: Callable[[], Any], runs: int) -> float:
    """CPU time of this process per call, over `runs` calls (less sensitive to noise)."""
    started = time.process_time()
    for _ in range(runs):
        fn()
    return (time.process_time() - started) / runs * 1e6


def typical_patient(service: Any) -> Json:
    """The FR Core INS example patient with a valid NIR (the example's key is wrong)."""
    from socle.demo.identifiers import make_nir

    for package, item in service.context.examples():
        if package.name == "hl7.fhir.fr.core" and item.filename.startswith("Patient-"):
            patient = item.parse()
            patient["identifier"][0]["value"] = make_nir("male", 1974, 12, "45", "234", 12)
            return patient
    raise LookupError("FR Core example patient not found")


def patient_medians(service: Any, runs: int) -> list[Json]:
    """Median µs per validation of the typical patient, with and without narrative."""
    patient = typical_patient(service)
    slim = copy.deepcopy(patient)
    slim.pop("text", None)
    if [i for i in service.validate(patient) if i.severity == "error"]:
        raise AssertionError("the typical FR Core patient does not validate")
    rows = []
    for label, r in (("FR Core INS patient", patient), ("same, without narrative", slim)):
        rows.append(
            {
                "resource": label,
                "structural_us": _median_us(lambda r=r: service.structural.validate(r), runs),
                "write_us": _median_us(lambda r=r: service.validate_for_write(r), runs),
                "full_us": _median_us(lambda r=r: service.validate(r), runs),
                "write_cpu_us": _cpu_us(lambda r=r: service.validate_for_write(r), runs),
                "structural_cpu_us": _cpu_us(lambda r=r: service.structural.validate(r), runs),
            }
        )
    return rows


# -- 10,000 mixed resources ----------------------------------------------------------------


def _profile_for(resource: Json) -> str | None:
    """The FR Core / ANS profile a synthetic resource of this kind is written for."""
    from socle.ins.nir import INS_SYSTEMS

    rt = resource.get("resourceType")
    if rt == "Patient":
        ins = any(i.get("system") in INS_SYSTEMS for i in resource.get("identifier") or ())
        return FR + ("fr-core-patient-ins" if ins else "fr-core-patient")
    if rt == "Observation":
        for coding in (resource.get("code") or {}).get("coding") or ():
            if coding.get("code") in VITALS:
                return FR + VITALS[coding["code"]]
        return None
    return {
        "Practitioner": AS + "as-practitioner",
        "PractitionerRole": FR + "fr-core-practitioner-role",
        "Organization": AS + "as-organization",
        "Encounter": FR + "fr-core-encounter",
        "DocumentReference": PDSM + "pdsm-simplified-publish",
    }.get(rt)


def _as_pdsm(doc: Json, number: int) -> None:
    """PDSm simplified publish wants a masterIdentifier (an OID here) and no docStatus."""
    doc.pop("docStatus", None)
    oid = f"urn:oid:1.2.250.1.999.{number}"
    doc["masterIdentifier"] = {"system": "urn:ietf:rfc:3986", "value": oid}


def _synthetic_resources(seed: int) -> Iterator[Json]:
    from socle.demo.synthetic import synthetic_bundles

    for bundle in synthetic_bundles(1_000_000, seed=seed):
        for entry in bundle.get("entry") or ():
            yield entry["resource"]


def mixed_resources(count: int = 10_000, seed: int = 1, plain_share: float = 0.2) -> list[Json]:
    """`count` synthetic resources; those with a matching profile declare it, except a
    random `plain_share` of them (same seed, same list)."""
    rng = random.Random(f"socle-bench-validation:{seed}")
    out: list[Json] = []
    for resource in _synthetic_resources(seed):
        resource = copy.deepcopy(resource)
        resource.setdefault("id", f"r{len(out)}")
        profile = _profile_for(resource)
        if profile is not None and rng.random() >= plain_share:
            if resource["resourceType"] == "DocumentReference":
                _as_pdsm(resource, len(out))
            resource.setdefault("meta", {})["profile"] = [profile]
        out.append(resource)
        if len(out) >= count:
            break
    return out


def _timed(fn: Callable[[Json], Any], resources: list[Json]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) for one pass over `resources`."""
    gc.collect()
    started, cpu = time.perf_counter(), time.process_time()
    for resource in resources:
        fn(resource)
    return time.perf_counter() - started, time.process_time() - cpu


def throughput(service: Any, resources: list[Json], rounds: int) -> Json:
    """Resources/s of structural-only, write-path and full validation, in alternating
    rounds: the best round's wall time (the least disturbed by other processes) and the
    median CPU time per resource, which the machine's noise affects much less."""
    for resource in resources[:500]:  # warm-up: compile the profiles, fill the caches
        service.validate(resource)
    kinds: dict[str, Callable[[Json], Any]] = {
        "structural": service.structural.validate,
        "write": lambda r: (service.structural.validate(r), service.validate_for_write(r)),
        "full": service.validate,
    }
    seconds: dict[str, list[tuple[float, float]]] = {k: [] for k in kinds}
    for _ in range(rounds):
        for kind, fn in kinds.items():
            seconds[kind].append(_timed(fn, resources))
    with_errors = Counter()
    for resource in resources:
        if any(i.severity in ("error", "fatal") for i in service.validate(resource)):
            with_errors[resource["resourceType"]] += 1
    declared = Counter(
        (r.get("meta") or {}).get("profile", ["(plain)"])[0].rsplit("/", 1)[-1] for r in resources
    )
    out: Json = {
        "resources": len(resources),
        "rounds": rounds,
        "types": dict(Counter(r["resourceType"] for r in resources).most_common()),
        "profiles": dict(declared.most_common()),
        "with_errors": dict(with_errors),
    }
    for kind, values in seconds.items():
        best = min(wall for wall, _ in values)
        cpu = statistics.median(c for _, c in values)
        out[kind] = {
            "seconds": best,
            "per_s": len(resources) / best,
            "cpu_us": cpu / len(resources) * 1e6,
            "all": values,
        }
    return out


# -- report --------------------------------------------------------------------------------


def run(runs: int = 2000, count: int = 10_000, seed: int = 1, rounds: int = 5) -> Json:
    from socle.fhir.validation.service import ValidationService
    from socle.fr.plugin import plugin

    service = ValidationService(data_dir=None)
    plugin.register_validation(service)
    load_start = os.getloadavg()
    started = time.perf_counter()
    resources = mixed_resources(count, seed)
    generated = time.perf_counter() - started
    patient = patient_medians(service, runs)
    mixed = throughput(service, resources, rounds)
    return {
        "date": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "runs": runs,
        "seed": seed,
        "generation_s": generated,
        "patient": patient,
        "mixed": mixed,
        "load": [round(x, 2) for x in (*load_start[:1], os.getloadavg()[0])],
    }


def render(results: Json) -> str:
    """Markdown of the section: both measurements with their structural baseline."""
    mixed = results["mixed"]
    s, w, f = mixed["structural"], mixed["write"], mixed["full"]
    lines = [
        "## Validation",
        "",
        f"Written by `python -m bench.run --only validation` (`python -m bench.validation`) "
        f"on {results['date']} UTC, Python {results['python']} on {results['machine']}, one "
        "process (same noisy machine as above: compare the ratios, which come from the same "
        "run, rather than the absolute figures). Load average (1 min) at start / end: "
        f"{results['load'][0]} / {results['load'][1]} on 2 cores.",
        "",
        f"### Typical FR Core patient (median of {results['runs']:,} runs after warm-up)",
        "",
        "| resource | structural only | **profile (write path)** | `$validate` (all) | "
        "`$validate` / structural | CPU: structural / profile |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in results["patient"]:
        lines.append(
            f"| {row['resource']} | {row['structural_us']:.0f} µs | **{row['write_us']:.0f} µs** "
            f"| {row['full_us']:.0f} µs | ×{row['full_us'] / row['structural_us']:.1f} | "
            f"{row['structural_cpu_us']:.0f} / {row['write_cpu_us']:.0f} µs |"
        )
    errors = sum(mixed["with_errors"].values())
    plain = mixed["profiles"].get("(plain)", 0)
    lines += [
        "",
        "Target: ≤ 1 ms for the profile validation of a typical FR Core patient.",
        "",
        f"### Throughput over {mixed['resources']:,} mixed resources "
        f"({mixed['rounds']} round{'s' if mixed['rounds'] > 1 else ''} of each kind, "
        "alternating)",
        "",
        "| validation | best round, s | **resources/s** | CPU µs / resource (median) | "
        "CPU vs structural |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, m in (
        ("structural only (baseline)", s),
        ("write path: structural + declared profiles", w),
        ("full (`$validate`): structural + profiles or base definition + French rules", f),
    ):
        lines.append(
            f"| {label} | {m['seconds']:.2f} | **{m['per_s']:,.0f}** | {m['cpu_us']:.0f} | "
            f"×{m['cpu_us'] / s['cpu_us']:.1f} |"
        )
    types = ", ".join(f"{t} {n:,}" for t, n in mixed["types"].items())
    profiles = ", ".join(f"`{p}` {n:,}" for p, n in mixed["profiles"].items() if p != "(plain)")
    lines += [
        "",
        f"Data: `bench.validation.mixed_resources(seed={results['seed']})`, the first "
        f"{mixed['resources']:,} resources of the synthetic French records (never real "
        f"people): {types}. {mixed['resources'] - plain:,} declare a profile in "
        f"`meta.profile` ({profiles}); {plain:,} are plain (their type has no profile here, "
        "or 20% drawn at random), which the full validation checks against the base "
        f"definition of their type. Resources with errors in the full validation: {errors:,}.",
        "",
        "The write path is what a `POST`/`PUT` pays for validation: the kernel's structural "
        "check, plus the declared profiles (a plain resource adds nothing). `$validate` "
        "also checks plain resources against the base definition of their type (core "
        "invariants and bindings).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=2000, help="runs for the patient median")
    parser.add_argument("--count", type=int, default=10_000, help="mixed resources")
    parser.add_argument("--rounds", type=int, default=5, help="rounds over the mixed set")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--write", type=Path, default=None, help="write the section here")
    args = parser.parse_args(argv)
    results = run(args.runs, args.count, args.seed, args.rounds)
    section = render(results)
    print(section)
    if args.write is not None:
        SECTION.write(args.write, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
