"""The input of the INS operations is checked before anything is looked up or written:
$ins-verify as $ins-retrieve (a query INSi cannot read is a 400, never a "traits differ"
01), the Carte Vitale path with every trait given, $ins-attribute's boolean, $ins-validate's
mode, and repeated calls that change nothing write nothing. Invented people only."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from socle.fhir.errors import FhirError
from socle.ins import model as M
from socle.ins import service
from tests.ins.conftest import nir, parameters, person, registry_record

TEST_OID = "urn:oid:1.2.250.1.213.1.4.10"
GOOD = {"family": "Martin", "given": "Marie", "birthDate": "1985-03-07", "gender": "female"}


def _params(**traits: Any) -> dict[str, Any]:
    """A Parameters of string values; None leaves a parameter out."""
    return parameters(*({"name": k, "valueString": v} for k, v in traits.items() if v is not None))


def _result(r: Any) -> str:
    assert r.status_code == 200, r.text
    return next(p["valueCode"] for p in r.json()["parameter"] if p["name"] == "result")


def _outcome(r: Any, status: int = 400) -> tuple[str, str]:
    """(issue code, diagnostics) of the first issue of an error answer."""
    assert r.status_code == status, r.text
    issue = r.json()["issue"][0]
    return issue["code"], issue["diagnostics"]


def _stored(engine: Any, tenant: str, pid: str) -> dict[str, Any]:
    with engine.store.session(tenant) as s:
        return engine.crud.read(s, "Patient", pid).resource


def _count(c: Any, res_type: str, pid: str) -> int:
    key = "target" if res_type == "Provenance" else "entity"
    return c.get(f"/fhir/{res_type}", params={key: f"Patient/{pid}"}).json()["total"]


# --------------------------------------------------------------------------- $ins-verify

BAD_TRAITS = [
    ({"birthDate": "1962-02-30"}, "invalid", "birthDate '1962-02-30' is not a real date"),
    ({"gender": None}, "required", "needs gender"),
    ({"gender": "X"}, "invalid", "gender 'X'"),
    ({"given": "?"}, "invalid", "given '?' holds no letter"),
    ({"family": "?"}, "invalid", "family '?' holds no letter"),
    ({"birthplace": "abc"}, "invalid", "birthplace 'abc' is not an INSEE code"),
]


@pytest.mark.parametrize(("bad", "code", "text"), BAD_TRAITS)
def test_verify_refuses_bad_input_before_comparing(
    ins_client, ins_engine, tenant, bad, code, text
) -> None:  # noqa: ANN001
    rec = registry_record()
    service.load_registry(ins_engine, tenant, [rec], replace=False)
    c = ins_client
    assert (
        _result(c.post("/fhir/Patient/$ins-verify", json=_params(ins=rec["matricule"], **GOOD)))
        == "00"
    )
    r = c.post("/fhir/Patient/$ins-verify", json=_params(ins=rec["matricule"], **{**GOOD, **bad}))
    found, diagnostics = _outcome(r)
    assert found == code and text in diagnostics
    # the same input fails the same way through $ins-retrieve
    r = c.post("/fhir/Patient/$ins-retrieve", json=_params(**{**GOOD, **bad}))
    assert _outcome(r) == (found, diagnostics.replace("verification", "retrieval by traits"))


def test_verify_in_process_and_cli_refuse_bad_input(
    ins_engine, tenant, tmp_path, capsys, monkeypatch
) -> None:  # noqa: ANN001
    rec = registry_record()
    service.load_registry(ins_engine, tenant, [rec], replace=False)
    traits = {**GOOD, "birthDate": "1962-02-30", "gender": "X"}
    with pytest.raises(FhirError) as refused:
        service.verify(ins_engine, tenant, ins=rec["matricule"], traits=traits)
    assert refused.value.status == 400
    assert [i.code for i in refused.value.issues] == ["invalid", "invalid"]  # every issue

    from socle.cli.main import main

    monkeypatch.setenv("SOCLE_DATA_DIR", str(tmp_path))
    db = ["--database", f"sqlite:///{tmp_path / 'ins.db'}"]
    registry = tmp_path / "reg.json"
    registry.write_text(json.dumps([rec]))
    assert main(["ins", "load-registry", str(registry), *db]) == 0
    capsys.readouterr()
    args = ["ins", "verify", "--ins", rec["matricule"], "--family", "Martin", "--given", "Marie"]
    args += ["--birth-date", "1985-03-07", *db]
    assert main(args) == 1  # no gender: a bad input, as every CLI command says it (not 2: 01)
    assert "needs gender" in capsys.readouterr().err
    assert main([*args, "--gender", "F"]) == 0


def _recup_with_bad_traits(c: Any, engine: Any, tenant: str, bad: str) -> str:
    """A récupérée identity (INS from INSi) whose stored `bad` trait INSi cannot read (as
    an old record may hold it): written past the write hook on purpose."""
    service.load_registry(engine, tenant, [registry_record()], replace=False)
    pid = c.post("/fhir/Patient", json=person(given="Marie")).json()["id"]
    assert _result(c.post(f"/fhir/Patient/{pid}/$ins-retrieve", json=parameters())) == "00"
    stored = _stored(engine, tenant, pid)
    if bad == "gender":
        stored["gender"] = "other"
    else:  # a birth name of no letter
        stored["name"][0]["family"] = "?"
    with engine.store.session(tenant, write=True) as s:
        engine.crud.update(s, service.op_context(None, tenant), "Patient", pid, stored)
    return pid


@pytest.mark.parametrize("bad", ["gender", "family"])
def test_instance_verify_with_unreadable_traits_keeps_the_ins(
    ins_client, ins_engine, tenant, bad
) -> None:  # noqa: ANN001
    """No insi-fail for a query INSi could not read: the INS stays official, no record."""
    c = ins_client
    pid = _recup_with_bad_traits(c, ins_engine, tenant, bad)
    before = _stored(ins_engine, tenant, pid)
    provenances = _count(c, "Provenance", pid)
    code, diagnostics = _outcome(c.post(f"/fhir/Patient/{pid}/$ins-verify", json=parameters()), 422)
    assert diagnostics.startswith(f"Patient/{pid} cannot be verified: ")
    after = _stored(ins_engine, tenant, pid)
    assert after["meta"]["versionId"] == before["meta"]["versionId"]
    ident = M.read_identity(after)
    assert ident.status == M.RECUP and ident.ins and not ident.old_ins
    assert _count(c, "Provenance", pid) == provenances


@pytest.mark.parametrize("bad", ["gender", "family"])
def test_instance_retrieve_with_unreadable_own_traits_is_a_422(
    ins_client, ins_engine, tenant, bad
) -> None:  # noqa: ANN001
    """The Patient's own traits INSi cannot read: its content, not the request (422)."""
    c = ins_client
    pid = _recup_with_bad_traits(c, ins_engine, tenant, bad)
    code, diagnostics = _outcome(
        c.post(f"/fhir/Patient/{pid}/$ins-retrieve", json=parameters()), 422
    )
    assert diagnostics.startswith(f"Patient/{pid} cannot be retrieved: ")


# --------------------------------------------------------------------------- $ins-retrieve


def _twins_and_mother(engine: Any, tenant: str) -> tuple[dict[str, Any], ...]:
    mother = registry_record(
        matricule=nir(year=1960, order=3), prenoms="ANNE", date_naissance="1960-03-02"
    )
    card = [mother["matricule"]]
    girl = registry_record(
        matricule=nir(year=2015, month=6, order=4),
        prenoms="CAMILLE",
        date_naissance="2015-06-01",
        carte_vitale=card,
    )
    boy = registry_record(
        matricule=nir(sex="male", year=2015, month=6, order=5),
        prenoms="CAMILLE",
        sexe="M",
        date_naissance="2015-06-01",
        carte_vitale=card,
    )
    service.load_registry(engine, tenant, [mother, girl, boy], replace=False)
    return mother, girl, boy


def test_card_retrieval_uses_the_gender_and_family_given(ins_client, ins_engine, tenant) -> None:  # noqa: ANN001
    mother, girl, boy = _twins_and_mother(ins_engine, tenant)
    c = ins_client
    card = {"cardNir": mother["matricule"], "birthDate": "2015-06-01"}
    assert _result(c.post("/fhir/Patient/$ins-retrieve", json=_params(**card))) == "02"
    for gender, twin in (("male", boy), ("F", girl)):
        r = c.post("/fhir/Patient/$ins-retrieve", json=_params(**card, gender=gender))
        assert _result(r) == "00"
        identity = next(p for p in r.json()["parameter"] if p["name"] == "identity")
        assert twin["matricule"] in json.dumps(identity)
    both = _params(**card, gender="female", family="Martin")
    assert _result(c.post("/fhir/Patient/$ins-retrieve", json=both)) == "00"
    wrong = _params(**card, gender="female", family="Durand")
    assert _result(c.post("/fhir/Patient/$ins-retrieve", json=wrong)) == "01"


@pytest.mark.parametrize(
    ("bad", "code", "text"),
    [
        ({"given": "?"}, "invalid", "given '?' holds no letter"),
        ({"gender": "X"}, "invalid", "gender 'X'"),
        ({"family": "?"}, "invalid", "family '?' holds no letter"),
        ({"birthDate": None}, "required", "needs birthDate"),
    ],
)
def test_card_retrieval_checks_its_input(ins_client, ins_engine, tenant, bad, code, text) -> None:  # noqa: ANN001
    mother, _, _ = _twins_and_mother(ins_engine, tenant)
    card = {"cardNir": mother["matricule"], "birthDate": "2015-06-01", **bad}
    found, diagnostics = _outcome(
        ins_client.post("/fhir/Patient/$ins-retrieve", json=_params(**card))
    )
    assert found == code and text in diagnostics
    assert "not a real date" not in diagnostics  # a missing date is not an unreal one


def test_instance_card_retrieval_applies_only_the_designated_identity(
    ins_client, ins_engine, tenant
) -> None:  # noqa: ANN001
    """On a local identity, a card answer the given traits rule out is not written."""
    mother, _, boy = _twins_and_mother(ins_engine, tenant)
    c = ins_client
    local = person(family="Martin", given="Camille", birth="2015-06-01", sex="male")
    pid = c.post("/fhir/Patient", json=local).json()["id"]
    card = {"cardNir": mother["matricule"], "birthDate": "2015-06-01"}
    wrong = c.post(f"/fhir/Patient/{pid}/$ins-retrieve", json=_params(**card, family="Durand"))
    assert _result(wrong) == "01"
    assert M.read_identity(_stored(ins_engine, tenant, pid)).status == M.PROV
    r = c.post(f"/fhir/Patient/{pid}/$ins-retrieve", json=_params(**card, gender="male"))
    assert _result(r) == "00"
    ident = M.read_identity(_stored(ins_engine, tenant, pid))
    assert (ident.status, ident.ins) == (M.RECUP, boy["matricule"])


# --------------------------------------------------------------------------- attributes


@pytest.mark.parametrize(
    ("value", "status", "code"),
    [
        ({"valueString": "maybe"}, 400, "invalid"),
        ({"valueInteger": 1}, 400, "invalid"),
        (None, 200, None),  # absent: true, as the operation's first callers expect
        ({"valueBoolean": True}, 200, None),
        ({"valueString": "false"}, 200, None),
    ],
)
def test_attribute_value_must_be_a_boolean(ins_client, value, status, code) -> None:  # noqa: ANN001
    c = ins_client
    pid = c.post("/fhir/Patient", json=person()).json()["id"]
    params = [{"name": "attribute", "valueCode": "HOMA"}]
    if value is not None:
        params.append({"name": "value", **value})
    r = c.post(f"/fhir/Patient/{pid}/$ins-attribute", json=parameters(*params))
    assert r.status_code == status, r.text
    if code:
        assert r.json()["issue"][0]["code"] == code
    else:
        expected = value in ({"valueBoolean": True}, None)
        assert (M.HOMA in M.read_identity(r.json()).attributes) is expected


def test_attribute_by_query_and_unknown_attribute(ins_client) -> None:  # noqa: ANN001
    c = ins_client
    pid = c.post("/fhir/Patient", json=person()).json()["id"]
    url = f"/fhir/Patient/{pid}/$ins-attribute"

    def post(**query: str) -> Any:
        return c.post(url, params=query, json=parameters())

    assert post(attribute="HOMA", value="true").status_code == 200
    r = post(attribute="HOMA", value="yes")
    assert _outcome(r)[0] == "invalid" and r.json()["issue"][0]["expression"] == ["http.value"]
    assert _outcome(post(attribute="XXX", value="true"))[0] == "invalid"
    assert _outcome(post(value="true"))[0] == "required"


def test_repeated_calls_that_change_nothing_write_nothing(ins_client, ins_engine, tenant) -> None:  # noqa: ANN001
    c = ins_client
    pid = c.post("/fhir/Patient", json=person()).json()["id"]
    doubt = parameters(
        {"name": "attribute", "valueCode": "DOUT"}, {"name": "value", "valueBoolean": True}
    )
    assert c.post(f"/fhir/Patient/{pid}/$ins-attribute", json=doubt).status_code == 200
    version = _stored(ins_engine, tenant, pid)["meta"]["versionId"]
    records = (_count(c, "Provenance", pid), _count(c, "AuditEvent", pid))
    for _ in range(2):
        r = c.post(f"/fhir/Patient/{pid}/$ins-attribute", json=doubt)
        assert r.status_code == 200 and M.DOUT in M.read_identity(r.json()).attributes
        r = c.post(f"/fhir/Patient/{pid}/$ins-invalidate", json=parameters())
        assert r.status_code == 200 and M.read_identity(r.json()).status == M.PROV
    assert _stored(ins_engine, tenant, pid)["meta"]["versionId"] == version
    assert (_count(c, "Provenance", pid), _count(c, "AuditEvent", pid)) == records
    # a real change is still written and recorded
    clear = parameters(
        {"name": "attribute", "valueCode": "DOUT"}, {"name": "value", "valueBoolean": False}
    )
    assert c.post(f"/fhir/Patient/{pid}/$ins-attribute", json=clear).status_code == 200
    assert _stored(ins_engine, tenant, pid)["meta"]["versionId"] != version
    assert _count(c, "Provenance", pid) == records[0] + 1


# --------------------------------------------------------------------------- $ins-validate


def test_validate_mode_and_date_are_parameters(ins_client) -> None:  # noqa: ANN001
    c = ins_client
    pid = c.post("/fhir/Patient", json=person()).json()["id"]
    url = f"/fhir/Patient/{pid}/$ins-validate"
    code, text = _outcome(c.post(url, json=parameters({"name": "mode", "valueCode": "XX"})))
    assert code == "invalid" and "'XX' is not an identity validation mode" in text
    code, text = _outcome(c.post(url, json=parameters()))
    assert code == "required" and "'mode'" in text
    bad_date = parameters(
        {"name": "mode", "valueCode": "CN"}, {"name": "date", "valueDate": "2025-02-30"}
    )
    assert _outcome(c.post(url, json=bad_date))[0] == "invalid"
    # a known document that cannot validate stays a business rule
    r = c.post(url, json=parameters({"name": "mode", "valueCode": "PC"}))
    assert _outcome(r, 422)[0] == "business-rule"
    today = datetime.now(UTC).date()  # the status date is UTC
    for when, why in (
        (today + timedelta(days=2), "in the future"),  # the next day may be a site's today
        (today - timedelta(days=1), "check the document again"),
    ):
        dated = parameters(
            {"name": "mode", "valueCode": "CN"}, {"name": "date", "valueDate": when.isoformat()}
        )
        r = c.post(url, json=dated)  # after tomorrow; before the status (created today)
        assert _outcome(r, 422)[0] == "business-rule" and why in r.json()["issue"][0]["diagnostics"]
    ok = parameters(
        {"name": "mode", "valueCode": "CN"}, {"name": "date", "valueDate": today.isoformat()}
    )
    assert c.post(url, json=ok).status_code == 200
    version = c.get(f"/fhir/Patient/{pid}").json()["meta"]["versionId"]
    assert c.post(url, json=ok).status_code == 200  # the same check again: nothing written
    assert c.get(f"/fhir/Patient/{pid}").json()["meta"]["versionId"] == version


# --------------------------------------------------------------------------- $ins-check


def test_check_codes_are_in_details_and_expression_is_a_path(ins_client) -> None:  # noqa: ANN001
    c = ins_client
    r = c.get("/fhir/Patient/$ins-check", params={"value": "185037512345641", "gender": "F"})
    outcome = next(p for p in r.json()["parameter"] if p["name"] == "outcome")["resource"]
    (issue,) = outcome["issue"]
    assert issue["details"]["coding"] == [
        {"system": "https://socle.example.org/fhir/CodeSystem/ins-check", "code": "sex-mismatch"}
    ]
    assert issue["expression"] == ["http.gender"]
    posted = parameters({"name": "value", "valueString": "185037512345642"})
    r = c.post("/fhir/Patient/$ins-check", json=posted)
    outcome = next(p for p in r.json()["parameter"] if p["name"] == "outcome")["resource"]
    (issue,) = outcome["issue"]
    assert issue["details"]["coding"][0]["code"] == "key"
    assert issue["expression"] == ["Parameters.parameter[0].valueString"]


def test_instance_check_paths_point_into_the_patient(ins_client, ins_engine, tenant) -> None:  # noqa: ANN001
    service.load_registry(ins_engine, tenant, [registry_record()], replace=False)
    c = ins_client
    pid = c.post("/fhir/Patient", json=person(given="Marie")).json()["id"]
    assert _result(c.post(f"/fhir/Patient/{pid}/$ins-retrieve", json=parameters())) == "00"
    stored = _stored(ins_engine, tenant, pid)
    stored["birthDate"] = "1986-04-07"  # year and month now both disagree with the number
    with ins_engine.store.session(tenant, write=True) as s:
        ins_engine.crud.update(s, service.op_context(None, tenant), "Patient", pid, stored)
    r = c.get(f"/fhir/Patient/{pid}/$ins-check")
    outcome = next(p for p in r.json()["parameter"] if p["name"] == "outcome")["resource"]
    found = {i["details"]["coding"][0]["code"]: i.get("expression") for i in outcome["issue"]}
    assert found == {
        "year-mismatch": ["Patient.birthDate"],
        "month-mismatch": ["Patient.birthDate"],
    }


def test_cli_replace_with_an_empty_file_is_refused(tmp_path, capsys, monkeypatch) -> None:  # noqa: ANN001
    from socle.cli.main import main

    monkeypatch.setenv("SOCLE_DATA_DIR", str(tmp_path))
    db = ["--database", f"sqlite:///{tmp_path / 'ins.db'}"]
    registry = tmp_path / "reg.json"
    registry.write_text(json.dumps([registry_record()]))
    assert main(["ins", "load-registry", str(registry), *db]) == 0
    for content in ("", "[]", '{"identities": []}'):
        empty = tmp_path / "empty.json"
        empty.write_text(content)
        capsys.readouterr()
        assert main(["ins", "load-registry", str(empty), "--replace", *db]) == 1
        assert "would empty the registry" in capsys.readouterr().err
    args = ["--family", "Martin", "--given", "Marie", "--birth-date", "1985-03-07"]
    assert main(["ins", "retrieve", *args, "--gender", "F", *db]) == 0  # still loaded


OTHER_TRAITS = [
    {"name": "given", "valueString": "MARIE"},
    {"name": "birthDate", "valueDate": "1985-03-07"},
    {"name": "gender", "valueCode": "female"},
]


@pytest.mark.parametrize(
    ("operation", "params", "said"),
    [
        ("$ins-check", [{"name": "value", "valueInteger": 185037512345641}], "must be text"),
        ("$ins-check", [{"name": "value", "valueBoolean": True}], "must be text"),
        ("$ins-retrieve", [{"name": "family", "valueBoolean": True}, *OTHER_TRAITS], "text"),
        (
            "$ins-retrieve",
            [{"name": "family", "valueString": "X"}, {"name": "given", "valueBoolean": True}]
            + OTHER_TRAITS[1:],
            "must be text",
        ),
        (
            "$ins-verify",
            [
                {"name": "ins", "valueInteger": 185037512345641},
                {"name": "family", "valueString": "X"},
            ]
            + OTHER_TRAITS,
            "must be text",
        ),
        (
            "$ins-check",
            [{"name": "value", "valueString": "1"}, {"name": "value", "valueString": "2"}],
            "2 times",
        ),
    ],
)
def test_parameters_of_another_type_or_repeated_are_refused(
    ins_client, operation, params, said
) -> None:  # noqa: ANN001
    """Each is refused for its type or repetition, the other parameters being right."""
    r = ins_client.post(f"/fhir/Patient/{operation}", json=parameters(*params))
    assert r.status_code == 400, r.text
    assert said in r.json()["issue"][0]["diagnostics"]


def test_verify_reads_the_oid_of_an_ins_identifier(ins_client) -> None:  # noqa: ANN001
    """The INS is the matricule with its OID: an `ins` Identifier under the NIR OID is not
    verified as the test-OID identity the registry holds."""
    engine, tenant = ins_client.app.state.engine, ins_client.app.state.tenant
    rec = registry_record()  # under the test OID
    service.load_registry(engine, tenant, [rec], replace=False)
    traits = [
        {"name": "family", "valueString": "MARTIN"},
        {"name": "given", "valueString": "MARIE CLAIRE"},
        {"name": "birthDate", "valueDate": "1985-03-07"},
        {"name": "gender", "valueCode": "female"},
    ]

    def verify(system: str) -> str:
        ins = {"name": "ins", "valueIdentifier": {"system": system, "value": rec["matricule"]}}
        r = ins_client.post("/fhir/Patient/$ins-verify", json=parameters(ins, *traits))
        assert r.status_code == 200, r.text
        return next(p["valueCode"] for p in r.json()["parameter"] if p["name"] == "result")

    assert verify("urn:oid:1.2.250.1.213.1.4.10") == "00"
    assert verify("urn:oid:1.2.250.1.213.1.4.8") == "01"


def test_a_birth_date_in_the_future_is_refused_everywhere(ins_client) -> None:  # noqa: ANN001
    """INSi cannot be asked for someone not born yet (400, nothing compared), the registry
    does not load such a record, and $ins-check says the date is not compared."""
    from socle.ins.nir import future_date

    later = (date.today() + timedelta(days=400)).isoformat()
    assert future_date(later) and future_date(later[:4] + "-00-00")
    assert not future_date(date.today().isoformat()[:7] + "-00")
    traits = [
        {"name": "family", "valueString": "MARTIN"},
        {"name": "given", "valueString": "MARIE"},
        {"name": "birthDate", "valueDate": later},
        {"name": "gender", "valueCode": "female"},
    ]
    r = ins_client.post("/fhir/Patient/$ins-retrieve", json=parameters(*traits))
    assert r.status_code == 400 and "in the future" in r.text
    engine, tenant = ins_client.app.state.engine, ins_client.app.state.tenant
    with pytest.raises(FhirError, match="in the future"):
        service.load_registry(
            engine, tenant, [registry_record(date_naissance=later)], replace=False
        )
    check = {"value": nir(), "birthDate": later}
    out = ins_client.get("/fhir/Patient/$ins-check", params=check).json()
    assert "is in the future" in json.dumps(out)
