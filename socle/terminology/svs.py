"""IHE Sharing Value Sets (SVS, `urn:ihe:iti:svs:2008`): reading and writing.

The CI-SIS publishes its value sets (JDV) as `RetrieveValueSetResponse` documents: a
`ValueSet` (OID `id`, `displayName`, `version`, dates, and for NOS sets `urlFichier`)
with `ConceptList/Concept` elements (`code`, `codeSystem` OID, `displayName`, NOS
`dateFin`). A document becomes a FHIR ValueSet whose compose enumerates the concepts per
code system. Code systems are named by URL when the OID is a well-known one, else as
`urn:oid:…`; the catalogue later resolves `urn:oid:` systems to any loaded CodeSystem
that carries that OID as identifier, so a complete NOS package dropped in later is used
automatically.

`render_response` writes the ITI-48 answer from an expansion.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from lxml import etree

SVS_NS = "urn:ihe:iti:svs:2008"
_Q = "{" + SVS_NS + "}"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

# OIDs of external code systems whose FHIR URL is fixed by HL7.
WELL_KNOWN_OIDS = {
    "2.16.840.1.113883.6.1": "http://loinc.org",
    "2.16.840.1.113883.6.96": "http://snomed.info/sct",
    "2.16.840.1.113883.6.3": "http://hl7.org/fhir/sid/icd-10",
    "2.16.840.1.113883.6.73": "http://www.whocc.no/atc",
    "2.16.840.1.113883.6.8": "http://unitsofmeasure.org",
    "0.4.0.127.0.16.1.1.2.1": "http://standardterms.edqm.eu",
    "1.0.3166.1.2.2": "urn:iso:std:iso:3166",
}
DEPRECATED_EXT = "http://hl7.org/fhir/StructureDefinition/valueset-deprecated"
OID_OF_URL = {url: oid for oid, url in WELL_KNOWN_OIDS.items()}


class SvsError(ValueError):
    """The document is not a usable SVS value set."""


def is_svs(data: bytes) -> bool:
    head = data[:2048]
    return SVS_NS.encode() in head and b"ValueSet" in head


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


def system_url(oid: str) -> str:
    return WELL_KNOWN_OIDS.get(oid) or f"urn:oid:{oid}"


def nos_canonical(url_fichier: str) -> str:
    """NOS file URL -> FHIR canonical: .../NOS/JDV_J07-X -> .../NOS/JDV_J07-X/FHIR/JDV-J07-X."""
    last = url_fichier.rstrip("/").rsplit("/", 1)[-1]
    return f"{url_fichier.rstrip('/')}/FHIR/{last.replace('_', '-')}"


def _date(value: str | None) -> str | None:
    """SVS effectiveDate/revisionDate (xs:dateTime) or NOS dateMaj (yyyymmddhhmmss)."""
    if not value:
        return None
    if value.isdigit() and len(value) >= 8:
        try:
            stamp = datetime.strptime(value[:14].ljust(14, "0"), "%Y%m%d%H%M%S")
        except ValueError:
            return None
        return stamp.strftime("%Y-%m-%dT%H:%M:%S+01:00")
    return value


def parse_svs(data: bytes, source: str = "") -> dict[str, Any]:
    """An SVS document (RetrieveValueSetResponse or bare ValueSet) -> FHIR ValueSet."""
    if not data.strip():
        raise SvsError(f"{source or 'SVS document'} is empty")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise SvsError(f"{source or 'SVS document'} is not well-formed XML: {exc}") from exc
    vs = root if root.tag == _Q + "ValueSet" else root.find(_Q + "ValueSet")
    if vs is None or not vs.get("id"):
        raise SvsError(f"{source or 'SVS document'} has no ValueSet with an id")
    oid = vs.get("id")
    display_name = vs.get("displayName") or oid
    name = display_name.removesuffix(".tabs")
    url_fichier = vs.get("urlFichier")
    url = nos_canonical(url_fichier) if url_fichier else f"urn:oid:{oid}"
    includes: dict[str, list[dict[str, Any]]] = {}
    language = None
    for concept_list in vs.iter(_Q + "ConceptList"):
        language = language or concept_list.get(_XML_LANG)
        for c in concept_list.iter(_Q + "Concept"):
            # FHIR codes have no surrounding whitespace; two upstream files have some
            code, system = (c.get("code") or "").strip(), (c.get("codeSystem") or "").strip()
            if not code or not system:
                continue
            item: dict[str, Any] = {"code": code}
            if c.get("displayName"):
                item["display"] = c.get("displayName")
            if c.get("dateFin"):
                item["extension"] = [{"url": DEPRECATED_EXT, "valueBoolean": True}]
            includes.setdefault(system_url(system), []).append(item)
    resource: dict[str, Any] = {
        "resourceType": "ValueSet",
        "id": _fhir_id(name, oid),
        "url": url,
        "identifier": [{"system": "urn:ietf:rfc:3986", "value": f"urn:oid:{oid}"}],
        "name": _fhir_name(name),
        "title": name,
        "status": "retired" if vs.get("dateFin") else "active",
    }
    if vs.get("version"):
        resource["version"] = vs.get("version")
    date = (
        _date(vs.get("dateMaj")) or _date(vs.get("revisionDate")) or _date(vs.get("effectiveDate"))
    )
    if date:
        resource["date"] = date
    resource["publisher"] = "ANS"
    if vs.get("description"):
        resource["description"] = vs.get("description")
    if language:
        resource["language"] = language
    resource["compose"] = {
        "include": [{"system": system, "concept": items} for system, items in includes.items()]
    }
    return resource


def _fhir_id(name: str, oid: str) -> str:
    cleaned = "".join(ch if ch.isalnum() or ch in "-." else "-" for ch in name).strip("-")
    return (cleaned or oid.replace(".", "-"))[:64]


def _fhir_name(name: str) -> str:
    cleaned = "".join(ch if ch.isalnum() else "_" for ch in name)
    return cleaned if cleaned[:1].isalpha() else f"VS_{cleaned}"


def render_response(
    oid: str,
    valueset: dict[str, Any],
    concepts: Iterable[tuple[str, str | None, str | None]],
    oid_of: Callable[[str], str | None],
    lang: str | None = None,
) -> bytes:
    """ITI-48 RetrieveValueSetResponse; `concepts` are (system URL, code, display)."""
    nsmap = {None: SVS_NS}
    root = etree.Element(_Q + "RetrieveValueSetResponse", nsmap=nsmap)
    vs = etree.SubElement(root, _Q + "ValueSet")
    vs.set("id", oid)
    vs.set("displayName", valueset.get("title") or valueset.get("name") or oid)
    if valueset.get("version"):
        vs.set("version", valueset["version"])
    concept_list = etree.SubElement(vs, _Q + "ConceptList")
    if lang:
        concept_list.set(_XML_LANG, lang)
    for system, code, display in concepts:
        el = etree.SubElement(concept_list, _Q + "Concept")
        el.set("code", code or "")
        el.set("codeSystem", oid_of(system or "") or OID_OF_URL.get(system or "") or system or "")
        if display:
            el.set("displayName", display)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"


def parse_request(data: bytes) -> tuple[str | None, str | None, str | None, str | None]:
    """A RetrieveValueSetRequest, bare or in a SOAP envelope -> (id, version, lang, soap ns)."""
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise SvsError(f"not well-formed XML: {exc}") from exc
    soap = etree.QName(root).namespace if etree.QName(root).localname == "Envelope" else None
    vs = next(iter(root.iter(_Q + "ValueSet")), None)
    if vs is None:
        raise SvsError("no RetrieveValueSetRequest/ValueSet element")
    return vs.get("id"), vs.get("version"), vs.get(_XML_LANG), soap


def soap_envelope(body: bytes, soap_ns: str) -> bytes:
    """Wrap an SVS response (or fault) in the SOAP envelope the request used."""
    envelope = etree.Element(f"{{{soap_ns}}}Envelope", nsmap={"soap": soap_ns})
    header = etree.SubElement(envelope, f"{{{soap_ns}}}Header")
    action = etree.SubElement(header, "{http://www.w3.org/2005/08/addressing}Action")
    action.text = "urn:ihe:iti:2008:RetrieveValueSetResponse"
    content = etree.SubElement(envelope, f"{{{soap_ns}}}Body")
    content.append(etree.fromstring(body, _parser()))
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")


def soap_fault(soap_ns: str, subcode: str, text: str) -> bytes:
    """A SOAP 1.2 Sender fault with the ITI-48 subcode (NAV: unknown value set)."""
    envelope = etree.Element(f"{{{soap_ns}}}Envelope", nsmap={"soap": soap_ns})
    body = etree.SubElement(envelope, f"{{{soap_ns}}}Body")
    fault = etree.SubElement(body, f"{{{soap_ns}}}Fault")
    code = etree.SubElement(fault, f"{{{soap_ns}}}Code")
    etree.SubElement(code, f"{{{soap_ns}}}Value").text = "soap:Sender"
    sub = etree.SubElement(code, f"{{{soap_ns}}}Subcode")
    etree.SubElement(sub, f"{{{soap_ns}}}Value").text = subcode
    reason = etree.SubElement(fault, f"{{{soap_ns}}}Reason")
    etree.SubElement(reason, f"{{{soap_ns}}}Text").text = text
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
