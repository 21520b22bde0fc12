"""Composite parameters: storage in idx_composite, ``$`` syntax, same-element matching."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from socle.fhir.errors import FhirError
from socle.fhir.storage import schema as S
from tests.fhir.search.conftest import SearchDb

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SYS, DIA = f"{LOINC}|8480-6", f"{LOINC}|8462-4"


def bp(rid: str, systolic: float, diastolic: float, unit: str = "mm[Hg]") -> dict:
    def comp(code: str, value: float) -> dict:
        return {
            "code": {"coding": [{"system": LOINC, "code": code}]},
            "valueQuantity": {"value": value, "system": UCUM, "code": unit},
        }

    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "85354-9"}]},
        "component": [comp("8480-6", systolic), comp("8462-4", diastolic)],
    }


def simple(rid: str, code: str, **value: object) -> dict:
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}], "text": "libellé"},
        **value,
    }


@pytest.fixture
def obs(db: SearchDb) -> SearchDb:
    db.put_all(
        bp("high", 150, 95),
        bp("crossed", 90, 130),  # systolic low, diastolic high: no single component > 100 both
        bp("kpa", 16, 11, unit="kPa"),  # 16 kPa = 120 mm[Hg]
        simple("w80", "29463-7", valueQuantity={"value": 80, "system": UCUM, "code": "kg"}),
        simple("w-g", "29463-7", valueQuantity={"value": 95000, "system": UCUM, "code": "g"}),
        simple("concept", "LA1", valueCodeableConcept={"coding": [{"system": "s", "code": "pos"}]}),
        simple("str", "TXT", valueString="Résultat anormal"),
        simple("when", "DT", valueDateTime="2024-03-01T10:00:00+01:00"),
        simple("period", "DT", valuePeriod={"start": "2024-01-01", "end": "2024-01-31"}),
    )
    return db


@pytest.mark.parametrize(
    ("param", "value", "expected"),
    [
        ("component-code-value-quantity", f"{SYS}$gt140", {"high"}),
        ("component-code-value-quantity", f"{DIA}$gt100", {"crossed"}),
        ("component-code-value-quantity", f"{SYS}$gt100", {"high"}),  # no unit: raw numbers
        ("component-code-value-quantity", f"{SYS}$gt100|{UCUM}|mm[Hg]", {"high", "kpa"}),
        ("component-code-value-quantity", f"{SYS}$ge16|{UCUM}|kPa", {"high", "kpa"}),
        ("component-code-value-quantity", f"{SYS}$lt100,{DIA}$lt100", {"crossed", "high", "kpa"}),
        ("component-code-value-quantity", f"{SYS}$eq150", {"high"}),
        ("component-code-value-quantity", f"{SYS}$ne150", {"crossed", "kpa"}),
        ("component-code-value-quantity", "8480-6$150", {"high"}),
        ("component-code-value-quantity", "|8480-6$150", set()),  # no-system token
        ("combo-code-value-quantity", f"{SYS}$gt140", {"high"}),
        ("combo-code-value-quantity", f"{LOINC}|29463-7$gt90|{UCUM}|kg", {"w-g"}),
        ("code-value-quantity", f"{LOINC}|29463-7$le80000|{UCUM}|g", {"w80"}),
        ("code-value-quantity", f"{LOINC}|29463-7$80||kg", {"w80"}),
        ("code-value-quantity", f"{SYS}$gt0", set()),  # components are not the Observation
        ("code-value-concept", "LA1$s|pos", {"concept"}),
        ("code-value-concept", "LA1$neg", set()),
        ("combo-code-value-concept", "LA1$pos", {"concept"}),
        ("code-value-string", "TXT$resultat", {"str"}),
        ("code-value-string", "TXT$anormal", set()),  # starts-with, as a string parameter
        ("code-value-date", "DT$2024-03-01", {"when"}),
        ("code-value-date", "DT$ge2024-02", {"when"}),
        ("code-value-date", "DT$2024-01", {"period"}),
        ("code-value-date", "DT$lt2024-01-15", {"period"}),
    ],
)
def test_composite_values(obs: SearchDb, param: str, value: str, expected: set[str]) -> None:
    assert obs.idset("Observation", [(param, value)]) == expected


def test_composite_and_missing_and_chains(obs: SearchDb) -> None:
    both = [
        ("component-code-value-quantity", f"{SYS}$gt100|{UCUM}|mm[Hg]"),
        ("component-code-value-quantity", f"{DIA}$lt100|{UCUM}|mm[Hg]"),
    ]
    assert obs.idset("Observation", both) == {"high", "kpa"}
    assert obs.idset("Observation", [("code-value-string:missing", "false")]) == {"str"}
    missing = obs.idset("Observation", [("component-code-value-quantity:missing", "true")])
    assert missing == {"w80", "w-g", "concept", "str", "when", "period"}
    obs.put(
        {
            "resourceType": "DiagnosticReport",
            "id": "r1",
            "status": "final",
            "code": {"text": "bilan"},
            "result": [{"reference": "Observation/high"}, {"reference": "Observation/w80"}],
        }
    )
    chained = [("result.component-code-value-quantity", f"{SYS}$gt140")]
    assert obs.idset("DiagnosticReport", chained) == {"r1"}
    assert obs.idset("DiagnosticReport", [("result.code-value-quantity", "29463-7$gt100")]) == set()


def test_rows_follow_updates_and_deletes(obs: SearchDb) -> None:
    query = [("component-code-value-quantity", f"{SYS}$gt140")]
    obs.put(bp("high", 120, 80))
    assert obs.idset("Observation", query) == set()
    obs.put(bp("high", 160, 80))
    assert obs.idset("Observation", query) == {"high"}
    obs.delete("Observation", "high")
    assert obs.idset("Observation", query) == set()
    with obs.store.session(obs.tenant) as s:
        t = S.idx_composite
        rows = s.execute(
            select(func.count())
            .select_from(t)
            .where(t.c.tenant == obs.tenant, t.c.res_type == "Observation")
        ).scalar_one()
        groups = s.execute(
            select(t.c.grp, func.count())
            .where(t.c.tenant == obs.tenant)
            .group_by(t.c.resource_pk, t.c.grp)
        ).all()
    assert rows > 0
    assert {n for _, n in groups} == {2}  # every combination has its two components


def test_written_twice_in_one_transaction_keeps_the_last_rows(obs: SearchDb) -> None:
    import orjson

    first, second = bp("twice", 200, 80), bp("twice", 100, 80)
    with obs.store.session(obs.tenant, write=True) as s:
        s.write(
            "Observation",
            "twice",
            current=None,
            content=orjson.dumps(first),
            last_updated=1,
            method="PUT",
            index_entries=obs.extractor.extract(first),
        )
        current = s.current("Observation", "twice")
        s.write(
            "Observation",
            "twice",
            current=current,
            content=orjson.dumps(second),
            last_updated=2,
            method="PUT",
            index_entries=obs.extractor.extract(second),
        )
    assert "twice" not in obs.idset(
        "Observation", [("component-code-value-quantity", f"{SYS}$gt150")]
    )
    assert "twice" in obs.idset("Observation", [("component-code-value-quantity", f"{SYS}$100")])
    assert "twice" in obs.idset("Observation", [("component-code", "8480-6")])


def test_relationship(db: SearchDb) -> None:
    db.put_all(
        {"resourceType": "DocumentReference", "id": "d0", "status": "superseded", "content": []},
        {
            "resourceType": "DocumentReference",
            "id": "d1",
            "status": "current",
            "content": [],
            "relatesTo": [
                {"code": "replaces", "target": {"reference": "DocumentReference/d0"}},
                {"code": "appends", "target": {"reference": "DocumentReference/d9"}},
            ],
        },
    )
    assert db.ids("DocumentReference", [("relationship", "replaces$DocumentReference/d0")]) == [
        "d1"
    ]
    assert db.ids("DocumentReference", [("relationship", "replaces$d0")]) == ["d1"]
    assert db.ids("DocumentReference", [("relationship", "appends$d0")]) == []
    assert db.ids("DocumentReference", [("relationship", "appends$d9,x$d0")]) == ["d1"]
    with pytest.raises(FhirError):  # relatesto targets DocumentReference only
        db.ids("DocumentReference", [("relationship", "replaces$Patient/d0")])


@pytest.mark.parametrize(
    "value",
    ["8480-6", "8480-6$1$2", "8480-6$", "$1", "8480-6$abc", "8480-6$1|x"],
)
def test_malformed_values(obs: SearchDb, value: str) -> None:
    with pytest.raises(FhirError) as err:
        obs.ids("Observation", [("component-code-value-quantity", value)])
    assert err.value.status == 400
    assert err.value.code == "invalid"


def test_escaped_dollar_is_data(db: SearchDb) -> None:
    db.put(simple("d", "A$B", valueString="x$y"))
    assert db.ids("Observation", [("code-value-string", "A\\$B$x\\$")]) == ["d"]
    assert db.ids("Observation", [("code-value-string", "A\\$B$y")]) == []


def test_other_core_composites(db: SearchDb) -> None:
    """Three components, a Range component, and composites outside Observation."""
    usage = "http://terminology.hl7.org/CodeSystem/usage-context-type"
    db.put_all(
        {
            "resourceType": "ValueSet",
            "id": "vs",
            "status": "active",
            "useContext": [
                {
                    "code": {"system": usage, "code": "age"},
                    "valueRange": {
                        "low": {"value": 18, "system": UCUM, "code": "a"},
                        "high": {"value": 65, "system": UCUM, "code": "a"},
                    },
                },
                {
                    "code": {"system": usage, "code": "focus"},
                    "valueCodeableConcept": {"coding": [{"system": "s", "code": "123"}]},
                },
            ],
        },
        {
            "resourceType": "MolecularSequence",
            "id": "ms",
            "coordinateSystem": 0,
            "referenceSeq": {
                "chromosome": {"coding": [{"system": "http://chr", "code": "1"}]},
                "windowStart": 100,
                "windowEnd": 200,
            },
            "variant": [{"start": 120, "end": 121}],
        },
        {
            "resourceType": "Group",
            "id": "g",
            "type": "person",
            "actual": True,
            "characteristic": [
                {
                    "code": {"coding": [{"system": "s", "code": "gender"}]},
                    "valueCodeableConcept": {"coding": [{"system": "s2", "code": "female"}]},
                    "exclude": False,
                }
            ],
        },
    )
    assert db.ids("ValueSet", [("context-type-quantity", "age$gt60")]) == ["vs"]  # [18, 65]
    assert db.ids("ValueSet", [("context-type-quantity", "age$gt70")]) == []
    assert db.ids("ValueSet", [("context-type-quantity", f"age$sa10|{UCUM}|a")]) == ["vs"]
    assert db.ids("ValueSet", [("context-type-quantity", "focus$gt1")]) == []
    assert db.ids("ValueSet", [("context-type-value", "focus$s|123")]) == ["vs"]
    coordinate = [("chromosome-window-coordinate", "1$ge100$le200")]
    assert db.ids("MolecularSequence", coordinate) == ["ms"]
    assert db.ids("MolecularSequence", [("chromosome-variant-coordinate", "1$ge120$le121")]) == [
        "ms"
    ]
    assert db.ids("MolecularSequence", [("chromosome-variant-coordinate", "2$ge120$le121")]) == []
    assert db.ids("Group", [("characteristic-value", "gender$female")]) == ["g"]
    assert db.ids("Group", [("characteristic-value", "gender$male")]) == []
