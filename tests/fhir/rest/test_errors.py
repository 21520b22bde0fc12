"""Every failure is an OperationOutcome with the right status, and nothing is written."""

from __future__ import annotations

import pytest

from tests.fhir.rest.helpers import FHIR, issue_codes, patient


def test_malformed_json_is_400(client) -> None:  # noqa: ANN001
    r = client.post(
        "/fhir/Patient", content=b'{"resourceType": "Patient",', headers={"Content-Type": FHIR}
    )
    assert r.status_code == 400
    assert issue_codes(r.json()) == ["invalid"]
    assert "Malformed JSON" in r.json()["issue"][0]["diagnostics"]


def test_invalid_resource_is_400_with_expression(client) -> None:  # noqa: ANN001
    r = client.post("/fhir/Patient", json={**patient(), "birthDate": "1980-13-45"})
    assert r.status_code == 400
    issue = r.json()["issue"][0]
    assert issue["expression"] == ["Patient.birthDate"]
    r = client.post("/fhir/Patient", json={**patient(), "colour": "blue"})
    assert r.status_code == 400
    assert r.json()["issue"][0]["expression"] == ["Patient.colour"]


def test_resource_type_mismatch_is_400(client) -> None:  # noqa: ANN001
    r = client.post("/fhir/Observation", json=patient())
    assert r.status_code == 400
    assert r.json()["issue"][0]["expression"] == ["resourceType"]


def test_unknown_type_is_404(client) -> None:  # noqa: ANN001
    r = client.post("/fhir/Dragon", json={"resourceType": "Dragon"})
    assert r.status_code == 404 and issue_codes(r.json()) == ["not-supported"]


def test_method_not_allowed_is_405(client) -> None:  # noqa: ANN001
    r = client.patch("/fhir/Patient", json=[])
    assert r.status_code == 405
    assert r.json()["resourceType"] == "OperationOutcome"


def test_unknown_route_is_404_outcome(client) -> None:  # noqa: ANN001
    r = client.get("/fhir/Patient/1/2/3/4/5")
    assert r.status_code == 404
    assert r.json()["resourceType"] == "OperationOutcome"


def test_unsupported_media_type_is_415(client) -> None:  # noqa: ANN001
    r = client.post(
        "/fhir/Patient", content=b"<Patient/>", headers={"Content-Type": "application/fhir+xml"}
    )
    assert r.status_code == 415
    r = client.post("/fhir/Patient", content=b"x", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415


def test_body_over_limit_is_413(client, fhir_engine) -> None:  # noqa: ANN001
    big = (
        b'{"resourceType":"Patient","text":"'
        + b"a" * (fhir_engine.settings.max_body_bytes + 10)
        + b'"}'
    )
    r = client.post("/fhir/Patient", content=big, headers={"Content-Type": FHIR})
    assert r.status_code == 413
    assert issue_codes(r.json()) == ["too-costly"]


def test_deep_nesting_is_refused(client) -> None:  # noqa: ANN001
    deep = b'{"resourceType":"Patient","extension":' + b"[" * 5000 + b"]" * 5000 + b"}"
    r = client.post("/fhir/Patient", content=deep, headers={"Content-Type": FHIR})
    assert r.status_code == 400
    assert issue_codes(r.json()) == ["too-costly"]


def test_non_object_body_is_400(client) -> None:  # noqa: ANN001
    r = client.post("/fhir/Patient", content=b"[1,2]", headers={"Content-Type": FHIR})
    assert r.status_code == 400


def test_unexpected_error_is_500_outcome_without_traceback(
    client, fhir_engine, monkeypatch
) -> None:  # noqa: ANN001
    def boom(*_a, **_k):  # noqa: ANN002, ANN003
        raise RuntimeError("secret internal detail")

    from starlette.testclient import TestClient

    monkeypatch.setattr(fhir_engine.crud, "read", boom)
    with TestClient(client.app, raise_server_exceptions=False) as quiet:
        r = quiet.get("/fhir/Patient/x")
    assert r.status_code == 500
    assert "secret" not in r.text and "Traceback" not in r.text
    assert issue_codes(r.json()) == ["exception"]


@pytest.mark.parametrize("header", ['W/"abc"', "garbage"])
def test_bad_if_match_is_400(client, header) -> None:  # noqa: ANN001
    pid = client.post("/fhir/Patient", json=patient()).json()["id"]
    r = client.put(
        f"/fhir/Patient/{pid}", json={**patient(), "id": pid}, headers={"If-Match": header}
    )
    assert r.status_code == 400


def test_oversize_search_form_is_413(client, fhir_engine) -> None:  # noqa: ANN001
    body = b"family=" + b"a" * (fhir_engine.settings.max_body_bytes + 1)
    r = client.post(
        "/fhir/Patient/_search",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 413
    assert issue_codes(r.json()) == ["too-costly"]


def test_quote_heavy_body_is_parsed_in_linear_time(client) -> None:  # noqa: ANN001
    """A string of escaped quotes made the old depth scan quadratic (seconds per 20 kB)."""
    import time

    text = '\\"' * 200_000
    body = ('{"resourceType":"Patient","name":[{"text":"' + text + '"}]}').encode()
    start = time.perf_counter()
    r = client.post("/fhir/Patient", content=body, headers={"Content-Type": FHIR})
    assert r.status_code == 201
    assert time.perf_counter() - start < 5  # was minutes at this size
