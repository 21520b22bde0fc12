"""Snapshot generation from differentials, checked against the published FR Core snapshots."""

from __future__ import annotations

import copy
import json

import pytest

from socle.fhir.packages.context import ConformanceContext
from socle.fhir.validation.profile import ProfileValidator
from socle.fhir.validation.snapshot import SnapshotError, generate_snapshot
from tests.fhir.validation.support import AS_DP_PRACTITIONER, broken_variants, errors, service

# Known differences with the IG publisher, documented in docs/validation.md.
NOT_REPRODUCED = {
    "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient",
    "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient-ins",
}


def _facts(el: dict) -> tuple:
    binding = el.get("binding") or {}
    return (
        el.get("min"),
        el.get("max"),
        sorted(
            (k, json.dumps(v, sort_keys=True))
            for k, v in el.items()
            if k.startswith(("fixed", "pattern")) and k != "patternCanonical"
        ),
        (binding.get("valueSet") or "").split("|")[0],
        binding.get("strength"),
        [t.get("code") for t in el.get("type") or ()],
        el.get("sliceName"),
    )


def _fr_core_profiles() -> list[str]:
    """FR Core profiles whose base is available (all of them since the R4 vital-signs
    profiles are vendored)."""
    ctx = service().context
    return sorted(
        r.url
        for p, r in ctx.conformance_resources()
        if p.name == "hl7.fhir.fr.core"
        and r.resource_type == "StructureDefinition"
        and r.meta.get("derivation") == "constraint"
        and r.url not in NOT_REPRODUCED
        and ctx.structure_definition(r.meta["baseDefinition"]) is not None
    )


def test_generated_snapshots_match_the_published_ones() -> None:
    validator = service().validator
    urls = _fr_core_profiles()
    assert len(urls) == 62
    for url in urls:
        sd = service().context.structure_definition(url)
        generated = {e["id"]: e for e in generate_snapshot(sd, validator._sd_for)}
        for published in sd["snapshot"]["element"]:
            assert published["id"] in generated, (url, published["id"])
            mine, theirs = _facts(generated[published["id"]]), _facts(published)
            if _vital_component_value(published["id"], mine, theirs):
                continue
            assert mine == theirs, (url, published["id"])


def _vital_component_value(element_id: str, mine: tuple, theirs: tuple) -> bool:
    """The one known difference of the vital-signs profiles: the R4 4.0.1 build binds
    `Observation.component.value[x]` to ucum-vitals-common as *required*, the base FR Core
    was published against says *extensible* (validation uses FR Core's own snapshot)."""
    return (
        element_id.startswith("Observation.component")
        and element_id.endswith(".value[x]")
        and mine[4] == "required"
        and theirs[4] == "extensible"
        and mine[:4] + mine[5:] == theirs[:4] + theirs[5:]
    )


def test_a_profile_without_snapshot_validates_like_the_published_one() -> None:
    ctx = ConformanceContext(service().context.packages)
    dp = copy.deepcopy(ctx.structure_definition(AS_DP_PRACTITIONER))
    del dp["snapshot"]
    dp["url"] = "https://example.org/StructureDefinition/dp-no-snapshot"
    ctx.add(dp)
    validator = ProfileValidator(ctx)
    resource, location, message = broken_variants()["closed-slice"]
    del resource["meta"]
    found = errors(validator.validate(resource, [dp["url"]]))
    assert found == [(location, message.replace(AS_DP_PRACTITIONER, dp["url"]))]


def test_differential_only_profile_with_slices_and_choice_shorthand() -> None:
    ctx = ConformanceContext(service().context.packages)
    url = "https://example.org/StructureDefinition/weighed"
    ctx.add(
        {
            "resourceType": "StructureDefinition",
            "url": url,
            "name": "Weighed",
            "status": "active",
            "kind": "resource",
            "abstract": False,
            "type": "Observation",
            "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Observation",
            "derivation": "constraint",
            "differential": {
                "element": [
                    {"id": "Observation", "path": "Observation"},
                    {
                        "id": "Observation.identifier",
                        "path": "Observation.identifier",
                        "slicing": {
                            "discriminator": [{"type": "value", "path": "system"}],
                            "rules": "closed",
                        },
                    },
                    {
                        "id": "Observation.identifier:lab",
                        "path": "Observation.identifier",
                        "sliceName": "lab",
                        "min": 1,
                        "max": "1",
                    },
                    {
                        "id": "Observation.identifier:lab.system",
                        "path": "Observation.identifier.system",
                        "min": 1,
                        "fixedUri": "urn:oid:1.2.3",
                    },
                    {
                        "path": "Observation.valueQuantity",
                        "min": 1,
                    },
                    {
                        "id": "Observation.value[x].unit",
                        "path": "Observation.value[x].unit",
                        "fixedString": "kg",
                    },
                ]
            },
        }
    )
    validator = ProfileValidator(ctx)
    good = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "weight"},
        "identifier": [{"system": "urn:oid:1.2.3", "value": "1"}],
        "valueQuantity": {"value": 70, "unit": "kg"},
    }
    assert errors(validator.validate(good, [url])) == []
    bad = copy.deepcopy(good)
    bad["identifier"].append({"system": "urn:oid:9.9", "value": "2"})
    bad["valueQuantity"]["unit"] = "lb"
    assert errors(validator.validate(bad, [url])) == [
        (
            "Observation.identifier[1]",
            "Observation.identifier[1]: does not match any slice of Observation.identifier "
            f"(closed slicing, from {url})",
        ),
        (
            "Observation.value.ofType(Quantity).unit",
            "Observation.value.ofType(Quantity).unit: value 'lb' does not equal the fixed "
            f"value 'kg' (from {url})",
        ),
    ]
    string_value = {**good, "valueString": "70 kg"}
    del string_value["valueQuantity"]
    assert (
        "Observation.value.ofType(string)",
        "Observation.value.ofType(string): type string is not allowed here by "
        f"{url} (allowed: Quantity)",
    ) in errors(validator.validate(string_value, [url]))


def test_snapshot_errors() -> None:
    validator = service().validator
    with pytest.raises(SnapshotError, match="no baseDefinition"):
        generate_snapshot({"url": "x"}, validator._sd_for)
    with pytest.raises(SnapshotError, match="not available"):
        generate_snapshot({"url": "x", "baseDefinition": "https://nowhere/x"}, validator._sd_for)
    sd = {
        "url": "x",
        "type": "Patient",
        "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Patient",
        "differential": {"element": [{"id": "Patient.nope", "path": "Patient.nope"}]},
    }
    with pytest.raises(SnapshotError, match="does not exist"):
        generate_snapshot(sd, validator._sd_for)
