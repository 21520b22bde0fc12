"""Small terminology resources used by the tests (invented codes, French and English)."""

from __future__ import annotations

CS_URL = "http://socle.test/CodeSystem/pathologies"
VS_URL = "http://socle.test/ValueSet/pathologies"


def codesystem(version: str = "1.0.0", extra: list | None = None) -> dict:
    """A hierarchy: MAL > CARD > (INF, ANG), MAL > RESP > ASTH; OLD is retired."""
    return {
        "resourceType": "CodeSystem",
        "id": "pathologies",
        "url": CS_URL,
        "identifier": [{"system": "urn:ietf:rfc:3986", "value": "urn:oid:1.2.250.9999.1"}],
        "version": version,
        "name": "Pathologies",
        "title": "Pathologies de test",
        "status": "active",
        "content": "complete",
        "language": "fr-FR",
        "caseSensitive": True,
        "hierarchyMeaning": "is-a",
        "property": [
            {"code": "gravite", "type": "code"},
            {"code": "chronique", "type": "boolean"},
            {"code": "status", "type": "code"},
        ],
        "concept": [
            {
                "code": "MAL",
                "display": "Maladie",
                "designation": [{"language": "en", "value": "Disease"}],
                "concept": [
                    {
                        "code": "CARD",
                        "display": "Maladie cardiaque",
                        "designation": [{"language": "en", "value": "Heart disease"}],
                        "concept": [
                            {
                                "code": "INF",
                                "display": "Infarctus du myocarde",
                                "definition": "Nécrose du muscle cardiaque",
                                "designation": [
                                    {"language": "en", "value": "Myocardial infarction"},
                                    {
                                        "language": "fr-FR",
                                        "use": {"code": "synonym"},
                                        "value": "Crise cardiaque",
                                    },
                                ],
                                "property": [{"code": "gravite", "valueCode": "grave"}],
                            },
                            {
                                "code": "ANG",
                                "display": "Angine de poitrine",
                                "designation": [{"language": "en", "value": "Angina pectoris"}],
                                "property": [
                                    {"code": "gravite", "valueCode": "moderee"},
                                    {"code": "chronique", "valueBoolean": True},
                                ],
                            },
                        ],
                    },
                    {
                        "code": "RESP",
                        "display": "Maladie respiratoire",
                        "designation": [{"language": "en", "value": "Respiratory disease"}],
                        "concept": [
                            {
                                "code": "ASTH",
                                "display": "Asthme de l'enfant",
                                "designation": [{"language": "en", "value": "Childhood asthma"}],
                                "property": [{"code": "chronique", "valueBoolean": True}],
                            }
                        ],
                    },
                ],
            },
            {
                "code": "OLD",
                "display": "Ancienne entité réformée",
                "property": [{"code": "status", "valueCode": "retired"}],
            },
            *(extra or []),
        ],
    }


def valueset(compose: dict, url: str = VS_URL, vid: str = "pathologies-vs", **kw) -> dict:
    return {
        "resourceType": "ValueSet",
        "id": vid,
        "url": url,
        "status": "active",
        "compose": compose,
        **kw,
    }


CONCEPT_MAP = {
    "resourceType": "ConceptMap",
    "id": "pathologies-to-icd",
    "url": "http://socle.test/ConceptMap/pathologies-to-icd",
    "status": "active",
    "sourceUri": VS_URL,
    "targetUri": "http://socle.test/ValueSet/icd",
    "group": [
        {
            "source": CS_URL,
            "target": "http://hl7.org/fhir/sid/icd-10",
            "element": [
                {
                    "code": "INF",
                    "display": "Infarctus du myocarde",
                    "target": [
                        {"code": "I21", "display": "Infarctus aigu", "equivalence": "wider"}
                    ],
                },
                {
                    "code": "ANG",
                    "target": [{"code": "I20", "equivalence": "equivalent"}],
                },
                {"code": "OLD", "target": [{"equivalence": "unmatched"}]},
            ],
        }
    ],
}
