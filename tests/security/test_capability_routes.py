"""SMART in the CapabilityStatement, and services' routes behind the same security."""

from __future__ import annotations

import orjson
from sqlalchemy import select

from socle.security import tables as T
from tests.security.conftest import ISSUER, bearer, pro

OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
SVS = "/svs/RetrieveValueSet?id=1.2.250.1.213.1.1.5.1"


def test_capability_statement_declares_smart_on_fhir(api) -> None:  # noqa: ANN001
    r = api.get("/fhir/metadata")  # public
    assert r.status_code == 200
    security = r.json()["rest"][0]["security"]
    coding = security["service"][0]["coding"][0]
    assert (coding["system"], coding["code"]) == (
        "http://terminology.hl7.org/CodeSystem/restful-security-service",
        "SMART-on-FHIR",
    )
    assert security["cors"] is False  # SOCLE_CORS_ORIGINS is not set in these tests
    (oauth,) = [e for e in security["extension"] if e["url"] == OAUTH_URIS]
    uris = {e["url"]: e["valueUri"] for e in oauth["extension"]}
    assert uris == {
        "authorize": f"{ISSUER}/authorize",
        "token": f"{ISSUER}/token",
        "revoke": f"{ISSUER}/revoke",
        "introspect": f"{ISSUER}/introspect",
    }
    smart = api.get("/.well-known/smart-configuration").json()
    assert smart["token_endpoint"] == uris["token"]
    assert smart["revocation_endpoint"] == uris["revoke"]


def test_cors_is_declared_and_served_when_origins_are_configured(sec_engine, tenant) -> None:  # noqa: ANN001
    from dataclasses import replace

    from starlette.testclient import TestClient

    from socle.security.capability import security_section
    from socle.server import create_server

    security = sec_engine.socle_security
    original = security.config
    security.config = replace(original, cors_origins=("https://app.example",))
    try:
        assert security_section(security.config)["cors"] is True
        app = create_server(sec_engine.settings, sec_engine, tenant=tenant, auth="oidc")
        with TestClient(app, base_url="http://testserver") as client:
            preflight = client.options(
                "/fhir/Patient",
                headers={
                    "Origin": "https://app.example",
                    "Access-Control-Request-Method": "GET",
                    "Access-Control-Request-Headers": "authorization",
                },
            )
            assert preflight.status_code == 200
            assert preflight.headers["access-control-allow-origin"] == "https://app.example"
            # CORS does not open the API: still a bearer token per request
            r = client.get("/fhir/Patient", headers={"Origin": "https://app.example"})
            assert r.status_code == 401
    finally:
        security.config = original


def _last_event(sec_engine, tenant: str) -> dict:  # noqa: ANN001
    with sec_engine.store.engine.connect() as conn:
        content = conn.execute(
            select(T.audit_log.c.content)
            .where(T.audit_log.c.tenant == tenant)
            .order_by(T.audit_log.c.seq.desc())
            .limit(1)
        ).scalar_one()
    return orjson.loads(content)


def test_plugin_route_is_authenticated_authorized_audited(api, world, token, sec_engine) -> None:  # noqa: ANN001
    assert api.get(SVS).status_code == 401
    assert api.get(SVS, headers=bearer("not-a-token")).status_code == 401
    gp = token("practitioner", **pro(world, "gp"))
    r = api.get(SVS, headers=bearer(gp))
    assert r.status_code in (200, 404), r.text  # answered by the SVS service (value set or fault)
    event = _last_event(sec_engine, world.tenant)
    assert event["subtype"][0]["code"] == "operation"
    assert event["agent"][0]["who"]["identifier"]["value"] == world.rpps["gp"]
    assert any(e.get("name") == "svs/RetrieveValueSet" for e in event["entity"])
    assert event["outcome"] == ("0" if r.status_code == 200 else "4")
    # the policy decides: patients may not use this service (policy `operations.default`)
    patient = token("patient", patient=world.bob, fhirUser=f"Patient/{world.bob}")
    refused = api.get(SVS, headers=bearer(patient))
    assert refused.status_code == 403
    assert refused.json()["resourceType"] == "OperationOutcome"
    event = _last_event(sec_engine, world.tenant)
    assert event["subtype"][0]["code"] == "operation" and event["outcome"] == "4"


def test_plugin_routes_handing_over_to_fhir_are_audited_once(api, world, token, sec_engine) -> None:  # noqa: ANN001
    """The conformance service's /fhir/ValueSet route delegates to the kernel's search."""
    patient = token("patient", patient=world.bob, fhirUser=f"Patient/{world.bob}")
    with sec_engine.store.engine.connect() as conn:
        before = conn.execute(select(T.audit_log.c.seq).order_by(T.audit_log.c.seq.desc())).first()
    r = api.get("/fhir/ValueSet?_count=1&_elements=url", headers=bearer(patient))
    assert r.status_code == 200, r.text
    with sec_engine.store.engine.connect() as conn:
        rows = conn.execute(
            select(T.audit_log.c.action).where(T.audit_log.c.seq > (before[0] if before else 0))
        ).scalars()
        assert list(rows) == ["search"]
