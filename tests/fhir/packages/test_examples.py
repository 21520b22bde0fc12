"""Every example shipped inside the vendored packages, validated like `$validate` does.

An example validates with no error against its declared profiles, or it is listed in
`known_defects.py` (and in docs/validation.md) with the exact errors Socle reports.
"""

from __future__ import annotations

import pytest

from tests.fhir.packages.known_defects import KNOWN_DEFECTS, REASONS
from tests.fhir.validation.support import errors, example, example_keys, service

KEYS = example_keys()


def test_every_package_example_is_covered() -> None:
    assert len(KEYS) == 185
    assert set(KNOWN_DEFECTS) <= set(KEYS)
    assert {reason for entries in KNOWN_DEFECTS.values() for reason, _, _ in entries} <= set(
        REASONS
    )


@pytest.mark.parametrize("key", KEYS)
def test_example(key: str) -> None:
    found = sorted(errors(service().validate(example(key))))
    expected = sorted((location, message) for _, location, message in KNOWN_DEFECTS.get(key, []))
    assert found == expected
