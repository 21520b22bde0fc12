"""composite search index (idx_composite), partial indexes of interval numbers/quantities

One row per component value of a composite search parameter; the components of one
combination share (resource_pk, grp). See `socle.fhir.storage.schema.idx_composite`.
The partial indexes serve the interval comparisons of Ranges and comparators
(`socle.fhir.storage.schema.INTERVAL_ROWS`).

Resources stored before this revision have no composite rows: composite searches find
them once they are written again (or reindexed).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
KEY = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")
INTERVAL_ROWS = {
    "postgresql_where": sa.text("low = value OR low = '-Infinity' OR high = 'Infinity'"),
    "sqlite_where": sa.text("low = value OR low = -9e999 OR high = 9e999"),
}


def upgrade() -> None:
    op.create_table(
        "idx_composite",
        sa.Column("resource_pk", PK, nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("res_type", sa.String(length=64), nullable=False),
        sa.Column("param", sa.String(length=100), nullable=False),
        sa.Column("grp", sa.Integer(), nullable=False),
        sa.Column("pos", sa.SmallInteger(), nullable=False),
        sa.Column("system", KEY, nullable=True),
        sa.Column("code", KEY, nullable=True),
        sa.Column("str_value", KEY, nullable=True),
        sa.Column("exact", sa.Text(), nullable=True),
        sa.Column("num_value", sa.Float(), nullable=True),
        sa.Column("num_low", sa.Float(), nullable=True),
        sa.Column("num_high", sa.Float(), nullable=True),
        sa.Column("unit", sa.Text(), nullable=True),
        sa.Column("canonical_code", sa.Text(), nullable=True),
        sa.Column("canonical_value", sa.Float(), nullable=True),
        sa.Column("date_low", sa.BigInteger(), nullable=True),
        sa.Column("date_high", sa.BigInteger(), nullable=True),
        sa.Column("target_type", sa.String(length=64), nullable=True),
        sa.Column("target_id", sa.String(length=64), nullable=True),
        sa.Column("url", KEY, nullable=True),
        sa.Column("version", sa.String(length=64), nullable=True),
        sa.Column("uri", KEY, nullable=True),
    )
    op.create_index(
        "ix_idx_composite_0",
        "idx_composite",
        ["tenant", "res_type", "param", "pos", "code", "system"],
    )
    op.create_index("ix_idx_composite_resource", "idx_composite", ["resource_pk", "grp", "pos"])
    op.create_index(
        "ix_idx_number_interval", "idx_number", ["tenant", "res_type", "param"], **INTERVAL_ROWS
    )
    op.create_index(
        "ix_idx_quantity_interval",
        "idx_quantity",
        ["tenant", "res_type", "param", "canonical_code"],
        **INTERVAL_ROWS,
    )


def downgrade() -> None:
    op.drop_index("ix_idx_quantity_interval", table_name="idx_quantity")
    op.drop_index("ix_idx_number_interval", table_name="idx_number")
    op.drop_index("ix_idx_composite_resource", table_name="idx_composite")
    op.drop_index("ix_idx_composite_0", table_name="idx_composite")
    op.drop_table("idx_composite")
