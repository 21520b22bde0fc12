"""Access rules through the REST API: patients, professionals, consent, delegation,
break-glass. Each refusal says why (403) or hides existence (404)."""

from __future__ import annotations

from tests.security.conftest import bearer, consent, document, internal_write, pro


def test_bearer_token_required_except_public_documents(api) -> None:  # noqa: ANN001
    r = api.get("/fhir/Patient")
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert r.json()["resourceType"] == "OperationOutcome"
    for path in (
        "/fhir/metadata",
        "/healthz",
        "/.well-known/smart-configuration",
        "/fhir/.well-known/smart-configuration",
        "/auth/.well-known/openid-configuration",
        "/auth/jwks",
    ):
        assert api.get(path).status_code == 200, path
    smart = api.get("/fhir/.well-known/smart-configuration").json()
    assert "permission-v2" in smart["capabilities"]
    assert smart["code_challenge_methods_supported"] == ["S256"]


def test_patient_reads_own_record_not_another(api, world, token) -> None:  # noqa: ANN001
    alice = token("patient", patient=world.alice, fhirUser=f"Patient/{world.alice}")
    assert api.get(f"/fhir/Patient/{world.alice}", headers=bearer(alice)).status_code == 200
    doc = world.docs["report"]
    assert api.get(f"/fhir/DocumentReference/{doc}", headers=bearer(alice)).status_code == 200
    r = api.get(f"/fhir/Patient/{world.bob}", headers=bearer(alice))
    assert r.status_code == 404  # existence of another patient must not leak
    bob = token("patient", patient=world.bob, fhirUser=f"Patient/{world.bob}")
    r = api.get(f"/fhir/DocumentReference/{doc}", headers=bearer(bob))
    assert r.status_code == 404
    r = api.get(f"/fhir/DocumentReference/{doc}/_history/1", headers=bearer(bob))
    assert r.status_code == 404
    r = api.get(f"/fhir/DocumentReference/{doc}/_history", headers=bearer(bob))
    assert r.status_code == 404


def test_patient_writes_only_what_they_may_deposit(api, world, token) -> None:  # noqa: ANN001
    alice = token("patient", patient=world.alice, fhirUser=f"Patient/{world.alice}")
    ok = api.post(
        "/fhir/DocumentReference", json=document(world.alice, "90"), headers=bearer(alice)
    )
    assert ok.status_code == 201, ok.text
    r = api.post("/fhir/DocumentReference", json=document(world.alice, "10"), headers=bearer(alice))
    assert r.status_code == 403
    assert "class" in r.json()["issue"][0]["diagnostics"]
    r = api.post("/fhir/DocumentReference", json=document(world.bob, "90"), headers=bearer(alice))
    assert r.status_code == 404
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "subject": {"reference": f"Patient/{world.alice}"},
    }
    assert api.post("/fhir/Observation", json=obs, headers=bearer(alice)).status_code == 403


def test_escalated_scopes_are_refused(api, world, token) -> None:  # noqa: ANN001
    read_only = token("patient", patient=world.alice, scope="patient/*.rs")
    doc = document(world.alice, "90")
    r = api.post("/fhir/DocumentReference", json=doc, headers=bearer(read_only))
    assert r.status_code == 403
    assert "scopes" in r.json()["issue"][0]["diagnostics"]
    only_obs = token("practitioner", scope="user/Observation.rs", **pro(world, "gp"))
    r = api.get(f"/fhir/DocumentReference/{world.docs['report']}", headers=bearer(only_obs))
    assert r.status_code == 403


def test_patient_scope_confines_a_professional_to_the_launch_patient(api, world, token) -> None:  # noqa: ANN001
    t = token("practitioner", scope="patient/*.rs", patient=world.bob, **pro(world, "gp"))
    r = api.get(f"/fhir/DocumentReference/{world.docs['report']}", headers=bearer(t))
    assert r.status_code == 404


def test_professional_needs_a_care_relationship(api, world, token) -> None:  # noqa: ANN001
    doc = world.docs["report"]
    gp = token("practitioner", **pro(world, "gp"))
    assert api.get(f"/fhir/DocumentReference/{doc}", headers=bearer(gp)).status_code == 200
    nurse = token("practitioner", **pro(world, "nurse"))  # in alice's CareTeam
    assert api.get(f"/fhir/DocumentReference/{doc}", headers=bearer(nurse)).status_code == 200
    other = token("practitioner", **pro(world, "other"))
    r = api.get(f"/fhir/DocumentReference/{doc}", headers=bearer(other))
    assert r.status_code == 403
    reason = r.json()["issue"][0]["diagnostics"]
    assert "care relationship" in reason and "X-Break-Glass" in reason
    # identity (demographics) stays readable without a relationship
    assert api.get(f"/fhir/Patient/{world.alice}", headers=bearer(other)).status_code == 200


def test_habilitation_matrix_applies_to_the_nurse(api, world, token) -> None:  # noqa: ANN001
    nurse = token("practitioner", **pro(world, "nurse"))
    r = api.get(f"/fhir/DocumentReference/{world.docs['imaging']}", headers=bearer(nurse))
    assert r.status_code == 403
    assert "Infirmier" in r.json()["issue"][0]["diagnostics"]
    assert "31" in r.json()["issue"][0]["diagnostics"]


def test_blocked_professional(api, world, token, sec_engine) -> None:  # noqa: ANN001
    gp = token("practitioner", **pro(world, "gp"))
    doc = world.docs["report"]
    assert api.get(f"/fhir/DocumentReference/{doc}", headers=bearer(gp)).status_code == 200
    alice = token("patient", patient=world.alice, fhirUser=f"Patient/{world.alice}")
    block = consent(
        world.alice,
        "block",
        {
            "type": "deny",
            "actor": [
                {"role": {"text": "bloqué"}, "reference": {"reference": f"Practitioner/{world.gp}"}}
            ],
        },
    )
    created = api.post("/fhir/Consent", json=block, headers=bearer(alice))
    assert created.status_code == 201, created.text
    r = api.get(f"/fhir/DocumentReference/{doc}", headers=bearer(gp))  # the very next request
    assert r.status_code == 403
    assert "blocked" in r.json()["issue"][0]["diagnostics"]
    # lifting the block takes effect on the next request too
    lifted = dict(created.json(), status="inactive")
    assert (
        api.put(f"/fhir/Consent/{lifted['id']}", json=lifted, headers=bearer(alice)).status_code
        == 200
    )
    assert api.get(f"/fhir/DocumentReference/{doc}", headers=bearer(gp)).status_code == 200


def test_opposition_and_closure(api, world, token, sec_engine) -> None:  # noqa: ANN001
    gp = token("practitioner", **pro(world, "gp"))
    doc = world.docs["report"]
    cid = internal_write(sec_engine, world.tenant, consent(world.alice, "opposition"))
    r = api.get(f"/fhir/DocumentReference/{doc}", headers=bearer(gp))
    assert r.status_code == 403 and "opposed" in r.json()["issue"][0]["diagnostics"]
    internal_write(
        sec_engine, world.tenant, dict(consent(world.alice, "opposition"), status="inactive"), cid
    )
    internal_write(sec_engine, world.tenant, consent(world.alice, "closure"))
    r = api.get(f"/fhir/DocumentReference/{doc}", headers=bearer(gp))
    assert r.status_code == 403 and "closed" in r.json()["issue"][0]["diagnostics"]
    alice = token("patient", patient=world.alice, fhirUser=f"Patient/{world.alice}")
    assert api.get(f"/fhir/DocumentReference/{doc}", headers=bearer(alice)).status_code == 200


def test_masked_document_hidden_from_professionals_but_author_and_gp(
    api, world, token, sec_engine, security
) -> None:  # noqa: ANN001, E501
    from socle.fhir.context import RequestContext

    doc = internal_write(sec_engine, world.tenant, document(world.alice, "10", world.nurse))
    internal_write(
        sec_engine,
        world.tenant,
        consent(
            world.alice,
            "mask",
            {
                "type": "deny",
                "data": [
                    {"meaning": "instance", "reference": {"reference": f"DocumentReference/{doc}"}}
                ],
            },
        ),
    )
    other_nurse_claims = dict(
        pro(world, "nurse"), fhirUser="Practitioner/somebody-else", rpps="99700000044"
    )
    stranger = token("practitioner", **other_nurse_claims)
    author = token("practitioner", **pro(world, "nurse"))
    gp = token("practitioner", **pro(world, "gp"))
    # not the author, not the GP: the masked document does not exist for them
    internal_write(
        sec_engine,
        world.tenant,
        {
            "resourceType": "CareTeam",
            "status": "active",
            "subject": {"reference": f"Patient/{world.alice}"},
            "participant": [{"member": {"reference": "Practitioner/somebody-else"}}],
        },
    )
    assert api.get(f"/fhir/DocumentReference/{doc}", headers=bearer(stranger)).status_code == 404
    assert api.get(f"/fhir/DocumentReference/{doc}", headers=bearer(author)).status_code == 200
    assert api.get(f"/fhir/DocumentReference/{doc}", headers=bearer(gp)).status_code == 200
    # history does not leak it either
    r = api.get("/fhir/DocumentReference/_history", headers=bearer(stranger))
    assert r.status_code == 200
    ids = {e["resource"]["id"] for e in r.json().get("entry", []) if "resource" in e}
    assert doc not in ids and world.docs["report"] in ids
    assert r.json().get("total", len(r.json().get("entry", []))) == len(r.json().get("entry", []))
    assert (
        api.get(f"/fhir/DocumentReference/{doc}/_history", headers=bearer(stranger)).status_code
        == 404
    )
    # search: the guard confines the query (no total leak) and filters matches/includes
    principal = security.authenticate(stranger, world.tenant)
    ctx = RequestContext(tenant=world.tenant, principal=principal)
    criteria = sec_engine.guard.search_criteria(ctx, "DocumentReference")
    assert ("_id:not", doc) in criteria
    params = [("patient", f"Patient/{world.alice}"), ("_total", "accurate"), *criteria]
    with sec_engine.store.session(world.tenant) as s:
        query = sec_engine.search.parse("DocumentReference", params)
        page = sec_engine.search.search(s, query)
        found = [v.res_id for v in s.fetch_current(page.pks)]
        included = s.fetch_current(page.included_pks)
    assert doc not in found and page.total == len(found) == 2  # no mask, no class 31
    assert not included
    import orjson

    with sec_engine.store.session(world.tenant) as s:
        stored = s.read("DocumentReference", doc)
    assert sec_engine.guard.visible(ctx, orjson.loads(stored.content)) is False


def test_label_masks_and_documents_not_yet_announced(api, world, token, sec_engine) -> None:  # noqa: ANN001
    hidden = internal_write(
        sec_engine,
        world.tenant,
        document(world.alice, "10", world.gp, labels=["INVISIBLE_PATIENT"]),
    )
    alice = token("patient", patient=world.alice, fhirUser=f"Patient/{world.alice}")
    assert api.get(f"/fhir/DocumentReference/{hidden}", headers=bearer(alice)).status_code == 404
    gp = token("practitioner", **pro(world, "gp"))
    assert api.get(f"/fhir/DocumentReference/{hidden}", headers=bearer(gp)).status_code == 200
    # announced: the label is removed, the patient sees it on the next request
    doc = api.get(f"/fhir/DocumentReference/{hidden}", headers=bearer(gp)).json()
    doc.pop("securityLabel")
    assert (
        api.put(f"/fhir/DocumentReference/{hidden}", json=doc, headers=bearer(gp)).status_code
        == 200
    )
    assert api.get(f"/fhir/DocumentReference/{hidden}", headers=bearer(alice)).status_code == 200


def test_break_glass_is_time_boxed_notified_and_audited(api, world, token, sec_engine) -> None:  # noqa: ANN001
    other = token("practitioner", **pro(world, "other"))
    doc = world.docs["report"]
    assert api.get(f"/fhir/DocumentReference/{doc}", headers=bearer(other)).status_code == 403
    r = api.get(
        f"/fhir/DocumentReference/{doc}",
        headers=bearer(other, **{"X-Break-Glass": "Patient inconscient aux urgences"}),
    )
    assert r.status_code == 200, r.text
    # the grant lasts: the next request needs no header
    assert api.get(f"/fhir/DocumentReference/{doc}", headers=bearer(other)).status_code == 200
    admin = token("admin")
    comms = api.get(
        f"/fhir/Communication?subject=Patient/{world.alice}", headers=bearer(admin)
    ).json()
    texts = [e["resource"]["payload"][0]["contentString"] for e in comms.get("entry", [])]
    assert any("bris de glace" in t and "inconscient" in t for t in texts)
    alice = token("patient", patient=world.alice, fhirUser=f"Patient/{world.alice}")
    trail = api.get(f"/fhir/AuditEvent?patient={world.alice}", headers=bearer(alice)).json()
    kinds = [e["resource"]["subtype"][0]["code"] for e in trail["entry"]]
    assert "110127" in kinds  # Emergency Override Started
    bg = next(
        e["resource"] for e in trail["entry"] if e["resource"]["subtype"][0]["code"] == "110127"
    )
    assert bg["purposeOfEvent"][0]["coding"][0]["code"] == "ETREAT"
    assert "inconscient" in bg["outcomeDesc"]


def test_break_glass_refused_when_patient_opposed_or_profession_not_allowed(
    api, world, token, sec_engine
) -> None:  # noqa: ANN001, E501
    doc = world.docs["report"]
    physio = token(
        "practitioner",
        **dict(
            pro(world, "other"), profession="70", rpps="99700000055", fhirUser="Practitioner/kine"
        ),
    )
    r = api.get(
        f"/fhir/DocumentReference/{doc}",
        headers=bearer(physio, **{"X-Break-Glass": "urgence vitale"}),
    )
    assert r.status_code == 403 and "emergency" in r.json()["issue"][0]["diagnostics"]
    internal_write(sec_engine, world.tenant, consent(world.alice, "no-break-glass"))
    other = token("practitioner", **pro(world, "other"))
    r = api.get(
        f"/fhir/DocumentReference/{doc}",
        headers=bearer(other, **{"X-Break-Glass": "urgence vitale"}),
    )
    assert r.status_code == 403 and "refused emergency" in r.json()["issue"][0]["diagnostics"]


def test_patient_access_code_grants_chosen_classes(api, world, token, sec_engine) -> None:  # noqa: ANN001
    from socle.security.consent import hash_code

    internal_write(
        sec_engine,
        world.tenant,
        consent(
            world.alice,
            "access-code",
            {
                "type": "permit",
                "period": {"end": "2999-01-01"},
                "class": [{"system": "urn:oid:1.2.250.1.213.1.1.4.1", "code": "10"}],
            },
            identifier=[{"system": "urn:socle:access-code", "value": hash_code("K7-4QX-92")}],
        ),
    )
    other = token("practitioner", **pro(world, "other"))
    with_code = bearer(other, **{"X-Socle-Access-Code": "K7-4QX-92"})
    assert (
        api.get(f"/fhir/DocumentReference/{world.docs['report']}", headers=with_code).status_code
        == 200
    )
    # class 31 is not among the chosen sections
    assert (
        api.get(f"/fhir/DocumentReference/{world.docs['imaging']}", headers=with_code).status_code
        == 403
    )
    wrong = bearer(other, **{"X-Socle-Access-Code": "nope"})
    assert (
        api.get(f"/fhir/DocumentReference/{world.docs['report']}", headers=wrong).status_code == 403
    )


def test_delegation_trusted_person_and_legal_representative(api, world, token, sec_engine) -> None:  # noqa: ANN001
    mother = internal_write(
        sec_engine,
        world.tenant,
        {"resourceType": "RelatedPerson", "patient": {"reference": f"Patient/{world.alice}"}},
    )
    friend = internal_write(
        sec_engine,
        world.tenant,
        {"resourceType": "RelatedPerson", "patient": {"reference": f"Patient/{world.alice}"}},
    )
    rel = {"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode"}
    internal_write(
        sec_engine,
        world.tenant,
        consent(
            world.alice,
            "delegation",
            {
                "type": "permit",
                "actor": [
                    {
                        "role": {"coding": [dict(rel, code="GUARD")]},
                        "reference": {"reference": f"RelatedPerson/{mother}"},
                    },
                    {
                        "role": {"coding": [dict(rel, code="FRND")]},
                        "reference": {"reference": f"RelatedPerson/{friend}"},
                    },
                ],
                "class": [{"code": "44"}],
            },
        ),
    )
    legal = token("related", patient=world.alice, fhirUser=f"RelatedPerson/{mother}")
    trusted = token("related", patient=world.alice, fhirUser=f"RelatedPerson/{friend}")
    stranger = token("related", patient=world.alice, fhirUser="RelatedPerson/nobody")
    report, plan = world.docs["report"], world.docs["care_plan"]
    assert api.get(f"/fhir/DocumentReference/{report}", headers=bearer(legal)).status_code == 200
    assert api.get(f"/fhir/DocumentReference/{report}", headers=bearer(trusted)).status_code == 404
    assert api.get(f"/fhir/DocumentReference/{plan}", headers=bearer(trusted)).status_code == 200
    assert api.get(f"/fhir/DocumentReference/{plan}", headers=bearer(stranger)).status_code == 403
    r = api.post("/fhir/DocumentReference", json=document(world.alice, "90"), headers=bearer(legal))
    assert r.status_code == 403


def test_secretary_acts_for_a_doctor(api, world, token) -> None:  # noqa: ANN001
    sec = token("secretary", acting_for=f"Practitioner/{world.gp}", name="Secrétariat")
    r = api.post(
        "/fhir/DocumentReference", json=document(world.alice, "10", world.gp), headers=bearer(sec)
    )
    assert r.status_code == 201, r.text
    r = api.get(f"/fhir/DocumentReference/{world.docs['report']}", headers=bearer(sec))
    assert r.status_code == 403 and "Secrétariat" in r.json()["issue"][0]["diagnostics"]
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "subject": {"reference": f"Patient/{world.alice}"},
    }
    assert api.post("/fhir/Observation", json=obs, headers=bearer(sec)).status_code == 403


def test_directory_is_read_only_for_users(api, world, token) -> None:  # noqa: ANN001
    gp = token("practitioner", **pro(world, "gp"))
    assert api.get(f"/fhir/Practitioner/{world.nurse}", headers=bearer(gp)).status_code == 200
    org = {"resourceType": "Organization", "name": "X"}
    assert api.post("/fhir/Organization", json=org, headers=bearer(gp)).status_code == 403
    system = token("system", scope="system/*.cruds")
    assert api.post("/fhir/Organization", json=org, headers=bearer(system)).status_code == 201


def test_audit_event_is_append_only(api, world, token) -> None:  # noqa: ANN001
    admin = token("admin")
    r = api.post("/fhir/AuditEvent", json={"resourceType": "AuditEvent"}, headers=bearer(admin))
    assert r.status_code in (403, 405)


def test_operations_go_through_the_guard(api, world, token) -> None:  # noqa: ANN001
    bob = token("patient", patient=world.bob, fhirUser=f"Patient/{world.bob}")
    r = api.get(f"/fhir/Patient/{world.alice}/$validate", headers=bearer(bob))
    assert r.status_code in (403, 404)
    alice = token("patient", patient=world.alice, fhirUser=f"Patient/{world.alice}")
    r = api.get(f"/fhir/Patient/{world.alice}/$validate", headers=bearer(alice))
    assert r.status_code not in (401, 403, 404)


def test_search_include_and_total_do_not_leak_masked_or_foreign_data(
    api, world, token, sec_engine
) -> None:  # noqa: ANN001, E501
    masked = internal_write(sec_engine, world.tenant, document(world.alice, "10", world.gp))
    internal_write(
        sec_engine,
        world.tenant,
        consent(
            world.alice,
            "mask",
            {
                "type": "deny",
                "data": [
                    {
                        "meaning": "instance",
                        "reference": {"reference": f"DocumentReference/{masked}"},
                    }
                ],
            },
        ),
    )
    internal_write(
        sec_engine,
        world.tenant,
        {
            "resourceType": "CareTeam",
            "status": "active",
            "subject": {"reference": f"Patient/{world.alice}"},
            "participant": [{"member": {"reference": "Practitioner/team-nurse"}}],
        },
    )
    nurse = token(
        "practitioner",
        **dict(pro(world, "nurse"), fhirUser="Practitioner/team-nurse", rpps="99700000066"),
    )
    r = api.get(
        f"/fhir/DocumentReference?patient=Patient/{world.alice}&_total=accurate",
        headers=bearer(nurse),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    ids = [e["resource"]["id"] for e in body.get("entry", []) if e["search"]["mode"] == "match"]
    assert masked not in ids
    assert world.docs["imaging"] not in ids  # class 31: not for a nurse
    # per-resource rules filter beyond the criteria: the total counts what is visible
    assert body["total"] == len(ids) == 2 and masked not in r.text
    r = api.get(
        f"/fhir/Patient?_id={world.alice}&_revinclude=DocumentReference:subject",
        headers=bearer(nurse),
    )
    assert r.status_code == 200 and masked not in r.text
    # a patient's search is confined to their own record, total included
    bob = token("patient", patient=world.bob, fhirUser=f"Patient/{world.bob}")
    r = api.get(
        f"/fhir/DocumentReference?patient=Patient/{world.alice}&_total=accurate",
        headers=bearer(bob),
    )
    assert r.status_code == 200
    assert r.json().get("total", 0) == 0 and world.docs["report"] not in r.text
    r = api.get("/fhir/DocumentReference?_summary=count", headers=bearer(bob))
    assert r.json()["total"] == 0
