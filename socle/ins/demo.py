"""`socle demo` for the INS service: the INSi stand-in's registry (test OID).

The registry gets the identities of the demo Patients that carry an INS, so that an
`$ins-verify` of any of them answers 00 as INSi would for a real patient, and invented
identities (`teleservice.demo_records`) to retrieve."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from socle.ins import model as M

if TYPE_CHECKING:
    from socle.fhir.engine import FhirEngine


def records_of_patients(patients: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Registry records (the `load-registry` format) of the Patients with an INS."""
    out = []
    for patient in patients:
        ident = M.read_identity(patient)
        if not ident.ins or ident.sex not in ("male", "female") or not ident.given:
            continue
        out.append(
            {
                "matricule": ident.ins,
                "oid": ident.ins_system.removeprefix("urn:oid:"),
                "nom": ident.birth_family,
                "prenoms": " ".join(ident.given),
                "sexe": M.SEX_OF_GENDER[ident.sex],
                "date_naissance": ident.birth_date,
                "lieu_naissance": ident.birthplace,
            }
        )
    return out


def load_registry(engine: FhirEngine, tenant: str, bundles: list[Any], seed: int) -> str:
    """The demo loader (`engine.demo_loaders`): the registry of the demo Patients' and
    invented identities, added to what the registry holds."""
    from socle.ins import service
    from socle.ins.teleservice import demo_records

    patients = [
        entry["resource"]
        for bundle in bundles
        for entry in bundle.get("entry") or []
        if (entry.get("resource") or {}).get("resourceType") == "Patient"
    ]
    own = records_of_patients(patients)
    known = {r["matricule"] for r in own}
    extra = [r for r in demo_records(200, seed) if r["matricule"] not in known]
    n = service.load_registry(engine, tenant, own + extra, replace=False)
    return f"INSi registry: {n} identities ({len(own)} of the demo Patients), test OID"
