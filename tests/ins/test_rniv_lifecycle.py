"""RNIV status lifecycle through the FHIR API: legal and forbidden transitions, the
evidence a status needs, downgrades, records, and merge/unmerge traceability.

Sources: RNIV volet 1 (statuts provisoire/récupérée/validée/qualifiée, attributs
douteuse/fictive), FR Core 2.2.0 ``fr-core-patient-ins`` (constraint fr-core-3) and
``fr-core-identity-reliability`` (methodCollection/dateCollection describe the
collection of the current INS)."""

from __future__ import annotations

from typing import Any

import pytest

from socle.ins import model as M
from socle.ins import service
from tests.ins.conftest import merge, nir, parameters, person, registry_record

TEST_OID = "urn:oid:1.2.250.1.213.1.4.10"


def _status(patient: dict[str, Any]) -> str:
    return M.read_identity(patient).status


def _stored(c, pid: str) -> dict[str, Any]:  # noqa: ANN001
    """The Patient as stored (the REST read hides a non-qualified INS)."""
    engine = c.app.state.engine
    with engine.store.session(c.app.state.tenant) as s:
        return engine.crud.read(s, "Patient", pid).resource


def _validate(c, pid: str, mode: str = "CN"):  # noqa: ANN001, ANN202
    return c.post(
        f"/fhir/Patient/{pid}/$ins-validate", json=parameters({"name": "mode", "valueCode": mode})
    )


def _qualified(c, engine, tenant: str) -> str:  # noqa: ANN001
    """A Patient qualified by the operations: INSi retrieval, then a CN checked."""
    service.load_registry(engine, tenant, [registry_record()], replace=False)
    pid = c.post("/fhir/Patient", json=person(given="Marie")).json()["id"]
    assert c.post(f"/fhir/Patient/{pid}/$ins-retrieve", json=parameters()).status_code == 200
    r = _validate(c, pid)
    assert r.status_code == 200, r.text
    assert _status(r.json()) == M.QUAL
    return pid


def test_failed_verification_cannot_be_undone_by_a_plain_write(
    ins_client, ins_engine, tenant
) -> None:  # noqa: ANN001
    """RNIV: a qualified identity whose INS INSi no longer confirms falls back to validée;
    only a new INSi success qualifies it again. The INSi record of the INS set aside
    (methodCollection INSI + dateCollection) is no evidence of a new call: a PUT that puts
    the INS back as official with status QUAL must be refused."""
    c = ins_client
    pid = _qualified(c, ins_engine, tenant)
    service.load_registry(ins_engine, tenant, [registry_record(nom="MARTINEZ")], replace=True)
    r = c.post(f"/fhir/Patient/{pid}/$ins-verify", json=parameters())
    assert r.status_code == 200, r.text
    stored = _stored(c, pid)
    ident = M.read_identity(stored)
    assert ident.status == M.VALI and not ident.ins
    assert ident.method == "" and ident.collection_date == ""  # set aside with its INS
    ident.ins, ident.ins_system, ident.old_ins, ident.status = nir(), TEST_OID, [], M.QUAL
    r = c.put(f"/fhir/Patient/{pid}", json=M.write_identity(stored, ident))
    assert r.status_code == 422, r.text
    assert "INSi" in r.text
    assert _status(_stored(c, pid)) == M.VALI
    # with a new INSi record (what the operations write), the upgrade is accepted
    ident.method, ident.collection_date = "INSI", "2099-01-01"
    r = c.put(f"/fhir/Patient/{pid}", json=M.write_identity(stored, ident))
    assert r.status_code == 200, r.text
    assert _status(_stored(c, pid)) == M.QUAL


def test_stale_insi_record_is_not_evidence(ins_client) -> None:  # noqa: ANN001
    """A PROV identity still carrying an old INSi record (written before the record was
    cleared with its INS) cannot become récupérée by flipping its status."""
    c = ins_client
    old = person(ins=None)
    ident = M.read_identity(old)
    ident.method, ident.collection_date = "INSI", "2024-05-06"
    ident.old_ins = [(TEST_OID, nir(order=31))]
    pid = c.post("/fhir/Patient", json=M.write_identity(old, ident)).json()["id"]
    stored = _stored(c, pid)
    assert _status(stored) == M.PROV
    ident = M.read_identity(stored)
    ident.ins, ident.ins_system, ident.old_ins, ident.status = nir(order=31), TEST_OID, [], M.RECUP
    r = c.put(f"/fhir/Patient/{pid}", json=M.write_identity(stored, ident))
    assert r.status_code == 422 and "Illegal identity status change" in r.text


def test_unknown_birthplace_cannot_be_validated(ins_client) -> None:  # noqa: ANN001
    """FR Core fr-core-3: identityStatus VALI implies a birthplace INSEE code other than
    99999 (unknown). Neither $ins-validate nor a direct write may validate it."""
    c = ins_client
    pid = c.post("/fhir/Patient", json=person(place="99999")).json()["id"]
    r = _validate(c, pid)
    assert r.status_code == 422 and "99999" in r.text
    assert _status(_stored(c, pid)) == M.PROV
    r = c.post("/fhir/Patient", json=person(place="99999", status=M.VALI, mode="CN"))
    assert r.status_code == 422 and "99999" in r.text
    # a birthplace abroad (99 + country code) is a known birthplace
    pid = c.post("/fhir/Patient", json=person(place="99134")).json()["id"]
    assert _validate(c, pid).status_code == 200


def test_demotions_set_the_insi_record_aside(ins_client, ins_engine, tenant) -> None:  # noqa: ANN001
    """RNIV: a modified strict trait, an attribute douteuse/fictive or an invalidation send
    the identity back to provisoire; its INS is kept as ``old`` and not shared, and the
    identity needs a new INSi call (and document) to go up again."""
    c = ins_client
    pid = _qualified(c, ins_engine, tenant)
    doubt = parameters(
        {"name": "attribute", "valueCode": "DOUT"}, {"name": "value", "valueBoolean": True}
    )
    r = c.post(f"/fhir/Patient/{pid}/$ins-attribute", json=doubt)
    assert r.status_code == 200, r.text
    ident = M.read_identity(_stored(c, pid))
    assert ident.status == M.PROV and not ident.ins and ident.old_ins
    assert ident.method == "" and ident.validation_mode == ""
    assert "identifier" not in c.get(f"/fhir/Patient/{pid}").json()
    # douteuse: neither a document nor INSi may raise it
    assert _validate(c, pid).status_code == 422
    assert c.post(f"/fhir/Patient/{pid}/$ins-retrieve", json=parameters()).status_code == 422
    provs = c.get("/fhir/Provenance", params={"target": f"Patient/{pid}"}).json()
    texts = sorted(e["resource"]["activity"]["text"] for e in provs["entry"])
    assert texts == ["PROV -> RECUP", "QUAL -> PROV", "RECUP -> QUAL"]


def test_merge_leaves_audit_records_alone(ins_client, ins_engine, tenant) -> None:  # noqa: ANN001
    """A merge re-points the source's clinical resources to the survivor, but the
    AuditEvents and Provenances that recorded what happened to the source are the
    trail of that history: they must still name the source afterwards (RNIV traceability
    of identity operations; FHIR AuditEvent/Provenance are records, not re-pointable
    data)."""
    c = ins_client
    dup = _qualified(c, ins_engine, tenant)
    keep = c.post("/fhir/Patient", json=person(given="Marie", family="Martin")).json()["id"]
    obs = c.post(
        "/fhir/Observation",
        json={
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "taille"},
            "subject": {"reference": f"Patient/{dup}"},
        },
    ).json()["id"]
    before = c.get("/fhir/AuditEvent", params={"entity": f"Patient/{dup}"}).json()["total"]
    assert before == 2  # the two transitions of the qualification
    r = merge(c, dup, keep)
    assert r.status_code == 200, r.text
    updated = [p["valueReference"]["reference"] for p in r.json()["parameter"][2:]]
    assert updated == [f"Observation/{obs}"]
    # the transition records still name the source (plus the merge's own record)
    after = c.get("/fhir/AuditEvent", params={"entity": f"Patient/{dup}"}).json()["total"]
    assert after == before + 1
    r = c.post(f"/fhir/Patient/{dup}/$ins-unmerge", json=parameters())
    assert r.status_code == 200, r.text
    restored = [p["valueReference"]["reference"] for p in r.json()["parameter"][2:]]
    assert restored == [f"Observation/{obs}"]


def _worklist(c) -> list[dict[str, Any]]:  # noqa: ANN001
    items = c.get("/fhir/Patient/$ins-worklist").json()["parameter"]
    out = []
    for item in items:
        parts: dict[str, Any] = {}
        for part in item["part"]:
            value = part.get("valueReference", {}).get("reference") or part.get("valueCode")
            parts.setdefault(part["name"], []).append(value)
        out.append(parts)
    return out


def test_collision_resolved_by_merge_and_back_by_unmerge(ins_client) -> None:  # noqa: ANN001
    """RNIV: one INS on two local identities is a collision for the vigilance cell; merging
    the duplicate into the survivor ends it (the source is inactive, replaced-by), an
    unmerge brings it back. Two different INS are two people: never merged. A chain
    A -> B -> C refuses C -> A (cycle) and a merge into a merged target names its
    survivor."""
    c = ins_client
    ins = nir(order=151)
    a = c.post("/fhir/Patient", json=person(family="Kerlan", ins=ins, status=M.RECUP)).json()["id"]
    b = c.post("/fhir/Patient", json=person(family="Kerlann", ins=ins, status=M.RECUP)).json()["id"]
    collisions = [i for i in _worklist(c) if i["kind"] == ["collision"]]
    assert [sorted(i["patient"]) for i in collisions] == [sorted([f"Patient/{a}", f"Patient/{b}"])]
    other = c.post(
        "/fhir/Patient", json=person(family="Kerlan", ins=nir(order=152), status=M.RECUP)
    ).json()["id"]
    r = merge(c, other, a)
    assert r.status_code == 422 and "different INS" in r.text
    assert merge(c, b, a).status_code == 200
    assert not [i for i in _worklist(c) if i["kind"] == ["collision"]]
    merged = c.get(f"/fhir/Patient/{b}").json()
    assert merged["active"] is False
    assert merged["link"] == [{"other": {"reference": f"Patient/{a}"}, "type": "replaced-by"}]
    assert {"other": {"reference": f"Patient/{b}"}, "type": "replaces"} in c.get(
        f"/fhir/Patient/{a}"
    ).json()["link"]
    # a merge into the merged one is answered with its survivor; a cycle is refused
    third = c.post("/fhir/Patient", json=person(family="Kerlan", given="Anne")).json()["id"]
    r = merge(c, third, b)
    assert r.status_code == 409 and f"Patient/{a}" in r.text
    assert merge(c, a, third).status_code == 200  # b -> a -> third
    r = merge(c, third, b)
    assert r.status_code == 422 and "cycle" in r.text
    assert c.post(f"/fhir/Patient/{a}/$ins-unmerge", json=parameters()).status_code == 200
    r = c.post(f"/fhir/Patient/{b}/$ins-unmerge", json=parameters())
    assert r.status_code == 200, r.text
    assert c.get(f"/fhir/Patient/{b}").json().get("active", True) is True
    assert "link" not in c.get(f"/fhir/Patient/{b}").json()
    assert "link" not in c.get(f"/fhir/Patient/{a}").json()
    collisions = [i for i in _worklist(c) if i["kind"] == ["collision"]]
    assert [sorted(i["patient"]) for i in collisions] == [sorted([f"Patient/{a}", f"Patient/{b}"])]
    r = c.post(f"/fhir/Patient/{b}/$ins-unmerge", json=parameters())
    assert r.status_code == 422  # not merged any more


def test_attribute_changes_are_recorded_as_such(ins_client) -> None:  # noqa: ANN001
    """Setting homonyme (no status effect) or clearing an attribute is recorded with the
    attribute event, not as a douteuse/fictive downgrade."""
    c = ins_client
    pid = c.post("/fhir/Patient", json=person()).json()["id"]
    for value in (True, False):
        params = parameters(
            {"name": "attribute", "valueCode": "HOMA"}, {"name": "value", "valueBoolean": value}
        )
        assert c.post(f"/fhir/Patient/{pid}/$ins-attribute", json=params).status_code == 200
    provs = c.get("/fhir/Provenance", params={"target": f"Patient/{pid}"}).json()["entry"]
    codings = sorted(
        (e["resource"]["activity"]["coding"][0]["code"], e["resource"]["reason"][0]["text"])
        for e in provs
    )
    assert [code for code, _ in codings] == ["attribute", "attribute"]
    assert {reason.rsplit("(", 1)[1] for _, reason in codings} == {"+HOMA)", "-HOMA)"}
    assert all(
        reason.startswith("Attribut d'identité positionné ou retiré") for _, reason in codings
    )


@pytest.mark.parametrize("mode", ["CS", "CE", "IE", "PC"])
def test_only_fr_core_ins_documents_validate(ins_client, mode: str) -> None:  # noqa: ANN001
    """fr-core-patient-ins binds validationMode (required) to PA, CN, AN and LE
    (fr-core-vs-mode-validation-identity-ins): another document cannot validate."""
    c = ins_client
    pid = c.post("/fhir/Patient", json=person()).json()["id"]
    r = _validate(c, pid, mode)
    assert r.status_code == 422 and mode in r.text
    assert _status(_stored(c, pid)) == M.PROV
    assert _validate(c, pid, "LE").status_code == 200 and _status(_stored(c, pid)) == M.VALI


def test_instance_check_shares_the_ins_only_when_qualified(ins_client, ins_engine, tenant) -> None:  # noqa: ANN001
    """The outgoing rule holds in $ins-check too: on a Patient whose identity is not
    qualifiée, the answer says whether its INS is valid without quoting it."""
    c = ins_client
    matricule = nir(order=733)
    pid = c.post("/fhir/Patient", json=person(ins=matricule, status=M.PROV)).json()["id"]
    r = c.get(f"/fhir/Patient/{pid}/$ins-check")
    assert r.status_code == 200, r.text
    names = [p["name"] for p in r.json()["parameter"]]
    assert "valid" in names and "value" not in names
    assert matricule not in r.text and matricule[:13] not in r.text
    qualified = _qualified(c, ins_engine, tenant)
    r = c.get(f"/fhir/Patient/{qualified}/$ins-check")
    values = [p for p in r.json()["parameter"] if p["name"] == "value"]
    assert values and values[0]["valueString"] == M.read_identity(_stored(c, qualified)).ins
