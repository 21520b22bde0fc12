"""Ranges and comparator quantities compare as intervals (R4: "the range of the target").

Found by the oracle: they used to compare as the point of their low bound.
"""

from __future__ import annotations

import pytest

from tests.fhir.search.conftest import SearchDb

UCUM = "http://unitsofmeasure.org"


def years(value: float) -> dict:
    return {"value": value, "unit": "ans", "system": UCUM, "code": "a"}


@pytest.fixture
def onsets(db: SearchDb) -> SearchDb:
    def condition(cid: str, **onset: object) -> dict:
        return {
            "resourceType": "Condition",
            "id": cid,
            "subject": {"reference": "Patient/p"},
            **onset,
        }

    db.put_all(
        condition("range-20-30", onsetRange={"low": years(20), "high": years(30)}),
        condition("range-0-5", onsetRange={"low": years(0), "high": years(5)}),
        condition("from-60", onsetRange={"low": years(60)}),
        condition("until-10", onsetRange={"high": years(10)}),
        condition("age-25", onsetAge=years(25)),
    )
    return db


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("gt25", {"range-20-30", "from-60"}),
        ("gt25||a", {"range-20-30", "from-60"}),
        (f"gt25|{UCUM}|a", {"range-20-30", "from-60"}),
        ("ge30", {"range-20-30", "from-60"}),
        ("lt21", {"range-20-30", "range-0-5", "until-10"}),
        ("le5", {"range-0-5", "until-10"}),
        ("sa15", {"range-20-30", "from-60", "age-25"}),
        ("eb15", {"range-0-5", "until-10"}),
        ("eb6", {"range-0-5"}),
        ("eq25", {"age-25"}),  # no interval lies within [24.5, 25.5)
        ("ne25", {"range-20-30", "range-0-5", "from-60", "until-10"}),
        ("gt3||a", {"range-20-30", "range-0-5", "from-60", "until-10", "age-25"}),
        (f"gt300|{UCUM}|mo", {"range-20-30", "from-60"}),  # 30 a = 360 mo, 25 a = 300 mo
        ("ap27", {"range-20-30", "age-25"}),
        ("ap100", {"from-60"}),
    ],
)
def test_ranges(onsets: SearchDb, value: str, expected: set[str]) -> None:
    assert onsets.idset("Condition", [("onset-age", value)]) == expected


def test_comparators(db: SearchDb) -> None:
    def crp(oid: str, value: float, comparator: str | None = None) -> dict:
        quantity = {"value": value, "unit": "mg/L", "system": UCUM, "code": "mg/L"}
        if comparator:
            quantity["comparator"] = comparator
        return {
            "resourceType": "Observation",
            "id": oid,
            "status": "final",
            "code": {"text": "CRP"},
            "valueQuantity": quantity,
        }

    db.put_all(crp("below-5", 5, "<"), crp("above-100", 100, ">="), crp("twelve", 12))
    cases = {
        "lt3": {"below-5"},
        "lt3||mg/L": {"below-5"},
        f"lt0.003|{UCUM}|g/L": {"below-5"},
        "gt50": {"above-100"},
        "gt10": {"above-100", "twelve"},
        "5": set(),  # (-inf, 5] is not within [4.5, 5.5)
        "12": {"twelve"},
        "sa4": {"above-100", "twelve"},
        "eb20": {"below-5", "twelve"},
    }
    for value, expected in cases.items():
        assert db.idset("Observation", [("value-quantity", value)]) == expected, value


def test_number_ranges(db: SearchDb) -> None:
    db.put_all(
        {
            "resourceType": "RiskAssessment",
            "id": "range",
            "status": "final",
            "subject": {"reference": "Patient/p"},
            "prediction": [{"probabilityRange": {"low": {"value": 0.1}, "high": {"value": 0.3}}}],
        },
        {
            "resourceType": "RiskAssessment",
            "id": "point",
            "status": "final",
            "subject": {"reference": "Patient/p"},
            "prediction": [{"probabilityDecimal": 0.2}],
        },
    )
    assert db.idset("RiskAssessment", [("probability", "gt0.2")]) == {"range"}
    assert db.idset("RiskAssessment", [("probability", "ge0.2")]) == {"range", "point"}
    assert db.idset("RiskAssessment", [("probability", "0.2")]) == {"point"}
    assert db.idset("RiskAssessment", [("probability", "sa0.05")]) == {"range", "point"}
    assert db.idset("RiskAssessment", [("probability", "sa0.15")]) == {"point"}
    assert db.idset("RiskAssessment", [("probability", "eb0.25")]) == {"point"}
    assert db.idset("RiskAssessment", [("probability", "ne0.2")]) == {"range"}
