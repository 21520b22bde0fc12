"""The `socle demo` data set: a small, coherent French care network as FHIR transactions.

Five establishments in Brittany, ten professionals, twenty-five patients with one to three
encounters each, and the observations, conditions, prescriptions and documents those
encounters produce. Everything is drawn from `random.Random(seed)` against a fixed "today",
so a seed always yields byte-identical bundles.

Layout: the first bundle is the directory (Organizations, Practitioners, PractitionerRoles);
then one bundle per patient. Each patient bundle repeats, as conditional creates, the
directory entries it points at, so it loads on its own and references resolve inside it.
Every entry is a POST with `ifNoneExist` on an identifier, so loading twice creates nothing
new: directory and patients are keyed on FINESS, IDNPS and INS; clinical resources on a
`urn:ietf:rfc:3986` identifier equal to their fullUrl.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from socle.demo import builders as b
from socle.demo import vocabulary as v
from socle.demo.builders import Json, Person
from socle.demo.identifiers import finess_with_key, make_nir, rpps_with_key

TODAY = date(2025, 6, 30)  # the demo world's "now": fixed so output never drifts with the clock
N_PATIENTS = 25

_BRITTANY = tuple(c for c in v.COMMUNES if c.dept in ("22", "29", "35", "56"))
_COMMUNE = {c.name: c for c in v.COMMUNES}


@dataclass(frozen=True)
class _OrgSpec:
    key: str
    name: str
    category: str
    commune: str
    legal_entity: bool = False


_ORGS = (
    _OrgSpec(
        "hospital",
        "Centre hospitalier des Trois Rivières",
        "Centre hospitalier",
        "Vannes",
        legal_entity=True,
    ),
    _OrgSpec(
        "clinic",
        "Clinique de l'Odet",
        "Clinique (établissement de soins privé)",
        "Quimper",
        legal_entity=True,
    ),
    _OrgSpec(
        "practice",
        "Maison de santé pluriprofessionnelle du Blavet",
        "Maison de santé pluriprofessionnelle",
        "Lorient",
    ),
    _OrgSpec(
        "lab",
        "Laboratoire de biologie médicale Ar Mor",
        "Laboratoire de biologie médicale",
        "Brest",
    ),
    _OrgSpec(
        "ehpad",
        "EHPAD Résidence des Camélias",
        "Établissement d'hébergement pour personnes âgées dépendantes",
        "Rennes",
    ),
)

MEDECIN = ("10", "Médecin")
PHARMACIEN = ("21", "Pharmacien")
INFIRMIER = ("60", "Infirmier")


@dataclass(frozen=True)
class _PractSpec:
    key: str
    profession: tuple[str, str]
    specialty: tuple[str, str] | None
    orgs: tuple[str, ...]  # the first one is the main place of work
    mode: str  # TRE_R23: S salarié, L libéral


_PRACTITIONERS = (
    _PractSpec("gp1", MEDECIN, ("SM54", "Médecine générale (SM)"), ("practice",), "L"),
    _PractSpec("gp2", MEDECIN, ("SM54", "Médecine générale (SM)"), ("practice", "ehpad"), "L"),
    _PractSpec("nurse1", INFIRMIER, None, ("practice",), "L"),
    _PractSpec(
        "cardio", MEDECIN, ("SM04", "Cardiologie et Maladies vasculaires (SM)"), ("hospital",), "S"
    ),
    _PractSpec("urgent", MEDECIN, ("SM59", "Médecine d'urgence (SM)"), ("hospital",), "S"),
    _PractSpec("endo", MEDECIN, ("SM16", "Endocrinologie et Métabolisme (SM)"), ("clinic",), "L"),
    _PractSpec(
        "ortho", MEDECIN, ("SM08", "Chirurgie orthopédique et Traumatologie (SM)"), ("clinic",), "L"
    ),
    _PractSpec("bio", PHARMACIEN, None, ("lab",), "S"),
    _PractSpec("geria", MEDECIN, ("SM18", "Gériatrie (SM)"), ("ehpad",), "S"),
    _PractSpec("nurse2", INFIRMIER, None, ("ehpad",), "S"),
)


@dataclass
class _DirEntry:
    """A directory resource with what a patient bundle needs to re-include it."""

    urn: str
    resource: Json
    if_none_exist: str

    def entry(self) -> Json:
        return b.post_entry(self.urn, copy.deepcopy(self.resource), self.if_none_exist)


@dataclass
class _Directory:
    orgs: dict[str, _DirEntry] = field(default_factory=dict)
    practitioners: dict[str, _DirEntry] = field(default_factory=dict)
    roles: list[Json] = field(default_factory=list)

    def bundle(self) -> Json:
        entries = [e.entry() for e in self.orgs.values()]
        entries += [e.entry() for e in self.practitioners.values()]
        return b.transaction(entries + self.roles)


def demo_bundles(seed: int = 1) -> list[Json]:
    """Transaction bundles of the demo set: the directory first, then one per patient."""
    rng = random.Random(seed)
    directory = _build_directory(rng)
    nirs: set[str] = set()
    groups = ["adult"] * 12 + ["senior"] * 7 + ["child"] * 3 + ["resident"] * 3
    rng.shuffle(groups)
    bundles = [directory.bundle()]
    for index, group in enumerate(groups):
        person = _person(rng, index, group, nirs)
        bundles.append(_PatientBuilder(rng, directory, person, group).bundle())
    return bundles


# --- directory -------------------------------------------------------------------------------


def _build_directory(rng: random.Random) -> _Directory:
    directory = _Directory()
    used: set[str] = set()
    for spec in _ORGS:
        commune = _COMMUNE[spec.commune]
        finess = _draw_finess(rng, used, commune)
        ej = _draw_finess(rng, used, commune) if spec.legal_entity else None
        resource = b.organization(
            name=spec.name,
            finess=finess,
            finess_ej=ej,
            category=spec.category,
            commune=commune,
            street=_street(rng),
            phone=b.fictional_phone(rng, mobile=False),
        )
        directory.orgs[spec.key] = _DirEntry(
            b.new_urn(rng), resource, f"identifier={v.FINESS}|{finess}"
        )
    for spec in _PRACTITIONERS:
        sex = rng.choice(("female", "male"))
        given = rng.choice(v.GIVEN_FEMALE if sex == "female" else v.GIVEN_MALE)
        family = rng.choice(v.FAMILY_NAMES)
        # 997... is the RPPS range of ANS test professionals: never a real person's number
        rpps = _unique(used, lambda: rpps_with_key(f"997{rng.randrange(10**7):07d}"))
        resource = b.practitioner(
            rpps=rpps,
            family=family,
            given=given,
            sex=sex,
            profession=spec.profession,
            email=b.email_for(given, family, "demo.mssante.example"),
        )
        urn = b.new_urn(rng)
        directory.practitioners[spec.key] = _DirEntry(
            urn, resource, f"identifier={v.IDNPS}|8{rpps}"
        )
        for org_key in spec.orgs:
            directory.roles.append(_role_entry(rng, urn, directory.orgs[org_key].urn, spec))
    return directory


def _role_entry(rng: random.Random, practitioner_urn: str, org_urn: str, spec: _PractSpec) -> Json:
    urn = b.new_urn(rng)
    resource = b.practitioner_role(
        practitioner_ref=practitioner_urn,
        organization_ref=org_urn,
        mode=spec.mode,
        specialty=spec.specialty,
        identifier=b.uri_identifier(urn),
    )
    return b.post_entry(urn, resource, f"identifier={v.URI_IDENTIFIER}|{urn}")


def _draw_finess(rng: random.Random, used: set[str], commune: v.Commune) -> str:
    """A new FINESS number of the commune's département."""
    return _unique(used, lambda: finess_with_key(commune.dept + f"{rng.randrange(10**6):06d}"))


def _unique(used: set[str], draw: Callable[[], str]) -> str:
    """Draw until the value is new: identifiers must not collide inside the data set."""
    while (value := draw()) in used:
        pass
    used.add(value)
    return value


def _street(rng: random.Random) -> str:
    return f"{rng.randint(1, 120)} {rng.choice(v.STREETS)}"


# --- people ----------------------------------------------------------------------------------

_AGE_RANGES = {"child": (2, 15), "adult": (18, 64), "senior": (65, 84), "resident": (85, 98)}


def _person(rng: random.Random, index: int, group: str, nirs: set[str]) -> Person:
    sex = rng.choice(("female", "male"))
    age = rng.randint(*_AGE_RANGES[group])
    birth = TODAY - timedelta(days=age * 365 + rng.randrange(365))
    # the first patients are born in Corsica (2A, 2B) and overseas: the NIR edge cases
    special = {0: "Ajaccio", 1: "Bastia", 2: "Pointe-à-Pitre", 3: "Saint-Denis"}
    birthplace = _COMMUNE[special[index]] if index in special else rng.choice(v.COMMUNES)
    place = birthplace.insee
    split = 3 if place.startswith("97") else 2
    nir = _unique(
        nirs,
        lambda: make_nir(
            sex, birth.year, birth.month, place[:split], place[split:], rng.randint(1, 999)
        ),
    )
    pool = v.GIVEN_FEMALE if sex == "female" else v.GIVEN_MALE
    given = tuple(rng.sample(pool, rng.choice((1, 2, 2, 3))))
    family = rng.choice(v.FAMILY_NAMES)
    usual, marital = _marriage(rng, sex, group, family)
    email = (
        b.email_for(given[0], usual or family) if group != "child" and rng.random() < 0.6 else None
    )
    return Person(
        sex=sex,
        given=given,
        family=family,
        usual_family=usual,
        birth_date=birth,
        birthplace=birthplace,
        nir=nir,
        home=rng.choice(_BRITTANY),
        street=_street(rng),
        phone=b.fictional_phone(rng, mobile=True),
        email=email,
        marital=marital,
    )


def _marriage(rng: random.Random, sex: str, group: str, family: str) -> tuple[str | None, str]:
    """Marital status, and for some married women a usage name (spouse's or double name)."""
    if group == "child" or rng.random() < 0.35:
        return None, "S" if group in ("child", "adult") else "D"
    marital = "W" if group == "resident" and rng.random() < 0.6 else "M"
    if sex == "female" and rng.random() < 0.7:
        spouse = rng.choice([f for f in v.FAMILY_NAMES if f != family])
        usual = (
            f"{spouse}-{family}" if rng.random() < 0.25 and "-" not in spouse + family else spouse
        )
        return usual, marital
    return None, marital


# --- clinical story --------------------------------------------------------------------------

# kind of visit -> (organisation, practitioner (None: the patient's GP), earliest hour,
# latest hour, typical minutes, setting)
_VISITS = {
    "gp": ("practice", None, 8, 18, 20, v.CHECKUP),
    "ehpad": ("ehpad", "geria", 9, 16, 30, v.CHECKUP),
    "cardio": ("hospital", "cardio", 8, 16, 30, v.AMBULATORY),
    "endo": ("clinic", "endo", 8, 16, 30, v.AMBULATORY),
    "lab": ("lab", "bio", 7, 10, 15, v.AMBULATORY),
    "emergency": ("hospital", "urgent", 0, 23, 240, v.EMERGENCY),
    "inpatient": ("clinic", "ortho", 7, 10, 0, v.INPATIENT),
}
_DOCUMENTS = {"inpatient": v.DISCHARGE_SUMMARY, "emergency": v.SUMMARY_NOTE, "lab": v.LAB_REPORT}


@dataclass(frozen=True)
class _Visit:
    """One encounter as the resources recording it need it."""

    kind: str
    day: date
    encounter: str  # urn of the Encounter
    practitioner: str  # key in the directory
    practitioner_ref: str
    organization_ref: str
    start: str
    end: str


class _PatientBuilder:
    """Writes one patient's bundle: identity, visits and what each visit records."""

    def __init__(self, rng: random.Random, directory: _Directory, person: Person, group: str):
        self.rng = rng
        self.dir = directory
        self.person = person
        self.group = group
        self.age = b.age_on(person.birth_date, TODAY)
        self.entries: list[Json] = []
        self.used_orgs: dict[str, None] = {}  # insertion-ordered sets
        self.used_practs: dict[str, None] = {}
        self.patient_urn = b.new_urn(rng)
        # EHPAD residents keep the practice doctor who also coordinates the EHPAD
        self.gp = "gp2" if group == "resident" else rng.choice(("gp1", "gp2"))
        self.chronic = self._chronic_problems()
        self.chronic_urns: dict[str, str] = {}
        self.height = self._height()
        self.weight = self._weight()

    # -- facts about the patient --

    def _chronic_problems(self) -> list[v.Problem]:
        factor = {"resident": 2.0, "senior": 1.5}.get(self.group, 1.0)
        found = [
            p
            for p in v.PROBLEMS
            if p.chronic and self.age >= p.min_age and self.rng.random() < p.weight * factor
        ]
        return found[:3]

    def _has(self, code: str) -> bool:
        return any(p.code == code for p in self.chronic)

    def _height(self) -> float:
        if self.age < 18:
            return round(80 + 6.5 * self.age + self.rng.uniform(-5, 5))
        base = 176 if self.person.sex == "male" else 163
        return round(base + self.rng.gauss(0, 6) - (4 if self.age > 75 else 0))

    def _weight(self) -> float:
        if self.age < 18:
            return round(10 + 2.6 * self.age + self.rng.uniform(-2, 4), 1)
        bmi = self.rng.uniform(20, 31) + (3 if self._has("E11.9") else 0)
        return round(bmi * (self.height / 100) ** 2, 1)

    def _org(self, key: str) -> str:
        """Reference to a directory organisation, remembering to re-include it."""
        self.used_orgs[key] = None
        return self.dir.orgs[key].urn

    def _pract(self, key: str) -> str:
        """Reference to a directory practitioner, remembering to re-include it."""
        self.used_practs[key] = None
        return self.dir.practitioners[key].urn

    # -- assembly --

    def bundle(self) -> Json:
        kinds = self._visit_kinds()
        days = sorted(TODAY - timedelta(days=self.rng.randint(8, 1000)) for _ in kinds)
        patient = b.patient(
            self.person,
            validated_on=days[0] - timedelta(days=self.rng.randint(0, 400)),
            gp=self._pract(self.gp),
        )
        ins = f"identifier={v.INS_NIR_TEST}|{self.person.nir}"
        self.entries.append(b.post_entry(self.patient_urn, patient, ins))
        for number, (kind, day) in enumerate(zip(kinds, days, strict=True)):
            visit = self._encounter(kind, day)
            findings = self._measurements(visit)
            problems = self._diagnoses(visit, first=number == 0)
            self._prescriptions(visit, problems)
            self._document(visit, findings, problems)
        directory = [self.dir.orgs[k].entry() for k in self.used_orgs]
        directory += [self.dir.practitioners[k].entry() for k in self.used_practs]
        return b.transaction(directory + self.entries)

    def _visit_kinds(self) -> list[str]:
        """One to three visits fitting the patient's problems; the first is the usual doctor."""
        options = ["emergency"]
        if self._has("I10") or self._has("I48.9") or self._has("I50.9"):
            options.append("cardio")
        if self._has("E11.9") or self._has("E03.9"):
            options.append("endo")
        if self._has("E11.9") or self._has("E78.0") or self.age >= 50:
            options.append("lab")
        if self._has("M17.9"):
            options.append("inpatient")
        kinds = ["ehpad" if self.group == "resident" else "gp"]
        kinds += [self.rng.choice(options) for _ in range(self.rng.choice((0, 1, 1, 2)))]
        return kinds

    def _encounter(self, kind: str, day: date) -> _Visit:
        rng = self.rng
        org, pract, first_hour, last_hour, minutes, setting = _VISITS[kind]
        pract = pract or self.gp
        start = datetime.combine(
            day, time(rng.randint(first_hour, last_hour), rng.choice((0, 15, 30, 45)))
        )
        if kind == "inpatient":
            end = datetime.combine(
                day + timedelta(days=rng.randint(2, 6)), time(rng.randint(10, 16))
            )
        else:
            end = start + timedelta(minutes=minutes + rng.randint(0, minutes // 2))
        urn = b.new_urn(rng)
        visit = _Visit(
            kind,
            day,
            urn,
            pract,
            self._pract(pract),
            self._org(org),
            b.format_local(start),
            b.format_local(end),
        )
        resource = b.encounter(
            urn=urn,
            setting=setting,
            subject=self.patient_urn,
            practitioner_ref=visit.practitioner_ref,
            organization_ref=visit.organization_ref,
            start=visit.start,
            end=visit.end,
        )
        self._add(urn, resource)
        return visit

    def _add(self, urn: str, resource: Json) -> None:
        """Append a clinical resource, created only if its URI identifier is unknown."""
        self.entries.append(b.post_entry(urn, resource, f"identifier={v.URI_IDENTIFIER}|{urn}"))

    # -- what a visit records --

    def _measurements(self, visit: _Visit) -> list[str]:
        """Vital signs or lab results fitting the visit; returns lines for the note."""
        rng = self.rng
        kind = visit.kind
        performer = visit.practitioner_ref
        if kind == "ehpad" and rng.random() < 0.6:
            performer = self._pract("nurse2")
        elif kind == "gp" and rng.random() < 0.3:
            performer = self._pract("nurse1")
        lines: list[str] = []

        def measure(vital: v.Vital, value: float) -> None:
            self._observation(visit, performer, vital, value)
            lines.append(f"{vital.text} : {value} {_unit_text(vital.unit)}")

        if kind == "lab":
            diabetic = self._has("E11.9")
            measure(v.GLUCOSE, rng.randint(130, 220) if diabetic else rng.randint(75, 105))
            if diabetic:
                measure(v.HBA1C, round(rng.uniform(6.5, 9.0), 1))
            if self._has("E78.0"):
                measure(v.CHOLESTEROL, rng.randint(230, 300))
            elif rng.random() < 0.5:
                measure(v.CHOLESTEROL, rng.randint(150, 210))
            measure(v.CREATININE, round(rng.uniform(0.6, 1.2), 2))
            return lines
        weight = round(self.weight + rng.uniform(-1.5, 1.5), 1)
        if kind in ("gp", "ehpad", "endo", "inpatient"):
            measure(v.WEIGHT, weight)
        if kind in ("gp", "endo"):
            measure(v.HEIGHT, self.height)
            measure(v.BMI, round(weight / (self.height / 100) ** 2, 1))
        if self.age >= 3:
            high = self._has("I10")
            systolic = rng.randint(135, 165) if high else rng.randint(105, 135)
            diastolic = rng.randint(80, 98) if high else rng.randint(62, 84)
            self._blood_pressure(visit, performer, systolic, diastolic)
            lines.append(f"Pression artérielle : {systolic}/{diastolic} mmHg")
        measure(v.HEART_RATE, rng.randint(58, 96))
        if kind in ("emergency", "inpatient"):
            measure(v.TEMPERATURE, round(rng.uniform(36.2, 38.6), 1))
            measure(v.SPO2, rng.randint(93, 100))
        if kind == "endo" and self._has("E11.9"):
            measure(v.GLUCOSE, rng.randint(120, 210))
        return lines

    def _observation(self, visit: _Visit, performer: str, vital: v.Vital, value: float) -> None:
        urn = b.new_urn(self.rng)
        obs = b.observation(
            vital,
            value,
            subject=self.patient_urn,
            encounter_ref=visit.encounter,
            when=visit.start,
            performer=performer,
            identifier=b.uri_identifier(urn),
        )
        self._add(urn, obs)

    def _blood_pressure(self, visit: _Visit, performer: str, systolic: int, diastolic: int) -> None:
        urn = b.new_urn(self.rng)
        obs = b.blood_pressure(
            systolic,
            diastolic,
            subject=self.patient_urn,
            encounter_ref=visit.encounter,
            when=visit.start,
            performer=performer,
            identifier=b.uri_identifier(urn),
        )
        self._add(urn, obs)

    def _diagnoses(self, visit: _Visit, first: bool) -> list[tuple[v.Problem, str]]:
        """Chronic problems go on the list at the first visit; emergencies bring an acute one.

        Returns (problem, Condition urn) pairs the visit dealt with, for prescriptions and
        the note; an inpatient stay points at the gonarthrosis recorded earlier.
        """
        rng = self.rng
        dealt: list[tuple[v.Problem, str]] = []
        if first:
            for problem in self.chronic:
                years = rng.randint(1, max(1, min(15, self.age - problem.min_age)))
                onset = (visit.day - timedelta(days=365 * years)).isoformat()
                urn = self._condition(visit, problem, onset, abatement=None)
                self.chronic_urns[problem.code] = urn
                dealt.append((problem, urn))
        if visit.kind == "emergency" or (visit.kind == "gp" and rng.random() < 0.5):
            problem = rng.choice([p for p in v.PROBLEMS if not p.chronic and self.age >= p.min_age])
            healed = visit.day + timedelta(days=rng.randint(5, 20))
            abatement = healed.isoformat() if healed < TODAY else None
            dealt.append((problem, self._condition(visit, problem, visit.start, abatement)))
        if visit.kind == "inpatient":
            dealt.append((v.PROBLEM_BY_CODE["M17.9"], self.chronic_urns["M17.9"]))
        return dealt

    def _condition(
        self, visit: _Visit, problem: v.Problem, onset: str, abatement: str | None
    ) -> str:
        urn = b.new_urn(self.rng)
        cond = b.condition(
            problem,
            subject=self.patient_urn,
            encounter_ref=visit.encounter,
            onset=onset,
            recorded=visit.start,
            recorder=visit.practitioner_ref,
            abatement=abatement,
            identifier=b.uri_identifier(urn),
        )
        self._add(urn, cond)
        return urn

    def _prescriptions(self, visit: _Visit, problems: list[tuple[v.Problem, str]]) -> None:
        """One prescription per drug of each problem dealt with (none at the laboratory)."""
        if visit.kind == "lab":
            return
        for problem, cond_urn in problems:
            for drug in problem.drugs:
                urn = b.new_urn(self.rng)
                req = b.medication_request(
                    v.MEDICATIONS[drug],
                    subject=self.patient_urn,
                    encounter_ref=visit.encounter,
                    authored=visit.start,
                    requester=visit.practitioner_ref,
                    reason=cond_urn,
                    active=problem.chronic and visit.kind != "inpatient",
                    identifier=b.uri_identifier(urn),
                )
                self._add(urn, req)

    def _document(
        self, visit: _Visit, findings: list[str], problems: list[tuple[v.Problem, str]]
    ) -> None:
        """The visit's note, written by the practitioner and kept by the organisation."""
        doc = _DOCUMENTS.get(visit.kind, v.CONSULT_NOTE)
        author = self.dir.practitioners[visit.practitioner].resource["name"][0]
        lines = [
            f"{doc.title} du {visit.day.strftime('%d/%m/%Y')}",
            b.patient_line(self.person),
            f"Rédigé par : {author['given'][0]} {author['family']}",
            "",
            *findings,
        ]
        if problems:
            lines += ["", "Diagnostics :", *(f"- {pr.text} ({pr.code})" for pr, _ in problems)]
        lines += ["", "Document fictif généré pour la démonstration de Socle."]
        urn = b.new_urn(self.rng)
        resource = b.document_reference(
            doc,
            "\n".join(lines) + "\n",
            subject=self.patient_urn,
            encounter_ref=visit.encounter,
            author=visit.practitioner_ref,
            custodian=visit.organization_ref,
            when=visit.end,
            period=(visit.start, visit.end),
            identifier=b.uri_identifier(urn),
        )
        self._add(urn, resource)


def _unit_text(unit: str) -> str:
    return {"mm[Hg]": "mmHg", "Cel": "°C", "kg/m2": "kg/m²"}.get(unit, unit)
