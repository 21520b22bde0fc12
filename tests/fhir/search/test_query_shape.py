"""The SQL shape of searches: one driving semi-join, per-owner probes for the rest, counts
skipped when the first page holds everything, counts read from the index tables, cached
aliases, the query-time limit set once per read-only transaction."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event, text

from socle.fhir.search import dialect, plan
from socle.fhir.search.clauses.base import Aliases, Scope, cached_alias
from socle.fhir.search.engine import _index_matches
from socle.fhir.storage import schema as S
from tests.fhir.search.conftest import SearchDb

LOINC = "http://loinc.org"
INS = "urn:oid:1.2.250.1.213.1.4.10"


@contextmanager
def statements(db: SearchDb) -> Iterator[list[str]]:
    """The SQL text of every statement sent while the block runs."""
    seen: list[str] = []

    def listen(conn, cursor, statement, params, context, executemany) -> None:  # noqa: ANN001, ARG001
        seen.append(statement)

    engine = db.store.engine
    event.listen(engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", listen)


def searches(seen: list[str]) -> list[str]:
    """The statements that read `resource` rows through the index tables (not the fetch)."""
    return [s for s in seen if "idx_" in s and s.lstrip().upper().startswith(("SELECT", "WITH"))]


def observation(oid: str, patient: str, code: str, when: str, kg: float | None = None) -> dict:
    res = {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": when,
    }
    if kg is not None:
        res["valueQuantity"] = {
            "value": kg,
            "unit": "kg",
            "system": "http://unitsofmeasure.org",
            "code": "kg",
        }
    return res


@pytest.fixture
def obs(db: SearchDb) -> SearchDb:
    for p in ("p1", "p2", "p3"):
        db.put(
            {
                "resourceType": "Patient",
                "id": p,
                "name": [{"family": "Durand", "given": [p]}],
                "identifier": [{"system": INS, "value": f"ins-{p}"}],
                "birthDate": "1970-01-0" + p[-1],
            }
        )
    n = 0
    for p in ("p1", "p2", "p3"):
        for day in range(1, 9):
            n += 1
            db.put(observation(f"w{n}", p, "29463-7", f"2024-03-0{day}", 60 + n))
            db.put(observation(f"h{n}", p, "8867-4", f"2024-03-0{day}"))
    return db


# --- which criterion drives -------------------------------------------------------------


def test_the_most_selective_criterion_drives(engine) -> None:  # noqa: ANN001
    def driver(rtype: str, params: list[tuple[str, str]]) -> str | None:
        query = engine.parse(rtype, params)
        index = plan.driver(query.criteria, query.compartment is not None)
        return None if index is None else params[index][0]

    assert driver("Observation", [("code", f"{LOINC}|1"), ("subject", "Patient/1")]) == "subject"
    assert driver("Patient", [("family", "durand"), ("identifier", f"{INS}|1")]) == "identifier"
    assert driver("Patient", [("family", "durand"), ("birthdate", "1970-01-01")]) == "birthdate"
    assert driver("Patient", [("family", "du"), ("given", "jean")]) == "given"  # short prefix
    assert driver("Observation", [("code", f"{LOINC}|1"), ("date", "ge2024")]) == "code"
    assert driver("Observation", [("code", f"{LOINC}|1"), ("date", "2024-03-05")]) == "date"
    # a reference into the shared directory is a weaker start than a patient's
    params = [("performer", "Practitioner/1"), ("subject", "Patient/1")]
    assert driver("Observation", params) == "subject"
    # _id is answered by the resource table's unique index: no index criterion drives
    assert driver("Patient", [("family", "durand"), ("_id", "p1")]) is None
    # a negation never drives
    assert driver("Condition", [("clinical-status:not", "resolved")]) is None
    chain = [("code", f"{LOINC}|1"), ("subject:Patient.identifier", f"{INS}|1")]
    assert driver("Observation", chain) == "subject:Patient.identifier"


def test_one_semi_join_and_probes(obs: SearchDb) -> None:
    params = [("code", f"{LOINC}|29463-7"), ("subject", "Patient/p1"), ("date", "ge2024")]
    with statements(obs) as seen:
        assert len(obs.ids("Observation", params)) == 8
    page = searches(seen)[0]
    assert page.count(" IN (SELECT") == 1  # the subject drives
    assert page.count("EXISTS (SELECT") == 2  # code and date are probed per owner
    in_part = page[page.index(" IN (SELECT") :]
    assert "idx_reference" in in_part.split("EXISTS")[0]
    if obs.backend == "postgresql":
        assert "OFFSET" in page  # probes kept as such (not reordered into joins)


def test_pk_probes_filter_the_driver_on_postgres(obs: SearchDb) -> None:
    """PostgreSQL tests the probes that need only the owner's pk on the driver's rows,
    inside its semi-join, so that only matches are read from `resource`; SQLite probes
    each owner. ``_lastUpdated`` needs the owner row: it stays outside."""
    params = [("code", f"{LOINC}|29463-7"), ("subject", "Patient/p1"), ("_lastUpdated", "ge2000")]
    with statements(obs) as seen:
        assert len(obs.ids("Observation", params)) == 8
    page = searches(seen)[0]
    inside = "t0.resource_pk = ref0.resource_pk" in page
    assert inside == (obs.backend == "postgresql"), page
    assert ("t0.resource_pk = r0.pk" in page) == (obs.backend == "sqlite"), page
    assert "r0.last_updated" in page
    assert obs.ids("Observation", params[:2] + [("_lastUpdated", "lt2000")]) == []


def test_probes_use_the_per_resource_index(obs: SearchDb) -> None:
    """EXPLAIN of the page statement: the probe of one resource's rows goes through
    ix_idx_token_resource on PostgreSQL; on SQLite a ``system|code`` probe is one lookup of
    ix_idx_token_pk, every column stated (covering: no row of the table is read)."""
    params = [("subject", "Patient/p1"), ("code", f"{LOINC}|29463-7")]
    captured: list[tuple[str, object]] = []

    def listen(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001, ARG001
        if "idx_token" in statement:
            captured.append((statement, parameters))

    event.listen(obs.store.engine, "before_cursor_execute", listen)
    try:
        obs.ids("Observation", params)
    finally:
        event.remove(obs.store.engine, "before_cursor_execute", listen)
    sql, parameters = captured[0]
    with obs.store.session(obs.tenant) as s:
        prefix = "EXPLAIN QUERY PLAN " if obs.backend == "sqlite" else "EXPLAIN "
        rows = s.conn.exec_driver_sql(prefix + sql, parameters).all()
    plan_text = " | ".join(str(r[-1]) for r in rows)
    if obs.backend == "sqlite":
        probe = "COVERING INDEX ix_idx_token_pk (tenant=? AND res_type=? AND param=? AND code=?"
        assert probe in plan_text and "resource_pk=?)" in plan_text, plan_text
    else:
        assert "ix_idx_token_resource" in plan_text, plan_text  # the probe
    assert "ix_idx_reference_" in plan_text, plan_text  # the driver


def test_results_do_not_depend_on_the_driver(obs: SearchDb, monkeypatch) -> None:  # noqa: ANN001
    queries = [
        [("code", f"{LOINC}|29463-7"), ("subject", "Patient/p2"), ("date", "le2024-03-04")],
        [("subject:Patient.identifier", f"{INS}|ins-p3"), ("code", f"{LOINC}|8867-4")],
        [("code", f"{LOINC}|8867-4"), ("subject:Patient.family", "durand")],
        [("value-quantity", "gt70"), ("code", f"{LOINC}|29463-7")],
    ]
    expected = [sorted(obs.ids("Observation", q, count=100)) for q in queries]
    for forced in range(3):

        def driver(criteria, compartment=False, forced=forced):  # noqa: ANN001, ANN202
            return forced if forced < len(criteria) else None

        monkeypatch.setattr(plan, "driver", driver)
        got = [sorted(obs.ids("Observation", q, count=100)) for q in queries]
        assert got == expected
    has = [("_has:Observation:subject:code", f"{LOINC}|29463-7"), ("family", "durand")]
    assert obs.idset("Patient", has) == {"p1", "p2", "p3"}


@pytest.mark.parametrize("cap", [1, 100_000])
def test_results_do_not_depend_on_the_density(obs: SearchDb, monkeypatch, cap: int) -> None:  # noqa: ANN001
    """Dense drivers (measured at or above the cap: on SQLite, nothing drives; on
    PostgreSQL, pk order) and sparse ones (below: the driver leads) give the same pages."""
    queries = [
        [("code", f"{LOINC}|29463-7"), ("date", "le2024-03-04")],
        [("code", f"{LOINC}|8867-4"), ("date", "ge2024-03-03"), ("_count", "4")],
        [("value-quantity", "gt70"), ("code", f"{LOINC}|29463-7"), ("_count", "3")],
    ]

    def walk(params: list[tuple[str, str]]) -> tuple[list[str], int | None]:
        page, seen = obs.page("Observation", params), []
        total = page.total
        while True:
            seen += obs.names(page.pks)
            if page.next_cursor is None:
                return seen, total
            page = obs.page("Observation", params, cursor=page.next_cursor)

    expected = [walk(q) for q in queries]
    monkeypatch.setattr(plan, "PROBE_CAP", cap)
    assert [walk(q) for q in queries] == expected
    assert [len(e[0]) for e in expected] == [12, 18, 14]
    assert [e[1] for e in expected] == [12, 18, 14]


# --- totals -------------------------------------------------------------------------------


def test_no_count_when_the_first_page_holds_everything(obs: SearchDb) -> None:
    with statements(obs) as seen:
        page = obs.page("Observation", [("subject", "Patient/p1"), ("code", f"{LOINC}|8867-4")])
    assert page.total == 8 and len(page.pks) == 8 and page.next_cursor is None
    assert not any("count(" in s.lower() for s in seen)


def test_count_when_the_first_page_is_full(obs: SearchDb) -> None:
    params = [("code", f"{LOINC}|8867-4"), ("_count", "5")]
    with statements(obs) as seen:
        page = obs.page("Observation", params)
    assert page.total == 24 and len(page.pks) == 5
    counts = [s for s in seen if "count(" in s.lower() and "LIMIT" not in s]  # not a measure
    assert len(counts) == 1
    assert "FROM resource" not in counts[0]  # read from the index table alone
    # the next pages carry the total: no count again
    with statements(obs) as seen:
        second = obs.page("Observation", params, cursor=page.next_cursor)
    assert second.total == 24
    assert not any("count(" in s.lower() and "LIMIT" not in s for s in seen)


def test_count_within_the_page_query_when_it_reads_every_match(obs: SearchDb) -> None:
    """Sorted (or :contains, _has…) searches evaluate every match for their first page:
    the total comes from the same statement (a materialised CTE read by the page and by
    its count), not a second one."""
    params = [("code", f"{LOINC}|8867-4"), ("_sort", "-date"), ("_count", "5")]
    with statements(obs) as seen:
        page = obs.page("Observation", params)
    assert page.total == 24 and len(page.pks) == 5
    page_sql = [s for s in searches(seen) if "ORDER BY" in s]
    assert len(page_sql) == 1 and "MATERIALIZED" in page_sql[0] and "count(*)" in page_sql[0]
    assert not any(s.lstrip().startswith("SELECT count(*)") for s in seen)
    has = [("_has:Observation:subject:code", f"{LOINC}|8867-4"), ("_count", "2")]
    assert obs.page("Patient", has).total == 3
    none = obs.page("Observation", [*params[:2], ("subject", "Patient/nobody")])
    assert none.total == 0 and none.pks == []


def test_a_lone_dense_criterion_is_walked_in_pk_order_on_sqlite(obs: SearchDb, monkeypatch) -> None:  # noqa: ANN001, E501
    monkeypatch.setattr(plan, "DENSE_ROWS", 5)
    params = [("code", f"{LOINC}|8867-4"), ("_count", "5")]
    with statements(obs) as seen:
        page = obs.page("Observation", params)
    page_sql = [s for s in searches(seen) if "ORDER BY" in s][0]
    if obs.backend == "sqlite":
        assert " IN (SELECT" not in page_sql and "EXISTS" in page_sql
    else:
        assert " IN (SELECT" in page_sql  # PostgreSQL chooses its join order itself
    assert page.total == 24 and len(obs.names(page.pks)) == 5


def test_unsure_guesses_are_measured(obs: SearchDb) -> None:
    """code (every weight) against a rare value: the index says which is smaller."""
    params = [
        ("code", f"{LOINC}|29463-7"),
        ("value-quantity", "gt100000|http://unitsofmeasure.org|g"),
    ]
    query = obs.engine.parse("Observation", params)
    assert plan.driver(query.criteria) == 0  # the static guess: the code
    with obs.store.session(obs.tenant) as s:
        scope = Scope(s.tenant, s.conn.dialect.name)
        assert obs.engine._driver(s, query, scope)[0] == 1  # noqa: SLF001
        # the smaller of two measured criteria
        many = obs.engine.parse("Observation", [params[0], ("date", "le2030")])
        assert obs.engine._driver(s, many, scope)[0] == 0  # noqa: SLF001
    assert obs.ids("Observation", params) == []
    assert len(obs.ids("Observation", [params[0], ("value-quantity", "gt80")], count=100)) == 4


def test_the_driver_is_measured_once(obs: SearchDb, monkeypatch) -> None:  # noqa: ANN001
    """Two unsure criteria, both measured at or above `plan.PROBE_CAP`: each is measured
    once, the guess that may hold the probes on PostgreSQL (`_pushing`) up to
    `SMALL_ROWS` at once rather than twice."""
    monkeypatch.setattr(plan, "PROBE_CAP", 1)
    params = [("code", f"{LOINC}|29463-7"), ("date", "le2024-03-04")]
    with statements(obs) as seen:
        assert len(obs.ids("Observation", params, count=100)) == 12
    measures = [s for s in seen if "count(" in s.lower() and "LIMIT" in s]
    assert len(measures) == 2, measures
    assert sum("idx_token" in s for s in measures) == 1, measures


def test_exact_page_size_still_counts(obs: SearchDb) -> None:
    page = obs.page(
        "Observation", [("subject", "Patient/p1"), ("code", f"{LOINC}|8867-4")], count=8
    )
    assert page.total == 8 and page.next_cursor is None


def test_total_none_and_summary_count(obs: SearchDb) -> None:
    params = [("code", f"{LOINC}|8867-4"), ("_total", "none")]
    assert obs.page("Observation", params).total is None
    assert obs.page("Observation", [*params[:1], ("_summary", "count")]).total == 24
    assert obs.page("Observation", [*params[:1], ("_total", "estimate")]).total == 24


def test_index_count_ignores_deleted_and_other_tenants(obs: SearchDb) -> None:
    obs.delete("Observation", "h1")
    obs.put(observation("h2", "p1", "29463-7", "2024-03-02"))  # no longer a heart rate
    other = SearchDb(obs.store, obs.tenant + "x", obs.engine.limits)
    other.put(observation("h1", "p1", "8867-4", "2024-03-01"))
    params = [("code", f"{LOINC}|8867-4"), ("_count", "2")]
    assert obs.page("Observation", params).total == 22
    assert obs.page("Observation", [*params, ("date", "le2024-03-04")]).total == 10
    chained = [*params, ("subject:Patient.given", "p1")]
    assert obs.page("Observation", chained).total == 6
    negated = [*params, ("code:not", f"{LOINC}|29463-7")]
    assert obs.page("Observation", negated).total == 22
    assert other.page("Observation", params).total == 1


def test_index_matches_only_when_the_owner_row_is_not_needed(engine) -> None:  # noqa: ANN001
    scope = Scope("t", "sqlite")

    def by_index(params: list[tuple[str, str]]) -> bool:
        query = engine.parse("Observation", params)
        return _index_matches(query, scope.fresh(), plan.driver(query.criteria)) is not None

    assert by_index([("code", f"{LOINC}|1")])
    assert by_index([("code", f"{LOINC}|1"), ("subject:Patient.family", "x")])
    assert by_index([("code", f"{LOINC}|1"), ("code:not", f"{LOINC}|2")])
    assert not by_index([("code", f"{LOINC}|1"), ("_lastUpdated", "ge2020")])
    assert not by_index([("code", f"{LOINC}|1"), ("_has:Observation:has-member:code", "x")])
    assert not by_index([("code:not", f"{LOINC}|1")])  # nothing drives


# --- aliases --------------------------------------------------------------------------------


def test_aliases_are_cached_and_distinct_within_a_statement() -> None:
    a, b = Aliases(), Aliases()
    first, second = a.take(S.idx_token), a.take(S.idx_token)
    assert first is not second and first.name == "t0" and second.name == "t1"
    assert b.take(S.idx_token) is first  # the next statement reuses the same objects
    assert cached_alias(S.resource, 0).name == "r0"


def test_deep_chains_keep_their_aliases_apart(obs: SearchDb) -> None:
    params = [
        ("subject:Patient._has:Observation:subject:code", f"{LOINC}|29463-7"),
        ("subject:Patient.identifier", f"{INS}|ins-p2"),
    ]
    assert len(obs.ids("Observation", params, count=100)) == 16


# --- query-time limit -----------------------------------------------------------------------


def _timeout(s) -> str:  # noqa: ANN001
    return s.conn.execute(text("SHOW statement_timeout")).scalar_one()


def test_read_only_transaction_sets_the_timeout_once(obs: SearchDb) -> None:
    if obs.backend != "postgresql":
        pytest.skip("statement_timeout is PostgreSQL's")
    query = obs.engine.parse("Patient", [("family", "durand")])
    with obs.store.session(obs.tenant) as s:  # the store marks it read-only
        before = _timeout(s)
        with statements(obs) as seen:
            obs.engine.search(s, query)
            obs.engine.search(s, query)
        sets = [x for x in seen if "statement_timeout" in x]
        assert len(sets) == 1 and "set_config" in sets[0]
        assert s.conn.execute(text("SHOW jit")).scalar_one() == "off"  # for the connection
        assert _timeout(s) == "10s"  # kept until the end of this read-only transaction
    with obs.store.session(obs.tenant) as s:
        assert _timeout(s) == before  # SET LOCAL ends with the transaction


def test_write_transaction_gets_its_timeout_back(obs: SearchDb) -> None:
    if obs.backend != "postgresql":
        pytest.skip("statement_timeout is PostgreSQL's")
    query = obs.engine.parse("Patient", [("family", "durand")])
    with obs.store.session(obs.tenant, write=True) as s:
        before = _timeout(s)
        obs.engine.search(s, query)
        assert _timeout(s) == before
        with dialect.time_limit(s, 3):
            assert _timeout(s) == "3s"
        assert _timeout(s) == before


def test_writes_is_told_by_the_store(obs: SearchDb) -> None:
    with obs.store.session(obs.tenant, write=True) as s:
        assert dialect.writes(s)
    with obs.store.session(obs.tenant) as s:
        assert not dialect.writes(s)
    assert dialect.writes(object())  # unknown sessions are treated as writing (safe side)


# --- _has probes against a hashed set (PostgreSQL) ------------------------------------------


# (params, patients found, the _has is a probe whose set PostgreSQL may hash)
HAS_QUERIES = [
    ([("family", "durand"), ("_has:Observation:subject:code", f"{LOINC}|29463-7")], "123", True),
    ([("given", "p2"), ("_has:Observation:subject:date", "2024-03-03")], "2", False),  # drives
    ([("family", "durand"), ("_has:Observation:subject:code:not", "8867-4")], "123", False),
    ([("family", "dur"), ("_has:Observation:subject:value-quantity", "gt80||kg")], "3", True),
    ([("birthdate", "1970"), ("_has:Observation:subject:code", "nope")], "", True),
]


@pytest.mark.parametrize(("params", "found", "probed"), HAS_QUERIES, ids=lambda p: str(p)[:60])
def test_has_probe_answers_alike_hashed_or_probed(
    obs: SearchDb,
    monkeypatch,  # noqa: ANN001
    params: list[tuple[str, str]],
    found: str,
    probed: bool,
) -> None:
    """The ``_has`` probe against a hashed set (PostgreSQL, estimate under the cap), the
    per-referrer probe (cap 0: never hashed) and a search driven by the ``_has`` itself
    return the same patients."""
    from socle.fhir.search import chain

    expected = {f"p{n}" for n in found}
    for cap in (chain.HASHED_ROWS, 0):
        monkeypatch.setattr(chain, "HASHED_ROWS", cap)
        with statements(obs) as seen:
            assert obs.idset("Patient", params) == expected, cap
        hashed = any(re.search(r"\) IS (true|1)\b", x) for x in seen)
        assert hashed == (obs.backend == "postgresql" and probed and cap > 0)
    monkeypatch.setattr(plan, "driver", lambda criteria, compartment=False: 1)
    assert obs.idset("Patient", params) == expected


def test_has_probe_hashes_its_set_once_on_postgres(obs: SearchDb) -> None:
    if obs.backend != "postgresql":
        pytest.skip("the hashed form is PostgreSQL's")
    params = [("family", "durand"), ("_has:Observation:subject:code", f"{LOINC}|29463-7")]
    query = obs.engine.parse("Patient", params)
    captured: list[tuple[str, object]] = []

    def grab(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001, ARG001
        captured.append((statement, parameters))

    with obs.store.session(obs.tenant) as s:
        event.listen(obs.store.engine, "before_cursor_execute", grab)
        try:
            assert len(obs.engine.search(s, query).pks) == 3
        finally:
            event.remove(obs.store.engine, "before_cursor_execute", grab)
        sql, values = next((x, v) for x, v in captured if "IS true" in x)
        assert sum("EXPLAIN" in x for x, _ in captured) == 1  # the estimate of the set
        raw = s.conn.connection.dbapi_connection
        with raw.cursor() as cur:
            cur.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + sql, values)
            text_plan = "\n".join(row[0] for row in cur.fetchall())
    assert "hashed SubPlan" in text_plan, text_plan


def test_index_count_counts_resources_not_rows(obs: SearchDb) -> None:
    """Rows that repeat a value for one resource (two codings of one code with other
    displays, an identifier with two types) count once in the total read from the
    index (count(DISTINCT resource_pk))."""
    twice = observation("twice", "p1", "8867-4", "2024-03-01")
    twice["code"]["coding"].append({"system": LOINC, "code": "8867-4", "display": "FC"})
    obs.put(twice)
    params = [("code", f"{LOINC}|8867-4"), ("_count", "2")]
    with statements(obs) as seen:
        assert obs.page("Observation", params).total == 25
    counts = [s for s in seen if "count(" in s.lower() and "LIMIT" not in s]
    assert len(counts) == 1
    assert "count(DISTINCT" in counts[0]
    for pid in ("x1", "x2"):
        obs.put(
            {
                "resourceType": "Patient",
                "id": pid,
                "identifier": [
                    {
                        "system": "urn:ipp",
                        "value": "42",
                        "type": {"coding": [{"code": "PI"}, {"code": "MR"}]},
                    }
                ],
            }
        )
    assert obs.page("Patient", [("identifier", "urn:ipp|42"), ("_count", "1")]).total == 2
    with obs.store.session(obs.tenant) as s:
        query = obs.engine.parse("Observation", [("code", f"{LOINC}|8867-4")])
        assert obs.engine.count(s, query) == 25
