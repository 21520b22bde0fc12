"""GET /metadata is truthful: it lists what the engine actually does."""

from __future__ import annotations

from pathlib import Path

import pytest


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


# -- supportedProfile: the validator's profiles, one version each, computed once ---------------

FR_CORE = "https://hl7.fr/ig/fhir/core/StructureDefinition/"
CUSTOM = "https://example.org/StructureDefinition/custom-patient"
OLD_ONLY = "https://example.org/StructureDefinition/old-patient"


def _resources(client) -> dict[str, dict]:  # noqa: ANN001
    r = client.get("/fhir/metadata")
    assert r.status_code == 200
    return {res["type"]: res for res in r.json()["rest"][0]["resource"]}


def _assert_one_version_each(resources: dict[str, dict]) -> None:
    for res in resources.values():
        listed = res.get("supportedProfile", [])
        bare = [p.split("|", 1)[0] for p in listed]
        assert len(bare) == len(set(bare)), (res["type"], listed)


def test_a_known_fr_core_profile_is_supported_for_patient(client) -> None:  # noqa: ANN001
    resources = _resources(client)
    patient = resources["Patient"]["supportedProfile"]
    assert FR_CORE + "fr-core-patient" in patient
    assert FR_CORE + "fr-core-patient-ins" in patient
    _assert_one_version_each(resources)


@pytest.fixture
def own_engine(tmp_path: Path):  # noqa: ANN201
    """An engine with its own data directory (packages can be installed into it)."""
    from socle.config import Settings
    from socle.fhir.engine import FhirEngine
    from socle.fhir.storage.database import create_db_engine
    from socle.fhir.storage.migrate import migrate

    url = f"sqlite:///{tmp_path / 'socle.db'}"
    db = create_db_engine(url, pool_size=1)
    migrate(db)
    db.dispose()
    engine = FhirEngine(Settings(data_dir=tmp_path / "data", database_url=url))
    yield engine
    engine.close()


def _client(engine):  # noqa: ANN001, ANN202
    from starlette.testclient import TestClient

    from socle.server import create_server

    return TestClient(create_server(engine.settings, engine), base_url="http://testserver")


def test_two_versions_of_a_profile_are_listed_once(own_engine, tmp_path: Path) -> None:  # noqa: ANN001
    from socle.fhir.packages.store import PackageStore
    from tests.fhir.packages.helpers import make_package, profile

    store = PackageStore(own_engine.settings.data_dir)
    for version, extra in (("1.0.0", [profile(OLD_ONLY, "1.0.0")]), ("2.0.0", [])):
        archive = make_package(
            tmp_path / f"custom-{version}.tgz",
            "example.custom",
            version,
            resources=[profile(CUSTOM, version), *extra],
        )
        store.install(archive)
    with _client(own_engine) as client:
        resources = _resources(client)
    _assert_one_version_each(resources)
    patient = resources["Patient"]["supportedProfile"]
    assert patient.count(CUSTOM) == 1 and patient == sorted(patient)
    assert FR_CORE + "fr-core-patient" in patient
    # what is listed is what the validator resolves (the highest loaded version)
    used = own_engine.validation.context.structure_definition(CUSTOM)
    assert used is not None and used["version"] == "2.0.0"
    assert OLD_ONLY in patient  # still loaded (from 1.0.0), so still usable


def test_supported_profiles_are_not_recomputed_per_request(own_engine, monkeypatch) -> None:  # noqa: ANN001
    from socle.fhir.packages.store import PackageStore

    scans = []
    entries = PackageStore.entries

    def counted(self):  # noqa: ANN001, ANN202
        scans.append(1)
        return entries(self)

    with _client(own_engine) as client:
        first = _resources(client)["Patient"]["supportedProfile"]
        monkeypatch.setattr(PackageStore, "entries", counted)
        for _ in range(3):
            assert _resources(client)["Patient"]["supportedProfile"] == first
    assert scans == []  # the package directories were not read again
