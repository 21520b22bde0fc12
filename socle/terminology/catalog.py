"""The catalogue of terminology resources: CodeSystems, ValueSets and ConceptMaps by canonical.

Two layers are merged when resolving a canonical:
- the built-in layer: the terminology vendored with Socle (R4 core, v2/v3 tables, FR Core
  and ANS packages, NOS, CI-SIS JDV), read once per process, shared by every tenant;
- the store layer of a tenant: the CodeSystem/ValueSet/ConceptMap resources in the FHIR
  store (loaded with `socle terminology load` or written through the REST API). It is
  refreshed incrementally when the store changes (see `StoreLayer.refresh`).

Resources are kept as compact JSON bytes plus a few header fields; the concept index of a
CodeSystem (or the map of a ConceptMap) is built on first use and kept with its entry, so
a new version of a resource brings a new entry and the old index simply goes away.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from socle.terminology.versions import pick, split_canonical

TYPES = ("CodeSystem", "ValueSet", "ConceptMap")
_seq = itertools.count(1)


@dataclass(slots=True, eq=False)
class Entry:
    """One terminology resource version known to the catalogue."""

    kind: str
    url: str
    version: str | None
    date: str | None
    status: str | None
    res_id: str | None
    raw: bytes
    source: str  # "store" or the built-in source name
    identifiers: tuple[str, ...] = ()
    name: str | None = None
    title: str | None = None
    stored_version: int = 0
    seq: int = field(default_factory=lambda: next(_seq))
    extra: dict[str, Any] = field(default_factory=dict)  # CodeSystem: supplements, content
    _index: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def of(cls, resource: dict[str, Any], source: str, raw: bytes | None = None, **kw: Any):
        ids = (
            tuple(
                str(i["value"])
                for i in resource.get("identifier") or []
                if isinstance(i, dict) and isinstance(i.get("value"), str)
            )
            if isinstance(resource.get("identifier"), list)
            else ()
        )
        if isinstance(resource.get("identifier"), dict):  # ConceptMap.identifier is 0..1
            value = resource["identifier"].get("value")
            ids = (value,) if isinstance(value, str) else ()
        extra = {}
        if resource.get("resourceType") == "CodeSystem":
            extra = {"content": resource.get("content"), "supplements": resource.get("supplements")}
        url, version = resource.get("url") or "", resource.get("version")
        if "|" in url:  # HL7's versioned v2 tables put the version in the url
            url, _, version = url.partition("|")
        return cls(
            kind=resource["resourceType"],
            url=url,
            version=version,
            date=resource.get("date"),
            status=resource.get("status"),
            res_id=resource.get("id"),
            raw=raw if raw is not None else orjson.dumps(resource),
            source=source,
            identifiers=ids,
            name=resource.get("name"),
            title=resource.get("title"),
            extra=extra,
            **kw,
        )

    @property
    def canonical(self) -> str:
        return f"{self.url}|{self.version}" if self.version else self.url

    def resource(self) -> dict[str, Any]:
        """A fresh copy of the resource (callers may modify it)."""
        return orjson.loads(self.raw)

    def index(self, build):  # noqa: ANN001 - build: Callable[[dict], T] -> T
        """The entry's derived index (concepts, mappings), built once."""
        if self._index is None:
            with self._lock:
                if self._index is None:
                    self._index = build(self.resource())
        return self._index


class Layer:
    """Entries indexed by (type, url) and by identifier (urn:oid:…)."""

    def __init__(self, entries: Iterable[Entry] = ()) -> None:
        self.by_url: dict[tuple[str, str], list[Entry]] = {}
        self.by_identifier: dict[tuple[str, str], list[Entry]] = {}
        self.by_id: dict[tuple[str, str], Entry] = {}
        for entry in entries:
            self.add(entry)

    def add(self, entry: Entry) -> None:
        if entry.url:
            self.by_url.setdefault((entry.kind, entry.url), []).append(entry)
        for ident in entry.identifiers:
            self.by_identifier.setdefault((entry.kind, ident), []).append(entry)
        if entry.res_id:
            self.by_id.setdefault((entry.kind, entry.res_id), entry)

    def candidates(self, kind: str, url: str) -> list[Entry]:
        found = self.by_url.get((kind, url))
        if found:
            return found
        if url.startswith("urn:oid:"):
            return self.by_identifier.get((kind, url), [])
        return []

    def all(self, kind: str | None = None) -> Iterable[Entry]:
        for (k, _url), entries in self.by_url.items():
            if kind is None or k == kind:
                yield from entries


class View:
    """The resolution a tenant sees: its store layer first, then the built-in layer."""

    def __init__(self, layers: list[Layer], generation: Any) -> None:
        self.layers = layers
        self.generation = generation
        self._supplements: dict[str, list[Entry]] | None = None

    def supplements(self, url: str, version: str | None) -> list[Entry]:
        """CodeSystem supplements of `url` (all versions, or those naming `url|version`)."""
        if self._supplements is None:
            found: dict[str, list[Entry]] = {}
            for entry in self.all("CodeSystem"):
                target = entry.extra.get("supplements")
                if entry.extra.get("content") == "supplement" and isinstance(target, str):
                    found.setdefault(split_canonical(target)[0], []).append(entry)
            self._supplements = found
        out = []
        for entry in self._supplements.get(url, ()):
            wanted = split_canonical(entry.extra["supplements"])[1]
            if wanted is None or wanted == version:
                out.append(entry)
        return out

    def resolve(self, kind: str, canonical: str, version: str | None = None) -> Entry | None:
        url, in_url = split_canonical(canonical)
        version = version or in_url
        candidates: list[Entry] = []
        for layer in self.layers:
            candidates.extend(layer.candidates(kind, url))
        if not candidates:
            return None
        found = pick(candidates, version)
        if found is None:
            return None
        # same url and version in both layers: the tenant's own copy wins
        for layer in self.layers:
            for entry in layer.candidates(kind, url):
                if entry.version == found.version:
                    return entry
        return found

    def versions(self, kind: str, url: str) -> list[str]:
        out = []
        for layer in self.layers:
            out.extend(e.version or "" for e in layer.candidates(kind, url))
        return sorted(set(out))

    def by_id(self, kind: str, res_id: str) -> Entry | None:
        for layer in self.layers:
            entry = layer.by_id.get((kind, res_id))
            if entry is not None:
                return entry
        return None

    def all(self, kind: str) -> list[Entry]:
        seen: set[tuple[str, str | None]] = set()
        out = []
        for layer in self.layers:
            for entry in layer.all(kind):
                key = (entry.url, entry.version)
                if key not in seen:
                    seen.add(key)
                    out.append(entry)
        return out

    def oid_of(self, system: str) -> str | None:
        """The OID of a code system URL (from its identifiers), for SVS."""
        if system.startswith("urn:oid:"):
            return system[8:]
        for layer in self.layers:
            for entry in layer.candidates("CodeSystem", system):
                for ident in entry.identifiers:
                    if ident.startswith("urn:oid:"):
                        return ident[8:]
        return None
