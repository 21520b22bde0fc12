"""INS fixtures: an engine with the INS plugin on each backend, a client, helpers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from socle.demo.identifiers import make_nir
from socle.ins import model as M


@pytest.fixture(scope="session")
def ins_engine(db_url: str, tmp_path_factory):  # noqa: ANN001
    """A FHIR engine of its own with the INS plugin loaded through its entry point."""
    from socle.config import Settings
    from socle.fhir.engine import FhirEngine

    settings = Settings(data_dir=Path(tmp_path_factory.mktemp("insdata")), database_url=db_url)
    engine = FhirEngine(settings)
    engine.load_plugins(["ins"])
    assert engine.plugins == ["ins"]
    yield engine
    engine.close()


@pytest.fixture
def ins_client(ins_engine, tenant):  # noqa: ANN001
    from starlette.testclient import TestClient

    from socle.server import create_server

    app = create_server(ins_engine.settings, ins_engine, tenant=tenant)
    with TestClient(app, base_url="http://testserver") as c:
        yield c


def nir(
    sex: str = "female", year: int = 1985, month: int = 3, place: str = "35238", order: int = 17
) -> str:
    split = 3 if place.startswith("97") else 2
    return make_nir(sex, year, month, place[:split], place[split:], order)


def person(
    family: str = "Martin",
    given: str = "Marie Claire",
    birth: str = "1985-03-07",
    sex: str = "female",
    place: str = "35238",
    ins: str | None = None,
    status: str = M.PROV,
    mode: str = "",
    used: str = "",
    pid: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A FR Core INS-shaped Patient (invented people only)."""
    ident = M.Identity(
        birth_family=family,
        given=given.split(" "),
        birth_date=birth,
        sex=sex,
        birthplace=place,
        status=status,
        validation_mode=mode,
        used_family=used,
    )
    if ins:
        ident.ins, ident.ins_system = ins, "urn:oid:1.2.250.1.213.1.4.10"
    if mode:
        ident.validation_date = "2025-01-02"
    base: dict[str, Any] = {"resourceType": "Patient", **extra}
    if pid:
        base["id"] = pid
    return M.write_identity(base, ident)


def registry_record(**over: Any) -> dict[str, Any]:
    rec = {
        "matricule": nir(),
        "oid": "1.2.250.1.213.1.4.10",
        "nom": "MARTIN",
        "prenoms": "MARIE CLAIRE",
        "sexe": "F",
        "date_naissance": "1985-03-07",
        "lieu_naissance": "35238",
    }
    rec.update(over)
    return rec


def parameters(*params: dict[str, Any]) -> dict[str, Any]:
    """A Parameters resource (the body of an $operation)."""
    return {"resourceType": "Parameters", "parameter": list(params)}


def merge(client: Any, source: str, target: str) -> Any:
    """POST Patient/$ins-merge: `source` merged into `target` (ids); the response."""
    return client.post(
        "/fhir/Patient/$ins-merge",
        json=parameters(
            {"name": "source-patient", "valueReference": {"reference": f"Patient/{source}"}},
            {"name": "target-patient", "valueReference": {"reference": f"Patient/{target}"}},
        ),
    )
