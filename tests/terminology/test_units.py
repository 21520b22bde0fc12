"""Unit tests: text index, versions, code system index and filters."""

from __future__ import annotations

import pytest

from socle.fhir.errors import FhirError
from socle.terminology.codesystem import CodeSystemIndex
from socle.terminology.textindex import TextIndex, words_of
from socle.terminology.versions import pick, split_canonical, version_key
from tests.terminology.data import CS_URL, codesystem


class V:
    def __init__(self, version, date=None, seq=0):
        self.version, self.date, self.seq = version, date, seq


def test_words_ignore_case_accents_and_punctuation():
    assert words_of("Œdème aigu du poumon (OAP)") == ["oedeme", "aigu", "du", "poumon", "oap"]
    assert words_of("l'Hôpital—Saint-Éloi") == ["l", "hopital", "saint", "eloi"]


def test_text_index_matches_word_starts_only():
    index = TextIndex([["Fracture du col du fémur"], ["Fièvre"], ["Infracture rare"]])
    assert index.search("FRAC") == [0]  # "infracture" does not start with "frac"
    assert index.search("frac fem") == [0]
    assert index.search("fémur col") == [0]
    assert index.search("f") == [0, 1]
    assert index.search("frac fievre") == []
    assert index.search("  ") is None


def test_versions_resolution():
    assert split_canonical("http://x|1.0") == ("http://x", "1.0")
    assert split_canonical("http://x") == ("http://x", None)
    vs = [V("1.0.0", seq=1), V("1.10.0", seq=2), V("1.2.0", seq=3), V("2.0.0-ballot", seq=4)]
    assert pick(vs, None).version == "2.0.0-ballot"
    assert pick(vs, "1.2.0").version == "1.2.0"
    assert pick(vs, "1").version == "1.10.0"  # partial version: highest 1.x
    assert pick(vs, "3.0") is None
    assert version_key("2.0.0-ballot") < version_key("2.0.0")
    dated = [V("test", "2020-01-01", 1), V("1.1.0", "2024-01-01", 2)]
    assert pick(dated, None).version == "1.1.0"  # not comparable: most recent date


@pytest.fixture(scope="module")
def cs() -> CodeSystemIndex:
    return CodeSystemIndex(codesystem())


def test_hierarchy_and_inactive(cs):
    assert cs.get("INF").parents == ["CARD"]
    assert cs.get("MAL").children == ["CARD", "RESP"]
    assert cs.get("OLD").inactive and not cs.get("INF").inactive
    assert [c.code for c in cs.ordered] == ["MAL", "CARD", "INF", "ANG", "RESP", "ASTH", "OLD"]
    assert cs.get("INF").display_for("en") == "Myocardial infarction"
    assert cs.get("OLD").display_for("en") is None


def test_hierarchy_from_parent_properties():
    index = CodeSystemIndex(
        {
            "url": "x",
            "concept": [
                {"code": "A"},
                {"code": "B", "property": [{"code": "parent", "valueCode": "A"}]},
                {"code": "C", "property": [{"code": "parent", "valueCode": "B"}]},
            ],
        }
    )
    assert list(index.descendants("A", False)) == ["B", "C"]
    assert index.subsumes("A", "C") == "subsumes"
    assert index.subsumes("C", "A") == "subsumed-by"
    assert index.subsumes("B", "B") == "equivalent"


def test_subsumes(cs):
    assert cs.subsumes("MAL", "INF") == "subsumes"
    assert cs.subsumes("ASTH", "RESP") == "subsumed-by"
    assert cs.subsumes("INF", "ASTH") == "not-subsumed"
    with pytest.raises(FhirError) as err:
        cs.subsumes("INF", "NOPE")
    assert err.value.status == 404


@pytest.mark.parametrize(
    ("prop", "op", "value", "expected"),
    [
        ("concept", "is-a", "CARD", ["CARD", "INF", "ANG"]),
        ("concept", "descendent-of", "CARD", ["INF", "ANG"]),
        ("concept", "is-not-a", "CARD", ["MAL", "RESP", "ASTH", "OLD"]),
        ("concept", "generalizes", "INF", ["INF", "CARD", "MAL"]),
        ("gravite", "=", "grave", ["INF"]),
        ("gravite", "in", "grave,moderee", ["INF", "ANG"]),
        ("gravite", "not-in", "grave", ["MAL", "CARD", "ANG", "RESP", "ASTH", "OLD"]),
        ("code", "regex", "[A-C].*", ["CARD", "ANG", "ASTH"]),
        ("display", "regex", "Maladie.*", ["MAL", "CARD", "RESP"]),
        ("chronique", "exists", "true", ["ANG", "ASTH"]),
        ("chronique", "=", "true", ["ANG", "ASTH"]),
        ("chronique", "exists", "false", ["MAL", "CARD", "INF", "RESP", "OLD"]),
    ],
)
def test_filters(cs, prop, op, value, expected):
    assert sorted(cs.filter(prop, op, value)) == sorted(expected)


@pytest.mark.parametrize(
    ("prop", "op", "value"),
    [
        ("concept", "is-a", "NOPE"),  # not a code
        ("concept", "regex", "(unclosed"),  # bad regex
        ("concept", "sounds-like", "x"),  # unknown op
        ("chronique", "exists", "maybe"),
        ("nope", "=", "x"),  # unknown property
        ("gravite", "in", " , "),
        ("gravite", "is-a", "grave"),
        ("concept", "=", None),
    ],
)
def test_malformed_filters_are_400(cs, prop, op, value):
    with pytest.raises(FhirError) as err:
        cs.filter(prop, op, value)
    assert err.value.status == 400


def test_case_insensitive_code_system():
    index = CodeSystemIndex({"url": CS_URL, "caseSensitive": False, "concept": [{"code": "AbC"}]})
    assert index.get("abc").code == "AbC"
    assert CodeSystemIndex({"url": CS_URL, "concept": [{"code": "AbC"}]}).get("abc") is None
