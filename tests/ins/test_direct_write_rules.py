"""INS and RNIV rules on Patients written directly (PUT/POST/PATCH through the write hook).

Sources: RNIV volet 1 (statuses, the INS comes only from INSi, downgrades), FR Core 2.2.0
``fr-core-patient-ins`` (one official INS, fr-core-2; the birth first-names list) and
``fr-core-identity-reliability``; the outgoing rule (the INS of a non-qualified identity
never leaves the server, so a client cannot send it back)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from socle.fhir.errors import FhirError
from socle.ins import model as M
from socle.ins import status as S
from socle.ins.service import op_context
from socle.ins.tables import ins_identity
from tests.ins.conftest import nir, person

TEST_OID = "urn:oid:1.2.250.1.213.1.4.10"
NIA_OID = "urn:oid:1.2.250.1.213.1.4.9"
PATCH = {"Content-Type": "application/json-patch+json"}


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


def _stored(c, pid: str) -> dict[str, Any]:  # noqa: ANN001
    """The Patient as stored (the REST read hides a non-qualified INS)."""
    engine = c.app.state.engine
    with engine.store.session(c.app.state.tenant) as s:
        return engine.crud.read(s, "Patient", pid).resource


def _ident(c, pid: str) -> M.Identity:  # noqa: ANN001
    return M.read_identity(_stored(c, pid))


def _transitions(c, pid: str) -> list[str]:  # noqa: ANN001
    provs = c.get("/fhir/Provenance", params={"target": f"Patient/{pid}"}).json()
    entries = sorted(provs.get("entry", []), key=lambda e: e["resource"]["target"][0]["reference"])
    return [e["resource"]["activity"]["text"] for e in entries]


def _evidenced(
    order: int,
    *,
    status: str = M.QUAL,
    collected: str = "2024-01-01",
    validated: str = "2024-01-01",
    **traits: Any,
) -> dict[str, Any]:
    """A Patient with an INS and its evidence: INSi record, and a CN when validated."""
    mode = "CN" if status in (M.VALI, M.QUAL) else ""
    patient = person(ins=nir(order=order), status=status, mode=mode, **traits)
    ident = M.read_identity(patient)
    ident.method, ident.collection_date = "INSI", collected
    if mode:
        ident.validation_date = validated
    return M.write_identity(patient, ident)


def _put(c, pid: str, body: dict[str, Any]):  # noqa: ANN001, ANN202
    return c.put(f"/fhir/Patient/{pid}", json={**body, "id": pid})


def _create(c, body: dict[str, Any]) -> str:  # noqa: ANN001
    r = c.post("/fhir/Patient", json=body)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _with_status_date(patient: dict[str, Any], when: str) -> dict[str, Any]:
    out = copy.deepcopy(patient)
    M.set_status_date(out, when)
    return out


# --------------------------------------------------------------- 1. stale evidence


def test_evidence_older_than_a_downgrade_does_not_requalify(ins_client) -> None:  # noqa: ANN001
    """A strict trait modified: QUAL -> PROV. Sending the former body again (INSi and CN
    dated before the downgrade) must not qualify the identity again, even with a forged
    status date; evidence dated after the downgrade does."""
    c = ins_client
    original = _evidenced(501)
    pid = _create(c, original)
    r = _put(c, pid, {**original, "birthDate": "1985-03-08"})
    assert r.status_code == 200, r.text
    down = _ident(c, pid)
    assert down.status == M.PROV and not down.ins and down.old_ins
    assert down.method == "" and down.validation_mode == ""
    assert down.status_date[:10] == _today()
    for body in (original, _with_status_date(original, "2020-01-01T00:00:00Z")):
        r = _put(c, pid, body)
        assert r.status_code == 422, r.text
        assert "Illegal identity status change PROV -> QUAL" in r.text
        assert "check the document again" in r.text and "new INSi" in r.text
        assert _ident(c, pid).status == M.PROV
    fresh = _evidenced(501, collected=_today(), validated=_today())
    r = _put(c, pid, fresh)
    assert r.status_code == 200, r.text
    assert _ident(c, pid).status == M.QUAL
    assert _transitions(c, pid) == ["new -> QUAL", "QUAL -> PROV", "PROV -> QUAL"]


def test_stale_document_after_a_fresh_insi_call(ins_client) -> None:  # noqa: ANN001
    """The downgrade is not undone in two steps either: a fresh INSi call makes the
    identity récupérée, but the identity document checked before the downgrade cannot
    then qualify it."""
    c = ins_client
    original = _evidenced(502)
    pid = _create(c, original)
    assert _put(c, pid, {**original, "gender": "male"}).status_code == 200
    assert _ident(c, pid).status == M.PROV
    recup = _evidenced(502, status=M.RECUP, collected=_today())
    r = _put(c, pid, recup)
    assert r.status_code == 200, r.text
    assert _ident(c, pid).status == M.RECUP
    stale = _evidenced(502, collected=_today(), validated="2024-01-01")
    r = _put(c, pid, stale)
    assert r.status_code == 422 and "check the document again" in r.text, r.text
    assert _ident(c, pid).status == M.RECUP
    r = _put(c, pid, _evidenced(502, collected=_today(), validated=_today()))
    assert r.status_code == 200, r.text
    assert _ident(c, pid).status == M.QUAL


def test_status_date_is_the_servers() -> None:
    """The upgrade is judged on the stored identity's status date, day by day."""
    old = M.Identity(
        birth_family="MARTIN", given=["MARIE"], birth_date="1985-03-07", sex="female",
        birthplace="35238", status=M.VALI, validation_mode="CN",
        validation_date="2025-05-01", status_date="2025-06-01T10:00:00.000Z",
    )  # fmt: skip
    new = copy.deepcopy(old)
    new.status, new.ins, new.ins_system = M.QUAL, nir(order=503), TEST_OID
    new.method, new.collection_date = "INSI", "2025-05-31"
    with pytest.raises(S.TransitionError, match="on or after 2025-06-01"):
        S.check_direct_write(old, new)
    new.collection_date = "2025-06-01"  # the same day: a call after the downgrade
    assert S.check_direct_write(old, new)[0].status == M.QUAL
    old.status_date = ""  # not recorded (stored before the date was kept): not judged
    new.collection_date = "2025-05-31"
    assert S.check_direct_write(old, new)[0].status == M.QUAL


def test_status_date_follows_the_status(ins_client) -> None:  # noqa: ANN001
    """Created: dated now, whatever the body says; unchanged status: the stored date."""
    c = ins_client
    body = _with_status_date(_evidenced(504), "2020-01-01T00:00:00Z")
    pid = _create(c, body)
    created = _ident(c, pid).status_date
    assert created[:10] == _today()
    r = _put(c, pid, {**_with_status_date(body, "2030-01-01T00:00:00Z"), "active": True})
    assert r.status_code == 200, r.text
    assert _ident(c, pid).status_date == created


# --------------------------------------------------------------- 2. INS replaced


def test_ins_of_a_retrieved_identity_comes_only_from_insi(ins_client) -> None:  # noqa: ANN001
    c = ins_client
    recup = _evidenced(511, status=M.RECUP, collected="2025-01-01")
    pid = _create(c, recup)
    other = nir(order=512)
    replaced = M.read_identity(recup)
    replaced.ins = other
    r = _put(c, pid, M.write_identity(recup, replaced))
    assert r.status_code == 422 and "comes only from INSi" in r.text, r.text
    assert other not in r.text
    assert _ident(c, pid).ins == nir(order=511)
    # with a new INSi record: accepted, the former INS kept as old
    replaced.collection_date = _today()
    r = _put(c, pid, M.write_identity(recup, replaced))
    assert r.status_code == 200, r.text
    stored = _ident(c, pid)
    assert stored.ins == other and stored.status == M.RECUP
    assert (TEST_OID, nir(order=511)) in stored.old_ins


def test_ins_of_a_qualified_identity_cannot_be_replaced(ins_client) -> None:  # noqa: ANN001
    c = ins_client
    qual = _evidenced(513)
    pid = _create(c, qual)
    changed = M.read_identity(qual)
    changed.ins_system = NIA_OID  # the OID is part of the INS
    r = _put(c, pid, M.write_identity(qual, changed))
    assert r.status_code == 422 and "comes only from INSi" in r.text
    changed.ins_system, changed.ins = TEST_OID, nir(order=514)
    r = _put(c, pid, M.write_identity(qual, changed))
    assert r.status_code == 422 and "comes only from INSi" in r.text
    stored = _ident(c, pid)
    assert (stored.ins, stored.ins_system, stored.status) == (nir(order=513), TEST_OID, M.QUAL)


# --------------------------------------------------------------- 3. read-modify-write


def test_put_after_get_keeps_the_hidden_ins(ins_client) -> None:  # noqa: ANN001
    c = ins_client
    pid = _create(c, person(ins=nir(order=521), status=M.RECUP))
    read = c.get(f"/fhir/Patient/{pid}").json()
    assert "identifier" not in read  # the outgoing rule
    read["telecom"] = [{"system": "phone", "value": "0600000000"}]
    r = c.put(f"/fhir/Patient/{pid}", json=read)
    assert r.status_code == 200, r.text
    stored = _stored(c, pid)
    assert stored["telecom"][0]["value"] == "0600000000"
    ident = M.read_identity(stored)
    assert (ident.status, ident.ins) == (M.RECUP, nir(order=521))


def test_patch_keeps_the_hidden_old_ins(ins_client) -> None:  # noqa: ANN001
    """A JSON Patch applies to the Patient as the client may see it (no INS): the old INS
    of a provisional identity must survive it, exactly as stored."""
    c = ins_client
    body = person()
    ident = M.read_identity(body)
    ident.old_ins = [(TEST_OID, nir(order=522))]
    pid = _create(c, M.write_identity(body, ident))
    before = [i for i in _stored(c, pid)["identifier"] if i["system"] == TEST_OID]
    assert [i["use"] for i in before] == ["old"]
    ops = [{"op": "add", "path": "/telecom", "value": [{"system": "phone", "value": "06"}]}]
    r = c.patch(f"/fhir/Patient/{pid}", json=ops, headers=PATCH)
    assert r.status_code == 200, r.text
    after = _stored(c, pid)
    assert [i for i in after["identifier"] if i["system"] == TEST_OID] == before
    assert after["telecom"][0]["value"] == "06"
    assert M.read_identity(after).status == M.PROV


def test_unmanaged_patient_keeps_its_hidden_ins(ins_client) -> None:  # noqa: ANN001
    """The outgoing rule hides the INS of a Patient outside identity vigilance too."""
    c = ins_client
    ins = {"use": "official", "system": TEST_OID, "value": nir(order=523)}
    pid = _create(c, {"resourceType": "Patient", "identifier": [ins]})
    read = c.get(f"/fhir/Patient/{pid}").json()
    assert "identifier" not in read
    r = c.put(f"/fhir/Patient/{pid}", json={**read, "gender": "female"})
    assert r.status_code == 200, r.text
    assert _stored(c, pid)["identifier"] == [ins]


# --------------------------------------------------------------- 4. statuses disagree


@pytest.mark.parametrize(
    ("rniv", "fr"), [(M.QUAL, "PROV"), (M.RECUP, "VALI"), (M.PROV, "VALI"), (M.VALI, "PROV")]
)
def test_statuses_that_disagree_are_refused(ins_client, rniv: str, fr: str) -> None:  # noqa: ANN001
    c = ins_client
    body = _evidenced(531, status=rniv)
    reliability = next(e for e in body["extension"] if e["url"] == M.EXT_RELIABILITY)
    status = next(x for x in reliability["extension"] if x["url"] == "identityStatus")
    status["valueCoding"]["code"] = fr
    r = c.post("/fhir/Patient", json=body)
    assert r.status_code == 422 and "disagrees with the RNIV status" in r.text, r.text


def test_statuses_that_agree_are_accepted(ins_client) -> None:  # noqa: ANN001
    c = ins_client
    for order, status in enumerate((M.PROV, M.RECUP, M.VALI, M.QUAL), start=532):
        body = _evidenced(order, status=status)
        if status in (M.PROV, M.VALI):
            ident = M.read_identity(body)
            ident.ins = ident.method = ident.collection_date = ""
            body = M.write_identity(body, ident)
        assert _ident(c, _create(c, body)).status == status


# --------------------------------------------------------------- 5. one official INS


def test_two_current_ins_are_refused(ins_client) -> None:  # noqa: ANN001
    c = ins_client
    body = _evidenced(541)
    body["identifier"].append(M.ins_identifier(nir(order=542), NIA_OID))
    r = c.post("/fhir/Patient", json=body)
    assert r.status_code == 422 and "fr-core-2" in r.text, r.text
    plain = {"resourceType": "Patient", "identifier": copy.deepcopy(body["identifier"])}
    r = c.post("/fhir/Patient", json=plain)
    assert r.status_code == 422 and "fr-core-2" in r.text
    body["identifier"][-1]["use"] = "old"  # a replaced one is fine
    assert c.post("/fhir/Patient", json=body).status_code == 201


# --------------------------------------------------------------- 6. spaces in the INS


def test_ins_typed_with_spaces_is_stored_clean(ins_client) -> None:  # noqa: ANN001
    c = ins_client
    matricule = nir(order=551)
    typed = " ".join(
        [matricule[0], matricule[1:3], matricule[3:5], matricule[5:7], matricule[7:10]]
        + [matricule[10:13], matricule[13:]]
    )
    body = _evidenced(551)
    next(i for i in body["identifier"] if i["system"] == TEST_OID)["value"] = typed
    pid = _create(c, body)
    stored = _stored(c, pid)
    assert [i["value"] for i in stored["identifier"] if i["system"] == TEST_OID] == [matricule]
    found = c.get("/fhir/Patient", params={"identifier": f"{TEST_OID}|{matricule}"}).json()
    assert [e["resource"]["id"] for e in found["entry"]] == [pid]
    engine = c.app.state.engine
    with engine.store.session(c.app.state.tenant) as s:
        row = s.execute(select(ins_identity.c.ins).where(ins_identity.c.patient_id == pid))
        assert row.scalar_one() == matricule


# --------------------------------------------------------------- 7. wrong key, anywhere


@pytest.mark.parametrize(
    ("system", "value", "reason"),
    [
        (TEST_OID, "180067512300906", "Wrong key"),
        ("urn:oid:1.2.250.1.213.1.4.8", "12345", "15 characters"),
    ],
)
def test_invalid_ins_refused_on_unmanaged_patient(
    ins_client, system: str, value: str, reason: str
) -> None:  # noqa: ANN001
    c = ins_client
    for use in ("official", "old"):
        body = {
            "resourceType": "Patient",
            "identifier": [{"use": use, "system": system, "value": value}],
        }
        r = c.post("/fhir/Patient", json=body)
        assert r.status_code == 422 and reason in r.text, r.text
        issue = r.json()["issue"][0]
        assert issue["expression"] == ["Patient.identifier[0]"]
    pid = _create(c, {"resourceType": "Patient", "gender": "male"})
    body = {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [{"system": system, "value": value}],
    }
    assert c.put(f"/fhir/Patient/{pid}", json=body).status_code == 422
    found = c.get("/fhir/Patient", params={"identifier": f"{system}|{value}"}).json()
    assert found["total"] == 0
    assert "identifier" not in _stored(c, pid)


def test_stored_invalid_ins_is_not_judged_again(ins_client) -> None:  # noqa: ANN001
    """An INS stored before the rule (here by a write the hook does not see) does not
    block the Patient's other changes: only what arrives is checked."""
    c = ins_client
    engine, tenant = c.app.state.engine, c.app.state.tenant
    junk = {"use": "official", "system": TEST_OID, "value": "123"}
    with engine.store.session(tenant, write=True) as s:
        ctx = op_context(None, tenant)
        pid = engine.crud.create(
            s, ctx, "Patient", {"resourceType": "Patient", "identifier": [junk]}
        ).res_id
    read = c.get(f"/fhir/Patient/{pid}").json()
    r = c.put(f"/fhir/Patient/{pid}", json={**read, "gender": "male"})
    assert r.status_code == 200, r.text
    assert _stored(c, pid)["identifier"] == [junk]


# --------------------------------------------------------------- 8. given vs birth list


def test_given_must_agree_with_the_birth_first_names(ins_client) -> None:  # noqa: ANN001
    """Refused rather than read as a trait change: which of the two was meant is unknown,
    and the stored identity must not keep two different first names."""
    c = ins_client
    body = _evidenced(561, given="Jean-Pierre Marc")
    pid = _create(c, body)
    official = next(n for n in body["name"] if n["use"] == "official")
    official["given"] = ["MARC"]
    r = _put(c, pid, body)
    assert r.status_code == 422 and "disagrees with the birth first names list" in r.text
    stored = _ident(c, pid)
    assert (stored.status, stored.name_given) == (M.QUAL, ["JEAN-PIERRE"])
    for given in (["Jean-Pierre", "Marc"], ["JEAN PIERRE"], None):
        official["given"] = given
        if given is None:  # no given: the list says it all
            del official["given"]
        r = _put(c, pid, body)
        assert r.status_code == 200, r.text
        assert _ident(c, pid).status == M.QUAL
    # both changed together: a strict trait change, the identity falls back to PROV
    official["given"] = ["MARC"]
    official["extension"][0]["valueString"] = "MARC"
    assert _put(c, pid, body).status_code == 200
    assert _ident(c, pid).status == M.PROV
    assert c.post("/fhir/Patient", json={**body, "birthDate": "1985-03-07"}).status_code == 201
    official["extension"][0]["valueString"] = "PAUL"
    assert c.post("/fhir/Patient", json=body).status_code == 422


# --------------------------------------------------------------- 9. evidence removed


def test_removing_the_reliability_extensions_invalidates(ins_client) -> None:  # noqa: ANN001
    """QUAL -> RECUP (a status derived from what is left) is no RNIV transition: dropping
    the evidence is the invalidate event, QUAL -> PROV, the INS set aside, the
    attributes kept."""
    c = ins_client
    body = _evidenced(571)
    homonym = {
        "url": M.EXT_RELIABILITY,
        "extension": [{"url": "identityStatus", "valueCoding": {"code": M.HOMA}}],
    }
    body["extension"].append(homonym)
    pid = _create(c, body)
    assert _ident(c, pid).attributes == {M.HOMA}
    read = c.get(f"/fhir/Patient/{pid}").json()
    read["extension"] = [
        e for e in read["extension"] if e["url"] not in (M.EXT_RELIABILITY, M.EXT_RNIV_STATUS)
    ]
    r = c.put(f"/fhir/Patient/{pid}", json=read)
    assert r.status_code == 200, r.text
    stored = _stored(c, pid)
    assert M.is_managed(stored)
    ident = M.read_identity(stored)
    assert ident.status == M.PROV and not ident.ins
    assert ident.old_ins == [(TEST_OID, nir(order=571))]
    assert ident.method == "" and ident.validation_mode == ""
    assert ident.attributes == {M.HOMA}
    assert _transitions(c, pid) == ["new -> QUAL", "QUAL -> PROV"]


def test_evidence_withdrawn_unit() -> None:
    old = M.read_identity(_evidenced(572))
    old.attributes = {M.DOUT}
    bare = copy.deepcopy(old)
    bare.attributes, bare.status = set(), M.RECUP  # what is left without the extensions
    out = S.evidence_withdrawn(old, bare)
    assert (out.status, out.ins, out.attributes) == (M.PROV, "", {M.DOUT})
    assert S.check_direct_write(old, out)[0].status == M.PROV


def test_check_direct_write_refuses_inconsistent_identities() -> None:
    ident = M.read_identity(_evidenced(573))
    ident.fr_status = "PROV"
    with pytest.raises(FhirError, match="disagrees with the RNIV status"):
        S.check_direct_write(None, ident)
    ident.fr_status, ident.name_given = "VALI", ["CLAIRE"]
    with pytest.raises(FhirError, match="birth first names list"):
        S.check_direct_write(None, ident)


# --------------------------------------------------------------- review: no blind upgrade


def _rniv_qual(read: dict[str, Any], collected: str, validated: str) -> dict[str, Any]:
    """`read` claiming QUAL with client-dated INSi and CN evidence, its INS untouched."""
    ident = M.read_identity(read)
    ident.status, ident.validation_mode, ident.validation_date = M.QUAL, "CN", validated
    ident.method, ident.collection_date = "INSI", collected
    return M.write_identity(read, ident)


def test_a_hidden_ins_cannot_be_qualified_blind(ins_client) -> None:  # noqa: ANN001
    """A plain Patient's INS is hidden (derived RECUP, no INSi record): claiming QUAL on
    it with fresh evidence but without sending the INS is refused, and nothing leaks."""
    c = ins_client
    ins = nir(order=581)
    plain = person(family="Blind", ins=ins)
    plain = {k: v for k, v in plain.items() if k != "extension"}
    plain["identifier"] = [{"use": "official", "system": TEST_OID, "value": ins}]
    pid = _create(c, plain)
    read = c.get(f"/fhir/Patient/{pid}").json()
    assert ins not in str(read)
    r = _put(c, pid, _rniv_qual(read, _today(), _today()))
    assert r.status_code == 422, r.text
    assert ins not in r.text and "INS INSi returned" in r.text
    assert _ident(c, pid).status == M.RECUP


def test_an_old_ins_is_not_shared_by_a_qualified_identity(ins_client) -> None:  # noqa: ANN001
    """The INS a qualified identity shares is its current matricule, not one it held
    while it was not qualified (kept as old when the client replaced it)."""
    c = ins_client
    first, second = nir(order=582), nir(order=583)
    body = _evidenced(582, status=M.RECUP)
    pid = _create(c, body)
    read = c.get(f"/fhir/Patient/{pid}").json()
    claimed = _rniv_qual(read, _today(), _today())
    claimed["identifier"] = [
        *(claimed.get("identifier") or []),
        {"use": "official", "system": TEST_OID, "value": second},
    ]
    r = _put(c, pid, claimed)
    assert r.status_code == 200, r.text
    assert second in r.text and first not in r.text
    assert first not in c.get(f"/fhir/Patient/{pid}").text
    stored = M.read_identity(_stored(c, pid))
    assert stored.status == M.QUAL and (TEST_OID, first) in stored.old_ins
    # a GET-PUT of the qualified identity keeps the old INS it did not see
    read = c.get(f"/fhir/Patient/{pid}").json()
    assert _put(c, pid, {**read, "gender": read["gender"]}).status_code == 200
    assert (TEST_OID, first) in M.read_identity(_stored(c, pid)).old_ins


def test_dropping_only_the_reliability_extension_invalidates(ins_client) -> None:  # noqa: ANN001
    c = ins_client
    pid = _create(c, _evidenced(584))
    read = c.get(f"/fhir/Patient/{pid}").json()
    read["extension"] = [e for e in read["extension"] if e["url"] != M.EXT_RELIABILITY]
    assert _put(c, pid, read).status_code == 200
    assert _ident(c, pid).status == M.PROV


def test_evidence_dates_of_another_type_are_no_server_error(ins_client) -> None:  # noqa: ANN001
    c = ins_client
    pid = _create(c, _evidenced(585, status=M.RECUP))
    read = c.get(f"/fhir/Patient/{pid}").json()
    claimed = _rniv_qual(read, _today(), _today())
    for ext in claimed["extension"]:
        for sub in ext.get("extension") or []:
            if sub["url"] in ("validationDate", "dateCollection"):
                sub.pop("valueDate", None)
                sub.pop("valueDateTime", None)
                sub["valueInteger"] = 5
    r = _put(c, pid, claimed)
    assert r.status_code in (400, 422), r.text
    assert r.json()["resourceType"] == "OperationOutcome"


def test_a_stored_ins_the_rules_now_refuse_is_carried_unquoted(ins_client) -> None:  # noqa: ANN001
    """A managed Patient stored with an INS today's rules refuse (written before them):
    its other changes go through, and no message quotes the number."""
    c = ins_client
    engine, tenant = c.app.state.engine, c.app.state.tenant
    legacy = "2-85-03-35-238-615-81"
    body = person(family="Legacy", status=M.PROV)
    body["identifier"] = [{"use": "official", "system": TEST_OID, "value": legacy}]
    with engine.store.session(tenant, write=True) as s:
        pid = engine.crud.create(s, op_context(None, tenant), "Patient", body).res_id
    read = c.get(f"/fhir/Patient/{pid}").json()
    r = _put(c, pid, {**read, "gender": read["gender"]})
    assert r.status_code == 200, r.text
    assert legacy not in r.text


@pytest.mark.parametrize(
    "sub",
    [
        {"url": "identityStatus", "valueString": "VALI"},
        {"url": "validationMode", "valueCode": "CN"},
        {"url": "methodCollection", "valueBoolean": True},
    ],
)
def test_reliability_sub_extension_of_another_type_is_a_400(ins_client, sub) -> None:  # noqa: ANN001
    """A status or document sent as another value[x] than a Coding is refused (400) on
    every path that reads it, never a 500, never silently dropped."""
    body = person()
    body["extension"] = [{"url": M.EXT_RELIABILITY, "extension": [sub]}]
    r = ins_client.post("/fhir/Patient", json=body)
    assert r.status_code == 400, r.text
    assert sub["url"] in r.json()["issue"][0]["diagnostics"]
    match = {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": body}]}
    r = ins_client.post("/fhir/Patient/$match", json=match)
    assert r.status_code == 400 and r.json()["resourceType"] == "OperationOutcome"


def test_past_versions_show_the_ins_only_while_the_identity_is_still_qualified(
    ins_client,  # noqa: ANN001
) -> None:
    """A qualified version read back through vread or any history after the identity was
    downgraded (here: marked doubtful) no longer shows the INS it carried: RNIV shares
    the INS of a qualified identity only, as it is now."""
    c = ins_client
    body = _evidenced(41)
    ins = M.read_identity(body).ins
    pid = _create(c, body)
    version = c.get(f"/fhir/Patient/{pid}").json()["meta"]["versionId"]
    vread = f"/fhir/Patient/{pid}/_history/{version}"
    assert ins in c.get(vread).text  # qualified now: its versions show it
    assert ins in c.get(f"/fhir/Patient/{pid}/_history").text
    attribute = [
        {"name": "attribute", "valueCode": "DOUT"},
        {"name": "value", "valueBoolean": True},
    ]
    r = c.post(
        f"/fhir/Patient/{pid}/$ins-attribute",
        json={"resourceType": "Parameters", "parameter": attribute},
    )
    assert r.status_code == 200, r.text
    for url in (vread, f"/fhir/Patient/{pid}/_history", "/fhir/Patient/_history", "/fhir/_history"):
        r = c.get(url)
        assert r.status_code == 200 and ins not in r.text, url
    assert c.get(vread).json()["meta"]["versionId"] == version  # the version, less its INS


def test_an_identity_declaring_the_ins_profile_can_still_be_downgraded(ins_client) -> None:  # noqa: ANN001
    """A qualified Patient claiming fr-core-patient-ins is marked doubtful, then
    invalidated: the RNIV downgrade is written (its INS set aside as old), and the claim
    becomes the general FR Core patient profile, which the downgraded Patient meets."""
    c = ins_client
    body = _evidenced(43)
    body["meta"] = {"profile": [M.PROFILE_INS]}
    pid = _create(c, body)
    assert _ident(c, pid).status == M.QUAL
    doubt = [{"name": "attribute", "valueCode": "DOUT"}]
    r = c.post(
        f"/fhir/Patient/{pid}/$ins-attribute",
        json={"resourceType": "Parameters", "parameter": doubt},
    )
    assert r.status_code == 200, r.text
    assert _ident(c, pid).status == M.PROV and _ident(c, pid).old_ins
    assert _stored(c, pid)["meta"]["profile"] == [M.PROFILE_PATIENT]
    r = c.post(f"/fhir/Patient/{pid}/$validate", json=_stored(c, pid))
    errors = [i for i in r.json()["issue"] if i["severity"] in ("error", "fatal")]
    assert errors == [], errors
