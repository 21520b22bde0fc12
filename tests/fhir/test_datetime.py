from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from socle.fhir import datetime as fdt
from socle.fhir.datetime import (
    DATE_MAX,
    DATE_MIN,
    Precision,
    format_instant,
    parse_range,
    to_micros,
)

PARIS = ZoneInfo("Europe/Paris")


def us(*args: int, tz=UTC) -> int:
    """Reference conversion through the standard library."""
    delta = datetime(*args, tzinfo=tz) - datetime(1970, 1, 1, tzinfo=UTC)
    return delta // timedelta(microseconds=1)


@pytest.mark.parametrize(
    ("text", "low", "high", "precision"),
    [
        ("2024", us(2024, 1, 1), us(2025, 1, 1) - 1, Precision.YEAR),
        ("2024-02", us(2024, 2, 1), us(2024, 3, 1) - 1, Precision.MONTH),
        ("2023-02", us(2023, 2, 1), us(2023, 3, 1) - 1, Precision.MONTH),
        ("2024-12", us(2024, 12, 1), us(2025, 1, 1) - 1, Precision.MONTH),
        ("2024-02-29", us(2024, 2, 29), us(2024, 3, 1) - 1, Precision.DAY),
        ("2024-12-31", us(2024, 12, 31), us(2025, 1, 1) - 1, Precision.DAY),
        ("2024-03-01T10", us(2024, 3, 1, 10), us(2024, 3, 1, 11) - 1, Precision.HOUR),
        ("2024-03-01T10:30", us(2024, 3, 1, 10, 30), us(2024, 3, 1, 10, 31) - 1, Precision.MINUTE),
        (
            "2024-03-01T10:00:00Z",
            us(2024, 3, 1, 10),
            us(2024, 3, 1, 10, 0, 1) - 1,
            Precision.SECOND,
        ),
        (
            "2024-03-01T10:00:00+01:00",
            us(2024, 3, 1, 9),
            us(2024, 3, 1, 9, 0, 1) - 1,
            Precision.SECOND,
        ),
        (
            "2024-03-01T22:30:00-05:30",
            us(2024, 3, 2, 4),
            us(2024, 3, 2, 4, 0, 1) - 1,
            Precision.SECOND,
        ),
        (
            "2024-03-01T10:00:00.5Z",
            us(2024, 3, 1, 10, 0, 0, 500_000),
            us(2024, 3, 1, 10, 0, 0, 600_000) - 1,
            Precision.FRACTION,
        ),
        (
            "2024-03-01T10:00:00.123Z",
            us(2024, 3, 1, 10, 0, 0, 123_000),
            us(2024, 3, 1, 10, 0, 0, 124_000) - 1,
            Precision.FRACTION,
        ),
        (
            "2024-03-01T10:00:00.123456Z",
            us(2024, 3, 1, 10, 0, 0, 123_456),
            us(2024, 3, 1, 10, 0, 0, 123_456),
            Precision.FRACTION,
        ),
        (  # beyond microseconds: truncated
            "2024-03-01T10:00:00.1234567Z",
            us(2024, 3, 1, 10, 0, 0, 123_456),
            us(2024, 3, 1, 10, 0, 0, 123_456),
            Precision.FRACTION,
        ),
        (  # leap second: the last microsecond of the minute
            "2016-12-31T23:59:60Z",
            us(2017, 1, 1) - 1,
            us(2017, 1, 1) - 1,
            Precision.SECOND,
        ),
    ],
)
def test_parse_range_precisions(text: str, low: int, high: int, precision: Precision) -> None:
    assert parse_range(text, UTC) == (low, high, precision)


def test_bounds_of_calendar() -> None:
    assert parse_range("0001")[0] == DATE_MIN
    assert parse_range("9999")[1] == DATE_MAX
    assert parse_range("9999-12-31T23:59:59.999999Z")[:2] == (DATE_MAX, DATE_MAX)
    assert parse_range("1969-12-31T23:59:59Z")[0] == -1_000_000


def test_default_zone_applies_to_dates_without_offset() -> None:
    # Paris in summer is UTC+2: the 14th of July starts at 22:00Z the day before
    assert parse_range("2024-07-14", PARIS)[:2] == (
        us(2024, 7, 13, 22),
        us(2024, 7, 14, 22) - 1,
    )
    # the day of the spring DST change lasts 23 hours
    low, high, _ = parse_range("2024-03-31", PARIS)
    assert (high + 1 - low) == 23 * 3600 * 1_000_000
    assert parse_range("2024-01-15T08:30", PARIS)[0] == us(2024, 1, 15, 7, 30)
    # an explicit offset wins over the zone
    assert parse_range("2024-07-14T10:00:00Z", PARIS)[0] == us(2024, 7, 14, 10)


def test_default_zone_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    fdt.default_timezone.cache_clear()
    try:
        monkeypatch.setenv("SOCLE_DEFAULT_TIMEZONE", "Europe/Paris")
        assert fdt.default_timezone() == PARIS
        assert parse_range("2024-07-14")[0] == us(2024, 7, 13, 22)
        monkeypatch.setenv("SOCLE_DEFAULT_TIMEZONE", "America/New_York")
        assert fdt.default_timezone() == PARIS  # read once
    finally:
        fdt.default_timezone.cache_clear()
    monkeypatch.delenv("SOCLE_DEFAULT_TIMEZONE")
    assert fdt.default_timezone() is UTC
    assert parse_range("2024-07-14")[0] == us(2024, 7, 14)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "abc",
        "24",
        "20240101",
        "2024-13",
        "2024-00",
        "2023-02-29",
        "2024-04-31",
        "0000",
        "2024-01-01Z",  # zone without time
        "2024-01-01T25:00:00Z",
        "2024-01-01T10:61:00Z",
        "2024-01-01T10:00:00+15:00",
        "2024-01-01T10:00:00.Z",
        "2024-01-01 10:00:00",
        "10:00:00",
    ],
)
def test_parse_range_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_range(text)


def test_parse_range_rejects_non_strings() -> None:
    with pytest.raises(ValueError):
        parse_range(2024)  # type: ignore[arg-type]


def test_to_micros() -> None:
    assert to_micros(datetime(1970, 1, 1, tzinfo=UTC)) == 0
    assert to_micros(datetime(2024, 3, 1, 10, tzinfo=timezone(timedelta(hours=1)))) == us(
        2024, 3, 1, 9
    )
    assert to_micros(datetime(2024, 3, 1, 10, 0, 0, 7)) == us(2024, 3, 1, 10, 0, 0, 7)
    assert to_micros(datetime(1, 1, 1, tzinfo=UTC)) == DATE_MIN


def test_format_instant() -> None:
    assert format_instant(0) == "1970-01-01T00:00:00.000000+00:00"
    assert format_instant(0, zulu=True) == "1970-01-01T00:00:00.000000Z"
    value = us(2024, 1, 2, 3, 4, 5, 123_456)
    assert format_instant(value) == "2024-01-02T03:04:05.123456+00:00"
    assert format_instant(DATE_MIN) == "0001-01-01T00:00:00.000000+00:00"
    assert format_instant(DATE_MAX) == "9999-12-31T23:59:59.999999+00:00"
    assert format_instant(us(999, 5, 6, 7, 8, 9)) == "0999-05-06T07:08:09.000000+00:00"


def test_format_instant_round_trips_through_parse_range() -> None:
    for value in (0, 1, -1, us(2024, 2, 29, 23, 59, 59, 999_999), DATE_MIN, DATE_MAX):
        low, high, precision = parse_range(format_instant(value))
        assert low == high == value
        assert precision is Precision.FRACTION
