"""`socle packages list|install|remove|seed`."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import text

from socle.cli.main import main
from socle.fhir.storage.database import create_db_engine
from tests.fhir.packages.helpers import make_package, profile, search_parameter


@pytest.fixture
def env(tmp_path: Path, monkeypatch) -> dict[str, str]:  # noqa: ANN001
    data = tmp_path / "data"
    url = f"sqlite:///{tmp_path / 'socle.db'}"
    # the CLI exports its settings to the environment: restore them after the test
    monkeypatch.setenv("SOCLE_DATA_DIR", str(data))
    monkeypatch.setenv("SOCLE_DATABASE_URL", url)
    monkeypatch.setenv("SOCLE_TENANT", "default")
    import socle.cli.packages as cli

    monkeypatch.setattr(cli, "out", Console(width=200))
    monkeypatch.setattr(cli, "err", Console(width=200, stderr=True))
    return {"data": str(data), "url": url}


def _count(url: str, res_type: str) -> int:
    engine = create_db_engine(url, pool_size=1)
    try:
        with engine.connect() as conn:
            return conn.execute(
                text("SELECT count(*) FROM resource WHERE res_type = :t AND NOT deleted"),
                {"t": res_type},
            ).scalar_one()
    finally:
        engine.dispose()


def test_list_shows_vendored_packages(env, capsys) -> None:  # noqa: ANN001
    assert main(["packages", "list", "--warnings"]) == 0
    out = capsys.readouterr().out
    assert "hl7.fhir.fr.core" in out and "2.2.0" in out and "vendored" in out
    assert "resolved to 2.2.0" in out


def test_install_seed_and_remove(env, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    archive = make_package(
        tmp_path / "custom.tgz",
        "example.custom",
        "1.0.0",
        resources=[
            profile("https://example.org/StructureDefinition/custom-patient", "1.0.0"),
            search_parameter(
                "nickname", "Patient", "Patient.name.given", "https://example.org/sp/nickname"
            ),
        ],
    )
    assert main(["packages", "install", str(archive)]) == 0
    out = capsys.readouterr().out
    assert "Installed example.custom@1.0.0" in out
    assert "2 definitions of example.custom@1.0.0 loaded into tenant default" in out
    assert (Path(env["data"]) / "packages" / "example.custom-1.0.0.tgz").is_file()
    assert _count(env["url"], "StructureDefinition") == 1
    assert main(["packages", "list"]) == 0
    assert "example.custom" in capsys.readouterr().out

    assert main(["packages", "remove", "example.custom"]) == 0
    assert "Removed example.custom@1.0.0 (2 definitions deleted" in capsys.readouterr().out
    assert _count(env["url"], "StructureDefinition") == 0
    assert main(["packages", "remove", "hl7.fhir.fr.core"]) == 1
    assert "cannot be removed" in capsys.readouterr().err.replace("\n", " ")


def test_install_refuses_a_broken_archive(env, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    bad = tmp_path / "bad.tgz"
    bad.write_bytes(b"junk")
    assert main(["packages", "install", str(bad)]) == 1
    assert main(["packages", "install", str(tmp_path / "absent.tgz")]) == 2


def test_seed_is_idempotent(env, capsys) -> None:  # noqa: ANN001
    assert main(["packages", "seed"]) == 0
    first = capsys.readouterr().out
    assert "Loaded 142 definitions of hl7.fhir.fr.core@2.2.0 into tenant default" in first
    assert _count(env["url"], "StructureDefinition") == 205
    assert main(["packages", "seed"]) == 0
    assert "hl7.fhir.fr.core@2.2.0: up to date" in capsys.readouterr().out
