"""The store as security sees it: which session a request runs in, and audit at commit.

`install()` wraps `engine.store` in a `TrackedStore`. It behaves exactly like the store,
with two additions:

* the session open in the current context is known (`current_session`), so that the
  policy information point reads with the caller's session instead of opening a second
  connection inside a write transaction (which would not see that transaction's own
  writes, and could starve a small connection pool);
* just before a write session commits, `before_commit` (the guard) may add rows to the
  same transaction: the request's AuditEvent. The write and its audit then commit or
  fail together: no audit, no write. `after_commit` tells the guard it happened.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from socle.fhir.storage.store import StoreSession


@dataclass
class SessionState:
    """What security needs to know about one open session."""

    write: bool
    dirty: bool = False  # it wrote facts the information point caches (uncommitted)


_CURRENT: ContextVar[tuple[Any, StoreSession, SessionState] | None] = ContextVar(
    "socle_store_session", default=None
)


def current_session(store: Any, tenant: str) -> tuple[StoreSession, SessionState] | None:
    """The innermost session of `store` open in this context for `tenant`, if any."""
    found = _CURRENT.get()
    if found is None or found[0] is not store or found[1].tenant != tenant:
        return None
    return found[1], found[2]


def mark_dirty() -> None:
    """The open session wrote facts: what is read through it must not be cached."""
    found = _CURRENT.get()
    if found is not None:
        found[2].dirty = True


class TrackedStore:
    """Delegates to the real store; tracks sessions and runs the commit hooks of writes."""

    def __init__(
        self,
        store: Any,
        before_commit: Callable[[StoreSession], Any],
        after_commit: Callable[[Any], None],
    ) -> None:
        self._store = store
        self._before_commit = before_commit
        self._after_commit = after_commit

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    @contextmanager
    def session(self, tenant: str, *, write: bool = False) -> Iterator[StoreSession]:
        """One transaction, as `ResourceStore.session`; a write also carries its audit."""
        state = SessionState(write)
        token_after = None
        with self._store.session(tenant, write=write) as s:
            token = _CURRENT.set((self, s, state))
            try:
                yield s
                if write:  # the audit entry, after the resources' rows (it flushes them)
                    token_after = self._before_commit(s)
            finally:
                _CURRENT.reset(token)
        if token_after is not None:
            self._after_commit(token_after)


__all__ = ["TrackedStore", "SessionState", "current_session", "mark_dirty"]
