"""SMART App Launch v2 scopes: `patient/*.rs`, `user/DocumentReference.cruds`, `system/…`.

A scope grants interactions (c create, r read, u update, d delete, s search) on a
resource type (or `*`) in a context:
* `patient/`: only data of the patient in context (the launch patient, or the patient
  who is the user);
* `user/`: whatever the user may access (the policy engine decides the rest);
* `system/`: a backend service (client credentials), no user.

SMART v1 forms are understood too (`.read` = `rs`, `.write` = `cud`, `.*` = `cruds`).
v2 granular scopes (`patient/Observation.rs?category=laboratory`) are accepted: their
restriction is kept in `Grant.query` and enforced on reads (see `matches_query`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

LETTERS = "cruds"
ACTION_LETTER = {
    "create": "c",
    "read": "r",
    "vread": "r",
    "update": "u",
    "patch": "u",
    "delete": "d",
    "search": "s",
    "history": "r",
}
_SCOPE = re.compile(r"^(patient|user|system)/([A-Za-z]+|\*)\.([a-z*]+)(\?.*)?$")
_V1 = {"read": "rs", "write": "cud", "*": "cruds"}


@dataclass(frozen=True, slots=True)
class Grant:
    context: str  # patient | user | system
    res_type: str  # a type or "*"
    letters: frozenset[str]
    query: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Scopes:
    """The parsed scope string of a token, with a fast lookup per (type, letter)."""

    raw: tuple[str, ...]
    grants: tuple[Grant, ...]
    other: frozenset[str]  # openid, fhirUser, launch/patient, offline_access…
    _index: dict[tuple[str, str], tuple[Grant, ...]] = field(default_factory=dict, repr=False)

    @classmethod
    def parse(cls, scope: str | list[str] | None) -> Scopes:
        items = scope.split() if isinstance(scope, str) else list(scope or [])
        grants: list[Grant] = []
        other: set[str] = set()
        for item in items:
            grant = parse_grant(item)
            if grant is None:
                other.add(item)
            else:
                grants.append(grant)
        index: dict[tuple[str, str], list[Grant]] = {}
        for g in grants:
            for letter in g.letters:
                index.setdefault((g.res_type, letter), []).append(g)
        return cls(
            tuple(items),
            tuple(grants),
            frozenset(other),
            {k: tuple(v) for k, v in index.items()},
        )

    def grants_for(self, res_type: str, letter: str) -> tuple[Grant, ...]:
        """Grants allowing `letter` on `res_type` (exact type first, then `*`)."""
        return self._index.get((res_type, letter), ()) + self._index.get(("*", letter), ())

    def contexts(self, res_type: str, letter: str) -> set[str]:
        return {g.context for g in self.grants_for(res_type, letter)}

    def has(self, item: str) -> bool:
        return item in self.other

    def __str__(self) -> str:
        return " ".join(self.raw)


def parse_grant(item: str) -> Grant | None:
    m = _SCOPE.match(item)
    if not m:
        return None
    context, res_type, perms, query = m.groups()
    if perms in _V1:
        letters = frozenset(_V1[perms])
    else:
        # v2: letters in c r u d s order, each at most once
        if any(ch not in LETTERS for ch in perms) or list(perms) != sorted(
            perms, key=LETTERS.index
        ):
            return None
        if len(set(perms)) != len(perms):
            return None
        letters = frozenset(perms)
    params = tuple(parse_qsl(query[1:], keep_blank_values=True)) if query else ()
    return Grant(context, res_type, letters, params)


def narrow(requested: str, allowed: str) -> str:
    """The requested scopes that `allowed` covers (used by the identity provider).

    A requested clinical scope is kept when an allowed scope of the same context covers
    its type and all its letters; anything else (escalation) is dropped.
    """
    allowed_scopes = Scopes.parse(allowed)
    kept: list[str] = []
    for item in requested.split():
        grant = parse_grant(item)
        if grant is None:
            if item in allowed_scopes.other:
                kept.append(item)
            continue
        ok = all(
            any(
                g.context == grant.context and not g.query
                for g in allowed_scopes.grants_for(grant.res_type, letter)
            )
            for letter in grant.letters
        )
        if grant.res_type == "*":
            ok = all(
                any(
                    g.context == grant.context and g.res_type == "*"
                    for g in allowed_scopes.grants_for("*", letter)
                )
                for letter in grant.letters
            )
        if ok:
            kept.append(item)
    return " ".join(kept)


def matches_query(grant: Grant, resource: dict[str, Any]) -> bool:
    """Granular v2 scope restriction on a resource: only token parameters on
    `category`, `code` and `type` (system|code or code) are evaluated here."""
    for name, value in grant.query:
        field_name = {"category": "category", "code": "code", "type": "type"}.get(name)
        if field_name is None:
            return False  # a restriction we cannot evaluate: refuse rather than leak
        system, _, code = value.rpartition("|")
        found = False
        concepts = resource.get(field_name)
        for concept in concepts if isinstance(concepts, list) else [concepts]:
            for coding in (concept or {}).get("coding", []) if isinstance(concept, dict) else []:
                if coding.get("code") == code and (not system or coding.get("system") == system):
                    found = True
        if not found:
            return False
    return True
