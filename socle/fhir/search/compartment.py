"""Compartment search (``Patient/123/Observation``) from the vendored CompartmentDefinition.

A resource is in the compartment of Patient/123 when one of the reference parameters the
definition lists for its type points to Patient/123; the patient itself is in it too.
Only the Patient compartment is vendored; others are refused as not supported.
"""

from __future__ import annotations

import gzip
from collections import defaultdict
from functools import cache
from importlib import resources

import orjson
from sqlalchemy import ColumnElement, and_, false, or_, select
from sqlalchemy.sql.expression import FromClause

from socle.fhir.errors import FhirError
from socle.fhir.search.clauses.base import Scope, in_types
from socle.fhir.search.model import Types
from socle.fhir.storage import schema as S

_FILES = {"Patient": "fhir-r4/compartmentdefinition-patient.json.gz"}


@cache
def compartment_params(comp_type: str) -> dict[str, tuple[str, ...]]:
    """Resource type -> parameter codes linking it to a `comp_type` compartment."""
    path = _FILES.get(comp_type)
    if path is None:
        raise FhirError(400, "not-supported", f"Compartment {comp_type} is not supported")
    raw = resources.files("socle.data").joinpath(path).read_bytes()
    definition = orjson.loads(gzip.decompress(raw))
    return {r["code"]: tuple(r["param"]) for r in definition.get("resource", []) if r.get("param")}


def compartment_types(comp_type: str) -> tuple[str, ...]:
    """Every type that can be in the compartment, the compartment's own type included."""
    return tuple(sorted({*compartment_params(comp_type), comp_type}))


def compartment_condition(
    comp_type: str, comp_id: str, owner: FromClause, types: Types, scope: Scope
) -> ColumnElement[bool]:
    params = compartment_params(comp_type)
    wanted = [t for t in (types or compartment_types(comp_type)) if t in params]
    by_params: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for t in wanted:
        by_params[params[t]].append(t)
    ref = scope.alias(S.idx_reference)
    links = [
        and_(*in_types(ref.c.res_type, group), ref.c.param.in_(list(codes)))
        for codes, group in by_params.items()
    ]
    tests = []
    if links:
        tests.append(
            owner.c.pk.in_(
                select(ref.c.resource_pk).where(
                    ref.c.tenant == scope.tenant,
                    ref.c.target_type == comp_type,
                    ref.c.target_id == comp_id,
                    ref.c.url.is_(None),
                    or_(*links),
                )
            )
        )
    if types is None or comp_type in types:
        tests.append(and_(owner.c.res_type == comp_type, owner.c.res_id == comp_id))
    return or_(*tests) if tests else false()
