"""Acceptance on the vendored content: every JDV expands to its listed codes, every concept
of every built-in code system is found by $lookup, R4 core bindings validate."""

from __future__ import annotations

import gzip
import zipfile
from importlib import resources

import orjson
import pytest
from lxml import etree

from socle.terminology.service import Terminology
from socle.terminology.svs import OID_OF_URL

SVS = "{urn:ihe:iti:svs:2008}"


@pytest.fixture(scope="module")
def svc() -> Terminology:
    return Terminology(None)  # built-in layer only, no store


def _jdv_files():
    path = resources.files("socle.data").joinpath("terminology/cisis-jdv-svs.zip")
    with path.open("rb") as fh, zipfile.ZipFile(fh) as archive:
        for name in sorted(archive.namelist()):
            data = archive.read(name)
            if name.endswith(".xml") and data.strip():
                yield name, etree.fromstring(data)


def test_every_jdv_expands_to_its_listed_codes(svc):
    view = svc.view()
    checked, seen = 0, set()
    for name, root in _jdv_files():
        vs = root.find(f"{SVS}ValueSet")
        oid = vs.get("id")
        expected = {
            # FHIR codes carry no surrounding whitespace (two upstream codes do)
            (c.get("codeSystem"), c.get("code").strip()): c.get("displayName")
            for c in vs.iter(f"{SVS}Concept")
            if c.get("code")  # two upstream files hold a single empty "à compléter" line
        }
        if oid in seen:  # upstream reuses two OIDs for such placeholder copies
            assert not expected, name
            continue
        seen.add(oid)
        # the JDV from the SVS archive (a NOS FHIR copy may share its OID)
        entry = next(
            e
            for e in view.layers[1].by_identifier[("ValueSet", f"urn:oid:{oid}")]
            if e.source == "ci-sis-jdv"
        )
        expansion = svc.expand(valueset=entry.resource(), count=100_000)["expansion"]
        got = {}
        for c in expansion.get("contains", []):
            system_oid = view.oid_of(c["system"]) or OID_OF_URL.get(c["system"])
            got[(system_oid, c["code"])] = c.get("display")
        assert got == expected, name
        assert expansion["total"] == len(expected), name
        checked += 1
    assert checked == 518


def test_every_jdv_is_served_by_oid(svc):
    for _name, root in list(_jdv_files())[:40]:
        oid = root.find(f"{SVS}ValueSet").get("id")
        assert svc.has_value_set(f"urn:oid:{oid}")


def _walk(concepts):
    for c in concepts or []:
        yield c
        yield from _walk(c.get("concept"))


def test_every_builtin_concept_is_found_by_lookup(svc):
    found = 0
    for entry in svc.entries("CodeSystem"):
        resource = orjson.loads(entry.raw)
        if resource.get("content") in ("not-present", "supplement"):
            continue
        for concept in _walk(resource.get("concept")):
            result = svc.lookup(entry.url, concept["code"], entry.version)
            assert result.code == concept["code"]
            assert result.display == concept.get("display")
            found += 1
    assert found > 20_000


def test_nos_code_systems_and_retired_codes(svc):
    raw = resources.files("socle.data").joinpath("terminology/nos-abridged.json.gz").read_bytes()
    bundle = orjson.loads(gzip.decompress(raw))
    systems = [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "CodeSystem"
    ]
    assert len(systems) == 13
    r21 = "https://mos.esante.gouv.fr/NOS/TRE_R21-Fonction/FHIR/TRE-R21-Fonction"
    assert svc.lookup(r21, "FON-10").inactive  # dateFin set: retired
    assert not svc.lookup(r21, "FON-01").inactive
    # the OID of a NOS code system resolves to its URL
    res = svc.validate_code("urn:oid:1.2.250.1.213.1.6.1.17", "FON-01")
    assert res.result and res.system == r21


def test_r4_core_binding_validation(svc):
    gender = "http://hl7.org/fhir/ValueSet/administrative-gender"
    system = "http://hl7.org/fhir/administrative-gender"
    assert svc.validate_code(system, "female", value_set=gender).result
    bad = svc.validate_code(system, "woman", value_set=gender)
    assert not bad.result and not bad.unknown
    assert svc.validate_coding({"system": system, "code": "other"}, value_set=gender).result
    unknown = svc.validate_code("http://snomed.info/sct", "22298006")
    assert not unknown.result and unknown.unknown  # cannot tell: SNOMED is not loaded
    # XDS type codes: TRE_A05 codes validate in JDV_J07 through the NOS URL and the OID
    j07 = "urn:oid:1.2.250.1.213.1.1.5.471"
    a05 = "https://mos.esante.gouv.fr/NOS/TRE_A05-TypeDocComplementaire/FHIR/TRE-A05-TypeDocComplementaire"
    assert svc.validate_code(a05, "ATTEST-RESID", value_set=j07).result
    assert svc.validate_code("urn:oid:1.2.250.1.213.1.1.4.12", "ATTEST-RESID", value_set=j07).result
    assert not svc.validate_code(a05, "NOPE", value_set=j07).result


def test_validate_code_throughput(svc):
    """In-process validation is a dictionary walk: far above 5,000 checks per second."""
    import time

    gender = "http://hl7.org/fhir/ValueSet/administrative-gender"
    system = "http://hl7.org/fhir/administrative-gender"
    started = time.perf_counter()
    for _ in range(5_000):
        assert svc.validate_code(system, "male", value_set=gender).result
    assert time.perf_counter() - started < 1.0


def test_every_builtin_value_set_expands_or_says_why_and_agrees_with_validate(svc):
    """No crash on any vendored value set; expansion and $validate-code agree."""
    from socle.fhir.errors import FhirError

    expanded = 0
    for entry in svc.entries("ValueSet"):
        try:
            result = svc.expand(entry.url, version=entry.version)
        except FhirError as exc:  # SNOMED CT, LOINC… are not distributed: 404
            assert exc.status in (400, 404), (entry.canonical, exc.issues[0].diagnostics)
            continue
        expanded += 1
        contains = result["expansion"].get("contains", [])
        for item in contains[:2] + contains[-1:]:
            res = svc.validate_code(
                item["system"],
                item["code"],
                value_set=entry.url,
                value_set_version=entry.version,
            )
            assert res.result, (entry.canonical, item, res.message)
    assert expanded > 1700


def test_validator_adapter_on_jdv_and_bare_codes(svc):
    """The profile validator's Terminology interface, backed by the SMT."""
    from socle.terminology.validator import ValidatorTerminology

    term = ValidatorTerminology(svc)
    j07 = "https://mos.esante.gouv.fr/NOS/JDV_J07-XdsTypeCode-CISIS/FHIR/JDV-J07-XdsTypeCode-CISIS"
    a05 = "urn:oid:1.2.250.1.213.1.1.4.12"
    assert term.has_value_set(j07) and term.has_value_set("urn:oid:1.2.250.1.213.1.1.5.471")
    assert term.validate_code(j07, a05, "ATTEST-RESID") is True
    assert term.validate_code(j07, a05, "NOT-A-TYPE") is False  # outside a required JDV
    assert term.validate_code(j07, "http://loinc.org", "11488-4") is True  # listed LOINC code
    gender = "http://hl7.org/fhir/ValueSet/administrative-gender"
    assert term.validate_code(gender, None, "female") is True  # a bare `code` element
    assert term.validate_code(gender, None, "woman") is False
    assert term.validate_code("http://hl7.org/fhir/ValueSet/nope", None, "x") is None
    # a value set over SNOMED CT (not distributed): cannot tell, not an error
    assert (
        term.validate_code(
            "http://hl7.org/fhir/ValueSet/clinical-findings", "http://snomed.info/sct", "22298006"
        )
        is None
    )
