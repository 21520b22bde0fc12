"""`/metadata` advertises the profiles of the loaded packages, and follows install/remove."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console
from starlette.testclient import TestClient

from socle.cli.main import main
from tests.fhir.packages.helpers import make_package, profile

FR_CORE = "https://hl7.fr/ig/fhir/core/StructureDefinition/"
CUSTOM = "https://example.org/StructureDefinition/custom-patient"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch) -> Path:  # noqa: ANN001
    data = tmp_path / "data"
    monkeypatch.setenv("SOCLE_DATA_DIR", str(data))
    monkeypatch.setenv("SOCLE_DATABASE_URL", f"sqlite:///{tmp_path / 'socle.db'}")
    monkeypatch.setenv("SOCLE_TENANT", "default")
    import socle.cli.packages as cli

    monkeypatch.setattr(cli, "out", Console(width=200))
    monkeypatch.setattr(cli, "err", Console(width=200, stderr=True))
    assert main(["migrate"]) == 0
    return data


@pytest.fixture
def metadata(data_dir: Path):  # noqa: ANN201
    """A function returning `rest.resource` of /metadata by type, from a live server app."""
    from socle.config import load_settings
    from socle.fhir.engine import FhirEngine
    from socle.server import create_server

    settings = load_settings()
    engine = FhirEngine(settings)
    app = create_server(settings, engine)
    with TestClient(app, base_url="http://testserver") as client:

        def get() -> dict[str, dict]:
            r = client.get("/fhir/metadata")
            assert r.status_code == 200
            return {res["type"]: res for res in r.json()["rest"][0]["resource"]}

        yield get
    engine.close()


def test_resource_profiles_of_the_packages_are_supported(metadata) -> None:  # noqa: ANN001
    resources = metadata()
    patient = resources["Patient"]["supportedProfile"]
    assert FR_CORE + "fr-core-patient-ins" in patient
    assert FR_CORE + "fr-core-patient" in patient
    assert patient == sorted(set(patient))
    observation = resources["Observation"]["supportedProfile"]
    assert FR_CORE + "fr-core-observation-bp" in observation
    annuaire = "https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/"
    assert annuaire + "as-practitioner" in resources["Practitioner"]["supportedProfile"]
    # only resource profiles, each under its own type
    everywhere = {url for res in resources.values() for url in res.get("supportedProfile", [])}
    assert FR_CORE + "fr-core-human-name" not in everywhere  # a datatype profile
    assert FR_CORE + "fr-core-patient-birth-list-given-name" not in everywhere  # an extension
    assert "supportedProfile" not in resources["Basic"]
    assert resources["Patient"]["profile"] == "http://hl7.org/fhir/StructureDefinition/Patient"


def test_supported_profiles_follow_install_and_remove(metadata, tmp_path, capsys) -> None:  # noqa: ANN001
    assert CUSTOM not in metadata()["Patient"]["supportedProfile"]
    archive = make_package(
        tmp_path / "custom.tgz", "example.custom", "1.0.0", resources=[profile(CUSTOM, "1.0.0")]
    )
    assert main(["packages", "install", str(archive)]) == 0
    assert CUSTOM in metadata()["Patient"]["supportedProfile"]
    assert main(["packages", "remove", "example.custom"]) == 0
    assert CUSTOM not in metadata()["Patient"]["supportedProfile"]
    capsys.readouterr()


def test_a_broken_archive_does_not_break_metadata(metadata, data_dir) -> None:  # noqa: ANN001
    before = metadata()["Patient"]["supportedProfile"]
    (data_dir / "packages").mkdir(parents=True, exist_ok=True)
    (data_dir / "packages" / "broken-1.0.0.tgz").write_bytes(b"not a package")
    assert metadata()["Patient"]["supportedProfile"] == before
