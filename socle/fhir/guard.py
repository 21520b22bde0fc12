"""The kernel's access-control seam: every interaction asks the guard, nothing else decides.

The kernel only defines the questions and calls them at the right places (REST, search,
includes, history, operations, bundles). The answers come from one implementation,
installed by the security module (`socle.security`), which owns authentication, the
access-policy engine, consent and audit. Without it (`--auth none`, loopback only),
`OpenGuard` allows everything and records nothing.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from socle.fhir.errors import FhirError

if TYPE_CHECKING:
    from socle.fhir.context import RequestContext
    from socle.fhir.storage.store import StoreSession

# Actions, in the vocabulary of SMART scopes (c r u d s) plus history and operations.
CREATE, READ, UPDATE, DELETE, SEARCH = "create", "read", "update", "delete", "search"
HISTORY, OPERATION = "history", "operation"

# The request being served in this context (set by the REST layer around each guarded
# endpoint; worker threads inherit it). Layers that only see a store session (the
# security's audit at commit) find their request through it.
current_request: ContextVar[RequestContext | None] = ContextVar("fhir_request", default=None)
REQUEST_ACCESS = "fhir.request_access"  # ctx.extras: the Access describing the request


class AuditFailed(FhirError):
    """The audit trail could not be written, so the request was refused (and rolled back)."""

    def __init__(self) -> None:
        super().__init__(
            503,
            "transient",
            "The audit trail is unavailable: the request was refused and nothing was changed; "
            "retry later",
            headers={"Retry-After": "30"},
        )


@dataclass(slots=True, frozen=True)
class Access:
    """What an interaction is about to do, as the guard sees it."""

    action: str
    res_type: str | None
    res_id: str | None = None
    resource: dict[str, Any] | None = None  # the stored resource (read) or the new one (write)
    operation: str | None = None


class Guard(Protocol):
    """Decides and records. Raising FhirError (403, or 404 to hide existence) refuses."""

    # Whether an update must also be authorised against the content it replaces (the
    # subject changes what is there, not only what it writes): the store then reads that
    # content when the transaction does not hold it already.
    checks_replaced: bool
    # Whether the REST layer hands each interaction to the guard as a whole (`Access` in
    # the request's context, `record` of its outcome): the guard keeps an audit trail.
    audits: bool

    def authorize(self, ctx: RequestContext, access: Access) -> None: ...

    def search_criteria(self, ctx: RequestContext, res_type: str | None) -> list[tuple[str, str]]:
        """Extra search criteria the subject is confined to (e.g. its own compartment)."""
        ...

    def visible(self, ctx: RequestContext, resource: dict[str, Any]) -> bool:
        """Whether a resource may appear in a result (search, include, history, bundle)."""
        ...

    def check_query(self, ctx: RequestContext, res_type: str | None, criteria: list) -> None:
        """Refuse parsed search criteria that look into other resources the subject may
        not see (chains, `_has`, `_list`): their matches would reveal them."""
        ...

    def record(self, ctx: RequestContext, access: Access, outcome: int) -> None:
        """Audit an access and its HTTP outcome; must raise if the trail cannot be written."""
        ...

    def audit_event(self, event: Any, session: StoreSession | None = None) -> bool:
        """Write an audit entry of work outside the FHIR interactions (a login, an HL7
        message), in `session`'s transaction when given. False when the guard keeps no
        trail (nothing written); must raise if the trail cannot be written."""
        ...


def guard_flag(guard: Any, name: str) -> bool:
    """One of the guard's flags (`checks_replaced`, `audits`); a guard written before the
    flag existed does not say, and gets the safe answer: yes (its content is checked, its
    interactions are recorded)."""
    return bool(getattr(guard, name, True))


class OpenGuard:
    """No authentication: everything is allowed (development on loopback only)."""

    checks_replaced = False
    audits = False

    def authorize(self, ctx: RequestContext, access: Access) -> None:
        return None

    def search_criteria(self, ctx: RequestContext, res_type: str | None) -> list[tuple[str, str]]:
        return []

    def visible(self, ctx: RequestContext, resource: dict[str, Any]) -> bool:
        return True

    def check_query(self, ctx: RequestContext, res_type: str | None, criteria: list) -> None:
        return None

    def record(self, ctx: RequestContext, access: Access, outcome: int) -> None:
        return None

    def audit_event(self, event: Any, session: StoreSession | None = None) -> bool:
        return False
