"""The write hook: RNIV rules on every Patient written directly (REST, Bundles, loader).

Only Patients under identity vigilance (carrying an identity reliability or RNIV status
extension) are checked; others are left alone. The hook refuses (422) an invalid INS
matricule, a douteuse/fictive identity claiming a validated status, missing mandatory
traits for VALI/QUAL, and an upgrade without its evidence; it downgrades (in place, RNIV)
an identity whose strict trait was modified. The INS operations set a context flag and
are not checked twice.

It runs in the writer's transaction (`engine.hooks.write`): the version being
replaced is read there, so a Bundle that writes one Patient twice compares each write
with the previous one, and no second connection is taken while the writer holds locks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from socle.ins import model as M
from socle.ins import status as S
from socle.ins.service import OP_FLAG

if TYPE_CHECKING:
    from socle.fhir.context import RequestContext
    from socle.fhir.engine import FhirEngine
    from socle.fhir.storage.store import StoreSession


def _previous(s: StoreSession, resource: dict[str, Any]) -> M.Identity | None:
    """The identity of the version being replaced, if it was under identity vigilance."""
    stored = s.read("Patient", resource["id"])
    if stored is None or stored.content is None:
        return None
    previous = orjson.loads(stored.content)
    return M.read_identity(previous) if M.is_managed(previous) else None


def make_write_hook(engine: FhirEngine):  # noqa: ARG001 - same factory shape as the others
    """The write hook applying the RNIV rules to direct writes."""

    def ins_write_hook(
        s: StoreSession, ctx: RequestContext, resource: dict[str, Any], created: bool
    ) -> None:
        if resource.get("resourceType") != "Patient" or ctx.extras.get(OP_FLAG):
            return
        if not M.is_managed(resource):
            return
        new = M.read_identity(resource)
        old = _previous(s, resource) if not created and resource.get("id") else None
        result, event = S.check_direct_write(old, new)
        if event is not None:
            rewritten = M.write_identity(resource, result)
            resource.clear()
            resource.update(rewritten)

    return ins_write_hook
