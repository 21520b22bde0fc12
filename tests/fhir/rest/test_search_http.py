"""Search over HTTP, on both backends: errors, lenient handling and its outcome entry,
injection attempts, paging while writing, result parameters, the request forms (GET,
POST _search, system, compartment) and queries written as in the FHIR search spec.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from socle.fhir.search import SearchLimits, dialect
from tests.fhir.rest.helpers import FHIR, issue_codes

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
INS = "urn:oid:1.2.250.1.213.1.4.10"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
LENIENT = {"Prefer": "handling=lenient"}


def _put(resource: dict[str, Any]) -> dict[str, Any]:
    url = f"{resource['resourceType']}/{resource['id']}"
    return {"resource": resource, "request": {"method": "PUT", "url": url}}


def load(client, *resources: dict[str, Any]) -> None:  # noqa: ANN001
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [_put(r) for r in resources],
    }
    r = client.post("/fhir", json=bundle, headers={"Content-Type": FHIR})
    assert r.status_code == 200, r.text


def patient(pid: str, family: str, given: str, birth: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": pid,
        "name": [{"family": family, "given": [given]}],
        "birthDate": birth,
        **extra,
    }


def quantity(value: float, code: str) -> dict[str, Any]:
    return {"value": value, "unit": code, "system": UCUM, "code": code}


def coding(code: str, system: str = LOINC) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


DATA = [
    patient(
        "p1",
        "Lefèvre",
        "Geneviève",
        "1985-06-15",
        identifier=[{"system": INS, "value": "285066912345607"}],
        gender="female",
    ),
    patient("p2", "N'Diaye", "Jean-Éric", "1979-12-31", gender="male"),
    patient("p3", "Dupont-Moreau", "Ève", "1990-01-01", gender="female"),
    patient("p4", "Martin", "Léa", "1980-01-01", gender="female"),
    {
        "resourceType": "Observation",
        "id": "o-weight-80",
        "status": "final",
        "code": coding("29463-7"),
        "subject": {"reference": "Patient/p1"},
        "valueQuantity": quantity(80, "kg"),
    },
    {
        "resourceType": "Observation",
        "id": "o-weight-65000g",
        "status": "final",
        "code": coding("29463-7"),
        "subject": {"reference": "Patient/p2"},
        "valueQuantity": quantity(65000, "g"),
    },
    {
        "resourceType": "Observation",
        "id": "o-weight-71000g",
        "status": "final",
        "code": coding("29463-7"),
        "subject": {"reference": "Patient/p2"},
        "valueQuantity": quantity(71000, "g"),
    },
    {
        "resourceType": "Observation",
        "id": "o-lab",
        "status": "final",
        "code": coding("1234-5"),
        "subject": {"reference": "Patient/p3"},
        "valueString": "positif",
    },
    {
        "resourceType": "Observation",
        "id": "o-bp",
        "status": "final",
        "code": coding("85354-9"),
        "subject": {"reference": "Patient/p4"},
        "component": [
            {"code": coding("8480-6"), "valueQuantity": quantity(142, "mm[Hg]")},
            {"code": coding("8462-4"), "valueQuantity": quantity(91, "mm[Hg]")},
        ],
    },
    {
        "resourceType": "Observation",
        "id": "o-bp-low",
        "status": "final",
        "code": coding("85354-9"),
        "subject": {"reference": "Patient/p1"},
        "component": [
            {"code": coding("8480-6"), "valueQuantity": quantity(95, "mm[Hg]")},
            {"code": coding("8462-4"), "valueQuantity": quantity(120, "mm[Hg]")},
        ],
    },
    {
        "resourceType": "DocumentReference",
        "id": "d0",
        "status": "superseded",
        "content": [{"attachment": {"url": "http://example.org/d0.pdf"}}],
    },
    {
        "resourceType": "DocumentReference",
        "id": "d1",
        "status": "current",
        "subject": {"reference": "Patient/p1"},
        "relatesTo": [{"code": "replaces", "target": {"reference": "DocumentReference/d0"}}],
        "content": [{"attachment": {"url": "http://example.org/d1.pdf"}}],
    },
]


@pytest.fixture
def data(client):  # noqa: ANN001
    load(client, *DATA)
    return client


def ids(body: dict[str, Any], mode: str = "match") -> list[str]:
    return [
        e["resource"]["id"]
        for e in body.get("entry", [])
        if e.get("search", {}).get("mode") == mode
    ]


def get(client, url: str, status: int = 200, **kw: Any) -> dict[str, Any]:  # noqa: ANN001
    r = client.get(url, **kw)
    assert r.status_code == status, r.text
    return r.json()


def self_params(body: dict[str, Any]) -> list[tuple[str, str]]:
    url = next(x["url"] for x in body["link"] if x["relation"] == "self")
    return parse_qsl(urlsplit(url).query, keep_blank_values=True)


def outcome(body: dict[str, Any]) -> dict[str, Any] | None:
    found = [e for e in body.get("entry", []) if e["search"]["mode"] == "outcome"]
    assert len(found) <= 1
    return found[0]["resource"] if found else None


# ------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("nope=1", "not-supported"),
        ("family:sounds-like=x", "not-supported"),
        ("birthdate=xx1980", "invalid"),
        ("_sort=nope", "not-supported"),
        ("_count=-1", "invalid"),
        ("_total=some", "invalid"),
        ("component-code-value-quantity=8480-6", "invalid"),
    ],
)
def test_bad_parameters_are_400_with_an_outcome(data, query: str, code: str) -> None:  # noqa: ANN001
    rtype = "Observation" if query.startswith("component") else "Patient"
    body = get(data, f"/fhir/{rtype}?{query}", 400)
    assert issue_codes(body) == [code]
    assert query.split("=")[0] in body["issue"][0]["diagnostics"]


def test_unknown_type_is_404(client) -> None:  # noqa: ANN001
    assert issue_codes(get(client, "/fhir/Nope?name=x", 404)) == ["not-supported"]


# ------------------------------------------------------------------------------ lenient


def test_lenient_drops_bad_parameters_and_says_so(data) -> None:  # noqa: ANN001
    url = "/fhir/Patient?family=dupont&nope=1&birthdate=xx1980&gender:sounds=f&_count=5000"
    body = get(data, url, headers=LENIENT)
    assert ids(body) == ["p3"]
    assert self_params(body) == [("family", "dupont"), ("_count", "1000")]
    issues = outcome(body)["issue"]  # type: ignore[index]
    assert body["entry"][0]["search"]["mode"] == "outcome"
    dropped = {i["expression"][0]: i for i in issues}
    assert set(dropped) == {"nope", "birthdate", "gender:sounds", "_count"}
    assert {i["severity"] for n, i in dropped.items() if n != "_count"} == {"warning"}
    assert dropped["_count"]["severity"] == "information"
    # the links only carry what was applied, so following them is strict-safe
    first = next(x["url"] for x in body["link"] if x["relation"] == "first")
    again = get(data, first.replace("http://testserver", ""))
    assert ids(again) == ["p3"]
    assert outcome(again) is None


def test_strict_is_the_default_and_lenient_has_no_outcome_when_clean(data) -> None:  # noqa: ANN001
    assert get(data, "/fhir/Patient?family=dupont&nope=1", 400)
    body = get(data, "/fhir/Patient?family=dupont", headers=LENIENT)
    assert outcome(body) is None
    assert self_params(body) == [("family", "dupont")]


def test_lenient_never_drops_a_limit_or_a_bad_type(data) -> None:  # noqa: ANN001
    deep = "general-practitioner:PractitionerRole.organization.partof.partof.partof.name"
    assert issue_codes(get(data, f"/fhir/Patient?{deep}=x", 400, headers=LENIENT)) == ["too-costly"]
    assert issue_codes(get(data, "/fhir?_type=Nope", 400, headers=LENIENT)) == ["invalid"]


def test_lenient_summary_count_keeps_the_outcome(data) -> None:  # noqa: ANN001
    body = get(data, "/fhir/Patient?_summary=count&nope=1", headers=LENIENT)
    assert body["total"] == 4
    assert [e["search"]["mode"] for e in body["entry"]] == ["outcome"]


def test_include_cap_is_a_warning_in_the_outcome(data, fhir_engine, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(fhir_engine.search, "limits", SearchLimits(max_included=1))
    body = get(data, "/fhir/Observation?code=29463-7&_include=Observation:subject")
    assert len(ids(body, "include")) == 1
    issue = outcome(body)["issue"][0]  # type: ignore[index]
    assert (issue["severity"], issue["code"]) == ("warning", "too-costly")


# -------------------------------------------------------------------------- injection


@pytest.mark.parametrize(
    "query",
    [
        "family=x' OR '1'='1",
        "family:exact=x'; DROP TABLE resource; --",
        "family:contains=%' OR 1=1 --",
        "identifier=' OR ''='|x",
        "_id=p1' OR '1'='1",
        "name=%25",
        "general-practitioner=Practitioner/1 OR 1=1",
    ],
)
def test_injection_in_values_is_harmless(data, query: str) -> None:  # noqa: ANN001
    r = data.get(f"/fhir/Patient?{query}")
    assert r.status_code in (200, 400), r.text
    if r.status_code == 200:
        assert ids(r.json()) == []
    assert get(data, "/fhir/Patient?_summary=count")["total"] == 4


@pytest.mark.parametrize(
    "query",
    [
        "_sort=id;DROP TABLE resource",
        "_sort=family desc",
        "_include=*;--",
        "_include=Patient:organization;DELETE FROM resource",
        "_revinclude=Observation:subject' OR 1=1",
        "name' OR 1=1 --=x",
        "_count=1;drop",
        "_has:Observation:patient:code;drop=x",
    ],
)
def test_injection_in_names_is_refused(data, query: str) -> None:  # noqa: ANN001
    assert data.get(f"/fhir/Patient?{query}").status_code == 400
    assert get(data, "/fhir/Patient?_summary=count")["total"] == 4
    assert get(data, "/fhir/Observation?_summary=count")["total"] == 6


# ------------------------------------------------------------------- paging and totals


def _next(body: dict[str, Any]) -> str | None:
    url = next((x["url"] for x in body["link"] if x["relation"] == "next"), None)
    return url.replace("http://testserver", "") if url else None


def test_paging_with_next_links_while_writing(client) -> None:  # noqa: ANN001
    load(client, *(patient(f"w{i:02d}", f"Famille{i:02d}", "Zoé", "2000-01-01") for i in range(25)))
    seen: list[str] = []
    url: str | None = "/fhir/Patient?given=zoe&_sort=family&_count=7"
    writes = 0
    while url:
        body = get(client, url)
        assert body["total"] == 25  # counted once, carried by the cursor
        seen += ids(body)
        # others write between pages: an update, a new row before and after the cursor
        load(
            client,
            patient(f"new{writes}", "Aaaa", "Zoé", "2000-01-01"),
            patient(f"zzz{writes}", "Zzzz", "Zoé", "2000-01-01"),
            patient("w03", "Famille03", "Zoé", "2001-01-01"),
        )
        writes += 1
        url = _next(body)
    originals = [f"w{i:02d}" for i in range(25)]
    assert [s for s in seen if s.startswith("w")] == originals  # each once, in order
    assert len(seen) == len(set(seen))
    assert not [s for s in seen if s.startswith("new")]  # inserted before the cursor
    assert "zzz0" in seen  # inserted after it
    assert writes >= 4


def test_previous_link_walks_back(client) -> None:  # noqa: ANN001
    load(client, *(patient(f"b{i}", f"Nom{i}", "Zoé", "2000-01-01") for i in range(5)))
    first = get(client, "/fhir/Patient?_sort=-family&_count=2")
    second = get(client, _next(first))  # type: ignore[arg-type]
    prev = next(x["url"] for x in second["link"] if x["relation"] == "previous")
    assert ids(get(client, prev.replace("http://testserver", ""))) == ids(first)


def test_total_and_summary_count(data) -> None:  # noqa: ANN001
    body = get(data, "/fhir/Patient?gender=female&_total=none")
    assert "total" not in body and len(ids(body)) == 3
    assert get(data, "/fhir/Patient?gender=female&_total=accurate")["total"] == 3
    assert get(data, "/fhir/Patient?gender=female&_total=estimate")["total"] == 3
    counted = get(data, "/fhir/Patient?gender=female&_summary=count")
    assert counted["total"] == 3 and "entry" not in counted
    assert get(data, "/fhir/Patient?_count=0")["total"] == 4


def test_elements_and_summary_shape_entries(data) -> None:  # noqa: ANN001
    body = get(data, "/fhir/Patient?_id=p1&_elements=birthDate")
    resource = body["entry"][0]["resource"]
    assert set(resource) == {"resourceType", "id", "meta", "birthDate"}
    assert resource["meta"]["tag"][0]["code"] == "SUBSETTED"
    assert self_params(body) == [("_id", "p1"), ("_elements", "birthDate")]
    summary = get(data, "/fhir/Patient?_id=p1&_summary=true")["entry"][0]["resource"]
    assert "name" in summary and "birthDate" in summary
    assert get(data, "/fhir/Patient?_elements=birth-date", 400)


# ------------------------------------------------------------------- the request forms


def test_post_search_form_encoded(data) -> None:  # noqa: ANN001
    r = data.post(
        "/fhir/Patient/_search?gender=female",
        content="family=Lef%C3%A8vre&birthdate=ge1980",
        headers=FORM,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert ids(body) == ["p1"]
    assert self_params(body) == [
        ("gender", "female"),
        ("family", "Lefèvre"),
        ("birthdate", "ge1980"),
    ]
    self_url = next(x["url"] for x in body["link"] if x["relation"] == "self")
    assert urlsplit(self_url).path == "/fhir/Patient"  # a GET-able link
    bad = data.post("/fhir/Patient/_search", content="{}", headers={"Content-Type": FHIR})
    assert bad.status_code == 415
    assert data.post("/fhir/Patient/_search", content="nope=1", headers=FORM).status_code == 400


def test_post_system_search_form_encoded(data) -> None:  # noqa: ANN001
    r = data.post("/fhir/_search", content="_type=DocumentReference&status=current", headers=FORM)
    assert r.status_code == 200, r.text
    assert ids(r.json()) == ["d1"]


def test_system_search_with_type(data) -> None:  # noqa: ANN001
    body = get(data, "/fhir?_type=Patient,DocumentReference&_id=p1,d1,o-lab")
    assert sorted(ids(body)) == ["d1", "p1"]
    urls = sorted(e["fullUrl"] for e in body["entry"])
    assert urls == [
        "http://testserver/fhir/DocumentReference/d1",
        "http://testserver/fhir/Patient/p1",
    ]
    assert get(data, "/fhir?_id=o-lab")["total"] == 1
    assert get(data, "/fhir?_type=Patient&_summary=count")["total"] == 4
    # a parameter must exist on every type searched
    assert get(data, "/fhir?_type=Patient,DocumentReference&family=x", 400)


def test_compartment_search(data) -> None:  # noqa: ANN001
    assert sorted(ids(get(data, "/fhir/Patient/p1/Observation"))) == ["o-bp-low", "o-weight-80"]
    assert ids(get(data, "/fhir/Patient/p1/Observation?code=29463-7")) == ["o-weight-80"]
    everything = get(data, "/fhir/Patient/p1/*")
    # p1 is created with an INS: the INS service records its first status (a Provenance
    # and an AuditEvent, in the compartment)
    records = [e["resource"] for e in everything["entry"]]
    kinds = sorted(r["resourceType"] for r in records if r["id"] not in ("d1", "p1"))
    assert kinds == ["AuditEvent", "Observation", "Observation", "Provenance"]
    shown = [r["id"] for r in records if r["resourceType"] not in ("AuditEvent", "Provenance")]
    assert sorted(shown) == ["d1", "o-bp-low", "o-weight-80", "p1"]
    assert get(data, "/fhir/Patient/p1/Organization", 400)
    assert ids(get(data, "/fhir/Patient/nobody/Observation")) == []


def test_search_in_a_batch_get_entry(data) -> None:  # noqa: ANN001
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"request": {"method": "GET", "url": "Patient?family=martin"}},
            {"request": {"method": "GET", "url": "Patient?nope=1"}},
        ],
    }
    out = data.post("/fhir", json=bundle).json()
    assert ids(out["entry"][0]["resource"]) == ["p4"]
    assert out["entry"][1]["response"]["status"].startswith("400")


# ------------------------------------------------------------- queries from the spec


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        # quantity with UCUM conversion: 65000 g is not > 70 kg, 71000 g is
        (
            f"Observation?code={LOINC}|29463-7&value-quantity=gt70||kg",
            ["o-weight-71000g", "o-weight-80"],
        ),
        (f"Observation?value-quantity=le70000|{UCUM}|g", ["o-weight-65000g"]),
        ("Patient?birthdate=ge1980-01-01&birthdate=lt1990", ["p1", "p4"]),
        ("Patient?birthdate=1979", ["p2"]),
        ("Patient?birthdate=sa1985-06-15", ["p3"]),
        ("Patient?name:contains=ève", ["p1", "p3"]),
        ("Patient?family=n diaye", ["p2"]),
        ("Patient?family:exact=N'Diaye", ["p2"]),
        ("Patient?given=jean-eric", ["p2"]),
        ("Patient?family=dupont,martin", ["p3", "p4"]),
        (f"Patient?identifier={INS}|285066912345607", ["p1"]),
        ("Patient?identifier=285066912345607", ["p1"]),
        ("Patient?gender:not=female", ["p2"]),
        ("Patient?identifier:missing=true", ["p2", "p3", "p4"]),
        (
            f"Observation?subject:Patient.identifier={INS}|285066912345607",
            ["o-bp-low", "o-weight-80"],
        ),
        ("Observation?subject.family=n'diaye", ["o-weight-65000g", "o-weight-71000g"]),
        ("Observation?patient=p3", ["o-lab"]),
        ("Observation?subject=Patient/p3", ["o-lab"]),
        ("Patient?_has:Observation:patient:code=1234-5", ["p3"]),
        ("Patient?_has:Observation:subject:value-quantity=gt100|http://unitsofmeasure.org|kg", []),
        (f"Observation?component-code-value-quantity={LOINC}|8480-6$gt140", ["o-bp"]),
        (f"Observation?component-code-value-quantity={LOINC}|8462-4$gt100", ["o-bp-low"]),
        # both components of one element: systolic > 100 is o-bp only, not o-bp-low's diastolic
        (f"Observation?component-code-value-quantity=8480-6$gt100|{UCUM}|mm[Hg]", ["o-bp"]),
        (f"Observation?combo-code-value-quantity={LOINC}|29463-7$gt79|{UCUM}|kg", ["o-weight-80"]),
        (f"Observation?code-value-quantity={LOINC}|29463-7$lt70||kg", ["o-weight-65000g"]),
        ("Observation?code-value-string=1234-5$pos", ["o-lab"]),
        ("DocumentReference?relationship=replaces$DocumentReference/d0", ["d1"]),
        ("DocumentReference?relationship=replaces$d1", []),
        ("DocumentReference?relatesto=d0", ["d1"]),
        ("DocumentReference?_has:DocumentReference:relatesto:status=current", ["d0"]),
        ("Patient?_id=p1&_revinclude=Observation:subject&_count=1", ["p1"]),
    ],
)
def test_spec_queries(data, url: str, expected: list[str]) -> None:  # noqa: ANN001
    assert sorted(ids(get(data, f"/fhir/{url}"))) == expected


def test_include_and_revinclude(data) -> None:  # noqa: ANN001
    body = get(data, "/fhir/Observation?code=1234-5&_include=Observation:subject")
    assert ids(body) == ["o-lab"] and ids(body, "include") == ["p3"]
    body = get(data, "/fhir/Patient?_id=p2&_revinclude=Observation:subject")
    assert ids(body) == ["p2"]
    assert sorted(ids(body, "include")) == ["o-weight-65000g", "o-weight-71000g"]
    body = get(data, "/fhir/DocumentReference?_id=d1&_include=DocumentReference:relatesto")
    assert ids(body, "include") == ["d0"]


def test_escaped_separators(client) -> None:  # noqa: ANN001
    load(
        client,
        {
            "resourceType": "Observation",
            "id": "o-sep",
            "status": "final",
            "code": coding("x$1"),
            "valueString": "a,b$c|d",
        },
    )
    assert ids(get(client, "/fhir/Observation?value-string=a\\,b")) == ["o-sep"]
    assert ids(get(client, "/fhir/Observation?code-value-string=x\\$1$a\\,b\\$c\\|")) == ["o-sep"]
    assert ids(get(client, "/fhir/Observation?code-value-string=x\\$1$b")) == []


def test_query_time_limit_is_too_costly(data, fhir_engine, monkeypatch) -> None:  # noqa: ANN001
    if fhir_engine.store.engine.dialect.name == "postgresql":
        pytest.skip("PostgreSQL timeouts are tested on pg_sleep in tests/fhir/search")
    monkeypatch.setattr(fhir_engine.search, "limits", SearchLimits(max_query_seconds=1e-9))
    monkeypatch.setattr(dialect, "PROGRESS_STEPS", 1)  # check the deadline at every step
    body = get(data, "/fhir/Patient?name=a,b,c,d,e&_revinclude=*", 400)
    assert issue_codes(body) == ["too-costly"]
