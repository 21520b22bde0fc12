"""INS operations and the engine: merges page through every referring resource; the
read-only operations take no write session and go through the guard (visibility,
search criteria, the patients named for the audit)."""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any

import pytest

from socle.fhir.context import RequestContext
from socle.fhir.guard import Access, OpenGuard
from socle.ins import service
from tests.ins.conftest import nir, person

IPP = "urn:oid:1.2.250.1.999.3"


def _create(engine, tenant: str, resource: dict[str, Any]) -> str:  # noqa: ANN001
    ctx = service.op_context(None, tenant)
    with engine.store.session(tenant, write=True) as s:
        return engine.crud.create(s, ctx, resource["resourceType"], resource).res_id


def test_merge_repoints_more_than_a_page(ins_engine, tenant) -> None:  # noqa: ANN001
    if not ins_engine.settings.database_url.startswith("sqlite"):
        pytest.skip("the paging is the search layer's: one backend is enough")
    keep = _create(ins_engine, tenant, person(identifier=[{"system": IPP, "value": "K1"}]))
    dup = _create(
        ins_engine, tenant, person(given="Marie", identifier=[{"system": IPP, "value": "D1"}])
    )
    ctx = service.op_context(None, tenant)
    count = 1_030  # more than one page (1,000) of the compartment search
    with ins_engine.store.session(tenant, write=True) as s:
        for i in range(count):
            observation = {
                "resourceType": "Observation",
                "status": "final",
                "code": {"text": f"mesure {i}"},
                "subject": {"reference": f"Patient/{dup}"},
            }
            ins_engine.crud.create(s, ctx, "Observation", observation)
    out = service.merge(ins_engine, tenant, dup, keep)
    assert len(out["repointed"]) == count
    with ins_engine.store.session(tenant) as s:
        left = ins_engine.search.parse("Observation", [("subject", f"Patient/{dup}")])
        moved = ins_engine.search.parse("Observation", [("subject", f"Patient/{keep}")])
        assert ins_engine.search.count(s, left) == 0
        assert ins_engine.search.count(s, moved) == count
    back = service.unmerge(ins_engine, tenant, dup)
    assert len(back["restored"]) == count


@dataclasses.dataclass
class HidingGuard(OpenGuard):
    """A real Guard (the kernel's protocol) that hides some Patients from the caller, as
    a policy would, and remembers what it was asked."""

    hidden: set[str] = dataclasses.field(default_factory=set)
    shown: list[str] = dataclasses.field(default_factory=list)
    criteria_asked: list[str | None] = dataclasses.field(default_factory=list)
    reads: list[str] = dataclasses.field(default_factory=list)

    def search_criteria(self, ctx: RequestContext, res_type: str | None) -> list:
        self.criteria_asked.append(res_type)
        return [("_id:not", ",".join(sorted(self.hidden)))] if self.hidden else []

    def visible(self, ctx: RequestContext, resource: dict[str, Any]) -> bool:
        if resource.get("id") in self.hidden:
            return False
        self.shown.append(resource.get("id", ""))
        return True

    def authorize(self, ctx: RequestContext, access: Access) -> None:
        if access.action == "read" and access.res_type == "Patient":
            self.reads.append(access.res_id or "")
            if access.res_id in self.hidden:
                from socle.fhir.errors import FhirError

                raise FhirError(404, "not-found", "hidden")


@contextlib.contextmanager
def _guarded(engine, guard):  # noqa: ANN001, ANN202
    """Install `guard` and record the `write` flag of every session opened meanwhile."""
    writes: list[bool] = []
    original_guard, original_session = engine.guard, engine.store.session

    def session(tenant: str, *, write: bool = False):  # noqa: ANN202
        writes.append(write)
        return original_session(tenant, write=write)

    engine.guard, engine.store.session = guard, session
    try:
        yield writes
    finally:
        engine.guard, engine.store.session = original_guard, original_session


def test_read_only_operations_are_guarded(ins_engine, tenant) -> None:  # noqa: ANN001
    ins = nir(order=555)
    seen = _create(ins_engine, tenant, person(ins=ins, identifier=[{"system": IPP, "value": "S1"}]))
    hidden = _create(
        ins_engine, tenant, person(ins=ins, identifier=[{"system": IPP, "value": "H1"}])
    )  # the same INS: a collision, and a certain match
    guard = HidingGuard(hidden={hidden})
    ctx = RequestContext(tenant=tenant, principal="someone")
    query = person(ins=ins)
    with _guarded(ins_engine, guard) as writes:
        matches = service.match(ins_engine, tenant, query, ctx=ctx)
        assert [m.patient_id for m, _ in matches] == [seen]
        assert seen in guard.shown and hidden not in guard.shown
        worklist = service.worklist(ins_engine, tenant, ctx=ctx)
        assert not [i for i in worklist if hidden in i["patients"]]
        duplicates = service.duplicates(ins_engine, tenant, seen, ctx=ctx)
        assert [m.patient_id for m, _ in duplicates] == []
        with pytest.raises(Exception, match="hidden"):
            service.duplicates(ins_engine, tenant, hidden, ctx=ctx)
    assert writes and not any(writes)  # no write session, so no write lock either
    assert guard.reads == [seen, hidden]
    # without the guard the collision is on the worklist, with both patients
    everyone = service.worklist(ins_engine, tenant)
    assert any(i["kind"] == "collision" and set(i["patients"]) == {seen, hidden} for i in everyone)


def test_pix_is_guarded(ins_engine, ins_client, tenant) -> None:  # noqa: ANN001
    seen = _create(ins_engine, tenant, person(identifier=[{"system": IPP, "value": "P1"}]))
    hidden = _create(ins_engine, tenant, person(identifier=[{"system": IPP, "value": "P2"}]))
    guard = HidingGuard(hidden={hidden})
    with _guarded(ins_engine, guard) as writes:
        ok = ins_client.get("/fhir/Patient/$ihe-pix", params={"sourceIdentifier": f"{IPP}|P1"})
        refused = ins_client.get("/fhir/Patient/$ihe-pix", params={"sourceIdentifier": f"{IPP}|P2"})
    assert ok.status_code == 200, ok.text
    refs = [
        p["valueReference"]["reference"] for p in ok.json()["parameter"] if p["name"] == "targetId"
    ]
    assert refs == [f"Patient/{seen}"]
    assert refused.status_code == 404  # as if it did not exist
    assert "Patient" in guard.criteria_asked and guard.shown == [seen]
    assert not any(writes)


def test_bad_count_is_a_400(ins_client) -> None:  # noqa: ANN001
    r = ins_client.get("/fhir/Patient/$ins-worklist", params={"count": "many"})
    assert r.status_code == 400 and r.json()["resourceType"] == "OperationOutcome"
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "resource", "resource": person()},
            {"name": "count", "valueString": "-3"},
        ],
    }
    r = ins_client.post("/fhir/Patient/$match", json=body)
    assert r.status_code == 400 and "count" in r.text
