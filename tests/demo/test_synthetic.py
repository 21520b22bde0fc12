"""The scalable synthetic generator: streaming, deterministic, well-formed, sized as asked."""

from __future__ import annotations

import statistics
import time
import types
from collections import Counter
from pathlib import Path

import orjson
import pytest

from socle.demo.identifiers import is_valid_nir
from socle.demo.synthetic import (
    POOL_ORGANIZATIONS,
    POOL_PRACTITIONERS,
    _birth_facts,
    count_by_type,
    count_resources,
    reference_pool_ids,
    synthetic_bundles,
    synthetic_patient_bundle,
    synthetic_reference_bundle,
    write_bundles,
    write_ndjson,
)
from tests.demo.bundle_checks import identifier_keys, references, resources, unresolved
from tests.demo.fhir_shape import check_resource, find_empty


@pytest.fixture(scope="module")
def sample() -> list[dict]:
    return list(synthetic_bundles(150, seed=3))


def test_is_a_lazy_iterator() -> None:
    stream = synthetic_bundles(10**9)
    assert isinstance(stream, types.GeneratorType)
    assert next(stream)["entry"][0]["request"]["method"] == "PUT"  # the pool comes first
    assert next(stream)["entry"][0]["resource"]["resourceType"] == "Patient"


def test_deterministic_and_prefix_stable() -> None:
    small = orjson.dumps(list(synthetic_bundles(5, seed=9)))
    assert small == orjson.dumps(list(synthetic_bundles(5, seed=9)))
    assert orjson.dumps(list(synthetic_bundles(8, seed=9))[:6]) == small
    assert orjson.dumps(list(synthetic_bundles(5, seed=10))) != small


def test_random_access_matches_the_stream() -> None:
    streamed = list(synthetic_bundles(4, seed=2, include_reference=False))
    assert orjson.dumps(synthetic_patient_bundle(3, seed=2)) == orjson.dumps(streamed[3])


def test_reference_bundle_puts_client_ids() -> None:
    bundle = synthetic_reference_bundle(4)
    assert bundle["type"] == "transaction"
    counts = Counter(r["resourceType"] for r in resources(bundle))
    assert counts == {
        "Organization": POOL_ORGANIZATIONS,
        "Practitioner": POOL_PRACTITIONERS,
        "PractitionerRole": POOL_PRACTITIONERS,
    }
    for entry in bundle["entry"]:
        resource = entry["resource"]
        assert entry["request"] == {
            "method": "PUT",
            "url": f"{resource['resourceType']}/{resource['id']}",
        }
        assert resource["id"].startswith("syn4-")
    assert unresolved(bundle, reference_pool_ids(4)) == []
    # callers get fresh objects: mutating one does not leak into the next call
    bundle["entry"].clear()
    assert synthetic_reference_bundle(4)["entry"]


def test_references_resolve_to_the_bundle_or_the_pool(sample: list[dict]) -> None:
    pool = reference_pool_ids(3)
    pool_hits = 0
    for bundle in sample:
        assert unresolved(bundle, pool) == []
        pool_hits += sum(r in pool for r in references(bundle))
    assert pool_hits > 0


def test_well_formed_and_nothing_empty(sample: list[dict]) -> None:
    for bundle in sample:
        assert check_resource(bundle) == []
        assert find_empty(bundle) == []


def test_patient_bundles_are_posts_with_urn_uuids(sample: list[dict]) -> None:
    for bundle in sample[1:]:
        assert bundle["type"] == "transaction"
        urls = [e["fullUrl"] for e in bundle["entry"]]
        assert len(set(urls)) == len(urls)
        for entry in bundle["entry"]:
            assert entry["fullUrl"].startswith("urn:uuid:")
            assert entry["request"] == {
                "method": "POST",
                "url": entry["resource"]["resourceType"],
            }


def test_content_mix(sample: list[dict]) -> None:
    counts = count_by_type(sample[1:])
    assert counts["Patient"] == 150
    for rtype in ("Encounter", "Observation", "Condition", "MedicationRequest"):
        assert counts[rtype] > 0
    assert counts["DocumentReference"] > 0
    assert counts["Observation"] > counts["Encounter"]
    med = next(r for b in sample[1:] for r in resources(b, "MedicationRequest"))
    assert med["medicationCodeableConcept"]["coding"][0]["system"] == "http://www.whocc.no/atc"
    assert med["dosageInstruction"][0]["text"]
    assert med["requester"]["reference"].startswith("Practitioner/")


@pytest.mark.parametrize("hint", [20, 50])
def test_bundle_size_follows_the_hint(hint: int) -> None:
    sizes = [
        len(b["entry"])
        for b in synthetic_bundles(
            600, seed=5, resources_per_bundle_hint=hint, include_reference=False
        )
    ]
    assert abs(statistics.mean(sizes) - hint) <= 0.15 * hint
    assert min(sizes) >= 5


def test_counting_helpers(sample: list[dict]) -> None:
    total = count_resources(iter(sample))
    assert total == sum(len(b["entry"]) for b in sample)
    assert sum(count_by_type(sample).values()) == total


def test_ins_are_valid_and_unique() -> None:
    nirs = [
        r["identifier"][0]["value"]
        for b in synthetic_bundles(
            3000, seed=1, resources_per_bundle_hint=5, include_reference=False
        )
        for r in resources(b, "Patient")
    ]
    assert all(is_valid_nir(n) for n in nirs)
    assert len(set(nirs)) == len(nirs)


def test_birth_facts_are_a_bijection_of_the_index() -> None:
    facts = {_birth_facts(i, 1) for i in range(50_000)}
    assert len(facts) == 50_000


def test_identifiers_unique(sample: list[dict]) -> None:
    keys = Counter(k for b in sample for r in resources(b) for k in identifier_keys(r))
    assert [k for k, n in keys.items() if n > 1] == []


def test_fast_enough() -> None:
    start = time.perf_counter()
    produced = count_resources(synthetic_bundles(1000, seed=1))
    elapsed = time.perf_counter() - start
    assert produced > 15_000
    assert elapsed < 10, f"{produced} resources took {elapsed:.1f}s"  # ~0.15 s on a laptop


def test_write_bundles(tmp_path: Path) -> None:
    written = write_bundles(tmp_path / "out", 3, seed=2)
    files = sorted((tmp_path / "out").iterdir())
    assert written == len(files) == 4
    expected = list(synthetic_bundles(3, seed=2))
    assert [orjson.loads(f.read_bytes()) for f in files] == expected


def test_write_ndjson_resolves_references_by_id(tmp_path: Path) -> None:
    path = tmp_path / "data.ndjson"
    count = write_ndjson(path, 20, seed=6)
    lines = path.read_bytes().splitlines()
    assert count == len(lines) == count_resources(synthetic_bundles(20, seed=6))
    parsed = [orjson.loads(line) for line in lines]
    ids = {f"{r['resourceType']}/{r['id']}" for r in parsed}
    assert len(ids) == len(parsed)
    refs = [ref for r in parsed for ref in references(r)]
    assert refs and all(ref in ids for ref in refs)
    assert not any("urn:uuid" in ref for ref in refs)
