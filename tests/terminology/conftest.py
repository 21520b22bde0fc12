"""Fixtures: a client whose tenant holds the small test terminology (both backends)."""

from __future__ import annotations

import pytest

from tests.terminology.data import CONCEPT_MAP, CS_URL, codesystem, valueset


def put(client, resource: dict) -> dict:
    r = client.put(f"/fhir/{resource['resourceType']}/{resource['id']}", json=resource)
    assert r.status_code in (200, 201), r.text
    return r.json()


@pytest.fixture
def term(client):  # noqa: ANN001
    """The test code system (v1 and v2), value sets and concept map, stored in the tenant."""
    put(client, codesystem("1.0.0"))
    v2 = codesystem("2.0.0", extra=[{"code": "NEW", "display": "Nouvelle maladie"}])
    v2["id"] = "pathologies-v2"
    put(client, v2)
    put(client, valueset({"include": [{"system": CS_URL}]}))
    put(
        client,
        valueset(
            {
                "include": [
                    {
                        "system": CS_URL,
                        "filter": [{"property": "concept", "op": "is-a", "value": "CARD"}],
                    },
                    {"system": CS_URL, "concept": [{"code": "ASTH", "display": "Asthme"}]},
                ],
                "exclude": [{"system": CS_URL, "concept": [{"code": "ANG"}]}],
            },
            url="http://socle.test/ValueSet/cardio",
            vid="cardio",
        ),
    )
    put(
        client,
        valueset(
            {
                "include": [
                    {
                        "valueSet": ["http://socle.test/ValueSet/cardio"],
                        "system": CS_URL,
                        "filter": [{"property": "gravite", "op": "exists", "value": "true"}],
                    }
                ]
            },
            url="http://socle.test/ValueSet/cardio-grave",
            vid="cardio-grave",
        ),
    )
    put(client, CONCEPT_MAP)
    return client
