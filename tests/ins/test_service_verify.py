"""INSi vérification without an OID: the matricule is verified under the OID the registry
holds it under (it used to be taken as a test-OID matricule, so a NIR answered 01)."""

from __future__ import annotations

import pytest

from socle.fhir.errors import FhirError
from socle.ins import service
from socle.ins import teleservice as T
from socle.ins.nir import OID_NIA, OID_NIR, OID_TEST
from tests.ins.conftest import nir, registry_record

TRAITS = {"family": "Martin", "given": "Marie", "birthDate": "1985-03-07", "gender": "female"}


def _nia() -> str:
    from socle.demo.identifiers import nir_key

    body = "7850399135031"
    return body + nir_key(body)


def _verify(engine, tenant, ins, system=None, **traits):  # noqa: ANN001, ANN002, ANN003, ANN202
    result, _ = service.verify(engine, tenant, ins=ins, system=system, traits={**TRAITS, **traits})
    return result


def test_without_system_the_registry_oid_is_used(ins_engine, tenant) -> None:  # noqa: ANN001
    rec = registry_record(oid=OID_NIR)
    service.load_registry(ins_engine, tenant, [rec], replace=False)
    result = _verify(ins_engine, tenant, rec["matricule"])
    assert result.code == T.FOUND
    assert T.identity_of(result.identities[0]).ins_system == f"urn:oid:{OID_NIR}"
    # given, the OID must be the registry's: it is part of the INS
    assert _verify(ins_engine, tenant, rec["matricule"], f"urn:oid:{OID_NIR}").code == T.FOUND
    assert _verify(ins_engine, tenant, rec["matricule"], OID_NIR).code == T.FOUND
    wrong = _verify(ins_engine, tenant, rec["matricule"], f"urn:oid:{OID_TEST}")
    assert wrong.code == T.NONE and "OID" in wrong.detail
    # the traits are still checked
    differ = _verify(ins_engine, tenant, rec["matricule"], given="Claire")
    assert differ.code == T.NONE and "prénom" in differ.detail


def test_without_system_a_former_matricule_keeps_its_own_oid(ins_engine, tenant) -> None:  # noqa: ANN001
    nia = _nia()
    rec = registry_record(
        matricule=nir(year=1985, month=3, place="99135", order=31),
        oid=OID_NIR,
        lieu_naissance="99135",
        historique=[{"matricule": nia, "oid": OID_NIA}],
    )
    service.load_registry(ins_engine, tenant, [rec], replace=False)
    with ins_engine.store.session(tenant) as s:
        assert T.registry_hit(s, rec["matricule"])[1:] == ("current", OID_NIR)
        assert T.registry_hit(s, nia)[1:] == ("former", OID_NIA)
        assert T.registry_hit(s, nir(order=99)) is None
    result = _verify(ins_engine, tenant, nia)
    assert result.code == T.FOUND
    assert result.identities[0]["matricule"] == rec["matricule"]  # the current one returned
    assert _verify(ins_engine, tenant, nia, f"urn:oid:{OID_NIR}").code == T.NONE


def test_without_system_unknown_or_invalid_matricule(ins_engine, tenant) -> None:  # noqa: ANN001
    service.load_registry(ins_engine, tenant, [registry_record()], replace=False)
    unknown = _verify(ins_engine, tenant, nir(order=98))
    assert unknown.code == T.NONE and "is not known" in unknown.detail
    good = nir()
    bad_key = good[:13] + f"{int(good[13:]) % 97 + 1:02d}"
    with pytest.raises(FhirError, match="Wrong key") as refused:
        _verify(ins_engine, tenant, bad_key)
    assert refused.value.status == 400


def test_ins_verify_operation_without_system(ins_client, ins_engine, tenant) -> None:  # noqa: ANN001
    """$ins-verify's `system` is optional: a NIR of the registry answers 00 without it."""
    rec = registry_record(oid=OID_NIR)
    service.load_registry(ins_engine, tenant, [rec], replace=False)
    r = ins_client.post(
        "/fhir/Patient/$ins-verify",
        json={
            "resourceType": "Parameters",
            "parameter": [
                {"name": "ins", "valueString": rec["matricule"]},
                {"name": "family", "valueString": "MARTIN"},
                {"name": "given", "valueString": "MARIE CLAIRE"},
                {"name": "birthDate", "valueDate": "1985-03-07"},
                {"name": "gender", "valueCode": "female"},
            ],
        },
    )
    assert r.status_code == 200, r.text
    params = {p["name"]: p for p in r.json()["parameter"]}
    assert params["result"]["valueCode"] == "00"
    systems = {i["system"] for i in params["identity"]["resource"]["identifier"]}
    assert f"urn:oid:{OID_NIR}" in systems


@pytest.mark.parametrize(
    ("traits", "code", "text"),
    [
        ({"birthDate": "1962-02-30"}, "invalid", "birthDate '1962-02-30' is not a real date"),
        ({"gender": ""}, "required", "INSi verification needs gender"),
        ({"gender": None}, "required", "INSi verification needs gender"),
        ({"gender": "X"}, "invalid", "gender 'X': INSi knows M (male) and F (female)"),
        ({"given": "?"}, "invalid", "given '?' holds no letter of a first name"),
        ({"family": "?"}, "invalid", "family '?' holds no letter of a name"),
        ({"birthplace": "99100"}, "invalid", "99100 is France"),
    ],
)
def test_verification_refuses_what_insi_cannot_read(ins_engine, tenant, traits, code, text) -> None:  # noqa: ANN001
    """A 400 before any comparison, not 01 "traits differ" (it used to answer 01)."""
    rec = registry_record()
    service.load_registry(ins_engine, tenant, [rec], replace=False)
    assert _verify(ins_engine, tenant, rec["matricule"]).code == T.FOUND
    with pytest.raises(FhirError) as refused:
        _verify(ins_engine, tenant, rec["matricule"], **traits)
    assert refused.value.status == 400 and refused.value.code == code
    assert text in refused.value.issues[0].diagnostics


def test_verification_lists_every_bad_input(ins_engine, tenant) -> None:  # noqa: ANN001
    good = nir()
    bad_key = good[:13] + f"{int(good[13:]) % 97 + 1:02d}"
    with pytest.raises(FhirError) as refused:
        _verify(ins_engine, tenant, bad_key, gender="", birthDate="1962-02-30")
    found = [(i.code, i.diagnostics.split(" ")[0]) for i in refused.value.issues]
    assert found == [("invalid", "INS"), ("invalid", "birthDate"), ("required", "INSi")]


def test_instance_verification_with_unreadable_traits_changes_nothing(
    ins_client, ins_engine, tenant
) -> None:  # noqa: ANN001
    """In process, the Patient's own traits are checked as a caller's: the 400 comes before
    any write, so the INS is not set aside (no insi-fail)."""
    from socle.ins import model as M
    from tests.ins.conftest import parameters, person

    service.load_registry(ins_engine, tenant, [registry_record()], replace=False)
    c = ins_client
    pid = c.post("/fhir/Patient", json=person(given="Marie")).json()["id"]
    assert c.post(f"/fhir/Patient/{pid}/$ins-retrieve", json=parameters()).status_code == 200
    with ins_engine.store.session(tenant, write=True) as s:
        stored = ins_engine.crud.read(s, "Patient", pid).resource
        stored["gender"] = "unknown"
        ins_engine.crud.update(s, service.op_context(None, tenant), "Patient", pid, stored)
    with pytest.raises(FhirError, match="gender 'unknown'") as refused:
        service.verify(ins_engine, tenant, pid=pid)
    assert refused.value.status == 400
    with ins_engine.store.session(tenant) as s:
        ident = M.read_identity(ins_engine.crud.read(s, "Patient", pid).resource)
    assert ident.status == M.RECUP and ident.ins and not ident.old_ins


def test_a_failed_instance_verify_does_not_quote_the_ins(ins_client) -> None:  # noqa: ANN001
    """A stored RECUP identity whose INS INSi no longer knows: the identity is downgraded
    and the answer's detail names no matricule (the outgoing rule)."""
    from socle.ins import model as M
    from tests.ins.conftest import person

    c = ins_client
    ins = nir(order=77)  # not in the (empty) registry
    body = person(ins=ins, status=M.RECUP)
    ident = M.read_identity(body)
    ident.method, ident.collection_date = "INSI", "2024-01-01"
    pid = c.post("/fhir/Patient", json=M.write_identity(body, ident)).json()["id"]
    r = c.post(f"/fhir/Patient/{pid}/$ins-verify", json={"resourceType": "Parameters"})
    assert r.status_code == 200, r.text
    params = {p["name"]: p for p in r.json()["parameter"]}
    assert params["result"]["valueCode"] == T.NONE
    assert ins not in r.text and ins[:13] not in r.text, r.text
    assert "the matricule" in params["detail"]["valueString"]
    for kind in ("Provenance", "AuditEvent"):  # its records of the failure do not quote it
        found = c.get(f"/fhir/{kind}", params={"_count": 100}).text
        assert ins not in found and ins[:13] not in found, kind


def test_an_instance_retrieve_attaches_only_the_same_person(ins_client) -> None:  # noqa: ANN001
    """RNIV: INSi's identity is attached to a Patient only when it is that person: a
    retrieval on a Patient with someone else's traits is refused (422) and writes
    nothing; with the Patient's own (INSi correcting a spelling), it is attached; the
    same verification again the same day writes nothing."""
    from socle.ins import model as M
    from tests.ins.conftest import parameters, person

    c = ins_client
    engine, tenant = c.app.state.engine, c.app.state.tenant
    service.load_registry(engine, tenant, [registry_record()], replace=False)
    other = c.post("/fhir/Patient", json=person(family="Nobody", given="Zoe", birth="2001-01-01"))
    pid = other.json()["id"]
    martin = parameters(
        {"name": "family", "valueString": "MARTIN"},
        {"name": "given", "valueString": "MARIE CLAIRE"},
        {"name": "birthDate", "valueDate": "1985-03-07"},
        {"name": "gender", "valueCode": "female"},
    )
    r = c.post(f"/fhir/Patient/{pid}/$ins-retrieve", json=martin)
    assert r.status_code == 422 and "another person" in r.text
    assert c.get(f"/fhir/Patient/{pid}").json()["meta"]["versionId"] == "1"
    mine = c.post("/fhir/Patient", json=person(family="martin", given="Marie-Claire")).json()
    r = c.post(f"/fhir/Patient/{mine['id']}/$ins-retrieve", json=parameters())
    assert r.status_code == 200 and '"valueCode":"00"' in r.text.replace(" ", ""), r.text
    with engine.store.session(tenant) as s:
        attached = engine.crud.read(s, "Patient", mine["id"]).resource
    assert M.read_identity(attached).status == M.RECUP
    r = c.post(f"/fhir/Patient/{mine['id']}/$ins-verify", json=parameters())
    assert r.status_code == 200, r.text
    version = c.get(f"/fhir/Patient/{mine['id']}").json()["meta"]["versionId"]
    r = c.post(f"/fhir/Patient/{mine['id']}/$ins-verify", json=parameters())
    assert r.status_code == 200
    assert c.get(f"/fhir/Patient/{mine['id']}").json()["meta"]["versionId"] == version
