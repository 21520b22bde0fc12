"""Index rows extracted from a resource, one NamedTuple per index table.

The extractor produces them, the storage writes them in the same transaction as the
resource, and the search engine queries the tables they fill. `param` is the search
parameter code (e.g. ``identifier``, ``_tag``).

Dates are integer microseconds since 1970-01-01T00:00:00Z; ``low`` and ``high`` are
both inclusive bounds of the implicit range of the value (``2024`` covers the year).
Missing bounds (an open Period) use ``DATE_MIN``/``DATE_MAX``.
"""

from __future__ import annotations

from typing import NamedTuple

DATE_MIN = -62135596800 * 1_000_000  # 0001-01-01T00:00:00Z
DATE_MAX = 253402300799 * 1_000_000 + 999_999  # 9999-12-31T23:59:59.999999Z


class StringEntry(NamedTuple):
    param: str
    value: str  # normalised with socle.fhir.text.normalize
    exact: str  # the original text, for :exact


class TokenEntry(NamedTuple):
    param: str
    system: str | None
    code: str | None
    display: str | None  # normalised display/text, for :text
    type_system: str | None = None  # Identifier.type coding, for :of-type
    type_code: str | None = None


class DateEntry(NamedTuple):
    param: str
    low: int
    high: int


class NumberEntry(NamedTuple):
    param: str
    value: float
    low: float  # implicit range from the significant figures
    high: float


class QuantityEntry(NamedTuple):
    param: str
    value: float
    low: float
    high: float
    system: str | None
    code: str | None
    unit: str | None
    canonical_code: str | None = None  # UCUM canonical unit, when convertible
    canonical_value: float | None = None


class ReferenceEntry(NamedTuple):
    param: str
    target_type: str | None  # for relative/local references: "Patient"
    target_id: str | None  # "123"
    url: str | None  # absolute URL or canonical URL, without |version
    version: str | None  # canonical |version or _history version


class UriEntry(NamedTuple):
    param: str
    uri: str


class CompositeEntry(NamedTuple):
    """A composite parameter's component values, extracted from the same element."""

    param: str
    components: tuple  # tuple of component index entries, in definition order


IndexEntry = (
    StringEntry
    | TokenEntry
    | DateEntry
    | NumberEntry
    | QuantityEntry
    | ReferenceEntry
    | UriEntry
    | CompositeEntry
)
