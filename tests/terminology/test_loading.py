"""Loading files: CSV, OWL (RDF/XML), FHIR XML, SVS, packages; incremental store writes."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from socle.terminology.loading import TerminologyLoader
from socle.terminology.plugin import service_for
from socle.terminology.readers import ReadError, ReadOptions, read_path
from socle.terminology.synthetic import synthetic_codesystem
from tests.terminology.data import CS_URL, codesystem

CSV = """code;display;parent;designation:en;inactive;chapitre
A;Appareil circulatoire;;Circulatory system;;I
A1;Hypertension artérielle;A;Hypertension;;I
A2;Insuffisance cardiaque;A|B;Heart failure;;I
B;Cœur;;Heart;;II
Z;Code périmé;;;true;II
"""

OWL = """<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
         xmlns:rdfs="http://www.w3.org/2000/01/rdf-schema#"
         xmlns:owl="http://www.w3.org/2002/07/owl#"
         xmlns:skos="http://www.w3.org/2004/02/skos/core#"
         xmlns:ex="http://example.test/props#">
  <owl:Ontology rdf:about="http://example.test/cim">
    <owl:versionInfo>2024</owl:versionInfo>
    <rdfs:label xml:lang="fr">CIM de test</rdfs:label>
  </owl:Ontology>
  <owl:Class rdf:about="http://example.test/cim/I00-I99">
    <skos:notation>I00-I99</skos:notation>
    <skos:prefLabel xml:lang="fr">Maladies de l'appareil circulatoire</skos:prefLabel>
    <skos:prefLabel xml:lang="en">Diseases of the circulatory system</skos:prefLabel>
  </owl:Class>
  <owl:Class rdf:about="http://example.test/cim/I21">
    <skos:notation>I21</skos:notation>
    <rdfs:label xml:lang="fr">Infarctus aigu du myocarde</rdfs:label>
    <skos:altLabel xml:lang="fr">Crise cardiaque</skos:altLabel>
    <rdfs:subClassOf rdf:resource="http://example.test/cim/I00-I99"/>
    <rdfs:subClassOf><owl:Restriction><owl:onProperty rdf:resource="http://x"/></owl:Restriction></rdfs:subClassOf>
    <ex:typeCode>C</ex:typeCode>
  </owl:Class>
  <rdf:Description rdf:about="http://example.test/cim/I21.9">
    <rdf:type rdf:resource="http://www.w3.org/2002/07/owl#Class"/>
    <rdfs:label xml:lang="fr">Infarctus, sans précision</rdfs:label>
    <rdfs:subClassOf rdf:resource="http://example.test/cim/I21"/>
    <owl:deprecated>true</owl:deprecated>
  </rdf:Description>
</rdf:RDF>
"""

FHIR_XML = """<CodeSystem xmlns="http://hl7.org/fhir">
  <id value="xml-cs"/>
  <text><status value="generated"/><div xmlns="http://www.w3.org/1999/xhtml">x</div></text>
  <url value="http://socle.test/CodeSystem/xml"/>
  <version value="1"/>
  <status value="active"/>
  <caseSensitive value="true"/>
  <content value="complete"/>
  <count value="2"/>
  <concept>
    <code value="a"/><display value="Alpha"/>
    <designation><language value="en"/><value value="Alpha (en)"/></designation>
    <concept><code value="b"/><display value="Bêta"/>
      <property><code value="rank"/><valueInteger value="2"/></property>
    </concept>
  </concept>
</CodeSystem>
"""


def test_csv_code_system(tmp_path: Path):
    path = tmp_path / "cs.csv"
    path.write_text(CSV, encoding="utf-8")
    with pytest.raises(ReadError):
        list(read_path(path))  # a CSV says nothing of its url
    [(_where, cs)] = list(read_path(path, ReadOptions(url="http://socle.test/csv", version="1")))
    from socle.terminology.codesystem import CodeSystemIndex

    index = CodeSystemIndex(cs)
    assert len(index) == 5
    assert index.get("A2").parents == ["A", "B"]
    assert index.get("A").children == ["A1", "A2"]
    assert index.get("B").display_for("en") == "Heart"
    assert index.get("Z").inactive and not index.get("A").inactive
    assert index.filter("chapitre", "=", "II") == {"B": None, "Z": None}


def test_owl_rdf_xml_streaming(tmp_path: Path):
    path = tmp_path / "cim.owl"
    path.write_text(OWL, encoding="utf-8")
    seen = []
    [(_w, cs)] = list(read_path(path, on_concept=seen.append))
    assert cs["url"] == "http://example.test/cim" and cs["version"] == "2024"
    assert seen[-1] == 3
    from socle.terminology.codesystem import CodeSystemIndex

    index = CodeSystemIndex(cs)
    assert [c.code for c in index.ordered] == ["I00-I99", "I21", "I21.9"]
    assert index.get("I21").parents == ["I00-I99"]
    assert index.get("I21.9").parents == ["I21"] and index.get("I21.9").inactive
    assert index.get("I00-I99").display == "Maladies de l'appareil circulatoire"
    assert index.get("I00-I99").display_for("en") == "Diseases of the circulatory system"
    assert index.text.search("crise card") == [1]  # synonyms are searchable
    assert index.get("I21").property_values("typeCode") == ["C"]


def test_fhir_xml_and_svs(tmp_path: Path):
    (tmp_path / "cs.xml").write_text(FHIR_XML, encoding="utf-8")
    (tmp_path / "vs.xml").write_text(
        '<RetrieveValueSetResponse xmlns="urn:ihe:iti:svs:2008"><ValueSet id="1.2.3.4" '
        'displayName="JDV_Test" version="2" urlFichier="https://mos.esante.gouv.fr/NOS/JDV_J99-Test">'
        '<ConceptList><Concept code="x" codeSystem="2.16.840.1.113883.6.1" displayName="X"/>'
        "</ConceptList></ValueSet></RetrieveValueSetResponse>",
        encoding="utf-8",
    )
    found = {res["resourceType"]: res for _w, res in read_path(tmp_path)}
    cs = found["CodeSystem"]
    assert cs["caseSensitive"] is True and cs["count"] == 2
    assert cs["concept"][0]["concept"][0]["property"][0]["valueInteger"] == 2
    assert cs["concept"][0]["designation"][0] == {"language": "en", "value": "Alpha (en)"}
    assert cs["text"]["div"].startswith("<div")
    vs = found["ValueSet"]
    assert vs["url"] == "https://mos.esante.gouv.fr/NOS/JDV_J99-Test/FHIR/JDV-J99-Test"
    assert vs["identifier"][0]["value"] == "urn:oid:1.2.3.4"
    assert vs["compose"]["include"] == [
        {"system": "http://loinc.org", "concept": [{"code": "x", "display": "X"}]}
    ]


def test_npm_package(tmp_path: Path):
    import tarfile

    path = tmp_path / "pkg.tgz"
    with tarfile.open(path, "w:gz") as tar:
        for name, content in {
            "package/package.json": {"name": "test.terminology", "version": "1.0.0"},
            "package/CodeSystem-x.json": codesystem("7.0.0"),
            "package/StructureDefinition-y.json": {"resourceType": "StructureDefinition"},
        }.items():
            data = json.dumps(content).encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    found = [res for _w, res in read_path(path)]
    assert [(r["resourceType"], r["version"]) for r in found] == [("CodeSystem", "7.0.0")]


def test_loader_is_incremental_and_keeps_versions(fhir_engine, tenant):
    from socle.fhir.engine import FhirEngine

    assert isinstance(fhir_engine, FhirEngine)
    svc = service_for(fhir_engine)
    loader = TerminologyLoader(fhir_engine, svc, tenant)
    first = loader.load([("a", codesystem("1.0.0")), ("b", codesystem("2.0.0"))])
    assert (first.created, first.updated, first.unchanged) == (2, 0, 0)
    assert sorted(first.written) == ["CodeSystem/pathologies", "CodeSystem/pathologies-2.0.0"]
    again = loader.load([("a", codesystem("1.0.0")), ("b", codesystem("2.0.0"))])
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    changed = codesystem("2.0.0", extra=[{"code": "NEW", "display": "Nouveau"}])
    third = loader.load([("b", changed)])
    assert (third.created, third.updated) == (0, 1)
    assert svc.lookup(CS_URL, "NEW", tenant=tenant).display == "Nouveau"
    assert svc.lookup(CS_URL, "INF", "1.0.0", tenant=tenant).version == "1.0.0"
    bad = loader.load([("c", {"resourceType": "ValueSet", "status": "active"})])
    assert bad.failed == 1 and not bad.ok


def test_loaded_code_system_every_concept_found(fhir_engine, tenant, client):
    """A generated code system loaded through the loader: $lookup finds every concept."""
    svc = service_for(fhir_engine)
    cs = synthetic_codesystem(400)
    report = TerminologyLoader(fhir_engine, svc, tenant).load([("synthetic", cs)])
    assert report.created == 1 and report.concepts == 400
    stack = list(cs["concept"])
    count = 0
    while stack:
        concept = stack.pop()
        stack.extend(concept.get("concept", []))
        assert svc.lookup(cs["url"], concept["code"], tenant=tenant).display == concept["display"]
        count += 1
    assert count == 400
    r = client.get("/fhir/CodeSystem/$lookup", params={"system": cs["url"], "code": "C000150"})
    assert r.status_code == 200
    r = client.get(
        "/fhir/ValueSet/$expand",
        params={"url": cs["url"] + "?fhir_vs", "filter": "fract", "count": 5},
    )
    assert r.json()["expansion"]["total"] > 0


def test_cli_terminology_load(tmp_path: Path):
    from socle.cli.main import main

    csv_path = tmp_path / "cs.csv"
    csv_path.write_text(CSV, encoding="utf-8")
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    common = ["--database", db, "--data-dir", str(tmp_path)]
    args = ["terminology", "load", str(csv_path), *common, "--url", "http://socle.test/csv"]
    assert main(args) == 0
    assert main(args) == 0  # again: unchanged
    assert main(["terminology", "load", str(tmp_path / "missing.csv"), *common]) == 2
    assert main(["terminology", "lookup", "http://socle.test/csv", "A1", *common]) == 0
    assert main(["terminology", "lookup", "http://socle.test/csv", "NOPE", *common]) == 1


def test_other_workers_see_changes_through_the_store(fhir_engine, tenant):
    """Two services on one database (two worker processes): the fingerprint check
    makes the second one see the first one's writes, with no message between them."""
    from socle.terminology.service import Terminology

    writer = service_for(fhir_engine)
    reader = Terminology(fhir_engine.store, refresh_seconds=0.0)
    assert not reader.has_code_system(CS_URL, tenant=tenant)
    TerminologyLoader(fhir_engine, writer, tenant).load([("a", codesystem("1.0.0"))])
    assert reader.lookup(CS_URL, "INF", tenant=tenant).display == "Infarctus du myocarde"
    vs = {
        "resourceType": "ValueSet",
        "id": "v",
        "url": "http://socle.test/vs",
        "status": "active",
        "compose": {"include": [{"system": CS_URL}]},
    }
    TerminologyLoader(fhir_engine, writer, tenant).load([("vs", vs)])
    assert reader.expand("http://socle.test/vs", tenant=tenant)["expansion"]["total"] == 7
    state = reader.state(tenant)
    cached = dict(state.expansions)
    reader.expand("http://socle.test/vs", tenant=tenant, filter="mal")
    assert dict(state.expansions) == cached  # served from the expansion cache
    changed = codesystem("1.0.0", extra=[{"code": "NEW", "display": "Nouveau"}])
    TerminologyLoader(fhir_engine, writer, tenant).load([("a", changed)])
    assert reader.expand("http://socle.test/vs", tenant=tenant)["expansion"]["total"] == 8
    with fhir_engine.store.session(tenant, write=True) as s:
        from socle.fhir.context import RequestContext

        fhir_engine.crud.delete(s, RequestContext(tenant=tenant), "CodeSystem", "pathologies")
    assert not reader.has_code_system(CS_URL, tenant=tenant)


def test_plugin_exposes_the_service(client, fhir_engine):
    from socle.terminology import TerminologyService

    assert "terminology" in fhir_engine.plugins
    assert isinstance(fhir_engine.terminology, TerminologyService)
    assert client.get("/healthz").json()["plugins"].count("terminology") == 1
