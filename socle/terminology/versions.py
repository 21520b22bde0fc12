"""Canonical references (`url|version`) and the choice of a version when none is given.

FHIR R4 resolves `url|version` to the resource with exactly that version. Without a
version, Socle picks the "latest" one: versions that all look like dotted numbers
(semver and the like) are compared numerically; otherwise the most recent `date` wins,
and then the version loaded last. A version may also be given partially (`1.2` matches
`1.2.0` and `1.2.7`, the highest wins), as FHIR's semver version algorithm allows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Protocol, TypeVar

_NUMERIC = re.compile(r"^\d+(\.\d+)*([-+].*)?$")


def split_canonical(canonical: str) -> tuple[str, str | None]:
    """'http://x|1.0' -> ('http://x', '1.0'); a fragment or a missing version gives None."""
    url, sep, version = canonical.partition("|")
    return url, (version or None) if sep else None


def version_key(version: str | None) -> tuple:
    """Sort key: numeric parts compared as numbers, pre-releases before their release."""
    if not version:
        return ()
    core, _, pre = version.partition("-")
    parts: list[tuple[int, int | str]] = []
    for piece in core.split("."):
        parts.append((0, int(piece)) if piece.isdigit() else (1, piece))
    # "1.0.0-ballot" < "1.0.0": a release sorts after its pre-releases
    return (tuple(parts), 0 if pre else 1, pre)


def is_numeric_version(version: str | None) -> bool:
    return bool(version) and bool(_NUMERIC.match(version or ""))


class Versioned(Protocol):
    @property
    def version(self) -> str | None: ...

    @property
    def date(self) -> str | None: ...

    @property
    def seq(self) -> int: ...


V = TypeVar("V", bound=Versioned)


def latest(candidates: Sequence[V]) -> V | None:
    """The version a bare canonical URL designates."""
    if not candidates:
        return None
    if len(candidates) == 1:
        return candidates[0]
    if all(is_numeric_version(c.version) for c in candidates):
        return max(candidates, key=lambda c: (version_key(c.version), c.date or "", c.seq))
    return max(candidates, key=lambda c: (c.date or "", c.seq))


def pick(candidates: Iterable[V], version: str | None) -> V | None:
    """Resolve a version among the resources sharing one canonical URL."""
    items = list(candidates)
    if version is None:
        return latest(items)
    exact = [c for c in items if c.version == version]
    if exact:
        return latest(exact)
    if is_numeric_version(version):  # partial semver: "1.2" matches "1.2.x"
        prefix = version + "."
        partial = [c for c in items if c.version and c.version.startswith(prefix)]
        if partial:
            return latest(partial)
    return None
