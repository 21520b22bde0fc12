"""NIR/NIA rules: key, structure, traits, and $ins-check."""

from __future__ import annotations

import pytest

from socle.ins.nir import check_nir, nir_reason

VALID = ["185037512345641", "260052A00401281", "172112B03301752", "295109912611193"]


@pytest.mark.parametrize("value", VALID)
def test_valid_numbers(value: str) -> None:
    check = check_nir(value)
    assert check.valid, check.issues
    assert check.reason is None


def test_spaces_and_lower_case_corsica_are_cleaned() -> None:
    assert check_nir("2 60 05 2a 004 012 81").valid


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("185037512345642", "key"),
        ("18503751234564", "length"),
        ("", "empty"),
        ("585037512345641", "sex-digit"),
        ("185137512345641", "month"),
        ("185450000000000", "month"),
        ("185030012345641", "department"),
        ("185037500012341", "commune"),
        ("185039900012341", "country"),
        ("185037512300041", "order"),
        ("18503X512345641", "characters"),
        ("185039791234541", "department"),
    ],
)
def test_precise_reasons(value: str, code: str) -> None:
    check = check_nir(value)
    assert not check.valid
    assert code in {i.code for i in check.errors}, check.issues


def test_wrong_key_message_gives_expected_key() -> None:
    assert nir_reason("185037512345642") == "Wrong key: 42 given, 41 expected for 1850375123456"


def test_special_months_and_nia() -> None:
    from socle.demo.identifiers import nir_key

    for body in ("1853075123456", "1855575123456", "7852075123456", "3852075123456"):
        check = check_nir(body + nir_key(body))
        assert check.valid, (body, check.issues)
        assert not check.regular_month
    assert check_nir("7852075123456" + nir_key("7852075123456")).kind == "NIA"


def test_traits_disagreement_is_a_warning() -> None:
    check = check_nir(
        "185037512345641", gender="female", birth_date="1986-03-01", birthplace="35238"
    )
    assert check.valid
    codes = {i.code for i in check.issues}
    assert codes == {"sex-mismatch", "year-mismatch", "birthplace-mismatch"}


def test_system_must_be_an_ins_oid() -> None:
    assert not check_nir("185037512345641", system="urn:oid:1.2.3").valid
    assert check_nir("185037512345641", system="urn:oid:1.2.250.1.213.1.4.8").valid


def test_ins_check_operation(ins_client) -> None:  # noqa: ANN001
    r = ins_client.get("/fhir/Patient/$ins-check", params={"value": "185037512345642"})
    assert r.status_code == 200, r.text
    params = {p["name"]: p for p in r.json()["parameter"]}
    assert params["valid"]["valueBoolean"] is False
    assert "Wrong key" in params["reason"]["valueString"]
    ok = ins_client.get(
        "/fhir/Patient/$ins-check", params={"value": "260052A00401281", "gender": "female"}
    )
    params = {p["name"]: p for p in ok.json()["parameter"]}
    assert params["valid"]["valueBoolean"] is True
    assert params["birthplace"]["valueString"] == "2A004"
