"""Fixtures of the security tests: an engine with security installed, apps with auth on.

The shared `fhir_engine` of tests/conftest.py keeps the open guard; these tests build
their own engine on the same database (one per backend) and install security on it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ISSUER = "http://testserver/auth"
FHIR_BASE = "http://testserver/fhir"
RPPS = "https://rpps.esante.gouv.fr"
G15 = "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante"
A03 = "https://mos.esante.gouv.fr/NOS/TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument"
INS = "urn:oid:1.2.250.1.213.1.4.10"
KIND = "urn:socle:consent-kind"


def security_config(data_dir: Path, **changes: Any):  # noqa: ANN201
    from socle.security.config import SecurityConfig

    values = {
        "mode": "oidc",
        "data_dir": data_dir,
        "issuer": ISSUER,
        "audiences": (FHIR_BASE,),
        "demo": True,
        "checkpoint_every": 50,
    }
    values.update(changes)
    return SecurityConfig(**values)


@pytest.fixture(scope="session")
def sec_engine(db_url: str, tmp_path_factory):  # noqa: ANN001
    """An engine with security installed, per backend, for the whole session."""
    from socle.config import Settings
    from socle.fhir.engine import FhirEngine
    from socle.security import install

    data_dir = Path(tmp_path_factory.mktemp("secdata"))
    engine = FhirEngine(Settings(data_dir=data_dir, database_url=db_url))
    engine.load_plugins()
    install(engine, security_config(data_dir))
    yield engine
    engine.close()


@pytest.fixture
def security(sec_engine):  # noqa: ANN001, ANN201
    return sec_engine.socle_security


@pytest.fixture
def api(sec_engine, tenant):  # noqa: ANN001
    from starlette.testclient import TestClient

    from socle.server import create_server

    app = create_server(sec_engine.settings, sec_engine, tenant=tenant, auth="oidc")
    with TestClient(app, base_url="http://testserver") as c:
        yield c


@dataclass
class World:
    """A small care network in one tenant: doctors, a nurse, patients, documents."""

    tenant: str
    gp: str  # Practitioner ids
    other_doctor: str
    nurse: str
    alice: str  # Patient ids (alice's GP is `gp`; the nurse is in her CareTeam)
    bob: str
    docs: dict[str, str]  # name -> DocumentReference id (all of alice)
    rpps: dict[str, str]


def practitioner(rpps: str, profession: str, family: str) -> dict[str, Any]:
    return {
        "resourceType": "Practitioner",
        "identifier": [{"system": RPPS, "value": rpps}],
        "name": [{"family": family, "given": ["Test"]}],
        "qualification": [{"code": {"coding": [{"system": G15, "code": profession}]}}],
    }


def document(patient: str, doc_class: str, author: str | None = None, labels=()) -> dict:  # noqa: ANN001
    doc: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "status": "current",
        "type": {"coding": [{"system": "http://loinc.org", "code": "11488-4"}]},
        "category": [{"coding": [{"system": A03, "code": doc_class}]}],
        "subject": {"reference": f"Patient/{patient}"},
        "content": [{"attachment": {"contentType": "text/plain", "data": "dGVzdA=="}}],
    }
    if author:
        doc["author"] = [{"reference": f"Practitioner/{author}"}]
    if labels:
        doc["securityLabel"] = [
            {"coding": [{"system": "urn:oid:1.2.250.1.213.1.1.4.13", "code": code}]}
            for code in labels
        ]
    return doc


def consent(patient: str, kind: str, provision: dict | None = None, **extra: Any) -> dict:
    return {
        "resourceType": "Consent",
        "status": "active",
        "scope": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                    "code": "patient-privacy",
                }
            ]
        },
        "category": [{"coding": [{"system": KIND, "code": kind}]}],
        "patient": {"reference": f"Patient/{patient}"},
        "policyRule": {"text": "Choix du patient"},
        "provision": provision or {"type": "deny"},
        **extra,
    }


def internal_write(engine, tenant: str, resource: dict[str, Any], res_id: str | None = None) -> str:  # noqa: ANN001
    """Write a resource as the server itself (bypasses the guard): test set-up only."""
    from socle.fhir.context import RequestContext

    ctx = RequestContext(tenant=tenant, extras={"socle.internal": True})
    res_id = res_id or uuid.uuid4().hex[:16]
    body = dict(resource, id=res_id)
    with engine.store.session(tenant, write=True) as s:
        engine.crud.update(s, ctx, resource["resourceType"], res_id, body)
    engine.socle_security.info.invalidate()
    return res_id


@pytest.fixture
def world(sec_engine, tenant) -> World:  # noqa: ANN001
    e = sec_engine
    rpps = {"gp": "99700000011", "other": "99700000022", "nurse": "99700000033"}
    gp = internal_write(e, tenant, practitioner(rpps["gp"], "10", "Traitant"))
    other = internal_write(e, tenant, practitioner(rpps["other"], "10", "Autre"))
    nurse = internal_write(e, tenant, practitioner(rpps["nurse"], "60", "Infirmiere"))
    alice = internal_write(
        e,
        tenant,
        {
            "resourceType": "Patient",
            "identifier": [{"system": INS, "value": "285077512345655"}],
            "name": [{"family": "Martin", "given": ["Alice"]}],
            "gender": "female",
            "birthDate": "1985-07-01",
            "generalPractitioner": [{"reference": f"Practitioner/{gp}"}],
        },
    )
    bob = internal_write(
        e,
        tenant,
        {
            "resourceType": "Patient",
            "identifier": [{"system": INS, "value": "179047512345759"}],
            "name": [{"family": "Durand", "given": ["Bob"]}],
            "gender": "male",
            "birthDate": "1979-04-01",
        },
    )
    internal_write(
        e,
        tenant,
        {
            "resourceType": "CareTeam",
            "status": "active",
            "subject": {"reference": f"Patient/{alice}"},
            "participant": [{"member": {"reference": f"Practitioner/{nurse}"}}],
        },
    )
    docs = {
        "report": internal_write(e, tenant, document(alice, "10", gp)),
        "imaging": internal_write(e, tenant, document(alice, "31", gp)),
        "care_plan": internal_write(e, tenant, document(alice, "44", nurse)),
    }
    return World(tenant, gp, other, nurse, alice, bob, docs, rpps)


TokenFactory = Callable[..., str]


@pytest.fixture
def token(security) -> TokenFactory:  # noqa: ANN001
    """token('practitioner', world=w, who='gp') / token('patient', patient=id) / …"""

    def make(kind: str, *, scope: str | None = None, **attrs: Any) -> str:
        claims: dict[str, Any] = {"sub": f"test-{kind}-{uuid.uuid4().hex[:6]}", "kind": kind}
        claims.update({k: v for k, v in attrs.items() if v is not None})
        default = {
            "patient": "patient/*.cruds",
            "related": "patient/*.rs",
            "system": "system/*.cruds",
        }.get(kind, "user/*.cruds")
        return security.issuer.access_token(
            claims, scope=scope or default, client_id="socle-demo", acr="eidas3"
        )

    return make


def pro(world: World, who: str, **extra: Any) -> dict[str, Any]:
    """Claims of one of the world's professionals."""
    ids = {"gp": world.gp, "other": world.other_doctor, "nurse": world.nurse}
    profession = {"gp": "10", "other": "10", "nurse": "60"}[who]
    return {
        "fhirUser": f"Practitioner/{ids[who]}",
        "rpps": world.rpps[who],
        "profession": profession,
        **extra,
    }


def bearer(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


@pytest.fixture
def fresh_db(tmp_path) -> Iterator[str]:  # noqa: ANN001
    """A private SQLite database (tests that tamper with the audit trail)."""
    from socle.fhir.storage.database import create_db_engine
    from socle.fhir.storage.migrate import migrate

    url = f"sqlite:///{tmp_path / 'private.db'}"
    engine = create_db_engine(url, pool_size=1)
    migrate(engine)
    engine.dispose()
    yield url
