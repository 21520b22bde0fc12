"""The terminology operations over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from tests.terminology.conftest import put
from tests.terminology.data import CS_URL, VS_URL, codesystem

LOOKUP = "/fhir/CodeSystem/$lookup"
EXPAND = "/fhir/ValueSet/$expand"


def params(body: dict) -> dict:
    """Parameters -> {name: [value or parts dict]}."""
    out: dict = {}
    for p in body["parameter"]:
        if "part" in p:
            value = {
                q["name"]: next(v for k, v in q.items() if k.startswith("value")) for q in p["part"]
            }
        else:
            value = next(
                (v for k, v in p.items() if k.startswith("value") or k == "resource"), None
            )
        out.setdefault(p["name"], []).append(value)
    return out


def codes(expansion: dict) -> list[str]:
    return [c["code"] for c in expansion["expansion"].get("contains", [])]


def post_params(**values) -> dict:  # noqa: ANN003
    parameter = []
    for name, (kind, value) in values.items():
        parameter.append({"name": name, f"value{kind}": value})
    return {"resourceType": "Parameters", "parameter": parameter}


# -- CodeSystem ---------------------------------------------------------------------------


def test_lookup_designations_properties_parent_child(term):
    r = term.get(LOOKUP, params={"system": CS_URL, "code": "INF"})
    assert r.status_code == 200, r.text
    p = params(r.json())
    assert p["display"] == ["Infarctus du myocarde"]
    assert p["version"] == ["2.0.0"]  # latest version when none is asked
    assert {"language": "en", "value": "Myocardial infarction"} in p["designation"]
    props = {(q["code"], q.get("value")) for q in p["property"]}
    assert ("parent", "CARD") in props and ("gravite", "grave") in props
    assert p["definition"] == ["Nécrose du muscle cardiaque"]
    r = term.get(LOOKUP, params={"system": CS_URL, "code": "CARD", "displayLanguage": "en"})
    p = params(r.json())
    assert p["display"] == ["Heart disease"]
    assert {("child", "INF"), ("child", "ANG"), ("parent", "MAL")} <= {
        (q["code"], q.get("value")) for q in p["property"]
    }


def test_lookup_post_instance_and_versions(term):
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "coding", "valueCoding": {"system": CS_URL, "code": "ASTH"}},
            {"name": "property", "valueCode": "parent"},
        ],
    }
    p = params(term.post(LOOKUP, json=body).json())
    assert p["display"] == ["Asthme de l'enfant"]
    assert [q["code"] for q in p["property"]] == ["parent"]
    # instance level: the system is the instance
    p = params(term.get("/fhir/CodeSystem/pathologies/$lookup", params={"code": "OLD"}).json())
    assert p["version"] == ["1.0.0"]
    assert ("inactive", True) in {(q["code"], q.get("value")) for q in p["property"]}
    # NEW only exists in 2.0.0: url|version resolution
    assert term.get(LOOKUP, params={"system": CS_URL, "code": "NEW"}).status_code == 200
    r = term.get(LOOKUP, params={"system": CS_URL, "code": "NEW", "version": "1.0.0"})
    assert r.status_code == 404
    r = term.get(LOOKUP, params={"system": f"{CS_URL}|1.0.0", "code": "NEW"})
    assert r.status_code == 404
    r = term.get(LOOKUP, params={"system": CS_URL, "code": "INF", "version": "9"})
    assert r.status_code == 404 and "known versions: 1.0.0, 2.0.0" in r.text


def test_lookup_errors(term):
    r = term.get(LOOKUP, params={"system": "http://unknown.test", "code": "X"})
    assert r.status_code == 404
    assert r.json()["resourceType"] == "OperationOutcome"
    assert term.get(LOOKUP, params={"system": CS_URL, "code": "NOPE"}).status_code == 404
    assert term.get(LOOKUP, params={"code": "INF"}).status_code == 400


def test_codesystem_validate_code_and_subsumes(term):
    url = "/fhir/CodeSystem/$validate-code"
    p = params(term.get(url, params={"url": CS_URL, "code": "ANG"}).json())
    assert p["result"] == [True] and p["display"] == ["Angine de poitrine"]
    p = params(term.get(url, params={"url": CS_URL, "code": "ZZZ"}).json())
    assert p["result"] == [False]
    p = params(term.get(url, params={"url": CS_URL, "code": "ANG", "display": "Angor"}).json())
    assert p["result"] == [True] and "does not match" in p["message"][0]
    body = post_params(
        url=("Uri", CS_URL), code=("Code", "INF"), display=("String", "Crise cardiaque")
    )
    p = params(term.post(url, json=body).json())
    assert p["result"] == [True] and "message" not in p  # a designation is a valid display
    sub = "/fhir/CodeSystem/$subsumes"
    for a, b, outcome in [
        ("MAL", "ANG", "subsumes"),
        ("ASTH", "RESP", "subsumed-by"),
        ("INF", "ASTH", "not-subsumed"),
        ("INF", "INF", "equivalent"),
    ]:
        r = term.get(sub, params={"system": CS_URL, "codeA": a, "codeB": b})
        assert params(r.json())["outcome"] == [outcome]
    r = term.post(
        "/fhir/CodeSystem/pathologies-v2/$subsumes",
        json=post_params(
            codingA=("Coding", {"system": CS_URL, "code": "MAL"}),
            codingB=("Coding", {"system": CS_URL, "code": "NEW"}),
        ),
    )
    assert params(r.json())["outcome"] == ["not-subsumed"]


# -- ValueSet $expand ----------------------------------------------------------------------


def test_expand_compose_filters_exclude_nested(term):
    r = term.get(EXPAND, params={"url": "http://socle.test/ValueSet/cardio"})
    assert r.status_code == 200, r.text
    exp = r.json()
    assert codes(exp) == ["CARD", "INF", "ASTH"]  # is-a CARD + ASTH - ANG
    assert exp["expansion"]["total"] == 3
    assert next(c for c in exp["expansion"]["contains"] if c["code"] == "ASTH")["display"] == (
        "Asthme"  # the value set's display wins
    )
    nested = term.get(EXPAND, params={"url": "http://socle.test/ValueSet/cardio-grave"}).json()
    assert codes(nested) == ["INF"]  # cardio ∩ (gravite exists)
    inst = term.get("/fhir/ValueSet/cardio/$expand").json()
    assert codes(inst) == ["CARD", "INF", "ASTH"]


def test_expand_text_filter_paging_language_active(term):
    r = term.get(EXPAND, params={"url": VS_URL, "filter": "MALADIE"})
    assert codes(r.json()) == ["MAL", "CARD", "RESP", "NEW"]
    r = term.get(EXPAND, params={"url": VS_URL, "filter": "card mal"})
    assert codes(r.json()) == ["CARD"]
    r = term.get(EXPAND, params={"url": VS_URL, "filter": "enfa asth"})  # accents, word starts
    assert codes(r.json()) == ["ASTH"]
    r = term.get(EXPAND, params={"url": VS_URL, "filter": "ancienne reformee"})
    assert codes(r.json()) == ["OLD"]
    assert codes(term.get(EXPAND, params={"url": VS_URL, "filter": "ardiaque"}).json()) == []
    full = term.get(EXPAND, params={"url": VS_URL}).json()
    assert full["expansion"]["total"] == 8  # version 2.0.0 of the code system, with NEW
    page = term.get(EXPAND, params={"url": VS_URL, "offset": 2, "count": 3}).json()
    assert codes(page) == codes(full)[2:5]
    assert page["expansion"]["total"] == 8 and page["expansion"]["offset"] == 2
    en = term.get(EXPAND, params={"url": VS_URL, "displayLanguage": "en", "count": 2}).json()
    assert [c["display"] for c in en["expansion"]["contains"]] == ["Disease", "Heart disease"]
    active = term.get(EXPAND, params={"url": VS_URL, "activeOnly": "true"}).json()
    assert "OLD" not in codes(active) and active["expansion"]["total"] == 7
    inactive = next(c for c in full["expansion"]["contains"] if c["code"] == "OLD")
    assert inactive["inactive"] is True
    pinned = term.get(EXPAND, params={"url": VS_URL, "system-version": f"{CS_URL}|1.0.0"})
    assert "NEW" not in codes(pinned.json())


def test_expand_post_valueset_and_implicit(term):
    vs = {
        "resourceType": "ValueSet",
        "status": "active",
        "compose": {
            "include": [
                {
                    "system": CS_URL,
                    "filter": [{"property": "concept", "op": "descendent-of", "value": "MAL"}],
                }
            ]
        },
    }
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "valueSet", "resource": vs},
            {"name": "filter", "valueString": "resp"},
        ],
    }
    r = term.post(EXPAND, json=body)
    assert r.status_code == 200, r.text
    assert codes(r.json()) == ["RESP"]
    r = term.get(EXPAND, params={"url": f"{CS_URL}?fhir_vs=isa/RESP"})
    assert codes(r.json()) == ["RESP", "ASTH"]


def test_expand_errors(term, fhir_engine, monkeypatch):
    r = term.get(EXPAND, params={"url": "http://socle.test/ValueSet/nope"})
    assert r.status_code == 404 and r.json()["resourceType"] == "OperationOutcome"
    bad = {
        "resourceType": "ValueSet",
        "status": "active",
        "compose": {
            "include": [
                {
                    "system": CS_URL,
                    "filter": [{"property": "concept", "op": "regex", "value": "(x"}],
                }
            ]
        },
    }
    r = term.post(
        EXPAND,
        json={"resourceType": "Parameters", "parameter": [{"name": "valueSet", "resource": bad}]},
    )
    assert r.status_code == 400 and r.json()["issue"][0]["code"] == "invalid"
    unknown = {
        "resourceType": "ValueSet",
        "status": "active",
        "compose": {"include": [{"system": "http://unknown.test/cs"}]},
    }
    r = term.post(
        EXPAND,
        json={
            "resourceType": "Parameters",
            "parameter": [{"name": "valueSet", "resource": unknown}],
        },
    )
    assert r.status_code == 404
    assert term.get(EXPAND, params={"url": VS_URL, "count": "-1"}).status_code == 400
    r = term.get(EXPAND, params={"url": VS_URL, "activeOnly": "yes"})
    assert r.status_code == 400 and "activeOnly" in r.json()["issue"][0]["diagnostics"]
    assert r.json()["issue"][0]["expression"] == ["activeOnly"]
    monkeypatch.setattr(fhir_engine.terminology, "max_expansion", 5)
    r = term.get(EXPAND, params={"url": VS_URL})
    assert r.status_code == 422
    issue = r.json()["issue"][0]
    assert issue["code"] == "too-costly" and "limit 5" in issue["diagnostics"]
    assert len(codes(term.get(EXPAND, params={"url": VS_URL, "count": 4}).json())) == 4


def test_expansion_cache_follows_updates(term):
    before = term.get(EXPAND, params={"url": "http://socle.test/ValueSet/cardio"}).json()
    assert "RESP" not in codes(before)
    put(
        term,
        {
            "resourceType": "ValueSet",
            "id": "cardio",
            "url": "http://socle.test/ValueSet/cardio",
            "status": "active",
            "compose": {"include": [{"system": CS_URL, "concept": [{"code": "RESP"}]}]},
        },
    )
    after = term.get(EXPAND, params={"url": "http://socle.test/ValueSet/cardio"}).json()
    assert codes(after) == ["RESP"]
    # a new code system version changes the expansion of a value set built on it
    put(term, codesystem("3.0.0", extra=[{"code": "ZED", "display": "Zona"}]) | {"id": "p3"})
    assert "ZED" in codes(term.get(EXPAND, params={"url": VS_URL}).json())
    assert term.delete("/fhir/CodeSystem/p3").status_code in (200, 204)
    assert "ZED" not in codes(term.get(EXPAND, params={"url": VS_URL}).json())


# -- ValueSet $validate-code ---------------------------------------------------------------


def test_valueset_validate_code(term):
    url = "/fhir/ValueSet/$validate-code"
    cardio = "http://socle.test/ValueSet/cardio"
    p = params(term.get(url, params={"url": cardio, "system": CS_URL, "code": "INF"}).json())
    assert p["result"] == [True]
    p = params(term.get(url, params={"url": cardio, "system": CS_URL, "code": "ANG"}).json())
    assert p["result"] == [False]  # excluded
    p = params(term.get(url, params={"url": cardio, "code": "INF"}).json())
    assert p["result"] == [True]  # one system in the value set: it is inferred
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "url", "valueUri": cardio},
            {
                "name": "coding",
                "valueCoding": {"system": CS_URL, "code": "ASTH", "display": "Asthme"},
            },
        ],
    }
    p = params(term.post(url, json=body).json())
    assert p["result"] == [True] and "message" not in p
    body["parameter"][1]["valueCoding"]["display"] = "Rhume"
    p = params(term.post(url, json=body).json())
    assert p["result"] == [True] and "Rhume" in p["message"][0]  # warning, still valid
    assert p["issues"][0]["issue"][0]["severity"] == "warning"
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {
                "name": "codeableConcept",
                "valueCodeableConcept": {
                    "coding": [
                        {"system": "http://other.test", "code": "X"},
                        {"system": CS_URL, "code": "CARD"},
                    ]
                },
            },
        ],
    }
    p = params(term.post("/fhir/ValueSet/cardio-grave/$validate-code", json=body).json())
    assert p["result"] == [False]
    p = params(term.post("/fhir/ValueSet/cardio/$validate-code", json=body).json())
    assert p["result"] == [True]
    r = term.get(url, params={"url": "http://socle.test/ValueSet/nope", "code": "X"})
    p = params(r.json())
    assert p["result"] == [False] and "not known" in p["message"][0]


# -- ConceptMap $translate -----------------------------------------------------------------


def test_translate_forward_and_reverse(term):
    url = "/fhir/ConceptMap/$translate"
    r = term.get(url, params={"system": CS_URL, "code": "INF"})
    p = params(r.json())
    assert p["result"] == [True]
    match = p["match"][0]
    assert match["equivalence"] == "wider"
    assert match["concept"] == {
        "system": "http://hl7.org/fhir/sid/icd-10",
        "code": "I21",
        "display": "Infarctus aigu",
    }
    rev = params(
        term.get(
            url,
            params={"system": "http://hl7.org/fhir/sid/icd-10", "code": "I21", "reverse": "true"},
        ).json()
    )
    assert rev["result"] == [True]
    assert rev["match"][0]["equivalence"] == "narrower"  # read backwards
    assert rev["match"][0]["concept"]["code"] == "INF"
    p = params(
        term.get(
            "/fhir/ConceptMap/pathologies-to-icd/$translate",
            params={"system": CS_URL, "code": "OLD"},
        ).json()
    )
    assert p["result"] == [False] and p["match"][0]["equivalence"] == "unmatched"
    p = params(
        term.get(
            url,
            params={
                "system": CS_URL,
                "code": "ANG",
                "source": VS_URL,
                "target": "http://socle.test/ValueSet/icd",
            },
        ).json()
    )
    assert p["match"][0]["concept"]["code"] == "I20"
    p = params(term.get(url, params={"system": CS_URL, "code": "MAL"}).json())
    assert p["result"] == [False] and "No mapping" in p["message"][0]
    r = term.get(
        url, params={"url": "http://socle.test/ConceptMap/none", "code": "X", "system": CS_URL}
    )
    assert r.status_code == 404


# -- search --------------------------------------------------------------------------------


def _ids(bundle: dict) -> list[str]:
    return sorted(e["resource"]["id"] for e in bundle.get("entry", []))


def test_search_by_canonical(term):
    assert _ids(term.get("/fhir/CodeSystem", params={"url": CS_URL}).json()) == [
        "pathologies",
        "pathologies-v2",
    ]
    r = term.get("/fhir/CodeSystem", params={"url": CS_URL, "version": "2.0.0"})
    assert _ids(r.json()) == ["pathologies-v2"]
    assert _ids(term.get("/fhir/ValueSet", params={"url": VS_URL}).json()) == ["pathologies-vs"]
    r = term.get("/fhir/ConceptMap", params={"source-uri": VS_URL})
    assert _ids(r.json()) == ["pathologies-to-icd"]


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_iti48_retrieve_value_set(term, method):
    if method == "GET":
        r = term.get("/svs/RetrieveValueSet", params={"id": "1.2.250.1.213.1.1.5.496"})
    else:
        body = (
            b'<RetrieveValueSetRequest xmlns="urn:ihe:iti:svs:2008">'
            b'<ValueSet id="1.2.250.1.213.1.1.5.496"/></RetrieveValueSetRequest>'
        )
        r = term.post("/svs/RetrieveValueSet", content=body, headers={"content-type": "text/xml"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/xml")
    from lxml import etree

    root = etree.fromstring(r.content)
    ns = {"s": "urn:ihe:iti:svs:2008"}
    concepts = root.findall(".//s:Concept", ns)
    assert len(concepts) == 5
    assert concepts[0].get("codeSystem") == "2.16.840.1.113883.6.96"
    assert concepts[0].get("displayName") == "veine jugulaire interne entière"
    # a stored value set with an OID identifier is served too
    r = term.get(
        "/svs/RetrieveValueSet", params={"id": "1.2.250.1.213.1.1.5.496", "version": "nope"}
    )
    assert r.status_code == 404
    assert term.get("/svs/RetrieveValueSet", params={"id": "1.2.3.4.5"}).status_code == 404
    assert term.get("/svs/RetrieveValueSet").status_code == 400
    assert term.get("/svs/RetrieveValueSet", params={"id": "not an oid"}).status_code == 400


def test_search_conceptmap_source_target(term):
    cm = dict(term.get("/fhir/ConceptMap/pathologies-to-icd").json())
    cm.pop("meta")
    cm.pop("sourceUri"), cm.pop("targetUri")
    cm |= {
        "id": "cm-canonical",
        "url": "http://socle.test/ConceptMap/canonical",
        "sourceCanonical": VS_URL,
        "targetCanonical": "http://socle.test/ValueSet/icd",
    }
    put(term, cm)
    r = term.get(
        "/fhir/ConceptMap", params={"source": VS_URL, "target": "http://socle.test/ValueSet/icd"}
    )
    assert _ids(r.json()) == ["cm-canonical"]
    r = term.get("/fhir/ConceptMap", params={"target-uri": "http://socle.test/ValueSet/icd"})
    assert "pathologies-to-icd" in _ids(r.json())


def test_iti48_soap_binding(term):
    envelope = (
        b'<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body>'
        b'<RetrieveValueSetRequest xmlns="urn:ihe:iti:svs:2008">'
        b'<ValueSet id="%s"/></RetrieveValueSetRequest></soap:Body></soap:Envelope>'
    )
    headers = {"content-type": "application/soap+xml"}
    r = term.post(
        "/svs/RetrieveValueSet", content=envelope % b"1.2.250.1.213.1.1.5.471", headers=headers
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/soap+xml")
    from lxml import etree

    root = etree.fromstring(r.content)
    ns = {"s": "urn:ihe:iti:svs:2008", "soap": "http://www.w3.org/2003/05/soap-envelope"}
    assert root.find("soap:Body/s:RetrieveValueSetResponse/s:ValueSet", ns).get("id") == (
        "1.2.250.1.213.1.1.5.471"
    )
    assert len(root.findall(".//s:Concept", ns)) > 50
    r = term.post("/svs/RetrieveValueSet", content=envelope % b"1.2.3.4", headers=headers)
    assert r.status_code == 400
    assert b"NAV" in r.content and b"Fault" in r.content


def test_supplement_adds_designations(term):
    put(
        term,
        {
            "resourceType": "CodeSystem",
            "id": "pathologies-de",
            "url": "http://socle.test/CodeSystem/pathologies-de",
            "status": "active",
            "content": "supplement",
            "supplements": CS_URL,
            "concept": [
                {"code": "INF", "designation": [{"language": "de", "value": "Herzinfarkt"}]},
                {"code": "UNKNOWN", "designation": [{"language": "de", "value": "Nichts"}]},
            ],
        },
    )
    p = params(
        term.get(LOOKUP, params={"system": CS_URL, "code": "INF", "displayLanguage": "de"}).json()
    )
    assert p["display"] == ["Herzinfarkt"]
    assert {"language": "de", "value": "Herzinfarkt"} in p["designation"]
    r = term.get(EXPAND, params={"url": VS_URL, "filter": "herzinf", "displayLanguage": "de"})
    assert [(c["code"], c["display"]) for c in r.json()["expansion"]["contains"]] == [
        ("INF", "Herzinfarkt")
    ]
    r = term.get(LOOKUP, params={"system": CS_URL, "code": "UNKNOWN"})
    assert r.status_code == 404  # a supplement adds no code
