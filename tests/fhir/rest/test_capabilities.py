"""GET /metadata is truthful: it lists what the engine actually does."""

from __future__ import annotations


def test_capability_statement(client, fhir_engine) -> None:  # noqa: ANN001
    r = client.get("/fhir/metadata")
    assert r.status_code == 200
    cs = r.json()
    assert cs["resourceType"] == "CapabilityStatement" and cs["fhirVersion"] == "4.0.1"
    rest = cs["rest"][0]
    types = {res["type"] for res in rest["resource"]}
    assert types == set(fhir_engine.model.resource_types)
    patient = next(res for res in rest["resource"] if res["type"] == "Patient")
    codes = {i["code"] for i in patient["interaction"]}
    assert {"read", "vread", "update", "patch", "delete", "create", "search-type"} <= codes
    params = {p["name"]: p["type"] for p in patient["searchParam"]}
    assert params["identifier"] == "token" and params["birthdate"] == "date"
    assert {i["code"] for i in rest["interaction"]} >= {"transaction", "batch", "history-system"}
    assert "application/json-patch+json" in cs["patchFormat"]


def test_registered_operation_appears_and_runs(client, fhir_engine) -> None:  # noqa: ANN001
    from socle.fhir.operations.registry import Operation

    def echo(call):  # noqa: ANN001, ANN202
        return {
            "resourceType": "Parameters",
            "parameter": [{"name": "echo", "valueString": call.param("text", "")}],
        }

    if "echo-test" not in {op.name for op in fhir_engine.operations.all()}:
        fhir_engine.operations.register(
            Operation("echo-test", echo, frozenset({"system", "type"}), frozenset({"Patient"}))
        )
    cs = client.get("/fhir/metadata").json()
    patient = next(res for res in cs["rest"][0]["resource"] if res["type"] == "Patient")
    assert "echo-test" in {o["name"] for o in patient.get("operation", [])}
    r = client.get("/fhir/Patient/$echo-test?text=bonjour")
    assert r.json()["parameter"][0]["valueString"] == "bonjour"
    body = {"resourceType": "Parameters", "parameter": [{"name": "text", "valueString": "salut"}]}
    assert (
        client.post("/fhir/$echo-test", json=body).json()["parameter"][0]["valueString"] == "salut"
    )
    assert client.get("/fhir/Observation/$echo-test").status_code == 404
    assert client.get("/fhir/$nope").status_code == 404


def test_advertised_search_parameters_are_accepted(client) -> None:  # noqa: ANN001
    """Every parameter /metadata lists is one search accepts (refused ones are not listed)."""
    patient = next(
        res
        for res in client.get("/fhir/metadata").json()["rest"][0]["resource"]
        if res["type"] == "Patient"
    )
    names = {p["name"] for p in patient["searchParam"]}
    assert "_list" in names and "_id" in names
    assert not names & {"_text", "_content", "_query", "_filter"}
    for name in ("_list", "_text"):
        r = client.get(f"/fhir/Patient?{name}=x")
        assert (r.status_code == 200) == (name in names), (name, r.text)
