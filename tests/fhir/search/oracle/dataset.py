"""A seeded, invented French data set: every value below is random, no real person.

Resources are written in `Dataset.writes` order (creates, then some updates and deletes),
each with an explicit ``last_updated``; `Dataset.current` is the state after all writes,
`Dataset.order` the creation rank of each resource (the engine's pk order, which breaks
sort ties).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

BASE = "http://example.org/fhir"  # the engine's base URL in the oracle test
REMOTE = "http://autre-serveur.fr/fhir"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
CIP = "https://smt.esante.gouv.fr/terminologie-cip"
INS_NIR = "urn:oid:1.2.250.1.213.1.4.8"
IPP = "urn:oid:1.2.250.1.71.4.2.7.1"
RPPS = "urn:oid:1.2.250.1.71.4.2.1"
FINESS = "urn:oid:1.2.250.1.71.4.2.2"
V2_0203 = "http://interopsante.org/CodeSystem/v2-0203"
ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
OBS_CAT = "http://terminology.hl7.org/CodeSystem/observation-category"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
TAGS = "https://socle.example/tags"
FR_PATIENT = "http://interopsante.org/fhir/StructureDefinition/FrPatient"
FR_PRACTITIONER = "http://interopsante.org/fhir/StructureDefinition/FrPractitioner"
DOCS = "http://docs.example.fr/dmp"
T0 = 1_700_000_000_000_000  # first last_updated, µs

FAMILIES = [
    "Martin",
    "Bernard",
    "Dubois",
    "Lefèvre",
    "Moreau",
    "Girard",
    "N'Diaye",
    "Le Goff",
    "Dupont-Moreau",
    "Fournier",
    "Lévêque",
    "Bœuf",
    "Gauthier",
    "D'Artagnan",
    "Müller",
    "Roux",
    "Guérin",
    "Lemaître",
    "Saint-Just",
    "O'Neil",
    "Perrin",
    "Clément",
    "Ängström",
    "Da Costa",
    "Nguyễn",
]
GIVENS = [
    "Léa",
    "Chloé",
    "Zoé",
    "Jean-Éric",
    "Anaïs",
    "Hélène",
    "Noël",
    "Maëlle",
    "François",
    "Loïc",
    "Geneviève",
    "Ève",
    "Jérôme",
    "Benoît",
    "Céline",
    "Gaëtan",
    "Inès",
    "Lætitia",
    "Thérèse",
    "Marie-Noëlle",
    "Raphaël",
    "Émilie",
    "Jean",
    "Éva",
]
CITIES = [
    ("Paris", "75013"),
    ("Saint-Étienne", "42000"),
    ("Nîmes", "30000"),
    ("Besançon", "25000"),
    ("L'Haÿ-les-Roses", "94240"),
    ("Orléans", "45000"),
    ("Aix-en-Provence", "13100"),
    ("Châlons-en-Champagne", "51000"),
    ("Le Mans", "72000"),
    ("Saint-Denis", "97400"),
]
ORG_NAMES = [
    "CHU de Nîmes",
    "Clinique Sainte-Anne",
    "Hôpital Saint-Jean-d'Angély",
    "Centre hospitalier d'Orléans",
    "Service de cardiologie",
    "Laboratoire Bio-Santé",
    "Maison de santé des Écrins",
    "Pôle mère-enfant",
    "Cabinet médical Lœwy",
    "Groupement hospitalier Île-de-France",
    "Service des urgences",
    "Pharmacie du Marché",
]
ZONES = ["Z", "+01:00", "+02:00", "-05:00", "+05:30", ""]
WEIGHT, HEIGHT, GLUCOSE, BP = "29463-7", "8302-2", "2345-7", "85354-9"
SYSTOLIC, DIASTOLIC, CRP, BLOOD_GROUP, NOTE, LMP = (
    "8480-6",
    "8462-4",
    "1988-5",
    "882-1",
    "48767-8",
    "8665-2",
)
CONDITIONS = [
    ("E11.9", "Diabète sucré de type 2"),
    ("I10", "Hypertension essentielle"),
    ("J45.9", "Asthme"),
    ("F32.0", "Épisode dépressif léger"),
    ("M54.5", "Lombalgie basse"),
    ("K21.9", "Reflux gastro-œsophagien"),
]
MEDICATIONS = [
    ("3400930000001", "Doliprane 1000 mg"),
    ("3400930000002", "Metformine 850 mg"),
    ("3400930000003", "Amlodipine 5 mg"),
    ("3400930000004", "Ventoline 100 µg"),
    ("3400930000005", "Sertraline 50 mg"),
]
DOC_TYPES = [
    ("11488-4", "Compte rendu de consultation"),
    ("18842-5", "Lettre de sortie"),
    ("34117-2", "Histoire et examen clinique"),
]


@dataclass
class Dataset:
    writes: list[tuple[str, Any, int]] = field(default_factory=list)  # (op, resource|key, µs)
    current: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    order: dict[tuple[str, str], int] = field(default_factory=dict)
    last_updated: dict[tuple[str, str], int] = field(default_factory=dict)

    def of_type(self, rtype: str) -> list[dict[str, Any]]:
        return [r for (t, _), r in self.current.items() if t == rtype]


class _Builder:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.data = Dataset()
        self.clock = T0

    # -- writing --------------------------------------------------------------------

    def _tick(self) -> int:
        if self.rng.random() < 0.1:  # some writes share a timestamp (sort ties)
            return self.clock
        self.clock += self.rng.choice([1, 7, 1_000, 1_000_000, 3_600_000_000])
        return self.clock

    def put(self, resource: dict[str, Any]) -> dict[str, Any]:
        key = (resource["resourceType"], resource["id"])
        when = self._tick()
        self.data.writes.append(("put", resource, when))
        self.data.current[key] = resource
        self.data.order.setdefault(key, len(self.data.order))
        self.data.last_updated[key] = when
        return resource

    def delete(self, key: tuple[str, str]) -> None:
        when = self._tick()
        self.data.writes.append(("delete", key, when))
        del self.data.current[key]
        self.data.last_updated.pop(key, None)

    # -- random values --------------------------------------------------------------

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def pick(self, items: list) -> Any:
        return self.rng.choice(items)

    def date(self, start: int = 1930, end: int = 2024) -> str:
        """A date at year, month or day precision."""
        y = self.rng.randint(start, end)
        m, d = self.rng.randint(1, 12), self.rng.randint(1, 28)
        return self.pick(
            [f"{y}", f"{y}-{m:02d}", f"{y}-{m:02d}-{d:02d}"] + [f"{y}-{m:02d}-{d:02d}"] * 3
        )

    def datetime(self, start: int = 2015, end: int = 2024) -> str:
        """A dateTime at any precision, in various zones (or none, read as UTC)."""
        y = self.rng.randint(start, end)
        m, d = self.rng.randint(1, 12), self.rng.randint(1, 28)
        h, mi, s = self.rng.randint(0, 23), self.rng.randint(0, 59), self.rng.randint(0, 59)
        zone = self.pick(ZONES)
        day, ms = f"{y}-{m:02d}-{d:02d}", self.rng.randint(0, 999)
        forms = [
            f"{day}T{h:02d}:{mi:02d}:{s:02d}{zone or 'Z'}",
            f"{day}T{h:02d}:{mi:02d}:{s:02d}.{ms:03d}{zone or '+00:00'}",
            f"{day}T{h:02d}:{mi:02d}{zone or 'Z'}",
            day,
            f"{y}-{m:02d}",
        ]
        weights = [6, 2, 1, 2, 1]
        return self.rng.choices(forms, weights)[0]

    def instant(self) -> str:
        y, m, d = self.rng.randint(2019, 2024), self.rng.randint(1, 12), self.rng.randint(1, 28)
        h, mi, s = self.rng.randint(0, 23), self.rng.randint(0, 59), self.rng.randint(0, 59)
        ms, zone = self.rng.randint(0, 999), self.pick(ZONES[:5])
        return f"{y}-{m:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}.{ms:03d}{zone}"

    def name(self, prefix: str | None = None) -> dict[str, Any]:
        given = [self.pick(GIVENS)] + ([self.pick(GIVENS)] if self.chance(0.3) else [])
        name: dict[str, Any] = {"use": "official", "family": self.pick(FAMILIES), "given": given}
        if prefix:
            name["prefix"] = [prefix]
        return name

    def address(self) -> dict[str, Any]:
        city, postal = self.pick(CITIES)
        return {
            "use": self.pick(["home", "work"]),
            "line": [f"{self.rng.randint(1, 120)} rue de l'Église"],
            "city": city,
            "postalCode": postal,
            "country": "France",
        }

    def telecom(self, family: str) -> list[dict[str, Any]]:
        out = []
        if self.chance(0.6):
            out.append(
                {"system": "phone", "value": f"06{self.rng.randint(10_000_000, 99_999_999)}"}
            )
        if self.chance(0.5):
            mail = "".join(c for c in family.lower() if c.isascii() and c.isalpha()) or "x"
            out.append({"system": "email", "value": f"{mail}{self.rng.randint(1, 99)}@exemple.fr"})
        return out

    def ref(self, rtype: str, pool: list[str]) -> dict[str, Any]:
        return {"reference": f"{rtype}/{self.pick(pool)}"}

    def coding(self, system: str, code: str, display: str | None = None) -> dict[str, Any]:
        out = {"system": system, "code": code}
        if display:
            out["display"] = display
        return out

    def meta(self, profile: str | None) -> dict[str, Any]:
        meta: dict[str, Any] = {}
        if profile and self.chance(0.6):
            meta["profile"] = [profile]
        if self.chance(0.3):
            meta["tag"] = [self.coding(TAGS, self.pick(["import", "demo", "test"]))]
        return meta


def build(seed: int = 20241126) -> Dataset:
    b = _Builder(seed)
    rng = b.rng

    # ---------------------------------------------------------------- Organization
    orgs = []
    for i, name in enumerate(ORG_NAMES):
        oid = f"org-{i:02d}"
        org: dict[str, Any] = {
            "resourceType": "Organization",
            "id": oid,
            "active": i % 5 != 3,
            "name": name,
            "identifier": [{"system": FINESS, "value": f"{300000000 + i * 7919}"}],
            "type": [
                {
                    "coding": [
                        b.coding(
                            "http://terminology.hl7.org/CodeSystem/organization-type",
                            "dept" if "Service" in name or "Pôle" in name else "prov",
                        )
                    ]
                }
            ],
            "address": [b.address()],
        }
        if i % 3 == 0:
            org["alias"] = [name.split()[-1] + " Santé"]
        if i >= 3:
            org["partOf"] = {"reference": f"Organization/org-{rng.randint(0, min(i - 1, 5)):02d}"}
        orgs.append(oid)
        b.put(org)

    # ---------------------------------------------------------------- Practitioner
    pracs = []
    for i in range(20):
        pid = f"pra-{i:02d}"
        name = b.name("Dr" if i % 2 else "Pr")
        prac: dict[str, Any] = {
            "resourceType": "Practitioner",
            "id": pid,
            "name": [name],
            "identifier": [
                {
                    "system": RPPS,
                    "value": f"10{100000000 + i * 104729}",
                    "type": {"coding": [b.coding(V2_0203, "RPPS")], "text": "N° RPPS"},
                }
            ],
            "gender": b.pick(["male", "female"]),
            "address": [b.address()],
            "telecom": b.telecom(name["family"]),
        }
        if i % 4:
            prac["active"] = i % 7 != 0
        meta = b.meta(FR_PRACTITIONER)
        if meta:
            prac["meta"] = meta
        pracs.append(pid)
        b.put(prac)

    # --------------------------------------------------------------------- Patient
    patients = []
    for i in range(70):
        pid = f"pat-{i:03d}"
        names = [b.name()]
        if b.chance(0.2):
            names.append({"use": "maiden", "family": b.pick(FAMILIES)})
        if b.chance(0.1):
            names.append({"use": "usual", "text": f"{b.pick(GIVENS)} {b.pick(FAMILIES)}"})
        pat: dict[str, Any] = {"resourceType": "Patient", "id": pid, "name": names}
        if b.chance(0.9):
            pat["gender"] = b.pick(["male", "female", "female", "other", "unknown"])
        if b.chance(0.95):
            pat["birthDate"] = b.date(1930, 2023)
        identifiers = []
        if b.chance(0.7):
            nir = f"{rng.choice('12')}{rng.randint(10**12, 10**13 - 1)}{rng.randint(10, 96)}"
            identifiers.append(
                {
                    "use": "official",
                    "system": INS_NIR,
                    "value": nir,
                    "type": {"coding": [b.coding(V2_0203, "INS-NIR", "NIR définitif")]},
                }
            )
        if b.chance(0.5):
            identifiers.append(
                {
                    "system": IPP,
                    "value": f"IPP{rng.randint(1000, 9999)}",
                    "type": {"coding": [b.coding(V2_0203, "PI", "Identifiant patient")]},
                }
            )
        if identifiers:
            pat["identifier"] = identifiers
        if b.chance(0.8):
            pat["active"] = b.chance(0.85)
        if b.chance(0.8):
            pat["address"] = [b.address()]
        telecom = b.telecom(names[0]["family"])
        if telecom:
            pat["telecom"] = telecom
        if b.chance(0.7):
            if b.chance(0.75):
                pat["generalPractitioner"] = [b.ref("Practitioner", pracs)]
            else:
                pat["generalPractitioner"] = [b.ref("Organization", orgs)]
        if b.chance(0.6):
            pat["managingOrganization"] = b.ref("Organization", orgs)
        if b.chance(0.08):
            pat["deceasedDateTime"] = b.datetime(2020, 2024)
        elif b.chance(0.05):
            pat["deceasedBoolean"] = b.chance(0.5)
        if patients and b.chance(0.05):
            pat["link"] = [{"other": b.ref("Patient", patients), "type": "seealso"}]
        meta = b.meta(FR_PATIENT if b.chance(0.7) else f"{FR_PATIENT}/v2")
        if meta:
            pat["meta"] = meta
        patients.append(pid)
        b.put(pat)

    # ------------------------------------------------------------------- Encounter
    encounters = []
    for i in range(40):
        eid = f"enc-{i:03d}"
        enc: dict[str, Any] = {
            "resourceType": "Encounter",
            "id": eid,
            "status": b.pick(["planned", "in-progress", "finished", "finished", "cancelled"]),
            "class": b.coding(ACT, b.pick(["AMB", "IMP", "EMER"])),
            "subject": b.ref("Patient", patients),
            "participant": [
                {"individual": b.ref("Practitioner", pracs)} for _ in range(rng.randint(0, 2))
            ],
            "serviceProvider": b.ref("Organization", orgs),
        }
        start = b.datetime(2018, 2024)
        period = {"start": start}
        if b.chance(0.75) and "T" in start:
            end_h = (int(start[11:13]) + rng.randint(0, 9)) % 24
            end = start[:11] + f"{max(end_h, int(start[11:13])):02d}" + start[13:]
            period["end"] = end
        enc["period"] = period
        if b.chance(0.6):
            minutes = rng.randint(10, 600)
            enc["length"] = (
                {"value": minutes, "unit": "min", "system": UCUM, "code": "min"}
                if b.chance(0.5)
                else {"value": round(minutes / 60, 1), "unit": "h", "system": UCUM, "code": "h"}
            )
        if not enc["participant"]:
            del enc["participant"]
        encounters.append(eid)
        b.put(enc)

    # ----------------------------------------------------------------- Observation
    observations = []
    for i in range(160):
        oid = f"obs-{i:03d}"
        kind = b.pick(
            ["weight", "weight", "height", "glucose", "glucose", "bp", "bp", "crp", "group"]
            + ["note", "lmp"]
        )
        obs: dict[str, Any] = {
            "resourceType": "Observation",
            "id": oid,
            "status": b.pick(["final", "final", "amended", "preliminary", "cancelled"]),
        }
        vital = kind in ("weight", "height", "bp")
        obs["category"] = [
            {"coding": [b.coding(OBS_CAT, "vital-signs" if vital else "laboratory")]}
        ]
        r = rng.random()
        if r < 0.82:
            obs["subject"] = b.ref("Patient", patients)
        elif r < 0.87:
            obs["subject"] = {"reference": f"{BASE}/Patient/{b.pick(patients)}"}
        elif r < 0.92:
            obs["subject"] = {"reference": f"{REMOTE}/Patient/{b.pick(patients)}"}
        elif r < 0.95:
            obs["subject"] = {"reference": "Group/g-1"}
        if b.chance(0.6):
            obs["encounter"] = b.ref("Encounter", encounters)
        if b.chance(0.5):
            obs["performer"] = [b.ref("Practitioner", pracs)]
        elif b.chance(0.3):
            obs["performer"] = [b.ref("Organization", orgs)]
        elif b.chance(0.3):
            prac = b.pick(range(20))
            obs["performer"] = [
                {
                    "identifier": {"system": RPPS, "value": f"10{100000000 + prac * 104729}"},
                    "display": "Praticien externe",
                }
            ]
        if b.chance(0.85):
            if b.chance(0.85):
                obs["effectiveDateTime"] = b.datetime()
            else:
                start = b.datetime()
                obs["effectivePeriod"] = {"start": start} | (
                    {"end": b.datetime(int(start[:4]), 2024)} if b.chance(0.5) else {}
                )
                if obs["effectivePeriod"].get("end", "9") < start:
                    del obs["effectivePeriod"]["end"]
        if b.chance(0.5):
            obs["issued"] = b.instant()
        if b.chance(0.3):
            obs["identifier"] = [{"system": "urn:oid:1.2.250.1.999.1", "value": f"LAB-{i:04d}"}]
        _observation_value(b, obs, kind)
        observations.append(oid)
        b.put(obs)

    # ------------------------------------------------------------------- Condition
    for i in range(40):
        code, display = b.pick(CONDITIONS)
        cond: dict[str, Any] = {
            "resourceType": "Condition",
            "id": f"cond-{i:03d}",
            "clinicalStatus": {
                "coding": [b.coding(CLINICAL, b.pick(["active", "resolved", "remission"]))]
            },
            "code": {"coding": [b.coding(ICD10, code, display)], "text": display},
            "subject": b.ref("Patient", patients),
        }
        if b.chance(0.5):
            cond["encounter"] = b.ref("Encounter", encounters)
        if b.chance(0.5):
            cond["asserter"] = b.ref("Practitioner", pracs)
        onset = rng.random()
        if onset < 0.4:
            cond["onsetDateTime"] = b.datetime(2000, 2024)
        elif onset < 0.55:
            cond["onsetPeriod"] = {"start": b.date(1990, 2010), "end": b.date(2011, 2024)}
        elif onset < 0.7:
            years = rng.randint(1, 90)
            cond["onsetAge"] = {"value": years, "unit": "ans", "system": UCUM, "code": "a"}
        elif onset < 0.8:
            low = rng.randint(20, 60)
            cond["onsetRange"] = {
                "low": {"value": low, "unit": "ans", "system": UCUM, "code": "a"},
                "high": {
                    "value": low + rng.randint(1, 15),
                    "unit": "ans",
                    "system": UCUM,
                    "code": "a",
                },
            }
        elif onset < 0.9:
            cond["onsetString"] = b.pick(["Depuis l'enfance", "Après la grossesse", "Été 2019"])
        if b.chance(0.7):
            cond["recordedDate"] = b.datetime(2019, 2024)
        if b.chance(0.2):
            cond["severity"] = {"coding": [b.coding(SNOMED, b.pick(["24484000", "6736007"]))]}
        b.put(cond)

    # ----------------------------------------------------------- DocumentReference
    docs = []
    for i in range(30):
        did = f"doc-{i:03d}"
        code, display = b.pick(DOC_TYPES)
        year = rng.randint(2019, 2024)
        doc: dict[str, Any] = {
            "resourceType": "DocumentReference",
            "id": did,
            "masterIdentifier": {
                "system": "urn:ietf:rfc:3986",
                "value": f"urn:oid:1.2.250.1.999.2.{i}",
            },
            "status": "current",
            "type": {"coding": [b.coding(LOINC, code, display)]},
            "subject": b.ref("Patient", patients),
            "date": b.instant(),
            "content": [
                {
                    "attachment": {
                        "contentType": b.pick(["application/pdf", "text/plain"]),
                        "url": f"{DOCS}/{year}/{b.pick(['cr', 'lettre'])}/doc-{i}.pdf",
                    }
                }
            ],
        }
        if b.chance(0.7):
            doc["author"] = [
                b.ref("Practitioner", pracs) if b.chance(0.7) else b.ref("Organization", orgs)
            ]
        if b.chance(0.5):
            doc["custodian"] = b.ref("Organization", orgs)
        if b.chance(0.6):
            doc["description"] = b.pick(
                ["Compte rendu d'hospitalisation", "Lettre au médecin traitant", "Résultats"]
            )
        if docs and b.chance(0.3):
            doc["relatesTo"] = [
                {
                    "code": b.pick(["replaces", "appends", "transforms"]),
                    "target": b.ref("DocumentReference", docs),
                }
            ]
        if b.chance(0.5):
            doc["context"] = {"period": {"start": b.date(2018, 2023)}}
            if b.chance(0.5):
                doc["context"]["encounter"] = [b.ref("Encounter", encounters)]
        docs.append(did)
        b.put(doc)

    # ----------------------------------------------------------- MedicationRequest
    for i in range(50):
        cip, label = b.pick(MEDICATIONS)
        med: dict[str, Any] = {
            "resourceType": "MedicationRequest",
            "id": f"med-{i:03d}",
            "status": b.pick(["active", "completed", "stopped", "draft"]),
            "intent": b.pick(["order", "plan", "proposal"]),
            "medicationCodeableConcept": {"coding": [b.coding(CIP, cip, label)], "text": label},
            "subject": b.ref("Patient", patients),
            "authoredOn": b.datetime(2019, 2024),
        }
        if b.chance(0.8):
            med["requester"] = b.ref("Practitioner", pracs)
        if b.chance(0.4):
            med["encounter"] = b.ref("Encounter", encounters)
        if b.chance(0.3):
            med["priority"] = b.pick(["routine", "urgent"])
        if b.chance(0.4):
            med["dosageInstruction"] = [
                {"timing": {"event": [b.datetime(2020, 2024) for _ in range(rng.randint(1, 3))]}}
            ]
        b.put(med)

    # -------------------------------------------------------------- RiskAssessment
    for i in range(20):
        risk: dict[str, Any] = {
            "resourceType": "RiskAssessment",
            "id": f"risk-{i:02d}",
            "status": "final",
            "subject": b.ref("Patient", patients),
        }
        predictions = []
        for _ in range(rng.randint(1, 2)):
            if b.chance(0.75):
                value = b.pick(
                    [rng.randint(1, 99) / 100, rng.randint(1, 9) / 10, rng.randint(1, 999) / 1000]
                )
                predictions.append({"probabilityDecimal": value})
            else:
                low = rng.randint(1, 60) / 100
                predictions.append(
                    {
                        "probabilityRange": {
                            "low": {"value": low},
                            "high": {"value": round(low + 0.2, 2)},
                        }
                    }
                )
        risk["prediction"] = predictions
        b.put(risk)

    # ------------------------------------------------------- updates and deletions
    for key in rng.sample(sorted(b.data.current), 30):
        resource = dict(b.data.current[key])
        if key[0] == "Patient" and "name" in resource:
            resource["name"] = [b.name()]
        elif key[0] == "Observation":
            resource["status"] = "amended"
            if "valueQuantity" in resource:
                quantity = dict(resource["valueQuantity"])
                quantity["value"] = round(quantity["value"] * 1.1, 1)
                resource["valueQuantity"] = quantity
        elif "status" in resource:
            resource["status"] = "entered-in-error"
        resource.setdefault("meta", {})
        resource["meta"] = {**resource["meta"], "tag": [b.coding(TAGS, "updated")]}
        b.put(resource)
    doomed = (
        [("Patient", p) for p in rng.sample(patients, 5)]
        + [("Practitioner", p) for p in rng.sample(pracs, 2)]
        + [("Organization", o) for o in rng.sample(orgs[3:], 1)]
        + [("Observation", o) for o in rng.sample(observations, 6)]
        + [("DocumentReference", d) for d in rng.sample(docs, 2)]
    )
    for key in doomed:
        b.delete(key)
    _lists(b, random.Random(seed + 1))
    return b.data


LISTED_TYPES = (
    "Patient",
    "Observation",
    "Condition",
    "Encounter",
    "Practitioner",
    "DocumentReference",
    "MedicationRequest",
    "Organization",
)


def _list_entry(rng: random.Random, key: tuple[str, str]) -> dict[str, Any]:
    """One List entry naming `key`, written in one of the forms a client may use."""
    rtype, rid = key
    forms = ["relative", "absolute", "remote", "versioned", "display"]
    form = rng.choices(forms, [12, 3, 2, 1, 1])[0]
    item: dict[str, Any] = {
        "relative": {"reference": f"{rtype}/{rid}"},
        "absolute": {"reference": f"{BASE}/{rtype}/{rid}"},  # local: under this server
        "remote": {"reference": f"{REMOTE}/{rtype}/{rid}"},  # another server's resource
        "versioned": {"reference": f"{rtype}/{rid}/_history/1"},
        "display": {"display": f"{rtype} {rid}"},  # no reference at all
    }[form]
    entry: dict[str, Any] = {"item": item}
    if rng.random() < 0.1:
        entry["deleted"] = True  # a change list's removed entry (still an `item`)
    return entry


def _lists(b: _Builder, rng: random.Random) -> None:
    """Lists (``_list``), written after everything else with their own random source, so
    that the rest of the data set does not depend on them: entries pointing to current
    and deleted resources in every reference form, one List updated, one deleted."""
    known = [k for k in b.data.order if k[0] in LISTED_TYPES]  # deleted ones included
    lists = []
    for i in range(8):
        size = 0 if i == 6 else rng.randint(4, 30)
        entries = [_list_entry(rng, k) for k in rng.sample(known, size)]
        if i == 7:
            entries.append({"item": {"reference": "List/list-0"}})  # a List in a List
        lst: dict[str, Any] = {
            "resourceType": "List",
            "id": f"list-{i}",
            "status": rng.choice(["current", "retired"]),
            "mode": "working",
            "title": rng.choice(["Patients suivis", "Résultats à revoir", "Équipe de garde"]),
        }
        if entries:
            lst["entry"] = entries
        lists.append(b.put(lst))
    changed = dict(lists[1])
    changed["entry"] = [_list_entry(rng, k) for k in rng.sample(known, 6)]
    b.put(changed)  # the entries of the first version no longer count
    b.delete(("List", "list-2"))


def _observation_value(b: _Builder, obs: dict[str, Any], kind: str) -> None:
    rng = b.rng
    if kind == "weight":
        obs["code"] = {"coding": [b.coding(LOINC, WEIGHT, "Poids corporel")], "text": "Poids"}
        kg = round(rng.uniform(3, 120), rng.choice([0, 1]))
        if b.chance(0.7):
            obs["valueQuantity"] = {"value": kg, "unit": "kg", "system": UCUM, "code": "kg"}
        else:
            obs["valueQuantity"] = {
                "value": int(kg * 1000),
                "unit": "g",
                "system": UCUM,
                "code": "g",
            }
    elif kind == "height":
        obs["code"] = {"coding": [b.coding(LOINC, HEIGHT, "Taille")]}
        cm = rng.randint(50, 200)
        obs["valueQuantity"] = (
            {"value": cm, "unit": "cm", "system": UCUM, "code": "cm"}
            if b.chance(0.6)
            else {"value": cm / 100, "unit": "m", "system": UCUM, "code": "m"}
        )
    elif kind == "glucose":
        obs["code"] = {
            "coding": [
                b.coding(LOINC, GLUCOSE, "Glucose [Masse/Volume] Sang"),
                b.coding("urn:oid:1.2.250.1.213.2.12", f"GLU{rng.randint(1, 3)}"),
            ]
        }
        mg_dl = rng.randint(60, 250)
        unit = b.pick(["mg/dL", "g/L", "mmol/L"])
        value = {"mg/dL": mg_dl, "g/L": mg_dl / 100, "mmol/L": round(mg_dl / 18, 1)}[unit]
        obs["valueQuantity"] = {"value": value, "unit": unit, "system": UCUM, "code": unit}
    elif kind == "bp":
        obs["code"] = {"coding": [b.coding(LOINC, BP, "Pression artérielle")]}
        unit = "mm[Hg]" if b.chance(0.85) else "kPa"
        sys_v, dia_v = rng.randint(90, 180), rng.randint(50, 110)
        if unit == "kPa":
            sys_v, dia_v = round(sys_v * 0.1333, 1), round(dia_v * 0.1333, 1)
        obs["component"] = [
            {
                "code": {"coding": [b.coding(LOINC, SYSTOLIC, "Systolique")]},
                "valueQuantity": {"value": sys_v, "unit": unit, "system": UCUM, "code": unit},
            },
            {
                "code": {"coding": [b.coding(LOINC, DIASTOLIC, "Diastolique")]},
                "valueQuantity": {"value": dia_v, "unit": unit, "system": UCUM, "code": unit},
            },
        ]
    elif kind == "crp":
        obs["code"] = {"coding": [b.coding(LOINC, CRP, "Protéine C réactive")]}
        if b.chance(0.3):
            obs["valueQuantity"] = {
                "value": 5,
                "comparator": "<",
                "unit": "mg/L",
                "system": UCUM,
                "code": "mg/L",
            }
        else:
            value = round(rng.uniform(0.5, 80), 1)
            obs["valueQuantity"] = {"value": value, "unit": "mg/L", "system": UCUM, "code": "mg/L"}
    elif kind == "group":
        obs["code"] = {"coding": [b.coding(LOINC, BLOOD_GROUP, "Groupe sanguin ABO")]}
        code, display = b.pick(
            [("112144000", "Groupe A"), ("112149005", "Groupe B"), ("58460004", "Groupe O")]
        )
        obs["valueCodeableConcept"] = {
            "coding": [b.coding(SNOMED, code, display)],
            "text": f"{display} Rhésus {b.pick(['positif', 'négatif'])}",
        }
    elif kind == "note":
        obs["code"] = {"coding": [b.coding(LOINC, NOTE)], "text": "Commentaire"}
        obs["valueString"] = b.pick(
            [
                "Résultat normal",
                "Hémolyse légère, à contrôler",
                "Prélèvement non conforme",
                "RAS",
                "À revoir dans 3 mois",
            ]
        )
    else:
        obs["code"] = {"coding": [b.coding(LOINC, LMP, "Date des dernières règles")]}
        obs["valueDateTime"] = b.datetime(2023, 2024)
