"""The relational schema shared by the SQLite and PostgreSQL backends (SQLAlchemy Core).

`resource` holds one row per logical resource (its current version), `resource_version`
every version with its JSON (a tombstone has no content). The `idx_*` tables hold the
search-index rows of the *current* version of each resource; they are rewritten in the
same database transaction as the version. Every row carries its tenant.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData()

PK = BigInteger().with_variant(Integer, "sqlite")  # SQLite only autoincrements INTEGER
# Byte-wise ordering on PostgreSQL so prefix ranges (value >= 'ab' AND value < 'ac') are exact.
KEY = Text().with_variant(Text(collation="C"), "postgresql")


def _pk() -> Column:
    return Column("pk", PK, primary_key=True, autoincrement=True)


resource = Table(
    "resource",
    metadata,
    _pk(),
    Column("tenant", String(64), nullable=False),
    Column("res_type", String(64), nullable=False),
    Column("res_id", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("last_updated", BigInteger, nullable=False),  # µs since epoch, UTC
    Column("deleted", Boolean, nullable=False),
    UniqueConstraint("tenant", "res_type", "res_id", name="uq_resource_identity"),
    Index("ix_resource_type_updated", "tenant", "res_type", "last_updated"),
)

resource_version = Table(
    "resource_version",
    metadata,
    _pk(),
    Column("resource_pk", PK, nullable=False),
    Column("tenant", String(64), nullable=False),
    Column("res_type", String(64), nullable=False),
    Column("res_id", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("last_updated", BigInteger, nullable=False),
    Column("method", String(8), nullable=False),  # POST, PUT, PATCH, DELETE
    Column("content", LargeBinary, nullable=True),  # JSON bytes; NULL for a tombstone
    UniqueConstraint("resource_pk", "version", name="uq_version"),
    Index("ix_version_tenant_updated", "tenant", "last_updated"),
    Index("ix_version_type_updated", "tenant", "res_type", "last_updated"),
)


def _index_table(name: str, *columns: Column, indexes: tuple[tuple[str, ...], ...]) -> Table:
    """An index table: owner resource, tenant, type, parameter code, then the values."""
    table = Table(
        name,
        metadata,
        Column("resource_pk", PK, nullable=False),
        Column("tenant", String(64), nullable=False),
        Column("res_type", String(64), nullable=False),
        Column("param", String(100), nullable=False),
        *columns,
        Index(f"ix_{name}_resource", "resource_pk"),
    )
    for i, cols in enumerate(indexes):
        Index(f"ix_{name}_{i}", *(table.c[c] for c in cols))
    return table


idx_string = _index_table(
    "idx_string",
    Column("value", KEY, nullable=False),
    Column("exact", Text, nullable=False),
    indexes=(("tenant", "res_type", "param", "value"),),
)

idx_token = _index_table(
    "idx_token",
    Column("system", KEY),
    Column("code", KEY),
    Column("display", Text),
    Column("type_system", Text),
    Column("type_code", Text),
    indexes=(),
)
# A token criterion's rows in resource order, with their owner (migration 0006; 0008
# dropped the former ix_idx_token_0, its prefix): counting the matches of a common code
# (every body weight) is an index-only scan, a driving token criterion never reads the
# table, and a probe of one resource for a system|code is an index-only lookup.
Index(
    "ix_idx_token_pk",
    *(idx_token.c[c] for c in ("tenant", "res_type", "param", "code", "system", "resource_pk")),
)

# ``:contains`` on PostgreSQL: a trigram index (pg_trgm) answers ``value LIKE '%erri%'``
# without reading every value of the parameter (migration 0008, which skips it, with a
# warning, when the extension cannot be installed; the search then scans). SQLite has no
# equivalent here and scans the parameter's values.
TRIGRAM_INDEX = "ix_idx_string_trgm"
POSTGRESQL_ONLY = frozenset({TRIGRAM_INDEX})  # indexes other backends do not have
Index(
    TRIGRAM_INDEX,
    idx_string.c.value,
    postgresql_using="gin",
    postgresql_ops={"value": "gin_trgm_ops"},
).ddl_if(dialect="postgresql")

idx_date = _index_table(
    "idx_date",
    Column("low", BigInteger, nullable=False),
    Column("high", BigInteger, nullable=False),
    indexes=(("tenant", "res_type", "param", "low", "high"),),
)

idx_number = _index_table(
    "idx_number",
    Column("value", Float, nullable=False),
    Column("low", Float, nullable=False),
    Column("high", Float, nullable=False),
    indexes=(("tenant", "res_type", "param", "value"),),
)

idx_quantity = _index_table(
    "idx_quantity",
    Column("value", Float, nullable=False),
    Column("low", Float, nullable=False),
    Column("high", Float, nullable=False),
    Column("system", Text),
    Column("code", Text),
    Column("unit", Text),
    Column("canonical_code", Text),
    Column("canonical_value", Float),
    indexes=(
        ("tenant", "res_type", "param", "code", "value"),
        ("tenant", "res_type", "param", "canonical_code", "canonical_value"),
    ),
)

idx_reference = _index_table(
    "idx_reference",
    Column("target_type", String(64)),
    Column("target_id", String(64)),
    Column("url", KEY),
    Column("version", String(64)),
    indexes=(),
)
# The rows naming a target, with ``url`` (NULL for local references) and the owner's pk
# (migration 0009, in place of ix_idx_reference_0, its prefix): a ``_has`` probe
# (``_has:Observation:subject:…``: a patient's Observations) and a driving reference
# (``subject=Patient/1``) are index-only scans, with no read of the rows themselves.
Index(
    "ix_idx_reference_target",
    *(
        idx_reference.c[c]
        for c in ("tenant", "res_type", "param", "target_id", "target_type", "url", "resource_pk")
    ),
)
Index(
    "ix_idx_reference_1",
    idx_reference.c.tenant,
    idx_reference.c.target_type,
    idx_reference.c.target_id,
)
Index(
    "ix_idx_reference_2",
    idx_reference.c.tenant,
    idx_reference.c.res_type,
    idx_reference.c.param,
    idx_reference.c.url,
)

idx_uri = _index_table(
    "idx_uri",
    Column("uri", KEY, nullable=False),
    indexes=(("tenant", "res_type", "param", "uri"),),
)

# Composite parameters (``code-value-quantity=loinc|8480-6$gt100``): one row per
# *component value*, the components of one combination sharing (resource_pk, grp), with
# ``pos`` the component's position in the definition. Each component type fills its own
# columns (the others stay NULL), named apart where the simple tables clash (``value``
# is text for strings but a float for numbers). A search joins one alias per component
# on (resource_pk, grp): the first component is found through ix_idx_composite_0 (R4's
# composites all start with a token), the others by the (resource_pk, grp, pos) index,
# the same plan on SQLite and PostgreSQL whatever the number and types of components.
idx_composite = Table(
    "idx_composite",
    metadata,
    Column("resource_pk", PK, nullable=False),
    Column("tenant", String(64), nullable=False),
    Column("res_type", String(64), nullable=False),
    Column("param", String(100), nullable=False),
    Column("grp", Integer, nullable=False),  # combination number within the resource
    Column("pos", SmallInteger, nullable=False),  # component position, from 0
    Column("system", KEY),  # token and quantity
    Column("code", KEY),  # token and quantity
    Column("str_value", KEY),  # string (normalised)
    Column("exact", Text),  # string (as written)
    Column("num_value", Float),  # number and quantity
    Column("num_low", Float),
    Column("num_high", Float),
    Column("unit", Text),  # quantity
    Column("canonical_code", Text),
    Column("canonical_value", Float),
    Column("date_low", BigInteger),  # date
    Column("date_high", BigInteger),
    Column("target_type", String(64)),  # reference
    Column("target_id", String(64)),
    Column("url", KEY),
    Column("version", String(64)),
    Column("uri", KEY),  # uri
    Index("ix_idx_composite_0", "tenant", "res_type", "param", "pos", "code", "system"),
    Index("ix_idx_composite_resource", "resource_pk", "grp", "pos"),
)

# For each component type: the column names its search clause uses (those of its own
# idx_* table) -> the idx_composite column holding them.
COMPOSITE_COLUMNS: dict[str, dict[str, str]] = {
    "string": {"value": "str_value", "exact": "exact"},
    "token": {"system": "system", "code": "code"},
    "date": {"low": "date_low", "high": "date_high"},
    "number": {"value": "num_value", "low": "num_low", "high": "num_high"},
    "quantity": {
        "value": "num_value",
        "low": "num_low",
        "high": "num_high",
        "system": "system",
        "code": "code",
        "unit": "unit",
        "canonical_code": "canonical_code",
        "canonical_value": "canonical_value",
    },
    "reference": {
        "target_type": "target_type",
        "target_id": "target_id",
        "url": "url",
        "version": "version",
    },
    "uri": {"uri": "uri"},
}

# Number and quantity rows that are intervals (a Range, a comparator, an open end) are
# rare; the search compares them as intervals with terms like ``high = +inf``, which these
# partial indexes answer so that the OR with the plain ``value > x`` range stays indexed
# (BitmapOr on PostgreSQL, MULTI-INDEX OR on SQLite).
INTERVAL_ROWS = {
    "postgresql_where": text("low = value OR low = '-Infinity' OR high = 'Infinity'"),
    "sqlite_where": text("low = value OR low = -9e999 OR high = 9e999"),
}
Index(
    "ix_idx_number_interval",
    idx_number.c.tenant,
    idx_number.c.res_type,
    idx_number.c.param,
    **INTERVAL_ROWS,
)
Index(
    "ix_idx_quantity_interval",
    idx_quantity.c.tenant,
    idx_quantity.c.res_type,
    idx_quantity.c.param,
    idx_quantity.c.canonical_code,
    **INTERVAL_ROWS,
)

INDEX_TABLES = {
    "string": idx_string,
    "token": idx_token,
    "date": idx_date,
    "number": idx_number,
    "quantity": idx_quantity,
    "reference": idx_reference,
    "uri": idx_uri,
    "composite": idx_composite,
}
