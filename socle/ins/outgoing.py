"""The outgoing-identifier rule: the INS leaves Socle only with a qualified identity.

RNIV: the INS matricule may be shared (in a document, a message, an API answer) only
when the identity is *qualifiée*. `filter_patient` removes the four INS identifier
systems from a Patient whose status is anything else; `filter_resource` also walks a
Bundle's entries and a Parameters' resources.

The plugin registers `filter_patient` as the engine's output hook for Patient (every
read, search, history entry, transaction answer, and Patients nested in other
resources), and `filter_past` as its past-version hook: a past version (vread, history)
shows an INS only while the identity is qualified *now* with that INS, so that a
downgrade (doubt, invalidation, a failed INSi check, a trait change) also hides the INS
its earlier, qualified versions carried. The INS operations apply `filter_resource`
to what they answer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from socle.fhir.errors import FhirError
from socle.ins import model as M
from socle.ins.nir import is_ins


def shares_ins(patient: dict[str, Any]) -> bool:
    """Whether the identity is qualified; one whose reliability extension cannot be read
    (a malformed Patient stored inside another resource) is not."""
    try:
        return M.read_identity(patient).status == M.QUAL
    except FhirError:
        return False


def filter_patient(patient: dict[str, Any]) -> dict[str, Any]:
    """`patient` unchanged when it has no INS to hide; else a copy without its INS, or,
    when qualified, without the INS set aside (``use: old``): the INS a qualified identity
    shares is its current matricule, not the ones it held while it was not qualified."""
    idents = patient.get("identifier") or []
    if not any(is_ins(i) for i in idents):
        return patient
    qualified = shares_ins(patient)
    return _keeping(patient, lambda i: qualified and i.get("use") != "old")


def filter_past(patient: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
    """A past version of a Patient as it may be shown: its INS only if the identity is
    qualified now and still shares it (None: deleted since, nothing is shared)."""
    shared = set()
    if current is not None and shares_ins(current):
        shared = {
            (i.get("system"), i.get("value"))
            for i in filter_patient(current).get("identifier") or []
            if is_ins(i)
        }
    return _keeping(patient, lambda i: (i.get("system"), i.get("value")) in shared)


def _keeping(patient: dict[str, Any], shown: Callable[[dict], bool]) -> dict[str, Any]:
    """`patient` without the INS identifiers `shown` refuses (itself when none is)."""
    idents = patient.get("identifier") or []
    kept = [i for i in idents if not is_ins(i) or shown(i)]
    if len(kept) == len(idents):
        return patient
    out = dict(patient)
    if kept:
        out["identifier"] = kept
    else:
        out.pop("identifier", None)
    return out


def filter_resource(resource: Any) -> Any:
    """Apply the rule to a Patient, or to the Patients inside a Bundle or Parameters."""
    if not isinstance(resource, dict):
        return resource
    kind = resource.get("resourceType")
    if kind == "Patient":
        return filter_patient(resource)
    if kind == "Bundle":
        entries = []
        for entry in resource.get("entry") or []:
            if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
                entry = {**entry, "resource": filter_resource(entry["resource"])}
            entries.append(entry)
        return {**resource, "entry": entries} if "entry" in resource else resource
    if kind == "Parameters":
        params = []
        for p in resource.get("parameter") or []:
            if isinstance(p, dict) and isinstance(p.get("resource"), dict):
                p = {**p, "resource": filter_resource(p["resource"])}
            if isinstance(p, dict) and p.get("part"):
                p = {
                    **p,
                    "part": filter_resource({"resourceType": "Parameters", "parameter": p["part"]})[
                        "parameter"
                    ],
                }
            params.append(p)
        return {**resource, "parameter": params}
    return resource
