"""`socle demo` gives the INSi stand-in the demo Patients' identities (test OID)."""

from __future__ import annotations

from socle.demo.generator import demo_bundles
from socle.ins import demo
from socle.ins import teleservice as T
from socle.ins.demo import records_of_patients


def test_demo_patients_are_known_to_the_insi_stand_in(ins_engine, tenant) -> None:  # noqa: ANN001
    bundles = demo_bundles(seed=3)
    assert demo.load_registry in ins_engine.demo_loaders  # the plugin registered it
    said = demo.load_registry(ins_engine, tenant, bundles, 3)
    patients = [
        e["resource"]
        for b in bundles
        for e in b["entry"]
        if e["resource"]["resourceType"] == "Patient"
    ]
    records = records_of_patients(patients)
    assert records and f"({len(records)} of the demo Patients)" in said
    with ins_engine.store.session(tenant) as s:
        for rec in records:
            result = T.verify(
                s,
                matricule=rec["matricule"],
                oid=rec["oid"],
                family=rec["nom"],
                given=rec["prenoms"],
                birth_date=rec["date_naissance"],
                sex=rec["sexe"],
                birthplace=rec["lieu_naissance"],
            )
            assert result.code == "00", (rec, result)
