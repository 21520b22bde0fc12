"""Parsing and validation of search parameters (no database)."""

from __future__ import annotations

import pytest

from socle.fhir.errors import FhirError
from socle.fhir.search import SearchEngine, SearchLimits
from socle.fhir.search.model import Chain, Has, Leaf


def error(engine: SearchEngine, rtype: str | None, params: list[tuple[str, str]]) -> FhirError:
    with pytest.raises(FhirError) as err:
        engine.parse(rtype, params)
    assert err.value.status == 400
    return err.value


@pytest.mark.parametrize(
    ("name", "value", "code"),
    [
        ("nope", "x", "not-supported"),
        ("family", ",", "invalid"),
        ("family:foo", "x", "not-supported"),
        ("family:below", "x", "not-supported"),
        ("gender:in", "http://vs", "not-supported"),
        ("birthdate", "1980-13", "invalid"),
        ("birthdate", "xx1980", "invalid"),
        ("birthdate:missing", "maybe", "invalid"),
        ("identifier", "a|b|c", "invalid"),
        ("identifier", "|", "invalid"),
        ("identifier:of-type", "a|b", "invalid"),
        ("general-practitioner", "Patient?name=x", "invalid"),
        ("general-practitioner", "Observation/1", "invalid"),
        ("general-practitioner:Observation", "1", "invalid"),
        ("general-practitioner:Nope.name", "x", "not-supported"),
        ("family.name", "x", "invalid"),
        ("organization.nope", "x", "not-supported"),
        ("_has:Observation:patient", "x", "invalid"),
        ("_has:Nope:patient:code", "x", "invalid"),
        ("_has:Observation:code:code", "x", "invalid"),
        ("_lastUpdated:missing", "true", "not-supported"),
        ("_text", "x", "not-supported"),
        ("_count", "-1", "invalid"),
        ("_count", "ten", "invalid"),
        ("_count:exact", "10", "not-supported"),
        ("_sort", "nope", "not-supported"),
        ("_sort", "family,family", "invalid"),
        ("_total", "maybe", "invalid"),
        ("_summary", "all", "invalid"),
        ("_elements", "name;drop", "invalid"),
        ("_include", "Patient", "invalid"),
        ("_include", "Patient:family", "invalid"),
        ("_include", "Patient:organization:Patient", "invalid"),
        ("_include:deep", "Patient:organization", "not-supported"),
        ("_contained", "true", "invalid"),
    ],
)
def test_errors_name_the_parameter(engine: SearchEngine, name: str, value: str, code: str) -> None:
    err = error(engine, "Patient", [(name, value)])
    assert err.code == code
    assert err.issues[0].expression == [name]
    assert name in err.issues[0].diagnostics


def test_other_types(engine: SearchEngine) -> None:
    assert error(engine, "Observation", [("value-quantity", "5|mg")]).code == "invalid"
    assert error(engine, "Observation", [("value-quantity", "abc")]).code == "invalid"
    assert error(engine, "Observation", [("code-value-quantity", "x$abc")]).code == "invalid"
    assert error(engine, "Observation", [("code-value-quantity", "x")]).code == "invalid"
    assert error(engine, "Observation", [("code-value-quantity:exact", "x$1")]).code == (
        "not-supported"
    )
    assert error(engine, "Observation", [("_sort", "code-value-quantity")]).code == (
        "not-supported"
    )
    assert error(engine, "ValueSet", [("url:contains", "x")]).code == "not-supported"
    assert error(engine, "Observation", [("subject:Patient", "Group/1")]).code == "invalid"


def test_limits_are_too_costly_even_when_lenient() -> None:
    from socle.fhir.indexing.registry import default_registry

    engine = SearchEngine(default_registry(), limits=SearchLimits(max_or_values=3, max_count=50))
    deep = "general-practitioner:PractitionerRole.organization.partof.partof.partof.name"
    cases = [
        [("_count", "51")],
        [("family", "a,b,c,d")],
        [(deep, "x")],
        [("_include", "Patient:organization")] * 17,
        [("family", "x")] * 65,
        [
            (
                "_sort",
                ",".join(
                    [
                        "family",
                        "given",
                        "birthdate",
                        "gender",
                        "_id",
                        "name",
                        "address",
                        "phone",
                        "email",
                    ]
                ),
            )
        ],
    ]
    for params in cases:
        for lenient in (False, True):
            if lenient and params[0][0] == "_count":
                continue
            with pytest.raises(FhirError) as err:
                engine.parse("Patient", params, lenient=lenient)
            assert err.value.code == "too-costly", params
    # _count is clamped in lenient mode
    query = engine.parse("Patient", [("_count", "51")], lenient=True)
    assert query.count == 50 and query.applied == [("_count", "50")]


def test_lenient_drops_and_reports(engine: SearchEngine) -> None:
    params = [("family", "dupont"), ("nope", "1"), ("birthdate", "yesterday"), ("_pretty", "true")]
    query = engine.parse("Patient", params, lenient=True)
    assert query.applied == [("family", "dupont"), ("_pretty", "true")]
    assert [i.expression for i in query.issues] == [["nope"], ["birthdate"]]
    assert all(i.severity == "warning" for i in query.issues)
    assert len(query.criteria) == 1


def test_result_parameters_are_applied(engine: SearchEngine) -> None:
    params = [
        ("_format", "json"),
        ("_pretty", "true"),
        ("_elements", "name, birthDate"),
        ("_summary", "true"),
        ("_total", "accurate"),
        ("_count", "5"),
        ("_sort", "-birthdate"),
        ("_include", "Patient:organization"),
        ("_revinclude:iterate", "Observation:subject"),
        ("_contained", "false"),
    ]
    query = engine.parse("Patient", params)
    assert query.applied == params
    assert query.elements == "name,birthDate"
    assert query.summary == "true" and query.total == "accurate" and query.count == 5
    assert [k.text for k in query.sort] == ["-birthdate"]
    assert [(i.code, i.reverse, i.iterate) for i in query.includes] == [
        ("organization", False, False),
        ("subject", True, True),
    ]


def test_empty_values_are_ignored(engine: SearchEngine) -> None:
    query = engine.parse("Patient", [("family", ""), ("nope", ""), ("_count", "")])
    assert query.criteria == [] and query.applied == [] and query.count is None


def test_structure_of_chains_and_has(engine: SearchEngine) -> None:
    query = engine.parse("Observation", [("subject:Patient.organization.name", "x")])
    chain = query.criteria[0]
    assert isinstance(chain, Chain) and chain.targets == ("Patient",)
    assert isinstance(chain.inner, Chain) and chain.inner.targets == ("Organization",)
    assert isinstance(chain.inner.inner, Leaf) and chain.inner.inner.kind == "string"
    query = engine.parse("Patient", [("_has:Observation:patient:_has:AuditEvent:entity:type", "x")])
    has = query.criteria[0]
    assert isinstance(has, Has) and isinstance(has.inner, Has)
    assert has.inner.source_type == "AuditEvent"


def test_escapes(engine: SearchEngine) -> None:
    query = engine.parse("Patient", [("identifier", r"urn:a\|b|c\,d\\,e")])
    leaf = query.criteria[0]
    assert isinstance(leaf, Leaf)
    assert [(v.system, v.code) for v in leaf.values] == [("urn:a|b", "c,d\\"), (None, "e")]


def test_identifier_modifier_becomes_a_token_search(engine: SearchEngine) -> None:
    leaf = engine.parse("Observation", [("subject:identifier", "sys|1")]).criteria[0]
    assert isinstance(leaf, Leaf)
    assert (leaf.code, leaf.kind) == ("subject:identifier", "token")


def test_cursor_parameter_is_not_applied(engine: SearchEngine) -> None:
    query = engine.parse("Patient", [("_cursor", "abc"), ("family", "x")])
    assert query.cursor == "abc" and query.applied == [("family", "x")]
