"""Small builders of FHIR R4 JSON shared by the demo and synthetic generators.

They return plain dicts (no model layer) because the synthetic generator must build a hundred
thousand resources in seconds. Every builder leaves out absent values instead of writing
empty strings or lists, which FHIR forbids.
"""

from __future__ import annotations

import base64
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from socle.demo import vocabulary as v
from socle.fhir.text import normalize

Json = dict[str, Any]


# --- datatypes -------------------------------------------------------------------------------


def coding(system: str, code: str, display: str | None = None) -> Json:
    """A Coding; display only when known from the code system."""
    if display is None:
        return {"system": system, "code": code}
    return {"system": system, "code": code, "display": display}


def concept(system: str, code: str, display: str | None = None, text: str | None = None) -> Json:
    """A CodeableConcept with one coding and an optional French text."""
    if text is None:
        return {"coding": [coding(system, code, display)]}
    return {"coding": [coding(system, code, display)], "text": text}


def quantity(value: float, unit: str) -> Json:
    """A UCUM Quantity (unit doubles as the UCUM code, as in the vital-signs profile)."""
    return {"value": value, "unit": unit, "system": v.UCUM, "code": unit}


def ref(reference: str) -> Json:
    """A Reference; a fresh dict each time so servers may rewrite references in place."""
    return {"reference": reference}


def uri_identifier(urn: str) -> Json:
    """Identifier whose value is a URI: lets conditional creates find the resource again."""
    return {"system": v.URI_IDENTIFIER, "value": urn}


def new_urn(rng: random.Random) -> str:
    """A version-4 UUID as urn:uuid, drawn from `rng` so output depends only on the seed."""
    bits = rng.getrandbits(128)
    bits = (bits & ~(0xF << 76)) | (0x4 << 76)  # version 4
    bits = (bits & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    h = f"{bits:032x}"
    return f"urn:uuid:{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def text_attachment_data(text: str) -> str:
    """Base64 of the UTF-8 text, as Attachment.data expects."""
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


# --- time ------------------------------------------------------------------------------------


@lru_cache(maxsize=256)
def _summer_time_bounds(year: int) -> tuple[date, date]:
    """Last Sundays of March and October: the EU daylight-saving switch days."""
    march_end = date(year, 3, 31)
    october_end = date(year, 10, 31)
    start = march_end - timedelta(days=(march_end.weekday() + 1) % 7)
    end = october_end - timedelta(days=(october_end.weekday() + 1) % 7)
    return start, end


def paris_offset(day: date, hour: int) -> str:
    """UTC offset of Europe/Paris local time (no tz database needed; EU rules since 1996)."""
    start, end = _summer_time_bounds(day.year)
    if start < day < end or (day == start and hour >= 3) or (day == end and hour < 2):
        return "+02:00"
    return "+01:00"


def local_datetime(day: date, hour: int, minute: int = 0) -> str:
    """Paris wall-clock time as a FHIR dateTime/instant with its offset."""
    return f"{day.isoformat()}T{hour:02d}:{minute:02d}:00{paris_offset(day, hour)}"


def format_local(moment: datetime) -> str:
    """A naive Paris wall-clock datetime as a FHIR dateTime/instant."""
    return local_datetime(moment.date(), moment.hour, moment.minute)


def add_years(day: date, years: int) -> date:
    """Same calendar day `years` later (29 February falls back to the 28th)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def age_on(birth: date, on: date) -> int:
    """Age in whole years."""
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


# --- people and places -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Person:
    """The civil-status facts a Patient resource is built from."""

    sex: str  # FHIR gender: 'male' | 'female'
    given: tuple[str, ...]  # birth first names, in order
    family: str  # nom de naissance
    usual_family: str | None  # nom d'usage, when different
    birth_date: date
    birthplace: v.Commune
    nir: str
    home: v.Commune
    street: str
    phone: str
    email: str | None
    marital: str  # v3-MaritalStatus code


MARITAL_DISPLAY = {"S": "Never Married", "M": "Married", "W": "Widowed", "D": "Divorced"}


def patient_line(p: Person) -> str:
    """Identity line of a clinical note, in French and agreeing with the patient's sex."""
    female = p.sex == "female"
    return (
        f"{'Patiente' if female else 'Patient'} : {p.given[0]} {p.usual_family or p.family}, "
        f"{'née' if female else 'né'} le {p.birth_date.strftime('%d/%m/%Y')}"
    )


def fictional_phone(rng: random.Random, mobile: bool) -> str:
    """A number from the ranges ARCEP keeps for fiction, so no real line is ever dialled."""
    prefix = "06 39 98" if mobile else "02 61 91"
    n = rng.randrange(10000)
    return f"{prefix} {n // 100:02d} {n % 100:02d}"


def email_for(given: str, family: str, domain: str = "example.org") -> str:
    """ASCII mailbox such as helene.le-gall@example.org (reserved domain: never delivered)."""
    local = f"{normalize(given).replace(' ', '-')}.{normalize(family).replace(' ', '-')}"
    return f"{local}@{domain}"


def address(commune: v.Commune, street: str, use: str | None = None) -> Json:
    """FR Core-style Address with the commune's INSEE code."""
    out: Json = {
        "extension": [
            {"url": v.EXT_INSEE_CODE, "valueCoding": coding(v.TRE_R13_COMMUNE, commune.insee)}
        ]
    }
    if use:
        out["use"] = use
        out["type"] = "both"
    out.update(line=[street], city=commune.name, postalCode=commune.postal, country="FRA")
    return out


# --- resources -------------------------------------------------------------------------------


def patient(p: Person, *, validated_on: date, gp: str | None = None) -> Json:
    """FR Core INS-style Patient: validated identity, test INS, official + usual names."""
    names: list[Json] = [
        {
            "extension": [{"url": v.EXT_BIRTH_LIST_GIVEN, "valueString": " ".join(p.given)}],
            "use": "official",
            "family": p.family,
            "given": [p.given[0]],
        }
    ]
    if p.usual_family:
        names.append({"use": "usual", "family": p.usual_family, "given": [p.given[0]]})
    telecom: list[Json] = [{"system": "phone", "value": p.phone, "use": "mobile"}]
    if p.email:
        telecom.append({"system": "email", "value": p.email, "use": "home"})
    res: Json = {
        "resourceType": "Patient",
        "extension": [_identity_reliability(validated_on), _birth_place(p.birthplace)],
        "identifier": [
            {
                "use": "official",
                "type": concept(v.FR_V2_0203, "INS-NIR-TEST", "NIR TEST"),
                "system": v.INS_NIR_TEST,
                "value": p.nir,
            }
        ],
        "active": True,
        "name": names,
        "telecom": telecom,
        "gender": p.sex,
        "birthDate": p.birth_date.isoformat(),
        "address": [address(p.home, p.street, "home")],
        "maritalStatus": concept(v.V3_MARITAL, p.marital, MARITAL_DISPLAY[p.marital]),
    }
    if gp:
        res["generalPractitioner"] = [ref(gp)]
    return res


def _identity_reliability(validated_on: date) -> Json:
    """Identity validated on an identity card: what lets the INS be used (status VALI)."""
    return {
        "extension": [
            {
                "url": "identityStatus",
                "valueCoding": coding(v.FR_IDENTITY_STATUS, "VALI", "Identité validée"),
            },
            {"url": "validationDate", "valueDate": validated_on.isoformat()},
            {
                "url": "validationMode",
                "valueCoding": coding(v.FR_VALIDATION_MODE, "CN", "Carte nationale d'identité"),
            },
        ],
        "url": v.EXT_IDENTITY_RELIABILITY,
    }


def _birth_place(commune: v.Commune) -> Json:
    """Birthplace with its INSEE code: the same code that sits inside the NIR."""
    return {
        "url": v.EXT_BIRTH_PLACE,
        "valueAddress": {
            "extension": [
                {"url": v.EXT_INSEE_CODE, "valueCoding": coding(v.TRE_R13_COMMUNE, commune.insee)}
            ],
            "city": commune.name,
            "country": "FRA",
        },
    }


def organization(
    *,
    name: str,
    finess: str,
    category: str,
    commune: v.Commune,
    street: str,
    phone: str,
    finess_ej: str | None = None,
) -> Json:
    """FR Core Organization for a geographic establishment (FINEG), optionally its EJ."""
    identifiers = [
        {
            "use": "official",
            "type": concept(v.FR_V2_0203, "FINEG", "FINESS d'entité géographique"),
            "system": v.FINESS,
            "value": finess,
        },
        {
            "use": "official",
            "type": concept(v.FR_V2_0203, "IDNST"),
            "system": v.IDNST,
            "value": "1" + finess,  # TRE_G07 type 1 (FINESS) + number
        },
    ]
    if finess_ej:
        identifiers.append(
            {
                "use": "official",
                "type": concept(v.FR_V2_0203, "FINEJ", "FINESS d'entité juridique"),
                "system": v.FINESS,
                "value": finess_ej,
            }
        )
    return {
        "resourceType": "Organization",
        "identifier": identifiers,
        "active": True,
        "type": [concept(v.FR_ORG_TYPE, "GEOGRAPHICAL-ENTITY", "Entité géographique", category)],
        "name": name,
        "telecom": [{"system": "phone", "value": phone, "use": "work"}],
        "address": [address(commune, street, "work")],
    }


def practitioner(
    *,
    rpps: str,
    family: str,
    given: str,
    sex: str,
    profession: tuple[str, str],
    email: str,
) -> Json:
    """FR Core Practitioner: IDNPS + RPPS identifiers, profession from TRE_G15."""
    name: Json = {
        "use": "official",
        "family": family,
        "given": [given],
        "prefix": ["MME" if sex == "female" else "M"],
    }
    if profession[0] in ("10", "21"):  # médecins and pharmaciens are addressed as docteur
        name["suffix"] = ["DR"]
    return {
        "resourceType": "Practitioner",
        "identifier": [
            {
                "use": "official",
                "type": concept(v.FR_V2_0203, "IDNPS"),
                "system": v.IDNPS,
                "value": "8" + rpps,
            },
            {
                "use": "official",
                "type": concept(v.FR_V2_0203, "RPPS"),
                "system": v.RPPS,
                "value": rpps,
            },
        ],
        "active": True,
        "name": [name],
        "telecom": [{"system": "email", "value": email, "use": "work"}],
        "gender": sex,
        "qualification": [
            {
                "code": {
                    "coding": [
                        coding(v.TRE_R09_CATEGORY, "C", "Civil"),
                        coding(v.TRE_G15_PROFESSION, *profession),
                    ]
                }
            }
        ],
    }


def practitioner_role(
    *,
    practitioner_ref: str,
    organization_ref: str,
    mode: str,
    specialty: tuple[str, str] | None = None,
    identifier: Json | None = None,
) -> Json:
    """Link a practitioner to an organisation: activity genre, exercise mode, specialty."""
    mode_display = {"S": "Salarié", "L": "Libéral, indépendant, artisan, commerçant"}[mode]
    res: Json = {"resourceType": "PractitionerRole"}
    if identifier:
        res["identifier"] = [identifier]
    res.update(
        active=True,
        practitioner=ref(practitioner_ref),
        organization=ref(organization_ref),
        code=[
            concept(v.TRE_R22_ACTIVITY, "GENR01", "Activité de soin et de pharmacie"),
            concept(v.TRE_R23_MODE, mode, mode_display),
        ],
    )
    if specialty:
        res["specialty"] = [concept(v.TRE_R38_SPECIALTY, *specialty)]
    return res


def encounter(
    *,
    urn: str,
    setting: v.Setting,
    subject: str,
    practitioner_ref: str,
    organization_ref: str,
    start: str,
    end: str,
) -> Json:
    """Finished Encounter; FR Core wants an identifier typed VN (visit number)."""
    act, act_display, sct, sct_display, text = setting
    return {
        "resourceType": "Encounter",
        "identifier": [
            {
                "type": concept(v.FR_ID_TYPE, "VN", "Visit Number"),
                "system": v.URI_IDENTIFIER,
                "value": urn,
            }
        ],
        "status": "finished",
        "class": coding(v.V3_ACT_CODE, act, act_display),
        "type": [concept(v.SNOMED, sct, sct_display, text)],
        "subject": ref(subject),
        "participant": [
            {
                "type": [concept(v.V3_PARTICIPATION, "ATND", "attender")],
                "individual": ref(practitioner_ref),
            }
        ],
        "period": {"start": start, "end": end},
        "serviceProvider": ref(organization_ref),
    }


_CATEGORY_DISPLAY = {"vital-signs": "Vital Signs", "laboratory": "Laboratory"}


def observation(
    vital: v.Vital,
    value: float,
    *,
    subject: str,
    encounter_ref: str,
    when: str,
    performer: str,
    identifier: Json | None = None,
) -> Json:
    """A final, LOINC-coded Observation with a UCUM value."""
    res: Json = {"resourceType": "Observation"}
    if identifier:
        res["identifier"] = [identifier]
    res.update(
        status="final",
        category=[concept(v.OBS_CATEGORY, vital.category, _CATEGORY_DISPLAY[vital.category])],
        code=concept(v.LOINC, vital.loinc, vital.display, vital.text),
        subject=ref(subject),
        encounter=ref(encounter_ref),
        effectiveDateTime=when,
        performer=[ref(performer)],
        valueQuantity=quantity(value, vital.unit),
    )
    if vital.loinc == v.SPO2.loinc:  # the R4 oxygen-saturation profile also wants 2708-6
        res["code"]["coding"].append(
            coding(v.LOINC, "2708-6", "Oxygen saturation in Arterial blood")
        )
    return res


def blood_pressure(
    systolic: int,
    diastolic: int,
    *,
    subject: str,
    encounter_ref: str,
    when: str,
    performer: str,
    identifier: Json | None = None,
) -> Json:
    """Blood-pressure panel 85354-9 with systolic/diastolic components (no top-level value)."""
    res: Json = {"resourceType": "Observation"}
    if identifier:
        res["identifier"] = [identifier]
    res.update(
        status="final",
        category=[concept(v.OBS_CATEGORY, "vital-signs", "Vital Signs")],
        code=concept(v.LOINC, v.BP_PANEL.loinc, v.BP_PANEL.display, v.BP_PANEL.text),
        subject=ref(subject),
        encounter=ref(encounter_ref),
        effectiveDateTime=when,
        performer=[ref(performer)],
        component=[
            {
                "code": concept(v.LOINC, v.SYSTOLIC.loinc, v.SYSTOLIC.display),
                "valueQuantity": quantity(systolic, "mm[Hg]"),
            },
            {
                "code": concept(v.LOINC, v.DIASTOLIC.loinc, v.DIASTOLIC.display),
                "valueQuantity": quantity(diastolic, "mm[Hg]"),
            },
        ],
    )
    return res


def condition(
    problem: v.Problem,
    *,
    subject: str,
    encounter_ref: str,
    onset: str,
    recorded: str,
    recorder: str,
    abatement: str | None = None,
    identifier: Json | None = None,
) -> Json:
    """CIM-10 coded Condition: chronic ones go to the problem list, acute ones are resolved."""
    res: Json = {"resourceType": "Condition"}
    if identifier:
        res["identifier"] = [identifier]
    status = "resolved" if abatement else "active"
    category = (
        ("problem-list-item", "Problem List Item")
        if problem.chronic
        else ("encounter-diagnosis", "Encounter Diagnosis")
    )
    res.update(
        clinicalStatus=concept(v.COND_CLINICAL, status, status.capitalize()),
        verificationStatus=concept(v.COND_VERIFICATION, "confirmed", "Confirmed"),
        category=[concept(v.COND_CATEGORY, *category)],
        code=concept(v.ICD10, problem.code, None, problem.text),
        subject=ref(subject),
        encounter=ref(encounter_ref),
        onsetDateTime=onset,
    )
    if abatement:
        res["abatementDateTime"] = abatement
    res.update(recordedDate=recorded, recorder=ref(recorder))
    return res


def medication_request(
    med: v.Medication,
    *,
    subject: str,
    encounter_ref: str,
    authored: str,
    requester: str,
    reason: str | None = None,
    active: bool = True,
    identifier: Json | None = None,
) -> Json:
    """ATC-coded outpatient prescription with a free-text dosage instruction."""
    res: Json = {"resourceType": "MedicationRequest"}
    if identifier:
        res["identifier"] = [identifier]
    res.update(
        status="active" if active else "completed",
        intent="order",
        category=[concept(v.MEDREQ_CATEGORY, "outpatient", "Outpatient")],
        medicationCodeableConcept=concept(v.ATC, med.atc, None, med.label),
        subject=ref(subject),
        encounter=ref(encounter_ref),
        authoredOn=authored,
        requester=ref(requester),
    )
    if reason:
        res["reasonReference"] = [ref(reason)]
    res["dosageInstruction"] = [{"text": med.dosage}]
    return res


def document_reference(
    doc: v.DocType,
    body: str,
    *,
    subject: str,
    encounter_ref: str,
    author: str,
    custodian: str,
    when: str,
    period: tuple[str, str],
    identifier: Json | None = None,
) -> Json:
    """Current DocumentReference carrying a short plain-text note inline (base64)."""
    res: Json = {"resourceType": "DocumentReference"}
    if identifier:
        res["identifier"] = [identifier]
    res.update(
        status="current",
        docStatus="final",
        type=concept(v.LOINC, doc.loinc, doc.display, doc.title),
        category=[concept(v.TRE_A03_CLASS, doc.class_code, doc.class_display)],
        subject=ref(subject),
        date=when,
        author=[ref(author)],
        custodian=ref(custodian),
        description=doc.title,
        content=[
            {
                "attachment": {
                    "contentType": "text/plain; charset=utf-8",
                    "language": "fr-FR",
                    "data": text_attachment_data(body),
                    "title": doc.title,
                    "creation": when,
                },
                "format": coding(
                    v.TRE_A11_FORMAT,
                    "urn:ihe:iti:xds-sd:text:2008",
                    "Document à corps non structuré en texte brut",
                ),
            }
        ],
        context={
            "encounter": [ref(encounter_ref)],
            "period": {"start": period[0], "end": period[1]},
        },
    )
    return res


# --- bundles ---------------------------------------------------------------------------------


def post_entry(full_url: str, resource: Json, if_none_exist: str | None = None) -> Json:
    """Transaction entry creating `resource`; conditional when `if_none_exist` is given."""
    request: Json = {"method": "POST", "url": resource["resourceType"]}
    if if_none_exist:
        request["ifNoneExist"] = if_none_exist
    return {"fullUrl": full_url, "resource": resource, "request": request}


def put_entry(resource: Json) -> Json:
    """Transaction entry creating or replacing a resource under its client-assigned id."""
    url = f"{resource['resourceType']}/{resource['id']}"
    return {"resource": resource, "request": {"method": "PUT", "url": url}}


def transaction(entries: list[Json]) -> Json:
    """Wrap entries in a transaction Bundle."""
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}
