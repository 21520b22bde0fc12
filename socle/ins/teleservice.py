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
first of the registry's list, or the whole list. Every query's traits are checked first
(`trait_issues`), the same way for the three operations: a missing one is ``required``, one
INSi cannot read (1962-02-30, gender X, a name of no letter, an INSEE code ``abc``) is
``invalid``, a 400 that lists them all, never a 01.
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
from socle.ins.nir import (
    INS_OIDS,
    OID_TEST,
    SEX_CODES,
    check_nir,
    future_date,
    insee_reason,
    insi_date,
    same_place,
    sex_of,
)
from socle.ins.tables import ins_registry, ins_registry_key

if TYPE_CHECKING:
    from socle.fhir.storage.store import StoreSession

FOUND, NONE, SEVERAL = "00", "01", "02"
LABELS = {
    FOUND: "Une identité trouvée",
    NONE: "Aucune identité trouvée",
    SEVERAL: "Plusieurs identités trouvées",
}


@dataclass(slots=True)
class InsiResult:
    code: str
    identities: list[dict[str, Any]] = field(default_factory=list)
    detail: str = ""

    @property
    def label(self) -> str:
        return LABELS[self.code]


def valid_date(text: Any) -> bool:
    return insi_date(text) is not None


def fhir_date(text: str) -> str:
    """FHIR birthDate of an INSi date: the unknown ``-00`` parts left out (1962-05-00 ->
    1962-05), since FHIR has no day or month 00."""
    while text.endswith("-00"):
        text = text[:-3]
    return text


# JSON types of a record's fields: text, or text or a number (a matricule, a sex code 1/2
# or an INSEE code may be written as a JSON number: its digits are read)
_TEXT_FIELDS = ("oid", "nom", "date_naissance")
_TEXT_OR_NUMBER_FIELDS = ("matricule", "sexe", "lieu_naissance")
# what a record may disagree with its matricule on and still be loaded, with a warning (a
# NIR keeps the month and place of its first registration); a sex other than the sex
# digit's, or an NIA under the NIR OID, refuses it (see `_agreement`)
_TOLERATED = {"year-mismatch", "month-mismatch", "birthplace-mismatch", "nia-kind"}


def _type_faults(rec: dict[str, Any]) -> tuple[dict[str, Any], list[str], set[str]]:
    """The record with its wrongly typed fields blanked, what was wrong with them, and
    their names: a field of the wrong JSON type is a clear error, never a crash of the
    whole load, nor a "missing trait" (``nom: 123``)."""
    faults, wrong = [], set()
    for name in (*_TEXT_FIELDS, *_TEXT_OR_NUMBER_FIELDS):
        value = rec.get(name)
        number_ok = name in _TEXT_OR_NUMBER_FIELDS and isinstance(value, int)
        if value is None or isinstance(value, str) or (number_ok and not isinstance(value, bool)):
            continue
        faults.append(f"{name} must be a string, got {type(value).__name__} {value!r}")
        rec = {**rec, name: None}
        wrong.add(name)
    for name in ("historique", "carte_vitale"):
        if rec.get(name) is not None and not isinstance(rec[name], list):
            faults.append(f"{name} must be a list, got {type(rec[name]).__name__}")
            rec = {**rec, name: None}
    prenoms = rec.get("prenoms")
    if prenoms is not None and not (
        isinstance(prenoms, str)
        or (isinstance(prenoms, list) and all(isinstance(p, str) for p in prenoms))
    ):
        faults.append(
            "prenoms must be a string (first names separated by spaces) or a list of strings"
        )
        rec = {**rec, "prenoms": None}
        wrong.add("prenoms")
    return rec, faults, wrong


def _agreement(
    matricule: str, oid: str, sex: str, birth: str, place: str
) -> tuple[list[str], list[str]]:
    """(errors, warnings) of a valid matricule against its own record: an NIA (7/8) under
    the NIR OID, or a sex other than the sex digit's, is refused (a reference registry
    cannot hold an INS that contradicts it); a birth year, month or place that differs,
    or a NIR (1/2) under the NIA OID, is loaded with a warning."""
    check = check_nir(matricule, system=oid, gender=sex, birth_date=birth, birthplace=place)
    errors, warnings = [], []
    for issue in check.issues:
        if issue.code == "sex-mismatch":
            errors.append(f"sexe disagrees with the matricule's sex digit: {issue.message}")
        elif issue.code == "nir-kind":
            errors.append(f"matricule {check.value} under OID {oid}: {issue.message}")
        elif issue.code in _TOLERATED:
            warnings.append(issue.message)
    return errors, warnings


def check_record(rec: Any, where: str = "") -> tuple[dict[str, Any] | None, list[Issue]]:
    """Normalise one registry record; issues explain every problem (errors refuse it)."""
    if not isinstance(rec, dict):
        return None, [Issue("error", "structure", f"{where}: a record must be a JSON object")]
    prefix = f"{where}: " if where else ""
    rec, faults, wrong = _type_faults(rec)
    oid = str(rec.get("oid") or OID_TEST).removeprefix("urn:oid:")
    if oid not in INS_OIDS:
        faults.append(f"oid {oid!r} is not an INS OID")
    matricule = str(rec.get("matricule") or "")
    check = check_nir(matricule, system=oid)
    if not check.valid and "matricule" not in wrong:
        faults.append(f"matricule {matricule!r}: {check.reason}")
    family = N.trait(str(rec.get("nom") or ""))
    given = N.given_list(rec.get("prenoms"))
    sex = sex_of(rec.get("sexe"))
    raw_birth = str(rec.get("date_naissance") or "")
    birth = insi_date(raw_birth) or ""
    place = str(rec.get("lieu_naissance") or "").strip().upper()
    traits = _trait_faults(rec, family, given, sex, raw_birth, birth, place)
    faults += [fault for name, fault in traits if name not in wrong]
    history, more = _history(rec.get("historique") or [], oid, check.value)
    cards, most = _cards(rec.get("carte_vitale") or [])
    faults += more + most
    warnings: list[str] = []
    if not faults:
        faults, warnings = _agreement(check.value, oid, sex or "", birth, place)
    if faults:
        return None, [Issue("error", "invalid", prefix + f) for f in faults]
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
    }, [Issue("warning", "informational", prefix + w) for w in warnings]


def _trait_faults(
    rec: dict[str, Any],
    family: str,
    given: list[str],
    sex: str | None,
    raw_birth: str,
    birth: str,
    place: str,
) -> list[tuple[str, str]]:
    """(field, fault) of each trait of a record that is missing or impossible."""
    faults = []
    if not family:
        faults.append(("nom", "missing trait: nom (birth name)" + _no_letter(rec.get("nom"))))
    if not given:
        why = "missing trait: prenoms (birth first names)" + _no_letter(rec.get("prenoms"))
        faults.append(("prenoms", why))
    if sex is None:
        faults.append(("sexe", f"sexe must be M or F, got {rec.get('sexe')!r}"))
    if not raw_birth:
        faults.append(("date_naissance", "missing trait: date_naissance"))
    elif not birth:
        why = (
            f"date_naissance {raw_birth!r} is not a real date "
            "(YYYY-MM-DD; 00 for an unknown day, or day and month)"
        )
        faults.append(("date_naissance", why))
    elif future_date(birth):
        faults.append(("date_naissance", f"date_naissance {raw_birth!r} is in the future"))
    if not place:  # INSi always gives one (a commune, or 99 and a country)
        faults.append(("lieu_naissance", "missing trait: lieu_naissance (INSEE code)"))
    elif place == "99999":  # FR Core fr-core-3: an INS identity never has it
        faults.append(
            ("lieu_naissance", "lieu_naissance 99999 (unknown) is not an INSi birthplace")
        )
    elif (why := insee_reason(place)) is not None:
        why = f"lieu_naissance {place!r} is not an INSEE birthplace code: {why}"
        faults.append(("lieu_naissance", why))
    return faults


def _no_letter(value: Any) -> str:
    """Why a name given as text normalised to nothing."""
    return f" ({value!r} holds no letter)" if value else ""


def _history(olds: list[Any], oid: str, current: str) -> tuple[list[dict[str, str]], list[str]]:
    """The former matricules of a record, each under its own OID (default: the record's)."""
    history, faults = [], []
    for i, old in enumerate(olds):
        if not isinstance(old, dict):
            faults.append(f"historique[{i}] must be an object {{matricule, oid}}")
            continue
        old_m = str(old.get("matricule") or "")
        old_oid = str(old.get("oid") or oid).removeprefix("urn:oid:")
        old_check = check_nir(old_m, system=old_oid)
        if not old_check.valid:
            faults.append(f"historique[{i}] {old_m!r}: {old_check.reason}")
        elif old_check.value == current:
            faults.append(f"historique[{i}] {old_m!r} is the current matricule")
        elif any(issue.code == "nir-kind" for issue in old_check.issues):
            faults.append(f"historique[{i}] {old_m!r} under OID {old_oid}: an NIA is not a NIR")
        history.append({"matricule": old_check.value, "oid": old_oid})
    return history, faults


def _cards(cards: list[Any]) -> tuple[list[str], list[str]]:
    """The Carte Vitale NIRs a record is read from (a JSON number is read as its digits)."""
    out, faults = [], []
    for card in cards:
        if not isinstance(card, (str, int)) or isinstance(card, bool):
            faults.append(f"carte_vitale {card!r} must be a string (the card holder's NIR)")
            continue
        card_check = check_nir(str(card))
        if not card_check.valid:
            faults.append(f"carte_vitale {card!r}: {card_check.reason}")
        out.append(card_check.value)
    return out, faults


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


def load(
    s: StoreSession,
    records: Iterable[Any],
    *,
    replace: bool = False,
    allow_empty: bool = False,
    warnings: list[Issue] | None = None,
) -> int:
    """Load records into the tenant's registry; any invalid record refuses the whole load.

    Without `replace`, a record whose matricule (current or former) is already in the
    registry replaces that identity instead of adding a second one. With it, a file of no
    record (empty, ``[]``) is refused unless `allow_empty`: a truncated export would
    otherwise silently empty the registry. `warnings`, when given, receives the records'
    warnings (traits that disagree with their matricule but are loaded)."""
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
    if replace and not clean and not allow_empty:
        raise FhirError(
            400,
            "required",
            "The registry file holds no identity: replacing the registry with it would empty "
            "the registry (allow it explicitly: allow_empty, CLI --allow-empty)",
        )
    if warnings is not None:
        warnings.extend(i for i in issues if i.severity != "error")
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


@dataclass(slots=True, frozen=True)
class Query:
    """The traits of an INSi query, checked: comparison forms, '' for a trait not given."""

    family: str = ""  # birth name, comparison form
    given: tuple[str, ...] = ()  # first names, stored forms
    birth: str = ""  # INSi form YYYY-MM-DD (00 for unknown parts)
    sex: str = ""  # male / female
    birthplace: str = ""  # INSEE code


TRAIT_NAMES = ("family", "given", "birthDate", "gender", "birthplace")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(str(v) for v in value if v is not None).strip()
    return str(value).strip()


def _trait_fault(name: str, raw: str) -> str | None:
    """Why a given trait cannot be sent to INSi, or None."""
    if name == "family" and not N.compare_key(raw):
        return f"family {raw!r} holds no letter of a name"
    if name == "given" and not N.given_list(raw):  # "?" would match every first name
        return f"given {raw!r} holds no letter of a first name"
    if name == "birthDate" and insi_date(raw) is None:
        return (
            f"birthDate {raw!r} is not a real date (YYYY-MM-DD, YYYY-MM or YYYY; 00 for an "
            "unknown day, or day and month)"
        )
    if name == "birthDate" and future_date(insi_date(raw) or ""):
        return f"birthDate {raw!r} is in the future"
    if name == "gender" and sex_of(raw) is None:
        return f"gender {raw!r}: INSi knows M (male) and F (female)"
    if name == "birthplace" and (why := insee_reason(raw)) is not None:
        return f"birthplace {raw!r} is not an INSEE code: {why}"
    return None


def trait_issues(
    traits: dict[str, Any], required: Iterable[str], what: str
) -> tuple[Query, list[Issue]]:
    """Check the traits of an INSi query (`traits` keyed by `TRAIT_NAMES`) before any
    lookup: a missing required trait (`required` issue) or one INSi cannot read (`invalid`:
    1962-02-30, gender X, a name of no letter) is refused, never compared."""
    raw = {name: _text(traits.get(name)) for name in TRAIT_NAMES}
    needed = set(required)
    issues: list[Issue] = []
    for name in TRAIT_NAMES:
        if not raw[name]:
            if name in needed:
                issues.append(Issue("error", "required", f"{what} needs {name} (missing)"))
        elif (why := _trait_fault(name, raw[name])) is not None:
            issues.append(Issue("error", "invalid", why))
    query = Query(
        family=N.compare_key(raw["family"]),
        given=tuple(N.given_list(raw["given"])),
        birth=insi_date(raw["birthDate"]) or "",
        sex=sex_of(raw["gender"]) or "",
        birthplace=raw["birthplace"].upper(),
    )
    return query, issues


def refuse(issues: list[Issue]) -> None:
    """Raise the 400 that lists every issue (its code is the first one's), if any."""
    if issues:
        first = issues[0]
        raise FhirError(400, first.code, first.diagnostics, issues=issues)


def _rows(s: StoreSession, stmt: Any) -> list[dict[str, Any]]:
    return [orjson.loads(r.content) for r in s.execute(stmt)]


def _given_ok(query_given: Iterable[str], rec: dict[str, Any]) -> bool:
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


def _agrees(rec: dict[str, Any], q: Query) -> bool:
    """A registry identity agrees with every trait the query gives (a retrieval)."""
    return not _differences(rec, q, given_only=True)


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
    """Récupération by traits (all but the birthplace are required, and all are checked)."""
    traits = {"family": family, "given": given, "birthDate": birth_date, "gender": sex}
    q, issues = trait_issues(
        {**traits, "birthplace": birthplace}, traits, "INSi retrieval by traits"
    )
    refuse(issues)
    r = ins_registry.c
    stmt = select(r.content).where(
        r.tenant == s.tenant,
        r.birth_date == q.birth,
        r.sex == q.sex,
        r.family == q.family,
    )
    return _answer([rec for rec in _rows(s, stmt) if _agrees(rec, q)])


def retrieve_by_card(
    s: StoreSession,
    *,
    holder_nir: str,
    birth_date: str,
    given: str | list[str] | None = None,
    family: str | None = None,
    sex: str | None = None,
) -> InsiResult:
    """Récupération with Carte Vitale data: holder's NIR, beneficiary's birth date.

    The beneficiaries of a card are the identities that list it (children on a parent's
    card) and the holder, whose own matricule (current or former) is the card's NIR. The
    other traits, when given, must agree too (INSi compares every trait it is sent): the
    sex tells twins apart, a wrong birth name finds nobody."""
    traits = {"family": family, "given": given, "birthDate": birth_date, "gender": sex}
    q, issues = trait_issues(traits, ("birthDate",), "INSi retrieval by Carte Vitale")
    check = check_nir(holder_nir)
    if not _text(holder_nir):
        issues.insert(0, Issue("error", "required", "Carte Vitale retrieval needs cardNir"))
    elif not check.valid:
        issues.insert(
            0, Issue("error", "invalid", f"Carte Vitale NIR {holder_nir!r}: {check.reason}")
        )
    refuse(issues)
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
        r.birth_date == q.birth,
    )
    return _answer([rec for rec in _rows(s, stmt) if _agrees(rec, q)])


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

    The INS and the traits are checked first, as for a retrieval: a query INSi cannot
    read (1962-02-30, no gender, gender X, a name of no letter) is a 400, not a "traits
    differ" 01 (which, on a local identity, would set its INS aside). The OID is part of
    the INS; without one (None) the matricule is verified under the OID the registry
    holds it under, which the answer carries."""
    oid = oid.removeprefix("urn:oid:") if oid else None
    check = check_nir(matricule, system=oid) if oid else check_nir(matricule)
    traits = {"family": family, "given": given, "birthDate": birth_date, "gender": sex}
    q, issues = trait_issues({**traits, "birthplace": birthplace}, traits, "INSi verification")
    if not check.valid:
        issues.insert(0, Issue("error", "invalid", f"INS {matricule!r}: {check.reason}"))
    refuse(issues)
    hit = registry_hit(s, check.value)
    if hit is None:
        return InsiResult(NONE, [], f"INS {check.value} is not known")
    rec, kind, known_oid = hit
    if oid is not None and known_oid != oid:
        return InsiResult(NONE, [], f"INS {check.value} is not known under OID {oid}")
    differences = _differences(rec, q)
    if differences:
        return InsiResult(NONE, [], "traits differ from the registry: " + ", ".join(differences))
    detail = "former matricule: the current one is returned" if kind == "former" else ""
    return InsiResult(FOUND, [rec], detail)


def _differences(rec: dict[str, Any], q: Query, given_only: bool = False) -> list[str]:
    """The traits of a checked query that the registry identity does not have (French
    names). Every trait counts (a verification), or with `given_only` only those the query
    gives (a retrieval); an identity of unknown birthplace agrees with any."""
    traits = (
        ("nom de naissance", q.family, lambda: q.family == N.compare_key(rec["nom"])),
        ("prénom", q.given, lambda: _given_ok(q.given, rec)),
        ("date de naissance", q.birth, lambda: q.birth == rec["date_naissance"]),
        ("sexe", q.sex, lambda: q.sex == SEX_CODES[rec["sexe"]]),
    )
    out = [name for name, asked, same in traits if (asked or not given_only) and not same()]
    place = rec["lieu_naissance"]
    if q.birthplace and place and not same_place(place, q.birthplace):
        out.append("lieu de naissance")
    return out


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
