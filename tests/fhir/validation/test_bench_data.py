"""The benchmark's mixed resources: same seed, same data; conformant; profiled and plain.

Not a timing test (timings live in bench/): it keeps the benchmark's data honest, since a
benchmark that validates broken resources would measure error paths.
"""

from __future__ import annotations

from collections import Counter

from bench.validation import mixed_resources
from tests.fhir.validation.support import errors, service


def test_mixed_resources_are_reproducible_and_conformant() -> None:
    first = mixed_resources(400, seed=3)
    assert first == mixed_resources(400, seed=3)
    assert first != mixed_resources(400, seed=4)
    declared = Counter(
        (r.get("meta") or {}).get("profile", ["plain"])[0].rsplit("/", 1)[-1] for r in first
    )
    assert declared["plain"] > 50 and len(declared) > 6
    assert {r["resourceType"] for r in first} >= {"Patient", "Observation", "Encounter"}
    assert [e for r in first for e in errors(service().validate(r))] == []
