"""RNIV statuses: legal transitions, downgrades, Provenance/AuditEvent, outgoing rule."""

from __future__ import annotations

import copy

import pytest

from socle.ins import model as M
from socle.ins import status as S
from socle.ins.outgoing import filter_resource
from tests.ins.conftest import nir, person, registry_record


def _status(patient: dict) -> str:
    return M.read_identity(patient).status


def test_state_machine_unit() -> None:
    ident = M.read_identity(person())
    assert ident.status == M.PROV
    with pytest.raises(S.TransitionError, match="not a high-trust"):
        S.apply(ident, S.DOCUMENT, mode="PC")
    vali, t = S.apply(ident, S.DOCUMENT, mode="CN")
    assert (t.before, t.after) == (M.PROV, M.VALI)
    with pytest.raises(S.TransitionError, match="INS matricule"):
        S.apply(vali, S.INSI)
    vali.ins, vali.ins_system = nir(), "urn:oid:1.2.250.1.213.1.4.10"
    qual, t = S.apply(vali, S.INSI)
    assert qual.status == M.QUAL and qual.method == "INSI"
    down, t = S.apply(qual, S.TRAITS)
    assert down.status == M.PROV and not down.ins and down.old_ins
    doubtful = M.read_identity(person())
    doubtful.attributes.add(M.DOUT)
    with pytest.raises(S.TransitionError, match="douteuse"):
        S.apply(doubtful, S.DOCUMENT, mode="PA")
    incomplete = M.read_identity(person(place=""))
    with pytest.raises(S.TransitionError, match="lieu de naissance"):
        S.apply(incomplete, S.DOCUMENT, mode="PA")


def test_fr_core_shape_roundtrip() -> None:
    p = person(ins=nir(), status=M.QUAL, mode="CN", used="Durand")
    ident = M.read_identity(p)
    assert ident.given == ["MARIE", "CLAIRE"] and ident.first_given == "MARIE"
    assert ident.used_family == "DURAND" and ident.birth_family == "MARTIN"
    official = next(n for n in p["name"] if n["use"] == "official")
    assert [g.upper() for g in official["given"]] == ["MARIE"]
    assert official["extension"][0]["valueString"].upper() == "MARIE CLAIRE"
    fr = next(e for e in p["extension"] if e["url"] == M.EXT_RELIABILITY)
    codes = {x["url"]: x.get("valueCoding", {}).get("code") for x in fr["extension"]}
    assert codes["identityStatus"] == "VALI" and codes["validationMode"] == "CN"
    ins = next(i for i in p["identifier"] if i["system"].endswith(".10"))
    assert ins["type"]["coding"][0]["code"] == "INS-NIR-TEST" and ins["use"] == "official"


def test_outgoing_rule() -> None:
    qual = person(ins=nir(), status=M.QUAL, mode="CN")
    recup = person(ins=nir(), status=M.RECUP)
    assert any(i["system"].endswith(".10") for i in filter_resource(qual)["identifier"])
    assert "identifier" not in filter_resource(recup)
    bundle = {"resourceType": "Bundle", "entry": [{"resource": recup}, {"resource": qual}]}
    out = filter_resource(bundle)
    assert "identifier" not in out["entry"][0]["resource"]
    assert "identifier" in out["entry"][1]["resource"]


def test_write_hook_refuses_and_downgrades(ins_client) -> None:  # noqa: ANN001
    c = ins_client
    bad = person(ins="185037512345642", status=M.RECUP)
    r = c.post("/fhir/Patient", json=bad)
    assert r.status_code == 422 and "Wrong key" in r.text
    r = c.post("/fhir/Patient", json=person(status=M.VALI, mode="CN", place=""))
    assert r.status_code == 422 and "lieu de naissance" in r.text
    # a junk INS is refused even on a Patient outside identity vigilance
    plain = {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:oid:1.2.250.1.213.1.4.10", "value": "123"}],
    }
    r = c.post("/fhir/Patient", json=plain)
    assert r.status_code == 422 and "15 characters" in r.text
    # provisional -> qualified by a plain PUT: refused
    created = c.post("/fhir/Patient", json=person()).json()
    upgraded = person(ins=nir(), status=M.QUAL, mode="CN", pid=created["id"])
    r = c.put(f"/fhir/Patient/{created['id']}", json=upgraded)
    assert r.status_code == 422 and "Illegal identity status change" in r.text
    # a qualified identity (imported) whose birth name is modified falls back to PROV
    qual = c.post("/fhir/Patient", json=person(ins=nir(order=5), status=M.QUAL, mode="CN"))
    assert qual.status_code == 201, qual.text
    pid = qual.json()["id"]
    changed = person(family="Martins", ins=nir(order=5), status=M.QUAL, mode="CN", pid=pid)
    r = c.put(f"/fhir/Patient/{pid}", json=changed)
    assert r.status_code == 200, r.text
    stored = c.get(f"/fhir/Patient/{pid}").json()
    assert _status(stored) == M.PROV
    # no longer qualified: the INS does not leave the server, but it is kept (as old)
    assert all(i.get("value") != nir(order=5) for i in stored.get("identifier", []))
    engine = c.app.state.engine
    with engine.store.session(c.app.state.tenant) as s:
        kept = engine.crud.read(s, "Patient", pid).resource
    old = [i for i in kept.get("identifier", []) if i.get("use") == "old"]
    assert old and old[0]["value"] == nir(order=5)
    # the downgrade is recorded by the write itself, in its transaction
    provs = c.get("/fhir/Provenance", params={"target": f"Patient/{pid}"}).json()
    texts = sorted(e["resource"]["activity"]["text"] for e in provs["entry"])
    assert texts == ["QUAL -> PROV", "new -> QUAL"]  # the creation at QUAL recorded too
    audits = c.get("/fhir/AuditEvent", params={"entity": f"Patient/{pid}"}).json()
    created = [
        e["resource"]
        for e in audits.get("entry", [])
        if e["resource"].get("outcomeDesc", "").startswith("Identité créée")
    ]
    assert [a["action"] for a in created] == ["C"]
    assert created[0]["entity"][0]["detail"] == [{"type": "status-after", "valueString": "QUAL"}]


def test_write_hook_uses_the_writers_session(ins_engine, tenant) -> None:  # noqa: ANN001
    """The RNIV rules compare with the version being replaced inside the writer's own
    transaction: two writes of one Patient in one transaction, no other session."""
    from socle.fhir.context import RequestContext
    from socle.ins.contexts import server_context

    ctx = server_context(RequestContext(tenant=tenant))
    qual = person(ins=nir(order=6), status=M.QUAL, mode="CN")
    opened: list[bool] = []
    session = ins_engine.store.session
    with session(tenant, write=True) as s:
        ins_engine.store.session = lambda *a, **k: opened.append(True) or session(*a, **k)
        try:
            pid = ins_engine.crud.create(s, ctx, "Patient", qual).res_id
            renamed = person(family="Martins", ins=nir(order=6), status=M.QUAL, mode="CN")
            result = ins_engine.crud.update(s, ctx, "Patient", pid, {**renamed, "id": pid})
        finally:
            ins_engine.store.session = session
    assert opened == []
    assert _status(result.resource) == M.PROV  # compared with the first write, unseen by others


def test_full_qualification_flow(ins_client, ins_engine, tenant) -> None:  # noqa: ANN001
    from socle.ins import service

    c = ins_client
    service.load_registry(ins_engine, tenant, [registry_record()], replace=False)
    pid = c.post("/fhir/Patient", json=person(given="Marie")).json()["id"]
    # INSi retrieval on the instance: récupérée, INS stored but not shared
    r = c.post(f"/fhir/Patient/{pid}/$ins-retrieve", json={"resourceType": "Parameters"})
    assert r.status_code == 200, r.text
    params = {p["name"]: p for p in r.json()["parameter"]}
    assert params["result"]["valueCode"] == "00"
    assert "identifier" not in params["patient"]["resource"]
    stored = ins_engine.store
    with stored.session(tenant) as s:
        raw = ins_engine.crud.read(s, "Patient", pid).resource
    assert _status(raw) == M.RECUP and M.read_identity(raw).given == ["MARIE", "CLAIRE"]
    # low-trust document refused, nothing stored
    r = c.post(
        f"/fhir/Patient/{pid}/$ins-validate",
        json={"resourceType": "Parameters", "parameter": [{"name": "mode", "valueCode": "PC"}]},
    )
    assert r.status_code == 422
    r = c.post(
        f"/fhir/Patient/{pid}/$ins-validate",
        json={"resourceType": "Parameters", "parameter": [{"name": "mode", "valueCode": "PA"}]},
    )
    assert r.status_code == 200, r.text
    assert _status(r.json()) == M.QUAL
    assert any(i["system"].endswith(".10") for i in r.json()["identifier"])
    provs = c.get("/fhir/Provenance", params={"target": f"Patient/{pid}"}).json()
    events = sorted(e["resource"]["activity"]["text"] for e in provs["entry"])
    assert events == ["PROV -> RECUP", "RECUP -> QUAL"]
    audits = c.get("/fhir/AuditEvent", params={"entity": f"Patient/{pid}"}).json()
    assert audits["total"] == 2
    # verification failure (registry changed: traits differ) -> validée, INS set aside
    service.load_registry(ins_engine, tenant, [registry_record(nom="MARTINEZ")], replace=True)
    r = c.post(f"/fhir/Patient/{pid}/$ins-verify", json={"resourceType": "Parameters"})
    params = {p["name"]: p for p in r.json()["parameter"]}
    assert params["result"]["valueCode"] == "01"
    assert _status(params["patient"]["resource"]) == M.VALI


def test_a_document_is_judged_when_it_is_new() -> None:
    """A validationMode outside FR Core's INS list (CS) is refused for a new validation,
    but an identity validated with it before the list followed FR Core stays writable."""
    ident = M.Identity(
        birth_family="MARTIN", given=["MARIE"], birth_date="1985-03-07", sex="female",
        birthplace="35238", status=M.VALI, validation_mode="CS",
    )  # fmt: skip
    with pytest.raises(Exception, match="CS is not a high-trust document"):
        S.check_direct_write(None, ident)
    checked, _ = S.check_direct_write(copy.deepcopy(ident), ident)  # stored as it was
    assert checked.status == M.VALI and checked.validation_mode == "CS"
    with pytest.raises(Exception, match="CS is not a high-trust document"):
        S.check_direct_write(M.Identity(birth_family="MARTIN"), ident)  # a new document


def test_codes_written_with_fr_core_displays() -> None:
    """Every display Socle writes for FR Core codes is the one FR Core's code system
    gives (a $validate-code of a stored Patient reports any other)."""
    from tests.fhir.validation.support import service

    context = service().context
    tables = (
        (M.CS_STATUS, {**M.ATTRIBUTES, **M.STATUS_DISPLAY_0445}),
        (M.CS_VALIDATION_MODE, M.VALIDATION_MODES),
        (M.CS_METHOD_COLLECTION, M.METHODS),
    )
    for system, displays in tables:
        concepts = {c["code"]: c.get("display") for c in context.code_system(system)["concept"]}
        assert {code: concepts.get(code) for code in displays} == displays, system


def test_patients_socle_writes_use_known_extensions(ins_client) -> None:  # noqa: ANN001
    """$validate knows Socle's own extensions (RNIV status and its date) and code
    systems: a Patient Socle wrote has no 'unknown extension' issue, and a wrong RNIV
    status code is an error."""
    c = ins_client
    body = person(ins=nir(order=7), status=M.RECUP)
    ident = M.read_identity(body)
    ident.method, ident.collection_date = "INSI", "2024-01-01"
    pid = c.post("/fhir/Patient", json=M.write_identity(body, ident)).json()["id"]
    engine = c.app.state.engine
    with engine.store.session(c.app.state.tenant) as s:
        stored = engine.crud.read(s, "Patient", pid).resource
    issues = c.post("/fhir/Patient/$validate", json=stored).json()["issue"]
    assert not [i for i in issues if "ins-rniv" in i.get("diagnostics", "")], issues
    for ext in stored["extension"]:
        if ext["url"] == M.EXT_RNIV_STATUS:
            ext["valueCoding"]["code"] = "ZZZZ"
    issues = c.post("/fhir/Patient/$validate", json=stored).json()["issue"]
    bad = [i for i in issues if i["severity"] == "error" and "ZZZZ" in i.get("diagnostics", "")]
    assert bad, issues
