"""Tables owned by the security module (created by migration 0005_security).

Audit trail (append-only, hash-chained):
* ``audit_log``: one row per audit event; ``seq`` is dense and assigned by the writer,
  ``hash = sha256(prev_hash | seq | tenant | recorded | content)``, so a modified,
  deleted or reordered row breaks the chain at a known place.
* ``audit_patient``: which patients an event concerns (``AuditEvent?patient=``).
* ``audit_head``: the last (seq, hash), locked by each writer so appends are serialised.
* ``audit_checkpoint``: every N events, (seq, hash) signed with the server's Ed25519 key.

Embedded identity provider: accounts, clients, authorization codes, refresh tokens and
login sessions. Break-glass grants are kept here too (time-boxed emergency access).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from socle.fhir.storage.schema import PK  # the one auto-increment key type

metadata = MetaData()

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("tenant", String(64), nullable=False),
    Column("recorded", BigInteger, nullable=False),  # µs since epoch
    Column("agent", String(128), nullable=False),  # e.g. rpps:810001234567, ins:2..., client:x
    Column("action", String(32), nullable=False),  # read, search, create, login, denial…
    Column("outcome", Integer, nullable=False),  # HTTP status (or 0 for non-HTTP events)
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("content", LargeBinary, nullable=False),  # the AuditEvent, canonical JSON
    Index("ix_audit_log_tenant_agent", "tenant", "agent", "seq"),
)

audit_patient = Table(
    "audit_patient",
    metadata,
    Column("seq", BigInteger, nullable=False),
    Column("tenant", String(64), nullable=False),
    Column("patient", String(64), nullable=False),
    Index("ix_audit_patient", "tenant", "patient", "seq"),
)

audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)

audit_checkpoint = Table(
    "audit_checkpoint",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", String(64), nullable=False),
    Column("recorded", BigInteger, nullable=False),
    Column("signature", Text, nullable=False),  # compact JWS (EdDSA) over {seq, hash, recorded}
)

security_account = Table(
    "security_account",
    metadata,
    Column("pk", PK, primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("username", String(128), nullable=False),
    Column("kind", String(16), nullable=False),  # practitioner, patient, admin, secretary, related
    Column("password_hash", String(256)),
    Column("pin_hash", String(256)),  # simulated CPS card PIN (professionals)
    Column("totp_secret", String(64)),
    Column("attributes", Text, nullable=False),  # JSON: rpps, profession, fhir_user, ins…
    Column("failed_count", Integer, nullable=False, default=0),
    Column("locked_until", BigInteger, nullable=False, default=0),
    Column("disabled", Boolean, nullable=False, default=False),
    UniqueConstraint("tenant", "username", name="uq_security_account_username"),
)

security_client = Table(
    "security_client",
    metadata,
    Column("pk", PK, primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("client_id", String(128), nullable=False),
    Column("secret_hash", String(256)),  # None: public client (PKCE)
    Column("metadata", Text, nullable=False),  # JSON: redirect_uris, grant_types, scope, name
    UniqueConstraint("tenant", "client_id", name="uq_security_client_id"),
)

security_code = Table(
    "security_code",
    metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("client_id", String(128), nullable=False),
    Column("account_pk", BigInteger, nullable=False),
    Column("data", Text, nullable=False),  # JSON: redirect_uri, scope, nonce, PKCE, acr…
    Column("expires", BigInteger, nullable=False),
)

security_refresh = Table(
    "security_refresh",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("client_id", String(128), nullable=False),
    Column("account_pk", BigInteger),
    Column("sid", String(64)),
    Column("data", Text, nullable=False),  # JSON: scope, acr, amr, launch context
    Column("expires", BigInteger, nullable=False),
    Column("revoked", Boolean, nullable=False, default=False),
    Index("ix_security_refresh_sid", "tenant", "sid"),
)

security_session = Table(
    "security_session",
    metadata,
    Column("sid_hash", String(64), primary_key=True),
    Column("sid", String(64), nullable=False),  # public session id (the `sid` claim)
    Column("tenant", String(64), nullable=False),
    Column("account_pk", BigInteger, nullable=False),
    Column("data", Text, nullable=False),  # JSON: acr, amr, auth_time
    Column("expires", BigInteger, nullable=False),
    Column("ended", Boolean, nullable=False, default=False),
)

security_break_glass = Table(
    "security_break_glass",
    metadata,
    Column("pk", PK, primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("subject", String(128), nullable=False),
    Column("patient", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    Column("started", BigInteger, nullable=False),
    Column("expires", BigInteger, nullable=False),
    Index("ix_security_break_glass", "tenant", "subject", "patient"),
)

security_revoked = Table(  # migration 0007: revoked sessions (sid) and access tokens (jti)
    "security_revoked",
    metadata,
    Column("kind", String(8), primary_key=True),  # "sid" or "jti"
    Column("value", String(128), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("expires", BigInteger, nullable=False),  # epoch seconds: no token outlives it
    Index("ix_security_revoked_expires", "expires"),
)
