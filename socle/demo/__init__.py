"""Deterministic French FHIR R4 test data: the `socle demo` set and a scalable generator.

All people are invented (random combinations of word lists), INS numbers use the test OID,
RPPS numbers the ANS test range and phone numbers the ranges reserved for fiction.
"""

from socle.demo.generator import demo_bundles
from socle.demo.synthetic import (
    count_by_type,
    count_resources,
    synthetic_bundles,
    synthetic_reference_bundle,
    write_bundles,
    write_ndjson,
)

__all__ = [
    "count_by_type",
    "count_resources",
    "demo_bundles",
    "synthetic_bundles",
    "synthetic_reference_bundle",
    "write_bundles",
    "write_ndjson",
]
