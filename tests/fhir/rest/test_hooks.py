"""Services refuse writes through validators and hooks: 422 with their OperationOutcome."""

from __future__ import annotations

from socle.fhir.errors import FhirError, Issue
from tests.fhir.rest.helpers import patient


def test_write_validator_error_gives_422_and_writes_nothing(client, fhir_engine) -> None:  # noqa: ANN001
    def no_martin(resource):  # noqa: ANN001, ANN202
        names = [n.get("family") for n in resource.get("name", [])]
        if "Interdit" in names:
            return [
                Issue(
                    "error",
                    "business-rule",
                    "family Interdit is refused",
                    ["Patient.name[0].family"],
                )
            ]
        return [Issue("warning", "informational", "checked")]

    fhir_engine.write_validators.append(no_martin)
    try:
        r = client.post("/fhir/Patient", json=patient(family="Interdit"))
        assert r.status_code == 422
        issue = r.json()["issue"][0]
        assert issue["code"] == "business-rule" and issue["expression"] == [
            "Patient.name[0].family"
        ]
        ok = client.post(
            "/fhir/Patient", json=patient(), headers={"Prefer": "return=OperationOutcome"}
        )
        assert ok.status_code == 201
        assert ok.json()["issue"][0]["diagnostics"] == "checked"
        total = client.get("/fhir/Patient?_summary=count").json()["total"]
        assert total == 1
    finally:
        fhir_engine.write_validators.remove(no_martin)


def test_write_hook_can_refuse(client, fhir_engine) -> None:  # noqa: ANN001
    def frozen(_s, _ctx, resource, created):  # noqa: ANN001, ANN202
        if not created and resource.get("resourceType") == "Patient":
            raise FhirError(422, "business-rule", "Patients are frozen once created")

    fhir_engine.hooks.write.append(frozen)
    try:
        body = client.post("/fhir/Patient", json=patient()).json()
        r = client.put(f"/fhir/Patient/{body['id']}", json={**body, "gender": "male"})
        assert r.status_code == 422
        assert client.get(f"/fhir/Patient/{body['id']}").json()["gender"] == "female"
    finally:
        fhir_engine.hooks.write.remove(frozen)


class _ConfiningGuard:
    """A test guard: only family Visible is searchable; Hidden reads are refused."""

    checks_replaced = True

    def authorize(self, ctx, access):  # noqa: ANN001, ANN201
        res = access.resource or {}
        if access.action == "read" and res.get("name", [{}])[0].get("family") == "Hidden":
            raise FhirError(404, "not-found", "not for you")

    def search_criteria(self, ctx, res_type):  # noqa: ANN001, ANN201
        return [("family", "Visible")] if res_type == "Patient" else []

    def visible(self, ctx, resource):  # noqa: ANN001, ANN201
        return resource.get("gender") != "unknown"

    def check_query(self, ctx, res_type, criteria):  # noqa: ANN001, ANN201
        return None

    def record(self, ctx, access, outcome):  # noqa: ANN001, ANN201
        return None


def test_guard_confines_search_totals_and_reads(client, fhir_engine) -> None:  # noqa: ANN001
    from socle.fhir.guard import OpenGuard

    hidden = client.post("/fhir/Patient", json=patient(family="Hidden")).json()["id"]
    client.post("/fhir/Patient", json=patient(family="Visible"))
    client.post("/fhir/Patient", json=patient(family="Visible", gender="unknown"))
    fhir_engine.guard = _ConfiningGuard()
    try:
        found = client.get("/fhir/Patient?_total=accurate").json()
        # visible() hides one match: the total counts only what may be seen
        assert found["total"] == 1
        assert [e["resource"]["gender"] for e in found["entry"]] == ["female"]
        fhir_engine.guard.exact_criteria = True  # a guard filtering by criteria alone
        counted = client.get("/fhir/Patient?gender=female").json()
        assert counted["total"] == 1  # the confinement is a criterion, so totals honour it
        assert client.get(f"/fhir/Patient/{hidden}").status_code == 404
        lenient = client.get("/fhir/Patient?family=Hidden", headers={"Prefer": "handling=lenient"})
        assert lenient.json()["total"] == 0
    finally:
        fhir_engine.guard = OpenGuard()


def test_output_hook_reshapes_reads_and_searches(client, fhir_engine) -> None:  # noqa: ANN001
    def redact(_ctx, resource):  # noqa: ANN001, ANN202
        return {k: v for k, v in resource.items() if k != "birthDate"}

    fhir_engine.hooks.add_output("Patient", redact)
    try:
        pid = client.post("/fhir/Patient", json=patient()).json()["id"]
        assert "birthDate" not in client.get(f"/fhir/Patient/{pid}").json()
        entry = client.get("/fhir/Patient").json()["entry"][0]["resource"]
        assert "birthDate" not in entry and entry["id"] == pid
        stored = client.get("/fhir/Patient?birthdate=1980-04-12").json()
        assert stored["total"] == 1  # the hook changes what leaves, not what is indexed
    finally:
        fhir_engine.hooks.output.pop("Patient")


def test_conditional_query_is_parsed_once_and_confined(fhir_engine, tenant) -> None:  # noqa: ANN001
    """A conditional match asks the guard about the query's criteria and adds the guard's
    confinement, parsing the query once (the confinement is parsed on its own)."""
    from socle.fhir.context import RequestContext
    from socle.fhir.guard import OpenGuard

    ctx = RequestContext(tenant=tenant)
    crud, search = fhir_engine.crud, fhir_engine.search
    with fhir_engine.store.session(tenant, write=True) as s:
        for family in ("Visible", "Hidden"):
            crud.create(s, ctx, "Patient", {**patient(family=family), "gender": "other"})
    parsed: list[list] = []
    original = search.parse
    seen: list = []

    class Spy(_ConfiningGuard):
        def check_query(self, ctx, res_type, criteria):  # noqa: ANN001, ANN201
            seen.append([c.code for c in criteria])

    def spy(res_type, params):  # noqa: ANN001, ANN202
        parsed.append(list(params))
        return original(res_type, params)

    search.parse = spy
    fhir_engine.guard = Spy()
    try:
        with fhir_engine.store.session(tenant) as s:
            found = crud.conditional_match(s, ctx, "Patient", "gender=other")
    finally:
        fhir_engine.guard = OpenGuard()
        del search.parse
    assert len(found) == 1  # the Hidden one is outside the confinement
    assert parsed == [[("gender", "other")], [("family", "Visible")]]
    assert seen == [["gender"]]


def test_a_guard_that_does_not_say_it_audits_gets_every_interaction(client, fhir_engine) -> None:  # noqa: ANN001
    """A guard written before the `audits` flag existed gets the safe answer: the REST
    layer hands it each interaction to record; the open guard (audits = False) does not."""
    from socle.fhir.guard import OpenGuard

    class Recording(_ConfiningGuard):
        def __init__(self) -> None:
            self.recorded: list[tuple[str, int]] = []

        def record(self, ctx, access, outcome):  # noqa: ANN001, ANN201
            self.recorded.append((access.action, outcome))

    created = client.post("/fhir/Patient", json=patient(family="Visible")).json()["id"]
    guard = Recording()
    assert not hasattr(guard, "audits")
    fhir_engine.guard = guard
    try:
        assert client.get(f"/fhir/Patient/{created}").status_code == 200
    finally:
        fhir_engine.guard = OpenGuard()
    assert guard.recorded == [("read", 200)]
