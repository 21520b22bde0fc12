"""The policy information point reads with the caller's session (item: no second
connection inside a write transaction), and never caches what a transaction has not
committed."""

from __future__ import annotations

import uuid

import pytest

from socle.fhir.context import RequestContext
from tests.security.conftest import bearer, document, pro


class _Rollback(Exception):
    pass


def test_facts_inside_a_write_transaction_see_its_writes_and_are_not_cached(
    sec_engine,  # noqa: ANN001
    world,  # noqa: ANN001
) -> None:
    info = sec_engine.socle_security.info
    pid = uuid.uuid4().hex[:16]
    ctx = RequestContext(tenant=world.tenant, extras={"socle.internal": True})
    patient = {
        "resourceType": "Patient",
        "id": pid,
        "generalPractitioner": [{"reference": f"Practitioner/{world.gp}"}],
    }
    with pytest.raises(_Rollback), sec_engine.store.session(world.tenant, write=True) as s:
        sec_engine.crud.update(s, ctx, "Patient", pid, patient)
        facts = info.facts(world.tenant, pid)
        assert facts.exists  # read through the caller's (uncommitted) transaction
        assert facts.general_practitioners == {f"Practitioner/{world.gp}"}
        assert info.read(world.tenant, "Patient", pid) is not None
        raise _Rollback
    # rolled back: no phantom patient cached for the next requests
    assert not info.facts(world.tenant, pid).exists
    assert info.read(world.tenant, "Patient", pid) is None


def test_a_transaction_creating_a_patient_and_its_document(api, world, token) -> None:  # noqa: ANN001
    """The document's decision needs the facts of a patient created in the same Bundle."""
    gp = token("practitioner", **pro(world, "gp"))
    patient_ref = f"urn:uuid:{uuid.uuid4()}"
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": patient_ref,
                "resource": {
                    "resourceType": "Patient",
                    "name": [{"family": "Nouveau"}],
                    "generalPractitioner": [{"reference": f"Practitioner/{world.gp}"}],
                },
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "resource": dict(
                    document("placeholder", "10", world.gp), subject={"reference": patient_ref}
                ),
                "request": {"method": "POST", "url": "DocumentReference"},
            },
        ],
    }
    r = api.post("/fhir", json=bundle, headers=bearer(gp))
    assert r.status_code == 200, r.text
    statuses = [e["response"]["status"] for e in r.json()["entry"]]
    assert all(s.startswith("201") for s in statuses)
