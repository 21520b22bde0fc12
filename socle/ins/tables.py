"""Tables owned by the INS service (created by migration 0004_ins).

* ``ins_identity``: one row per Patient of a tenant, the identity in comparison forms and
  phonetic keys: the blocking index that identity matching, duplicate and collision
  detection run on (kept apart from the generic ``idx_*`` tables because its keys are
  French-specific: phonetic codes, day/month inversions).
* ``ins_sync``: per tenant, how far ``ins_identity`` has caught up with Patient history.
* ``ins_registry`` / ``ins_registry_key``: the reference identity registry, stand-in for
  the national SNGI/RNIPP behind the INSi teleservice, with its lookup keys (current and
  former matricules, Carte Vitale holder numbers).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from socle.fhir.storage.schema import PK  # the one auto-increment key type

metadata = MetaData()

ins_identity = Table(
    "ins_identity",
    metadata,
    Column("pk", PK, primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("patient_id", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("status", String(8), nullable=False),
    Column("attributes", String(32), nullable=False, default=""),
    Column("active", Boolean, nullable=False),
    Column("ins", String(32)),
    Column("family", String(200), nullable=False),  # comparison form of the birth name
    Column("used_family", String(200), nullable=False),
    Column("given", String(200), nullable=False),  # comparison form of the first names
    Column("family_key", String(64), nullable=False),  # phonetic key of the birth name
    Column("given_key", String(64), nullable=False),  # phonetic key of the first name
    Column("birth_date", String(10), nullable=False),
    Column("sex", String(8), nullable=False),
    Column("birthplace", String(5), nullable=False),
    UniqueConstraint("tenant", "patient_id", name="uq_ins_identity_patient"),
    Index("ix_ins_identity_birth", "tenant", "birth_date"),
    Index("ix_ins_identity_names", "tenant", "family_key", "given_key"),
    Index("ix_ins_identity_ins", "tenant", "ins"),
)

ins_sync = Table(
    "ins_sync",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("watermark", BigInteger, nullable=False),  # Patient last_updated, µs
)

ins_registry = Table(
    "ins_registry",
    metadata,
    Column("pk", PK, primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("matricule", String(15), nullable=False),
    Column("oid", String(64), nullable=False),
    Column("family", String(200), nullable=False),  # comparison form
    Column("given", String(200), nullable=False),  # comparison form of the list
    Column("birth_date", String(10), nullable=False),
    Column("sex", String(8), nullable=False),
    Column("birthplace", String(5), nullable=False),
    Column("content", Text, nullable=False),  # the identity as loaded (JSON)
    Index("ix_ins_registry_traits", "tenant", "birth_date", "sex"),
)

ins_registry_key = Table(
    "ins_registry_key",
    metadata,
    Column("tenant", String(64), nullable=False),
    Column("kind", String(8), nullable=False),  # current, former, cv
    Column("value", String(15), nullable=False),
    Column("registry_pk", PK, nullable=False),
    Index("ix_ins_registry_key", "tenant", "kind", "value"),
)
