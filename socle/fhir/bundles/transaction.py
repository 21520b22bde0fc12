"""Batch and transaction Bundles (FHIR R4 http.html#transaction).

A transaction runs in one database transaction: ids are assigned to POSTed entries first,
`urn:uuid:` and conditional references are rewritten, then entries run in the FHIR order
(DELETE, POST, PUT/PATCH, GET/HEAD). Any failure rolls everything back. Batch entries each
run in their own database transaction and fail independently.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson

from socle.fhir.crud import Result
from socle.fhir.datetime import format_instant
from socle.fhir.errors import FhirError, Issue, bad_request, operation_outcome
from socle.fhir.resource_ids import TYPE_RE, new_id, parse_etag
from socle.fhir.storage.store import StoreSession, WriteConflict

if TYPE_CHECKING:
    from socle.fhir.context import RequestContext
    from socle.fhir.engine import FhirEngine

GetHandler = Callable[[StoreSession, "RequestContext", str], dict[str, Any]]
ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}
MAX_ENTRIES = 10_000
STATUS_TEXT = {200: "200 OK", 201: "201 Created", 204: "204 No Content"}


@dataclass(slots=True)
class Entry:
    """One parsed Bundle entry and, once processed, its response."""

    index: int
    method: str
    url: str
    full_url: str | None
    resource: Any
    request: dict[str, Any]
    assigned_id: str | None = None
    matched: bool = False  # ifNoneExist found an existing resource
    original: Any = None  # the resource as received (each attempt rewrites a copy)
    response: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return urlsplit(self.url).path.strip("/")

    @property
    def query(self) -> str:
        return urlsplit(self.url).query


class BundleProcessor:
    """Runs batch and transaction Bundles against the engine."""

    def __init__(self, engine: FhirEngine, get: GetHandler) -> None:
        self.engine = engine
        self.get = get  # runs a GET entry (read, vread, search, history) in the session

    def process(self, ctx: RequestContext, bundle: Any, prefer_return: str) -> dict[str, Any]:
        kind = _bundle_type(bundle)
        entries = [_parse_entry(i, e) for i, e in enumerate(bundle.get("entry") or [])]
        if len(entries) > MAX_ENTRIES:
            raise FhirError(413, "too-costly", f"More than {MAX_ENTRIES} entries in a Bundle")
        if kind == "transaction":
            self._transaction(ctx, entries, prefer_return)
        else:
            self._batch(ctx, entries, prefer_return)
        return {
            "resourceType": "Bundle",
            "type": f"{kind}-response",
            "entry": [{"response": e.response, **_resource_of(e)} for e in entries],
        }

    # -- transaction ------------------------------------------------------------------

    def _transaction(self, ctx: RequestContext, entries: list[Entry], prefer: str) -> None:
        _check_unique_full_urls(entries)
        for attempt in range(3):
            try:
                with self.engine.store.session(ctx.tenant, write=True) as s:
                    mapping = self._assign_ids(s, ctx, entries)
                    for entry in entries:
                        if entry.original is not None:
                            entry.resource = _at(entry, self._rewrite, s, ctx, entry, mapping)
                    for entry in sorted(entries, key=lambda e: ORDER[e.method]):
                        _at(entry, self._run, s, ctx, entry, prefer)
                return
            except WriteConflict as exc:
                if attempt == 2:
                    raise FhirError(
                        409, "conflict", "Concurrent update; retry the transaction"
                    ) from exc
                for entry in entries:
                    entry.response = {}

    def _assign_ids(
        self, s: StoreSession, ctx: RequestContext, entries: list[Entry]
    ) -> dict[str, str]:
        """fullUrl -> `Type/id` for every entry that creates or names a resource."""
        mapping: dict[str, str] = {}
        for entry in entries:
            if entry.method == "POST":
                res_type = entry.path
                if_none_exist = entry.request.get("ifNoneExist")
                res_id = None
                if if_none_exist:
                    found = _at(
                        entry,
                        self.engine.crud.conditional_match,
                        s,
                        ctx,
                        res_type,
                        if_none_exist,
                        lock=True,
                    )
                    if len(found) > 1:
                        raise _entry_error(
                            FhirError(412, "duplicate", f"ifNoneExist matches {len(found)}"), entry
                        )
                    res_id = found[0].res_id if found else None
                entry.assigned_id = res_id or new_id()
                entry.matched = res_id is not None
                if entry.full_url:
                    mapping[entry.full_url] = f"{res_type}/{entry.assigned_id}"
            elif entry.method == "PUT" and entry.full_url and "?" not in entry.url:
                mapping[entry.full_url] = entry.path
        return mapping

    def _rewrite(
        self, s: StoreSession, ctx: RequestContext, entry: Entry, mapping: dict[str, str]
    ) -> Any:
        """Replace urn:uuid/fullUrl references and resolve conditional references."""

        def visit(node: Any) -> Any:
            if isinstance(node, dict):
                out = {}
                for key, value in node.items():
                    if key == "reference" and isinstance(value, str):
                        out[key] = self._resolve_reference(s, ctx, value, mapping)
                    else:
                        out[key] = visit(value)
                return out
            if isinstance(node, list):
                return [visit(v) for v in node]
            if isinstance(node, str) and node in mapping:
                return mapping[node]
            return node

        return visit(entry.original)

    def _resolve_reference(
        self, s: StoreSession, ctx: RequestContext, ref: str, mapping: dict[str, str]
    ) -> str:
        if ref in mapping:
            return mapping[ref]
        if ref.startswith("urn:uuid:") or ref.startswith("urn:oid:"):
            raise bad_request(f"Reference {ref!r} does not match any fullUrl in the Bundle")
        res_type, sep, query = ref.partition("?")
        if sep and TYPE_RE.match(res_type):
            found = self.engine.crud.conditional_match(s, ctx, res_type, query)
            if len(found) != 1:
                raise FhirError(
                    412,
                    "not-found" if not found else "multiple-matches",
                    f"Conditional reference {ref!r} matches {len(found)} resources",
                )
            return f"{res_type}/{found[0].res_id}"
        return ref

    # -- batch --------------------------------------------------------------------------

    def _batch(self, ctx: RequestContext, entries: list[Entry], prefer: str) -> None:
        for entry in sorted(entries, key=lambda e: ORDER[e.method]):
            try:
                with self.engine.store.session(ctx.tenant, write=entry.method != "GET") as s:
                    if entry.original is not None:
                        entry.resource = self._rewrite(s, ctx, entry, {})
                    self._run(s, ctx, entry, prefer)
            except FhirError as err:
                entry.response = _error_response(err)
            except WriteConflict:
                entry.response = _error_response(FhirError(409, "conflict", "Concurrent update"))

    # -- one entry ------------------------------------------------------------------------

    def _run(
        self,
        s: StoreSession,
        ctx: RequestContext,
        entry: Entry,
        prefer: str,
    ) -> None:
        crud = self.engine.crud
        if_match = _if_match(entry.request.get("ifMatch"))
        parts = entry.path.split("/")
        if entry.method == "GET" or entry.method == "HEAD":
            entry.response = self.get(s, ctx, entry.url)
            return
        if entry.method == "POST":
            if len(parts) != 1 or entry.query:
                raise bad_request(f"POST url must be a resource type, got {entry.url!r}")
            if entry.assigned_id is None:
                result = crud.create(
                    s, ctx, parts[0], entry.resource, if_none_exist=entry.request.get("ifNoneExist")
                )
            else:
                result = self._create_with_id(s, ctx, parts[0], entry)
        elif entry.method == "PUT":
            if len(parts) == 2:
                result = crud.update(s, ctx, parts[0], parts[1], entry.resource, if_match=if_match)
            elif len(parts) == 1 and entry.query:
                result = crud.conditional_update(
                    s, ctx, parts[0], entry.query, entry.resource, if_match=if_match
                )
            else:
                raise bad_request(f"PUT url must be Type/id or Type?query, got {entry.url!r}")
        elif entry.method == "PATCH":
            if len(parts) != 2:
                raise bad_request(f"PATCH url must be Type/id, got {entry.url!r}")
            result = crud.patch(s, ctx, parts[0], parts[1], _patch_body(entry), if_match=if_match)
        else:  # DELETE
            result = self._delete(s, ctx, entry, parts, if_match)
        entry.response = _response(result, prefer)
        if prefer == "representation" and result.resource is not None:
            entry.response["_resource"] = result.resource
        elif prefer == "OperationOutcome":
            entry.response["outcome"] = operation_outcome(result.warnings)

    def _create_with_id(self, s: StoreSession, ctx: RequestContext, res_type: str, e: Entry):
        """POST inside a transaction: the id was chosen (or matched) while mapping fullUrls."""
        assert e.assigned_id is not None
        if e.matched:
            existing = s.current(res_type, e.assigned_id)
            if existing is not None and not existing.deleted:
                return Result(
                    200, res_type, e.assigned_id, existing.version, existing.last_updated, None
                )
        return self.engine.crud.insert(s, ctx, res_type, e.assigned_id, e.resource)

    def _delete(self, s, ctx, entry: Entry, parts: list[str], if_match: int | None) -> Result:
        crud = self.engine.crud
        if len(parts) == 2:
            return crud.delete(s, ctx, parts[0], parts[1], if_match=if_match)
        if len(parts) == 1 and entry.query:
            results = crud.conditional_delete(s, ctx, parts[0], entry.query)
            if results:
                return results[-1]
            return Result(204, parts[0], "", 0, 0, None)
        raise bad_request(f"DELETE url must be Type/id or Type?query, got {entry.url!r}")


def _bundle_type(bundle: Any) -> str:
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise bad_request("Expected a Bundle", "resourceType")
    kind = bundle.get("type")
    if kind not in ("transaction", "batch"):
        raise bad_request(
            f"Bundle.type must be 'transaction' or 'batch' to be processed, not {kind!r}",
            "Bundle.type",
        )
    return kind


def _parse_entry(index: int, raw: Any) -> Entry:
    where = f"Bundle.entry[{index}]"
    if not isinstance(raw, dict):
        raise bad_request("A Bundle entry must be an object", where)
    request = raw.get("request")
    if not isinstance(request, dict):
        raise bad_request("Entry has no request", f"{where}.request")
    method, url = request.get("method"), request.get("url")
    if method not in ORDER:
        raise bad_request(f"Unsupported request.method {method!r}", f"{where}.request.method")
    if not isinstance(url, str) or not url:
        raise bad_request("Entry request.url is missing", f"{where}.request.url")
    resource = raw.get("resource")
    if method in ("POST", "PUT") and not isinstance(resource, dict):
        raise bad_request(f"{method} entry has no resource", f"{where}.resource")
    full_url = raw.get("fullUrl") if isinstance(raw.get("fullUrl"), str) else None
    return Entry(index, method, url.lstrip("/"), full_url, resource, request, original=resource)


def _check_unique_full_urls(entries: list[Entry]) -> None:
    seen: set[str] = set()
    for entry in entries:
        if entry.full_url and entry.method in ("POST", "PUT"):
            if entry.full_url in seen:
                raise bad_request(
                    f"fullUrl {entry.full_url!r} appears twice", f"Bundle.entry[{entry.index}]"
                )
            seen.add(entry.full_url)


def _if_match(value: Any) -> int | None:
    if value is None:
        return None
    version = parse_etag(str(value))
    if version is None:
        raise bad_request(f"Invalid ifMatch {value!r}")
    return version


def _patch_body(entry: Entry) -> Any:
    """A PATCH entry carries its JSON Patch as a Binary resource (base64 data)."""
    res = entry.resource
    if isinstance(res, dict) and res.get("resourceType") == "Binary" and "data" in res:
        try:
            return orjson.loads(base64.b64decode(res["data"], validate=True))
        except (ValueError, TypeError, orjson.JSONDecodeError) as exc:
            raise bad_request(f"PATCH entry: Binary.data is not a JSON Patch: {exc}") from exc
    raise bad_request("A PATCH entry must carry a Binary resource holding the JSON Patch")


def _response(result: Result, prefer: str) -> dict[str, Any]:
    response: dict[str, Any] = {"status": STATUS_TEXT.get(result.status, str(result.status))}
    if result.res_id and result.version:
        response["location"] = result.location
        response["etag"] = result.etag
        response["lastModified"] = format_instant(result.last_updated)
    return response


def _resource_of(entry: Entry) -> dict[str, Any]:
    resource = entry.response.pop("_resource", None)
    return {"resource": resource} if resource is not None else {}


def _error_response(err: FhirError) -> dict[str, Any]:
    return {"status": str(err.status), "outcome": err.outcome()}


def _entry_error(err: FhirError, entry: Entry) -> FhirError:
    """Point a transaction's error at the entry that failed."""
    where = f"Bundle.entry[{entry.index}]"
    issues = [
        Issue(i.severity, i.code, f"{where}: {i.diagnostics}", i.expression or [where])
        for i in err.issues
    ]
    return FhirError(
        err.status, err.code, issues[0].diagnostics, issues=issues, headers=err.headers
    )


def _at(entry: Entry, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run one step of an entry, re-labelling its FhirError with the entry's position."""
    try:
        return fn(*args, **kwargs)
    except FhirError as err:
        raise _entry_error(err, entry) from err


__all__ = ["BundleProcessor"]
