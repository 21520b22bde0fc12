"""security: security_revoked, the revoked sessions and access tokens

Owned by `socle.security` (see `socle/security/tables.py` and `revocation.py`). A logout
revokes its session (`sid`): every access token of that session is refused on the next
request. RFC 7009 revocation of an access token revokes its `jti`. Rows expire with the
tokens they refuse.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "security_revoked",
        sa.Column("kind", sa.String(8), primary_key=True),
        sa.Column("value", sa.String(128), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("expires", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_security_revoked_expires", "security_revoked", ["expires"])


def downgrade() -> None:
    op.drop_index("ix_security_revoked_expires", table_name="security_revoked")
    op.drop_table("security_revoked")
