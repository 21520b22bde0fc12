"""PostgreSQL searches on tables without planner statistics (loaded, not yet analysed).

A database is searched as soon as it is loaded, before autovacuum has analysed it (or
with autovacuum off). Without statistics PostgreSQL takes ``resource.tenant = :t AND
resource.res_type = :type`` for a single row, and used to start a nested loop from
``ix_resource_type_updated`` that ran the small driver again for every resource of the
type: ``Observation?subject=Patient/x&code=…`` re-read the patient's references and
probed their codes for each of the 57,000 Observations of the mixed CRUD benchmark (≈ 2 s
alone, 10 s and a 400 too-costly under load). These tests load a few thousand resources
into a private schema whose tables are never analysed (autovacuum off for them), run the
searches through the engine and check the plan PostgreSQL ran for them (``EXPLAIN
ANALYZE`` of the statement the engine sent): `resource` is read through its primary key
only, and the driving index scan runs once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from sqlalchemy import event

from socle.fhir.indexing.extract import IndexExtractor
from socle.fhir.indexing.registry import default_registry
from socle.fhir.search import SearchEngine
from socle.fhir.storage.database import create_db_engine
from socle.fhir.storage.migrate import migrate
from socle.fhir.storage.store import ResourceStore
from tests.fhir.search.conftest import BASE

LOINC = "http://loinc.org"
INS = "urn:oid:1.2.250.1.213.1.4.10"
PATIENTS = 80
CODES = ("29463-7", "8867-4", "8310-5", "2339-0", "8302-2")  # 5 Observations of each
WEIGHT = CODES[0]


def _patient(n: int) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": f"p{n}",
        "identifier": [{"system": INS, "value": f"1{n:014d}"}],
        "name": [{"family": f"Family{n % 7}", "given": [f"Given{n}"]}],
        "birthDate": f"19{50 + n % 40}-01-01",
    }


def _observation(n: int, code: str, k: int) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"o{n}-{code}-{k}",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": f"Patient/p{n}"},
        "effectiveDateTime": f"2024-0{1 + k}-1{k}",
        "valueQuantity": {"value": 60 + k, "unit": "kg", "system": "http://unitsofmeasure.org"},
    }


@pytest.fixture(scope="module")
def store(pg_module_url: str) -> Iterator[ResourceStore]:
    """A store on a private schema, loaded, whose tables never get statistics."""
    engine = create_db_engine(pg_module_url, pool_size=2)
    migrate(engine)
    with engine.begin() as conn:
        tables = conn.exec_driver_sql(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        ).scalars()
        for table in list(tables):
            conn.exec_driver_sql(f'ALTER TABLE "{table}" SET (autovacuum_enabled = false)')
    store = ResourceStore(engine)
    extractor = IndexExtractor(default_registry(), base_url=BASE)
    resources = [_patient(n) for n in range(PATIENTS)]
    resources += [
        _observation(n, code, k) for n in range(PATIENTS) for code in CODES for k in range(5)
    ]
    clock = 1_700_000_000_000_000
    with store.session("default", write=True) as s:
        for i, res in enumerate(resources):
            s.write(
                res["resourceType"],
                res["id"],
                current=None,
                content=orjson.dumps(res),
                last_updated=clock + i,
                method="PUT",
                index_entries=extractor.extract(res),
            )
    yield store
    store.dispose()


@pytest.fixture(scope="module")
def search() -> SearchEngine:
    return SearchEngine(default_registry(), base_url=BASE)


def _statistics(store: ResourceStore) -> int:
    with store.engine.connect() as conn:
        sql = "SELECT count(*) FROM pg_stats WHERE schemaname = current_schema()"
        return int(conn.exec_driver_sql(sql).scalar_one())


def _page_statement(store: ResourceStore, run: Callable[[], Any]) -> tuple[str, Any]:
    """The statement (and its parameters) that `run` sent to read `resource` rows."""
    seen: list[tuple[str, Any]] = []

    def listen(conn, cursor, statement, params, context, executemany) -> None:  # noqa: ANN001, ARG001
        seen.append((statement, params))

    event.listen(store.engine, "before_cursor_execute", listen)
    try:
        run()
    finally:
        event.remove(store.engine, "before_cursor_execute", listen)
    pages = [(sql, p) for sql, p in seen if "FROM resource AS r0" in sql and "idx_" in sql]
    assert len(pages) == 1, [sql for sql, _ in seen]
    return pages[0]


def _nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", ()):
        yield from _nodes(child)


def _executed_plan(store: ResourceStore, sql: str, params: Any) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        found = conn.exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params).scalar()
        conn.rollback()
    plan = orjson.loads(found) if isinstance(found, str | bytes) else found
    return list(_nodes(plan[0]["Plan"]))


def _assert_driver_first(store: ResourceStore, run: Callable[[], Any], driving: str) -> None:
    """`resource` only through ``resource_pkey``; the `driving` index table's rows are
    read once (the per-owner probes, ``resource_pk = …``, run once per driver row)."""
    sql, params = _page_statement(store, run)
    nodes = _executed_plan(store, sql, params)
    owners = [n for n in nodes if n.get("Relation Name") == "resource"]
    assert owners, nodes
    for node in owners:
        how = (node["Node Type"], node.get("Index Name"))
        assert how[1] == "resource_pkey", how
    drivers = [
        n
        for n in nodes
        if n.get("Relation Name") == driving and "resource_pk =" not in n.get("Index Cond", "")
    ]
    assert drivers, nodes
    assert all(n["Actual Loops"] == 1 for n in drivers), [n["Actual Loops"] for n in drivers]


def _queries(store: ResourceStore, search: SearchEngine) -> list[tuple[Callable[[], Any], str]]:
    def page(rtype: str, params: list[tuple[str, str]], expected: int) -> Callable[[], Any]:
        def run() -> None:
            query = search.parse(rtype, params)
            with store.session("default") as s:
                found = search.search(s, query)
            assert len(found.pks) == expected

        return run

    def conditional() -> None:
        with store.session("default") as s:
            assert len(search.find_pks(s, "Patient", [("identifier", f"{INS}|1{41:014d}")])) == 1

    weights = [("subject", "Patient/p37"), ("code", f"{LOINC}|{WEIGHT}")]
    return [
        (page("Observation", weights, 5), "idx_reference"),
        (page("Patient", [("identifier", f"{INS}|1{12:014d}")], 1), "idx_token"),
        (conditional, "idx_token"),
    ]


def test_small_drivers_lead_on_tables_without_statistics(
    store: ResourceStore, search: SearchEngine
) -> None:
    if _statistics(store):  # as loaded, there are none (autovacuum off for these tables)
        pytest.skip("another session analysed this schema (a database-wide ANALYZE)")
    for run, driving in _queries(store, search):
        _assert_driver_first(store, run, driving)


def test_small_drivers_lead_once_analysed(store: ResourceStore, search: SearchEngine) -> None:
    """After ANALYZE the plan is the same (PostgreSQL chose it from its statistics)."""
    with store.engine.begin() as conn:
        tables = conn.exec_driver_sql(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        ).scalars()
        for table in list(tables):
            conn.exec_driver_sql(f'ANALYZE "{table}"')
    assert _statistics(store) > 0
    for run, driving in _queries(store, search):
        _assert_driver_first(store, run, driving)
