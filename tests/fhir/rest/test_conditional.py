"""Conditional create, update and delete."""

from __future__ import annotations

from tests.fhir.rest.helpers import INS_TEST, patient, with_ins


def test_conditional_create_if_none_exist(client) -> None:  # noqa: ANN001
    res = with_ins(patient(), "180017512300130")
    cond = {"If-None-Exist": f"identifier={INS_TEST}|180017512300130"}
    first = client.post("/fhir/Patient", json=res, headers=cond)
    assert first.status_code == 201
    second = client.post("/fhir/Patient", json=res, headers=cond)
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    client.post("/fhir/Patient", json=res)  # a duplicate made without the condition
    third = client.post("/fhir/Patient", json=res, headers=cond)
    assert third.status_code == 412


def test_conditional_update(client) -> None:  # noqa: ANN001
    url = f"/fhir/Patient?identifier={INS_TEST}|280017512300276"
    res = with_ins(patient(), "280017512300276")
    created = client.put(url, json=res)
    assert created.status_code == 201
    pid = created.json()["id"]
    updated = client.put(url, json={**res, "gender": "male"})
    assert updated.status_code == 200
    assert updated.json()["id"] == pid and updated.json()["meta"]["versionId"] == "2"
    wrong_id = client.put(url, json={**res, "id": "another"})
    assert wrong_id.status_code == 400
    client.post("/fhir/Patient", json=res)
    assert client.put(url, json=res).status_code == 412


def test_conditional_delete(client) -> None:  # noqa: ANN001
    for _ in range(2):
        client.post("/fhir/Patient", json=with_ins(patient(), "180019912300161"))
    keep = client.post("/fhir/Patient", json=with_ins(patient(), "180019912300260")).json()["id"]
    r = client.delete(f"/fhir/Patient?identifier={INS_TEST}|180019912300161")
    assert r.status_code == 200
    assert "Deleted 2" in r.json()["issue"][0]["diagnostics"]
    assert client.get(f"/fhir/Patient/{keep}").status_code == 200
    none = client.delete(f"/fhir/Patient?identifier={INS_TEST}|nobody")
    assert none.status_code == 200 and "Deleted 0" in none.text
    assert client.delete("/fhir/Patient").status_code == 400


def test_conditional_with_unknown_parameter_is_400(client) -> None:  # noqa: ANN001
    r = client.post("/fhir/Patient", json=patient(), headers={"If-None-Exist": "shoe-size=42"})
    assert r.status_code == 400
