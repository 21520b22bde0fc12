"""The benchmark data: synthetic French patient records as transaction Bundles.

`socle.demo.synthetic` gives one transaction Bundle per patient (Patient, Encounters,
Observations, Conditions, MedicationRequests, DocumentReferences linked by urn:uuid) after
one reference Bundle that PUTs the shared Organizations, Practitioners and
PractitionerRoles. Bundles are serialised once, up front, so that the clients only send
bytes and the cost of generating data never counts in a measurement.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import orjson

from socle.demo.synthetic import synthetic_patient_bundle, synthetic_reference_bundle

INS_SYSTEM = "urn:oid:1.2.250.1.213.1.4.10"
_LOCAL_REF = re.compile(rb'"reference":"(urn:uuid:[0-9a-f-]{36})"')


@dataclass
class PatientKeys:
    """What the CRUD searches need from one patient bundle."""

    identifier: str  # "system|value" of the INS
    observation_code: str | None  # "system|code" of its first Observation


@dataclass
class Dataset:
    seed: int
    hint: int
    reference: bytes  # the reference pool Bundle (PUT with fixed ids)
    reference_count: int
    bundles: list[bytes]  # one transaction Bundle per patient
    counts: list[int]  # entries of each patient bundle
    keys: list[PatientKeys]
    by_type: Counter[str] = field(default_factory=Counter)

    @property
    def resources(self) -> int:
        return self.reference_count + sum(self.counts)

    def describe(self) -> dict:
        sizes = sorted(len(b) for b in self.bundles)
        counts = sorted(self.counts)
        return {
            "generator": "socle.demo.synthetic.synthetic_bundles",
            "seed": self.seed,
            "resources_per_bundle_hint": self.hint,
            "patients": len(self.bundles),
            "bundles": len(self.bundles) + 1,
            "resources": self.resources,
            "reference_bundle_resources": self.reference_count,
            "by_type": dict(self.by_type.most_common()),
            "entries_per_bundle": {
                "mean": round(sum(counts) / len(counts), 1),
                "min": counts[0],
                "median": counts[len(counts) // 2],
                "max": counts[-1],
            },
            "bundle_bytes": {
                "mean": round(sum(sizes) / len(sizes)),
                "max": sizes[-1],
            },
            "total_mb": round((sum(sizes) + len(self.reference)) / 1e6, 1),
        }


def build(resources: int, seed: int, hint: int, on_bundle=None) -> Dataset:  # noqa: ANN001
    """Patient bundles in order until the total (reference pool included) reaches `resources`."""
    reference = synthetic_reference_bundle(seed)
    by_type: Counter[str] = Counter(e["resource"]["resourceType"] for e in reference["entry"])
    data = Dataset(seed, hint, orjson.dumps(reference), len(reference["entry"]), [], [], [])
    data.by_type = by_type
    total = data.reference_count
    index = 0
    while total < resources:
        bundle = synthetic_patient_bundle(index, seed, hint)
        entries = bundle["entry"]
        data.bundles.append(orjson.dumps(bundle))
        data.counts.append(len(entries))
        data.keys.append(_keys(entries))
        by_type.update(e["resource"]["resourceType"] for e in entries)
        total += len(entries)
        index += 1
        if on_bundle:
            on_bundle(len(entries))
    return data


def _keys(entries: list[dict]) -> PatientKeys:
    patient = entries[0]["resource"]
    ins = next(
        (i for i in patient.get("identifier", ()) if i.get("system") == INS_SYSTEM),
        patient["identifier"][0],
    )
    code = None
    for entry in entries:
        res = entry["resource"]
        if res["resourceType"] == "Observation":
            coding = res["code"]["coding"][0]
            code = f"{coding['system']}|{coding['code']}"
            break
    return PatientKeys(f"{ins['system']}|{ins['value']}", code)


def relinked_resources(bundle: bytes, locations: list[str] | None = None) -> list[tuple[str, dict]]:
    """(`Type/id`, resource with its id) for each entry, urn:uuid references made `Type/id`.

    With `locations` (the server's answer, one `Type/id` per entry) the ids are the server's;
    without, the id is the uuid of the fullUrl (or the client-assigned id of a PUT).
    """
    parsed = orjson.loads(bundle)
    mapping: dict[bytes, bytes] = {}
    names: list[str] = []
    for n, entry in enumerate(parsed["entry"]):
        res = entry["resource"]
        if locations is not None:
            name = locations[n]
        elif entry["request"]["method"] == "PUT":
            name = entry["request"]["url"]
        else:
            name = f"{res['resourceType']}/{entry['fullUrl'].removeprefix('urn:uuid:')}"
        names.append(name)
        if "fullUrl" in entry:
            mapping[entry["fullUrl"].encode()] = name.encode()

    def relink(match: re.Match[bytes]) -> bytes:
        return b'"reference":"' + mapping.get(match[1], match[1]) + b'"'

    out = []
    for name, entry in zip(names, parsed["entry"], strict=True):
        raw = _LOCAL_REF.sub(relink, orjson.dumps(entry["resource"]))
        res = orjson.loads(raw)
        res_type, res_id = name.split("/", 1)
        out.append((name, {"resourceType": res_type, "id": res_id, **_without_type(res)}))
    return out


def _without_type(resource: dict) -> dict:
    return {k: v for k, v in resource.items() if k not in ("resourceType", "id")}
