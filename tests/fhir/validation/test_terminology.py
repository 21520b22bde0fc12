"""In-memory terminology: value set expansion from package definitions."""

from __future__ import annotations

from socle.fhir.packages.context import ConformanceContext
from socle.fhir.validation.terminology import InMemoryTerminology
from tests.fhir.validation.support import service

CS = "https://example.org/cs"


def _terminology() -> InMemoryTerminology:
    ctx = ConformanceContext([], load_core=False)
    ctx.add(
        {
            "resourceType": "CodeSystem",
            "url": CS,
            "status": "active",
            "content": "complete",
            "concept": [
                {"code": "animal", "concept": [{"code": "dog"}, {"code": "cat"}]},
                {"code": "plant", "property": [{"code": "parent", "valueCode": "animal"}]},
            ],
        }
    )
    ctx.add(
        {
            "resourceType": "CodeSystem",
            "url": "https://example.org/fragment",
            "status": "active",
            "content": "fragment",
            "concept": [{"code": "x"}],
        }
    )
    value_sets = {
        "list": {"include": [{"system": CS, "concept": [{"code": "dog"}]}]},
        "whole": {
            "include": [{"system": CS}],
            "exclude": [{"system": CS, "concept": [{"code": "cat"}]}],
        },
        "isa": {
            "include": [
                {"system": CS, "filter": [{"property": "concept", "op": "is-a", "value": "animal"}]}
            ]
        },
        "descendants": {
            "include": [
                {
                    "system": CS,
                    "filter": [{"property": "concept", "op": "descendent-of", "value": "animal"}],
                }
            ]
        },
        "imported": {"include": [{"valueSet": ["https://example.org/vs/list"]}]},
        "external": {"include": [{"system": "http://snomed.info/sct"}]},
        "fragment": {"include": [{"system": "https://example.org/fragment"}]},
        "regex": {
            "include": [
                {"system": CS, "filter": [{"property": "concept", "op": "regex", "value": "d.*"}]}
            ]
        },
    }
    for name, compose in value_sets.items():
        ctx.add(
            {
                "resourceType": "ValueSet",
                "url": f"https://example.org/vs/{name}",
                "status": "active",
                "compose": compose,
            }
        )
    ctx.add(
        {
            "resourceType": "ValueSet",
            "url": "https://example.org/vs/expanded",
            "status": "active",
            "expansion": {"contains": [{"system": CS, "code": "cat"}]},
        }
    )
    return InMemoryTerminology(ctx)


def test_expansions() -> None:
    t = _terminology()
    vs = "https://example.org/vs/"
    assert t.validate_code(vs + "list", CS, "dog") is True
    assert t.validate_code(vs + "list", CS, "cat") is False
    assert t.validate_code(vs + "list", None, "dog") is True  # a bare code
    assert t.validate_code(vs + "whole", CS, "plant") is True
    assert t.validate_code(vs + "whole", CS, "cat") is False  # excluded
    assert t.validate_code(vs + "isa", CS, "animal") is True
    assert t.validate_code(vs + "isa", CS, "plant") is True  # child through `parent`
    assert t.validate_code(vs + "descendants", CS, "animal") is False
    assert t.validate_code(vs + "descendants", CS, "dog") is True
    assert t.validate_code(vs + "imported", CS, "dog") is True
    assert t.validate_code(vs + "expanded", CS, "cat") is True
    assert t.validate_code(vs + "list", "https://other", "dog") is False


def test_what_cannot_be_enumerated_is_unknown() -> None:
    t = _terminology()
    vs = "https://example.org/vs/"
    assert t.validate_code(vs + "external", "http://snomed.info/sct", "123") is None
    assert t.validate_code(vs + "fragment", "https://example.org/fragment", "y") is None
    assert t.validate_code(vs + "regex", CS, "dog") is None
    assert t.validate_code(vs + "missing", CS, "dog") is None
    assert not t.has_value_set(vs + "missing") and t.has_value_set(vs + "list")


def test_core_and_fr_core_value_sets() -> None:
    t = service().validator.terminology
    gender = "http://hl7.org/fhir/ValueSet/administrative-gender"
    assert t.validate_code(gender, None, "female") is True
    assert t.validate_code(gender, None, "femme") is False
    fr = "https://hl7.fr/ig/fhir/core/ValueSet/fr-core-vs-patient-gender|2.2.0"
    assert t.validate_code(fr, "http://hl7.org/fhir/administrative-gender", "male") is True


def test_grammar_code_systems_reject_what_cannot_be_a_code() -> None:
    """MIME types and language tags cannot be listed, but a malformed one is not a member."""
    terminology = service().validator.terminology
    mime = "http://hl7.org/fhir/ValueSet/mimetypes|4.0.1"
    languages = "http://hl7.org/fhir/ValueSet/all-languages"
    for code in ("application/pdf", "text/plain; charset=utf-8", "application/fhir+json"):
        assert terminology.validate_code(mime, None, code) is None  # well formed: unknown
    for code in ("pdf", "application/", "text plain"):
        assert terminology.validate_code(mime, None, code) is False
        assert terminology.validate_code(mime, "urn:ietf:bcp:13", code) is False
    assert terminology.validate_code(languages, "urn:ietf:bcp:47", "fr-FR") is None
    assert terminology.validate_code(languages, "urn:ietf:bcp:47", "français") is False


def test_a_malformed_content_type_is_a_binding_error() -> None:
    doc = {
        "resourceType": "DocumentReference",
        "status": "current",
        "content": [{"attachment": {"contentType": "pdf", "url": "http://example.org/a.pdf"}}],
    }
    found = [
        (i.expression[0], i.diagnostics) for i in service().validate(doc) if i.severity == "error"
    ]
    assert found == [
        (
            "DocumentReference.content[0].attachment.contentType",
            "DocumentReference.content[0].attachment.contentType: 'pdf' is not in the value set "
            "http://hl7.org/fhir/ValueSet/mimetypes|4.0.1 (required binding, from "
            "http://hl7.org/fhir/StructureDefinition/Attachment)",
        )
    ]
