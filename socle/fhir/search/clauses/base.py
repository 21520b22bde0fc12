"""Building blocks shared by the per-type clauses.

Every criterion compiles to a boolean SQL expression about an *owner* alias of the
`resource` table, in one of two shapes chosen by the engine (`socle.fhir.search.plan`):

- the **driving** criterion (the one expected to match fewest resources) is an
  uncorrelated semi-join, ``owner.pk IN (SELECT resource_pk FROM idx_… WHERE …)``, which
  both planners answer from the ``(tenant, res_type, param, value…)`` indexes;
- every other criterion is a correlated ``EXISTS (SELECT 1 FROM idx_… t WHERE
  t.resource_pk = owner.pk AND …)``, a probe of the owner's own rows through
  ``ix_idx_*_resource``. SQLite would otherwise materialise the list of every ``IN``
  (all the body weights of the database for ``code=29463-7``) before intersecting them.
  The probe leaves out ``tenant``/``res_type`` (implied by the owner) so that the
  per-resource index is the only usable one, and on PostgreSQL it is kept from being
  turned into a join (``OFFSET 0``, see `correlated`), so that both backends run the
  plan the engine chose.

Negations (``:not``, ``:missing=true``) are a correlated ``NOT EXISTS`` (an anti-join)
because ``NOT IN`` plans badly on PostgreSQL.

Table aliases come from `Aliases`: within one statement every use of a table gets its
own alias (so SQLAlchemy's auto-correlation never confuses an inner ``resource`` with the
owner), but the alias objects themselves are built once per process and reused, since
building one (and its column collection) was a large share of the CPU of a search.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    String,
    and_,
    any_,
    bindparam,
    exists,
    func,
    literal,
    literal_column,
    select,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.expression import FromClause

from socle.fhir.search.values import next_prefix

_SHORT = {
    "resource": "r",
    "idx_string": "s",
    "idx_token": "t",
    "idx_date": "d",
    "idx_number": "n",
    "idx_quantity": "q",
    "idx_reference": "ref",
    "idx_uri": "u",
    "idx_composite": "c",
}
_ALIASES: dict[tuple[str, int], FromClause] = {}
_ALIASES_LOCK = threading.Lock()


def cached_alias(table: Any, number: int) -> FromClause:
    """The process-wide alias number `number` of `table` (``t0``, ``t1``… for idx_token)."""
    key = (table.name, number)
    alias = _ALIASES.get(key)
    if alias is None:
        with _ALIASES_LOCK:
            alias = _ALIASES.get(key)
            if alias is None:
                alias = table.alias(f"{_SHORT.get(table.name, table.name)}{number}")
                _ = alias.c  # build the column collection now, once
                _ALIASES[key] = alias
    return alias


class Aliases:
    """Hands out distinct cached aliases for the tables of one statement."""

    __slots__ = ("_next",)

    def __init__(self) -> None:
        self._next: dict[str, int] = {}

    def take(self, table: Any) -> FromClause:
        number = self._next.get(table.name, 0)
        self._next[table.name] = number + 1
        return cached_alias(table, number)


@dataclass(frozen=True, slots=True)
class Scope:
    """What every clause needs besides the criterion: the session's tenant, the SQL
    dialect (``sqlite``/``postgresql``), the alias allocator of the statement, whether
    the database has the trigram index of ``:contains`` (`trigram`), the ``_has``
    criteria the engine chose to probe against a hashed set (`hashed`, see
    `socle.fhir.search.chain`), whether the driver holds the pk-only probes
    (`pushed`, see `socle.fhir.search.engine`), and whether the owner is reached only
    through its pk from a small driver (`by_pk`, see `owner_rows`)."""

    tenant: str
    dialect: str = "sqlite"
    aliases: Aliases = field(default_factory=Aliases, compare=False)
    trigram: bool = False
    hashed: frozenset[int] = frozenset()  # ids of the `_has` probed against a hashed set
    pushed: bool = False  # PostgreSQL: pk-only probes filter the driver's rows (engine)
    by_pk: bool = False  # PostgreSQL: the owner's rows come from a small driver's pks

    def alias(self, table: Any) -> FromClause:
        return self.aliases.take(table)

    def fresh(self) -> Scope:
        """The same scope for a new statement (aliases numbered from 0 again)."""
        return replace(self, aliases=Aliases())

    @property
    def postgres(self) -> bool:
        return self.dialect == "postgresql"


def in_types(column: Any, types: Sequence[str] | None) -> list[ColumnElement[bool]]:
    """``column = t`` / ``column IN (...)`` / nothing for 'any type'."""
    if types is None:
        return []
    if len(types) == 1:
        return [column == types[0]]
    return [column.in_(list(types))]


def index_rows(
    table: FromClause, scope: Scope, types: Sequence[str] | None, code: str
) -> list[ColumnElement[bool]]:
    """The rows of one parameter, in the column order of the composite indexes."""
    return [
        table.c.tenant == scope.tenant,
        *in_types(table.c.res_type, types),
        table.c.param == code,
    ]


def owner_rows(
    owner: FromClause, scope: Scope, types: Sequence[str] | None, by_pk: bool = False
) -> list[ColumnElement[bool]]:
    """The owner's tenant and type (``r0.tenant = :t AND r0.res_type = :type``).

    `by_pk` (PostgreSQL, a driver known to be small, `Scope.by_pk`): both are compared
    as expressions (``r0.tenant || ''``), which no index of `resource` serves, so that
    the owner's rows are only read through the primary key, from the driver's pks. On
    tables without statistics (a database loaded and searched before autovacuum has
    analysed it) PostgreSQL takes ``tenant = :t AND res_type = :type`` for one row
    (two default selectivities of 0.005), starts a nested loop from
    ``ix_resource_type_updated`` and runs the driver again for every resource of the
    type: ``Observation?subject=Patient/x&code=…`` at 100,000 resources re-read the
    patient's references and probed their codes for each of the 57,000 Observations
    (517,000 probes, 1.9 s; 10 s under the mixed CRUD benchmark), instead of 9 probes
    and 2 lookups (0.2 ms). With statistics the plan is the one PostgreSQL already
    chose (the driver, then ``resource_pkey``). `trigram_rows` uses the same device.
    """
    if not by_pk:
        return [owner.c.tenant == scope.tenant, *in_types(owner.c.res_type, types)]
    opaque = literal_column("''", String)
    return [owner.c.tenant + opaque == scope.tenant, *in_types(owner.c.res_type + opaque, types)]


def trigram_rows(
    table: FromClause, scope: Scope, types: Sequence[str] | None, code: str
) -> list[ColumnElement[bool]]:
    """`index_rows` for a ``:contains`` that the trigram index answers (PostgreSQL).

    The type and the code are compared as expressions (``res_type || ''``), which no
    B-tree serves: otherwise PostgreSQL, which prices the random heap reads of a bitmap
    scan high, reads every value of the parameter from ``(tenant, res_type, param,
    value)`` (164,000 Patient names at 1M resources), or ANDs that whole range with the
    trigram bitmap; this way it reads the rows holding the value's trigrams and filters
    them (``name:contains=erri`` at 1M resources: backend CPU 17 → 9 ms per statement;
    docs/search-plans.md).
    """
    opaque = literal_column("''", String)
    return [
        table.c.tenant == scope.tenant,
        *in_types(table.c.res_type + opaque, types),
        table.c.param + opaque == code,
    ]


def probe_rows(
    table: FromClause, owner: FromClause, scope: Scope, types: Sequence[str] | None, code: str
) -> list[ColumnElement[bool]]:
    """The owner's rows of one parameter, for a correlated (NOT) EXISTS.

    Only ``resource_pk`` and ``param`` (the owner's tenant and type imply the rest), so
    that the per-resource index ``ix_idx_*_resource`` is the only one either planner can
    pick for the probe.
    """
    return [table.c.resource_pk == owner.c.pk, table.c.param == code]


def correlated(scope: Scope, conditions: Iterable[ColumnElement[bool]], *tables: FromClause) -> Any:
    """``EXISTS (SELECT 1 FROM tables WHERE conditions)``, probed once per owner.

    On PostgreSQL the subquery ends with ``OFFSET 0``, which keeps the planner from
    pulling it up into a join that it could reorder: with the skewed, correlated columns
    of the index tables its estimates are often off by orders of magnitude (a family
    name estimated at 1 row has 900), and a reordered plan can start from the least
    selective criterion. The probe is an index lookup per candidate instead.
    """
    query = select(literal(1))
    for table in tables:
        query = query.select_from(table)
    query = query.where(*conditions)
    if scope.postgres:
        query = query.offset(0)
    return exists(query)


def owned_by(
    owner: FromClause,
    table: FromClause,
    scope: Scope,
    types: Sequence[str] | None,
    code: str,
    conditions: Iterable[ColumnElement[bool]],
    drive: bool,
) -> ColumnElement[bool]:
    """At least one index row of `owner` for `code` meets `conditions` (semi-join)."""
    if drive:
        rows = index_rows(table, scope, types, code)
        return owner.c.pk.in_(select(table.c.resource_pk).where(*rows, *conditions))
    return correlated(scope, [*probe_rows(table, owner, scope, types, code), *conditions], table)


def not_owned_by(
    owner: FromClause,
    table: FromClause,
    scope: Scope,
    types: Sequence[str] | None,
    code: str,
    conditions: Iterable[ColumnElement[bool]],
) -> ColumnElement[bool]:
    """No index row of `owner` for `code` meets `conditions` (anti-join)."""
    return ~correlated(scope, [*probe_rows(table, owner, scope, types, code), *conditions], table)


def starts_with(column: Any, prefix: str) -> ColumnElement[bool]:
    """Index-friendly prefix match: a range instead of LIKE (no pattern characters)."""
    upper = next_prefix(prefix)
    low = column >= prefix
    return low if upper is None else and_(low, column < upper)


# --- lists of values bound as one parameter ------------------------------------------------
# An expanding ``IN (?, ?, …)`` is rendered again for every execution (and every length is
# a new statement for the driver's cache): a list is bound as one array on PostgreSQL
# (``= ANY(:list)``) and as one JSON text on SQLite (``IN (SELECT value FROM
# json_each(:list))``), so the SQL text never changes.


@cache
def _sqlite_has_json() -> bool:
    try:
        with sqlite3.connect(":memory:") as conn:
            conn.execute("SELECT value FROM json_each('[1]')").fetchall()
        return True
    except sqlite3.Error:
        return False


def in_pks(column: Any, pks: Sequence[int], scope: Scope, name: str = "pks") -> Any:
    """``column IN pks`` with `pks` bound as a single parameter."""
    if scope.postgres:
        return column == any_(bindparam(name, list(pks), type_=postgresql.ARRAY(BigInteger)))
    if _sqlite_has_json():
        import orjson

        bound = bindparam(name, orjson.dumps(list(pks)).decode(), type_=String)
        listed = func.json_each(bound).table_valued("value")
        return column.in_(select(listed.c.value))
    return column.in_(list(pks))


@dataclass(frozen=True, slots=True)
class ValueEnv:
    """Context for parsing one value: the parameter's targets, this server's base URL…"""

    code: str
    targets: tuple[str, ...] = ()
    base_url: str | None = None
    now_us: int = 0
    components: tuple[Any, ...] = ()  # composite parameters: their `Component`s
