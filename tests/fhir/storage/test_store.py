"""The store keeps every version and writes index rows with the resource, atomically."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from socle.fhir.context import RequestContext
from socle.fhir.storage import schema as S


def _count(fhir_engine, tenant, table) -> int:  # noqa: ANN001
    with fhir_engine.store.session(tenant) as s:
        return s.execute(
            select(func.count()).select_from(table).where(table.c.tenant == tenant)
        ).scalar_one()


def test_index_rows_follow_current_version(fhir_engine, tenant) -> None:  # noqa: ANN001
    ctx = RequestContext(tenant=tenant)
    crud = fhir_engine.crud
    res = {
        "resourceType": "Patient",
        "id": "i1",
        "name": [{"family": "Dupont"}],
        "birthDate": "1970",
    }
    with fhir_engine.store.session(tenant, write=True) as s:
        crud.update(s, ctx, "Patient", "i1", res)
    strings = _count(fhir_engine, tenant, S.idx_string)
    assert strings > 0 and _count(fhir_engine, tenant, S.idx_date) >= 1
    with fhir_engine.store.session(tenant, write=True) as s:
        crud.update(s, ctx, "Patient", "i1", {**res, "name": [{"family": "Durand"}]})
    with fhir_engine.store.session(tenant) as s:
        values = {
            r.value
            for r in s.execute(
                select(S.idx_string.c.value).where(
                    S.idx_string.c.tenant == tenant, S.idx_string.c.param == "family"
                )
            )
        }
    assert values == {"durand"}
    with fhir_engine.store.session(tenant, write=True) as s:
        crud.delete(s, ctx, "Patient", "i1")
    assert _count(fhir_engine, tenant, S.idx_string) == 0
    assert _count(fhir_engine, tenant, S.resource_version) == 3


def test_failed_transaction_writes_nothing(fhir_engine, tenant) -> None:  # noqa: ANN001
    ctx = RequestContext(tenant=tenant)
    with pytest.raises(RuntimeError), fhir_engine.store.session(tenant, write=True) as s:
        fhir_engine.crud.update(s, ctx, "Patient", "x1", {"resourceType": "Patient", "id": "x1"})
        raise RuntimeError("abort")
    for table in (S.resource, S.resource_version, S.idx_string, S.idx_token):
        assert _count(fhir_engine, tenant, table) == 0


def test_tenants_are_isolated(fhir_engine, tenant) -> None:  # noqa: ANN001
    other = tenant + "b"
    with fhir_engine.store.session(tenant, write=True) as s:
        fhir_engine.crud.update(
            s,
            RequestContext(tenant=tenant),
            "Patient",
            "t1",
            {"resourceType": "Patient", "id": "t1"},
        )
    with fhir_engine.store.session(other) as s:
        assert s.read("Patient", "t1") is None
    with fhir_engine.store.session(tenant) as s:
        assert s.read("Patient", "t1") is not None


def test_read_many_reads_current_versions_in_one_go(fhir_engine, tenant) -> None:  # noqa: ANN001
    """Existing ids give their current version (a deleted one its tombstone), unknown ids
    and other tenants' or types' resources nothing; the same answers `read` gives."""
    ctx = RequestContext(tenant=tenant)
    crud = fhir_engine.crud
    with fhir_engine.store.session(tenant, write=True) as s:
        for rid in ("m1", "m2", "m3"):
            crud.update(s, ctx, "Patient", rid, {"resourceType": "Patient", "id": rid})
        active = {"resourceType": "Patient", "id": "m1", "active": True}
        crud.update(s, ctx, "Patient", "m1", active)
        crud.delete(s, ctx, "Patient", "m3")
        group = {"resourceType": "Group", "id": "m2", "type": "person", "actual": True}
        crud.update(s, ctx, "Group", "m2", group)
    with fhir_engine.store.session(f"{tenant}-other", write=True) as s:
        crud.update(
            s, RequestContext(tenant=f"{tenant}-other"), "Patient", "m4",
            {"resourceType": "Patient", "id": "m4"},
        )  # fmt: skip
    with fhir_engine.store.session(tenant) as s:
        found = s.read_many("Patient", ["m1", "m2", "m3", "m4", "nope", "m1"])
        assert sorted(found) == ["m1", "m2", "m3"]
        assert found["m1"].version == 2 and b'"active":true' in found["m1"].content
        assert found["m3"].content is None  # the tombstone, as read() gives it
        for rid, stored in found.items():
            assert s.read("Patient", rid) == stored
        assert s.read_many("Patient", []) == {}
