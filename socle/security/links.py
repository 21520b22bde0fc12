"""Confinement of search parameters that look into other resources: chains, `_has`, `_list`.

A chain (`Observation?subject:Patient.name=x`), a reverse chain
(`Patient?_has:DocumentReference:subject:type=x`) or a list (`_list=id`) tests resources
other than the ones returned. The policy filters what a search returns, but such a test
answers a yes/no question about the other resource whatever the page shows:
`Patient?_has:DocumentReference:subject:type=X` tells whether a masked document of type
X exists; `Patient?_has:Observation:subject:code=X` tells a professional without any care
relationship whether a patient had that test.

Most access rules (care relationship, blocks, masks, announcement) are decided resource by
resource, so they cannot be pushed into the sub-queries. Hence the rule: a restricted
subject (anyone but administrators and system clients) may only look through a link into
types it may read without any per-resource rule, i.e. the open types of the policy
(directory, conformance) and, for professionals, patient identity. Anything else is a 403
saying which parameter and what to do instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from socle.fhir.search.model import Chain, Has, InList, Leaf


def looked_into(criteria: Iterable[Any]) -> Iterator[tuple[str, str]]:
    """(resource type, how) for every resource type a criterion tests through a link."""
    for criterion in criteria:
        yield from _walk(criterion)


def _walk(criterion: Any) -> Iterator[tuple[str, str]]:
    if isinstance(criterion, Leaf):
        return
    if isinstance(criterion, Chain):
        for target in criterion.targets:
            yield target, f"the chained parameter {criterion.code}"
        yield from _walk(criterion.inner)
    elif isinstance(criterion, Has):
        yield criterion.source_type, f"_has:{criterion.source_type}:{criterion.code}"
        yield from _walk(criterion.inner)
    elif isinstance(criterion, InList):
        yield "List", "_list"


def refusal_text(res_type: str, how: str, transparent: frozenset[str]) -> str:
    """What the subject is told: which parameter, why, and what to do instead."""
    allowed = ", ".join(sorted(transparent)) or "none"
    return (
        f"{how} looks into {res_type} resources, whose access is decided one by one: "
        f"its matches would reveal resources you may not see. Search {res_type} itself "
        "(results are filtered by the access rules), or use a direct reference such as "
        f"patient=Patient/<id>. Links may look into: {allowed}."
    )


__all__ = ["looked_into", "refusal_text"]
