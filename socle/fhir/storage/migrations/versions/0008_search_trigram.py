"""search: trigram index for ``:contains`` (PostgreSQL); ix_idx_token_0 dropped

``ix_idx_string_trgm``: a GIN index of pg_trgm on ``idx_string.value``, so that a
``:contains`` search (``value LIKE '%erri%'``) reads the rows holding the value's
trigrams instead of every value of the parameter (see docs/search-plans.md). pg_trgm is
a trusted extension: a database owner (or any role with CREATE on the database) may
install it. It goes into the ``public`` schema when it can, since an extension belongs
to the whole database (installed in the schema of one application, it would vanish with
that schema, and take the indexes of the others with it), else into the current schema.
When it cannot be installed at all, the migration logs a warning and skips the index:
``:contains`` then scans the parameter's values, slower but correct. Building it takes
≈ 1–2 s per million resources; on a large production database build it first without
blocking writes (``CREATE INDEX CONCURRENTLY ix_idx_string_trgm ON idx_string USING gin
(value gin_trgm_ops)``), and the migration then skips it.

``ix_idx_token_0`` (tenant, res_type, param, code, system) is a prefix of
``ix_idx_token_pk`` (migration 0006, now declared in `socle.fhir.storage.schema`): every
search it served is served by the longer index, so it only cost writes and space.

SQLite gets only the drop.

Revision ID: 0008
Revises: 0007
"""

import logging

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

log = logging.getLogger(__name__)

TRIGRAM_INDEX = "ix_idx_string_trgm"
TOKEN_0 = "ix_idx_token_0"
TOKEN_0_COLUMNS = ["tenant", "res_type", "param", "code", "system"]
_EXTENSION_SCHEMA = sa.text(
    "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
    " WHERE e.extname = 'pg_trgm'"
)


def upgrade() -> None:
    op.drop_index(TOKEN_0, table_name="idx_token", if_exists=True)
    if op.get_bind().dialect.name == "postgresql":
        _trigram_index(op.get_bind())


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index(TRIGRAM_INDEX, table_name="idx_string", if_exists=True)
    op.create_index(TOKEN_0, "idx_token", TOKEN_0_COLUMNS, if_not_exists=True)


def _trigram_index(conn: sa.Connection) -> None:
    """Create the GIN index, installing pg_trgm first when needed (or warn and skip)."""
    schema = _pg_trgm_schema(conn)
    if schema is None:
        log.warning(
            "pg_trgm could not be installed: %s not created, :contains searches will scan",
            TRIGRAM_INDEX,
        )
        return
    ops = f"{_quote(conn, schema)}.gin_trgm_ops"  # the extension may be off the search_path
    op.execute(f"CREATE INDEX IF NOT EXISTS {TRIGRAM_INDEX} ON idx_string USING gin (value {ops})")


def _pg_trgm_schema(conn: sa.Connection) -> str | None:
    """The schema of pg_trgm, installed into ``public`` or else the current schema."""
    found = conn.execute(_EXTENSION_SCHEMA).scalar()
    if found is not None:
        return str(found)
    for where in (" SCHEMA public", ""):
        try:
            with conn.begin_nested():  # a failure rolls back to here, not the migration
                conn.exec_driver_sql(f"CREATE EXTENSION IF NOT EXISTS pg_trgm{where}")
        except sa.exc.DBAPIError as exc:
            log.info("CREATE EXTENSION pg_trgm%s failed: %s", where, exc.orig)
            continue
        return conn.execute(_EXTENSION_SCHEMA).scalar()
    return None


def _quote(conn: sa.Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote_identifier(name)
