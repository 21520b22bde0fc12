"""Chained, `_has` and `_list` parameters cannot reveal resources a subject may not see."""

from __future__ import annotations

from tests.security.conftest import bearer, document, internal_write, pro

SECRET_TYPE = "http://loinc.org|75622-1"  # a document type only the masked document has


def _masked_document(sec_engine, world) -> str:  # noqa: ANN001
    doc = document(world.alice, "10", world.gp, labels=("MASQUE_PS",))
    doc["type"] = {"coding": [{"system": "http://loinc.org", "code": "75622-1"}]}
    return internal_write(sec_engine, world.tenant, doc)


def _ids(r) -> set[str]:  # noqa: ANN001
    assert r.status_code == 200, r.text
    entries = r.json().get("entry", [])
    return {e["resource"]["id"] for e in entries if e["search"]["mode"] == "match"}


def test_has_cannot_reveal_a_masked_document(api, world, token, sec_engine) -> None:  # noqa: ANN001
    masked = _masked_document(sec_engine, world)
    nurse = token("practitioner", **pro(world, "nurse"))  # in Alice's care team
    # the document itself is invisible to the nurse…
    assert api.get(f"/fhir/DocumentReference/{masked}", headers=bearer(nurse)).status_code == 404
    # …and a reverse chain may not test for its existence either
    query = f"/fhir/Patient?_has:DocumentReference:subject:type={SECRET_TYPE}"
    r = api.get(query, headers=bearer(nurse))
    assert r.status_code == 403, r.text
    outcome = r.json()
    assert outcome["resourceType"] == "OperationOutcome"
    text = outcome["issue"][0]["diagnostics"]
    assert "_has:DocumentReference:subject" in text and "DocumentReference" in text
    assert world.alice not in r.text
    # a system client sees everything: the same query answers (so the test is meaningful)
    system = token("system")
    found = api.get(query, headers=bearer(system))
    assert _ids(found) == {world.alice}


def test_has_cannot_reveal_data_without_a_care_relationship(api, world, token) -> None:  # noqa: ANN001
    other = token("practitioner", **pro(world, "other"))  # no relationship with Alice
    r = api.get("/fhir/Patient?_has:DocumentReference:subject:category=10", headers=bearer(other))
    assert r.status_code == 403
    # patient identity itself stays searchable for professionals
    assert world.alice in _ids(api.get("/fhir/Patient?family=Martin", headers=bearer(other)))


def test_chains_across_patients_are_refused_for_a_patient(api, world, token, sec_engine) -> None:  # noqa: ANN001
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
        "subject": {"reference": f"Patient/{world.alice}"},
    }
    internal_write(sec_engine, world.tenant, obs)
    bob = token("patient", patient=world.bob, fhirUser=f"Patient/{world.bob}")
    for query in (
        "Observation?subject.name=Martin",
        "Observation?subject:Patient.family=Martin",
        "Patient?_has:Observation:subject:code=2345-7",
        "Observation?_list=some-list",
    ):
        r = api.get(f"/fhir/{query}", headers=bearer(bob))
        assert r.status_code == 403, (query, r.text)
        assert r.json()["resourceType"] == "OperationOutcome"
    # a plain search of his own record still works
    assert api.get("/fhir/Observation?code=2345-7", headers=bearer(bob)).status_code == 200


def test_links_into_open_types_and_patient_identity_are_allowed(api, world, token) -> None:  # noqa: ANN001
    gp = token("practitioner", **pro(world, "gp"))
    r = api.get(
        "/fhir/DocumentReference?subject:Patient.identifier=urn:oid:1.2.250.1.213.1.4.10|285077512345655",
        headers=bearer(gp),
    )
    assert world.docs["report"] in _ids(r)
    r = api.get("/fhir/DocumentReference?author:Practitioner.family=Traitant", headers=bearer(gp))
    assert world.docs["report"] in _ids(r)
    # without a type, `subject.identifier` may test a Group: refused, saying how to narrow it
    r = api.get("/fhir/DocumentReference?subject.identifier=285077512345655", headers=bearer(gp))
    assert r.status_code == 403 and "Group" in r.json()["issue"][0]["diagnostics"]


def test_refusals_are_audited(api, world, token, sec_engine) -> None:  # noqa: ANN001
    from sqlalchemy import select

    from socle.security import tables as T

    nurse = token("practitioner", **pro(world, "nurse"))
    api.get("/fhir/Patient?_has:Observation:subject:code=x", headers=bearer(nurse))
    with sec_engine.store.engine.connect() as conn:
        last = conn.execute(
            select(T.audit_log.c.action, T.audit_log.c.outcome, T.audit_log.c.content)
            .where(T.audit_log.c.tenant == world.tenant)
            .order_by(T.audit_log.c.seq.desc())
            .limit(1)
        ).one()
    assert (last.action, last.outcome) == ("search", 403)
    assert b"search-links" in last.content


def test_conditional_writes_cannot_probe_through_links(api, world, token) -> None:  # noqa: ANN001
    """If-None-Exist and conditional update queries are confined like searches."""
    other = token("practitioner", **pro(world, "other"))  # no relationship with Alice
    patient = {"resourceType": "Patient", "name": [{"family": "Sonde", "given": ["Test"]}]}
    probe = "_has:DocumentReference:subject:category=10"
    headers = {**bearer(other), "Content-Type": "application/fhir+json"}
    # the same write without a link is allowed, so a refusal below is the confinement
    plain = api.post(
        "/fhir/Patient", json=patient, headers={**headers, "If-None-Exist": "family=Sonde"}
    )
    assert plain.status_code == 201, plain.text
    created = api.post("/fhir/Patient", json=patient, headers={**headers, "If-None-Exist": probe})
    assert created.status_code == 403, created.text
    assert created.json()["resourceType"] == "OperationOutcome"
    updated = api.put(f"/fhir/Patient?{probe}", json=patient, headers=headers)
    assert updated.status_code == 403, updated.text
