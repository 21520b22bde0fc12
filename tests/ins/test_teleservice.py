"""INSi-style teleservice: registry load, retrieval (traits, Carte Vitale), verification."""

from __future__ import annotations

import pytest

from socle.fhir.errors import FhirError
from socle.ins import normalize as N
from socle.ins import service
from socle.ins import teleservice as T
from tests.ins.conftest import nir, registry_record


def test_trait_normalisation() -> None:
    assert N.trait("  l’Hôte-–de la  Œuvre ") == "L'HOTE-DE LA OEUVRE"
    assert N.compare_key("Jean - Pierre") == N.compare_key("JEAN PIERRE") == "JEAN PIERRE"
    assert N.compare_key("D’Arc") == N.compare_key("d arc")
    assert N.given_list("Marie  Claire-Anne") == ["MARIE", "CLAIRE-ANNE"]
    assert N.trait("Zoë Ça") == "ZOE CA"


def test_phonetic_key() -> None:
    same = [
        ("Dupont", "Dupond", "Dupon"),
        ("Lefebvre", "Lefèvre"),
        ("Philippe", "Filipe"),
        ("Thomas", "Tomas"),
        ("Rousseau", "Rousso"),
        ("Gauthier", "Gautier"),
        ("Christophe", "Kristof"),
        ("Michel", "Mitchel"),
        ("Le Gall", "Legall"),
    ]
    for group in same:
        assert len({N.phonetic(x) for x in group}) == 1, group
    assert N.phonetic("Martin") != N.phonetic("Bernard")


def _load(engine, tenant, records):  # noqa: ANN001, ANN202
    return service.load_registry(engine, tenant, records, replace=False)


def test_retrieve_codes(ins_engine, tenant) -> None:  # noqa: ANN001
    old = nir(place="99352", order=9)
    mother = registry_record(
        matricule=nir(year=1960, order=3), prenoms="ANNE", date_naissance="1960-03-02"
    )
    child = registry_record(
        matricule=nir(year=2015, month=6, order=4),
        prenoms="LÉA-ROSE JEANNE",
        nom="LE GALL",
        date_naissance="2015-06-01",
        historique=[{"matricule": old}],
        carte_vitale=[mother["matricule"]],
    )
    twin_a = registry_record(
        matricule=nir(year=2001, order=11), prenoms="LOUIS", sexe="M", date_naissance="2001-03-03"
    )
    twin_a["matricule"] = nir(sex="male", year=2001, order=11)
    twin_b = dict(twin_a, matricule=nir(sex="male", year=2001, order=12))
    assert _load(ins_engine, tenant, [mother, child, twin_a, twin_b]) == 4
    with ins_engine.store.session(tenant) as s:
        r = T.retrieve(s, family="le-gall", given="Léa Rose", birth_date="2015-06-01", sex="F")
        assert r.code == T.NONE  # "LEA ROSE" is not the first name LEA-ROSE... as a list
        r = T.retrieve(s, family="Le Gall", given="lea-rose", birth_date="2015-06-01", sex="F")
        assert r.code == T.FOUND and r.identities[0]["historique"][0]["matricule"] == old
        r = T.retrieve(
            s,
            family="le gall",
            given="LEA-ROSE JEANNE",
            birth_date="2015-06-01",
            sex="female",
            birthplace="35238",
        )
        assert r.code == T.FOUND
        assert (
            T.retrieve(s, family="Martin", given="Louis", birth_date="2001-03-03", sex="M").code
            == T.SEVERAL
        )
        assert (
            T.retrieve(s, family="Nobody", given="X", birth_date="2001-03-03", sex="M").code
            == T.NONE
        )
        card = T.retrieve_by_card(s, holder_nir=mother["matricule"], birth_date="2015-06-01")
        assert card.code == T.FOUND and card.identities[0]["nom"] == "LE GALL"
        # verification by a former matricule answers with the current one
        v = T.verify(
            s,
            matricule=old,
            oid="1.2.250.1.213.1.4.10",
            family="Le Gall",
            given="Léa-Rose",
            birth_date="2015-06-01",
            sex="F",
        )
        assert v.code == T.FOUND and v.identities[0]["matricule"] == child["matricule"]
        v = T.verify(
            s,
            matricule=child["matricule"],
            oid="1.2.250.1.213.1.4.10",
            family="Le Gall",
            given="Léa-Rose",
            birth_date="2015-01-06",
            sex="F",
        )
        assert v.code == T.NONE and "date de naissance" in v.detail
        with pytest.raises(FhirError, match="key"):
            T.verify(
                s,
                matricule=child["matricule"][:13] + "00",
                oid="1.2.250.1.213.1.4.10",
                family="x",
                given="y",
                birth_date="2015-06-01",
                sex="F",
            )
        with pytest.raises(FhirError, match="not a real date"):
            T.retrieve(s, family="x", given="y", birth_date="2015-02-30", sex="F")


def test_bad_registry_is_refused_whole(ins_engine, tenant) -> None:  # noqa: ANN001
    good = registry_record()
    bad_key = registry_record(matricule=good["matricule"][:13] + "00")
    no_name = registry_record(nom="")
    bad_date = registry_record(date_naissance="1985-13-01")
    with pytest.raises(FhirError) as err:
        _load(ins_engine, tenant, [good, bad_key, no_name, bad_date])
    text = " ".join(i.diagnostics for i in err.value.issues)
    assert "key 00" in text and "nom" in text and "not a real date" in text
    with ins_engine.store.session(tenant) as s:
        r = T.retrieve(s, family="Martin", given="Marie", birth_date="1985-03-07", sex="F")
    assert r.code == T.NONE  # nothing stored


def test_demo_registry_and_operations(ins_client, ins_engine, tenant) -> None:  # noqa: ANN001
    records = T.demo_records(50, seed=3)
    assert _load(ins_engine, tenant, records) == 50
    rec = records[7]
    r = ins_client.post(
        "/fhir/Patient/$ins-retrieve",
        json={
            "resourceType": "Parameters",
            "parameter": [
                {"name": "family", "valueString": rec["nom"].lower()},
                {"name": "given", "valueString": rec["prenoms"].split()[0]},
                {"name": "birthDate", "valueDate": rec["date_naissance"]},
                {"name": "gender", "valueCode": "male" if rec["sexe"] == "M" else "female"},
            ],
        },
    )
    assert r.status_code == 200, r.text
    params = {p["name"]: p for p in r.json()["parameter"]}
    assert params["result"]["valueCode"] in ("00", "02")
    r = ins_client.post(
        "/fhir/Patient/$ins-verify",
        json={
            "resourceType": "Parameters",
            "parameter": [
                {"name": "ins", "valueString": rec["matricule"]},
                {"name": "system", "valueUri": "urn:oid:1.2.250.1.213.1.4.10"},
                {"name": "family", "valueString": rec["nom"]},
                {"name": "given", "valueString": rec["prenoms"]},
                {"name": "birthDate", "valueDate": rec["date_naissance"]},
                {"name": "gender", "valueCode": rec["sexe"]},
            ],
        },
    )
    params = {p["name"]: p for p in r.json()["parameter"]}
    assert params["result"]["valueCode"] == "00"
    identity = params["identity"]["resource"]
    assert identity["name"][0]["family"] == N.trait(rec["nom"])
