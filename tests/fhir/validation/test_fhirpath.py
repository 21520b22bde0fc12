"""FHIRPath invariants: the native evaluator agrees with fhirpathpy, and falls back."""

from __future__ import annotations

import pytest
from fhirpathpy.parser import parse

from socle.fhir.validation.fhirpath import EvalContext, InvariantEngine
from socle.fhir.validation.fhirpath_native import Unsupported, compile_native

PATIENT = {
    "resourceType": "Patient",
    "id": "p1",
    "active": True,
    "name": [{"family": "Martin", "given": ["Anne", "Lise"]}, {"text": "A. Martin"}],
    "telecom": [{"system": "phone", "value": "0102030405"}, {"system": "email", "value": "a@b.fr"}],
    "birthDate": "1980-05-01",
    "multipleBirthInteger": 2,
    "contained": [{"resourceType": "Practitioner", "id": "dr"}],
    "generalPractitioner": [{"reference": "#dr"}],
    "extension": [{"url": "https://ex.org/a", "valueString": "x"}],
}

EXPRESSIONS = [
    "name.exists()",
    "name.given.count() = 2",
    "name.where(family = 'Martin').exists()",
    "telecom.where(system = 'email').value.startsWith('a@')",
    "telecom.all(value.exists())",
    "name.family.empty() or name.text.exists()",
    "active implies birthDate.exists()",
    "active.not()",
    "birthDate < '1990-01-01'",
    "birthDate >= '1980'",
    "multipleBirth = 2",
    "multipleBirth.ofType(integer) > 1",
    "extension('https://ex.org/a').value = 'x'",
    "extension('https://ex.org/b').empty()",
    "(name.given | name.family).count() = 3",
    "name.given.first() = 'Anne' and name.given.last() = 'Lise'",
    "telecom.system.distinct().count() = 2",
    "telecom.system.isDistinct()",
    "'phone' in telecom.system",
    "telecom.system contains 'email'",
    "name[0].given[1] = 'Lise'",
    "birthDate.matches('^[0-9]{4}-')",
    "name.given.first().length() = 4",
    "iif(active, 1, 2) = 1",
    "name.family.exists() xor name.text.exists()",
    "%resource.id = 'p1'",
    "generalPractitioner.reference.substring(1) = 'dr'",
]


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_native_agrees_with_fhirpathpy(expression: str) -> None:
    ctx = EvalContext(PATIENT, PATIENT)
    native = InvariantEngine(native=True).evaluate(expression, PATIENT, "Patient", ctx)
    reference = InvariantEngine(native=False).evaluate(expression, PATIENT, "Patient", ctx)
    assert native == reference
    assert native is not None


def test_unsupported_expressions_fall_back() -> None:
    with pytest.raises(Unsupported):
        compile_native(parse("descendants().count() > 1"))
    engine = InvariantEngine()
    ctx = EvalContext(PATIENT, PATIENT)
    assert engine.evaluate("children().count() > 3", PATIENT, "Patient", ctx) is True
    # the spec's extra functions
    assert engine.evaluate("birthDate.hasValue()", PATIENT, "Patient", ctx) is True
    assert engine.evaluate("%resource.contained.id.exists()", PATIENT, "Patient", ctx) is True
    assert engine.evaluate("generalPractitioner.resolve().exists()", PATIENT, "Patient", ctx)
    # an unparsable expression is not checkable
    assert engine.evaluate("name.where(", PATIENT, "Patient", ctx) is None


def test_choice_names_are_not_mistaken_for_prefixes() -> None:
    repeat = {"countMax": 3, "frequency": 1}
    ctx = EvalContext({}, {})
    engine = InvariantEngine()
    assert (
        engine.evaluate("countMax.empty() or count.exists()", repeat, "Timing.repeat", ctx) is False
    )
