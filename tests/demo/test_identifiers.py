"""Check digits of NIR, RPPS and FINESS numbers."""

from __future__ import annotations

import pytest

from socle.demo.identifiers import (
    finess_with_key,
    idnps_from_rpps,
    is_luhn_valid,
    is_valid_finess,
    is_valid_nir,
    is_valid_rpps,
    luhn_check_digit,
    make_nir,
    nir_key,
    rpps_with_key,
)


def test_nir_key_matches_the_formula_worked_by_hand() -> None:
    # 1850375123456 = 97 * 19076032200 + 56, so the key is 97 - 56 = 41
    assert 97 * 19076032200 + 56 == 1850375123456
    assert nir_key("1850375123456") == "41"
    assert nir_key("2990899123987") == f"{97 - 2990899123987 % 97:02d}"


def test_nir_key_is_zero_padded() -> None:
    # N = 97 * k + 88 gives a key of 9, written "09"
    body = str(97 * 19000000000 + 88)
    assert len(body) == 13
    assert nir_key(body) == "09"


@pytest.mark.parametrize(
    ("body", "numeric", "key"),
    [
        ("260052A004012", 2600519004012, "81"),  # 2A is read as 19
        ("172112B033017", 1721118033017, "52"),  # 2B is read as 18
    ],
)
def test_nir_key_for_corsica(body: str, numeric: int, key: str) -> None:
    assert nir_key(body) == key == f"{97 - numeric % 97:02d}"
    assert nir_key(body.lower()) == key


@pytest.mark.parametrize(
    "nir",
    ["185037512345641", "253072B07300470", "253072A07300443", "295109912611193"],
)
def test_valid_nirs(nir: str) -> None:
    assert is_valid_nir(nir)


@pytest.mark.parametrize(
    "nir",
    [
        "185037512345642",  # wrong key
        "185037512345614",  # digits of the key swapped
        "253072A07300470",  # 2B key with a 2A body
        "18503751234564",  # too short
        "1850375123456411",  # too long
        "585037512345641",  # impossible sex digit
        "18503751234A641",  # letter outside the département
        "",
    ],
)
def test_invalid_nirs(nir: str) -> None:
    assert not is_valid_nir(nir)


def test_make_nir_lays_out_sex_birth_and_place() -> None:
    nir = make_nir("female", 1982, 3, "2B", "033", 17)
    assert nir == "282032B033017" + nir_key("282032B033017")
    assert is_valid_nir(nir)
    # born in Corsica before 1976: department 20, as INSEE numbered it then
    assert make_nir("female", 1972, 3, "2B", "033", 17)[:13] == "2720320033017"
    overseas = make_nir("male", 2001, 11, "971", "20", 5)
    assert overseas[:13] == "1011197120005"
    assert is_valid_nir(overseas)
    assert make_nir(1, 1985, 3, "75", "114", 1)[:5] == "18503"


@pytest.mark.parametrize(
    "args",
    [
        ("x", 1972, 3, "35", "238", 1),
        ("male", 1972, 13, "35", "238", 1),
        ("male", 1972, 3, "35", "238", 0),
        ("male", 1972, 3, "35", "238", 1000),
        ("male", 1972, 3, "35", "2380", 1),
        ("male", 1972, 3, "2C", "238", 1),
    ],
)
def test_make_nir_rejects_nonsense(args: tuple) -> None:
    with pytest.raises(ValueError):
        make_nir(*args)


def test_nir_key_rejects_bad_bodies() -> None:
    with pytest.raises(ValueError):
        nir_key("123")
    with pytest.raises(ValueError):
        nir_key("1850375X23456")


def test_luhn_worked_by_hand() -> None:
    # 9970021889 read from the right: 9 8 8 1 2 0 0 7 9 9; doubling every other digit from the
    # first: 18->9, 8, 16->7, 1, 4, 0, 0, 7, 18->9, 9 -> sum 54 -> check digit 6
    assert luhn_check_digit("9970021889") == "6"
    assert rpps_with_key("9970021889") == "99700218896"
    assert finess_with_key("35000517") == "350005179"  # the FINESS of an FR Core example


def test_luhn_detects_every_single_digit_error() -> None:
    number = rpps_with_key("1000070570")
    assert is_luhn_valid(number)
    for position in range(len(number)):
        for digit in "0123456789":
            if digit != number[position]:
                typo = number[:position] + digit + number[position + 1 :]
                assert not is_luhn_valid(typo), typo


def test_rpps_and_finess_validators() -> None:
    assert is_valid_rpps("99700218896")
    assert not is_valid_rpps("99700218897")
    assert not is_valid_rpps("9970021889")
    assert is_valid_finess("350005179")
    assert not is_valid_finess("350005178")
    assert not is_valid_finess("2A0000001")  # Corsican form: key rule not supported
    assert idnps_from_rpps("99700218896") == "899700218896"


@pytest.mark.parametrize(
    ("func", "arg"),
    [(rpps_with_key, "123"), (rpps_with_key, "12345678x0"), (finess_with_key, "2A000000")],
)
def test_bodies_of_wrong_shape_are_refused(func, arg: str) -> None:
    with pytest.raises(ValueError):
        func(arg)
