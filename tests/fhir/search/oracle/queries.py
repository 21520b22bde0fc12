"""The generated query matrix: every parameter type, modifier and prefix, OR/AND, chains,
``_has``, includes, sorts and paging, with values drawn (seeded) from the data set so
that most queries match something and some match nothing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from tests.fhir.search.oracle.dataset import (
    BASE,
    CRP,
    DOCS,
    FR_PATIENT,
    GLUCOSE,
    INS_NIR,
    LOINC,
    REMOTE,
    RPPS,
    SNOMED,
    SYSTOLIC,
    TAGS,
    UCUM,
    V2_0203,
    WEIGHT,
    Dataset,
)
from tests.fhir.search.oracle.params import PARAMS, items

PREFIXES = ["eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"]


@dataclass(frozen=True)
class Case:
    rtype: str | None
    params: tuple[tuple[str, str], ...]
    page: int | None = None  # walk the pages with this _count and compare

    @property
    def id(self) -> str:
        query = "&".join(f"{n}={v}" for n, v in self.params)
        suffix = f" [pages of {self.page}]" if self.page else ""
        return f"{self.rtype or ''}?{query}{suffix}"


class _Gen:
    def __init__(self, data: Dataset, seed: int) -> None:
        self.data = data
        self.rng = random.Random(seed)
        self.cases: list[Case] = []

    def add(self, rtype: str | None, *params: tuple[str, str], page: int | None = None) -> None:
        case = Case(rtype, tuple(params), page)
        if case not in self.cases:
            self.cases.append(case)

    def sample(self, values: list[Any], n: int) -> list[Any]:
        unique = list(dict.fromkeys(values))
        return self.rng.sample(unique, min(n, len(unique)))

    def values(self, rtype: str, code: str) -> list[Any]:
        param = PARAMS[rtype][code]
        return [v for r in self.data.of_type(rtype) for v in param.read(r)]


def _mangle(rng: random.Random, text: str) -> str:
    """Same text for a normalising search: other case, accents dropped, hyphens as spaces."""
    plain = text.translate(str.maketrans("éèêëàâäîïôöûüùçÉÈÎŒœÆæ'-", "eeeeaaaiioouuucEEIOoAa  "))
    return rng.choice([text.upper(), text.lower(), plain, plain.upper()])


def strings(g: _Gen) -> None:
    for rtype, params in PARAMS.items():
        for code, param in params.items():
            if param.kind != "string":
                continue
            vals = g.values(rtype, code)
            for v in g.sample(vals, 3):
                word = v.split()[0]
                g.add(rtype, (code, _mangle(g.rng, word[: g.rng.randint(1, len(word))])))
                g.add(rtype, (f"{code}:exact", v))
            for v in g.sample(vals, 2):
                g.add(rtype, (f"{code}:exact", v.upper()))  # case matters for :exact
                middle = v[len(v) // 3 : len(v) // 3 + g.rng.randint(2, 4)]
                if middle.strip():
                    g.add(rtype, (f"{code}:contains", _mangle(g.rng, middle)))
            pair = g.sample(vals, 2)
            if len(pair) == 2:
                g.add(rtype, (code, f"{pair[0][:3]},{pair[1][:2]}"))
            g.add(rtype, (code, "zzzz"))
            g.add(rtype, (f"{code}:missing", g.rng.choice(["true", "false"])))
    g.add("Patient", ("name", "jean-eric"))
    g.add("Patient", ("name", "d'artagnan"))
    g.add("Patient", ("family", "le goff"), ("given", "l"))
    g.add("Patient", ("name:contains", "ève"))
    g.add("Patient", ("name:contains", "oe"))
    g.add("Patient", ("family", "boeuf"))
    g.add("Patient", ("address-city", "saint etienne"))
    g.add("Patient", ("address", "l'hay"))
    g.add("Organization", ("name", "hopital saint jean d angely"))


def tokens(g: _Gen) -> None:
    for rtype, params in PARAMS.items():
        for code, param in params.items():
            if param.kind != "token" or ":" in code or code == "_id":
                continue
            vals = [t for t in g.values(rtype, code) if t.code is not None]
            for t in g.sample(vals, 3):
                g.add(rtype, (code, t.code))
                if t.system:
                    g.add(rtype, (code, f"{t.system}|{t.code}"))
                    g.add(rtype, (f"{code}:not", f"{t.system}|{t.code}"))
                else:
                    g.add(rtype, (code, f"|{t.code}"))
                    g.add(rtype, (f"{code}:not", t.code))
            systems = sorted({t.system for t in vals if t.system})
            for system in systems[:2]:
                g.add(rtype, (code, f"{system}|"))
            pair = g.sample(vals, 2)
            if len(pair) == 2:
                g.add(rtype, (code, f"{pair[0].code},{pair[1].code}"))
            texts = [x for t in g.values(rtype, code) for x in t.texts]
            for text in g.sample(texts, 2):
                words = text.split()
                g.add(rtype, (f"{code}:text", _mangle(g.rng, g.rng.choice(words)[:4])))
            g.add(rtype, (f"{code}:missing", g.rng.choice(["true", "false"])))
            g.add(rtype, (code, "no-such-code"))
    nir = V2_0203
    g.add("Patient", ("identifier:of-type", f"{nir}|INS-NIR|{_first_identifier(g, INS_NIR)}"))
    g.add("Patient", ("identifier:of-type", f"{nir}|PI|{_first_identifier(g, INS_NIR)}"))
    ipp = [t.code for t in g.values("Patient", "identifier") if t.code.startswith("IPP")]
    for value in g.sample(ipp, 2):
        g.add("Patient", ("identifier:of-type", f"{nir}|PI|{value}"))
    for value in g.sample([t.code for t in g.values("Practitioner", "identifier")], 2):
        g.add("Practitioner", ("identifier:of-type", f"{nir}|RPPS|{value}"))
    for rtype in PARAMS:
        for rid in g.sample([r["id"] for r in g.data.of_type(rtype)], 2):
            g.add(rtype, ("_id", rid))
            g.add(rtype, ("_id:not", rid))
    g.add("Patient", ("_id", "pat-001,pat-002,pat-999"))
    g.add("Patient", ("deceased", "true"))
    g.add("Patient", ("deceased", "false"))
    g.add("Patient", ("active:not", "true"))
    g.add("Patient", ("_tag", f"{TAGS}|updated"))
    g.add("Observation", ("_tag:not", "updated"))
    g.add("Observation", ("code", f"{LOINC}|{WEIGHT},{LOINC}|{GLUCOSE}"))
    g.add("Observation", ("combo-code", SYSTOLIC))
    g.add("Observation", ("component-code:text", "systol"))
    g.add("Observation", ("value-concept", f"{SNOMED}|112144000"))
    g.add("Observation", ("value-concept:text", "rhesus neg"))
    g.add("Condition", ("code:text", "diabete"))
    g.add("Condition", ("code:text", "type 2"))


def _first_identifier(g: _Gen, system: str) -> str:
    return next(t.code for t in g.values("Patient", "identifier") if t.system == system)


DATE_FORMS = [
    "{y}",
    "{y}-{m}",
    "{y}-{m}-{d}",
    "{y}-{m}-{d}T{H}:{M}",
    "{y}-{m}-{d}T{H}:{M}:{S}Z",
    "{y}-{m}-{d}T{H}:{M}:{S}+02:00",
    "{y}-{m}-{d}T{H}:{M}:{S}.250-05:00",
    "{y}-{m}-{d}T{H}",
]


def _date_text(g: _Gen, year: int) -> str:
    form = g.rng.choice(DATE_FORMS)
    return form.format(
        y=year,
        m=f"{g.rng.randint(1, 12):02d}",
        d=f"{g.rng.randint(1, 28):02d}",
        H=f"{g.rng.randint(0, 23):02d}",
        M=f"{g.rng.randint(0, 59):02d}",
        S=f"{g.rng.randint(0, 59):02d}",
    )


def dates(g: _Gen) -> None:
    for rtype, params in PARAMS.items():
        for code, param in params.items():
            if param.kind != "date" or code == "_lastUpdated":
                continue
            raw = _raw_dates(g, rtype, code)
            years = sorted({int(t[:4]) for t in raw}) or [2020]
            for prefix in PREFIXES:
                for _ in range(2 if prefix != "ap" else 1):
                    text = (
                        g.rng.choice(raw)
                        if raw and g.rng.random() < 0.4
                        else _date_text(g, g.rng.choice(years))
                    )
                    g.add(rtype, (code, f"{prefix}{text}"))
            g.add(rtype, (f"{code}:missing", "true"))
            if raw:
                pair = sorted(g.sample(raw, 2))
                a, b = pair[0], pair[-1]
                g.add(rtype, (code, f"ge{a[:7]}"), (code, f"le{b[:10]}"))
                g.add(rtype, (code, f"lt{a[:4]},gt{b[:4]}"))
    g.add("Patient", ("birthdate", "ge1980-01-01"), ("birthdate", "lt1990"))
    g.add("Patient", ("birthdate", "1985"))
    g.add("Encounter", ("date", "2021-06"))
    g.add("Encounter", ("date", "ge2030"))  # open periods reach the far future
    g.add("Encounter", ("date", "sa2022-01-01T00:00:00+14:00"))
    g.add("Observation", ("date", "eb2020-03-01T00:00:00-12:00"))
    lu = sorted(g.data.last_updated.values())
    for at in g.sample(lu, 4):
        from socle.fhir.datetime import format_instant

        text = format_instant(at)
        for prefix in ("eq", "gt", "le", "sa"):
            g.add("Patient", ("_lastUpdated", f"{prefix}{text}"))
    g.add("Observation", ("_lastUpdated", "ge2023-11-15"))


def _raw_dates(g: _Gen, rtype: str, code: str) -> list[str]:
    paths = {
        "birthdate": ("birthDate",),
        "death-date": ("deceasedDateTime",),
        "date": ("effectiveDateTime",) if rtype == "Observation" else ("date",),
        "authoredon": ("authoredOn",),
        "recorded-date": ("recordedDate",),
        "onset-date": ("onsetDateTime",),
        "value-date": ("valueDateTime",),
    }
    if rtype == "Encounter" and code == "date":
        path: tuple[str, ...] = ("period", "start")
    elif rtype == "MedicationRequest" and code == "date":
        path = ("dosageInstruction", "timing", "event")
    elif rtype == "DocumentReference" and code == "period":
        path = ("context", "period", "start")
    else:
        path = paths.get(code, ("nothing",))
    return [v for r in g.data.of_type(rtype) for v in items(r, *path) if isinstance(v, str)]


def numbers(g: _Gen) -> None:
    probs = [str(q.value) for q in g.values("RiskAssessment", "probability")]
    for prefix in PREFIXES:
        for text in g.sample(probs, 2) + [g.rng.choice(["0.5", "0.25", "0.1", "0.05"])]:
            g.add("RiskAssessment", ("probability", f"{prefix}{text}"))
    g.add("RiskAssessment", ("probability", "0.3"))  # the implicit range [0.25, 0.35)
    g.add("RiskAssessment", ("probability", "1e-1"))
    g.add("RiskAssessment", ("probability", "gt0.5"), ("probability", "lt0.7"))
    g.add("RiskAssessment", ("probability:missing", "false"))


def quantities(g: _Gen) -> None:
    specs = [
        ("Observation", "value-quantity"),
        ("Observation", "component-value-quantity"),
        ("Observation", "combo-value-quantity"),
        ("Encounter", "length"),
        ("Condition", "onset-age"),
    ]
    for rtype, code in specs:
        vals = g.values(rtype, code)
        for q in g.sample(vals, 6):
            prefix = g.rng.choice(PREFIXES)
            number = str(q.value)
            form = g.rng.choice(["plain", "ucum", "code", "code"])
            if form == "plain":
                g.add(rtype, (code, f"{prefix}{number}"))
            elif form == "ucum":
                g.add(rtype, (code, f"{prefix}{number}|{UCUM}|{q.code}"))
            else:
                g.add(rtype, (code, f"{prefix}{number}||{q.code}"))
        g.add(rtype, (f"{code}:missing", "false"))
    weight = f"{LOINC}|{WEIGHT}"
    g.add("Observation", ("code", weight), ("value-quantity", "gt70||kg"))
    g.add("Observation", ("code", weight), ("value-quantity", f"le50000|{UCUM}|g"))
    g.add("Observation", ("value-quantity", f"ge1.2|{UCUM}|g/L"))
    g.add("Observation", ("value-quantity", f"lt80|{UCUM}|mg/dL"))
    g.add("Observation", ("value-quantity", f"5|{UCUM}|mmol/L"))
    g.add("Observation", ("value-quantity", "lt3||mg/L"))  # "<5 mg/L" may be below 3
    g.add("Observation", ("value-quantity", "5||mg/L"))
    g.add("Observation", ("value-quantity", "gt4||mg/L"))
    g.add("Observation", ("value-quantity", "ge1.5||m"))
    g.add("Observation", ("component-value-quantity", f"gt16|{UCUM}|kPa"))
    g.add("Observation", ("component-value-quantity", f"le100|{UCUM}|mm[Hg]"))
    g.add("Encounter", ("length", "gt2||h"))
    g.add("Encounter", ("length", f"le90|{UCUM}|min"))
    g.add("Condition", ("onset-age", f"gt40|{UCUM}|a"))
    g.add("Condition", ("onset-age", "lt30||a"))
    g.add("Condition", ("onset-age", "eq45||a"))
    g.add("Condition", ("onset-age", "sa50||a"))
    g.add("Condition", ("onset-age", "eb30||a"))


def references(g: _Gen) -> None:
    for rtype, params in PARAMS.items():
        for code, param in params.items():
            if param.kind != "reference":
                continue
            refs = [r for r in g.values(rtype, code) if r.url is None]
            for ref in g.sample(refs, 3):
                form = g.rng.choice(["id", "typed", "absolute", "modifier"])
                if form == "id":
                    g.add(rtype, (code, ref.id))
                elif form == "typed":
                    g.add(rtype, (code, f"{ref.type}/{ref.id}"))
                elif form == "absolute":
                    g.add(rtype, (code, f"{BASE}/{ref.type}/{ref.id}"))
                else:
                    g.add(rtype, (f"{code}:{ref.type}", ref.id))
            g.add(rtype, (f"{code}:missing", g.rng.choice(["true", "false"])))
    remote = [r.url for r in g.values("Observation", "subject") if r.url]
    for url in g.sample(remote, 2):
        g.add("Observation", ("subject", url))
        g.add("Observation", ("subject", url.rsplit("/", 1)[1]))  # the id alone is local
    g.add("Observation", ("subject", f"{REMOTE}/Patient/nobody"))
    g.add("Observation", ("subject", "Group/g-1"))
    g.add("Patient", ("general-practitioner:Organization", "org-01,org-02"))
    g.add("Patient", ("general-practitioner", "Practitioner/pra-01,Organization/org-01"))
    for t in g.sample([t for t in g.values("Observation", "performer:identifier")], 2):
        g.add("Observation", ("performer:identifier", f"{t.system}|{t.code}"))
    g.add("Observation", ("performer:identifier", f"{RPPS}|"))


def uris(g: _Gen) -> None:
    g.add("Patient", ("_profile", FR_PATIENT))
    g.add("Patient", ("_profile:below", FR_PATIENT))
    g.add("Patient", ("_profile:below", "http://interopsante.org/fhir/StructureDefinition"))
    g.add("Patient", ("_profile:below", "http://interopsante.org/fhir/StructureDefinition/Fr"))
    g.add("Patient", ("_profile:above", f"{FR_PATIENT}/v2/extra"))
    g.add("Patient", ("_profile:above", f"{FR_PATIENT}/v2"))
    g.add("Patient", ("_profile:missing", "true"))
    locations = g.values("DocumentReference", "location")
    for url in g.sample(locations, 2):
        g.add("DocumentReference", ("location", url))
        g.add("DocumentReference", ("location:below", url.rsplit("/", 1)[0]))
        g.add("DocumentReference", ("location:below", url.rsplit("/", 2)[0] + "/"))
        g.add("DocumentReference", ("location:above", url + "/page/2"))
    g.add("DocumentReference", ("location:below", DOCS))
    g.add("DocumentReference", ("location:below", f"{DOCS}/202"))  # not a path boundary


def composites(g: _Gen) -> None:
    from tests.fhir.search.oracle.dataset import BLOOD_GROUP, DIASTOLIC, NOTE

    loinc_sys, loinc_dia = f"{LOINC}|{SYSTOLIC}", f"{LOINC}|{DIASTOLIC}"
    for prefix in ("gt", "lt", "ge", "le", "eq", "ne"):
        value = g.rng.randint(80, 160)
        g.add("Observation", ("component-code-value-quantity", f"{loinc_sys}${prefix}{value}"))
        g.add("Observation", ("combo-code-value-quantity", f"{loinc_dia}${prefix}{value - 30}"))
    g.add("Observation", ("component-code-value-quantity", f"{SYSTOLIC}$gt140|{UCUM}|mm[Hg]"))
    g.add("Observation", ("component-code-value-quantity", f"{loinc_sys}$gt18|{UCUM}|kPa"))
    g.add("Observation", ("component-code-value-quantity", f"{loinc_sys}$gt150,{loinc_dia}$lt60"))
    g.add(
        "Observation",
        ("component-code-value-quantity", f"{loinc_sys}$gt120"),
        ("component-code-value-quantity", f"{loinc_dia}$lt80"),
    )
    g.add("Observation", ("code-value-quantity", f"{LOINC}|{WEIGHT}$gt70||kg"))
    g.add("Observation", ("code-value-quantity", f"{LOINC}|{WEIGHT}$lt20000|{UCUM}|g"))
    g.add("Observation", ("code-value-quantity", f"{GLUCOSE}$ge1|{UCUM}|g/L"))
    g.add("Observation", ("code-value-quantity", f"{CRP}$lt3||mg/L"))
    g.add("Observation", ("code-value-quantity", f"{SYSTOLIC}$gt0"))  # components only
    g.add("Observation", ("combo-code-value-quantity", f"{LOINC}|{WEIGHT}$ge100000|{UCUM}|g"))
    g.add("Observation", ("code-value-concept", f"{BLOOD_GROUP}${SNOMED}|58460004"))
    g.add("Observation", ("code-value-concept", f"{LOINC}|{BLOOD_GROUP}$112149005"))
    g.add("Observation", ("code-value-string", f"{NOTE}$resultat"))
    g.add("Observation", ("code-value-string", f"{NOTE}$a revoir"))
    g.add("Observation", ("code-value-string", f"{WEIGHT}$resultat"))
    for year in (2023, 2024):
        g.add("Observation", ("code-value-date", f"8665-2$ge{year}-06"))
    docs = [(t.code, r.id) for t, r in g.values("DocumentReference", "relationship")]
    for code, rid in g.sample(docs, 3):
        g.add("DocumentReference", ("relationship", f"{code}$DocumentReference/{rid}"))
        g.add("DocumentReference", ("relationship", f"replaces${rid}"))
    g.add("Observation", ("code-value-quantity:missing", "false"))


def chains(g: _Gen) -> None:
    names = [n for n in g.values("Patient", "family")]
    for family in g.sample(names, 3):
        g.add("Observation", ("subject:Patient.family", family[:4]))
        g.add("Observation", ("patient.name", _mangle(g.rng, family)))
        g.add("Encounter", ("subject.family", family[:3]))
    for t in g.sample([t for t in g.values("Patient", "identifier")], 2):
        g.add("Observation", ("subject:Patient.identifier", f"{t.system}|{t.code}"))
        g.add("Condition", ("patient.identifier", t.code))
    for city in ("paris", "nimes", "le mans"):
        g.add("Observation", ("patient.address-city", city))
        g.add("Patient", ("general-practitioner:Practitioner.address-city", city))
    for org in g.sample(g.values("Organization", "name"), 3):
        word = org.split()[0]
        g.add("Encounter", ("service-provider.name", word))
        g.add("Encounter", ("service-provider.partof.name", word))  # two levels
        g.add("Observation", ("encounter.service-provider.name", word))
        g.add("Patient", ("organization.partof.name", word[:3]))
    g.add("Observation", ("encounter.subject:Patient.gender", "female"))
    g.add("MedicationRequest", ("requester:Practitioner.gender", "male"), ("status", "active"))
    g.add("DocumentReference", ("relatesto.status", "current"))
    g.add("DocumentReference", ("author:Organization.type", "prov"))
    g.add("Observation", ("subject.birthdate", "lt1950"))
    g.add("Observation", ("subject:Patient._id", "pat-003,pat-010"))
    # _has (reverse chains)
    for code in (WEIGHT, GLUCOSE, SYSTOLIC, "no-such"):
        g.add("Patient", ("_has:Observation:patient:code", code))
    g.add("Patient", ("_has:Observation:subject:combo-code", SYSTOLIC))
    g.add("Patient", ("_has:Condition:patient:code", "I10"), ("gender", "female"))
    g.add("Patient", ("_has:MedicationRequest:subject:status", "active"))
    g.add("Practitioner", ("_has:Patient:general-practitioner:gender", "male"))
    g.add("Practitioner", ("_has:Encounter:practitioner:_has:Observation:encounter:code", WEIGHT))
    g.add("Organization", ("_has:Organization:partof:name", "service"))
    g.add("Encounter", ("_has:Observation:encounter:value-quantity", "gt100||kg"))
    g.add(
        "Patient", ("_has:Observation:patient:component-code-value-quantity", f"{SYSTOLIC}$gt160")
    )
    g.add("DocumentReference", ("_has:DocumentReference:relatesto:status", "current"))


def combinations(g: _Gen) -> None:
    g.add("Patient", ("gender", "female"), ("birthdate", "lt1970"))
    g.add("Patient", ("gender", "male"), ("address-city", "paris"), ("active", "true"))
    g.add("Patient", ("family", "m"), ("family", "ma"))
    g.add("Patient", ("given", "je"), ("identifier:missing", "false"))
    g.add(
        "Observation", ("status", "final,amended"), ("category", "vital-signs"), ("date", "ge2020")
    )
    g.add(
        "Observation",
        ("code", WEIGHT),
        ("subject:missing", "false"),
        ("value-quantity", "lt10||kg"),
    )
    g.add(
        "Condition",
        ("clinical-status", "active"),
        ("code", "http://hl7.org/fhir/sid/icd-10|E11.9,I10"),
    )
    g.add(
        "MedicationRequest",
        ("intent", "order"),
        ("authoredon", "ge2022"),
        ("status:not", "stopped"),
    )
    g.add("Encounter", ("class", "IMP"), ("status", "finished"), ("length:missing", "false"))
    g.add("DocumentReference", ("type", f"{LOINC}|18842-5"), ("date", "ge2021"))
    g.add("Organization", ("active", "true"), ("partof:missing", "true"))
    g.add("Practitioner", ("gender", "female"), ("name", "dr"))


def includes(g: _Gen) -> None:
    g.add("Observation", ("code", WEIGHT), ("_include", "Observation:subject"))
    g.add("Observation", ("code", GLUCOSE), ("_include", "Observation:subject:Patient"))
    g.add(
        "Observation",
        ("code", GLUCOSE),
        ("_include", "Observation:performer"),
        ("_include", "Observation:encounter"),
    )
    g.add("Observation", ("category", "laboratory"), ("_include", "*"))
    g.add("Patient", ("gender", "male"), ("_revinclude", "Observation:subject"))
    g.add(
        "Patient",
        ("address-city", "paris"),
        ("_revinclude", "Condition:patient"),
        ("_revinclude", "MedicationRequest:subject"),
    )
    g.add("Patient", ("birthdate", "lt1960"), ("_revinclude", "*"))
    g.add(
        "Encounter",
        ("class", "EMER"),
        ("_include", "Encounter:service-provider"),
        ("_include:iterate", "Organization:partof"),
    )
    g.add("Organization", ("_id", "org-09,org-11"), ("_include:iterate", "Organization:partof"))
    g.add(
        "Practitioner",
        ("gender", "female"),
        ("_revinclude", "Patient:general-practitioner"),
        ("_revinclude:iterate", "Observation:subject"),
    )
    g.add(
        "DocumentReference",
        ("status", "current"),
        ("_include", "DocumentReference:relatesto"),
        ("_include", "DocumentReference:author:Practitioner"),
    )
    g.add(
        "MedicationRequest",
        ("status", "active"),
        ("_include", "MedicationRequest:requester"),
        ("_include", "MedicationRequest:patient"),
    )
    g.add("Condition", ("code", "I10"), ("_include", "Condition:*"))
    g.add(
        "Observation",
        ("_id", "obs-001,obs-002"),
        ("_include", "Observation:encounter"),
        ("_include:iterate", "Encounter:subject"),
    )


def sorts(g: _Gen) -> None:
    specs = [
        ("Patient", "family"),
        ("Patient", "-family"),
        ("Patient", "birthdate"),
        ("Patient", "-birthdate,family"),
        ("Patient", "gender,-_id"),
        ("Patient", "_lastUpdated"),
        ("Patient", "-_lastUpdated"),
        ("Patient", "name"),
        ("Patient", "address-city,given"),
        ("Patient", "general-practitioner"),
        ("Observation", "date"),
        ("Observation", "-date"),
        ("Observation", "code,-value-quantity"),
        ("Observation", "subject,_id"),
        ("Observation", "-value-quantity"),
        ("Encounter", "-date"),
        ("Encounter", "length"),
        ("Condition", "onset-date,recorded-date"),
        ("Condition", "-onset-age"),
        ("DocumentReference", "location"),
        ("DocumentReference", "-date"),
        ("MedicationRequest", "-authoredon,status"),
        ("RiskAssessment", "probability"),
        ("RiskAssessment", "-probability"),
        ("Organization", "name"),
        ("Practitioner", "-given"),
    ]
    for rtype, key in specs:
        g.add(rtype, ("_sort", key))
    g.add("Patient", ("gender", "female"), ("_sort", "-birthdate"))
    g.add("Observation", ("code", WEIGHT), ("_sort", "value-quantity"))


def paging(g: _Gen) -> None:
    for rtype, params, count in [
        ("Patient", (("_sort", "family"),), 7),
        ("Patient", (("_sort", "-birthdate,_id"),), 9),
        ("Patient", (), 11),
        ("Patient", (("gender", "female"), ("_sort", "-_lastUpdated")), 5),
        ("Observation", (("_sort", "-date"),), 13),
        ("Observation", (("category", "vital-signs"), ("_sort", "code,value-quantity")), 6),
        ("Observation", (("_sort", "subject"),), 17),
        ("Condition", (("_sort", "-onset-date"),), 4),
        ("Encounter", (("_sort", "date"),), 3),
        ("MedicationRequest", (("_sort", "authoredon"),), 8),
        ("RiskAssessment", (("_sort", "-probability"),), 3),
        ("DocumentReference", (("_sort", "type,-date"),), 4),
    ]:
        g.add(rtype, *params, page=count)


def systems(g: _Gen) -> None:
    g.add(None, ("_type", "Patient,Practitioner"), ("family", "mar"))
    g.add(None, ("_type", "Patient,Practitioner"), ("_sort", "family"))
    g.add(None, ("_type", "Observation,Condition"), ("patient", "pat-005"))
    g.add(None, ("_type", "Observation,Condition,MedicationRequest"), ("patient.gender", "other"))
    g.add(None, ("_id", "pat-001,obs-001,doc-003"))
    g.add(None, ("_lastUpdated", "ge2023-11-15T00:00:00Z"), ("_type", "Organization,Practitioner"))


def lists(g: _Gen) -> None:
    """``_list``: every List (current, updated, deleted, unknown) on the types it names,
    OR and AND, with other criteria, sorts, paging, includes, chains and ``_has``."""
    ids = [f"list-{i}" for i in range(8)] + ["no-such-list"]
    for lid in ids:
        for rtype in ("Patient", "Observation", "Condition", "Encounter", "List"):
            g.add(rtype, ("_list", lid))
        g.add(None, ("_list", lid))
    for a, b in [("list-0", "list-1"), ("list-3", "list-4"), ("list-5", "list-2")]:
        g.add("Patient", ("_list", f"{a},{b}"))
        g.add(None, ("_list", f"{a},{b}"))
        g.add(None, ("_list", a), ("_list", b))
        g.add(None, ("_type", "Patient,Observation,Practitioner"), ("_list", f"{a},{b}"))
    wide = ",".join(ids)
    g.add("Patient", ("_list", wide), ("gender", "female"))
    g.add("Patient", ("_list", wide), ("_sort", "-birthdate"))
    g.add("Observation", ("_list", wide), ("_sort", "date"), page=2)
    g.add(None, ("_list", wide), page=3)
    g.add("Observation", ("_list", wide), ("_include", "Observation:subject"))
    g.add("Patient", ("_list", wide), ("_revinclude", "Observation:subject"))
    g.add("Patient", ("_list", "list-0,list-3"), ("_list", "list-4,list-6"))
    g.add("Observation", ("subject._list", wide))
    g.add("Observation", ("subject:Patient._list", "list-0,list-3"), ("code", WEIGHT))
    g.add("Encounter", ("subject._list", wide), ("status", "finished"))
    g.add("Patient", ("_has:Observation:subject:_list", wide))
    g.add("Patient", ("_has:Observation:subject:_list", "list-5"), ("_list", wide))
    g.add("Patient", ("_revinclude", "List:item"), ("family", "m"))


def build(data: Dataset, seed: int = 7) -> list[Case]:
    g = _Gen(data, seed)
    for part in (
        strings,
        tokens,
        dates,
        numbers,
        quantities,
        references,
        uris,
        composites,
        chains,
        combinations,
        includes,
        sorts,
        paging,
        systems,
        lists,
    ):
        part(g)
    return g.cases
