"""INS service tables: identity matching index, its sync state, reference identity registry

Owned by `socle.ins` (see `socle/ins/tables.py`). The identity index is rebuilt from
Patient history on demand (`socle ins reindex`), so no data migration is needed.

Revision ID: 0004
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ins_identity",
        sa.Column("pk", PK, primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("patient_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("attributes", sa.String(32), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("ins", sa.String(32), nullable=True),
        sa.Column("family", sa.String(200), nullable=False),
        sa.Column("used_family", sa.String(200), nullable=False),
        sa.Column("given", sa.String(200), nullable=False),
        sa.Column("family_key", sa.String(64), nullable=False),
        sa.Column("given_key", sa.String(64), nullable=False),
        sa.Column("birth_date", sa.String(10), nullable=False),
        sa.Column("sex", sa.String(8), nullable=False),
        sa.Column("birthplace", sa.String(5), nullable=False),
        sa.UniqueConstraint("tenant", "patient_id", name="uq_ins_identity_patient"),
    )
    op.create_index("ix_ins_identity_birth", "ins_identity", ["tenant", "birth_date"])
    op.create_index(
        "ix_ins_identity_names", "ins_identity", ["tenant", "family_key", "given_key"]
    )
    op.create_index("ix_ins_identity_ins", "ins_identity", ["tenant", "ins"])
    op.create_table(
        "ins_sync",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("watermark", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "ins_registry",
        sa.Column("pk", PK, primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("matricule", sa.String(15), nullable=False),
        sa.Column("oid", sa.String(64), nullable=False),
        sa.Column("family", sa.String(200), nullable=False),
        sa.Column("given", sa.String(200), nullable=False),
        sa.Column("birth_date", sa.String(10), nullable=False),
        sa.Column("sex", sa.String(8), nullable=False),
        sa.Column("birthplace", sa.String(5), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
    )
    op.create_index("ix_ins_registry_traits", "ins_registry", ["tenant", "birth_date", "sex"])
    op.create_table(
        "ins_registry_key",
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("value", sa.String(15), nullable=False),
        sa.Column("registry_pk", PK, nullable=False),
    )
    op.create_index("ix_ins_registry_key", "ins_registry_key", ["tenant", "kind", "value"])


def downgrade() -> None:
    op.drop_index("ix_ins_registry_key", table_name="ins_registry_key")
    op.drop_table("ins_registry_key")
    op.drop_index("ix_ins_registry_traits", table_name="ins_registry")
    op.drop_table("ins_registry")
    op.drop_table("ins_sync")
    op.drop_index("ix_ins_identity_ins", table_name="ins_identity")
    op.drop_index("ix_ins_identity_names", table_name="ins_identity")
    op.drop_index("ix_ins_identity_birth", table_name="ins_identity")
    op.drop_table("ins_identity")
