"""FHIR write and read semantics over one storage session.

The REST interactions and the transaction/batch processor both call these functions, so
a create behaves the same whether it arrives alone or inside a Bundle.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import jsonpatch
import orjson

from socle.fhir.errors import FhirError, Issue, bad_request, gone, not_found, precondition_failed
from socle.fhir.guard import CREATE, DELETE, READ, UPDATE, Access, guard_flag
from socle.fhir.resource_ids import etag, new_id, valid_id
from socle.fhir.storage.store import CurrentRow, StoredVersion, StoreSession

if TYPE_CHECKING:
    from socle.fhir.context import RequestContext
    from socle.fhir.engine import FhirEngine


@dataclass(slots=True)
class Result:
    """What an interaction produced: HTTP status, the version written or read, the body."""

    status: int
    res_type: str
    res_id: str
    version: int
    last_updated: int
    resource: dict[str, Any] | None
    warnings: list[Issue] = field(default_factory=list)

    @property
    def etag(self) -> str:
        return etag(self.version)

    @property
    def location(self) -> str:
        return f"{self.res_type}/{self.res_id}/_history/{self.version}"


def now_micros() -> int:
    return time.time_ns() // 1000


def loads(content: bytes) -> dict[str, Any]:
    return orjson.loads(content)


def _result(stored: StoredVersion, status: int = 200) -> Result:
    body = loads(stored.content) if stored.content is not None else None
    return Result(status, stored.res_type, stored.res_id, stored.version, stored.last_updated, body)


class Crud:
    """Create/read/update/patch/delete with FHIR's conditional and versioning rules."""

    def __init__(self, engine: FhirEngine) -> None:
        self.engine = engine

    # -- reads -------------------------------------------------------------------------

    def read(
        self, s: StoreSession, res_type: str, res_id: str, ctx: RequestContext | None = None
    ) -> Result:
        """The current version; `ctx` (every request has one) submits it to the guard."""
        self.engine.require_type(res_type)
        stored = s.read(res_type, res_id)
        if stored is None:
            raise not_found(f"{res_type}/{res_id} is not known")
        if stored.deleted:
            raise gone(f"{res_type}/{res_id} was deleted", headers={"ETag": etag(stored.version)})
        return self._readable(ctx, _result(stored))

    def vread(
        self,
        s: StoreSession,
        res_type: str,
        res_id: str,
        version: str,
        ctx: RequestContext | None = None,
    ) -> Result:
        self.engine.require_type(res_type)
        if not version.isdigit():
            raise not_found(f"Version {version!r} of {res_type}/{res_id} is not known")
        stored = s.vread(res_type, res_id, int(version))
        if stored is None:
            raise not_found(f"Version {version} of {res_type}/{res_id} is not known")
        if stored.deleted:
            raise gone(f"Version {version} of {res_type}/{res_id} is a deletion")
        past = None
        if ctx is not None and res_type in self.engine.hooks.past_output:
            current = s.read(res_type, res_id)
            if current is None or current.version != stored.version:
                past = (loads(current.content) if current and current.content else None,)
        return self._readable(ctx, _result(stored), past)

    def _readable(
        self, ctx: RequestContext | None, result: Result, past: tuple | None = None
    ) -> Result:
        """Ask the guard, then apply the output hooks (only for requests, not internal use);
        `past`: (the current content,) when the result is a past version."""
        if ctx is not None:
            access = Access(READ, result.res_type, result.res_id, result.resource)
            self.engine.guard.authorize(ctx, access)
            if past is not None and result.resource is not None:
                result.resource = self.engine.hooks.past(ctx, result.resource, past[0])
            if result.resource is not None and self.engine.hooks.reshapes(
                result.res_type, result.resource
            ):
                result.resource = self.engine.hooks.present(ctx, result.resource)
        return result

    # -- writes ------------------------------------------------------------------------

    def create(
        self,
        s: StoreSession,
        ctx: RequestContext,
        res_type: str,
        resource: dict[str, Any],
        *,
        if_none_exist: str | None = None,
    ) -> Result:
        """POST: a new id, unless If-None-Exist finds the resource already there."""
        self._check_body(res_type, resource)
        if if_none_exist:
            existing = self.conditional_match(s, ctx, res_type, if_none_exist, lock=True)
            if len(existing) > 1:
                raise precondition_failed(
                    f"If-None-Exist '{if_none_exist}' matches {len(existing)} resources"
                )
            if existing:
                return self._readable(ctx, _result(existing[0], status=200))
        return self._write(s, ctx, res_type, new_id(), resource, None, "POST")

    def update(
        self,
        s: StoreSession,
        ctx: RequestContext,
        res_type: str,
        res_id: str,
        resource: dict[str, Any],
        *,
        if_match: int | None = None,
    ) -> Result:
        """PUT: a new version, or update-as-create when the client chose a new id."""
        self._check_body(res_type, resource)
        body_id = resource.get("id")
        if body_id is None:
            raise bad_request("The resource must carry an id matching the URL", f"{res_type}.id")
        if body_id != res_id:
            raise bad_request(
                f"Resource id {body_id!r} does not match the URL id {res_id!r}", f"{res_type}.id"
            )
        _require_valid_id(res_type, res_id)
        return self._put(s, ctx, res_type, res_id, resource, if_match)

    def insert(
        self,
        s: StoreSession,
        ctx: RequestContext,
        res_type: str,
        res_id: str,
        resource: dict[str, Any],
    ) -> Result:
        """Create with an id the server just generated (a transaction's POST entries)."""
        self._check_body(res_type, resource)
        return self._write(s, ctx, res_type, res_id, resource, None, "POST")

    def conditional_update(
        self,
        s: StoreSession,
        ctx: RequestContext,
        res_type: str,
        query: str,
        resource: dict[str, Any],
        *,
        if_match: int | None = None,
    ) -> Result:
        """PUT [type]?query: update the single match, or create when there is none."""
        self._check_body(res_type, resource)
        matches = self.conditional_match(s, ctx, res_type, query, lock=True)
        if len(matches) > 1:
            raise precondition_failed(f"Conditional update '{query}' matches {len(matches)}")
        body_id = resource.get("id")
        if not matches:
            res_id = body_id if body_id is not None else new_id()
            _require_valid_id(res_type, res_id)
            current = s.current(res_type, res_id, lock=True)
            if current is not None and not current.deleted:
                raise FhirError(409, "conflict", f"{res_type}/{res_id} exists but does not match")
            return self._write(s, ctx, res_type, res_id, resource, current, "PUT")
        match = matches[0]
        if body_id is not None and body_id != match.res_id:
            raise bad_request(
                f"Resource id {body_id!r} differs from the matched {match.res_id!r}",
                f"{res_type}.id",
            )
        return self._put(s, ctx, res_type, match.res_id, resource, if_match)

    def _put(
        self,
        s: StoreSession,
        ctx: RequestContext,
        res_type: str,
        res_id: str,
        resource: dict[str, Any],
        if_match: int | None,
    ) -> Result:
        """Write a new version over the locked current one, honouring If-Match."""
        current = s.current(res_type, res_id, lock=True)
        self._check_if_match(res_type, res_id, current, if_match)
        return self._write(s, ctx, res_type, res_id, resource, current, "PUT")

    def patch(
        self,
        s: StoreSession,
        ctx: RequestContext,
        res_type: str,
        res_id: str,
        operations: Any,
        *,
        if_match: int | None = None,
    ) -> Result:
        """PATCH with a JSON Patch document (RFC 6902) on the current version."""
        current = s.current(res_type, res_id, lock=True)  # lock before reading the content
        resource = self.read(s, res_type, res_id, ctx).resource or {}  # 404/410, may read?
        self._check_if_match(res_type, res_id, current, if_match)
        patched = apply_json_patch(resource, operations)
        if not isinstance(patched, dict):
            raise bad_request("The patched document is not a resource")
        if patched.get("resourceType") != res_type or patched.get("id") != res_id:
            raise FhirError(422, "processing", "A patch may not change resourceType or id")
        self._check_body(res_type, patched)
        return self._write(s, ctx, res_type, res_id, patched, current, "PATCH")

    def delete(
        self,
        s: StoreSession,
        ctx: RequestContext,
        res_type: str,
        res_id: str,
        *,
        if_match: int | None = None,
    ) -> Result:
        """DELETE: a versioned tombstone; deleting a deleted resource changes nothing."""
        self.engine.require_type(res_type)
        current = s.current(res_type, res_id, lock=True)
        if current is None:
            raise not_found(f"{res_type}/{res_id} is not known")
        self._check_if_match(res_type, res_id, current, if_match)
        if current.deleted:
            return Result(200, res_type, res_id, current.version, current.last_updated, None)
        self.engine.guard.authorize(ctx, Access(DELETE, res_type, res_id))
        stamp = max(now_micros(), current.last_updated + 1)
        self.engine.hooks.before_delete(ctx, res_type, res_id)
        version = s.write(
            res_type, res_id, current=current, content=None, last_updated=stamp, method="DELETE"
        )
        return Result(200, res_type, res_id, version, stamp, None)

    def conditional_delete(
        self, s: StoreSession, ctx: RequestContext, res_type: str, query: str
    ) -> list[Result]:
        """DELETE [type]?query: deletes every match (bounded), none is not an error."""
        matches = self.conditional_match(s, ctx, res_type, query, lock=True, limit=101)
        if len(matches) > 100:
            raise FhirError(412, "too-costly", "Conditional delete matches more than 100")
        return [self.delete(s, ctx, res_type, m.res_id) for m in matches]

    # -- helpers -----------------------------------------------------------------------

    def conditional_match(
        self,
        s: StoreSession,
        ctx: RequestContext,
        res_type: str,
        query: str,
        *,
        lock: bool = False,
        limit: int = 2,
    ) -> list[StoredVersion]:
        """Resources matching a conditional query such as `identifier=sys|val`."""
        self.engine.require_type(res_type)
        if not isinstance(query, str):
            raise bad_request(f"A conditional query must be a string, got {query!r}")
        params = parse_qsl(query.lstrip("?"), keep_blank_values=True)
        if not params:
            raise bad_request(f"Empty conditional query for {res_type}")
        if lock:  # two concurrent conditional creates must not both create
            s.lock_key(f"{s.tenant}|{res_type}?{query}")
        # A subject only matches what it could find by searching (no existence oracle):
        # the same link confinement and criteria as a search, on the query parsed once.
        parsed = self.engine.search.parse(res_type, params)
        self.engine.guard.check_query(ctx, res_type, parsed.criteria)
        confine = self.engine.guard.search_criteria(ctx, res_type)
        if confine:
            parsed.criteria.extend(self.engine.search.parse(res_type, confine).criteria)
        pks = self.engine.search.find_pks(s, res_type, parsed, limit=limit)
        return s.fetch_current(pks)

    def _check_body(self, res_type: str, resource: Any) -> None:
        self.engine.require_type(res_type)
        if not isinstance(resource, dict):
            raise bad_request("The body must be a JSON object (a FHIR resource)")
        found = resource.get("resourceType")
        if found != res_type:
            raise bad_request(
                f"resourceType {found!r} does not match the URL type {res_type!r}",
                "resourceType",
            )

    @staticmethod
    def _check_if_match(
        res_type: str, res_id: str, current: CurrentRow | None, if_match: int | None
    ) -> None:
        if if_match is None:
            return
        if current is None:
            raise precondition_failed(f"If-Match on {res_type}/{res_id}, which does not exist")
        if current.version != if_match:
            raise FhirError(
                412,
                "conflict",
                f"{res_type}/{res_id} is at version {current.version}, not {if_match}",
            )

    def _write(
        self,
        s: StoreSession,
        ctx: RequestContext,
        res_type: str,
        res_id: str,
        resource: dict[str, Any],
        current: CurrentRow | None,
        method: str,
    ) -> Result:
        """Validate, stamp meta, index and append the new version."""
        action = CREATE if current is None or current.deleted else UPDATE
        before, same = self._before(s, res_type, res_id, current) if current else (None, False)
        if before is not None and _checks_replaced(self.engine.guard):
            # the subject must be allowed to change what is there, not only what it writes
            self.engine.guard.authorize(ctx, Access(UPDATE, res_type, res_id, before))
        self.engine.guard.authorize(ctx, Access(action, res_type, res_id, resource))
        warnings = self.engine.validate_for_write(resource)
        stamp = now_micros() if current is None else max(now_micros(), current.last_updated + 1)
        version = 1 if current is None else current.version + 1
        stored = stamp_meta(resource, res_id, version, stamp)
        self.engine.hooks.before_write(s, ctx, stored, current is None)
        entries = self.engine.extractor.extract(stored)
        previous = self.engine.extractor.extract(before) if same and before else None
        s.write(
            res_type,
            res_id,
            current=current,
            content=orjson.dumps(stored),
            last_updated=stamp,
            method=method,
            index_entries=entries,
            previous_entries=previous,
        )
        created = current is None or current.deleted
        result = Result(201 if created else 200, res_type, res_id, version, stamp, stored, warnings)
        self.engine.hooks.written(s, ctx, result)
        if self.engine.hooks.reshapes(res_type, stored):
            result.resource = self.engine.hooks.present(ctx, stored)
        return result

    def _before(
        self, s: StoreSession, res_type: str, res_id: str, current: CurrentRow
    ) -> tuple[dict[str, Any] | None, bool]:
        """The content being replaced, and whether it is the version `current` names.

        Taken from what this transaction already read when it can (a version never
        changes); read otherwise only when the guard needs it (the subject must be
        allowed to change what is there, or a write hook reads it: `Hooks.reads_replaced`).
        The store uses it, when it is `current`'s
        version, to rewrite only the index tables whose rows change."""
        if current.deleted:
            return None, False
        stored = s.known(res_type, res_id, current.version)
        if stored is None and (
            _checks_replaced(self.engine.guard) or res_type in self.engine.hooks.reads_replaced
        ):
            stored = s.read(res_type, res_id)
        if stored is None or stored.content is None:
            return None, False
        return loads(stored.content), stored.version == current.version


def _checks_replaced(guard: Any) -> bool:
    return guard_flag(guard, "checks_replaced")


def stamp_meta(resource: dict[str, Any], res_id: str, version: int, stamp: int) -> dict[str, Any]:
    """A copy of the resource with the server-owned id, versionId and lastUpdated."""
    from socle.fhir.datetime import format_instant

    out = dict(resource)
    out["id"] = res_id
    meta = dict(out.get("meta") or {})
    meta["versionId"] = str(version)
    meta["lastUpdated"] = format_instant(stamp)
    out["meta"] = meta
    # keep resourceType and id first, as FHIR JSON conventionally shows them
    return {"resourceType": out.pop("resourceType"), "id": out.pop("id"), **out}


def apply_json_patch(resource: dict[str, Any], operations: Any) -> dict[str, Any]:
    """Apply RFC 6902 operations; a failing `test` or bad path is a 422/400 for the client."""
    if not isinstance(operations, list):
        raise bad_request("A JSON Patch document must be an array of operations")
    try:
        return jsonpatch.JsonPatch(operations).apply(resource)
    except jsonpatch.JsonPatchTestFailed as exc:
        # the library's message quotes the stored value: never echo data back
        raise FhirError(422, "processing", "JSON Patch test operation failed") from exc
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError) as exc:
        raise bad_request(f"Invalid JSON Patch: {exc}") from exc
    except Exception as exc:  # jsonpointer raises its own errors for bad pointers
        raise bad_request(f"Invalid JSON Patch: {exc}") from exc


def _require_valid_id(res_type: str, res_id: str) -> None:
    """A client-chosen id must follow the FHIR id rules before it reaches storage."""
    if not valid_id(res_id):
        raise bad_request(f"Invalid resource id {res_id!r}", f"{res_type}.id")
