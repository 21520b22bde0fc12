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


def _with_key(body: str) -> str:
    from socle.demo.identifiers import nir_key

    return body + nir_key(body)


def test_malformed_birth_date_is_explained_not_a_crash() -> None:
    # check_nir must give a reason for any input: "1985-3-7" used to raise ValueError
    check = check_nir("185037512345641", birth_date="1985-3-7")
    assert check.valid
    assert {i.code for i in check.issues} == {"birth-date"}


def test_unknown_birth_month_is_not_a_mismatch() -> None:
    # INSi writes an unknown day/month as 00 (1985-00-00): nothing to compare the month with
    assert check_nir("185037512345641", birth_date="1985-00-00").issues == []
    assert check_nir("185037512345641", birth_date="1985-03-00").issues == []
    codes = {i.code for i in check_nir("185037512345641", birth_date="1985-04-00").issues}
    assert codes == {"month-mismatch"}


def test_insi_sex_codes_are_compared() -> None:
    # INSi and HL7 write the sex M/F: a female patient on a male number is a warning
    check = check_nir("185037512345641", gender="F")
    assert {i.code for i in check.issues} == {"sex-mismatch"}
    assert check_nir("185037512345641", gender="M").issues == []


def test_non_ascii_digits_are_refused_with_position() -> None:
    # full-width digits pass str.isdigit(): they must not read as a NIR (nor give a key)
    check = check_nir("１８５０３７５１２３４５６４１")
    assert not check.valid
    assert [i.code for i in check.errors] == ["characters"]
    assert "Character 1" in check.reason
    check = check_nir("185037512345٤41")
    assert [i.code for i in check.errors] == ["characters"] and "Character 13" in check.reason


@pytest.mark.parametrize(
    "body",
    [
        "2850397105123",  # Guadeloupe: 3-character département + 2-digit commune
        "1850397611123",  # Mayotte
        "1850398735123",  # Polynésie (98x)
        "1850399135123",  # born abroad: 99 + INSEE country code
        "1850320123456",  # Corsica before 1976
        "1852099350001",  # month 20: unknown month in the civil register
        "1856275123456",  # 50-99: provisional registration
        "3850375123456",  # 3/4: provisional number
        "8850375123456",  # 7/8: NIA
    ],
)
def test_valid_special_layouts(body: str) -> None:
    check = check_nir(_with_key(body))
    assert check.valid, check.issues


def test_place_readings() -> None:
    assert check_nir(_with_key("2850397105123")).birthplace == "97105"
    abroad = check_nir(_with_key("1850399135123"))
    assert abroad.born_abroad and abroad.birthplace == "99135"
    assert check_nir("172112B03301752").birthplace == "2B033"


def test_ins_oids() -> None:
    # INS-NIR .8, INS-NIA .9, test .10, demo .11 (ANS INS OIDs)
    nia = _with_key("7850375123456")
    for oid in ("8", "9", "10", "11"):
        assert check_nir("185037512345641", system=f"urn:oid:1.2.250.1.213.1.4.{oid}").valid
    assert not check_nir("185037512345641", system="1.2.250.1.213.1.4.12").valid
    assert check_nir(nia, system="urn:oid:1.2.250.1.213.1.4.9").issues == []
    nir_kind = check_nir(nia, system="urn:oid:1.2.250.1.213.1.4.8")
    assert nir_kind.valid and {i.code for i in nir_kind.issues} == {"nir-kind"}
    assert check_nir(nia).kind == "NIA" and check_nir("185037512345641").kind == "NIR"


@pytest.mark.parametrize("gender", ["f", "Female", " F", "FEMALE ", "2"])
def test_gender_is_read_in_any_case_and_spacing(gender: str) -> None:
    check = check_nir("185037512345641", gender=gender)
    assert {i.code for i in check.issues} == {"sex-mismatch"}, gender


@pytest.mark.parametrize("gender", ["m", "Male", " M", "MALE ", "1"])
def test_gender_agreeing_in_any_case_is_no_mismatch(gender: str) -> None:
    assert check_nir("185037512345641", gender=gender).issues == []


def test_every_birth_date_mismatch_is_reported() -> None:
    # `outcome` lists every issue: the month is compared even when the year differs
    codes = [i.code for i in check_nir("185037512345641", birth_date="1986-04-01").issues]
    assert codes == ["year-mismatch", "month-mismatch"]


@pytest.mark.parametrize("birth", ["1985-02-30", "1986-02-30", "1985-13-01", "1985-00-12"])
def test_impossible_birth_date_is_flagged_not_compared(birth: str) -> None:
    check = check_nir("185037512345641", birth_date=birth)
    assert check.valid  # the number is fine: the date given with it is not
    assert [(i.code, i.severity) for i in check.issues] == [("birth-date", "warning")]
    assert "does not exist" in check.issues[0].message


@pytest.mark.parametrize(
    ("value", "code", "text"),
    [
        (185037512345641, "type", "must be text (a string), not int"),
        (None, "empty", "No matricule given (None)"),
        ("   ", "empty", "only spaces"),
        ("-185037512345641", "characters", "no sign"),
        ("+185037512345641", "characters", "no sign"),
        ("1-85-03-75-123-456-41", "characters", "a dash is not a separator"),
    ],
)
def test_what_is_not_a_matricule_says_why(value: object, code: str, text: str) -> None:
    check = check_nir(value)  # type: ignore[arg-type]
    assert not check.valid
    assert [i.code for i in check.errors] == [code] and text in check.reason


def test_spaces_and_dots_are_the_separators() -> None:
    for written in ("1 85 03 75 123 456 41", "1.85.03.75.123.456.41", "1\u00a085 03 75 123 456 41"):
        assert check_nir(written).valid, written


def _born_in(place: str, sex: str = "male", year: int = 1970) -> str:
    from socle.demo.identifiers import make_nir

    return make_nir(sex, year, 3, place[:2], place[2:], 5)


@pytest.mark.parametrize(
    ("nir_place", "patient_place"),
    [
        ("20004", "2A004"),  # Corsica before 1976 (20) and Ajaccio's code today
        ("20033", "2b033"),  # Bastia, any case
        ("2A004", "20004"),
        ("75112", "75056"),  # a Paris arrondissement and Paris
        ("75056", "75101"),
        ("69383", "69123"),  # Lyon
        ("13216", "13055"),  # Marseille
        ("35238", " 35238 "),
    ],
)
def test_same_birthplace_is_no_mismatch(nir_place: str, patient_place: str) -> None:
    check = check_nir(_born_in(nir_place), birthplace=patient_place)
    assert check.valid and check.issues == [], check.issues


@pytest.mark.parametrize(
    ("nir_place", "patient_place"),
    [
        ("75112", "75115"),  # two arrondissements: both precise, and they disagree
        ("75112", "69123"),  # Paris is not Lyon
        ("20004", "2A033"),
        ("13201", "13056"),
    ],
)
def test_other_birthplace_is_a_mismatch(nir_place: str, patient_place: str) -> None:
    codes = [i.code for i in check_nir(_born_in(nir_place), birthplace=patient_place).issues]
    assert codes == ["birthplace-mismatch"]


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("35238", None),
        ("2A004", None),
        ("99135", None),
        ("99999", None),  # unknown birthplace
        ("97105", None),
        ("abc", "a birthplace is 5 digits"),
        ("3523", "a birthplace is 5 digits"),
        ("00000", "département 00 does not exist"),
        ("99100", "99100 is France"),
        ("99050", "not an INSEE country code"),
        ("35000", "commune 000"),
        ("97900", "not an overseas département"),
        (35238, "not int"),
    ],
)
def test_insee_reason(code: object, reason: str | None) -> None:
    from socle.ins.nir import insee_reason

    found = insee_reason(code)
    assert (found is None) if reason is None else (reason in (found or "")), found


def test_corsican_insee_codes_have_five_characters() -> None:
    from socle.ins.nir import insee_reason

    assert insee_reason("2A004") is None and insee_reason("2B033") is None
    for code in ("2A12", "2A1234", "2B0"):
        assert insee_reason(code), code
