"""A generated code system with French medical-looking labels (tests and benchmarks).

Concepts form a tree (chapters, blocks, codes, sub-codes), carry an English designation,
a `group` property, and every 50th concept is retired. Nothing here is real terminology.
"""

from __future__ import annotations

import random
from typing import Any

_LESIONS = [
    "Fracture",
    "Luxation",
    "Entorse",
    "Contusion",
    "Plaie",
    "Brûlure",
    "Tumeur maligne",
    "Tumeur bénigne",
    "Infection",
    "Inflammation",
    "Hémorragie",
    "Malformation",
    "Ulcère",
    "Sténose",
    "Thrombose",
    "Kyste",
    "Abcès",
    "Nécrose",
    "Œdème",
    "Insuffisance",
]
_SITES = [
    "du fémur",
    "du col du fémur",
    "de l'humérus",
    "du radius",
    "du tibia",
    "de la clavicule",
    "du poumon",
    "du cœur",
    "du foie",
    "du rein",
    "de l'estomac",
    "du côlon",
    "de la vessie",
    "de l'œsophage",
    "du pancréas",
    "de la thyroïde",
    "du cerveau",
    "de la moelle épinière",
    "de la peau",
    "de l'œil",
    "de l'oreille",
    "du genou",
    "de la hanche",
    "de l'épaule",
]
_QUALIFIERS = [
    "gauche",
    "droit",
    "bilatéral",
    "aiguë",
    "chronique",
    "fermée",
    "ouverte",
    "récidivante",
    "compliquée",
    "sans précision",
    "de l'enfant",
    "du sujet âgé",
    "post-opératoire",
    "traumatique",
    "congénitale",
    "secondaire",
]
_EN = {
    "Fracture": "Fracture",
    "Luxation": "Dislocation",
    "Entorse": "Sprain",
    "Infection": "Infection",
    "Tumeur maligne": "Malignant neoplasm",
}


def synthetic_codesystem(
    size: int,
    *,
    url: str = "http://socle.test/CodeSystem/synthetic",
    version: str = "1.0.0",
    seed: int = 7,
) -> dict[str, Any]:
    rng = random.Random(seed)
    chapters = max(1, size // 1000)
    concepts: list[dict[str, Any]] = []
    made = 0
    for ch in range(chapters):
        if made >= size:
            break
        chapter = {
            "code": f"CH{ch:02d}",
            "display": f"Chapitre {ch} {rng.choice(_SITES)}",
            "concept": [],
        }
        made += 1
        concepts.append(chapter)
        blocks = max(1, min(20, (size - made) // 50 + 1))
        for b in range(blocks):
            if made >= size:
                break
            block = {
                "code": f"B{ch:02d}{b:02d}",
                "display": f"{rng.choice(_LESIONS)} {rng.choice(_SITES)}",
                "concept": [],
            }
            chapter["concept"].append(block)
            made += 1
            while made < size and len(block["concept"]) < max(1, size // (chapters * blocks)):
                lesion, site, qual = (
                    rng.choice(_LESIONS),
                    rng.choice(_SITES),
                    rng.choice(_QUALIFIERS),
                )
                code = f"C{made:06d}"
                item: dict[str, Any] = {
                    "code": code,
                    "display": f"{lesion} {site} {qual}",
                    "designation": [
                        {"language": "en", "value": f"{_EN.get(lesion, lesion)} {made}"}
                    ],
                    "property": [{"code": "group", "valueString": lesion.split()[0].lower()}],
                }
                if made % 50 == 0:
                    item["property"].append({"code": "status", "valueCode": "retired"})
                block["concept"].append(item)
                made += 1
    return {
        "resourceType": "CodeSystem",
        "id": "synthetic",
        "url": url,
        "version": version,
        "name": "Synthetic",
        "title": "Synthetic French code system",
        "status": "active",
        "content": "complete",
        "language": "fr-FR",
        "caseSensitive": True,
        "hierarchyMeaning": "is-a",
        "count": made,
        "property": [
            {"code": "group", "type": "string"},
            {
                "code": "status",
                "uri": "http://hl7.org/fhir/concept-properties#status",
                "type": "code",
            },
        ],
        "concept": concepts,
    }
