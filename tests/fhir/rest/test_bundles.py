"""Batch and transaction Bundles: urn:uuid rewriting, order, atomicity, per-entry results."""

from __future__ import annotations

from tests.fhir.rest.helpers import INS_TEST, observation, patient, with_ins


def _tx(entries, kind="transaction"):  # noqa: ANN001
    return {"resourceType": "Bundle", "type": kind, "entry": entries}


def _post(full_url, resource, **request):  # noqa: ANN001
    return {
        "fullUrl": full_url,
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"], **request},
    }


def _count(client, res_type) -> int:  # noqa: ANN001
    return len(client.get(f"/fhir/{res_type}/_history?_count=1000").json().get("entry", []))


def test_transaction_rewrites_urn_uuid_references(client) -> None:  # noqa: ANN001
    p = "urn:uuid:7f1c0d52-7d5a-4c1d-9b1e-000000000001"
    bundle = _tx([_post("urn:uuid:obs-1", observation(p)), _post(p, patient())])
    r = client.post("/fhir", json=bundle)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["type"] == "transaction-response"
    obs_loc, pat_loc = (e["response"]["location"] for e in out["entry"])
    assert all(e["response"]["status"] == "201 Created" for e in out["entry"])
    assert all(e["response"]["etag"] == 'W/"1"' for e in out["entry"])
    assert "lastModified" in out["entry"][0]["response"]
    pat_id = pat_loc.split("/")[1]
    obs = client.get("/fhir/" + obs_loc.split("/_history")[0]).json()
    assert obs["subject"]["reference"] == f"Patient/{pat_id}"


def test_transaction_is_all_or_nothing(client) -> None:  # noqa: ANN001
    bad = _tx(
        [_post("urn:uuid:a", patient()), _post("urn:uuid:b", {**patient(), "birthDate": "nope"})]
    )
    r = client.post("/fhir", json=bad)
    assert r.status_code == 400
    issue = r.json()["issue"][0]
    assert "Bundle.entry[1]" in issue["diagnostics"]
    assert _count(client, "Patient") == 0


def test_transaction_processing_order_delete_before_get(client) -> None:  # noqa: ANN001
    """The GET is listed first but runs after the DELETE, so it fails; all is rolled back."""
    client.put("/fhir/Patient/p-old", json={**patient(), "id": "p-old"})
    bundle = _tx(
        [
            {"request": {"method": "GET", "url": "Patient/p-old"}},
            _post("urn:uuid:n", patient(family="Nouveau")),
            {"request": {"method": "DELETE", "url": "Patient/p-old"}},
        ]
    )
    r = client.post("/fhir", json=bundle)
    assert r.status_code == 410
    assert "Bundle.entry[0]" in r.json()["issue"][0]["diagnostics"]
    assert client.get("/fhir/Patient/p-old").status_code == 200
    assert _count(client, "Patient") == 1


def test_batch_entries_fail_independently(client) -> None:  # noqa: ANN001
    bundle = _tx(
        [
            _post("urn:uuid:ok", patient()),
            _post("urn:uuid:ko", {**patient(), "gender": "cat with  spaces"}),
            {"request": {"method": "GET", "url": "Patient/missing"}},
        ],
        kind="batch",
    )
    out = client.post("/fhir", json=bundle).json()
    assert out["type"] == "batch-response"
    statuses = [e["response"]["status"] for e in out["entry"]]
    assert statuses[0] == "201 Created"
    assert statuses[1].startswith("400")
    assert out["entry"][1]["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert statuses[2].startswith("404")
    assert _count(client, "Patient") == 1


def test_batch_get_sees_delete_first(client) -> None:  # noqa: ANN001
    client.put("/fhir/Patient/p-b", json={**patient(), "id": "p-b"})
    bundle = _tx(
        [
            {"request": {"method": "GET", "url": "Patient/p-b"}},
            {"request": {"method": "DELETE", "url": "Patient/p-b"}},
        ],
        kind="batch",
    )
    out = client.post("/fhir", json=bundle).json()
    assert out["entry"][1]["response"]["status"] == "200 OK"
    assert out["entry"][0]["response"]["status"].startswith("410")


def test_conditional_create_in_transaction_and_conditional_reference(client) -> None:  # noqa: ANN001
    ins = "280047512345658"
    client.post("/fhir/Patient", json=with_ins(patient(), ins))
    bundle = _tx(
        [
            _post(
                "urn:uuid:p", with_ins(patient(), ins), ifNoneExist=f"identifier={INS_TEST}|{ins}"
            ),
            _post("urn:uuid:o", observation(f"Patient?identifier={INS_TEST}|{ins}")),
        ]
    )
    out = client.post("/fhir", json=bundle).json()
    assert out["entry"][0]["response"]["status"] == "200 OK"
    pid = out["entry"][0]["response"]["location"].split("/")[1]
    obs_loc = out["entry"][1]["response"]["location"].split("/_history")[0]
    assert client.get(f"/fhir/{obs_loc}").json()["subject"]["reference"] == f"Patient/{pid}"
    assert _count(client, "Patient") == 1


def test_unresolvable_conditional_reference_fails_transaction(client) -> None:  # noqa: ANN001
    bundle = _tx([_post("urn:uuid:o", observation(f"Patient?identifier={INS_TEST}|none"))])
    r = client.post("/fhir", json=bundle)
    assert r.status_code == 412
    assert _count(client, "Observation") == 0


def test_transaction_put_patch_and_prefer_representation(client) -> None:  # noqa: ANN001
    import base64
    import json

    client.put("/fhir/Patient/p-t", json={**patient(), "id": "p-t"})
    patch = base64.b64encode(
        json.dumps([{"op": "replace", "path": "/gender", "value": "male"}]).encode()
    ).decode()
    bundle = _tx(
        [
            {
                "resource": {
                    "resourceType": "Binary",
                    "contentType": "application/json-patch+json",
                    "data": patch,
                },
                "request": {"method": "PATCH", "url": "Patient/p-t"},
            },
            {
                "fullUrl": "Patient/p-new",
                "resource": {**patient(), "id": "p-new"},
                "request": {"method": "PUT", "url": "Patient/p-new"},
            },
        ]
    )
    out = client.post("/fhir", json=bundle, headers={"Prefer": "return=representation"}).json()
    assert out["entry"][0]["resource"]["gender"] == "male"
    assert out["entry"][0]["response"]["etag"] == 'W/"2"'
    assert out["entry"][1]["resource"]["id"] == "p-new"
    assert out["entry"][1]["response"]["status"] == "201 Created"


def test_bad_bundles_are_400(client) -> None:  # noqa: ANN001
    assert client.post("/fhir", json=patient()).status_code == 400
    assert (
        client.post("/fhir", json={"resourceType": "Bundle", "type": "collection"}).status_code
        == 400
    )
    r = client.post(
        "/fhir",
        json=_tx([{"resource": patient(), "request": {"method": "FETCH", "url": "Patient"}}]),
    )
    assert r.status_code == 400
    dup = _tx([_post("urn:uuid:same", patient()), _post("urn:uuid:same", patient())])
    assert client.post("/fhir", json=dup).status_code == 400
    dangling = _tx([_post("urn:uuid:o", observation("urn:uuid:nowhere"))])
    assert client.post("/fhir", json=dangling).status_code == 400
