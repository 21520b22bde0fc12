"""search: ix_idx_token_pk, the token index with the owner's pk (index-only counts)

``ix_idx_token_0`` plus ``resource_pk`` as the last key column: the matches of a token
criterion in resource order straight from the index, so that counting them (the default
``_total=accurate`` of a first page) is an index-only scan rather than a read of every
matching row, and a driving token criterion never reads the table. Declared by
`socle.fhir.search.indexes` until `socle.fhir.storage.schema` takes it over (it then
makes ``ix_idx_token_0`` redundant). See docs/search-plans.md.

The index is built inside the migration's transaction, which blocks writes to idx_token
meanwhile (≈ 20 s per million resources on PostgreSQL here). On a large production
database build it first without blocking, then migrate (``IF NOT EXISTS`` skips it):
``CREATE INDEX CONCURRENTLY ix_idx_token_pk ON idx_token (tenant, res_type, param, code,
system, resource_pk)``. Index-only scans need the visibility map: autovacuum must be on.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

NAME = "ix_idx_token_pk"
COLUMNS = ["tenant", "res_type", "param", "code", "system", "resource_pk"]


def upgrade() -> None:
    op.create_index(NAME, "idx_token", COLUMNS, if_not_exists=True)


def downgrade() -> None:
    op.drop_index(NAME, table_name="idx_token")
