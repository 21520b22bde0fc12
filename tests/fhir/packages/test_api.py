"""Package definitions through the API: seeded into a tenant, searchable, removable."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from socle.fhir.packages.seed import TAG_SYSTEM, seed_packages, unseed_package

PATIENT_INS = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient-ins"


@pytest.fixture
def default_client(fhir_engine):  # noqa: ANN001
    """A client on the engine's own tenant, where definitions are seeded on first read."""
    from socle.server import create_server

    app = create_server(fhir_engine.settings, fhir_engine)
    with TestClient(app, base_url="http://testserver") as c:
        yield c


def test_definitions_are_served_in_the_server_tenant(default_client) -> None:  # noqa: ANN001
    r = default_client.get(f"/fhir/StructureDefinition?url={PATIENT_INS}")
    assert r.status_code == 200
    bundle = r.json()
    assert bundle["total"] == 1
    sd = bundle["entry"][0]["resource"]
    assert sd["id"] == "fr-core-patient-ins" and sd["version"] == "2.2.0"
    assert {k: v for k, v in sd["meta"]["tag"][0].items() if k != "display"} == {
        "system": TAG_SYSTEM,
        "code": "hl7.fhir.fr.core@2.2.0",
    }
    r = default_client.get("/fhir/ValueSet/fr-core-vs-patient-gender")
    assert r.status_code == 200 and r.json()["resourceType"] == "ValueSet"
    r = default_client.get("/fhir/SearchParameter?code=address-line&base=Organization")
    assert r.json()["total"] == 1
    # the routes that share the path keep working
    assert default_client.get("/fhir/StructureDefinition/_history?_count=1").status_code == 200
    assert default_client.get("/fhir/ValueSet/$validate").status_code == 400


def test_other_tenants_are_seeded_on_request(client, fhir_engine, tenant) -> None:  # noqa: ANN001
    assert client.get(f"/fhir/StructureDefinition?url={PATIENT_INS}").json()["total"] == 0
    packages = [
        p for p in fhir_engine.validation.context.non_core_packages() if p.name == "ans.fhir.fr.tde"
    ]
    report = seed_packages(fhir_engine, tenant, packages)
    assert report.written == {"ans.fhir.fr.tde@2.0.0": 7}
    assert seed_packages(fhir_engine, tenant, packages).skipped == ["ans.fhir.fr.tde@2.0.0"]
    found = client.get("/fhir/CapabilityStatement?_summary=count").json()["total"]
    assert found == 3
    assert unseed_package(fhir_engine, tenant, packages[0]) == 7
    assert client.get("/fhir/CapabilityStatement?_summary=count").json()["total"] == 0


def test_package_search_parameters_are_registered(client) -> None:  # noqa: ANN001
    org = {
        "resourceType": "Organization",
        "name": "Centre de santé",
        "address": [{"line": ["12 rue des Lilas"], "city": "Lyon"}],
    }
    assert client.post("/fhir/Organization", json=org).status_code == 201
    bundle = client.get("/fhir/Organization?address-line:contains=lilas").json()
    assert bundle["total"] == 1
    cs = client.get("/fhir/metadata").json()
    org_params = {
        p["name"]
        for res in cs["rest"][0]["resource"]
        if res["type"] == "Organization"
        for p in res.get("searchParam", [])
    }
    assert {"address-line", "mailbox-mss", "pharmacy-licence"} <= org_params
    validate_ops = {
        o["name"] for res in cs["rest"][0]["resource"] for o in res.get("operation", [])
    }
    assert "validate" in validate_ops
