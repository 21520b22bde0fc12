"""An INSi-style teleservice over a reference identity registry (stand-in for SNGI/RNIPP).

The registry is loaded from a file (``socle ins load-registry FILE``) or generated for
demonstrations (test OID .10, invented people). Each record, JSON or NDJSON::

    {"matricule": "2850375123456xx", "oid": "1.2.250.1.213.1.4.10",
     "nom": "MARTIN", "prenoms": "MARIE CLAIRE", "sexe": "F",
     "date_naissance": "1985-03-01", "lieu_naissance": "75123",
     "historique": [{"matricule": "...", "oid": "..."}],   # former matricules (optional)
     "carte_vitale": ["<NIR of the card holder>"]}          # cards it is read from (optional)

Operations, with INSi's answer codes:

* **récupération** by traits (birth name, first name(s), sex, birth date, optional
  birthplace) or by Carte Vitale data (holder's NIR + beneficiary's birth date, optional
  first name);
* **vérification** of an INS (matricule + OID) against traits.

``00`` one identity (its traits as the registry holds them, the current matricule and the
matricule history), ``01`` none, ``02`` several (the caller must add traits).
Traits compare in their comparison forms (`socle.ins.normalize`): case, accents,
ligatures, hyphens, apostrophes and extra spaces do not matter; a first name matches the
first of the registry's list, or the whole list.
"""

from __future__ import annotations

import copy
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import delete, insert, select

from socle.fhir.errors import FhirError, Issue
from socle.ins import model as M
from socle.ins import normalize as N
from socle.ins.nir import INS_OIDS, OID_TEST, check_nir
from socle.ins.tables import ins_registry, ins_registry_key

if TYPE_CHECKING:
    from socle.fhir.storage.store import StoreSession

FOUND, NONE, SEVERAL = "00", "01", "02"
# INSEE COG code: 2 digits (or 2A/2B) + 3 digits
_INSEE_CODE = re.compile(r"(?:\d\d|2A|2B)\d{3}", re.ASCII)
LABELS = {
    FOUND: "Une identité trouvée",
    NONE: "Aucune identité trouvée",
    SEVERAL: "Plusieurs identités trouvées",
}
SEX_CODES = {
    "M": "male",
    "F": "female",
    "1": "male",
    "2": "female",
    "male": "male",
    "female": "female",
}


@dataclass(slots=True)
class InsiResult:
    code: str
    identities: list[dict[str, Any]] = field(default_factory=list)
    detail: str = ""

    @property
    def label(self) -> str:
        return LABELS[self.code]


_INSI_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})", re.ASCII)


def insi_date(text: Any) -> str | None:
    """The INSi form YYYY-MM-DD of a birth date, or None when it is not a date.

    The national registries keep a birth date whose day, or day and month, are unknown
    with ``00`` in their place (``1962-00-00``, ``1962-05-00``); FHIR writes those as
    ``1962`` and ``1962-05``, read here as the same date. A known day and month must make a
    real date (``date.fromisoformat`` alone also took ``1985-W10-1``, a week date).
    """
    value = str(text or "").strip()
    if len(value) == 4:
        value += "-00-00"
    elif len(value) == 7:
        value += "-00"
    parts = _INSI_DATE.fullmatch(value)
    if parts is None:
        return None
    year, month, day = (int(p) for p in parts.groups())
    if year == 0 or month > 12 or (month == 0 and day != 0):
        return None
    if month and day:
        try:
            date(year, month, day)
        except ValueError:
            return None
    return value


def valid_date(text: Any) -> bool:
    return insi_date(text) is not None


def fhir_date(text: str) -> str:
    """FHIR birthDate of an INSi date: the unknown ``-00`` parts left out (1962-05-00 ->
    1962-05), since FHIR has no day or month 00."""
    while text.endswith("-00"):
        text = text[:-3]
    return text


def sex_of(value: Any) -> str | None:
    """FHIR gender (male/female) of an INSi sex code: M/F, 1/2 or male/female, any case."""
    text = str(value or "").strip()
    return SEX_CODES.get(text) or SEX_CODES.get(text.upper()) or SEX_CODES.get(text.lower())


def check_record(rec: Any, where: str = "") -> tuple[dict[str, Any] | None, list[Issue]]:
    """Normalise one registry record; issues explain every problem."""
    issues: list[Issue] = []
    if not isinstance(rec, dict):
        return None, [Issue("error", "structure", f"{where}: a record must be a JSON object")]

    def bad(msg: str) -> None:
        issues.append(Issue("error", "invalid", f"{where}: {msg}" if where else msg))

    # a field of the wrong JSON type is a clear error, never a crash of the whole load
    for name in ("matricule", "oid", "nom", "sexe", "date_naissance", "lieu_naissance"):
        if rec.get(name) is not None and not isinstance(rec[name], (str, int)):
            bad(f"{name} must be a string, got {type(rec[name]).__name__}")
            rec = {**rec, name: None}
    prenoms = rec.get("prenoms")
    if prenoms is not None and not (
        isinstance(prenoms, str)
        or (isinstance(prenoms, list) and all(isinstance(p, str) for p in prenoms))
    ):
        bad("prenoms must be a string (first names separated by spaces) or a list of strings")
        prenoms = None
    for name in ("historique", "carte_vitale"):
        if rec.get(name) is not None and not isinstance(rec[name], list):
            bad(f"{name} must be a list, got {type(rec[name]).__name__}")
            rec = {**rec, name: None}
    oid = str(rec.get("oid") or OID_TEST).removeprefix("urn:oid:")
    if oid not in INS_OIDS:
        bad(f"oid {oid!r} is not an INS OID")
    matricule = str(rec.get("matricule") or "")
    check = check_nir(matricule, system=oid)
    if not check.valid:
        bad(f"matricule {matricule!r}: {check.reason}")
    family = N.trait(str(rec.get("nom") or ""))
    given = N.given_list(prenoms)
    sex = sex_of(rec.get("sexe"))
    raw_birth = str(rec.get("date_naissance") or "")
    birth = insi_date(raw_birth) or ""
    place = str(rec.get("lieu_naissance") or "").strip().upper()
    if not family:
        bad("missing trait: nom (birth name)")
    if not given:
        bad("missing trait: prenoms (birth first names)")
    if sex is None:
        bad(f"sexe must be M or F, got {rec.get('sexe')!r}")
    if not raw_birth:
        bad("missing trait: date_naissance")
    elif not birth:
        bad(
            f"date_naissance {raw_birth!r} is not a real date "
            "(YYYY-MM-DD; 00 for an unknown day, or day and month)"
        )
    if place and not _INSEE_CODE.fullmatch(place):
        bad(f"lieu_naissance {place!r} is not a 5-character INSEE code")
    history = []
    for i, old in enumerate(rec.get("historique") or []):
        if not isinstance(old, dict):
            bad(f"historique[{i}] must be an object {{matricule, oid}}")
            continue
        old_m = str(old.get("matricule") or "")
        old_oid = str(old.get("oid") or oid).removeprefix("urn:oid:")
        old_check = check_nir(old_m, system=old_oid)
        if not old_check.valid:
            bad(f"historique[{i}] {old_m!r}: {old_check.reason}")
        elif old_check.value == check.value:
            bad(f"historique[{i}] {old_m!r} is the current matricule")
        history.append({"matricule": old_check.value, "oid": old_oid})
    cards = []
    for card in rec.get("carte_vitale") or []:
        if not isinstance(card, (str, int)) or isinstance(card, bool):
            bad(f"carte_vitale {card!r} must be a string (the card holder's NIR)")
            continue
        card_check = check_nir(str(card))  # a number, as the matricule may be
        if not card_check.valid:
            bad(f"carte_vitale {card!r}: {card_check.reason}")
        cards.append(card_check.value)
    if issues:
        return None, issues
    if (
        check.valid
        and sex
        and (
            warn := [
                i
                for i in check_nir(matricule, gender=sex, birth_date=birth).issues
                if i.severity == "warning"
            ]
        )
    ):
        issues.extend(Issue("warning", "informational", f"{where}: {w.message}") for w in warn)
    return {
        "matricule": check.value,
        "oid": oid,
        "nom": family,
        "prenoms": " ".join(given),
        "premier_prenom": given[0],
        "sexe": "M" if sex == "male" else "F",
        "date_naissance": birth,
        "lieu_naissance": place,
        "historique": history,
        "carte_vitale": cards,
    }, issues


def _same_person(clean: list[tuple[str, dict[str, Any]]]) -> list[Issue]:
    """A matricule (current or former) names one person: two records sharing one would make
    every retrieval of that person answer 02, and a verification pick one at random."""
    issues: list[Issue] = []
    owner: dict[str, str] = {}
    for where, rec in clean:
        for matricule in {rec["matricule"], *(h["matricule"] for h in rec["historique"])}:
            if matricule in owner:
                issues.append(
                    Issue(
                        "error",
                        "duplicate",
                        f"{where}: matricule {matricule} is already that of {owner[matricule]}",
                    )
                )
            else:
                owner[matricule] = where
    return issues


def _drop_replaced(s: StoreSession, clean: list[dict[str, Any]]) -> None:
    """Remove the registry identities that a loaded record replaces: those holding one of
    its matricules, current or former (a record loaded again, or an NIA now replaced by a
    NIR that lists it in its history)."""
    k = ins_registry_key.c
    values = sorted({m for rec in clean for m in (rec["matricule"], *_formers(rec))})
    pks: set[Any] = set()
    for start in range(0, len(values), 500):
        chunk = values[start : start + 500]
        pks.update(
            s.execute(
                select(k.registry_pk).where(
                    k.tenant == s.tenant, k.kind.in_(("current", "former")), k.value.in_(chunk)
                )
            ).scalars()
        )
    ordered = sorted(pks)
    for start in range(0, len(ordered), 500):
        chunk = ordered[start : start + 500]
        s.execute(
            delete(ins_registry_key).where(
                ins_registry_key.c.tenant == s.tenant, ins_registry_key.c.registry_pk.in_(chunk)
            )
        )
        s.execute(
            delete(ins_registry).where(
                ins_registry.c.tenant == s.tenant, ins_registry.c.pk.in_(chunk)
            )
        )


def _formers(rec: dict[str, Any]) -> list[str]:
    return [h["matricule"] for h in rec.get("historique") or []]


def load(s: StoreSession, records: Iterable[Any], *, replace: bool = False) -> int:
    """Load records into the tenant's registry; any invalid record refuses the whole load.

    Without `replace`, a record whose matricule (current or former) is already in the
    registry replaces that identity instead of adding a second one."""
    clean, issues, placed = [], [], []
    for i, rec in enumerate(records):
        out, found = check_record(rec, f"record {i + 1}")
        issues.extend(found)
        if out is not None:
            clean.append(out)
            placed.append((f"record {i + 1}", out))
    issues.extend(_same_person(placed))
    errors = [i for i in issues if i.severity == "error"]
    if errors:
        raise FhirError(
            400,
            "invalid",
            f"{len(errors)} invalid registry record(s): {errors[0].diagnostics}",
            issues=errors[:100],
        )
    if replace:
        s.execute(delete(ins_registry_key).where(ins_registry_key.c.tenant == s.tenant))
        s.execute(delete(ins_registry).where(ins_registry.c.tenant == s.tenant))
    elif clean:
        _drop_replaced(s, clean)
    for rec in clean:
        pk = s.execute(
            insert(ins_registry)
            .values(
                tenant=s.tenant,
                matricule=rec["matricule"],
                oid=rec["oid"],
                family=N.compare_key(rec["nom"]),
                given=N.compare_key(rec["prenoms"]),
                birth_date=rec["date_naissance"],
                sex=SEX_CODES[rec["sexe"]],
                birthplace=rec["lieu_naissance"],
                content=orjson.dumps(rec).decode(),
            )
            .returning(ins_registry.c.pk)
        ).scalar_one()
        keys = [{"kind": "current", "value": rec["matricule"]}]
        keys += [{"kind": "former", "value": h["matricule"]} for h in rec["historique"]]
        keys += [{"kind": "cv", "value": c} for c in rec["carte_vitale"]]
        s.conn.execute(
            insert(ins_registry_key),
            [{"tenant": s.tenant, "registry_pk": pk, **k} for k in keys],
        )
    return len(clean)


def read_records(data: bytes) -> list[Any]:
    """Records of a JSON array, a JSON object with "identities", or NDJSON."""
    text = data.removeprefix(b"\xef\xbb\xbf").strip()  # a UTF-8 byte order mark is no record
    if not text:
        return []
    whole_error: orjson.JSONDecodeError | None = None
    if text[:1] in (b"[", b"{"):
        try:
            whole = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            whole_error = exc  # NDJSON below, unless it is a broken array
            if text[:1] == b"[":
                raise FhirError(400, "invalid", f"the registry file is not JSON ({exc})") from exc
        else:
            if isinstance(whole, list):
                return whole
            if isinstance(whole, dict) and "identities" in whole:
                if not isinstance(whole["identities"], list):
                    raise FhirError(400, "invalid", '"identities" must be a JSON array')
                return whole["identities"]
            return [whole]
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                out.append(orjson.loads(line))
            except orjson.JSONDecodeError as exc:
                if n == 1 and whole_error is not None:
                    msg = f"the registry file is neither JSON ({whole_error}) nor NDJSON"
                else:
                    msg = f"line {n}: not JSON ({exc})"
                raise FhirError(400, "invalid", msg) from exc
    return out


# --------------------------------------------------------------------------- queries


def _rows(s: StoreSession, stmt: Any) -> list[dict[str, Any]]:
    return [orjson.loads(r.content) for r in s.execute(stmt)]


def _given_ok(query_given: list[str], rec: dict[str, Any]) -> bool:
    """The query's first names are the registry's first first name, or its first names in
    their order (the whole list, or its beginning), in comparison form.

    Answer 02 asks the caller to add the other first names: the query then has to agree
    with them all (it used to match on its first word alone, so adding names never told
    two homonyms apart). A compound name typed with a space (LEA ROSE) is LEA-ROSE.
    """
    wanted = N.compare_key(" ".join(query_given))
    if not wanted:
        return True
    names = N.given_list(rec["prenoms"])
    return any(N.compare_key(" ".join(names[:k])) == wanted for k in range(1, len(names) + 1))


def _answer(found: list[dict[str, Any]], detail: str = "") -> InsiResult:
    if not found:
        return InsiResult(NONE, [], detail)
    if len(found) > 1:
        return InsiResult(SEVERAL, [], detail or f"{len(found)} identities match")
    return InsiResult(FOUND, found, detail)


def retrieve(
    s: StoreSession,
    *,
    family: str,
    given: str | list[str],
    birth_date: str,
    sex: str,
    birthplace: str | None = None,
) -> InsiResult:
    """Récupération by traits (all but the birthplace are required)."""
    missing = [
        n
        for n, v in (
            ("family", family),
            ("given", given),
            ("birthDate", birth_date),
            ("gender", sex),
        )
        if not v
    ]
    if missing:
        raise FhirError(400, "required", "INSi retrieval needs the traits: " + ", ".join(missing))
    birth = insi_date(birth_date)
    if birth is None:
        raise FhirError(400, "invalid", f"birthDate {birth_date!r} is not a real date")
    gender = sex_of(sex)
    if gender is None:
        raise FhirError(400, "invalid", f"gender {sex!r}: INSi knows M (male) and F (female)")
    r = ins_registry.c
    stmt = select(r.content).where(
        r.tenant == s.tenant,
        r.birth_date == birth,
        r.sex == gender,
        r.family == N.compare_key(family),
    )
    names = N.given_list(given)
    if not names:  # "?" or "-" normalise to nothing, which would match every first name
        raise FhirError(400, "invalid", f"given {given!r} holds no letter of a first name")
    found = [rec for rec in _rows(s, stmt) if _given_ok(names, rec)]
    if birthplace:
        found = [
            rec
            for rec in found
            if not rec["lieu_naissance"] or rec["lieu_naissance"] == birthplace.upper()
        ]
    return _answer(found)


def retrieve_by_card(
    s: StoreSession, *, holder_nir: str, birth_date: str, given: str | None = None
) -> InsiResult:
    """Récupération with Carte Vitale data: holder's NIR, beneficiary's birth date.

    The beneficiaries of a card are the identities that list it (children on a parent's
    card) and the holder, whose own matricule (current or former) is the card's NIR."""
    check = check_nir(holder_nir)
    if not check.valid:
        raise FhirError(400, "invalid", f"Carte Vitale NIR {holder_nir!r}: {check.reason}")
    birth = insi_date(birth_date)
    if birth is None:
        raise FhirError(400, "invalid", f"birthDate {birth_date!r} is not a real date")
    k, r = ins_registry_key.c, ins_registry.c
    stmt = select(r.content).where(
        r.tenant == s.tenant,
        r.pk.in_(
            select(k.registry_pk).where(
                k.tenant == s.tenant,
                k.kind.in_(("cv", "current", "former")),
                k.value == check.value,
            )
        ),
        r.birth_date == birth,
    )
    found = [rec for rec in _rows(s, stmt) if _given_ok(N.given_list(given), rec)]
    return _answer(found)


def registry_hit(s: StoreSession, value: str) -> tuple[dict[str, Any], str, str] | None:
    """The registry identity that holds a matricule (its current one first, else as a
    former one), how ("current" or "former"), and the OID it holds it under: a former
    matricule keeps the OID it was given under (an NIA under .9 replaced by a NIR under
    .8); None when no identity holds it."""
    k, r = ins_registry_key.c, ins_registry.c
    stmt = (
        select(r.content, k.kind)
        .select_from(ins_registry.join(ins_registry_key, k.registry_pk == r.pk))
        .where(k.tenant == s.tenant, k.kind.in_(("current", "former")), k.value == value)
    )
    hits = sorted(s.execute(stmt), key=lambda row: row.kind != "current")
    if not hits:
        return None
    rec, kind = orjson.loads(hits[0].content), hits[0].kind
    oid = rec["oid"]
    if kind == "former":
        oid = next((h["oid"] for h in rec["historique"] if h["matricule"] == value), oid)
    return rec, kind, oid


def verify(
    s: StoreSession,
    *,
    matricule: str,
    oid: str | None,
    family: str,
    given: str | list[str],
    birth_date: str,
    sex: str,
    birthplace: str | None = None,
) -> InsiResult:
    """Vérification: 00 when the INS exists and the traits agree, else 01 with the reason.

    The OID is part of the INS; without one (None) the matricule is verified under the
    OID the registry holds it under, which the answer carries."""
    oid = oid.removeprefix("urn:oid:") if oid else None
    check = check_nir(matricule, system=oid) if oid else check_nir(matricule)
    if not check.valid:
        raise FhirError(400, "invalid", f"INS {matricule!r}: {check.reason}")
    hit = registry_hit(s, check.value)
    if hit is None:
        return InsiResult(NONE, [], f"INS {check.value} is not known")
    rec, kind, known_oid = hit
    if oid is not None and known_oid != oid:
        return InsiResult(NONE, [], f"INS {check.value} is not known under OID {oid}")
    differences = []
    if N.compare_key(family) != N.compare_key(rec["nom"]):
        differences.append("nom de naissance")
    if not N.compare_key(" ".join(N.given_list(given))) or not _given_ok(N.given_list(given), rec):
        differences.append("prénom")
    if insi_date(birth_date) != rec["date_naissance"]:
        differences.append("date de naissance")
    if sex_of(sex) != SEX_CODES[rec["sexe"]]:
        differences.append("sexe")
    if birthplace and rec["lieu_naissance"] and birthplace.upper() != rec["lieu_naissance"]:
        differences.append("lieu de naissance")
    if differences:
        return InsiResult(NONE, [], "traits differ from the registry: " + ", ".join(differences))
    detail = "former matricule: the current one is returned" if kind == "former" else ""
    return InsiResult(FOUND, [rec], detail)


def identity_of(rec: dict[str, Any], base: M.Identity | None = None) -> M.Identity:
    """The INS identity of a registry record, on top of `base` (used names kept)."""
    ident = base or M.Identity()
    out = copy.deepcopy(ident)
    out.birth_family = rec["nom"]
    out.given = N.given_list(rec["prenoms"])
    out.birth_date = fhir_date(rec["date_naissance"])
    out.sex = SEX_CODES[rec["sexe"]]
    out.birthplace = rec["lieu_naissance"] or out.birthplace
    system = f"urn:oid:{rec['oid']}"
    if ident.ins and (ident.ins_system, ident.ins) != (system, rec["matricule"]):
        out.old_ins = [*ident.old_ins, (ident.ins_system, ident.ins)]
    out.ins, out.ins_system = rec["matricule"], system
    olds = {(f"urn:oid:{h['oid']}", h["matricule"]) for h in rec.get("historique") or []}
    out.old_ins = sorted(set(out.old_ins) | olds)
    out.old_ins = [o for o in out.old_ins if o != (out.ins_system, out.ins)]
    return out


def patient_of(rec: dict[str, Any]) -> dict[str, Any]:
    """A Patient carrying the registry identity (status: récupérée, INSi collection)."""
    ident = identity_of(rec)
    ident.status, ident.method = M.RECUP, "INSI"
    ident.collection_date = date.today().isoformat()
    return M.write_identity({"resourceType": "Patient"}, ident)


# --------------------------------------------------------------------------- demo


def demo_records(count: int = 200, seed: int = 1) -> list[dict[str, Any]]:
    """Invented identities with test matricules (OID .10); never real people.

    A few carry a former matricule and a Carte Vitale holder (a parent's card for
    children), so every teleservice path has data.
    """
    from socle.demo import vocabulary as v
    from socle.demo.identifiers import make_nir

    rng = random.Random(seed)
    today = date(2025, 6, 30)
    out, used = [], set()
    for i in range(count):
        sex = rng.choice(("M", "F"))
        birth = today - timedelta(days=rng.randint(0, 95 * 365))
        commune = rng.choice(v.COMMUNES)
        place = commune.insee
        split = 3 if place.startswith("97") else 2
        while True:
            nir = make_nir(
                "male" if sex == "M" else "female",
                birth.year,
                birth.month,
                place[:split],
                place[split:],
                rng.randint(1, 999),
            )
            if nir not in used:
                used.add(nir)
                break
        pool = v.GIVEN_MALE if sex == "M" else v.GIVEN_FEMALE
        rec: dict[str, Any] = {
            "matricule": nir,
            "oid": OID_TEST,
            "nom": rng.choice(v.FAMILY_NAMES),
            "prenoms": " ".join(rng.sample(pool, rng.choice((1, 2, 3)))),
            "sexe": sex,
            "date_naissance": birth.isoformat(),
            "lieu_naissance": place,
        }
        if i % 10 == 3:
            old = make_nir(
                "male" if sex == "M" else "female",
                birth.year,
                birth.month,
                "99",
                "352",
                rng.randint(1, 999),
            )
            rec["historique"] = [{"matricule": old, "oid": OID_TEST}]
        if i % 7 == 0 and out:
            rec["carte_vitale"] = [out[-1]["matricule"]]
        out.append(rec)
    return out
