"""FHIR date, dateTime and instant values as implicit ranges of UTC microseconds.

A FHIR date-like value denotes an interval whose width is its precision: ``2024`` is the
whole year, ``2024-03-01T10:00:00+01:00`` the whole second, ``10:00:00.5`` a tenth of a
second. Index rows and search query values are both reduced to inclusive
``[low, high]`` integer microseconds since the Unix epoch, so a search is integer
comparisons on two columns (see ``socle.fhir.indexing.entries``).

Time zones: a value with an explicit offset (``Z``/``+hh:mm``) is exact. A value without
one (a ``date``, or a query value such as ``2024-03-01T10:00``) is read in the *default
time zone*: UTC unless the environment variable ``SOCLE_DEFAULT_TIMEZONE`` names an IANA
zone (e.g. ``Europe/Paris``); it is read once, at first use. UTC is the default because
the FHIR spec leaves this to the server and a fixed, DST-free reading keeps index rows
stable if the server moves; a French deployment that wants ``birthdate=2024-03-01`` to
mean the Paris day sets the variable *before* indexing (changing it later requires a
reindex, since date-only values are stored already converted).

Accepted syntax (a superset of FHIR, for query values): ``YYYY``, ``YYYY-MM``,
``YYYY-MM-DD``, then optionally ``Thh``, ``Thh:mm``, ``Thh:mm:ss`` and fractional seconds
of any length, then optionally ``Z`` or ``±hh:mm``. A leap second ``:60`` is read as
``:59.999999``. Years run 0001-9999.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta, tzinfo
from enum import IntEnum
from functools import cache
from zoneinfo import ZoneInfo

from socle.fhir.indexing.entries import DATE_MAX, DATE_MIN

__all__ = [
    "DATE_MAX",
    "DATE_MIN",
    "Precision",
    "default_timezone",
    "format_instant",
    "parse_range",
    "to_micros",
]

_US_PER_SECOND = 1_000_000
_US_PER_MINUTE = 60 * _US_PER_SECOND
_US_PER_HOUR = 60 * _US_PER_MINUTE
_US_PER_DAY = 24 * _US_PER_HOUR
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_DATE_RE = re.compile(
    r"(?P<y>\d{4})(?:-(?P<mo>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<h>\d{2})(?::(?P<mi>\d{2})(?::(?P<s>\d{2})(?:\.(?P<f>\d+))?)?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?"
)
_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


class Precision(IntEnum):
    """How much of a date-like value was given; FRACTION covers any sub-second digits."""

    YEAR = 1
    MONTH = 2
    DAY = 3
    HOUR = 4
    MINUTE = 5
    SECOND = 6
    FRACTION = 7


@cache
def default_timezone() -> tzinfo:
    """The zone for values without an offset: ``SOCLE_DEFAULT_TIMEZONE`` or UTC (read once)."""
    name = os.environ.get("SOCLE_DEFAULT_TIMEZONE", "").strip()
    if not name or name.upper() in ("UTC", "Z", "ETC/UTC"):
        return UTC
    return ZoneInfo(name)


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (valid for any year)."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _is_leap(y: int) -> bool:
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)


def _month_days(y: int, m: int) -> int:
    return 29 if m == 2 and _is_leap(y) else _DAYS_IN_MONTH[m - 1]


def _offset_us(tz: str) -> int:
    if tz == "Z":
        return 0
    hours, minutes = int(tz[1:3]), int(tz[4:6])
    if hours > 14 or minutes > 59:
        raise ValueError(f"Invalid time zone offset {tz!r}")
    sign = -1 if tz[0] == "-" else 1
    return sign * (hours * _US_PER_HOUR + minutes * _US_PER_MINUTE)


def _next_boundary(y: int, mo: int, d: int, precision: Precision) -> tuple[int, int, int]:
    """The calendar date starting the next YEAR/MONTH/DAY period."""
    if precision is Precision.YEAR:
        return y + 1, 1, 1
    if precision is Precision.MONTH:
        return (y + 1, 1, 1) if mo == 12 else (y, mo + 1, 1)
    if d < _month_days(y, mo):
        return y, mo, d + 1
    return (y + 1, 1, 1) if mo == 12 else (y, mo + 1, 1)


def _local_to_utc_us(naive_us: int, tz: tzinfo) -> int:
    """Convert a wall-clock time (micros since epoch, as if UTC) in zone `tz` to UTC micros."""
    if tz is UTC:
        return naive_us
    try:
        wall = datetime(1970, 1, 1) + timedelta(microseconds=naive_us)
    except OverflowError:
        return naive_us
    offset = wall.replace(tzinfo=tz).utcoffset() or timedelta(0)
    return naive_us - offset // timedelta(microseconds=1)


def _clamp(value: int) -> int:
    return DATE_MIN if value < DATE_MIN else DATE_MAX if value > DATE_MAX else value


def parse_range(value: str, tz: tzinfo | None = None) -> tuple[int, int, Precision]:
    """Parse a FHIR date/dateTime/instant (or search value) into ``(low, high, precision)``.

    ``low``/``high`` are inclusive UTC microseconds; `tz` overrides the default zone used
    when the value has no offset. Raises ``ValueError`` on anything that is not a date.
    """
    m = _DATE_RE.fullmatch(value.strip()) if isinstance(value, str) else None
    if m is None:
        raise ValueError(f"Invalid date/time {value!r}")
    y = int(m["y"])
    mo = int(m["mo"] or 1)
    d = int(m["d"] or 1)
    if y < 1 or not 1 <= mo <= 12 or not 1 <= d <= _month_days(y, mo):
        raise ValueError(f"Invalid date {value!r}")
    days = _days_from_civil(y, mo, d)
    if m["h"] is None:
        if m["tz"] is not None:
            raise ValueError(f"Time zone without a time in {value!r}")
        precision = Precision.DAY if m["d"] else Precision.MONTH if m["mo"] else Precision.YEAR
        start = days * _US_PER_DAY
        end = _days_from_civil(*_next_boundary(y, mo, d, precision)) * _US_PER_DAY
        zone = tz or default_timezone()
        low, high = _local_to_utc_us(start, zone), _local_to_utc_us(end, zone) - 1
        return _clamp(low), _clamp(high), precision
    low, width, precision = _time_of_day(m, value)
    low += days * _US_PER_DAY
    if m["tz"] is not None:
        low -= _offset_us(m["tz"])
    else:
        low = _local_to_utc_us(low, tz or default_timezone())
    return _clamp(low), _clamp(low + width - 1), precision


def _time_of_day(m: re.Match[str], value: str) -> tuple[int, int, Precision]:
    """Micros since midnight, width of the implicit range, and precision of the time part."""
    h, mi, s = int(m["h"]), int(m["mi"] or 0), int(m["s"] or 0)
    if h > 23 or mi > 59 or s > 60:
        raise ValueError(f"Invalid time in {value!r}")
    since_midnight = h * _US_PER_HOUR + mi * _US_PER_MINUTE
    if m["mi"] is None:
        return since_midnight, _US_PER_HOUR, Precision.HOUR
    if m["s"] is None:
        return since_midnight, _US_PER_MINUTE, Precision.MINUTE
    if s == 60:  # leap second: the last instant of the minute
        return since_midnight + 59 * _US_PER_SECOND + 999_999, 1, Precision.SECOND
    since_midnight += s * _US_PER_SECOND
    frac = m["f"]
    if frac is None:
        return since_midnight, _US_PER_SECOND, Precision.SECOND
    digits = frac[:6]
    since_midnight += int(digits) * 10 ** (6 - len(digits))
    return since_midnight, 10 ** (6 - len(digits)), Precision.FRACTION


def to_micros(value: datetime) -> int:
    """UTC microseconds since the epoch; a naive datetime is read in the default zone."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=default_timezone())
    return (value - _EPOCH) // timedelta(microseconds=1)


def format_instant(micros: int, *, zulu: bool = False) -> str:
    """Render UTC micros as a FHIR instant: ``2024-01-02T03:04:05.123456+00:00``.

    Always six fractional digits so rendered instants sort like their numbers and
    round-trip exactly through `parse_range` (whose ``low`` is the value itself).
    """
    dt = _EPOCH + timedelta(microseconds=micros)
    text = dt.strftime("%Y-%m-%dT%H:%M:%S") if dt.year >= 1000 else _iso_small_year(dt)
    return f"{text}.{dt.microsecond:06d}{'Z' if zulu else '+00:00'}"


def _iso_small_year(dt: datetime) -> str:
    """strftime does not zero-pad years below 1000 on every platform."""
    return (
        f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}"
    )
