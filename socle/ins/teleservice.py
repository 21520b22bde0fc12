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


def valid_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except (TypeError, ValueError):
        return False
    return len(text) == 10


def check_record(rec: Any, where: str = "") -> tuple[dict[str, Any] | None, list[Issue]]:
    """Normalise one registry record; issues explain every problem."""
    issues: list[Issue] = []
    if not isinstance(rec, dict):
        return None, [Issue("error", "structure", f"{where}: a record must be a JSON object")]

    def bad(msg: str) -> None:
        issues.append(Issue("error", "invalid", f"{where}: {msg}" if where else msg))

    oid = str(rec.get("oid") or OID_TEST).removeprefix("urn:oid:")
    if oid not in INS_OIDS:
        bad(f"oid {oid!r} is not an INS OID")
    matricule = str(rec.get("matricule") or "")
    check = check_nir(matricule, system=oid)
    if not check.valid:
        bad(f"matricule {matricule!r}: {check.reason}")
    family = N.trait(rec.get("nom"))
    given = N.given_list(rec.get("prenoms"))
    sex = SEX_CODES.get(str(rec.get("sexe") or ""))
    birth = str(rec.get("date_naissance") or "")
    place = str(rec.get("lieu_naissance") or "").upper()
    if not family:
        bad("missing trait: nom (birth name)")
    if not given:
        bad("missing trait: prenoms (birth first names)")
    if sex is None:
        bad(f"sexe must be M or F, got {rec.get('sexe')!r}")
    if not birth:
        bad("missing trait: date_naissance")
    elif not valid_date(birth):
        bad(f"date_naissance {birth!r} is not a real date (YYYY-MM-DD)")
    if place and (len(place) != 5 or not place.replace("2A", "20").replace("2B", "20").isdigit()):
        bad(f"lieu_naissance {place!r} is not a 5-character INSEE code")
    history = []
    for i, old in enumerate(rec.get("historique") or []):
        old_m = str((old or {}).get("matricule") or "")
        old_oid = str((old or {}).get("oid") or oid).removeprefix("urn:oid:")
        old_check = check_nir(old_m, system=old_oid)
        if not old_check.valid:
            bad(f"historique[{i}] {old_m!r}: {old_check.reason}")
        history.append({"matricule": check_nir(old_m).value, "oid": old_oid})
    cards = []
    for card in rec.get("carte_vitale") or []:
        card_check = check_nir(str(card))
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


def load(s: StoreSession, records: Iterable[Any], *, replace: bool = False) -> int:
    """Load records into the tenant's registry; any invalid record refuses the whole load."""
    clean, issues = [], []
    for i, rec in enumerate(records):
        out, found = check_record(rec, f"record {i + 1}")
        issues.extend(found)
        if out is not None:
            clean.append(out)
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
    text = data.strip()
    if not text:
        return []
    try:
        if text[:1] in (b"[", b"{"):
            whole = orjson.loads(text)
            if isinstance(whole, list):
                return whole
            if isinstance(whole, dict) and isinstance(whole.get("identities"), list):
                return whole["identities"]
            if isinstance(whole, dict):
                return [whole]
    except orjson.JSONDecodeError:
        pass  # NDJSON below
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                out.append(orjson.loads(line))
            except orjson.JSONDecodeError as exc:
                raise FhirError(400, "invalid", f"line {n}: not JSON ({exc})") from exc
    return out


# --------------------------------------------------------------------------- queries


def _rows(s: StoreSession, stmt: Any) -> list[dict[str, Any]]:
    return [orjson.loads(r.content) for r in s.execute(stmt)]


def _given_ok(query_given: list[str], rec: dict[str, Any]) -> bool:
    wanted = [N.compare_key(g) for g in query_given if g]
    if not wanted:
        return True
    listed = N.compare_key(rec["prenoms"])
    first = N.compare_key(rec["premier_prenom"])
    return wanted[0] == first or " ".join(wanted) == listed


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
    if not valid_date(birth_date):
        raise FhirError(400, "invalid", f"birthDate {birth_date!r} is not a real date")
    gender = SEX_CODES.get(sex, sex)
    r = ins_registry.c
    stmt = select(r.content).where(
        r.tenant == s.tenant,
        r.birth_date == birth_date,
        r.sex == gender,
        r.family == N.compare_key(family),
    )
    names = N.given_list(given)
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
    """Récupération with Carte Vitale data: holder's NIR, beneficiary's birth date."""
    check = check_nir(holder_nir)
    if not check.valid:
        raise FhirError(400, "invalid", f"Carte Vitale NIR {holder_nir!r}: {check.reason}")
    if not valid_date(birth_date):
        raise FhirError(400, "invalid", f"birthDate {birth_date!r} is not a real date")
    k, r = ins_registry_key.c, ins_registry.c
    stmt = select(r.content).where(
        r.pk.in_(
            select(k.registry_pk).where(
                k.tenant == s.tenant, k.kind == "cv", k.value == check.value
            )
        ),
        r.birth_date == birth_date,
    )
    found = [rec for rec in _rows(s, stmt) if _given_ok(N.given_list(given), rec)]
    return _answer(found)


def verify(
    s: StoreSession,
    *,
    matricule: str,
    oid: str,
    family: str,
    given: str | list[str],
    birth_date: str,
    sex: str,
    birthplace: str | None = None,
) -> InsiResult:
    """Vérification: 00 when the INS exists and the traits agree, else 01 with the reason."""
    oid = oid.removeprefix("urn:oid:")
    check = check_nir(matricule, system=oid)
    if not check.valid:
        raise FhirError(400, "invalid", f"INS {matricule!r}: {check.reason}")
    k, r = ins_registry_key.c, ins_registry.c
    stmt = (
        select(r.content, k.kind)
        .select_from(ins_registry.join(ins_registry_key, k.registry_pk == r.pk))
        .where(k.tenant == s.tenant, k.kind.in_(("current", "former")), k.value == check.value)
    )
    hits = [(orjson.loads(row.content), row.kind) for row in s.execute(stmt)]
    if not hits:
        return InsiResult(NONE, [], f"INS {check.value} is not known")
    rec, kind = hits[0]
    if kind == "current" and rec["oid"] != oid:
        return InsiResult(NONE, [], f"INS {check.value} is not known under OID {oid}")
    differences = []
    if N.compare_key(family) != N.compare_key(rec["nom"]):
        differences.append("nom de naissance")
    if not _given_ok(N.given_list(given), rec):
        differences.append("prénom")
    if birth_date != rec["date_naissance"]:
        differences.append("date de naissance")
    if SEX_CODES.get(sex, sex) != SEX_CODES[rec["sexe"]]:
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
    out.birth_date = rec["date_naissance"]
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
