"""Small invented resources shared by the indexing tests and the benchmark."""

from __future__ import annotations

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
INS_NIR = "urn:oid:1.2.250.1.213.1.4.8"
RPPS = "urn:oid:1.2.250.1.71.4.2.1"

PATIENT = {
    "resourceType": "Patient",
    "id": "p1",
    "meta": {
        "lastUpdated": "2024-01-02T03:04:05Z",
        "profile": [
            "https://interop.esante.gouv.fr/ig/fhir/core/StructureDefinition/fr-core-patient"
        ],
        "tag": [{"system": "http://example.org/tags", "code": "demo"}],
        "security": [
            {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "N"}
        ],
        "source": "http://example.org/source#abc",
    },
    "identifier": [
        {
            "use": "official",
            "type": {
                "coding": [
                    {
                        "system": "http://interopsante.org/CodeSystem/fr-v2-0203",
                        "code": "INS-NIR",
                        "display": "NIR définitif",
                    }
                ]
            },
            "system": INS_NIR,
            "value": "281097512345678",
        },
        {"system": "http://hopital.example.org/ipp", "value": "IPP-42"},
    ],
    "active": True,
    "name": [
        {
            "use": "official",
            "family": "D'Artagnan-Hélène",
            "given": ["Lœtitia", "Marie"],
            "prefix": ["Mme"],
        },
        {"use": "usual", "text": "Laetitia Dartagnan"},
    ],
    "telecom": [
        {"system": "phone", "value": "+33 1 23 45 67 89", "use": "home"},
        {"system": "email", "value": "loetitia@example.org"},
    ],
    "gender": "female",
    "birthDate": "1981-09-07",
    "address": [
        {
            "line": ["12 rue de l'Église", "Bâtiment B"],
            "city": "Saint-Étienne",
            "postalCode": "42000",
            "country": "FRA",
        }
    ],
    "generalPractitioner": [
        {"reference": "Practitioner/pr1"},
        {"reference": "https://annuaire.example.org/fhir/Organization/o9"},
        {"identifier": {"system": RPPS, "value": "10001234567"}},
    ],
    "managingOrganization": {"reference": "Organization/o1"},
}

OBSERVATION = {
    "resourceType": "Observation",
    "id": "o1",
    "status": "final",
    "category": [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                    "code": "vital-signs",
                    "display": "Vital Signs",
                }
            ]
        }
    ],
    "code": {
        "coding": [{"system": LOINC, "code": "29463-7", "display": "Body weight"}],
        "text": "Poids",
    },
    "subject": {"reference": "Patient/p1"},
    "encounter": {"reference": "Encounter/e1"},
    "effectiveDateTime": "2024-03-01T10:00:00+01:00",
    "performer": [{"reference": "Practitioner/pr1"}],
    "valueQuantity": {"value": 72.5, "unit": "kg", "system": UCUM, "code": "kg"},
}

BLOOD_PRESSURE = {
    "resourceType": "Observation",
    "id": "bp1",
    "status": "final",
    "code": {"coding": [{"system": LOINC, "code": "85354-9"}]},
    "subject": {"reference": "urn:uuid:7f2e1c4a-0000-4000-8000-000000000001", "type": "Patient"},
    "focus": [{"reference": "Group/g1"}],
    "effectivePeriod": {"start": "2024-03-01", "end": "2024-03-02T12:30:00Z"},
    "component": [
        {
            "code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
            "valueQuantity": {"value": 120, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"},
        },
        {
            "code": {"coding": [{"system": LOINC, "code": "8462-4"}]},
            "valueQuantity": {"value": 80, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"},
        },
    ],
}

ENCOUNTER = {
    "resourceType": "Encounter",
    "id": "e1",
    "status": "finished",
    "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
    "type": [{"coding": [{"system": "http://snomed.info/sct", "code": "183807002"}]}],
    "subject": {"reference": "Patient/p1"},
    "participant": [{"individual": {"reference": "Practitioner/pr1"}}],
    "period": {"start": "2024-03-01T08:00:00+01:00", "end": "2024-03-05"},
    "length": {"value": 4, "unit": "days", "system": UCUM, "code": "d"},
    "serviceProvider": {"reference": "Organization/o1"},
}

DOCUMENT_REFERENCE = {
    "resourceType": "DocumentReference",
    "id": "d1",
    "masterIdentifier": {"system": "urn:ietf:rfc:3986", "value": "urn:oid:1.2.3.4.5"},
    "status": "current",
    "type": {
        "coding": [{"system": LOINC, "code": "11488-4", "display": "Consult note"}],
    },
    "subject": {"reference": "Patient/p1"},
    "date": "2024-03-02T09:15:30.25Z",
    "author": [{"reference": "Practitioner/pr1"}],
    "relatesTo": [
        {"code": "replaces", "target": {"reference": "DocumentReference/d0"}},
    ],
    "content": [
        {
            "attachment": {
                "contentType": "application/pdf",
                "language": "fr-FR",
                "url": "http://example.org/docs/d1.pdf",
            },
            "format": {
                "system": "urn:oid:1.3.6.1.4.1.19376.1.2.3",
                "code": "urn:ihe:pcc:xphr:2007",
            },
        }
    ],
    "context": {"period": {"start": "2024-02"}},
}

MEDICATION_REQUEST = {
    "resourceType": "MedicationRequest",
    "id": "m1",
    "status": "active",
    "intent": "order",
    "medicationCodeableConcept": {
        "coding": [{"system": "http://phast.fr/cip", "code": "3400930000000"}],
        "text": "Paracétamol 500 mg",
    },
    "subject": {"reference": "Patient/p1"},
    "authoredOn": "2024-03-01",
    "requester": {"reference": "Practitioner/pr1"},
    "dosageInstruction": [
        {"timing": {"repeat": {"boundsPeriod": {"start": "2024-03-01", "end": "2024-03-10"}}}}
    ],
}

CONDITION = {
    "resourceType": "Condition",
    "id": "c1",
    "clinicalStatus": {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                "code": "active",
            }
        ]
    },
    "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "E11"}]},
    "subject": {"reference": "Patient/p1"},
    "onsetAge": {"value": 52, "unit": "a", "system": UCUM, "code": "a"},
    "abatementDateTime": "2024",
    "recordedDate": "2024-01-15",
}

ORGANIZATION = {
    "resourceType": "Organization",
    "id": "o1",
    "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.2", "value": "1750000000"}],
    "name": "Hôpital Saint-Louis",
    "alias": ["HSL"],
    "telecom": [
        {
            "system": "email",
            "value": "secretariat@hsl.mssante.fr",
            "extension": [
                {
                    "url": "https://example.org/fhir/StructureDefinition/mailbox-type",
                    "valueCode": "ORG",
                }
            ],
        }
    ],
    "address": [{"city": "Paris", "postalCode": "75010"}],
    "partOf": {"reference": "Organization/o0"},
}

ALL = [
    PATIENT,
    OBSERVATION,
    BLOOD_PRESSURE,
    ENCOUNTER,
    DOCUMENT_REFERENCE,
    MEDICATION_REQUEST,
    CONDITION,
    ORGANIZATION,
]
