"""Indexes the query side needs besides those of `socle.fhir.storage.schema`.

Declared here on the storage tables (so that the schema module and the migrations agree,
see tests/fhir/search/test_time_limit_schema.py) and created by migration
``0006_search_indexes``; they belong in `schema.py` once the storage owner takes them.

``ix_idx_token_pk`` is ``ix_idx_token_0`` plus ``resource_pk``: a token criterion's rows
in resource order, with their owner, straight from the index. Counting the matches of an
unselective code (``Observation?code=<body weight>``: 140,000 rows per million
resources) becomes an index-only scan (``SELECT count(*) FROM (SELECT DISTINCT
resource_pk …)``: ≈ 25 ms instead of ≈ 200 ms on PostgreSQL, ≈ 10 ms instead of ≈ 160 ms
on SQLite), and a driving token criterion never reads the table. It makes
``ix_idx_token_0`` redundant (same leading columns); dropping that one when this index
moves into `schema.py` keeps the cost of writes where it was.
"""

from __future__ import annotations

from sqlalchemy import Index

from socle.fhir.storage import schema as S

TOKEN_PK = "ix_idx_token_pk"
TOKEN_PK_COLUMNS = ("tenant", "res_type", "param", "code", "system", "resource_pk")


def _declare() -> None:
    if any(index.name == TOKEN_PK for index in S.idx_token.indexes):
        return  # already declared (by schema.py, once it takes it over)
    Index(TOKEN_PK, *(S.idx_token.c[c] for c in TOKEN_PK_COLUMNS))


_declare()
