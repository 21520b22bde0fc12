"""Revoked sessions and access tokens, checked on every request.

Access tokens are self-contained JWTs, valid until `exp`; a logout or an RFC 7009
revocation must still stop them at once. The embedded provider records what it revokes
in `security_revoked`: a session id (`sid`, every token of a login session) or a token
id (`jti`). Each worker keeps the unexpired rows in memory as two sets; the per-request
check is a set lookup plus one `stat()` of `$SOCLE_DATA_DIR/security.revocations`,
whose mtime the revoking worker bumps so that the others reload at once. Servers that
share the database but not the data directory reload at least every `max_age` seconds.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select

from socle.security import tables as T

SID, JTI = "sid", "jti"


class Revocations:
    """The revocation list of one process (thread-safe)."""

    def __init__(self, db: Engine, data_dir: Path, max_age: float = 1.0) -> None:
        self.db = db
        self.path = Path(data_dir) / "security.revocations"
        self.max_age = max_age
        self._sids: frozenset[str] = frozenset()
        self._jtis: frozenset[str] = frozenset()
        self._stamp: int | None = None
        self._loaded = float("-inf")
        self._lock = threading.Lock()
        if not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.touch()

    # -- checking (hot path) --------------------------------------------------------------

    def stale(self) -> bool:
        """Whether the in-memory list must be reloaded before it can be trusted."""
        if time.monotonic() - self._loaded > self.max_age:
            return True
        return self._mtime() != self._stamp

    def is_revoked(self, session_id: str | None, token_id: str | None) -> bool:
        """Whether a token (by its `sid` and `jti`) was revoked; call `refresh` if stale."""
        return (session_id is not None and session_id in self._sids) or (
            token_id is not None and token_id in self._jtis
        )

    def refresh(self) -> None:
        """Reload the unexpired revocations (a small indexed query)."""
        stamp = self._mtime()
        now = int(time.time())
        with self.db.connect() as conn:
            rows = conn.execute(
                select(T.security_revoked.c.kind, T.security_revoked.c.value).where(
                    T.security_revoked.c.expires > now
                )
            ).all()
        with self._lock:
            self._sids = frozenset(r.value for r in rows if r.kind == SID)
            self._jtis = frozenset(r.value for r in rows if r.kind == JTI)
            self._stamp = stamp
            self._loaded = time.monotonic()

    # -- revoking --------------------------------------------------------------------------

    def revoke(self, tenant: str, kind: str, value: str, expires: int) -> None:
        """Record a revocation, then tell every worker (after the commit, so they see it)."""
        with self.db.begin() as conn:
            self._insert(conn, tenant, kind, value, expires)
        with self._lock:
            if kind == SID:
                self._sids = self._sids | {value}
            else:
                self._jtis = self._jtis | {value}
        self._bump()

    @staticmethod
    def _insert(conn: Connection, tenant: str, kind: str, value: str, expires: int) -> None:
        table = T.security_revoked
        conn.execute(delete(table).where(table.c.expires <= int(time.time())))
        exists = conn.execute(
            select(table.c.expires).where(table.c.kind == kind, table.c.value == value)
        ).first()
        if exists is None:
            row: dict[str, Any] = {
                "kind": kind,
                "value": value[:128],
                "tenant": tenant,
                "expires": expires,
            }
            conn.execute(insert(table).values(**row))

    def _mtime(self) -> int:
        try:
            return os.stat(self.path).st_mtime_ns
        except OSError:
            return 0

    def _bump(self) -> None:
        try:
            now = time.time_ns()
            os.utime(self.path, ns=(now, now))
        except OSError:
            pass


__all__ = ["Revocations", "SID", "JTI"]
