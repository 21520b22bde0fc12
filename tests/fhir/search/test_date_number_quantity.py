"""date, number and quantity parameters and their prefixes (R4 range semantics)."""

from __future__ import annotations

import pytest

from socle.fhir.datetime import parse_range
from tests.fhir.search.conftest import SearchDb

UCUM = "http://unitsofmeasure.org"


@pytest.fixture
def births(db: SearchDb) -> SearchDb:
    for pid, date in [
        ("y1980", "1980"),
        ("m1980-06", "1980-06"),
        ("d1980-06-15", "1980-06-15"),
        ("d1981-01-01", "1981-01-01"),
        ("d1979-12-31", "1979-12-31"),
        ("d1970", "1970-01-01"),
        ("d1990", "1990-01-01"),
    ]:
        db.put({"resourceType": "Patient", "id": pid, "birthDate": date})
    db.put({"resourceType": "Patient", "id": "none"})
    return db


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1980", {"y1980", "m1980-06", "d1980-06-15"}),
        ("eq1980-06", {"m1980-06", "d1980-06-15"}),
        ("1980-06-15", {"d1980-06-15"}),
        ("1980-06-15T10:00", set()),
        ("ne1980", {"d1981-01-01", "d1979-12-31", "d1970", "d1990"}),
        ("gt1980", {"d1981-01-01", "d1990"}),
        ("ge1980", {"y1980", "m1980-06", "d1980-06-15", "d1981-01-01", "d1990"}),
        ("lt1980", {"d1979-12-31", "d1970"}),
        ("le1980", {"y1980", "m1980-06", "d1980-06-15", "d1979-12-31", "d1970"}),
        ("gt1980-06", {"y1980", "d1981-01-01", "d1990"}),
        ("lt1980-06-15", {"y1980", "m1980-06", "d1979-12-31", "d1970"}),
        ("sa1980-06", {"d1981-01-01", "d1990"}),
        ("eb1980-06", {"d1979-12-31", "d1970"}),
        ("ap1980-06-15", {"y1980", "m1980-06", "d1980-06-15", "d1981-01-01", "d1979-12-31"}),
    ],
)
def test_date_prefixes(births: SearchDb, value: str, expected: set[str]) -> None:
    assert births.idset("Patient", [("birthdate", value)]) == expected


def test_date_and_or(births: SearchDb) -> None:
    params = [("birthdate", "ge1980-01-01"), ("birthdate", "lt1981")]
    assert births.idset("Patient", params) == {"y1980", "m1980-06", "d1980-06-15"}
    assert births.idset("Patient", [("birthdate", "1970,1990")]) == {"d1970", "d1990"}


def test_period_ranges(db: SearchDb) -> None:
    db.put(
        {
            "resourceType": "Encounter",
            "id": "closed",
            "status": "finished",
            "class": {"code": "AMB"},
            "period": {"start": "2020-01-01", "end": "2020-01-10"},
        }
    )
    db.put(
        {
            "resourceType": "Encounter",
            "id": "open",
            "status": "in-progress",
            "class": {"code": "AMB"},
            "period": {"start": "2021-01-01T08:00:00Z"},
        }
    )
    assert db.idset("Encounter", [("date", "2020-01")]) == {"closed"}
    assert db.idset("Encounter", [("date", "ge2030")]) == {"open"}
    assert db.idset("Encounter", [("date", "lt2020-01-05")]) == {"closed"}
    assert db.idset("Encounter", [("date", "sa2020-12-31")]) == {"open"}
    assert db.idset("Encounter", [("date", "eb2021")]) == {"closed"}
    assert db.idset("Encounter", [("date", "ne2020-01")]) == {"open"}


def test_last_updated(db: SearchDb) -> None:
    jan = parse_range("2024-01-01T00:00:00Z")[0]
    jun = parse_range("2024-06-01T12:00:00Z")[0]
    db.put({"resourceType": "Patient", "id": "jan"}, last_updated=jan)
    db.put({"resourceType": "Patient", "id": "jun"}, last_updated=jun)
    assert db.idset("Patient", [("_lastUpdated", "2024")]) == {"jan", "jun"}
    assert db.idset("Patient", [("_lastUpdated", "2024-01-01")]) == {"jan"}
    assert db.idset("Patient", [("_lastUpdated", "ge2024-03")]) == {"jun"}
    assert db.idset("Patient", [("_lastUpdated", "lt2024-03")]) == {"jan"}
    assert db.idset("Patient", [("_lastUpdated", "gt2024-06-01T12:00:00Z")]) == set()
    assert db.idset("Patient", [("_lastUpdated", "ge2024-06-01T12:00:00Z")]) == {"jun"}


@pytest.fixture
def risks(db: SearchDb) -> SearchDb:
    for rid, p in [("r05", 0.5), ("r025", 0.25), ("r1", 1)]:
        db.put(
            {
                "resourceType": "RiskAssessment",
                "id": rid,
                "status": "final",
                "subject": {"reference": "Patient/x"},
                "prediction": [{"probabilityDecimal": p}],
            }
        )
    return db


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0.5", {"r05"}),
        ("0.50", {"r05"}),
        ("1", {"r05", "r1"}),  # one significant figure: [0.5, 1.5)
        ("1.0", {"r1"}),
        ("2.5e-1", {"r025"}),
        ("gt0.3", {"r05", "r1"}),
        ("lt0.5", {"r025"}),
        ("ge0.5", {"r05", "r1"}),
        ("le0.5", {"r025", "r05"}),
        ("ne0.5", {"r025", "r1"}),
        ("ap0.25", {"r025"}),
        ("sa0.5", {"r1"}),
        ("eb0.5", {"r025"}),
    ],
)
def test_number_prefixes(risks: SearchDb, value: str, expected: set[str]) -> None:
    assert risks.idset("RiskAssessment", [("probability", value)]) == expected


@pytest.fixture
def labs(db: SearchDb) -> SearchDb:
    def obs(oid: str, quantity: dict) -> dict:
        return {
            "resourceType": "Observation",
            "id": oid,
            "status": "final",
            "code": {"text": "x"},
            "valueQuantity": quantity,
        }

    db.put_all(
        obs("glu-mgdl", {"value": 100, "unit": "mg/dL", "system": UCUM, "code": "mg/dL"}),
        obs("glu-gl", {"value": 1.5, "unit": "g/L", "system": UCUM, "code": "g/L"}),
        obs("mmol", {"value": 5.4, "unit": "mmol/L", "system": UCUM, "code": "mmol/L"}),
        obs("bpm", {"value": 80, "unit": "bpm", "system": "urn:custom", "code": "bpm"}),
        obs("bare", {"value": 5.4}),
    )
    return db


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5.4", {"mmol", "bare"}),
        (f"5.4|{UCUM}|mmol/L", {"mmol"}),
        ("5.4||mmol/L", {"mmol"}),
        (f"0.0054|{UCUM}|mol/L", {"mmol"}),  # canonical units
        (f"le1|{UCUM}|g/L", {"glu-mgdl"}),  # 100 mg/dL is 1 g/L
        (f"1000|{UCUM}|mg/L", {"glu-mgdl"}),
        (f"gt0.5|{UCUM}|g/L", {"glu-mgdl", "glu-gl"}),
        ("1||g/L", {"glu-mgdl"}),  # no system: UCUM assumed when the unit converts
        ("80|urn:custom|bpm", {"bpm"}),
        ("80||bpm", {"bpm"}),
        ("80|urn:other|bpm", set()),
        ("ge80", {"bpm", "glu-mgdl"}),
    ],
)
def test_quantity(labs: SearchDb, value: str, expected: set[str]) -> None:
    assert labs.idset("Observation", [("value-quantity", value)]) == expected
