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
        # comparison form: '-' reads as a space, so LEA ROSE is the first name LEA-ROSE
        r = T.retrieve(s, family="le-gall", given="Léa Rose", birth_date="2015-06-01", sex="F")
        assert r.code == T.FOUND
        r = T.retrieve(s, family="le-gall", given="Léa", birth_date="2015-06-01", sex="F")
        assert r.code == T.NONE  # LEA is not the first name LEA-ROSE
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


def _nia(sex: str = "7", year: str = "62", month: str = "05", order: str = "031") -> str:
    from socle.demo.identifiers import nir_key

    body = f"{sex}{year}{month}99135{order}"
    return body + nir_key(body)


def test_more_first_names_tell_homonyms_apart(ins_engine, tenant) -> None:  # noqa: ANN001
    # INSi answer 02: re-query with the other first names of the identity document; a
    # query then matches only the identities whose first names agree with them all
    a = registry_record(
        matricule=nir(sex="male", year=2001, order=11),
        prenoms="LOUIS PAUL",
        sexe="M",
        date_naissance="2001-03-03",
    )
    b = dict(a, matricule=nir(sex="male", year=2001, order=12), prenoms="LOUIS")
    _load(ins_engine, tenant, [a, b])
    with ins_engine.store.session(tenant) as s:
        traits = {"family": "Martin", "birth_date": "2001-03-03", "sex": "M"}
        assert T.retrieve(s, given="Louis", **traits).code == T.SEVERAL
        r = T.retrieve(s, given="Louis Paul", **traits)
        assert r.code == T.FOUND and r.identities[0]["matricule"] == a["matricule"]
        assert T.retrieve(s, given="Louis Pierre", **traits).code == T.NONE
        assert T.retrieve(s, given="Paul", **traits).code == T.NONE  # not the first one
        with pytest.raises(FhirError, match="gender"):
            T.retrieve(s, family="Martin", given="Louis", birth_date="2001-03-03", sex="X")
        with pytest.raises(FhirError, match="no letter"):  # it used to match any first name
            T.retrieve(s, given="?", **traits)


def test_unknown_day_and_month_of_birth(ins_engine, tenant) -> None:  # noqa: ANN001
    # the national registries write an unknown day, or day and month, as 00
    both = registry_record(
        matricule=nir(year=1962, month=5, order=21), date_naissance="1962-00-00", prenoms="AMINA"
    )
    day = registry_record(
        matricule=nir(year=1962, month=5, order=22), date_naissance="1962-05-00", prenoms="AWA"
    )
    assert _load(ins_engine, tenant, [both, day]) == 2
    with ins_engine.store.session(tenant) as s:
        for birth in ("1962-00-00", "1962"):  # FHIR writes it 1962
            r = T.retrieve(s, family="Martin", given="Amina", birth_date=birth, sex="F")
            assert r.code == T.FOUND, birth
        r = T.retrieve(s, family="Martin", given="Awa", birth_date="1962-05", sex="F")
        assert r.code == T.FOUND
        assert T.identity_of(r.identities[0]).birth_date == "1962-05"  # a FHIR date
        v = T.verify(
            s,
            matricule=day["matricule"],
            oid="1.2.250.1.213.1.4.10",
            family="MARTIN",
            given="AWA",
            birth_date="1962-05",
            sex="F",
        )
        assert v.code == T.FOUND
        for bad in ("1962-00-12", "1962-13-00", "1962-W10-1", "1962-5-1", "62-05-01"):
            with pytest.raises(FhirError, match="not a real date"):
                T.retrieve(s, family="Martin", given="Awa", birth_date=bad, sex="F")


def test_nia_replaced_by_nir(ins_engine, tenant) -> None:  # noqa: ANN001
    nia = _nia("8")  # a woman: an even sex digit
    person = {"nom": "OKAFOR", "prenoms": "NGOZI", "sexe": "F", "date_naissance": "1962-05-14"}
    first = registry_record(matricule=nia, oid="1.2.250.1.213.1.4.9", **person)
    first["lieu_naissance"] = "99135"
    _load(ins_engine, tenant, [first])
    # later the person gets a NIR: the registry identity now lists the NIA as former
    later = dict(
        first,
        matricule=nir(year=1962, month=5, place="99135", order=31),
        oid="1.2.250.1.213.1.4.8",
        historique=[{"matricule": nia, "oid": "1.2.250.1.213.1.4.9"}],
    )
    _load(ins_engine, tenant, [later])
    with ins_engine.store.session(tenant) as s:
        r = T.retrieve(s, family="Okafor", given="Ngozi", birth_date="1962-05-14", sex="F")
        assert r.code == T.FOUND  # one identity, not the NIA one beside the NIR one
        assert r.identities[0]["matricule"] == later["matricule"]
        traits = {"family": "Okafor", "given": "Ngozi", "birth_date": "1962-05-14", "sex": "F"}
        v = T.verify(s, matricule=nia, oid="urn:oid:1.2.250.1.213.1.4.9", **traits)
        assert v.code == T.FOUND and v.identities[0]["matricule"] == later["matricule"]
        ident = T.identity_of(v.identities[0])
        assert ident.ins_system == "urn:oid:1.2.250.1.213.1.4.8"
        assert ident.old_ins == [("urn:oid:1.2.250.1.213.1.4.9", nia)]
        # the OID belongs to the INS: the NIA is not known as a NIR
        v = T.verify(s, matricule=nia, oid="1.2.250.1.213.1.4.8", **traits)
        assert v.code == T.NONE and "OID" in v.detail


def test_loading_twice_replaces_instead_of_duplicating(ins_engine, tenant) -> None:  # noqa: ANN001
    rec = registry_record()
    _load(ins_engine, tenant, [rec])
    _load(ins_engine, tenant, [dict(rec, prenoms="MARIE CLAIRE ANNE")])
    with ins_engine.store.session(tenant) as s:
        r = T.retrieve(s, family="Martin", given="Marie", birth_date="1985-03-07", sex="F")
    assert r.code == T.FOUND and r.identities[0]["prenoms"] == "MARIE CLAIRE ANNE"


def test_duplicate_matricule_in_one_file_is_refused(ins_engine, tenant) -> None:  # noqa: ANN001
    rec = registry_record()
    other = registry_record(matricule=nir(order=99), historique=[{"matricule": rec["matricule"]}])
    with pytest.raises(FhirError) as err:
        _load(ins_engine, tenant, [rec, registry_record(nom="DURAND"), other])
    text = " ".join(i.diagnostics for i in err.value.issues)
    assert "record 2: matricule" in text and "record 3: matricule" in text


def test_badly_typed_records_give_clear_errors(ins_engine, tenant) -> None:  # noqa: ANN001
    records = [
        registry_record(nom=["MARTIN"]),
        registry_record(prenoms={"first": "MARIE"}),
        registry_record(historique="285033523801743"),
        registry_record(historique=["285033523801743"]),
        registry_record(carte_vitale=[285033523801743]),
        registry_record(date_naissance="1985-W10-1"),
        "not an object",
        registry_record(carte_vitale=[{"nir": "285033523801743"}]),
    ]
    with pytest.raises(FhirError) as err:
        _load(ins_engine, tenant, records)
    text = " | ".join(i.diagnostics for i in err.value.issues)
    for expected in (
        "record 1: nom must be a string",
        "record 2: prenoms must be",
        "record 3: historique must be a list",
        "record 4: historique[0] must be an object",
        "record 5: carte_vitale 285033523801743: ",  # a number is read, and checked
        "record 6: date_naissance '1985-W10-1' is not a real date",
        "record 7: a record must be a JSON object",
        "record 8: carte_vitale {'nir': '285033523801743'} must be a string",
    ):
        assert expected in text, (expected, text)
    with ins_engine.store.session(tenant) as s:  # nothing half-loaded
        r = T.retrieve(s, family="Martin", given="Marie", birth_date="1985-03-07", sex="F")
    assert r.code == T.NONE


def test_card_holder_is_a_beneficiary_of_own_card(ins_engine, tenant) -> None:  # noqa: ANN001
    holder = registry_record()
    _load(ins_engine, tenant, [holder])
    with ins_engine.store.session(tenant) as s:
        r = T.retrieve_by_card(s, holder_nir=holder["matricule"], birth_date="1985-03-07")
        assert r.code == T.FOUND
        r = T.retrieve_by_card(s, holder_nir=holder["matricule"], birth_date="1985-03-08")
        assert r.code == T.NONE


def test_read_records_formats() -> None:
    rec = registry_record()
    import orjson

    assert T.read_records(b"\xef\xbb\xbf" + orjson.dumps([rec])) == [rec]  # UTF-8 BOM
    assert T.read_records(orjson.dumps({"identities": [rec]})) == [rec]
    assert T.read_records(orjson.dumps(rec) + b"\n" + orjson.dumps(rec)) == [rec, rec]
    with pytest.raises(FhirError, match="not JSON"):
        T.read_records(b'[{"nom": "X"},]')
    with pytest.raises(FhirError, match="neither JSON"):
        T.read_records(b'{\n "nom": "X",\n}')
    with pytest.raises(FhirError, match="line 2"):
        T.read_records(orjson.dumps(rec) + b"\n{oops")
    with pytest.raises(FhirError, match="identities"):
        T.read_records(b'{"identities": {"nom": "X"}}')


@pytest.mark.parametrize(
    ("traits", "code", "text"),
    [
        ({"family": "?"}, "invalid", "family '?' holds no letter of a name"),
        ({"family": ""}, "required", "needs family"),
        ({"birthplace": "abc"}, "invalid", "birthplace 'abc' is not an INSEE code"),
        ({"birthplace": "99100"}, "invalid", "99100 is France"),
        ({"sex": "X", "given": "?"}, "invalid", "given '?'"),  # every issue, in order
    ],
)
def test_retrieval_refuses_what_insi_cannot_read(ins_engine, tenant, traits, code, text) -> None:  # noqa: ANN001
    _load(ins_engine, tenant, [registry_record()])
    query = {"family": "Martin", "given": "Marie", "birth_date": "1985-03-07", "sex": "F"}
    with ins_engine.store.session(tenant) as s:
        assert T.retrieve(s, **query).code == T.FOUND
        with pytest.raises(FhirError) as refused:
            T.retrieve(s, **{**query, **traits})
    assert refused.value.status == 400 and refused.value.code == code
    assert text in refused.value.issues[0].diagnostics
    if "sex" in traits:
        assert [i.code for i in refused.value.issues] == ["invalid", "invalid"]


def _family_on_one_card(engine, tenant):  # noqa: ANN001, ANN202
    mother = registry_record(
        matricule=nir(year=1960, order=3), prenoms="ANNE", date_naissance="1960-03-02"
    )
    twins = [
        registry_record(
            matricule=nir(sex=sex, year=2015, month=6, order=order),
            prenoms="CAMILLE",
            sexe=code,
            date_naissance="2015-06-01",
            carte_vitale=[mother["matricule"]],
        )
        for sex, code, order in (("female", "F", 4), ("male", "M", 5))
    ]
    _load(engine, tenant, [mother, *twins])
    return mother, *twins


def test_card_retrieval_compares_sex_and_family_when_given(ins_engine, tenant) -> None:  # noqa: ANN001
    mother, girl, boy = _family_on_one_card(ins_engine, tenant)
    card = {"holder_nir": mother["matricule"], "birth_date": "2015-06-01"}
    with ins_engine.store.session(tenant) as s:
        assert T.retrieve_by_card(s, **card).code == T.SEVERAL
        for sex, twin in (("M", boy), ("female", girl)):
            r = T.retrieve_by_card(s, **card, sex=sex)
            assert r.code == T.FOUND and r.identities[0]["matricule"] == twin["matricule"]
        assert T.retrieve_by_card(s, **card, sex="F", family="Le Martin").code == T.NONE
        assert T.retrieve_by_card(s, **card, sex="F", family="martin").code == T.FOUND
        assert T.retrieve_by_card(s, **card, family="Durand").code == T.NONE


@pytest.mark.parametrize(
    ("extra", "code", "text"),
    [
        ({"given": "?"}, "invalid", "given '?' holds no letter"),
        ({"sex": "X"}, "invalid", "gender 'X'"),
        ({"family": "-"}, "invalid", "family '-' holds no letter"),
        ({"birth_date": ""}, "required", "needs birthDate"),
        ({"holder_nir": ""}, "required", "needs cardNir"),
        ({"holder_nir": "-185037512345641"}, "invalid", "no sign"),
    ],
)
def test_card_retrieval_checks_its_input(ins_engine, tenant, extra, code, text) -> None:  # noqa: ANN001
    mother, _, _ = _family_on_one_card(ins_engine, tenant)
    card = {"holder_nir": mother["matricule"], "birth_date": "2015-06-01", **extra}
    with ins_engine.store.session(tenant) as s, pytest.raises(FhirError) as refused:
        T.retrieve_by_card(s, **card)
    assert refused.value.status == 400 and refused.value.code == code
    assert text in refused.value.issues[0].diagnostics


def test_registry_records_are_refused_with_the_precise_reason(ins_engine, tenant) -> None:  # noqa: ANN001
    from socle.ins.nir import OID_NIR

    nia = _nia("8")  # a woman's NIA
    records = [
        registry_record(lieu_naissance="00000"),
        registry_record(matricule=nir(order=2), lieu_naissance="99100"),
        registry_record(matricule=nir(order=3), nom=123),
        registry_record(matricule=nia, oid=OID_NIR, lieu_naissance="99135"),
        registry_record(matricule=nir(order=5), sexe="M"),
        registry_record(matricule=nir(order=6), nom="?"),
        registry_record(matricule=nir(order=7), sexe=True),
        registry_record(matricule=nir(order=8), lieu_naissance=None),
        registry_record(matricule=nir(order=9), lieu_naissance="99999"),
    ]
    with pytest.raises(FhirError) as err:
        _load(ins_engine, tenant, records)
    text = " | ".join(i.diagnostics for i in err.value.issues)
    for expected in (
        "record 1: lieu_naissance '00000' is not an INSEE birthplace code: département 00",
        "record 2: lieu_naissance '99100' is not an INSEE birthplace code: 99100 is France",
        "record 3: nom must be a string, got int 123",
        f"record 4: matricule {nia} under OID {OID_NIR}: A number starting with 7 or 8 is an NIA",
        "record 5: sexe disagrees with the matricule's sex digit",
        "record 6: missing trait: nom (birth name) ('?' holds no letter)",
        "record 7: sexe must be a string, got bool True",
        "record 8: missing trait: lieu_naissance (INSEE code)",
        "record 9: lieu_naissance 99999 (unknown) is not an INSi birthplace",
    ):
        assert expected in text, (expected, text)
    assert "record 3: missing trait" not in text  # the wrong type, not a missing name


def test_registry_warnings_are_given_to_the_caller(ins_engine, tenant) -> None:  # noqa: ANN001
    from socle.ins.nir import OID_NIA

    moved = registry_record(lieu_naissance="75056", matricule=nir(place="75112"))
    nir_as_nia = registry_record(matricule=nir(order=8), oid=OID_NIA)
    warnings: list = []
    with ins_engine.store.session(tenant, write=True) as s:
        assert T.load(s, [moved, nir_as_nia], warnings=warnings) == 2
    assert [w.diagnostics.split(":")[0] for w in warnings] == ["record 2"]
    assert "An NIA normally starts with 7 or 8" in warnings[0].diagnostics


def test_replacing_the_registry_with_nothing_needs_allow_empty(ins_engine, tenant) -> None:  # noqa: ANN001
    _load(ins_engine, tenant, [registry_record()])
    for empty in ([], T.read_records(b""), T.read_records(b"[]")):
        with ins_engine.store.session(tenant, write=True) as s, pytest.raises(FhirError) as err:
            T.load(s, empty, replace=True)
        assert err.value.status == 400 and "would empty the registry" in str(err.value)
    with ins_engine.store.session(tenant) as s:  # still there
        r = T.retrieve(s, family="Martin", given="Marie", birth_date="1985-03-07", sex="F")
        assert r.code == T.FOUND
    with ins_engine.store.session(tenant, write=True) as s:
        assert T.load(s, [], replace=False) == 0  # adding nothing is harmless
        assert T.load(s, [], replace=True, allow_empty=True) == 0
    with ins_engine.store.session(tenant) as s:
        r = T.retrieve(s, family="Martin", given="Marie", birth_date="1985-03-07", sex="F")
        assert r.code == T.NONE
