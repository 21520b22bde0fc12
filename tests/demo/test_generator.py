"""The `socle demo` data set: valid, coherent, deterministic and idempotent to load."""

from __future__ import annotations

import base64
from collections import Counter
from datetime import date

import orjson
import pytest

from socle.demo import builders, vocabulary
from socle.demo.generator import N_PATIENTS, TODAY, demo_bundles
from socle.demo.identifiers import is_valid_finess, is_valid_nir, is_valid_rpps
from tests.demo.bundle_checks import identifier_keys, resources, unresolved
from tests.demo.fhir_shape import check_resource, find_empty


@pytest.fixture(scope="module")
def bundles() -> list[dict]:
    return demo_bundles(1)


@pytest.fixture(scope="module")
def distinct(bundles: list[dict]) -> dict[str, dict]:
    """Each resource once, keyed by fullUrl (directory entries repeat across bundles)."""
    return {e["fullUrl"]: e["resource"] for bundle in bundles for e in bundle["entry"]}


def _of_type(distinct: dict[str, dict], rtype: str) -> list[dict]:
    return [r for r in distinct.values() if r["resourceType"] == rtype]


def test_same_seed_same_bytes_other_seed_other_data() -> None:
    assert orjson.dumps(demo_bundles(7)) == orjson.dumps(demo_bundles(7))
    assert orjson.dumps(demo_bundles(7)) != orjson.dumps(demo_bundles(8))


def test_default_seed_is_one(bundles: list[dict]) -> None:
    assert orjson.dumps(demo_bundles()) == orjson.dumps(bundles)


def test_every_resource_is_well_formed_r4(bundles: list[dict]) -> None:
    problems = [p for bundle in bundles for p in check_resource(bundle)]
    assert problems == []


def test_nothing_is_empty(bundles: list[dict]) -> None:
    assert [p for bundle in bundles for p in find_empty(bundle)] == []


def test_entries_are_conditional_posts_on_an_identifier(bundles: list[dict]) -> None:
    for bundle in bundles:
        assert bundle["type"] == "transaction"
        for entry in bundle["entry"]:
            resource, request = entry["resource"], entry["request"]
            assert entry["fullUrl"].startswith("urn:uuid:")
            assert request["method"] == "POST"
            assert request["url"] == resource["resourceType"]
            criterion = request["ifNoneExist"]
            assert criterion.startswith("identifier=")
            system, _, value = criterion.removeprefix("identifier=").partition("|")
            assert (system, value) in identifier_keys(resource)


def test_references_resolve_inside_each_bundle(bundles: list[dict]) -> None:
    for bundle in bundles:
        assert unresolved(bundle) == []


def test_full_urls_are_unique_within_a_bundle(bundles: list[dict]) -> None:
    for bundle in bundles:
        urls = [e["fullUrl"] for e in bundle["entry"]]
        assert len(urls) == len(set(urls))


def test_repeated_directory_entries_are_identical(bundles: list[dict]) -> None:
    first_seen: dict[str, bytes] = {}
    for bundle in bundles:
        for entry in bundle["entry"]:
            if entry["resource"]["resourceType"] in ("Organization", "Practitioner"):
                raw = orjson.dumps(entry)
                assert first_seen.setdefault(entry["fullUrl"], raw) == raw


def test_identifiers_are_unique_across_the_data_set(distinct: dict[str, dict]) -> None:
    counts = Counter(key for r in distinct.values() for key in identifier_keys(r))
    assert [key for key, n in counts.items() if n > 1] == []


def test_counts(bundles: list[dict], distinct: dict[str, dict]) -> None:
    assert len(bundles) == 1 + N_PATIENTS
    directory = Counter(r["resourceType"] for r in resources(bundles[0]))
    assert directory["Organization"] == 5
    assert directory["Practitioner"] == 10
    assert 10 <= directory["PractitionerRole"] <= 15
    per_type = Counter(r["resourceType"] for r in distinct.values())
    assert per_type["Patient"] == N_PATIENTS
    assert N_PATIENTS <= per_type["Encounter"] <= 3 * N_PATIENTS
    assert 3 * N_PATIENTS <= per_type["Observation"] <= 15 * N_PATIENTS
    assert per_type["DocumentReference"] == per_type["Encounter"]
    assert per_type["Condition"] >= N_PATIENTS // 2
    assert per_type["MedicationRequest"] >= 1
    for bundle in bundles[1:]:
        assert len(resources(bundle, "Patient")) == 1
        assert 1 <= len(resources(bundle, "Encounter")) <= 3
        assert resources(bundle, "Observation")


def test_organizations_carry_valid_finess(distinct: dict[str, dict]) -> None:
    orgs = _of_type(distinct, "Organization")
    for org in orgs:
        finess = [i for i in org["identifier"] if i["system"] == vocabulary.FINESS]
        assert finess[0]["type"]["coding"][0]["code"] == "FINEG"
        assert {i["type"]["coding"][0]["code"] for i in finess} <= {"FINEG", "FINEJ"}
        assert all(is_valid_finess(i["value"]) for i in finess)
        assert org["address"][0]["postalCode"].isdigit()
    names = " ".join(o["name"] for o in orgs)
    for word in ("hospitalier", "Clinique", "Maison de santé", "Laboratoire", "EHPAD"):
        assert word in names


def test_practitioners_have_rpps_idnps_and_profession(distinct: dict[str, dict]) -> None:
    professions = set()
    for pract in _of_type(distinct, "Practitioner"):
        ids = {i["type"]["coding"][0]["code"]: i for i in pract["identifier"]}
        rpps = ids["RPPS"]["value"]
        assert ids["RPPS"]["system"] == "https://rpps.esante.gouv.fr"
        assert is_valid_rpps(rpps)
        assert rpps.startswith("997")  # ANS test range
        assert ids["IDNPS"]["system"] == "urn:oid:1.2.250.1.71.4.2.1"
        assert ids["IDNPS"]["value"] == "8" + rpps
        codings = pract["qualification"][0]["code"]["coding"]
        professions |= {c["code"] for c in codings if c["system"] == vocabulary.TRE_G15_PROFESSION}
    assert professions == {"10", "21", "60"}


def test_roles_link_practitioners_to_organizations(distinct: dict[str, dict]) -> None:
    for role in _of_type(distinct, "PractitionerRole"):
        assert distinct[role["practitioner"]["reference"]]["resourceType"] == "Practitioner"
        assert distinct[role["organization"]["reference"]]["resourceType"] == "Organization"


def _birthplace_code(patient: dict) -> str:
    ext = next(e for e in patient["extension"] if e["url"] == vocabulary.EXT_BIRTH_PLACE)
    return ext["valueAddress"]["extension"][0]["valueCoding"]["code"]


def test_ins_is_consistent_with_sex_birth_date_and_birthplace(distinct: dict[str, dict]) -> None:
    patients = _of_type(distinct, "Patient")
    places = set()
    for patient in patients:
        (ins,) = patient["identifier"]
        assert ins["system"] == "urn:oid:1.2.250.1.213.1.4.10"
        assert ins["type"]["coding"][0]["code"] == "INS-NIR-TEST"
        assert ins["use"] == "official"
        nir = ins["value"]
        assert is_valid_nir(nir), nir
        born = date.fromisoformat(patient["birthDate"])
        assert nir[0] == {"male": "1", "female": "2"}[patient["gender"]]
        assert nir[1:5] == f"{born.year % 100:02d}{born.month:02d}"
        place = _birthplace_code(patient)
        if place[:2] in ("2A", "2B") and born.year < 1976:
            place = "20" + place[2:]  # one Corsican department then: INSEE numbered it 20
        assert nir[5:10] == place
        places.add(nir[5:7])
        assert born < TODAY
    # Corsica (before and after 1976) and overseas edge cases are exercised
    assert {"2A", "2B", "97"} <= places and ("20" in places or len(patients) < 20)


def test_names_follow_fr_core_ins(distinct: dict[str, dict]) -> None:
    patients = _of_type(distinct, "Patient")
    usual = 0
    for patient in patients:
        official = [n for n in patient["name"] if n["use"] == "official"]
        assert len(official) == 1
        (birth_list,) = official[0]["extension"]
        assert birth_list["url"] == vocabulary.EXT_BIRTH_LIST_GIVEN
        assert birth_list["valueString"].startswith(official[0]["given"][0])
        assert len(official[0]["given"]) == 1
        usual += any(n["use"] == "usual" for n in patient["name"])
    assert usual >= 1
    text = orjson.dumps([p["name"] for p in patients]).decode()
    assert any(c in text for c in "éèëïôç")
    assert "'" in text or "-" in text


def test_patients_have_french_addresses_and_telecom(distinct: dict[str, dict]) -> None:
    postal = {c.postal: c.name for c in vocabulary.COMMUNES}
    for patient in _of_type(distinct, "Patient"):
        (addr,) = patient["address"]
        assert postal[addr["postalCode"]] == addr["city"]
        assert patient["telecom"][0]["value"].startswith("06 39 98")


def test_clinical_resources_point_at_their_patient_and_encounter(bundles: list[dict]) -> None:
    for bundle in bundles[1:]:
        by_url = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
        (patient_url,) = [u for u, r in by_url.items() if r["resourceType"] == "Patient"]
        for resource in by_url.values():
            rtype = resource["resourceType"]
            if rtype in ("Observation", "Condition", "MedicationRequest", "Encounter"):
                assert resource["subject"]["reference"] == patient_url
            if rtype in ("Observation", "Condition", "MedicationRequest"):
                assert by_url[resource["encounter"]["reference"]]["resourceType"] == "Encounter"
            if rtype == "DocumentReference":
                assert resource["subject"]["reference"] == patient_url


def test_observations_are_loinc_vitals_and_labs(distinct: dict[str, dict]) -> None:
    known = {x.loinc: x.unit for x in vars(vocabulary).values() if isinstance(x, vocabulary.Vital)}
    seen = set()
    for obs in _of_type(distinct, "Observation"):
        code = obs["code"]["coding"][0]["code"]
        seen.add(code)
        assert obs["code"]["coding"][0]["system"] == "http://loinc.org"
        assert {"subject", "encounter", "effectiveDateTime", "performer"} <= obs.keys()
        if code == "85354-9":
            parts = {c["code"]["coding"][0]["code"] for c in obs["component"]}
            assert parts == {"8480-6", "8462-4"}
            assert "valueQuantity" not in obs
        else:
            assert obs["valueQuantity"]["code"] == known[code]
            assert obs["valueQuantity"]["system"] == "http://unitsofmeasure.org"
    assert {"29463-7", "8302-2", "8867-4", "85354-9", "2339-0"} <= seen


def test_conditions_use_icd10(distinct: dict[str, dict]) -> None:
    for cond in _of_type(distinct, "Condition"):
        (coding,) = cond["code"]["coding"]
        assert coding["system"] == "http://hl7.org/fhir/sid/icd-10"
        assert coding["code"] in vocabulary.PROBLEM_BY_CODE
        if "abatementDateTime" in cond:
            assert cond["clinicalStatus"]["coding"][0]["code"] == "resolved"


def test_documents_carry_readable_french_text(distinct: dict[str, dict]) -> None:
    docs = _of_type(distinct, "DocumentReference")
    types = set()
    for doc in docs:
        assert doc["status"] == "current"
        types.add(doc["type"]["coding"][0]["code"])
        attachment = doc["content"][0]["attachment"]
        assert attachment["contentType"].startswith("text/plain")
        text = base64.b64decode(attachment["data"], validate=True).decode("utf-8")
        assert attachment["title"] in text
        assert {"subject", "author", "custodian", "date"} <= doc.keys()
    assert {"11488-4"} <= types <= {"11488-4", "34133-9", "18842-5", "11502-2"}


def test_times_carry_the_paris_offset(distinct: dict[str, dict]) -> None:
    for enc in _of_type(distinct, "Encounter"):
        start, end = enc["period"]["start"], enc["period"]["end"]
        assert start[-6:] in ("+01:00", "+02:00")
        assert start[:16] <= end[:16] or start[:10] < end[:10]


@pytest.mark.parametrize(
    ("day", "hour", "offset"),
    [
        (date(2024, 1, 15), 12, "+01:00"),
        (date(2024, 3, 30), 12, "+01:00"),
        (date(2024, 3, 31), 1, "+01:00"),  # switch to summer time at 02:00
        (date(2024, 3, 31), 12, "+02:00"),
        (date(2024, 7, 14), 12, "+02:00"),
        (date(2024, 10, 27), 1, "+02:00"),  # back to winter time at 03:00
        (date(2024, 10, 27), 12, "+01:00"),
        (date(2025, 3, 30), 12, "+02:00"),
    ],
)
def test_paris_offset(day: date, hour: int, offset: str) -> None:
    assert builders.paris_offset(day, hour) == offset
