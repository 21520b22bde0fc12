"""The write hook: RNIV rules on every Patient written directly (REST, Bundles, loader).

Only Patients under identity vigilance (carrying an identity reliability or RNIV status
extension) are checked; others are left alone. The hook refuses (422) an invalid INS
matricule, a douteuse/fictive identity claiming a validated status, missing mandatory
traits for VALI/QUAL, and an upgrade without its evidence; it downgrades (in place, RNIV)
an identity whose strict trait was modified. The INS operations set a context flag and
are not checked twice.

The engine gives the hook no storage session, so the previous version is read in a
separate read-only session (it sees the committed state, which is the version being
replaced).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from socle.ins import model as M
from socle.ins import status as S
from socle.ins.service import OP_FLAG

if TYPE_CHECKING:
    from socle.fhir.context import RequestContext
    from socle.fhir.engine import FhirEngine


def make_write_hook(engine: FhirEngine):
    def ins_write_hook(ctx: RequestContext, resource: dict[str, Any], created: bool) -> None:
        if resource.get("resourceType") != "Patient" or ctx.extras.get(OP_FLAG):
            return
        if not M.is_managed(resource):
            return
        new = M.read_identity(resource)
        old = None
        if not created and resource.get("id"):
            with engine.store.session(ctx.tenant) as s:
                stored = s.read("Patient", resource["id"])
            if stored is not None and stored.content is not None:
                import orjson

                previous = orjson.loads(stored.content)
                if M.is_managed(previous):
                    old = M.read_identity(previous)
        result, event = S.check_direct_write(old, new)
        if event is not None:
            rewritten = M.write_identity(resource, result)
            resource.clear()
            resource.update(rewritten)

    return ins_write_hook
