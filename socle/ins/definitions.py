"""The INS service's own conformance resources: the extensions and code systems Socle
writes beside FR Core's (the RNIV status and its date on a Patient, the INS events of
Provenance and AuditEvent), so that `$validate` knows them instead of warning about an
unknown extension on every Patient Socle writes. Registered with the validation service
by the plugin (`ValidationService.add_definitions`)."""

from __future__ import annotations

from typing import Any

from socle.ins import model as M
from socle.ins import status as S

EXTENSION_BASE = "http://hl7.org/fhir/StructureDefinition/Extension"
# event codes written by the write hook itself (`index._record_direct`)
DIRECT_EVENTS = {"direct-write": "Statut modifié par une écriture directe du Patient"}


def _head(kind: str, url: str, title: str = "") -> dict[str, Any]:
    """What every definition starts with: type, id and name from its canonical URL."""
    name = url.rsplit("/", 1)[-1]
    head = {"resourceType": kind, "id": name, "url": url, "name": name.replace("-", "_")}
    return {**head, "title": title, "status": "active"} if title else {**head, "status": "active"}


def _code_system(url: str, title: str, concepts: dict[str, str]) -> dict[str, Any]:
    name = url.rsplit("/", 1)[-1]
    return {
        **_head("CodeSystem", url, title),
        "content": "complete",
        "caseSensitive": True,
        "valueSet": f"{M.SOCLE}/ValueSet/{name}",
        "concept": [{"code": code, "display": display} for code, display in concepts.items()],
    }


def _value_set(system: str) -> dict[str, Any]:
    name = system.rsplit("/", 1)[-1]
    return {
        **_head("ValueSet", f"{M.SOCLE}/ValueSet/{name}"),
        "compose": {"include": [{"system": system}]},
    }


def _extension(url: str, title: str, definition: str, value: dict[str, Any]) -> dict[str, Any]:
    """A simple extension of Patient (one value, no sub-extensions)."""
    return {
        **_head("StructureDefinition", url, title),
        "fhirVersion": "4.0.1",
        "kind": "complex-type",
        "abstract": False,
        "context": [{"type": "element", "expression": "Patient"}],
        "type": "Extension",
        "baseDefinition": EXTENSION_BASE,
        "derivation": "constraint",
        "differential": {
            "element": [
                {"id": "Extension", "path": "Extension", "definition": definition, "max": "1"},
                {"id": "Extension.extension", "path": "Extension.extension", "max": "0"},
                {"id": "Extension.url", "path": "Extension.url", "fixedUri": url},
                {"id": "Extension.value[x]", "path": "Extension.value[x]", "min": 1, **value},
            ]
        },
    }


def definitions() -> list[dict[str, Any]]:
    """Everything the plugin registers (new objects each call)."""
    status_vs = _value_set(M.CS_RNIV_STATUS)
    return [
        _code_system(M.CS_RNIV_STATUS, "RNIV identity statuses", M.STATUSES),
        status_vs,
        _code_system(M.CS_INS_EVENT, "INS identity events", {**S.EVENTS, **DIRECT_EVENTS}),
        _value_set(M.CS_INS_EVENT),
        _extension(
            M.EXT_RNIV_STATUS,
            "RNIV identity status",
            "The identity's status as the RNIV names it (provisoire, récupérée, validée, "
            "qualifiée): FR Core's identityStatus writes PROV for récupérée and VALI for "
            "qualifiée.",
            {
                "type": [{"code": "Coding"}],
                "binding": {"strength": "required", "valueSet": status_vs["url"]},
            },
        ),
        _extension(
            M.EXT_RNIV_STATUS_DATE,
            "RNIV identity status date",
            "When the identity reached its status, written by the server: evidence "
            "(a document check, an INSi call) must postdate it to upgrade the identity.",
            {"type": [{"code": "dateTime"}]},
        ),
    ]
