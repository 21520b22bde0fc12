"""IHE PIXm [ITI-83] and PDQm [ITI-78, ITI-119] on the INS service, with the outgoing
identifier rule (the INS leaves only with a qualified identity, RNIV).

ITI-83 2:3.83.4.2.2: success is a Parameters of targetIdentifier/targetId without the
source identifier; a known domain without the identifier is 404 not-found
("sourceIdentifier Patient Identifier not found"); an unknown source domain is 400
code-invalid ("sourceIdentifier Assigning Authority not found"); an unknown targetSystem
is 403 code-invalid ("targetSystem not found"). ITI-119 2:3.119.4.1.3: a searchset
Bundle, each entry with search.score and the match-grade extension, best first, at most
`count`, only certain ones with onlyCertainMatches; deprecated (merged) patients
are left out or returned with active=false (Case 8)."""

from __future__ import annotations

from typing import Any

import pytest

from socle.ins import model as M
from tests.ins.conftest import merge, nir, parameters, person

IPP = "urn:oid:1.2.250.1.999.41"
LAB = "urn:oid:1.2.250.1.999.42"
MATCH_GRADE = "http://hl7.org/fhir/StructureDefinition/match-grade"


def _post(c, resource: dict[str, Any]) -> str:  # noqa: ANN001
    r = c.post("/fhir/Patient", json=resource)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _pix(c, **params: Any):  # noqa: ANN001, ANN202, ANN401
    return c.get("/fhir/Patient/$ihe-pix", params=params)


def _named(parameters: dict[str, Any], name: str) -> list[Any]:
    out = []
    for p in parameters["parameter"]:
        if p["name"] == name:
            out.append(p.get("valueIdentifier") or p.get("valueReference"))
    return out


def test_pix_failures_follow_iti83(ins_client) -> None:  # noqa: ANN001
    c = ins_client
    _post(c, person(identifier=[{"system": IPP, "value": "F1"}, {"system": LAB, "value": "L1"}]))
    # missing or malformed sourceIdentifier: 400
    assert _pix(c).status_code == 400
    assert _pix(c, sourceIdentifier="F1").status_code == 400
    # known domain, unknown identifier: 404 not-found
    r = _pix(c, sourceIdentifier=f"{IPP}|nobody")
    assert r.status_code == 404
    issue = r.json()["issue"][0]
    assert issue["code"] == "not-found"
    assert issue["diagnostics"] == "sourceIdentifier Patient Identifier not found"
    # unknown domain: 400 code-invalid
    r = _pix(c, sourceIdentifier="urn:oid:1.2.250.1.999.404|F1")
    assert r.status_code == 400
    issue = r.json()["issue"][0]
    assert issue["code"] == "code-invalid"
    assert issue["diagnostics"] == "sourceIdentifier Assigning Authority not found"
    # unknown target domain: 403 code-invalid
    r = _pix(c, sourceIdentifier=f"{IPP}|F1", targetSystem="urn:oid:1.2.250.1.999.403")
    assert r.status_code == 403
    issue = r.json()["issue"][0]
    assert issue["code"] == "code-invalid" and issue["diagnostics"] == "targetSystem not found"


def test_pix_answers_and_target_filtering(ins_client) -> None:  # noqa: ANN001
    c = ins_client
    ins = nir(order=141)
    pid = _post(
        c,
        person(
            ins=ins,
            status=M.QUAL,
            mode="PA",
            identifier=[{"system": IPP, "value": "Q1"}, {"system": LAB, "value": "QL1"}],
        ),
    )
    out = _pix(c, sourceIdentifier=f"{IPP}|Q1").json()
    values = {i["system"]: i["value"] for i in _named(out, "targetIdentifier")}
    assert values == {LAB: "QL1", "urn:oid:1.2.250.1.213.1.4.10": ins}  # not the source
    assert _named(out, "targetId") == [{"reference": f"Patient/{pid}"}]
    out = _pix(c, sourceIdentifier=f"{IPP}|Q1", targetSystem=LAB).json()
    assert [i["value"] for i in _named(out, "targetIdentifier")] == ["QL1"]
    # the INS as source (qualified identity) finds the local identifiers
    out = _pix(c, sourceIdentifier=f"urn:oid:1.2.250.1.213.1.4.10|{ins}", targetSystem=IPP).json()
    assert [i["value"] for i in _named(out, "targetIdentifier")] == ["Q1"]
    # known target domain without a value for this patient: 200, no targetIdentifier
    _post(
        c, person(family="Autre", identifier=[{"system": "urn:oid:1.2.250.1.999.43", "value": "Z"}])
    )
    out = _pix(c, sourceIdentifier=f"{IPP}|Q1", targetSystem="urn:oid:1.2.250.1.999.43")
    assert out.status_code == 200 and _named(out.json(), "targetIdentifier") == []
    # the Patient's logical id as source ([base]|Patient/[id], ITI-83 2:3.83.4.1.2.1)
    out = _pix(c, sourceIdentifier=f"http://testserver/fhir|Patient/{pid}", targetSystem=IPP)
    assert out.status_code == 200, out.text
    assert [i["value"] for i in _named(out.json(), "targetIdentifier")] == ["Q1"]
    # posted with a valueIdentifier
    r = c.post(
        "/fhir/Patient/$ihe-pix",
        json=parameters(
            {"name": "sourceIdentifier", "valueIdentifier": {"system": IPP, "value": "Q1"}},
            {"name": "targetSystem", "valueUri": LAB},
        ),
    )
    assert r.status_code == 200, r.text
    assert [i["value"] for i in _named(r.json(), "targetIdentifier")] == ["QL1"]


def test_pix_does_not_share_an_unqualified_ins(ins_client) -> None:  # noqa: ANN001
    """Outgoing rule: a récupérée or validée identity's INS is not a target identifier,
    even when the INS domain is asked for; its local identifiers are."""
    c = ins_client
    ins = nir(order=142)
    _post(c, person(ins=ins, status=M.RECUP, identifier=[{"system": IPP, "value": "R1"}]))
    out = _pix(c, sourceIdentifier=f"{IPP}|R1").json()
    assert ins not in str(out)
    out = _pix(c, sourceIdentifier=f"{IPP}|R1", targetSystem="urn:oid:1.2.250.1.213.1.4.10")
    assert out.status_code == 200 and _named(out.json(), "targetIdentifier") == []


def test_pix_of_a_merged_identity_names_its_survivor(ins_client) -> None:  # noqa: ANN001
    c = ins_client
    keep = _post(c, person(identifier=[{"system": IPP, "value": "MK"}]))
    dup = _post(c, person(given="Marie", identifier=[{"system": IPP, "value": "MD"}]))
    assert merge(c, dup, keep).status_code == 200
    out = _pix(c, sourceIdentifier=f"{IPP}|MD").json()
    assert _named(out, "targetId") == [{"reference": f"Patient/{keep}"}]
    assert "MK" in [i["value"] for i in _named(out, "targetIdentifier")]


def _match(c, resource: dict[str, Any], *extra: dict[str, Any]):  # noqa: ANN001, ANN202
    return c.post(
        "/fhir/Patient/$match", json=parameters({"name": "resource", "resource": resource}, *extra)
    )


def test_match_bundle_shape_count_and_certainty(ins_client) -> None:  # noqa: ANN001
    c = ins_client
    ins = nir(order=143)
    qual = _post(c, person(family="Rigaud", ins=ins, status=M.QUAL, mode="CN"))
    close = _post(c, person(family="Rigaut"))
    r = _match(c, person(family="Rigaud"))
    assert r.status_code == 200, r.text
    bundle = r.json()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
    scores = [e["search"]["score"] for e in bundle["entry"]]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    assert {e["resource"]["id"] for e in bundle["entry"]} == {qual, close}
    for e in bundle["entry"]:
        assert e["search"]["mode"] == "match"
        grade = [x for x in e["search"]["extension"] if x["url"] == MATCH_GRADE]
        assert grade and grade[0]["valueCode"] in ("certain", "probable", "possible")
    r = _match(c, person(family="Rigaud"), {"name": "count", "valueInteger": 1})
    assert len(r.json()["entry"]) == 1
    # only certain matches: none on traits alone (Case 4/5), the INS makes it certain
    r = _match(c, person(family="Rigaud"), {"name": "onlyCertainMatches", "valueBoolean": True})
    assert r.json()["entry"] == []
    r = _match(
        c,
        person(family="Rigaud", ins=ins),
        {"name": "onlyCertainMatches", "valueBoolean": True},
    )
    entries = r.json()["entry"]
    assert [e["resource"]["id"] for e in entries] == [qual]
    assert entries[0]["search"]["extension"][0]["valueCode"] == "certain"
    # a bare Patient body is accepted (ITI-119), anything else is refused
    assert c.post("/fhir/Patient/$match", json=person(family="Rigaud")).status_code == 200
    r = _match(c, {"resourceType": "Observation", "status": "final", "code": {"text": "x"}})
    assert r.status_code == 400
    r = _match(c, person(family="Rigaud"), {"name": "count", "valueInteger": 0})
    assert r.status_code == 400


def test_match_hides_unqualified_ins_and_merged_patients(ins_client) -> None:  # noqa: ANN001
    c = ins_client
    ins = nir(order=144)
    recup = _post(c, person(family="Besson", ins=ins, status=M.RECUP))
    dup = _post(c, person(family="Besson", given="Marie"))
    assert merge(c, dup, recup).status_code == 200
    bundle = _match(c, person(family="Besson")).json()
    assert [e["resource"]["id"] for e in bundle["entry"]] == [recup]  # merged one left out
    assert ins not in str(bundle)


def test_pdqm_search_and_merged_patients(ins_client) -> None:  # noqa: ANN001
    """ITI-78: family/given/birthdate/gender/identifier searches; a merged Patient comes
    back with active=false and its replaced-by link (Case 6); the INS of a non-qualified
    identity never appears in the answer."""
    c = ins_client
    ins = nir(order=145, sex="male", year=1971, month=6)
    keep = _post(
        c,
        person(
            family="Quentrec",
            given="Yves",
            sex="male",
            birth="1971-06-02",
            ins=ins,
            status=M.RECUP,
            identifier=[{"system": IPP, "value": "S1"}],
        ),
    )
    dup = _post(c, person(family="Quentrec", given="Yves", sex="male", birth="1971-06-02"))
    assert merge(c, dup, keep).status_code == 200
    for query in (
        {"family": "quentrec"},
        {"family": "QUENTREC", "given": "yves"},
        {"family": "Quentrec", "birthdate": "1971-06-02"},
        {"family": "Quentrec", "gender": "male"},
    ):
        bundle = c.get("/fhir/Patient", params=query).json()
        assert {e["resource"]["id"] for e in bundle["entry"]} == {keep, dup}, query
        assert ins not in str(bundle)
        merged = next(e["resource"] for e in bundle["entry"] if e["resource"]["id"] == dup)
        assert merged["active"] is False
        assert merged["link"] == [
            {"other": {"reference": f"Patient/{keep}"}, "type": "replaced-by"}
        ]
    bundle = c.get("/fhir/Patient", params={"identifier": f"{IPP}|S1"}).json()
    assert [e["resource"]["id"] for e in bundle["entry"]] == [keep]
    assert (
        c.get("/fhir/Patient", params={"family": "Quentrec", "gender": "female"}).json()["total"]
        == 0
    )


def test_match_uses_local_identifiers(ins_client) -> None:  # noqa: ANN001
    """FHIR $match / ITI-119 ("ID or Name"): the query's own identifier in a domain of the
    server designates that record: a certain match, even without traits. With
    onlyCertainMatches, certain matches that are not one person give no entry (Case 5)."""
    c = ins_client
    a = _post(c, person(family="Lozac'h", identifier=[{"system": IPP, "value": "ID-A"}]))
    b = _post(c, person(family="Nedelec", given="Paul", sex="male", birth="1960-01-01"))
    c.put(
        f"/fhir/Patient/{b}",
        json={
            **c.get(f"/fhir/Patient/{b}").json(),
            "identifier": [{"system": IPP, "value": "ID-B"}],
        },
    )
    only_id = {"resourceType": "Patient", "identifier": [{"system": IPP, "value": "ID-A"}]}
    entries = _match(c, only_id).json()["entry"]
    assert [e["resource"]["id"] for e in entries] == [a]
    assert entries[0]["search"]["score"] == 1.0
    assert entries[0]["search"]["extension"][0]["valueCode"] == "certain"
    both = {
        "resourceType": "Patient",
        "identifier": [{"system": IPP, "value": "ID-A"}, {"system": IPP, "value": "ID-B"}],
    }
    assert len(_match(c, both).json()["entry"]) == 2
    certain = {"name": "onlyCertainMatches", "valueBoolean": True}
    assert _match(c, both, certain).json()["entry"] == []
    assert [e["resource"]["id"] for e in _match(c, only_id, certain).json()["entry"]] == [a]


def test_match_by_the_local_identifier_of_a_merged_record(ins_client) -> None:  # noqa: ANN001
    """The IPP of a merged record designates its survivor, as $ihe-pix answers."""
    c = ins_client
    old = _post(c, person(family="Kerhervé", identifier=[{"system": IPP, "value": "ID-M"}]))
    new = _post(c, person(family="Kerhervé", given="Marie Claire Anne"))
    assert merge(c, old, new).status_code == 200
    query = {"resourceType": "Patient", "identifier": [{"system": IPP, "value": "ID-M"}]}
    entries = _match(c, query).json()["entry"]
    assert [e["resource"]["id"] for e in entries] == [new]


@pytest.mark.parametrize(
    "change",
    [
        {"birthDate": "19800305"},
        {"birthDate": "1980-02-30"},
        {"identifier": [{"system": "urn:oid:1.2.250.1.999.1", "value": 12}]},
        {"gender": "banana"},
        {"name": [{"family": 7}]},
    ],
)
def test_match_refuses_a_malformed_patient(ins_client, change) -> None:  # noqa: ANN001
    """ITI-119: a Patient that is not one (wrong types, impossible dates, a gender outside
    the required codes) is a 400 OperationOutcome, never a 500 or a silent empty answer."""
    body = {"resourceType": "Patient", "name": [{"family": "Durand"}], **change}
    params = {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": body}]}
    r = ins_client.post("/fhir/Patient/$match", json=params)
    assert r.status_code == 400, r.text
    assert r.json()["resourceType"] == "OperationOutcome"


def test_match_parameters_are_checked(ins_client) -> None:  # noqa: ANN001
    body = {"resourceType": "Patient", "name": [{"family": "Durand"}]}
    one = {"name": "resource", "resource": body}
    only = {"name": "onlyCertainMatches", "valueString": "yes"}
    for params in ([one, one], [one, only]):
        r = ins_client.post(
            "/fhir/Patient/$match", json={"resourceType": "Parameters", "parameter": params}
        )
        assert r.status_code == 400, r.text


def test_pix_source_is_one_identifier_of_one_patient(ins_client) -> None:  # noqa: ANN001
    """ITI-83 takes exactly one sourceIdentifier: a comma is part of the value (not a list
    of patients), a second one is a 400; an INS identifies a patient only when qualified,
    and one on two qualified identities (a collision) answers no patient but a 409."""
    c = ins_client
    for ipp in ("S2", "S3"):
        _post(c, person(identifier=[{"system": IPP, "value": ipp}]))
    assert _pix(c, sourceIdentifier=f"{IPP}|S2,{IPP}|S3").status_code == 404
    both = [("sourceIdentifier", f"{IPP}|S2"), ("sourceIdentifier", f"{IPP}|S3")]
    assert c.get("/fhir/Patient/$ihe-pix", params=both).status_code == 400
    r = _pix(c, sourceIdentifier=f"{IPP}|S2", targetSystem=f"urn:oid:9.9.9,{LAB}")
    assert r.status_code == 403
    recup = nir(order=143)
    _post(c, person(ins=recup, status=M.RECUP, identifier=[{"system": IPP, "value": "S4"}]))
    assert _pix(c, sourceIdentifier=f"urn:oid:1.2.250.1.213.1.4.10|{recup}").status_code == 404
    shared = nir(order=144)
    for ipp, family in (("S5", "Collision"), ("S6", "Autre")):
        body = person(family=family, ins=shared, status=M.QUAL, mode="CN")
        ident = M.read_identity(body)
        ident.method, ident.collection_date, ident.validation_date = (
            "INSI",
            "2024-01-01",
            "2024-01-01",
        )
        _post(
            c,
            {
                **M.write_identity(body, ident),
                "identifier": [
                    *M.write_identity(body, ident)["identifier"],
                    {"system": IPP, "value": ipp},
                ],
            },
        )
    r = _pix(c, sourceIdentifier=f"urn:oid:1.2.250.1.213.1.4.10|{shared}")
    assert r.status_code == 409 and r.json()["issue"][0]["code"] == "conflict"


def test_pix_and_verify_refuse_identifiers_that_are_not_text(ins_client) -> None:  # noqa: ANN001
    c = ins_client
    _post(c, person(identifier=[{"system": IPP, "value": "T1"}]))
    source = {"name": "sourceIdentifier", "valueIdentifier": {"system": IPP, "value": 123}}
    r = c.post("/fhir/Patient/$ihe-pix", json=parameters(source))
    assert r.status_code == 400 and r.json()["resourceType"] == "OperationOutcome"
    ins = {"name": "ins", "valueIdentifier": {"system": 5, "value": nir(order=145)}}
    r = c.post("/fhir/Patient/$ins-verify", json=parameters(ins))
    assert r.status_code == 400 and r.json()["resourceType"] == "OperationOutcome"
