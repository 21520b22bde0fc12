"""Reading terminology files: FHIR JSON/XML, NPM packages, SVS, CSV, OWL/RDF.

`read_path` yields `(where, resource)` pairs of CodeSystem, ValueSet and ConceptMap
resources, whatever the file format:

- `.json`, `.json.gz`, `.ndjson`: a resource or a Bundle (other resource types skipped);
- `.xml`: FHIR XML, an IHE SVS value set, or RDF/XML (OWL/SKOS);
- `.tgz`: a FHIR NPM package (e.g. `ans.fr.terminologies`);
- `.zip`: every file inside (e.g. the CI-SIS JDV archive);
- `.csv`/`.tsv`: one concept per row: `code,display,parent,<property>…`, optional
  `designation:<lang>` columns (needs `--url`);
- `.owl`, `.rdf`: RDF/XML; `.ttl`, `.nt`: through rdflib if installed;
- a directory: every file in it.
"""

from __future__ import annotations

import csv
import gzip
import io
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from socle.terminology.catalog import TYPES
from socle.terminology.fhirxml import FhirXmlError, is_fhir_xml, parse_fhir_xml
from socle.terminology.owl import OwlError, is_rdf_xml, read_owl, read_rdf_other
from socle.terminology.svs import SvsError, is_svs, parse_svs

Progress = Callable[[int], None]


class ReadError(ValueError):
    """A file that cannot be read as terminology."""


@dataclass(slots=True)
class ReadOptions:
    """What a CSV or OWL file cannot say about itself."""

    url: str | None = None
    version: str | None = None
    name: str | None = None
    title: str | None = None
    language: str = "fr"
    delimiter: str | None = None


def read_path(
    path: Path, options: ReadOptions | None = None, on_concept: Progress | None = None
) -> Iterator[tuple[str, dict[str, Any]]]:
    options = options or ReadOptions()
    if path.is_dir():
        for child in sorted(p for p in path.rglob("*") if p.is_file()):
            yield from read_path(child, options, on_concept)
        return
    name = path.name.lower()
    where = str(path)
    try:
        if name.endswith((".tgz", ".tar.gz")):
            yield from _package(path)
        elif name.endswith(".zip"):
            with zipfile.ZipFile(path) as archive:
                for member in sorted(archive.namelist()):
                    if member.endswith("/"):
                        continue
                    data = archive.read(member)
                    yield from read_bytes(f"{where}!{member}", member, data, options, on_concept)
        elif name.endswith((".csv", ".tsv")):
            with path.open("r", encoding="utf-8-sig", newline="") as fh:
                yield where, read_csv(fh, options, on_concept)
        elif name.endswith((".ttl", ".nt", ".n3")):
            fmt = {"ttl": "turtle", "nt": "nt", "n3": "n3"}[name.rsplit(".", 1)[-1]]
            for res in read_rdf_other(str(path), fmt, **_owl_kw(options, on_concept)):
                yield where, res
        elif name.endswith((".owl", ".rdf")) or (name.endswith(".xml") and _sniff_rdf(path)):
            with path.open("rb") as fh:
                yield where, read_owl(fh, **_owl_kw(options, on_concept))
        else:
            yield from read_bytes(where, name, path.read_bytes(), options, on_concept)
    except (SvsError, OwlError, FhirXmlError, orjson.JSONDecodeError, csv.Error) as exc:
        raise ReadError(f"{where}: {exc}") from exc
    except (OSError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise ReadError(f"{where}: {exc}") from exc


def _sniff_rdf(path: Path) -> bool:
    with path.open("rb") as fh:
        return is_rdf_xml(fh.read(8192))


def _owl_kw(options: ReadOptions, on_concept: Progress | None) -> dict[str, Any]:
    return {
        "url": options.url,
        "version": options.version,
        "language": options.language,
        "on_concept": on_concept,
    }


def read_bytes(
    where: str,
    name: str,
    data: bytes,
    options: ReadOptions,
    on_concept: Progress | None = None,
) -> Iterator[tuple[str, dict[str, Any]]]:
    lower = name.lower()
    if lower.endswith(".gz"):
        data, lower = gzip.decompress(data), lower[:-3]
    if lower.endswith(".ndjson"):
        for i, line in enumerate(data.splitlines()):
            if line.strip():
                yield from _resources(f"{where}:{i + 1}", orjson.loads(line))
    elif lower.endswith(".json"):
        yield from _resources(where, orjson.loads(data))
    elif lower.endswith(".xml"):
        if not data.strip():
            return  # empty placeholder files exist upstream
        if is_svs(data):
            yield where, parse_svs(data, where)
        elif is_fhir_xml(data):
            yield from _resources(where, parse_fhir_xml(data))
        elif is_rdf_xml(data):
            yield where, read_owl(io.BytesIO(data), **_owl_kw(options, on_concept))
        else:
            raise ReadError(f"{where}: XML that is neither FHIR, SVS nor RDF")
    elif lower.endswith((".csv", ".tsv")):
        yield where, read_csv(io.StringIO(data.decode("utf-8-sig")), options, on_concept)
    elif lower.endswith((".xsd", ".md", ".txt")):
        return
    else:
        raise ReadError(f"{where}: unsupported file type")


def _resources(where: str, item: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    if not isinstance(item, dict):
        raise ReadError(f"{where}: not a FHIR resource")
    if item.get("resourceType") == "Bundle":
        for i, entry in enumerate(item.get("entry") or []):
            res = entry.get("resource") if isinstance(entry, dict) else None
            if isinstance(res, dict):
                yield from _resources(f"{where}#entry[{i}]", res)
    elif item.get("resourceType") in TYPES:
        yield where, item


def _package(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    from socle.fhir.packages.npm import NpmPackage, PackageError

    try:
        package = NpmPackage.from_path(path)
    except PackageError as exc:
        raise ReadError(f"{path}: {exc}") from exc
    for res in package.resources:
        if res.resource_type in TYPES:
            yield f"{package.key}/{res.filename}", res.parse()


# -- CSV -------------------------------------------------------------------------------------


def read_csv(fh: Any, options: ReadOptions, on_concept: Progress | None = None) -> dict[str, Any]:
    """`code,display,parent,…` rows -> CodeSystem (other columns become properties).

    `parent` may hold several codes separated by `|`; a column `designation:en` (or
    `display:en`) gives designations in that language; an empty cell is no value.
    """
    if not options.url:
        raise ReadError("a CSV code system needs its canonical url (--url)")
    sample = fh.read(8192)
    fh.seek(0)
    delimiter = options.delimiter
    if delimiter is None:
        try:
            delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
    reader = csv.reader(fh, delimiter=delimiter)
    header = [h.strip() for h in next(reader, [])]
    lowered = [h.lower() for h in header]
    if "code" not in lowered:
        raise ReadError(f"the CSV header must have a 'code' column (found {header})")
    code_col = lowered.index("code")
    display_col = lowered.index("display") if "display" in lowered else None
    parent_col = lowered.index("parent") if "parent" in lowered else None
    designations = {
        i: h.split(":", 1)[1]
        for i, h in enumerate(header)
        if h.lower().startswith(("designation:", "display:"))
    }
    definition_col = lowered.index("definition") if "definition" in lowered else None
    used = {code_col, display_col, parent_col, definition_col, *designations}
    props = {i: h for i, h in enumerate(header) if i not in used and h}
    concepts: list[dict[str, Any]] = []
    for row in reader:
        if not row or code_col >= len(row) or not row[code_col].strip():
            continue
        item: dict[str, Any] = {"code": row[code_col].strip()}
        if display_col is not None and display_col < len(row) and row[display_col].strip():
            item["display"] = row[display_col].strip()
        if definition_col is not None and definition_col < len(row) and row[definition_col]:
            item["definition"] = row[definition_col].strip()
        des = [
            {"language": lang, "value": row[i].strip()}
            for i, lang in designations.items()
            if i < len(row) and row[i].strip()
        ]
        if des:
            item["designation"] = des
        properties: list[dict[str, Any]] = []
        if parent_col is not None and parent_col < len(row):
            for parent in row[parent_col].split("|"):
                if parent.strip():
                    properties.append({"code": "parent", "valueCode": parent.strip()})
        for i, code in props.items():
            if i < len(row) and row[i].strip():
                properties.append(_csv_property(code, row[i].strip()))
        if properties:
            item["property"] = properties
        concepts.append(item)
        if on_concept is not None and len(concepts) % 1000 == 0:
            on_concept(len(concepts))
    if on_concept is not None:
        on_concept(len(concepts))
    prop_defs: list[dict[str, Any]] = []
    if parent_col is not None:
        prop_defs.append(
            {
                "code": "parent",
                "uri": "http://hl7.org/fhir/concept-properties#parent",
                "type": "code",
            }
        )
    prop_defs.extend({"code": c, "type": _TYPED.get(c, "string")} for c in props.values())
    resource: dict[str, Any] = {
        "resourceType": "CodeSystem",
        "url": options.url,
        "status": "active",
        "content": "complete",
        "language": options.language,
        "count": len(concepts),
        "concept": concepts,
    }
    if parent_col is not None:
        resource["hierarchyMeaning"] = "is-a"
    if prop_defs:
        resource["property"] = prop_defs
    for key, value in (
        ("version", options.version),
        ("name", options.name),
        ("title", options.title),
    ):
        if value:
            resource[key] = value
    return resource


_TYPED = {"inactive": "boolean", "status": "code", "notSelectable": "boolean"}


def _csv_property(code: str, value: str) -> dict[str, Any]:
    kind = _TYPED.get(code)
    if kind == "boolean":
        return {"code": code, "valueBoolean": value.lower() in ("true", "1", "yes", "oui")}
    if kind == "code":
        return {"code": code, "valueCode": value}
    return {"code": code, "valueString": value}
