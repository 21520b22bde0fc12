"""Updates rewrite only the index tables whose rows change; the rows stay exactly those of
a fresh extraction of the current version, whatever path the update took."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from sqlalchemy import event, select

from socle.fhir.context import RequestContext
from socle.fhir.storage import schema as S
from socle.fhir.storage.store import StoreSession

PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "id": "d1",
    "identifier": [{"system": "urn:oid:1.2.3", "value": "IPP1"}],
    "name": [{"use": "official", "family": "Dupont", "given": ["Marie"]}],
    "birthDate": "1970-03-04",
    "gender": "female",
}
OBSERVATION: dict[str, Any] = {
    "resourceType": "Observation",
    "id": "o1",
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
    "subject": {"reference": "Patient/d1"},
    "component": [
        {
            "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
            "valueQuantity": {
                "value": 120,
                "unit": "mmHg",
                "system": "http://unitsofmeasure.org",
                "code": "mm[Hg]",
            },
        }
    ],
}


def _stored_rows(s: StoreSession, res_type: str, res_id: str) -> dict[str, list[tuple]]:
    """Every index row of one resource, by table, without the row keys."""
    r = S.resource.c
    pk = s.execute(
        select(r.pk).where(r.tenant == s.tenant, r.res_type == res_type, r.res_id == res_id)
    ).scalar_one()
    out = {}
    for name, table in S.INDEX_TABLES.items():
        columns = [c for c in table.c if c.name != "pk"]
        rows = s.execute(select(*columns).where(table.c.resource_pk == pk)).all()
        out[name] = sorted(tuple(map(repr, row)) for row in rows)
    return out


def _fresh_rows(fhir_engine: Any, s: StoreSession, res_type: str, res_id: str) -> dict:
    """The rows a fresh extraction of the current version gives."""
    stored = s.read(res_type, res_id)
    assert stored is not None and stored.content is not None
    entries = fhir_engine.extractor.extract(orjson.loads(stored.content))
    by_table = s._index_rows_of(stored.resource_pk, res_type, entries)
    out = {}
    for name, table in S.INDEX_TABLES.items():
        columns = [c.name for c in table.c if c.name != "pk"]
        rows = by_table.get(table, [])
        out[name] = sorted(tuple(repr(row.get(c)) for c in columns) for row in rows)
    return out


def _assert_fresh(fhir_engine: Any, tenant: str, res_type: str, res_id: str) -> None:
    with fhir_engine.store.session(tenant) as s:
        assert _stored_rows(s, res_type, res_id) == _fresh_rows(fhir_engine, s, res_type, res_id)


@contextmanager
def _index_deletes(fhir_engine: Any) -> Iterator[list[str]]:
    """The index tables that DELETE statements sent inside the block touched."""
    seen: list[str] = []

    def record(conn, cursor, statement, *args) -> None:  # noqa: ANN001
        if statement.lstrip().upper().startswith("DELETE FROM IDX_"):
            seen.append(statement.split()[2].strip('"'))

    event.listen(fhir_engine.store.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(fhir_engine.store.engine, "before_cursor_execute", record)


def _read_then_update(fhir_engine: Any, tenant: str, resource: dict[str, Any]) -> None:
    """An update whose transaction read the version it replaces (the guard does)."""
    ctx = RequestContext(tenant=tenant)
    with fhir_engine.store.session(tenant, write=True) as s:
        fhir_engine.crud.read(s, resource["resourceType"], resource["id"])
        fhir_engine.crud.update(s, ctx, resource["resourceType"], resource["id"], resource)


def test_update_touches_only_changed_tables(fhir_engine, tenant) -> None:  # noqa: ANN001
    ctx = RequestContext(tenant=tenant)
    with fhir_engine.store.session(tenant, write=True) as s:
        fhir_engine.crud.update(s, ctx, "Patient", "d1", PATIENT)
    changed = {**PATIENT, "name": [{"use": "official", "family": "Durand", "given": ["Marie"]}]}
    with _index_deletes(fhir_engine) as deletes:
        _read_then_update(fhir_engine, tenant, changed)
    assert deletes == ["idx_string"]  # the name changed; tokens and dates did not
    _assert_fresh(fhir_engine, tenant, "Patient", "d1")


def test_rows_equal_a_fresh_extraction_after_every_kind_of_update(fhir_engine, tenant) -> None:  # noqa: ANN001
    ctx = RequestContext(tenant=tenant)
    crud = fhir_engine.crud
    with fhir_engine.store.session(tenant, write=True) as s:
        crud.update(s, ctx, "Patient", "d1", PATIENT)
        crud.update(s, ctx, "Observation", "o1", OBSERVATION)
    # a table emptied (no birth date), then filled again
    without_date = {k: v for k, v in PATIENT.items() if k != "birthDate"}
    _read_then_update(fhir_engine, tenant, without_date)
    _assert_fresh(fhir_engine, tenant, "Patient", "d1")
    _read_then_update(fhir_engine, tenant, {**PATIENT, "birthDate": "1971-01-02"})
    _assert_fresh(fhir_engine, tenant, "Patient", "d1")
    # written twice in one transaction, before any flush, then once more after a read
    with fhir_engine.store.session(tenant, write=True) as s:
        crud.read(s, "Patient", "d1")
        crud.update(s, ctx, "Patient", "d1", {**PATIENT, "gender": "male"})
        crud.update(s, ctx, "Patient", "d1", {**PATIENT, "gender": "other"})
        no_identifier = {k: v for k, v in PATIENT.items() if k != "identifier"}
        crud.update(s, ctx, "Patient", "d1", no_identifier)
    _assert_fresh(fhir_engine, tenant, "Patient", "d1")
    # a composite (component code + value) that changes, and a patch
    heavier = {
        **OBSERVATION,
        "component": [
            {**OBSERVATION["component"][0], "valueQuantity": {"value": 135, "unit": "mmHg"}}
        ],
    }
    _read_then_update(fhir_engine, tenant, heavier)
    _assert_fresh(fhir_engine, tenant, "Observation", "o1")
    with fhir_engine.store.session(tenant, write=True) as s:
        crud.patch(
            s, ctx, "Observation", "o1", [{"op": "replace", "path": "/status", "value": "amended"}]
        )
    _assert_fresh(fhir_engine, tenant, "Observation", "o1")
    # without a read first (the previous rows are unknown: every table), then delete/recreate
    with fhir_engine.store.session(tenant, write=True) as s:
        crud.update(s, ctx, "Patient", "d1", {**PATIENT, "gender": "unknown"})
        crud.delete(s, ctx, "Observation", "o1")
    _assert_fresh(fhir_engine, tenant, "Patient", "d1")
    with fhir_engine.store.session(tenant, write=True) as s:
        crud.update(s, ctx, "Observation", "o1", OBSERVATION)
    _assert_fresh(fhir_engine, tenant, "Observation", "o1")


def test_created_then_updated_in_one_transaction(fhir_engine, tenant) -> None:  # noqa: ANN001
    ctx = RequestContext(tenant=tenant)
    with fhir_engine.store.session(tenant, write=True) as s:
        fhir_engine.crud.update(s, ctx, "Patient", "d1", PATIENT)
        fhir_engine.crud.update(s, ctx, "Patient", "d1", {**PATIENT, "gender": "male"})
        fhir_engine.crud.read(s, "Patient", "d1")
        fhir_engine.crud.update(s, ctx, "Patient", "d1", {**PATIENT, "birthDate": "1980"})
    _assert_fresh(fhir_engine, tenant, "Patient", "d1")
