"""Identity vigilance: scored matching, PDQm $match, PIXm, collisions, worklist, merge."""

from __future__ import annotations

from socle.ins import model as M
from socle.ins import vigilance as V
from tests.ins.conftest import nir, person

IPP = "urn:oid:1.2.250.1.999.1"


def _post(c, resource):  # noqa: ANN001, ANN202
    r = c.post("/fhir/Patient", json=resource)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _match(c, resource, **params):  # noqa: ANN001, ANN202, ANN003
    body = {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": resource}]}
    for k, v in params.items():
        body["parameter"].append({"name": k, "valueString": str(v)})
    r = c.post("/fhir/Patient/$match", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def test_score_rules() -> None:
    from socle.ins.index import row_of

    def row(**kw):  # noqa: ANN003, ANN202
        return row_of("t", "x", 1, M.read_identity(person(**kw)))

    base = row()
    assert V.score(base, row())[0] >= 0.95
    inverted, _ = V.score(base, row(birth="1985-07-03"))
    phonetic, _ = V.score(base, row(family="Martain"))
    other, _ = V.score(base, row(family="Bernard", given="Paul", birth="1990-01-01", sex="male"))
    assert 0.85 <= inverted < 0.97 and 0.85 <= phonetic < 0.97 and other < 0.5
    assert V.score(row(ins=nir()), row(family="Zed", ins=nir()))[0] == 1.0
    names_swapped, _ = V.score(base, row(family="Marie", given="Martin"))
    assert names_swapped >= 0.7


def test_match_and_duplicates(ins_client) -> None:  # noqa: ANN001
    c = ins_client
    target = _post(
        c,
        person(family="Lefebvre", given="Philippe", sex="male", birth="1970-04-12", place="29019"),
    )
    _post(c, person(family="Durand", given="Paul", sex="male", birth="1970-04-12"))
    _post(
        c, person(family="Lefebvre", given="Philippe", sex="male", birth="1999-09-09", active=False)
    )
    query = person(family="Lefèvre", given="Filipe", sex="male", birth="1970-12-04", place="29019")
    bundle = _match(c, query)
    assert [e["resource"]["id"] for e in bundle["entry"]] == [target]
    entry = bundle["entry"][0]
    assert 0.7 <= entry["search"]["score"] < 0.97
    assert entry["search"]["extension"][0]["valueCode"] in ("probable", "possible")
    assert _match(c, query, onlyCertainMatches="true")["total"] == 0
    dup = _post(
        c,
        person(family="Lefebvre", given="Philippe", sex="male", birth="1970-04-12", place="29019"),
    )
    r = c.get(f"/fhir/Patient/{dup}/$ins-duplicates")
    assert [e["resource"]["id"] for e in r.json()["entry"]] == [target]


def test_collision_worklist_and_pix(ins_client) -> None:  # noqa: ANN001
    c = ins_client
    ins = nir(order=77)
    a = _post(
        c, person(ins=ins, status=M.QUAL, mode="CN", identifier=[{"system": IPP, "value": "A1"}])
    )
    b = _post(
        c,
        person(
            family="Autre",
            given="Nom",
            ins=ins,
            status=M.RECUP,
            identifier=[{"system": IPP, "value": "B2"}],
        ),
    )
    work = c.get("/fhir/Patient/$ins-worklist").json()
    kinds = [
        {p["name"]: p for p in item["part"]}["kind"]["valueCode"] for item in work["parameter"]
    ]
    assert kinds[0] == "collision" and "to-validate" in kinds
    pix = c.get("/fhir/Patient/$ihe-pix", params={"sourceIdentifier": f"{IPP}|A1"}).json()
    values = [
        p["valueIdentifier"]["value"] for p in pix["parameter"] if p["name"] == "targetIdentifier"
    ]
    assert values == [ins]  # qualified: its INS is shared
    pix = c.get("/fhir/Patient/$ihe-pix", params={"sourceIdentifier": f"{IPP}|B2"}).json()
    assert [p for p in pix["parameter"] if p["name"] == "targetIdentifier"] == []  # récupérée
    assert pix["parameter"][0]["valueReference"]["reference"] == f"Patient/{b}"
    assert (
        c.get("/fhir/Patient/$ihe-pix", params={"sourceIdentifier": f"{IPP}|none"}).status_code
        == 404
    )
    assert a != b


def test_merge_unmerge_and_cycles(ins_client) -> None:  # noqa: ANN001
    c = ins_client
    keep = _post(c, person(identifier=[{"system": IPP, "value": "K"}]))
    dup = _post(c, person(given="Marie", identifier=[{"system": IPP, "value": "D"}]))
    obs = c.post(
        "/fhir/Observation",
        json={
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "poids"},
            "subject": {"reference": f"Patient/{dup}"},
        },
    ).json()
    merge = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "source-patient", "valueReference": {"reference": f"Patient/{dup}"}},
            {"name": "target-patient", "valueReference": {"reference": f"Patient/{keep}"}},
        ],
    }
    r = c.post("/fhir/Patient/$ins-merge", json=merge)
    assert r.status_code == 200, r.text
    assert (
        c.get(f"/fhir/Observation/{obs['id']}").json()["subject"]["reference"] == f"Patient/{keep}"
    )
    src = c.get(f"/fhir/Patient/{dup}").json()
    assert src["active"] is False and src["link"][0]["type"] == "replaced-by"
    assert c.get(f"/fhir/Patient/{keep}").json()["link"][0]["type"] == "replaces"
    pix = c.get("/fhir/Patient/$ihe-pix", params={"sourceIdentifier": f"{IPP}|D"}).json()
    refs = [p["valueReference"]["reference"] for p in pix["parameter"] if p["name"] == "targetId"]
    assert refs == [f"Patient/{keep}"]  # the merged identity answers with the survivor
    # a cycle (keep into dup) and a self-merge are refused, nothing changes
    back = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "source-patient", "valueString": keep},
            {"name": "target-patient", "valueString": dup},
        ],
    }
    r = c.post("/fhir/Patient/$ins-merge", json=back)
    assert r.status_code == 422 and "cycle" in r.text
    self_merge = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "source-patient", "valueString": keep},
            {"name": "target-patient", "valueString": keep},
        ],
    }
    assert c.post("/fhir/Patient/$ins-merge", json=self_merge).status_code == 422
    assert c.get(f"/fhir/Patient/{keep}").json()["meta"]["versionId"] == "2"
    r = c.post(f"/fhir/Patient/{dup}/$ins-unmerge", json={"resourceType": "Parameters"})
    assert r.status_code == 200, r.text
    assert (
        c.get(f"/fhir/Observation/{obs['id']}").json()["subject"]["reference"] == f"Patient/{dup}"
    )
    assert "active" not in c.get(f"/fhir/Patient/{dup}").json()  # as before the merge
    assert "link" not in c.get(f"/fhir/Patient/{keep}").json()
    provs = c.get("/fhir/Provenance", params={"target": f"Patient/{dup}"}).json()
    assert provs["total"] == 2


def test_pix_reads_the_matched_patients_once(ins_client, monkeypatch) -> None:  # noqa: ANN001
    from socle.fhir.storage.store import StoreSession

    c = ins_client
    keep = _post(c, person(identifier=[{"system": IPP, "value": "PK"}]))
    dup = _post(c, person(given="Marie", identifier=[{"system": IPP, "value": "PD"}]))
    merge = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "source-patient", "valueReference": {"reference": f"Patient/{dup}"}},
            {"name": "target-patient", "valueReference": {"reference": f"Patient/{keep}"}},
        ],
    }
    assert c.post("/fhir/Patient/$ins-merge", json=merge).status_code == 200
    reads: list[str] = []
    real_read = StoreSession.read

    def read(self, res_type, res_id):  # noqa: ANN001, ANN202
        reads.append(res_id)
        return real_read(self, res_type, res_id)

    monkeypatch.setattr(StoreSession, "read", read)
    for source, answer in ((f"{IPP}|PD", keep), (f"{IPP}|PK", keep)):
        reads.clear()
        pix = c.get("/fhir/Patient/$ihe-pix", params={"sourceIdentifier": source}).json()
        refs = [p["valueReference"] for p in pix["parameter"] if p["name"] == "targetId"]
        assert refs == [{"reference": f"Patient/{answer}"}]
        assert dup not in reads  # the matched ones come from the search's fetch alone
    assert keep not in reads  # matched and not merged: no other read
