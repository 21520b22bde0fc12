"""read, vread, create, update, patch and delete over HTTP, on both backends."""

from __future__ import annotations

import time
from email.utils import formatdate

from tests.fhir.rest.helpers import FHIR, issue_codes, patient


def create(client, resource):  # noqa: ANN001
    r = client.post(
        f"/fhir/{resource['resourceType']}", json=resource, headers={"Content-Type": FHIR}
    )
    assert r.status_code == 201, r.text
    return r


def test_create_then_read_has_meta_etag_and_location(client) -> None:  # noqa: ANN001
    r = create(client, patient())
    body = r.json()
    assert body["meta"]["versionId"] == "1"
    assert body["meta"]["lastUpdated"].endswith(("Z", "+00:00"))
    assert r.headers["etag"] == 'W/"1"'
    assert r.headers["location"].endswith(f"/fhir/Patient/{body['id']}/_history/1")
    assert r.headers["content-type"].startswith(FHIR)
    got = client.get(f"/fhir/Patient/{body['id']}")
    assert got.status_code == 200
    assert got.json() == body
    assert got.headers["etag"] == 'W/"1"'
    assert "last-modified" in got.headers


def test_application_json_is_accepted(client) -> None:  # noqa: ANN001
    r = client.post(
        "/fhir/Patient",
        content=b'{"resourceType":"Patient"}',
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 201


def test_update_creates_new_version_and_vread_returns_old(client) -> None:  # noqa: ANN001
    body = create(client, patient()).json()
    pid = body["id"]
    body["gender"] = "male"
    r = client.put(f"/fhir/Patient/{pid}", json=body)
    assert r.status_code == 200
    assert r.json()["meta"]["versionId"] == "2"
    assert client.get(f"/fhir/Patient/{pid}/_history/1").json()["gender"] == "female"
    assert client.get(f"/fhir/Patient/{pid}/_history/2").json()["gender"] == "male"
    assert client.get(f"/fhir/Patient/{pid}/_history/3").status_code == 404
    assert client.get(f"/fhir/Patient/{pid}/_history/x").status_code == 404


def test_update_as_create_with_client_id(client) -> None:  # noqa: ANN001
    r = client.put("/fhir/Patient/pat-client-1", json={**patient(), "id": "pat-client-1"})
    assert r.status_code == 201
    assert r.json()["id"] == "pat-client-1"
    assert client.get("/fhir/Patient/pat-client-1").status_code == 200


def test_update_id_mismatch_or_missing_is_400(client) -> None:  # noqa: ANN001
    r = client.put("/fhir/Patient/a1", json={**patient(), "id": "b2"})
    assert r.status_code == 400
    assert r.json()["issue"][0]["expression"] == ["Patient.id"]
    assert client.put("/fhir/Patient/a1", json=patient()).status_code == 400


def test_if_match_version_conflict_is_412(client) -> None:  # noqa: ANN001
    body = create(client, patient()).json()
    pid = body["id"]
    ok = client.put(f"/fhir/Patient/{pid}", json=body, headers={"If-Match": 'W/"1"'})
    assert ok.status_code == 200
    stale = client.put(f"/fhir/Patient/{pid}", json=body, headers={"If-Match": 'W/"1"'})
    assert stale.status_code == 412
    assert issue_codes(stale.json()) == ["conflict"]
    assert client.get(f"/fhir/Patient/{pid}").json()["meta"]["versionId"] == "2"


def test_delete_is_versioned_tombstone_then_410(client) -> None:  # noqa: ANN001
    pid = create(client, patient()).json()["id"]
    r = client.delete(f"/fhir/Patient/{pid}")
    assert r.status_code == 200
    assert r.headers["etag"] == 'W/"2"'
    gone = client.get(f"/fhir/Patient/{pid}")
    assert gone.status_code == 410
    assert issue_codes(gone.json()) == ["deleted"]
    assert client.get(f"/fhir/Patient/{pid}/_history/1").status_code == 200
    assert client.get(f"/fhir/Patient/{pid}/_history/2").status_code == 410
    # deleting again changes nothing; recreating continues the version line
    assert client.delete(f"/fhir/Patient/{pid}").headers["etag"] == 'W/"2"'
    again = client.put(f"/fhir/Patient/{pid}", json={**patient(), "id": pid})
    assert again.status_code == 201
    assert again.json()["meta"]["versionId"] == "3"


def test_delete_unknown_is_404(client) -> None:  # noqa: ANN001
    assert client.delete("/fhir/Patient/nope").status_code == 404


def test_read_unknown_type_and_id_are_404(client) -> None:  # noqa: ANN001
    r = client.get("/fhir/Patient/does-not-exist")
    assert r.status_code == 404 and issue_codes(r.json()) == ["not-found"]
    r = client.get("/fhir/Unicorn/1")
    assert r.status_code == 404 and issue_codes(r.json()) == ["not-supported"]


def test_patch_json_patch(client) -> None:  # noqa: ANN001
    pid = create(client, patient()).json()["id"]
    ops = [{"op": "replace", "path": "/gender", "value": "other"}]
    r = client.patch(
        f"/fhir/Patient/{pid}", json=ops, headers={"Content-Type": "application/json-patch+json"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["gender"] == "other"
    assert r.json()["meta"]["versionId"] == "2"
    failing = [{"op": "test", "path": "/gender", "value": "male"}]
    r = client.patch(
        f"/fhir/Patient/{pid}",
        json=failing,
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert r.status_code == 422
    bad = [{"op": "replace", "path": "/gender", "value": "not-a-code with  spaces"}]
    r = client.patch(
        f"/fhir/Patient/{pid}", json=bad, headers={"Content-Type": "application/json-patch+json"}
    )
    assert r.status_code == 400
    assert client.get(f"/fhir/Patient/{pid}").json()["meta"]["versionId"] == "2"


def test_prefer_return(client) -> None:  # noqa: ANN001
    r = client.post("/fhir/Patient", json=patient(), headers={"Prefer": "return=minimal"})
    assert r.status_code == 201 and r.content == b""
    assert r.headers["location"]
    r = client.post("/fhir/Patient", json=patient(), headers={"Prefer": "return=OperationOutcome"})
    assert r.status_code == 201 and r.json()["resourceType"] == "OperationOutcome"
    r = client.post("/fhir/Patient", json=patient(), headers={"Prefer": "return=representation"})
    assert r.json()["resourceType"] == "Patient"


def test_if_none_match_and_if_modified_since_give_304(client) -> None:  # noqa: ANN001
    pid = create(client, patient()).json()["id"]
    assert client.get(f"/fhir/Patient/{pid}", headers={"If-None-Match": 'W/"1"'}).status_code == 304
    assert client.get(f"/fhir/Patient/{pid}", headers={"If-None-Match": 'W/"9"'}).status_code == 200
    future = formatdate(time.time() + 3600, usegmt=True)
    past = formatdate(time.time() - 3600, usegmt=True)
    assert (
        client.get(f"/fhir/Patient/{pid}", headers={"If-Modified-Since": future}).status_code == 304
    )
    assert (
        client.get(f"/fhir/Patient/{pid}", headers={"If-Modified-Since": past}).status_code == 200
    )


def test_summary_and_elements(client) -> None:  # noqa: ANN001
    res = patient(
        text={"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'}
    )
    res["contact"] = [{"name": {"family": "Durand"}}]
    pid = create(client, res).json()["id"]
    r = client.get(f"/fhir/Patient/{pid}?_summary=true").json()
    assert "name" in r and "contact" not in r and "text" not in r
    assert {
        "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
        "code": "SUBSETTED",
    } in r["meta"]["tag"]
    r = client.get(f"/fhir/Patient/{pid}?_elements=gender").json()
    assert r["gender"] == "female" and "name" not in r and r["id"] == pid
    r = client.get(f"/fhir/Patient/{pid}?_summary=data").json()
    assert "text" not in r and "contact" in r
    r = client.get(f"/fhir/Patient/{pid}?_summary=text").json()
    assert "text" in r and "name" not in r
    assert client.get(f"/fhir/Patient/{pid}?_summary=bogus").status_code == 400


def test_format_and_pretty(client) -> None:  # noqa: ANN001
    pid = create(client, patient()).json()["id"]
    r = client.get(f"/fhir/Patient/{pid}?_format=json&_pretty=true")
    assert r.status_code == 200 and b"\n  " in r.content
    r = client.get(f"/fhir/Patient/{pid}?_format=application/fhir%2Bjson")
    assert r.status_code == 200
    r = client.get(f"/fhir/Patient/{pid}?_format=xml")
    assert r.status_code == 406 and issue_codes(r.json()) == ["not-supported"]
    r = client.get(f"/fhir/Patient/{pid}", headers={"Accept": "application/fhir+xml"})
    assert r.status_code == 406
