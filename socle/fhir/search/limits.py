"""Hard limits that keep one search request from monopolising the database.

Exceeding one is refused with ``too-costly`` (HTTP 400) rather than silently truncated,
except the number of *included* resources, which is capped (the page then says so in
`SearchPage.include_truncated`, and the REST layer adds a warning) because the client
cannot know in advance how many resources an ``_include`` will pull. A search running
longer than `SearchLimits.max_query_seconds` is cancelled (400 ``too-costly`` too).
"""

from __future__ import annotations

from dataclasses import dataclass

from socle.fhir.errors import FhirError

QUERY_SECONDS = 10.0
"""Default bound on the database time of one search (`socle.fhir.search.dialect.time_limit`)."""


@dataclass(frozen=True, slots=True)
class SearchLimits:
    default_count: int = 20
    max_count: int = 1000  # largest _count accepted
    max_chain_depth: int = 4  # reference hops in one parameter (chains and _has together)
    max_or_values: int = 100  # comma-separated alternatives in one value
    max_criteria: int = 64  # search parameters (ANDed) in one request
    max_sort_keys: int = 8
    max_include_params: int = 16  # _include + _revinclude parameters
    max_included: int = 1000  # resources added by _include/_revinclude to one page
    max_iterate_rounds: int = 4  # rounds of :iterate
    max_query_seconds: float = QUERY_SECONDS  # database time of one search (0: no limit)


DEFAULT_LIMITS = SearchLimits()


def too_costly(message: str, name: str) -> FhirError:
    return FhirError(400, "too-costly", message, [name])
