"""Scalable synthetic French patient records (Synthea-like) for benchmarks and tests.

A reference bundle PUTs a shared pool of Organizations, Practitioners and PractitionerRoles
under client-assigned ids (``syn<seed>-org-000``...). Then each patient gets one transaction
bundle: the Patient and about `resources_per_bundle_hint` resources (Encounters, vital-sign
and lab Observations, CIM-10 Conditions, ATC MedicationRequests, DocumentReferences), linked
by urn:uuid inside the bundle and by ``Practitioner/<id>`` to the pool.

Patient `i` depends only on `(seed, i)`, so output is streamed with constant memory, any
prefix of a large run equals a smaller run, and INS numbers stay unique: the birth facts
encoded in the NIR come from a bijection of the patient index (unique for the first ~80
million patients).
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from math import gcd
from pathlib import Path

import orjson

from socle.demo import builders as b
from socle.demo import vocabulary as v
from socle.demo.builders import Json, Person
from socle.demo.identifiers import finess_with_key, make_nir, rpps_with_key

TODAY = date(2025, 6, 30)  # fixed "now" so a seed always gives the same records
DEFAULT_HINT = 20
POOL_ORGANIZATIONS = 12
POOL_PRACTITIONERS = 60

_ORG_KINDS = (
    ("Centre hospitalier", "CH"),
    ("Clinique (établissement de soins privé)", "Clinique"),
    ("Maison de santé pluriprofessionnelle", "MSP"),
    ("Laboratoire de biologie médicale", "LBM"),
    ("Établissement d'hébergement pour personnes âgées dépendantes", "EHPAD"),
    ("Centre de santé", "Centre de santé"),
)
_PROFESSIONS = (  # (TRE_G15 code, display, relative weight)
    ("10", "Médecin", 60),
    ("60", "Infirmier", 25),
    ("21", "Pharmacien", 5),
    ("70", "Masseur-Kinésithérapeute", 5),
    ("50", "Sage-Femme", 5),
)
_SPECIALTIES = (
    ("SM54", "Médecine générale (SM)"),
    ("SM54", "Médecine générale (SM)"),
    ("SM54", "Médecine générale (SM)"),
    ("SM04", "Cardiologie et Maladies vasculaires (SM)"),
    ("SM16", "Endocrinologie et Métabolisme (SM)"),
    ("SM18", "Gériatrie (SM)"),
    ("SM40", "Pédiatrie (SM)"),
    ("SM41", "Pneumologie (SM)"),
    ("SM59", "Médecine d'urgence (SM)"),
)
_SETTINGS = (
    v.CHECKUP,
    v.CHECKUP,
    v.AMBULATORY,
    v.AMBULATORY,
    v.AMBULATORY,
    v.AMBULATORY,
    v.AMBULATORY,
    v.EMERGENCY,
    v.INPATIENT,
    v.CHECKUP,
)
_DOCS = {"AMB": v.CONSULT_NOTE, "EMER": v.SUMMARY_NOTE, "IMP": v.DISCHARGE_SUMMARY}
_CHRONIC = tuple(p for p in v.PROBLEMS if p.chronic)
_ACUTE = tuple(p for p in v.PROBLEMS if not p.chronic)

# Resources per encounter, and per patient besides (Patient, height, BMI, chronic problems and
# their drugs), fitted on 15,000 patients: they turn the size hint into a number of encounters.
# With one encounter minimum, bundles average at least about 10 resources.
_PER_ENCOUNTER = 5.45
_PER_PATIENT = 4.7


# --- reference pool --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Pool:
    """Ids and roles of the shared directory of one seed."""

    organizations: tuple[str, ...]  # "Organization/<id>"
    practitioners: tuple[str, ...]  # "Practitioner/<id>"
    prescribers: tuple[int, ...]  # indexes of physicians
    workplace: tuple[int, ...]  # organisation index of each practitioner
    bundle_entries: tuple[bytes, ...]  # serialised entries, so each call gets fresh dicts


@lru_cache(maxsize=16)
def _pool(seed: int) -> _Pool:
    rng = random.Random(f"socle-synthetic-pool:{seed}")
    entries: list[Json] = []
    used: set[str] = set()
    organizations = []
    for i in range(POOL_ORGANIZATIONS):
        category, short = _ORG_KINDS[i % len(_ORG_KINDS)]
        commune = rng.choice(v.COMMUNES)
        dept = commune.dept[:2] if commune.dept.isdigit() else "20"
        while (finess := finess_with_key(dept + f"{rng.randrange(10**6):06d}")) in used:
            pass
        used.add(finess)
        org = b.organization(
            name=f"{short} synthétique n°{i + 1} de {commune.name}",
            finess=finess,
            category=category,
            commune=commune,
            street=f"{rng.randint(1, 200)} {rng.choice(v.STREETS)}",
            phone=b.fictional_phone(rng, mobile=False),
        )
        org_id = f"syn{seed}-org-{i:03d}"
        entries.append(b.put_entry({"resourceType": "Organization", "id": org_id, **_body(org)}))
        organizations.append(f"Organization/{org_id}")
    practitioners, prescribers, workplace = [], [], []
    weights = [w for _, _, w in _PROFESSIONS]
    for i in range(POOL_PRACTITIONERS):
        code, display, _ = rng.choices(_PROFESSIONS, weights)[0]
        if i == 0:
            code, display = "10", "Médecin"  # at least one prescriber whatever the draw
        sex = rng.choice(("female", "male"))
        given = rng.choice(v.GIVEN_FEMALE if sex == "female" else v.GIVEN_MALE)
        family = rng.choice(v.FAMILY_NAMES)
        while (rpps := rpps_with_key(f"997{rng.randrange(10**7):07d}")) in used:
            pass  # 997... is the ANS test range: never a real professional
        used.add(rpps)
        pract = b.practitioner(
            rpps=rpps,
            family=family,
            given=given,
            sex=sex,
            profession=(code, display),
            email=b.email_for(given, family, "synthetique.mssante.example"),
        )
        pract_id = f"syn{seed}-pra-{i:03d}"
        entries.append(
            b.put_entry({"resourceType": "Practitioner", "id": pract_id, **_body(pract)})
        )
        org_index = i % POOL_ORGANIZATIONS
        role = b.practitioner_role(
            practitioner_ref=f"Practitioner/{pract_id}",
            organization_ref=organizations[org_index],
            mode=rng.choice(("S", "L")),
            specialty=rng.choice(_SPECIALTIES) if code == "10" else None,
        )
        role_id = f"syn{seed}-rol-{i:03d}"
        entries.append(
            b.put_entry({"resourceType": "PractitionerRole", "id": role_id, **_body(role)})
        )
        practitioners.append(f"Practitioner/{pract_id}")
        workplace.append(org_index)
        if code == "10":
            prescribers.append(i)
    return _Pool(
        tuple(organizations),
        tuple(practitioners),
        tuple(prescribers),
        tuple(workplace),
        tuple(orjson.dumps(e) for e in entries),
    )


def _body(resource: Json) -> Json:
    """Resource without its type, to re-emit it with an id right after resourceType."""
    return {k: val for k, val in resource.items() if k != "resourceType"}


def synthetic_reference_bundle(seed: int = 1) -> Json:
    """Transaction that PUTs the shared Organizations, Practitioners and PractitionerRoles."""
    return b.transaction([orjson.loads(e) for e in _pool(seed).bundle_entries])


def reference_pool_ids(seed: int = 1) -> frozenset[str]:
    """``Type/id`` of every resource of the reference bundle, for reference checks."""
    return frozenset(e["request"]["url"] for e in synthetic_reference_bundle(seed)["entry"])


# --- patients --------------------------------------------------------------------------------

_YEARS = 90
_MONTHS = 12
_ORDERS = 999
_SPACE = 2 * _YEARS * _MONTHS * len(v.COMMUNES) * _ORDERS


@lru_cache(maxsize=1)
def _multiplier() -> int:
    """A step coprime with the NIR space, near its golden section, so keys look shuffled."""
    step = int(_SPACE * 0.6180339887)
    while gcd(step, _SPACE) != 1:
        step += 1
    return step


def _birth_facts(index: int, seed: int) -> tuple[str, int, int, v.Commune, int]:
    """(sex, birth year, birth month, birthplace, order) unique per index below _SPACE."""
    key = (index * _multiplier() + seed * 7919) % _SPACE
    key, order = divmod(key, _ORDERS)
    key, commune = divmod(key, len(v.COMMUNES))
    key, month = divmod(key, _MONTHS)
    sex, years_back = divmod(key, _YEARS)
    year = TODAY.year - 1 - years_back
    return ("male", "female")[sex], year, month + 1, v.COMMUNES[commune], order + 1


def _person(rng: random.Random, index: int, seed: int) -> Person:
    sex, year, month, birthplace, order = _birth_facts(index, seed)
    birth = date(year, month, rng.randint(1, 28))
    place = birthplace.insee
    split = 3 if place.startswith("97") else 2
    nir = make_nir(sex, year, month, place[:split], place[split:], order)
    names = v.GIVEN_FEMALE if sex == "female" else v.GIVEN_MALE
    given = (rng.choice(names),) if rng.random() < 0.4 else tuple(rng.sample(names, 2))
    family = rng.choice(v.FAMILY_NAMES)
    adult = TODAY.year - year >= 20
    married = adult and rng.random() < 0.55
    usual = (
        rng.choice(v.FAMILY_NAMES) if married and sex == "female" and rng.random() < 0.7 else None
    )
    return Person(
        sex=sex,
        given=given,
        family=family,
        usual_family=usual if usual != family else None,
        birth_date=birth,
        birthplace=birthplace,
        nir=nir,
        home=rng.choice(v.COMMUNES),
        street=f"{rng.randint(1, 150)} {rng.choice(v.STREETS)}",
        phone=b.fictional_phone(rng, mobile=True),
        email=b.email_for(given[0], family) if adult and rng.random() < 0.5 else None,
        marital="M" if married else "S",
    )


class _Record:
    """Builds one patient's entries: identity, then encounters and what each one records."""

    __slots__ = ("rng", "pool", "entries", "patient", "age", "person", "height", "weight")

    def __init__(self, rng: random.Random, pool: _Pool, person: Person):
        self.rng = rng
        self.pool = pool
        self.person = person
        self.entries: list[Json] = []
        self.patient = b.new_urn(rng)
        self.age = b.age_on(person.birth_date, TODAY)
        if self.age < 18:
            self.height = round(55 + 7 * self.age + rng.uniform(-4, 4))
            self.weight = round(4 + 2.7 * self.age + rng.uniform(-1, 3), 1)
        else:
            self.height = round((176 if person.sex == "male" else 163) + rng.gauss(0, 6))
            self.weight = round(rng.uniform(19, 32) * (self.height / 100) ** 2, 1)

    def add(self, urn: str, resource: Json) -> None:
        self.entries.append(
            {
                "fullUrl": urn,
                "resource": resource,
                "request": {"method": "POST", "url": resource["resourceType"]},
            }
        )

    def build(self, n_encounters: int) -> list[Json]:
        rng = self.rng
        earliest = max(self.person.birth_date + timedelta(days=30), TODAY - timedelta(days=1825))
        span = max(1, (TODAY - earliest).days)
        days = sorted(earliest + timedelta(days=rng.randrange(span)) for _ in range(n_encounters))
        gp = self.pool.practitioners[rng.choice(self.pool.prescribers)]
        patient = b.patient(
            self.person, validated_on=days[0] - timedelta(days=rng.randrange(60)), gp=gp
        )
        self.add(self.patient, patient)
        chronic = [
            p
            for p in _CHRONIC
            if self.age >= p.min_age and rng.random() < p.weight * (1.6 if self.age >= 65 else 1.0)
        ]
        for number, day in enumerate(days):
            self.encounter(day, chronic if number == 0 else [], first=number == 0)
        return self.entries

    def encounter(self, day: date, chronic: list[v.Problem], first: bool) -> None:
        rng = self.rng
        pool = self.pool
        prescriber = rng.choice(pool.prescribers)
        pract = pool.practitioners[prescriber]
        org = pool.organizations[pool.workplace[prescriber]]
        setting = rng.choice(_SETTINGS)
        hour = rng.randint(0, 23) if setting is v.EMERGENCY else rng.randint(8, 18)
        start = b.local_datetime(day, hour, rng.choice((0, 15, 30, 45)))
        if setting is v.INPATIENT:
            end_day = day + timedelta(days=rng.randint(1, 7))
            end = b.local_datetime(min(end_day, TODAY), rng.randint(10, 17), 0)
        else:
            end = b.local_datetime(day, min(hour + 1, 23), 59)
        enc = b.new_urn(rng)
        self.add(
            enc,
            b.encounter(
                urn=enc,
                setting=setting,
                subject=self.patient,
                practitioner_ref=pract,
                organization_ref=org,
                start=start,
                end=end,
            ),
        )
        self.vitals(enc, pract, start, first)
        problems = list(chronic)
        if rng.random() < 0.3:
            problems.append(rng.choice([p for p in _ACUTE if self.age >= p.min_age]))
        for problem in problems:
            self.problem(problem, day, enc, pract, start)
        if rng.random() < 0.5:
            self.document(setting, enc, pract, org, (start, end), problems)

    def problem(self, problem: v.Problem, day: date, enc: str, pract: str, start: str) -> None:
        """A Condition and a prescription for each of its drugs."""
        rng = self.rng
        onset = start
        if problem.chronic:
            began = day - timedelta(days=rng.randint(30, 3000))
            onset = began.isoformat() if began > self.person.birth_date else start
        cond = b.new_urn(rng)
        self.add(
            cond,
            b.condition(
                problem,
                subject=self.patient,
                encounter_ref=enc,
                onset=onset,
                recorded=start,
                recorder=pract,
            ),
        )
        for drug in problem.drugs:
            self.add(
                b.new_urn(rng),
                b.medication_request(
                    v.MEDICATIONS[drug],
                    subject=self.patient,
                    encounter_ref=enc,
                    authored=start,
                    requester=pract,
                    reason=cond,
                    active=problem.chronic,
                ),
            )

    def vitals(self, enc: str, pract: str, when: str, first: bool) -> None:
        rng = self.rng
        common = {"subject": self.patient, "encounter_ref": enc, "when": when, "performer": pract}
        weight = round(self.weight + rng.uniform(-1.5, 1.5), 1)
        self.add(b.new_urn(rng), b.observation(v.WEIGHT, weight, **common))
        if first:
            self.add(b.new_urn(rng), b.observation(v.HEIGHT, self.height, **common))
            bmi = round(weight / (self.height / 100) ** 2, 1)
            self.add(b.new_urn(rng), b.observation(v.BMI, bmi, **common))
        if self.age >= 3:
            self.add(
                b.new_urn(rng),
                b.blood_pressure(rng.randint(100, 160), rng.randint(60, 95), **common),
            )
        self.add(b.new_urn(rng), b.observation(v.HEART_RATE, rng.randint(55, 110), **common))
        if rng.random() < 0.2:
            self.add(b.new_urn(rng), b.observation(v.GLUCOSE, rng.randint(70, 200), **common))
        if rng.random() < 0.2:
            temp = round(rng.uniform(36.0, 39.0), 1)
            self.add(b.new_urn(rng), b.observation(v.TEMPERATURE, temp, **common))

    def document(
        self,
        setting: v.Setting,
        enc: str,
        pract: str,
        org: str,
        period: tuple[str, str],
        problems: list[v.Problem],
    ) -> None:
        """Half of the encounters leave a short note, kept by the practitioner's workplace."""
        start, end = period
        doc = _DOCS[setting[0]]
        diagnoses = "".join(f"- {pr.text} ({pr.code})\n" for pr in problems) or "- Néant\n"
        text = (
            f"{doc.title} du {start[:10]}\n"
            f"{b.patient_line(self.person)}\n"
            f"Diagnostics :\n{diagnoses}"
            "Document synthétique généré par Socle.\n"
        )
        self.add(
            b.new_urn(self.rng),
            b.document_reference(
                doc,
                text,
                subject=self.patient,
                encounter_ref=enc,
                author=pract,
                custodian=org,
                when=end,
                period=period,
            ),
        )


def _encounter_count(rng: random.Random, hint: int) -> int:
    """Draw a number of encounters whose mean makes the bundle about `hint` resources."""
    mean = max(1.0, (hint - _PER_PATIENT) / _PER_ENCOUNTER)
    return 1 + int(rng.random() * (2 * mean - 1))


def synthetic_patient_bundle(
    index: int, seed: int = 1, resources_per_bundle_hint: int = DEFAULT_HINT
) -> Json:
    """Transaction bundle of patient number `index` (0-based): same as the streamed one."""
    rng = random.Random(f"socle-synthetic:{seed}:{index}")
    record = _Record(rng, _pool(seed), _person(rng, index, seed))
    return b.transaction(record.build(_encounter_count(rng, resources_per_bundle_hint)))


def synthetic_bundles(
    n_patients: int,
    seed: int = 1,
    resources_per_bundle_hint: int = DEFAULT_HINT,
    *,
    include_reference: bool = True,
) -> Iterator[Json]:
    """Stream transaction bundles: the reference pool first, then one per patient."""
    if include_reference:
        yield synthetic_reference_bundle(seed)
    for index in range(n_patients):
        yield synthetic_patient_bundle(index, seed, resources_per_bundle_hint)


def count_resources(bundles: Iterable[Json]) -> int:
    """Number of resources across bundles (consumes an iterator)."""
    return sum(len(bundle.get("entry", ())) for bundle in bundles)


def count_by_type(bundles: Iterable[Json]) -> Counter[str]:
    """Resources per type across bundles (consumes an iterator)."""
    counts: Counter[str] = Counter()
    for bundle in bundles:
        counts.update(e["resource"]["resourceType"] for e in bundle.get("entry", ()))
    return counts


# --- files -----------------------------------------------------------------------------------

_LOCAL_REF = re.compile(rb'"reference":"urn:uuid:([0-9a-f-]{36})"')


def write_bundles(
    directory: str | Path,
    n_patients: int,
    seed: int = 1,
    resources_per_bundle_hint: int = DEFAULT_HINT,
) -> int:
    """Write `bundle-000000.json` (reference pool) then one file per patient; returns files."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    for number, bundle in enumerate(synthetic_bundles(n_patients, seed, resources_per_bundle_hint)):
        (out / f"bundle-{number:06d}.json").write_bytes(orjson.dumps(bundle))
        written += 1
    return written


def write_ndjson(
    path: str | Path,
    n_patients: int,
    seed: int = 1,
    resources_per_bundle_hint: int = DEFAULT_HINT,
) -> int:
    """Write one resource per line (bulk-import style); returns the number of resources.

    Resources get an id (the uuid of their fullUrl, or the pool id) and local urn:uuid
    references become ``Type/uuid``, so the file loads without transaction processing.
    """
    count = 0
    with open(path, "wb") as out:
        for bundle in synthetic_bundles(n_patients, seed, resources_per_bundle_hint):
            types = {
                e["fullUrl"][9:].encode(): e["resource"]["resourceType"].encode()
                for e in bundle["entry"]
                if "fullUrl" in e
            }

            def relink(match: re.Match[bytes], types: dict[bytes, bytes] = types) -> bytes:
                return b'"reference":"' + types[match[1]] + b"/" + match[1] + b'"'

            for entry in bundle["entry"]:
                resource = entry["resource"]
                if "id" not in resource:
                    resource = {
                        "resourceType": resource["resourceType"],
                        "id": entry["fullUrl"][9:],
                        **_body(resource),
                    }
                out.write(_LOCAL_REF.sub(relink, orjson.dumps(resource)) + b"\n")
                count += 1
    return count
