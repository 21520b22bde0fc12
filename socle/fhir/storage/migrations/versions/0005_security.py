"""security tables: hash-chained audit trail, checkpoints, embedded identity provider

Owned by `socle.security` (see `socle/security/tables.py`). The audit tables are
append-only by contract: `socle audit verify` detects any modification, deletion or
reordering of their rows.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("recorded", sa.BigInteger(), nullable=False),
        sa.Column("agent", sa.String(128), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("outcome", sa.Integer(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
    )
    op.create_index("ix_audit_log_tenant_agent", "audit_log", ["tenant", "agent", "seq"])
    op.create_table(
        "audit_patient",
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("patient", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_patient", "audit_patient", ["tenant", "patient", "seq"])
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_table(
        "audit_checkpoint",
        sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("recorded", sa.BigInteger(), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
    )
    op.create_table(
        "security_account",
        sa.Column("pk", PK, primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("username", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(256), nullable=True),
        sa.Column("pin_hash", sa.String(256), nullable=True),
        sa.Column("totp_secret", sa.String(64), nullable=True),
        sa.Column("attributes", sa.Text(), nullable=False),
        sa.Column("failed_count", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.BigInteger(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("tenant", "username", name="uq_security_account_username"),
    )
    op.create_table(
        "security_client",
        sa.Column("pk", PK, primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("client_id", sa.String(128), nullable=False),
        sa.Column("secret_hash", sa.String(256), nullable=True),
        sa.Column("metadata", sa.Text(), nullable=False),
        sa.UniqueConstraint("tenant", "client_id", name="uq_security_client_id"),
    )
    op.create_table(
        "security_code",
        sa.Column("code_hash", sa.String(64), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("client_id", sa.String(128), nullable=False),
        sa.Column("account_pk", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("expires", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "security_refresh",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("client_id", sa.String(128), nullable=False),
        sa.Column("account_pk", sa.BigInteger(), nullable=True),
        sa.Column("sid", sa.String(64), nullable=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("expires", sa.BigInteger(), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_security_refresh_sid", "security_refresh", ["tenant", "sid"])
    op.create_table(
        "security_session",
        sa.Column("sid_hash", sa.String(64), primary_key=True),
        sa.Column("sid", sa.String(64), nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("account_pk", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("expires", sa.BigInteger(), nullable=False),
        sa.Column("ended", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "security_break_glass",
        sa.Column("pk", PK, primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(128), nullable=False),
        sa.Column("patient", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("started", sa.BigInteger(), nullable=False),
        sa.Column("expires", sa.BigInteger(), nullable=False),
    )
    op.create_index(
        "ix_security_break_glass", "security_break_glass", ["tenant", "subject", "patient"]
    )


def downgrade() -> None:
    for name in (
        "security_break_glass",
        "security_session",
        "security_refresh",
        "security_code",
        "security_client",
        "security_account",
        "audit_checkpoint",
        "audit_head",
        "audit_patient",
        "audit_log",
    ):
        op.drop_table(name)
