"""The queries of the search benchmark, with their values drawn from the loaded data.

Values come from the generator itself: `socle.demo.synthetic` is deterministic, so the
Bundle of patient `i` can be rebuilt to learn its INS, names, birth date, codes and dates,
and the server id of the Patient is then looked up once by INS (not timed). Each query
template gets several instances (different patients…), cycled through while measuring,
so that the figures do not come from one lucky value.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from socle.demo.synthetic import synthetic_patient_bundle, synthetic_reference_bundle

INS = "urn:oid:1.2.250.1.213.1.4.10"
RPPS = "https://rpps.esante.gouv.fr"
LOINC = "http://loinc.org"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
UCUM = "http://unitsofmeasure.org"
WEIGHT, HEART_RATE, GLUCOSE, SYSTOLIC = "29463-7", "8867-4", "2339-0", "8480-6"


@dataclass
class Query:
    """One benchmark query: a template and its instances (query strings)."""

    name: str
    what: str  # what it stands for, in words
    instances: list[str] = field(default_factory=list)  # "Type?params" or "?params" (system)
    pages: int = 1  # >1: follow the next links that many pages deep (deep paging)

    def as_dict(self) -> dict:
        return {"name": self.name, "what": self.what, "pages": self.pages, "example": self.example}

    @property
    def example(self) -> str:
        return self.instances[0] if self.instances else ""


@dataclass
class Sample:
    """What the queries need to know about one loaded patient."""

    index: int
    ins: str
    family: str
    given: str
    birth: str
    observations: list[dict]
    documents: list[dict]
    conditions: list[dict]
    encounters: list[dict]
    id: str | None = None  # server id, resolved per backend


def samples(patients: int, seed: int, hint: int, count: int, rng_seed: int = 7) -> list[Sample]:
    """`count` patients drawn among the `patients` loaded, rebuilt from the generator."""
    rng = random.Random(rng_seed)
    out = []
    for index in sorted(rng.sample(range(patients), min(count, patients))):
        entries = [e["resource"] for e in synthetic_patient_bundle(index, seed, hint)["entry"]]
        patient = entries[0]
        name = patient["name"][0]
        ins = next(i["value"] for i in patient["identifier"] if i.get("system") == INS)
        by_type: dict[str, list[dict]] = {}
        for res in entries[1:]:
            by_type.setdefault(res["resourceType"], []).append(res)
        out.append(
            Sample(
                index,
                ins,
                name["family"],
                name["given"][0],
                patient["birthDate"],
                by_type.get("Observation", []),
                by_type.get("DocumentReference", []),
                by_type.get("Condition", []),
                by_type.get("Encounter", []),
            )
        )
    return out


def rpps_numbers(seed: int) -> list[str]:
    found = []
    for entry in synthetic_reference_bundle(seed)["entry"]:
        res = entry["resource"]
        if res["resourceType"] == "Practitioner":
            found += [i["value"] for i in res["identifier"] if i.get("system") == RPPS]
    return found


def _code(res: dict, path: str = "code") -> str:
    coding = res[path]["coding"][0]
    return f"{coding['system']}|{coding['code']}"


def _day(instant: str) -> str:
    return instant[:10]


def _shift(day: str, days: int) -> str:
    return (date.fromisoformat(day) + timedelta(days=days)).isoformat()


def build(
    data: list[Sample],
    rpps: list[str],
    loaded_window: tuple[int, int] | None,
    per_query: int = 40,
) -> list[Query]:
    """The query set; instances use samples with the data each query needs."""
    queries: list[Query] = []

    def add(name: str, what: str, make: Callable[[Sample], str | None], pages: int = 1) -> None:
        q = Query(name, what, pages=pages)
        for s in data:
            if s.id is None:
                continue
            text = make(s)
            if text:
                q.instances.append(text)
            if len(q.instances) >= per_query:
                break
        if len(set(q.instances)) == 1:  # one fixed query: fewer repeats of the same
            q.instances = q.instances[: max(1, per_query // 4)]
        queries.append(q)

    add(
        "patient-ins",
        "Patient by INS identifier",
        lambda s: f"Patient?identifier={INS}|{s.ins}",
    )
    add(
        "patient-name-birthdate",
        "Patient by family + given + birthdate",
        lambda s: f"Patient?family={s.family}&given={s.given}&birthdate={s.birth}",
    )

    def docref(s: Sample) -> str | None:
        if not s.documents:
            return None
        doc = s.documents[0]
        day = _day(doc["date"])
        return (
            f"DocumentReference?patient=Patient/{s.id}&type={_code(doc, 'type')}"
            f"&date=ge{_shift(day, -400)}&date=le{_shift(day, 400)}&_sort=-date"
        )

    add(
        "docref-patient-type-date",
        "DocumentReference by patient + type + date range, by date",
        docref,
    )

    def obs_include(s: Sample) -> str | None:
        weights = [o for o in s.observations if o["code"]["coding"][0]["code"] == WEIGHT]
        if not weights:
            return None
        day = _day(weights[0]["effectiveDateTime"])
        return (
            f"Observation?subject=Patient/{s.id}&code={LOINC}|{WEIGHT}"
            f"&date=ge{_shift(day, -1)}&_include=Observation:subject"
        )

    add(
        "obs-patient-code-date-include",
        "Observation by patient + code + date, _include subject",
        obs_include,
    )
    add(
        "practitioner-rpps",
        "Practitioner by RPPS",
        lambda s: f"Practitioner?identifier={RPPS}|{rpps[s.index % len(rpps)]}",
    )
    add(
        "chain-subject-ins",
        "Chained: Observation?subject:Patient.identifier=INS + code",
        lambda s: f"Observation?subject:Patient.identifier={INS}|{s.ins}&code={LOINC}|{HEART_RATE}",
    )

    def has(s: Sample) -> str:
        return f"Patient?family={s.family}&_has:Observation:subject:code={LOINC}|{GLUCOSE}"

    add("has-glucose-family", "_has: Patients of a family name with a glucose Observation", has)
    add(
        "revinclude",
        "Patient by id, _revinclude its Encounters and Conditions",
        lambda s: f"Patient?_id={s.id}&_revinclude=Encounter:subject&_revinclude=Condition:subject",
    )
    add(
        "name-contains",
        ":contains on names (4 letters of the family name)",
        lambda s: f"Patient?name:contains={s.family.lower()[1:5]}",
    )
    add(
        "total-accurate-large",
        "_total=accurate over every body weight (~140k per 1M resources)",
        lambda s: f"Observation?code={LOINC}|{WEIGHT}&_total=accurate",
    )
    add(
        "deep-paging",
        "Heart rates (~140k per 1M), the next links followed 50 pages deep (_count=20)",
        lambda s: f"Observation?code={LOINC}|{HEART_RATE}",
        pages=50,
    )

    def token_not(s: Sample) -> str:
        return f"Condition?subject=Patient/{s.id}&clinical-status:not=resolved"

    add("token-not", "Token :not (a patient's Conditions not resolved)", token_not)
    add(
        "quantity-ucum",
        "Quantity with unit conversion (weights > 150000 g, stored in kg)",
        lambda s: f"Observation?code={LOINC}|{WEIGHT}&value-quantity=gt150000|{UCUM}|g",
    )
    add(
        "quantity-ucum-patient",
        "Quantity with unit conversion for one patient (weights >= 20000 g)",
        lambda s: f"Observation?subject=Patient/{s.id}&value-quantity=ge20000|{UCUM}|g",
    )
    add(
        "composite-patient",
        "Composite: a patient's blood pressures with systolic > 120",
        lambda s: (
            f"Observation?subject=Patient/{s.id}"
            f"&component-code-value-quantity={LOINC}|{SYSTOLIC}$gt120"
        ),
    )
    if loaded_window is not None:
        low, high = loaded_window
        rng = random.Random(11)

        def updated(s: Sample) -> str:
            start = rng.randrange(low, max(low + 1, high - 10_000_000))
            t0 = _instant(start)
            t1 = _instant(start + 10_000_000)  # 10 seconds of the load
            return f"Encounter?_lastUpdated=ge{t0}&_lastUpdated=lt{t1}"

        add("lastupdated-range", "_lastUpdated range (10 s of the load)", updated)
    add(
        "system-type",
        "System search: ?_type=Condition,MedicationRequest&patient=",
        lambda s: f"?_type=Condition,MedicationRequest&patient=Patient/{s.id}",
    )
    add(
        "encounters-sorted",
        "A patient's Encounters sorted by -date",
        lambda s: f"Encounter?subject=Patient/{s.id}&_sort=-date",
    )
    add(
        "compartment",
        "Compartment: Patient/id/Observation?code=body weight",
        lambda s: f"Patient/{s.id}/Observation?code={LOINC}|{WEIGHT}",
    )
    add(
        "population-code-date",
        "Heights measured on one day (code + narrow date, population-wide)",
        lambda s: (
            f"Observation?code={LOINC}|8302-2&date={_day(s.observations[0]['effectiveDateTime'])}"
            if s.observations
            else None
        ),
    )
    return queries


def _instant(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def pairs(query: str) -> list[tuple[str, str]]:
    """The (name, value) pairs of an instance's query string, written unencoded."""
    return [(n, v) for n, _, v in (p.partition("=") for p in query.split("&") if p)]


def resolve_ids(get: Callable[[str], Any], data: list[Sample]) -> None:
    """Fill `Sample.id` with the server id of each patient (one search by INS each)."""
    for s in data:
        body = get(f"Patient?identifier={INS}|{s.ins}&_elements=id")
        entries = body.get("entry") or []
        s.id = entries[0]["resource"]["id"] if entries else None
