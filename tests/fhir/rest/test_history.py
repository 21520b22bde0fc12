"""Instance, type and system history with _since, _at, _count and cursor paging."""

from __future__ import annotations

import time

from tests.fhir.rest.helpers import patient


def _ids(bundle):  # noqa: ANN001
    return [
        (e["request"]["method"], e["fullUrl"].rsplit("/", 1)[1]) for e in bundle.get("entry", [])
    ]


def test_instance_history_lists_versions_newest_first(client) -> None:  # noqa: ANN001
    body = client.post("/fhir/Patient", json=patient()).json()
    pid = body["id"]
    client.put(f"/fhir/Patient/{pid}", json={**body, "gender": "male"})
    client.delete(f"/fhir/Patient/{pid}")
    h = client.get(f"/fhir/Patient/{pid}/_history").json()
    assert h["type"] == "history" and h["total"] == 3
    assert [e["request"]["method"] for e in h["entry"]] == ["DELETE", "PUT", "POST"]
    assert [e["response"]["etag"] for e in h["entry"]] == ['W/"3"', 'W/"2"', 'W/"1"']
    assert "resource" not in h["entry"][0]
    assert h["entry"][1]["resource"]["gender"] == "male"


def test_instance_history_of_unknown_is_404(client) -> None:  # noqa: ANN001
    assert client.get("/fhir/Patient/none/_history").status_code == 404


def test_type_and_system_history_with_count_paging(client) -> None:  # noqa: ANN001
    created = [
        client.post("/fhir/Patient", json=patient(family=f"F{i}")).json()["id"] for i in range(5)
    ]
    client.post(
        "/fhir/Observation",
        json={"resourceType": "Observation", "status": "final", "code": {"text": "x"}},
    )
    seen: list[str] = []
    url = "/fhir/Patient/_history?_count=2"
    pages = 0
    while url:
        page = client.get(url).json()
        pages += 1
        seen += [i for _m, i in _ids(page)]
        nxt = [link["url"] for link in page["link"] if link["relation"] == "next"]
        url = nxt[0].replace("http://testserver", "") if nxt else None
        if pages == 1:  # a write between pages must not shift the next pages
            client.post("/fhir/Patient", json=patient(family="Late"))
    assert pages == 3
    assert seen == list(reversed(created))
    system = client.get("/fhir/_history?_count=100").json()
    assert len(system["entry"]) == 7
    assert {e["request"]["url"].split("/")[0] for e in system["entry"]} == {
        "Patient",
        "Observation",
    }


def test_since_and_at(client) -> None:  # noqa: ANN001
    body = client.post("/fhir/Patient", json=patient()).json()
    pid = body["id"]
    time.sleep(0.05)
    mark = client.get(f"/fhir/Patient/{pid}").json()["meta"]["lastUpdated"]
    time.sleep(0.05)
    client.put(f"/fhir/Patient/{pid}", json={**body, "gender": "male"})
    since = client.get(
        f"/fhir/Patient/{pid}/_history", params={"_since": "2099-01-01T00:00:00Z"}
    ).json()
    assert since.get("entry", []) == []
    recent = client.get("/fhir/Patient/_history", params={"_since": _bump(mark)}).json()
    assert [e["response"]["etag"] for e in recent["entry"]] == ['W/"2"']
    at = client.get(f"/fhir/Patient/{pid}/_history", params={"_at": _bump(mark)}).json()
    assert [e["response"]["etag"] for e in at["entry"]] == ['W/"1"']
    assert client.get("/fhir/Patient/_history?_since=yesterday").status_code == 400
    assert client.get("/fhir/Patient/_history?_count=abc").status_code == 400
    assert client.get("/fhir/Patient/_history?foo=bar").status_code == 400


def _bump(instant: str) -> str:
    """An instant 1 ms after the given one (keeps the offset)."""
    from datetime import datetime, timedelta

    dt = datetime.fromisoformat(instant.replace("Z", "+00:00")) + timedelta(milliseconds=1)
    return dt.isoformat()
