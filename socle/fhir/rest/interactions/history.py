"""history: instance, type and system history with `_since`, `_at`, `_count` and keyset paging.

Pages are addressed by a `_cursor` (last_updated.pk of the last entry shown), so paging
stays correct while others write: new versions appear before the first page, never
shifting the pages already handed out.
"""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response

from socle.fhir.bundles.render import history_bundle, link, page_url
from socle.fhir.datetime import parse_range
from socle.fhir.errors import bad_request, not_found
from socle.fhir.guard import HISTORY, Access, OpenGuard
from socle.fhir.rest.http import context, fhir_response
from socle.fhir.rest.interactions.common import in_session

KNOWN = {"_count", "_since", "_at", "_cursor", "_format", "_pretty", "_summary", "_elements"}


async def history(request: Request) -> Response:
    engine = request.app.state.engine
    res_type = request.path_params.get("type")
    res_id = request.path_params.get("id")
    if res_type:
        engine.require_type(res_type)
    q = request.query_params
    unknown = set(q.keys()) - KNOWN
    if unknown and not context(request).lenient:
        raise bad_request(f"Unknown history parameter(s): {', '.join(sorted(unknown))}")
    count = _count(q.get("_count"), engine.settings)
    since = _instant(q.get("_since"), "_since")
    at = _range(q.get("_at"), "_at")
    cursor = _cursor(q.get("_cursor"))

    ctx = context(request)
    guard = engine.guard

    def work(s):
        if res_id:
            current = s.read(res_type, res_id)
            if current is None:
                raise not_found(f"{res_type}/{res_id} is not known")
            # Security: the guard decides on the resource as it is now
            body = orjson.loads(current.content) if current.content is not None else None
            guard.authorize(ctx, Access(HISTORY, res_type, res_id, body))
        else:
            guard.authorize(ctx, Access(HISTORY, res_type))
        found = s.history(res_type, res_id, since=since, at=at, before=cursor, count=count + 1)
        more = len(found) > count
        found = found[:count]
        edge = found[-1] if found else None  # the page's last version, even if hidden below
        if not isinstance(guard, OpenGuard):  # Security: only versions the subject may see
            found = [v for v in found if _visible(guard, ctx, v, bool(res_id))]
        return found, more, edge, _currents(engine, s, found)

    versions, has_next, edge, currents = await in_session(request, work)
    path = "/".join(p for p in (res_type, res_id, "_history") if p)
    base_params = [(k, v) for k, v in q.multi_items() if k in KNOWN and k != "_cursor"]
    links = [link("self", page_url(ctx.base_url, path, list(q.multi_items())))]
    if has_next and edge is not None:
        nxt = [*base_params, ("_cursor", f"{edge.last_updated}.{edge.history_pk}")]
        links.append(link("next", page_url(ctx.base_url, path, nxt)))
    total = len(versions) if cursor is None and not has_next else None  # after the guard
    presenter = _presenter(engine, ctx, currents)
    bundle = history_bundle(ctx.base_url, versions, links, total, presenter)
    return fhir_response(request, bundle)


def _currents(engine, s, versions) -> dict:  # noqa: ANN001
    """The current version (None: gone) of each resource of the page whose type has
    past-version hooks, read in one statement a type."""
    wanted: dict[str, set[str]] = {}
    for v in versions:
        if v.content is not None and v.res_type in engine.hooks.past_output:
            wanted.setdefault(v.res_type, set()).add(v.res_id)
    out = {}
    for res_type, ids in wanted.items():
        found = s.read_many(res_type, sorted(ids))
        out.update({(res_type, i): found.get(i) for i in ids})
    return out


def _presenter(engine, ctx, currents: dict):  # noqa: ANN001, ANN202
    """Output hooks (e.g. the INS outgoing rule) apply to history entries too; a version
    that is no longer the current one goes through the past-version hooks first."""

    def present(version):  # noqa: ANN001, ANN202
        if version.content is None:
            return None
        key = (version.res_type, version.res_id)
        if key in currents and (currents[key] is None or currents[key].version != version.version):
            now = currents[key]
            current = orjson.loads(now.content) if now is not None and now.content else None
            resource = engine.hooks.past(ctx, orjson.loads(version.content), current)
            return engine.hooks.present(ctx, resource)
        if not engine.hooks.reshapes(version.res_type, version.content):
            return None  # served as stored
        return engine.hooks.present(ctx, orjson.loads(version.content))

    return present


def _visible(guard, ctx, version, instance: bool) -> bool:  # noqa: ANN001
    """A version may be listed if the guard lets the subject see it; a deletion (no
    content) of an instance already authorised is shown, elsewhere only to subjects the
    guard lets see the bare type/id."""
    if version.content is None:
        stub = {"resourceType": version.res_type, "id": version.res_id}
        return instance or guard.visible(ctx, stub)
    return guard.visible(ctx, orjson.loads(version.content))


def _count(raw: str | None, settings) -> int:
    if raw is None:
        return settings.default_count
    if not raw.isdigit():
        raise bad_request(f"_count must be a non-negative integer, got {raw!r}", "_count")
    return max(1, min(int(raw), settings.max_count))


def _instant(raw: str | None, name: str) -> int | None:
    rng = _range(raw, name)
    return rng[0] if rng else None


def _range(raw: str | None, name: str) -> tuple[int, int] | None:
    if raw is None:
        return None
    try:
        low, high, _precision = parse_range(raw)
    except ValueError as exc:
        raise bad_request(f"{name}: {exc}", name) from exc
    return low, high


def _cursor(raw: str | None) -> tuple[int, int] | None:
    if raw is None:
        return None
    stamp, _, pk = raw.partition(".")
    if not (stamp.lstrip("-").isdigit() and pk.isdigit()) or len(stamp) > 19 or len(pk) > 18:
        raise bad_request(f"Invalid _cursor {raw!r}", "_cursor")
    return int(stamp), int(pk)
