"""The FR Core INS patient shape, read into an `Identity` and written back.

FR Core 2.2.0 (``fr-core-patient-ins``) carries an INS identity as:

* the **matricule** in ``Patient.identifier`` with system ``urn:oid:1.2.250.1.213.1.4.8``
  (NIR), ``.9`` (NIA), ``.10`` (test) or ``.11`` (demo), type from
  ``fr-core-cs-v2-0203`` and ``use`` official (current) or old (replaced);
* the five **strict traits**: birth family name (``name[use=official].family``), birth
  first names (the ``fr-core-patient-birth-list-given-name`` extension on that name: the
  space-separated list; ``given`` holds the first one only), ``birthDate``, ``gender`` and
  the birthplace INSEE code (``patient-birthPlace`` extension, ``fr-core-address-insee-code``);
* the **used** name and first name, kept apart in ``name[use=usual]``;
* the **identity reliability** extension(s): ``identityStatus`` (``fr-core-cs-v2-0445``),
  ``validationMode`` (identity document, ``fr-core-cs-mode-validation-identity``),
  ``validationDate``, ``methodCollection`` (``INSI``, ``CV``, ``SM``…) and
  ``dateCollection`` (date of the INSi call). Attributes (douteuse ``DOUT``, fictive
  ``FICT``, homonyme ``HOMA``) are further identityReliability extensions whose
  identityStatus is the attribute code.

FR Core codes only PROV and VALI for the status, so Socle adds its own extension
(`EXT_RNIV_STATUS`) with the exact RNIV status: PROV (provisoire), RECUP (récupérée),
VALI (validée), QUAL (qualifiée). The FR Core status is kept consistent with it:
PROV/RECUP -> PROV, VALI/QUAL -> VALI. A resource without the Socle extension gets its
RNIV status derived: VALI with an official INS -> QUAL, VALI -> VALI, PROV/VIDE with an
INS (or collected through INSi) -> RECUP, otherwise PROV.

A second Socle extension (`EXT_RNIV_STATUS_DATE`, a dateTime kept by the server, never
taken from a client) records when the identity reached its current status: evidence
presented later for an upgrade must not predate it (a downgrade is not undone by the
evidence it set aside, see `status.check_direct_write`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from socle.fhir.errors import FhirError
from socle.ins import normalize as N
from socle.ins.nir import INS_OIDS, INS_SYSTEMS

FR = "https://hl7.fr/ig/fhir/core"
EXT_RELIABILITY = f"{FR}/StructureDefinition/fr-core-identity-reliability"
EXT_BIRTH_LIST_GIVEN = f"{FR}/StructureDefinition/fr-core-patient-birth-list-given-name"
EXT_INSEE = f"{FR}/StructureDefinition/fr-core-address-insee-code"
EXT_BIRTH_PLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
CS_STATUS = f"{FR}/CodeSystem/fr-core-cs-v2-0445"
CS_VALIDATION_MODE = f"{FR}/CodeSystem/fr-core-cs-mode-validation-identity"
CS_METHOD_COLLECTION = f"{FR}/CodeSystem/fr-core-cs-method-collection"
CS_ID_TYPE = f"{FR}/CodeSystem/fr-core-cs-v2-0203"
PROFILE_INS = f"{FR}/StructureDefinition/fr-core-patient-ins"
PROFILE_PATIENT = f"{FR}/StructureDefinition/fr-core-patient"
CS_COMMUNE = "https://mos.esante.gouv.fr/NOS/TRE_R13-CommuneOM/FHIR/TRE-R13-CommuneOM"

# Socle's own definitions (placeholder canonical base, see docs/ins.md)
SOCLE = "https://socle.example.org/fhir"
EXT_RNIV_STATUS = f"{SOCLE}/StructureDefinition/ins-rniv-status"
EXT_RNIV_STATUS_DATE = f"{SOCLE}/StructureDefinition/ins-rniv-status-date"
CS_RNIV_STATUS = f"{SOCLE}/CodeSystem/ins-rniv-status"
CS_INS_EVENT = f"{SOCLE}/CodeSystem/ins-event"
LOCAL_ID_SYSTEM = f"{SOCLE}/sid/ipp"  # default local identifier (IPP) system

PROV, RECUP, VALI, QUAL = "PROV", "RECUP", "VALI", "QUAL"
STATUSES = {
    PROV: "Identité provisoire",
    RECUP: "Identité récupérée",
    VALI: "Identité validée",
    QUAL: "Identité qualifiée",
}
DOUT, FICT, HOMA = "DOUT", "FICT", "HOMA"
ATTRIBUTES = {
    # as FR Core's fr-core-cs-v2-0445 spells them (typographic apostrophe, guillemets)
    DOUT: "Identité douteuse (Attribut d\u2019identité « douteuse »)",
    FICT: "Identité fictive (Attribut d\u2019identité « fictive »)",
    HOMA: "Homonyme avéré",
}
FR_STATUS_OF = {PROV: "PROV", RECUP: "PROV", VALI: "VALI", QUAL: "VALI"}
# FR Core identityStatus codes read as a status (VIDE: "not yet qualified", older senders)
FR_STATUS_CODES = {"PROV": "PROV", "VIDE": "PROV", "VALI": "VALI"}
STATUS_DISPLAY_0445 = {"PROV": "Identité provisoire", "VALI": "Identité validée"}
VALIDATION_MODES = {
    "AN": "Extrait d'acte de naissance",
    "CC": "Carnet de circulation",
    "CE": "Carte Européenne",
    "CM": "Carte militaire",
    "CN": "Carte nationale d'identité",
    "CS": "Carte de séjour",
    "LE": "Livret de famille",
    "PA": "Passeport",
    "PC": "Permis de conduire",
    "TC": "Tiers de confiance",
    "DC": "Document de Circulation pour étranger mineur",
    "AC": "Acte de naissance + Carte vitale avec photo",
    "IE": "Identification électronique EIDAS",
}
# Documents of high trust: they may validate an identity. FR Core 2.2.0 binds the
# validationMode of fr-core-patient-ins (required) to fr-core-vs-mode-validation-identity-ins:
# passport, national identity card, birth certificate extract, family record book. The
# RNIV's other high-trust documents (residence permit, EU identity card, eIDAS) have codes
# (CS, CE, IE) that such a Patient may not carry, so they are refused here too.
HIGH_TRUST_DOCUMENTS = {"PA", "CN", "AN", "LE"}
UNKNOWN_BIRTHPLACE = "99999"  # INSEE code of an unknown birthplace (FR Core fr-core-3)
METHODS = {"SM": "Saisie manuelle", "CV": "Carte vitale", "INSI": "Téléservice INSI"}
SEX_OF_GENDER = {"male": "M", "female": "F", "other": "I", "unknown": "U"}
GENDER_OF_SEX = {"M": "male", "F": "female", "I": "other", "U": "unknown", "O": "other"}


@dataclass(slots=True)
class Identity:
    """The identity part of a Patient, in the INS stored forms."""

    patient_id: str | None = None
    birth_family: str = ""
    given: list[str] = field(default_factory=list)  # birth first names, in order
    birth_date: str = ""
    sex: str = ""  # FHIR gender
    birthplace: str = ""  # INSEE code
    used_family: str = ""
    used_given: str = ""
    ins: str = ""  # current (official) matricule
    ins_system: str = ""
    old_ins: list[tuple[str, str]] = field(default_factory=list)
    status: str = PROV
    attributes: set[str] = field(default_factory=set)
    validation_mode: str = ""
    validation_date: str = ""
    method: str = ""
    collection_date: str = ""
    active: bool = True
    replaced_by: str | None = None
    local_ids: list[tuple[str, str]] = field(default_factory=list)
    status_date: str = ""  # when the status was reached (EXT_RNIV_STATUS_DATE)
    fr_status: str = ""  # the FR Core identityStatus as read (checked against `status`)
    name_given: list[str] = field(default_factory=list)  # name[official].given as read

    @property
    def first_given(self) -> str:
        return self.given[0] if self.given else ""

    def strict_traits(self) -> tuple[str, str, str, str, str]:
        """What a trait change is judged on (comparison forms)."""
        return (
            N.compare_key(self.birth_family),
            N.compare_key(" ".join(self.given)),
            self.birth_date,
            self.sex,
            self.birthplace.upper(),
        )

    def missing_traits(self, birthplace: bool = True) -> list[str]:
        """The strict traits a validated/qualified identity lacks (French labels)."""
        return [label for label, _ in self.missing_trait_paths(birthplace)]

    def missing_trait_paths(self, birthplace: bool = True) -> list[tuple[str, str]]:
        """(French label, FHIRPath) of each strict trait a validated/qualified identity
        lacks. The sex is one of the INS's two (the NIR's sex digit): other or unknown
        is no trait. With `birthplace`, the unknown-birthplace code 99999 counts as
        missing: FR Core ``fr-core-3`` forbids it on an identity whose identityStatus is
        VALI."""
        place = f"Patient.extension('{EXT_BIRTH_PLACE}')"
        missing = []
        if not self.birth_family:
            missing.append(("nom de naissance (name[use=official].family)", "Patient.name"))
        if not self.given:
            missing.append(("prénom(s) de naissance (name[use=official].given)", "Patient.name"))
        if not self.birth_date:
            missing.append(("date de naissance (birthDate)", "Patient.birthDate"))
        if self.sex not in ("male", "female"):
            missing.append(("sexe (gender male or female)", "Patient.gender"))
        if birthplace and not self.birthplace:
            missing.append(("lieu de naissance (birthPlace INSEE code)", place))
        elif birthplace and self.birthplace == UNKNOWN_BIRTHPLACE:
            missing.append(("lieu de naissance (birthPlace INSEE code 99999: unknown)", place))
        return missing


def _ext(items: list[dict] | None, url: str) -> list[dict]:
    return [e for e in items or [] if isinstance(e, dict) and e.get("url") == url]


def _sub(ext: dict, url: str) -> Any:
    for e in ext.get("extension") or []:
        if e.get("url") == url:
            for key, value in e.items():
                if key.startswith("value"):
                    return value
    return None


def _dict(value: Any) -> dict:
    """A JSON object, or an empty one for anything else (input read before validation)."""
    return value if isinstance(value, dict) else {}


def _code(ext: dict, url: str) -> str | None:
    """The code of a coded sub-extension (valueCoding); a value of another type is a 400:
    read as no value, a status or document the client sent would be silently lost."""
    value = _sub(ext, url)
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("code", ""), str):
        raise FhirError(
            400,
            "structure",
            f"The identity reliability sub-extension '{url}' must have a valueCoding "
            f"(found {type(value).__name__})",
            "Patient.extension",
        )
    return value.get("code")


def _text(value: Any) -> str:
    """A date sub-extension's value as text: a client may send any value[x] there, and a
    non-text one is no date (the structural check refuses it for the FR Core type)."""
    return value if isinstance(value, str) else ""


def read_identity(patient: dict[str, Any]) -> Identity:
    """Read the INS identity of a FR Core Patient (tolerant: absent parts stay empty)."""
    ident = Identity(patient_id=patient.get("id"))
    names = [n for n in patient.get("name") or [] if isinstance(n, dict)]
    official = next((n for n in names if n.get("use") == "official"), None)
    if official is None:
        official = next((n for n in names if n.get("use") in (None, "")), None)
    if official:
        ident.birth_family = N.trait(official.get("family"))
        listed = _ext(official.get("extension"), EXT_BIRTH_LIST_GIVEN)
        ident.name_given = N.given_list([g for g in official.get("given") or [] if g])
        if listed and listed[0].get("valueString"):
            ident.given = N.given_list(listed[0]["valueString"])
        else:
            ident.given = list(ident.name_given)
    usual = next((n for n in names if n.get("use") == "usual"), None)
    if usual:
        ident.used_family = N.trait(usual.get("family"))
        ident.used_given = N.trait((usual.get("given") or [""])[0])
    ident.birth_date = patient.get("birthDate") or ""
    ident.sex = patient.get("gender") or ""
    for bp in _ext(patient.get("extension"), EXT_BIRTH_PLACE):
        addr = _dict(bp.get("valueAddress"))
        for insee in _ext(addr.get("extension"), EXT_INSEE):
            coding = _dict(insee.get("valueCoding"))
            ident.birthplace = coding.get("code") or insee.get("valueString") or ""
    for idf in patient.get("identifier") or []:
        if not isinstance(idf, dict):
            continue
        system, value = idf.get("system") or "", idf.get("value") or ""
        if system in INS_SYSTEMS:
            if idf.get("use") == "old":
                ident.old_ins.append((system, value))
            elif not ident.ins:
                ident.ins, ident.ins_system = value, system
        elif system and value:
            ident.local_ids.append((system, value))
    fr_status = ""
    rniv = None
    for ext in _ext(patient.get("extension"), EXT_RELIABILITY):
        code = _code(ext, "identityStatus")
        if code in ATTRIBUTES:
            ident.attributes.add(code)
        elif code:
            fr_status = code
        mode = _code(ext, "validationMode")
        if mode:
            ident.validation_mode = mode
        ident.validation_date = _text(_sub(ext, "validationDate")) or ident.validation_date
        method = _code(ext, "methodCollection")
        if method:
            ident.method = method
        ident.collection_date = _text(_sub(ext, "dateCollection")) or ident.collection_date
    ident.fr_status = fr_status
    for ext in _ext(patient.get("extension"), EXT_RNIV_STATUS):
        rniv = _dict(ext.get("valueCoding")).get("code")
    ident.status_date = status_date_of(patient)
    if rniv in STATUSES:
        ident.status = rniv
    elif fr_status == "VALI":
        ident.status = QUAL if ident.ins else VALI
    elif ident.ins or ident.method == "INSI":
        ident.status = RECUP if ident.ins else PROV
    else:
        ident.status = PROV
    ident.active = patient.get("active", True) is not False
    for link in patient.get("link") or []:
        if isinstance(link, dict) and link.get("type") == "replaced-by":
            ident.replaced_by = _dict(link.get("other")).get("reference") or None
    return ident


def status_date_of(patient: dict[str, Any]) -> str:
    """When the Patient's identity reached its status ('' when not recorded)."""
    for ext in _ext(patient.get("extension"), EXT_RNIV_STATUS_DATE):
        if isinstance(ext.get("valueDateTime"), str):
            return ext["valueDateTime"]
    return ""


def set_status_date(patient: dict[str, Any], when: str) -> None:
    """Record (in place) when the identity reached its status; '' removes the record."""
    exts = [
        e
        for e in patient.get("extension") or []
        if not (isinstance(e, dict) and e.get("url") == EXT_RNIV_STATUS_DATE)
    ]
    if when:
        at = next(
            (
                i + 1
                for i, e in enumerate(exts)
                if isinstance(e, dict) and e.get("url") == EXT_RNIV_STATUS
            ),
            len(exts),
        )
        exts.insert(at, {"url": EXT_RNIV_STATUS_DATE, "valueDateTime": when})
    if exts:
        patient["extension"] = exts
    else:
        patient.pop("extension", None)


def now_instant() -> str:
    """The current instant, as FHIR writes it (UTC, milliseconds)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def has_reliability(patient: dict[str, Any]) -> bool:
    """The Patient carries the FR Core identity reliability extension (the evidence)."""
    return bool(_ext(patient.get("extension"), EXT_RELIABILITY))


def is_managed(patient: dict[str, Any]) -> bool:
    """Under identity vigilance: the Patient carries an identity reliability or RNIV status."""
    exts = patient.get("extension") or []
    return any(
        isinstance(e, dict) and e.get("url") in (EXT_RELIABILITY, EXT_RNIV_STATUS) for e in exts
    )


def coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    out = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def ins_identifier(value: str, system: str, use: str = "official") -> dict[str, Any]:
    code = INS_SYSTEMS.get(system) or INS_OIDS.get(system, "INS-NIR")
    if not system.startswith("urn:oid:"):
        system = f"urn:oid:{system}"
    return {
        "use": use,
        "type": {"coding": [coding(CS_ID_TYPE, code)]},
        "system": system,
        "value": value,
    }


def _copy(resource: dict[str, Any]) -> dict[str, Any]:
    """A deep copy; through orjson for JSON data (several times cheaper than deepcopy, and
    the feed copies a Patient per message)."""
    try:
        return orjson.loads(orjson.dumps(resource))
    except TypeError:  # not plain JSON data (e.g. Decimal): copy it as it is
        return copy.deepcopy(resource)


def write_identity(patient: dict[str, Any], ident: Identity) -> dict[str, Any]:
    """A copy of `patient` carrying `ident` (traits, INS, status, attributes).

    The status date is renewed when `ident`'s status differs from the one `patient`
    carries (or `patient` was not under identity vigilance), else kept: callers pass the
    stored version, so a status change is dated by the server, not by a client."""
    since = _status_date_after(patient, ident)
    out = _copy(patient)
    out["resourceType"] = "Patient"
    names = [n for n in out.get("name") or [] if n.get("use") not in ("official", "usual")]
    official: dict[str, Any] = {"use": "official", "family": ident.birth_family}
    if ident.given:
        official["extension"] = [
            {"url": EXT_BIRTH_LIST_GIVEN, "valueString": " ".join(ident.given)}
        ]
        official["given"] = [ident.given[0]]
    official = {k: official[k] for k in ("extension", "use", "family", "given") if k in official}
    new_names = [official]
    if ident.used_family or ident.used_given:
        usual: dict[str, Any] = {"use": "usual"}
        if ident.used_family:
            usual["family"] = ident.used_family
        if ident.used_given:
            usual["given"] = [ident.used_given]
        new_names.append(usual)
    out["name"] = new_names + names
    if ident.birth_date:
        out["birthDate"] = ident.birth_date
    if ident.sex:
        out["gender"] = ident.sex
    exts = [
        e
        for e in out.get("extension") or []
        if e.get("url")
        not in (EXT_RELIABILITY, EXT_RNIV_STATUS, EXT_RNIV_STATUS_DATE, EXT_BIRTH_PLACE)
    ]
    exts.append(reliability_extension(ident))
    for attr in sorted(ident.attributes):
        exts.append(
            {
                "url": EXT_RELIABILITY,
                "extension": [
                    {
                        "url": "identityStatus",
                        "valueCoding": coding(CS_STATUS, attr, ATTRIBUTES[attr]),
                    }
                ],
            }
        )
    exts.append(
        {
            "url": EXT_RNIV_STATUS,
            "valueCoding": coding(CS_RNIV_STATUS, ident.status, STATUSES[ident.status]),
        }
    )
    if since:
        exts.append({"url": EXT_RNIV_STATUS_DATE, "valueDateTime": since})
    if ident.birthplace:
        exts.append(
            {
                "url": EXT_BIRTH_PLACE,
                "valueAddress": {
                    "extension": [
                        {"url": EXT_INSEE, "valueCoding": coding(CS_COMMUNE, ident.birthplace)}
                    ]
                },
            }
        )
    out["extension"] = exts
    idents = [i for i in out.get("identifier") or [] if (i.get("system") or "") not in INS_SYSTEMS]
    if ident.ins:
        idents.append(ins_identifier(ident.ins, ident.ins_system))
    for system, value in ident.old_ins:
        if (system, value) != (ident.ins_system, ident.ins):
            idents.append(ins_identifier(value, system, use="old"))
    if idents:
        out["identifier"] = idents
    else:
        out.pop("identifier", None)
    _keep_profile_claim(out, ident)
    return out


def _keep_profile_claim(patient: dict[str, Any], ident: Identity) -> None:
    """FR Core's INS patient profile describes an identity with its current INS only (its
    INS slices fix use = official, fr-core-1 wants the INS of a VALI identity): one
    without a current INS (provisional, or downgraded: its INS set aside as ``old``), or
    with a former one, claims the general FR Core patient profile instead, a claim it can
    keep. Otherwise the declared profile would refuse the downgrade the RNIV requires."""
    meta = patient.get("meta")
    profiles = meta.get("profile") if isinstance(meta, dict) else None
    if not isinstance(profiles, list) or (ident.ins and not ident.old_ins):
        return
    claims = [p.split("|")[0] if isinstance(p, str) else p for p in profiles]
    if PROFILE_INS not in claims:
        return
    kept = [p for p, c in zip(profiles, claims, strict=True) if c != PROFILE_INS]
    if PROFILE_PATIENT not in claims:
        kept.append(PROFILE_PATIENT)
    patient["meta"] = {**meta, "profile": kept}


def _status_date_after(patient: dict[str, Any], ident: Identity) -> str:
    """The status date of `ident` written over `patient` (see `write_identity`)."""
    if not is_managed(patient) or _status_of(patient) != ident.status:
        return now_instant()
    return ident.status_date or status_date_of(patient)


def _status_of(patient: dict[str, Any]) -> str:
    """The RNIV status of `patient`: its Socle extension (as `read_identity` reads it, the
    last one), without reading the whole identity when it is there (the feed's path)."""
    found = _ext(patient.get("extension"), EXT_RNIV_STATUS)
    code = (found[-1].get("valueCoding") or {}).get("code") if found else None
    return code if code in STATUSES else read_identity(patient).status


def reliability_extension(ident: Identity) -> dict[str, Any]:
    fr = FR_STATUS_OF[ident.status]
    parts: list[dict[str, Any]] = []
    if ident.method:
        parts.append(
            {
                "url": "methodCollection",
                "valueCoding": coding(
                    CS_METHOD_COLLECTION, ident.method, METHODS.get(ident.method)
                ),
            }
        )
    if ident.collection_date:
        parts.append({"url": "dateCollection", "valueDate": ident.collection_date})
    parts.append(
        {"url": "identityStatus", "valueCoding": coding(CS_STATUS, fr, STATUS_DISPLAY_0445[fr])}
    )
    if ident.validation_date and ident.status in (VALI, QUAL):
        parts.append({"url": "validationDate", "valueDate": ident.validation_date})
    if ident.validation_mode and ident.status in (VALI, QUAL):
        parts.append(
            {
                "url": "validationMode",
                "valueCoding": coding(
                    CS_VALIDATION_MODE,
                    ident.validation_mode,
                    VALIDATION_MODES.get(ident.validation_mode),
                ),
            }
        )
    return {"url": EXT_RELIABILITY, "extension": parts}
