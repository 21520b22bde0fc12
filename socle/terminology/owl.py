"""OWL / SKOS in RDF/XML -> FHIR CodeSystem, with a streaming parser.

The SMT publishes CIM-11, CCAM, EDQM… as OWL ontologies in RDF/XML: one `owl:Class`
(or `skos:Concept`, or `rdf:Description` typed as one of them) per concept, with
`skos:notation` (the code), `skos:prefLabel`/`rdfs:label` (with `xml:lang`),
`skos:altLabel`, `skos:definition`, `rdfs:subClassOf`/`skos:broader` (the parents) and
`owl:deprecated`. rdflib would build the whole graph in memory first (several minutes and
gigabytes for the large ones); here `lxml.iterparse` reads one top-level element at a
time and frees it, so memory holds only the concepts being built.

Turtle and N-Triples are read through rdflib when it is installed (small files only).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import IO, Any

from lxml import etree

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
OWL = "http://www.w3.org/2002/07/owl#"
SKOS = "http://www.w3.org/2004/02/skos/core#"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
XML_BASE = "{http://www.w3.org/XML/1998/namespace}base"

_CONCEPT_TAGS = {f"{{{OWL}}}Class", f"{{{SKOS}}}Concept"}
_CONCEPT_TYPES = {f"{OWL}Class", f"{SKOS}Concept"}
_LABELS = {f"{{{SKOS}}}prefLabel", f"{{{RDFS}}}label"}
_PARENTS = {f"{{{RDFS}}}subClassOf", f"{{{SKOS}}}broader"}
_SKIP = {f"{{{RDF}}}type", f"{{{OWL}}}equivalentClass", f"{{{OWL}}}disjointWith"}


class OwlError(ValueError):
    pass


def is_rdf_xml(data: bytes) -> bool:
    return RDF.encode() in data[:8192] and b"RDF" in data[:8192]


def _code_of(iri: str) -> str:
    for sep in ("#", "/", ":"):
        if sep in iri:
            tail = iri.rsplit(sep, 1)[-1]
            if tail:
                return tail
    return iri


class _Concept:
    __slots__ = ("iri", "code", "labels", "alt", "definition", "parents", "deprecated", "props")

    def __init__(self, iri: str) -> None:
        self.iri = iri
        self.code: str | None = None
        self.labels: list[tuple[str | None, str]] = []
        self.alt: list[tuple[str | None, str]] = []
        self.definition: str | None = None
        self.parents: list[str] = []
        self.deprecated = False
        self.props: list[tuple[str, str]] = []


def read_owl(
    stream: IO[bytes],
    *,
    url: str | None = None,
    version: str | None = None,
    language: str = "fr",
    on_concept: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Read RDF/XML and build a CodeSystem (hierarchy from subClassOf/broader)."""
    concepts: dict[str, _Concept] = {}
    ontology: dict[str, Any] = {}
    base = ""
    try:
        context = etree.iterparse(
            stream,
            events=("start", "end"),
            resolve_entities=False,
            no_network=True,
            huge_tree=True,
            remove_comments=True,
        )
        depth = 0
        for event, elem in context:
            if event == "start":
                depth += 1
                if depth == 1:
                    base = elem.get(XML_BASE) or ""
                continue
            depth -= 1
            if depth != 1:
                continue
            _top_level(elem, base, concepts, ontology, on_concept)
            elem.clear()
            parent = elem.getparent()
            while parent is not None and elem.getprevious() is not None:
                del parent[0]
    except etree.XMLSyntaxError as exc:
        raise OwlError(f"not well-formed RDF/XML: {exc}") from exc
    return _codesystem(concepts, ontology, url, version, language)


def _about(elem: Any, base: str) -> str | None:
    about = elem.get(f"{{{RDF}}}about")
    if about is None and elem.get(f"{{{RDF}}}ID") is not None:
        about = f"{base}#{elem.get(f'{{{RDF}}}ID')}"
    if about is not None and about.startswith("#"):
        about = base + about
    return about


def _top_level(
    elem: Any,
    base: str,
    concepts: dict[str, _Concept],
    ontology: dict[str, Any],
    on_concept: Callable[[int], None] | None,
) -> None:
    tag = elem.tag
    if tag == f"{{{OWL}}}Ontology":
        ontology["url"] = _about(elem, base)
        for child in elem:
            if child.tag == f"{{{OWL}}}versionInfo" and child.text:
                ontology["version"] = child.text.strip()
            elif child.tag in _LABELS and child.text:
                ontology.setdefault("title", child.text.strip())
            elif child.tag in (f"{{{RDFS}}}comment", "{http://purl.org/dc/terms/}description"):
                ontology.setdefault("description", (child.text or "").strip())
        return
    typed = tag in _CONCEPT_TAGS or any(
        c.tag == f"{{{RDF}}}type" and c.get(f"{{{RDF}}}resource") in _CONCEPT_TYPES for c in elem
    )
    if not typed:
        return
    iri = _about(elem, base)
    if not iri:
        return  # anonymous classes (restrictions) carry no concept
    concept = concepts.get(iri)
    if concept is None:
        concept = concepts[iri] = _Concept(iri)
        if on_concept is not None:
            on_concept(len(concepts))
    for child in elem:
        ctag = child.tag
        if not isinstance(ctag, str) or ctag in _SKIP:
            continue
        text = (child.text or "").strip()
        lang = child.get(XML_LANG)
        if ctag == f"{{{SKOS}}}notation" and text:
            concept.code = text
        elif ctag in _LABELS and text:
            concept.labels.append((lang, text))
        elif ctag == f"{{{SKOS}}}altLabel" and text:
            concept.alt.append((lang, text))
        elif ctag in (f"{{{SKOS}}}definition", f"{{{RDFS}}}comment") and text:
            concept.definition = concept.definition or text
        elif ctag in _PARENTS:
            target = child.get(f"{{{RDF}}}resource")
            if target:
                concept.parents.append(base + target if target.startswith("#") else target)
        elif ctag == f"{{{OWL}}}deprecated":
            concept.deprecated = text.lower() in ("true", "1")
        elif text and len(child) == 0 and child.get(f"{{{RDF}}}resource") is None:
            concept.props.append((etree.QName(ctag).localname, text))


def _pick_label(labels: list[tuple[str | None, str]], language: str) -> str | None:
    for lang, text in labels:
        if lang and lang.lower().split("-")[0] == language:
            return text
    for lang, text in labels:
        if not lang:
            return text
    return labels[0][1] if labels else None


def _codesystem(
    concepts: dict[str, _Concept],
    ontology: dict[str, Any],
    url: str | None,
    version: str | None,
    language: str,
) -> dict[str, Any]:
    url = url or ontology.get("url")
    if not url:
        raise OwlError("the ontology has no IRI: give the code system url (--url)")
    code_of = {iri: c.code or _code_of(iri) for iri, c in concepts.items()}
    prop_codes: dict[str, None] = {}
    items: list[dict[str, Any]] = []
    for iri, c in concepts.items():
        item: dict[str, Any] = {"code": code_of[iri]}
        display = _pick_label(c.labels, language)
        if display:
            item["display"] = display
        if c.definition:
            item["definition"] = c.definition
        designations = [
            {"language": lang, "value": text} for lang, text in c.labels if text != display and lang
        ]
        designations += [
            {
                "language": lang,
                "use": {
                    "system": "http://snomed.info/sct",
                    "code": "900000000000013009",
                    "display": "Synonym",
                },
                "value": text,
            }
            if lang
            else {"value": text}
            for lang, text in c.alt
        ]
        if designations:
            item["designation"] = designations
        props: list[dict[str, Any]] = [
            {"code": "parent", "valueCode": code_of[p]} for p in c.parents if p in code_of
        ]
        if c.deprecated:
            props.append({"code": "status", "valueCode": "retired"})
        for name, value in c.props:
            prop_codes[name] = None
            props.append({"code": name, "valueString": value})
        if props:
            item["property"] = props
        items.append(item)
    resource: dict[str, Any] = {
        "resourceType": "CodeSystem",
        "url": url,
        "status": "active",
        "content": "complete",
        "hierarchyMeaning": "is-a",
        "language": language,
        "count": len(items),
        "property": [
            {
                "code": "parent",
                "uri": "http://hl7.org/fhir/concept-properties#parent",
                "type": "code",
            },
            {
                "code": "status",
                "uri": "http://hl7.org/fhir/concept-properties#status",
                "type": "code",
            },
            *({"code": p, "type": "string"} for p in prop_codes),
        ],
        "concept": items,
    }
    if version or ontology.get("version"):
        resource["version"] = version or ontology["version"]
    if ontology.get("title"):
        resource["title"] = ontology["title"]
    if ontology.get("description"):
        resource["description"] = ontology["description"]
    return resource


def read_rdf_other(path: str, fmt: str, **kw: Any) -> Iterator[dict[str, Any]]:
    """Turtle / N-Triples through rdflib (optional dependency)."""
    try:
        import rdflib  # noqa: F401
    except ImportError as exc:
        raise OwlError(
            f"reading {fmt} needs rdflib (pip install rdflib); RDF/XML is read without it"
        ) from exc
    import io

    import rdflib

    graph = rdflib.Graph()
    graph.parse(path, format=fmt)
    data = graph.serialize(format="xml", encoding="utf-8")
    yield read_owl(io.BytesIO(data), **kw)
