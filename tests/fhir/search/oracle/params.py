"""What each search parameter reads in a resource, written by hand from the R4 definitions.

Deliberately independent of `socle.fhir.indexing`: values are read from the JSON with
plain Python, and kept in the oracle's own small value types. Only
`socle.fhir.datetime.parse_range` is reused, for the meaning of a date value.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from socle.fhir.datetime import DATE_MAX, DATE_MIN, parse_range
from tests.fhir.search.oracle.dataset import BASE

INF = Decimal("Infinity")


@dataclass(frozen=True)
class Tok:
    system: str | None
    code: str | None
    texts: tuple[str, ...] = ()  # displays and texts, for :text
    types: tuple[tuple[str | None, str | None], ...] = ()  # Identifier.type codings


@dataclass(frozen=True)
class Ref:
    type: str | None
    id: str | None
    url: str | None  # absolute reference to another server


@dataclass(frozen=True)
class Qty:
    """A quantity or number as an interval [low, high] (a point when low == high)."""

    low: Decimal
    high: Decimal
    value: Decimal  # the written value (sorting)
    system: str | None = None
    code: str | None = None
    unit: str | None = None


@dataclass(frozen=True)
class Span:
    low: int
    high: int


@dataclass(frozen=True)
class Param:
    kind: str
    read: Callable[[dict[str, Any]], list[Any]]
    targets: tuple[str, ...] = ()
    components: tuple[str, ...] = ()  # composite: the component kinds


# ----------------------------------------------------------------------- navigation


def items(node: Any, *path: str) -> list[Any]:
    """Values at `path` under `node`, flattening arrays at every step."""
    current = [node]
    for key in path:
        nxt: list[Any] = []
        for n in current:
            if isinstance(n, dict) and key in n:
                value = n[key]
                nxt.extend(value if isinstance(value, list) else [value])
        current = nxt
    return [c for c in current if c is not None]


def strings(node: Any, *path: str) -> list[str]:
    return [v for v in items(node, *path) if isinstance(v, str) and v]


# --------------------------------------------------------------------------- values


def human_names(r: dict[str, Any], key: str = "name") -> list[str]:
    """Every part of every HumanName, and the name as a whole (its text, else the parts)."""
    out: list[str] = []
    for name in items(r, key):
        parts = [p for k in ("prefix", "given", "family", "suffix") for p in strings(name, k)]
        out += parts
        whole = name.get("text") or " ".join(parts)
        if whole:
            out.append(whole)
    return out


def addresses(r: dict[str, Any], part: str | None = None) -> list[str]:
    parts = (
        [part] if part else ["line", "city", "district", "state", "postalCode", "country", "text"]
    )
    return [v for a in items(r, "address") for p in parts for v in strings(a, p)]


def codes(values: list[Any]) -> list[Tok]:
    """code/boolean primitives: no system."""
    out = []
    for v in values:
        if isinstance(v, bool):
            out.append(Tok(None, "true" if v else "false"))
        elif isinstance(v, str) and v:
            out.append(Tok(None, v))
    return out


def concept(cc: Any) -> list[Tok]:
    if not isinstance(cc, dict):
        return []
    out = [
        Tok(c.get("system"), c.get("code"), tuple(strings(c, "display")))
        for c in items(cc, "coding")
        if c.get("system") or c.get("code")
    ]
    if isinstance(cc.get("text"), str):
        out.append(Tok(None, None, (cc["text"],)))
    return out


def concepts(r: dict[str, Any], *path: str) -> list[Tok]:
    return [t for cc in items(r, *path) for t in concept(cc)]


def coding_tokens(r: dict[str, Any], *path: str) -> list[Tok]:
    return [
        Tok(c.get("system"), c.get("code"), tuple(strings(c, "display"))) for c in items(r, *path)
    ]


def identifier(i: Any) -> list[Tok]:
    if not isinstance(i, dict) or not (i.get("system") or i.get("value")):
        return []
    kind = i.get("type") or {}
    types = tuple((c.get("system"), c.get("code")) for c in items(kind, "coding"))
    texts = tuple(
        strings(kind, "text") or [d for c in items(kind, "coding") for d in strings(c, "display")]
    )
    return [Tok(i.get("system"), i.get("value"), texts, types)]


def identifiers(r: dict[str, Any], *path: str) -> list[Tok]:
    return [t for i in items(r, *path) for t in identifier(i)]


def contact_points(r: dict[str, Any], system: str | None = None) -> list[Tok]:
    return [
        Tok(None, t["value"])
        for t in items(r, "telecom")
        if t.get("value") and (system is None or t.get("system") == system)
    ]


_LOCAL = re.compile(r"([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?")
_TAIL = re.compile(r"/([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})$")


def reference(text: str) -> Ref | None:
    """A literal reference: relative, or absolute (local when under this server's base)."""
    if text.startswith(BASE + "/"):
        text = text[len(BASE) + 1 :]
    m = _LOCAL.fullmatch(text)
    if m:
        return Ref(m[1], m[2], None)
    if "://" in text:
        tail = _TAIL.search(text)
        return Ref(tail[1], tail[2], text) if tail else Ref(None, None, text)
    return None


def references(r: dict[str, Any], *path: str, only: str | None = None) -> list[Ref]:
    out = []
    for node in items(r, *path):
        found = reference(node["reference"]) if isinstance(node.get("reference"), str) else None
        if found is not None and (only is None or found.type == only):
            out.append(found)
    return out


def ref_identifiers(r: dict[str, Any], *path: str) -> list[Tok]:
    return [t for node in items(r, *path) for t in identifier(node.get("identifier"))]


def dec(value: Any) -> Decimal:
    return Decimal(str(value)) if isinstance(value, int | float) else Decimal(value)


def quantity(q: Any) -> list[Qty]:
    if not isinstance(q, dict) or not isinstance(q.get("value"), int | float):
        return []
    v = dec(q["value"])
    low, high = v, v
    comparator = q.get("comparator")
    if comparator in ("<", "<="):
        low = -INF
    elif comparator in (">", ">="):
        high = INF
    return [Qty(low, high, v, q.get("system"), q.get("code"), q.get("unit"))]


def value_range(rng: Any) -> list[Qty]:
    if not isinstance(rng, dict):
        return []
    lo, hi = rng.get("low") or {}, rng.get("high") or {}
    if "value" not in lo and "value" not in hi:
        return []
    low = dec(lo["value"]) if "value" in lo else -INF
    high = dec(hi["value"]) if "value" in hi else INF
    unit = lo if "value" in lo else hi
    return [
        Qty(
            low,
            high,
            low if "value" in lo else high,
            unit.get("system"),
            unit.get("code"),
            unit.get("unit"),
        )
    ]


def quantities(r: dict[str, Any], *path: str) -> list[Qty]:
    return [q for node in items(r, *path) for q in quantity(node)]


def span(text: Any) -> Span | None:
    if not isinstance(text, str):
        return None
    try:
        low, high, _ = parse_range(text)
    except ValueError:
        return None
    return Span(low, high)


def period(p: Any) -> Span | None:
    if not isinstance(p, dict) or ("start" not in p and "end" not in p):
        return None
    start = span(p["start"]) if "start" in p else Span(DATE_MIN, DATE_MIN)
    end = span(p["end"]) if "end" in p else Span(DATE_MAX, DATE_MAX)
    if start is None or end is None:
        return None
    return Span(start.low, end.high)


def dates(*found: Span | None) -> list[Span]:
    return [s for s in found if s is not None]


def date_values(r: dict[str, Any], *path: str) -> list[Span]:
    return dates(*(span(v) for v in items(r, *path)))


def last_updated(r: dict[str, Any]) -> list[Span]:
    return []  # answered from the stored timestamps by the evaluator


# ----------------------------------------------------------------------- composites


def obs_code(node: dict[str, Any]) -> list[Tok]:
    return [t for t in concept(node.get("code")) if t.code is not None]


def pairs(elements: list[dict[str, Any]], second: Callable[[dict[str, Any]], list]) -> list[tuple]:
    return [(c, v) for e in elements for c in obs_code(e) for v in second(e)]


def value_concept(e: dict[str, Any]) -> list[Tok]:
    return [t for t in concept(e.get("valueCodeableConcept")) if t.code is not None]


def value_quantity(e: dict[str, Any]) -> list[Qty]:
    return quantity(e.get("valueQuantity"))


def value_string(e: dict[str, Any]) -> list[str]:
    return strings(e, "valueString")


def value_date(e: dict[str, Any]) -> list[Span]:
    return dates(span(e.get("valueDateTime")), period(e.get("valuePeriod")))


def relationship(r: dict[str, Any]) -> list[tuple]:
    out = []
    for rel in items(r, "relatesTo"):
        for target in references(rel, "target"):
            out += [(t, target) for t in codes(items(rel, "code"))]
    return out


# --------------------------------------------------------------------------- the table


def _common(profile: bool = True) -> dict[str, Param]:
    return {
        "_tag": Param("token", lambda r: coding_tokens(r, "meta", "tag")),
        "_profile": Param("uri", lambda r: strings(r, "meta", "profile")),
        "_lastUpdated": Param("date", last_updated),
        "_id": Param("token", lambda r: [Tok(None, r["id"])]),
    }


def _person(r: str) -> dict[str, Param]:
    return {
        "name": Param("string", human_names),
        "family": Param("string", lambda x: strings(x, "name", "family")),
        "given": Param("string", lambda x: strings(x, "name", "given")),
        "address": Param("string", addresses),
        "address-city": Param("string", lambda x: addresses(x, "city")),
        "address-postalcode": Param("string", lambda x: addresses(x, "postalCode")),
        "address-use": Param("token", lambda x: codes(items(x, "address", "use"))),
        "gender": Param("token", lambda x: codes(items(x, "gender"))),
        "identifier": Param("token", lambda x: identifiers(x, "identifier")),
        "active": Param("token", lambda x: codes(items(x, "active"))),
        "telecom": Param("token", contact_points),
        "email": Param("token", lambda x: contact_points(x, "email")),
        "phone": Param("token", lambda x: contact_points(x, "phone")),
    }


PATIENTS = ("Patient",)
SUBJECTS = ("Group", "Patient")

PARAMS: dict[str, dict[str, Param]] = {
    "Patient": {
        **_common(),
        **_person("Patient"),
        "birthdate": Param("date", lambda r: date_values(r, "birthDate")),
        "death-date": Param("date", lambda r: date_values(r, "deceasedDateTime")),
        "deceased": Param(
            "token",
            lambda r: codes([("deceasedDateTime" in r) or r.get("deceasedBoolean") is True]),
        ),
        "general-practitioner": Param(
            "reference",
            lambda r: references(r, "generalPractitioner"),
            ("Practitioner", "Organization", "PractitionerRole"),
        ),
        "organization": Param(
            "reference", lambda r: references(r, "managingOrganization"), ("Organization",)
        ),
        "link": Param(
            "reference", lambda r: references(r, "link", "other"), ("Patient", "RelatedPerson")
        ),
    },
    "Practitioner": {**_common(), **_person("Practitioner")},
    "Organization": {
        **_common(),
        "name": Param("string", lambda r: strings(r, "name") + strings(r, "alias")),
        "address": Param("string", addresses),
        "address-city": Param("string", lambda r: addresses(r, "city")),
        "identifier": Param("token", lambda r: identifiers(r, "identifier")),
        "type": Param("token", lambda r: concepts(r, "type")),
        "active": Param("token", lambda r: codes(items(r, "active"))),
        "partof": Param("reference", lambda r: references(r, "partOf"), ("Organization",)),
    },
    "Encounter": {
        **_common(),
        "status": Param("token", lambda r: codes(items(r, "status"))),
        "class": Param("token", lambda r: coding_tokens(r, "class")),
        "date": Param("date", lambda r: dates(period(r.get("period")))),
        "length": Param("quantity", lambda r: quantities(r, "length")),
        "subject": Param("reference", lambda r: references(r, "subject"), SUBJECTS),
        "patient": Param("reference", lambda r: references(r, "subject", only="Patient"), PATIENTS),
        "participant": Param(
            "reference",
            lambda r: references(r, "participant", "individual"),
            ("Practitioner", "PractitionerRole", "RelatedPerson"),
        ),
        "practitioner": Param(
            "reference",
            lambda r: references(r, "participant", "individual", only="Practitioner"),
            ("Practitioner",),
        ),
        "service-provider": Param(
            "reference", lambda r: references(r, "serviceProvider"), ("Organization",)
        ),
    },
    "Observation": {
        **_common(),
        "status": Param("token", lambda r: codes(items(r, "status"))),
        "category": Param("token", lambda r: concepts(r, "category")),
        "code": Param("token", lambda r: concepts(r, "code")),
        "component-code": Param("token", lambda r: concepts(r, "component", "code")),
        "combo-code": Param(
            "token", lambda r: concepts(r, "code") + concepts(r, "component", "code")
        ),
        "identifier": Param("token", lambda r: identifiers(r, "identifier")),
        "value-quantity": Param("quantity", lambda r: quantities(r, "valueQuantity")),
        "component-value-quantity": Param(
            "quantity", lambda r: quantities(r, "component", "valueQuantity")
        ),
        "combo-value-quantity": Param(
            "quantity",
            lambda r: quantities(r, "valueQuantity") + quantities(r, "component", "valueQuantity"),
        ),
        "value-concept": Param("token", lambda r: concepts(r, "valueCodeableConcept")),
        "value-string": Param(
            "string",
            lambda r: strings(r, "valueString") + strings(r, "valueCodeableConcept", "text"),
        ),
        "value-date": Param("date", value_date),
        "date": Param(
            "date",
            lambda r: dates(span(r.get("effectiveDateTime")), period(r.get("effectivePeriod"))),
        ),
        "subject": Param(
            "reference",
            lambda r: references(r, "subject"),
            ("Group", "Device", "Patient", "Location"),
        ),
        "subject:identifier": Param("token", lambda r: ref_identifiers(r, "subject")),
        "patient": Param("reference", lambda r: references(r, "subject", only="Patient"), PATIENTS),
        "encounter": Param(
            "reference", lambda r: references(r, "encounter"), ("Encounter", "EpisodeOfCare")
        ),
        "performer": Param(
            "reference",
            lambda r: references(r, "performer"),
            (
                "Practitioner",
                "Organization",
                "CareTeam",
                "Patient",
                "PractitionerRole",
                "RelatedPerson",
            ),
        ),
        "performer:identifier": Param("token", lambda r: ref_identifiers(r, "performer")),
        "code-value-quantity": Param(
            "composite", lambda r: pairs([r], value_quantity), components=("token", "quantity")
        ),
        "code-value-concept": Param(
            "composite", lambda r: pairs([r], value_concept), components=("token", "token")
        ),
        "code-value-string": Param(
            "composite", lambda r: pairs([r], value_string), components=("token", "string")
        ),
        "code-value-date": Param(
            "composite", lambda r: pairs([r], value_date), components=("token", "date")
        ),
        "component-code-value-quantity": Param(
            "composite",
            lambda r: pairs(items(r, "component"), value_quantity),
            components=("token", "quantity"),
        ),
        "combo-code-value-quantity": Param(
            "composite",
            lambda r: pairs([r, *items(r, "component")], value_quantity),
            components=("token", "quantity"),
        ),
    },
    "Condition": {
        **_common(),
        "code": Param("token", lambda r: concepts(r, "code")),
        "clinical-status": Param("token", lambda r: concepts(r, "clinicalStatus")),
        "severity": Param("token", lambda r: concepts(r, "severity")),
        "subject": Param("reference", lambda r: references(r, "subject"), SUBJECTS),
        "patient": Param("reference", lambda r: references(r, "subject", only="Patient"), PATIENTS),
        "encounter": Param("reference", lambda r: references(r, "encounter"), ("Encounter",)),
        "asserter": Param(
            "reference",
            lambda r: references(r, "asserter"),
            ("Practitioner", "Patient", "PractitionerRole", "RelatedPerson"),
        ),
        "onset-date": Param(
            "date", lambda r: dates(span(r.get("onsetDateTime")), period(r.get("onsetPeriod")))
        ),
        "onset-age": Param(
            "quantity", lambda r: quantity(r.get("onsetAge")) + value_range(r.get("onsetRange"))
        ),
        "onset-info": Param("string", lambda r: strings(r, "onsetString")),
        "recorded-date": Param("date", lambda r: date_values(r, "recordedDate")),
    },
    "DocumentReference": {
        **_common(),
        "status": Param("token", lambda r: codes(items(r, "status"))),
        "type": Param("token", lambda r: concepts(r, "type")),
        "identifier": Param(
            "token",
            lambda r: identifiers(r, "masterIdentifier") + identifiers(r, "identifier"),
        ),
        "subject": Param(
            "reference",
            lambda r: references(r, "subject"),
            ("Practitioner", "Group", "Device", "Patient"),
        ),
        "patient": Param("reference", lambda r: references(r, "subject", only="Patient"), PATIENTS),
        "author": Param(
            "reference",
            lambda r: references(r, "author"),
            (
                "Practitioner",
                "Organization",
                "Device",
                "Patient",
                "PractitionerRole",
                "RelatedPerson",
            ),
        ),
        "custodian": Param("reference", lambda r: references(r, "custodian"), ("Organization",)),
        "encounter": Param(
            "reference",
            lambda r: references(r, "context", "encounter"),
            ("Encounter", "EpisodeOfCare"),
        ),
        "relatesto": Param(
            "reference", lambda r: references(r, "relatesTo", "target"), ("DocumentReference",)
        ),
        "relation": Param("token", lambda r: codes(items(r, "relatesTo", "code"))),
        "relationship": Param("composite", relationship, components=("token", "reference")),
        "date": Param("date", lambda r: date_values(r, "date")),
        "period": Param(
            "date", lambda r: dates(*(period(p) for p in items(r, "context", "period")))
        ),
        "description": Param("string", lambda r: strings(r, "description")),
        "contenttype": Param(
            "token", lambda r: codes(items(r, "content", "attachment", "contentType"))
        ),
        "location": Param("uri", lambda r: strings(r, "content", "attachment", "url")),
    },
    "MedicationRequest": {
        **_common(),
        "status": Param("token", lambda r: codes(items(r, "status"))),
        "intent": Param("token", lambda r: codes(items(r, "intent"))),
        "priority": Param("token", lambda r: codes(items(r, "priority"))),
        "code": Param("token", lambda r: concepts(r, "medicationCodeableConcept")),
        "subject": Param("reference", lambda r: references(r, "subject"), SUBJECTS),
        "patient": Param("reference", lambda r: references(r, "subject", only="Patient"), PATIENTS),
        "requester": Param(
            "reference",
            lambda r: references(r, "requester"),
            (
                "Practitioner",
                "Organization",
                "Device",
                "Patient",
                "PractitionerRole",
                "RelatedPerson",
            ),
        ),
        "encounter": Param("reference", lambda r: references(r, "encounter"), ("Encounter",)),
        "authoredon": Param("date", lambda r: date_values(r, "authoredOn")),
        "date": Param("date", lambda r: date_values(r, "dosageInstruction", "timing", "event")),
    },
    "List": {
        **_common(),
        "item": Param("reference", lambda r: references(r, "entry", "item")),
        "status": Param("token", lambda r: codes(items(r, "status"))),
        "title": Param("string", lambda r: strings(r, "title")),
    },
    "RiskAssessment": {
        **_common(),
        "probability": Param(
            "number",
            lambda r: [
                q
                for p in items(r, "prediction")
                for q in (
                    [
                        Qty(
                            dec(p["probabilityDecimal"]),
                            dec(p["probabilityDecimal"]),
                            dec(p["probabilityDecimal"]),
                        )
                    ]
                    if "probabilityDecimal" in p
                    else value_range(p.get("probabilityRange"))
                )
            ],
        ),
        "subject": Param("reference", lambda r: references(r, "subject"), SUBJECTS),
        "patient": Param("reference", lambda r: references(r, "subject", only="Patient"), PATIENTS),
    },
}
