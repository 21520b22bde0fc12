"""Request contexts the INS service derives from its caller's."""

from __future__ import annotations

import dataclasses

from socle.fhir.context import RequestContext


def server_context(ctx: RequestContext) -> RequestContext:
    """The server's own records of an operation (Provenance, AuditEvent) are written by
    the server, not by the caller, whose rights were checked on the operation itself."""
    return dataclasses.replace(ctx, extras={**ctx.extras, "socle.internal": True})
