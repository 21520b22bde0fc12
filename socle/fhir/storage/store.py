"""The storage interface: versioned resources plus their search-index rows, in one transaction.

`ResourceStore.session()` opens one database transaction. Index rows are written in that
same transaction as the resource version they describe (as HAPI does), so a search never
sees a resource without its indexes or the reverse, and a failed transaction leaves nothing.
Writes are buffered and flushed in bulk (executemany) before any read and at commit.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    bindparam,
    delete,
    exists,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError

from socle.fhir.errors import FhirError
from socle.fhir.indexing import entries as E
from socle.fhir.storage import schema as S
from socle.fhir.storage.database import SQLITE_BUSY_TIMEOUT_MS, is_sqlite
from socle.fhir.storage.fixed import FixedStatement, PrecedingFailed, driver_execute, pipeline

_TABLE_OF_ENTRY = {
    E.StringEntry: S.idx_string,
    E.TokenEntry: S.idx_token,
    E.DateEntry: S.idx_date,
    E.NumberEntry: S.idx_number,
    E.QuantityEntry: S.idx_quantity,
    E.ReferenceEntry: S.idx_reference,
    E.UriEntry: S.idx_uri,
}
_KIND_OF_ENTRY = {
    E.StringEntry: "string",
    E.TokenEntry: "token",
    E.DateEntry: "date",
    E.NumberEntry: "number",
    E.QuantityEntry: "quantity",
    E.ReferenceEntry: "reference",
    E.UriEntry: "uri",
}
_COMPOSITE_NULLS = dict.fromkeys(
    c.name for c in S.idx_composite.c if c.name not in ("resource_pk", "tenant", "res_type")
)

# Statements of the write path built once: building and cache-keying a SQLAlchemy
# statement costs more Python than SQLite takes to run it, and a write runs several.
_R, _V = S.resource.c, S.resource_version.c
_KEY = (
    _R.tenant == bindparam("k_tenant"),
    _R.res_type == bindparam("k_type"),
    _R.res_id == bindparam("k_id"),
)
_CURRENT_QUERY = select(_R.pk, _R.version, _R.deleted, _R.last_updated).where(*_KEY)
_CURRENT = FixedStatement(_CURRENT_QUERY)
_CURRENT_LOCKED = FixedStatement(_CURRENT_QUERY.with_for_update())
_BUMP = FixedStatement(
    update(S.resource)
    .where(_R.pk == bindparam("k_pk"), _R.version == bindparam("k_version"))
    .values(
        version=bindparam("n_version"),
        last_updated=bindparam("n_last_updated"),
        deleted=bindparam("n_deleted"),
    )
)
_READ = FixedStatement(
    select(_V.resource_pk, _V.res_type, _V.res_id, _V.version, _V.last_updated, _V.method)
    .add_columns(_V.content, _V.pk)
    .select_from(S.resource.join(S.resource_version, _V.resource_pk == _R.pk))
    .where(*_KEY, _V.version == _R.version)
)
_NEW_COLUMNS = ("tenant", "res_type", "res_id", "version", "last_updated", "deleted")
_INSERT_ONE = FixedStatement(
    insert(S.resource)
    .values({name: bindparam(name) for name in _NEW_COLUMNS})
    .returning(S.resource.c.pk)
)
_INSERT_KEYED = FixedStatement(
    insert(S.resource).values({name: bindparam(name) for name in ("pk", *_NEW_COLUMNS)})
)
_NEXT_KEYS = text(
    "SELECT nextval(pg_get_serial_sequence('resource', 'pk')) FROM generate_series(1, :n)"
)
_PG_INSERT_ROWS = 16  # up to this many rows, one INSERT beats a COPY (PostgreSQL)
_DELETE_ROWS = {
    table: delete(table).where(table.c.resource_pk.in_(bindparam("k_pks", expanding=True)))
    for table in S.INDEX_TABLES.values()
}
_DELETE_ONE = {
    table: FixedStatement(delete(table).where(table.c.resource_pk == bindparam("k_pk")))
    for table in S.INDEX_TABLES.values()
}


@dataclass(slots=True, frozen=True)
class CurrentRow:
    """The current state of one logical resource."""

    pk: int
    version: int
    deleted: bool
    last_updated: int


@dataclass(slots=True, frozen=True)
class StoredVersion:
    """One version of a resource as stored (content is JSON bytes, None for a tombstone)."""

    resource_pk: int
    res_type: str
    res_id: str
    version: int
    last_updated: int
    method: str
    content: bytes | None
    history_pk: int = 0

    @property
    def deleted(self) -> bool:
        return self.content is None


class WriteConflict(Exception):
    """A concurrent writer changed the resource first; the caller may retry."""


class _Keys:
    """PostgreSQL: keys of the resource table taken from its sequence ahead of need, so
    that a new resource's row goes to the server with its version and index rows, in one
    round trip (its INSERT … RETURNING cost a round trip of its own). Keys a process never
    uses are gaps in the sequence, as those of rolled-back inserts are. Thread-safe."""

    BATCH = 64

    def __init__(self) -> None:
        self._free: list[int] = []
        self._lock = threading.Lock()

    def take(self, conn: Connection) -> int:
        with self._lock:
            if not self._free:
                keys = conn.execute(_NEXT_KEYS, {"n": self.BATCH}).scalars().all()
                if None in keys:  # nextval(NULL): the column's sequence is not its own
                    raise RuntimeError("resource.pk has no sequence of its own (OWNED BY)")
                self._free = sorted(keys, reverse=True)
            return self._free.pop()


class ResourceStore:
    """Entry point of the storage layer; one per process, thread-safe."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sqlite = is_sqlite(engine)
        # SQLite has one writer at a time. Threads of this process queue for it here: a
        # writer that finds the database locked would sleep in SQLite's busy handler
        # (1, 2, 5 … 100 ms) instead of starting as soon as the other commits. Other
        # processes still meet the busy timeout. Reentrant: a nested write session of the
        # same thread behaves as before (it waits on SQLite's lock).
        self._writers = threading.RLock() if self.sqlite else None
        # Since they are serialised, SQLite's write sessions share one connection: no pool
        # checkout, reset and return per transaction (-2.3 % instructions a feed message).
        # A nested write session (same thread) takes one of its own, as before.
        self._writer_conn: Connection | None = None
        self._write_depth = 0
        self._keys = None if self.sqlite else _Keys()

    @contextmanager
    def session(self, tenant: str, *, write: bool = False) -> Iterator[StoreSession]:
        """One database transaction: committed on success, rolled back on any error."""
        if write and self._writers is not None:
            # as long as SQLite itself would wait (busy timeout), then the same answer
            if not self._writers.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
                raise WriteConflict("database is locked: another writer holds it")
            self._write_depth += 1
            try:
                if self._write_depth == 1:
                    yield from self._shared_write_session(tenant)
                else:
                    yield from self._session(tenant, write)
            finally:
                self._write_depth -= 1
                self._writers.release()
        else:
            yield from self._session(tenant, write)

    def _shared_write_session(self, tenant: str) -> Iterator[StoreSession]:
        """A write session on the shared SQLite writer connection (writer lock held); a
        failed one drops that connection, the next session opens a new one."""
        if self._writer_conn is None or self._writer_conn.closed:
            self._writer_conn = self.engine.connect()
        try:
            yield from self._session(tenant, True, self._writer_conn)
        except BaseException:
            conn, self._writer_conn = self._writer_conn, None
            conn.close()
            raise

    def _session(
        self, tenant: str, write: bool, shared: Connection | None = None
    ) -> Iterator[StoreSession]:
        with nullcontext(shared) if shared is not None else self.engine.connect() as conn:
            if write and self.sqlite:
                conn.info["socle_write"] = True  # read once by the BEGIN IMMEDIATE hook
            conn.begin()
            session = StoreSession(conn, tenant, self.sqlite, write=write, keys=self._keys)
            try:
                yield session
                session.flush()
                conn.commit()
            except BaseException as exc:
                conn.rollback()
                # the writes' own error, raised under a statement that came after them
                error = exc.error if isinstance(exc, PrecedingFailed) else exc
                if isinstance(error, IntegrityError) or (
                    isinstance(error, OperationalError) and is_retryable(error)
                ):
                    raise WriteConflict(str(error.orig)) from error
                if error is not exc:
                    raise error from error.__cause__  # its own cause: the driver's error
                raise

    def analyze(self) -> None:
        """Refresh planner statistics after bulk loads (plans go wrong without them)."""
        with self.engine.connect() as conn:
            if self.sqlite:
                conn.exec_driver_sql("PRAGMA optimize")
                conn.exec_driver_sql("ANALYZE")
            else:
                conn.exec_driver_sql("ANALYZE")
            conn.commit()

    def dispose(self) -> None:
        if self._writer_conn is not None:
            self._writer_conn.close()
            self._writer_conn = None
        self.engine.dispose()


def is_retryable(exc: OperationalError) -> bool:
    """Deadlocks, serialisation failures and SQLite 'database is locked' can be retried."""
    code = getattr(exc.orig, "sqlstate", None)
    return code in ("40001", "40P01") or "locked" in str(exc.orig).lower()


class StoreSession:
    """Operations inside one transaction, for one tenant."""

    def __init__(
        self,
        conn: Connection,
        tenant: str,
        sqlite: bool,
        write: bool = False,
        keys: _Keys | None = None,
    ) -> None:
        self.conn = conn
        self.tenant = tenant
        self.sqlite = sqlite
        self.write_transaction = write
        self._keys = keys  # PostgreSQL: new resources' keys (see _Keys)
        self._resources: list[dict[str, Any]] = []  # keyed resource rows, sent at flush
        self._versions: list[dict[str, Any]] = []
        self._index_rows: dict[Any, list[dict[str, Any]]] = {}
        self._index_deletes: list[int] = []  # resources whose rows go in every table
        self._table_deletes: dict[Any, list[int]] = {}  # table -> resources, diffed updates
        self._known: dict[tuple[str, str], StoredVersion] = {}  # versions read or written
        self._locked: dict[tuple[str, str], CurrentRow] = {}  # rows locked (or written) here
        self._buffered_pks: set[Any] = set()  # resources with rows in _index_rows
        self._deferred: list[tuple[FixedStatement, dict[str, Any]]] = []  # see defer()
        # New resources are inserted in bulk at flush; until then their rows refer to a
        # _NewResource placeholder that the flush replaces with the database key.
        self._new: dict[tuple[str, str], _NewResource] = {}

    # -- reads -----------------------------------------------------------------------

    def current(self, res_type: str, res_id: str, *, lock: bool = False) -> CurrentRow | None:
        """The current row of a resource; `lock` takes a row lock for a version check."""
        if lock and (res_type, res_id) in self._locked:
            return self._locked[(res_type, res_id)]  # locked until commit: it cannot change
        if (res_type, res_id) in self._new or self._deferred:
            self.flush()  # created earlier in this transaction: it needs its real key now;
            # or a version bump waits for the flush (`_bump_resource`)
        # SQLite writers are already serialised (BEGIN IMMEDIATE): no row lock there
        stmt = _CURRENT_LOCKED if lock and not self.sqlite else _CURRENT
        params = {"k_tenant": self.tenant, "k_type": res_type, "k_id": res_id}
        row = stmt.first(self.conn, params)
        if row is None:
            return None
        current = CurrentRow(row[0], row[1], bool(row[2]), row[3])
        if lock:
            self._locked[(res_type, res_id)] = current
        return current

    def locked(self, res_type: str, res_id: str, current: CurrentRow) -> None:
        """The caller locked this current row itself (e.g. `SELECT … FOR UPDATE` in an
        indexed lookup): `current(…, lock=True)` returns it without another statement."""
        self._locked[(res_type, res_id)] = current

    def known(self, res_type: str, res_id: str, version: int) -> StoredVersion | None:
        """Version `version` of a resource if this transaction already read or wrote it.

        A version never changes once written, so a caller holding the locked current row
        can use it instead of reading the content again."""
        stored = self._known.get((res_type, res_id))
        return stored if stored is not None and stored.version == version else None

    def remember(self, stored: StoredVersion) -> None:
        """Keep a version read outside `read()` (e.g. by an indexed lookup) for `known()`."""
        self._known[(stored.res_type, stored.res_id)] = stored

    def read(self, res_type: str, res_id: str) -> StoredVersion | None:
        """The current version, tombstone included (from memory when this transaction
        holds the row locked and already has that version: it cannot have changed)."""
        locked = self._locked.get((res_type, res_id))
        if locked is not None:
            stored = self.known(res_type, res_id, locked.version)
            if stored is not None:
                return stored
        self.flush()
        params = {"k_tenant": self.tenant, "k_type": res_type, "k_id": res_id}
        row = _READ.first(self.conn, params)
        if row is None:
            return None
        stored = StoredVersion(*row[:6], bytes(row[6]) if row[6] is not None else None, row[7])
        self._known[(res_type, res_id)] = stored
        return stored

    def read_many(self, res_type: str, res_ids: Sequence[str]) -> dict[str, StoredVersion]:
        """The current versions (tombstones included) of those of `res_ids` that exist,
        by id: one statement where `read` would take one each."""
        r = S.resource.c
        ids = list(dict.fromkeys(res_ids))
        found: dict[str, StoredVersion] = {}
        for stored in self._current(r.res_id, ids, r.tenant == self.tenant, r.res_type == res_type):
            found[stored.res_id] = self._known[(res_type, stored.res_id)] = stored
        return found

    def vread(self, res_type: str, res_id: str, version: int) -> StoredVersion | None:
        self.flush()
        v = S.resource_version.c
        stmt = select(*_version_columns()).where(
            v.tenant == self.tenant,
            v.res_type == res_type,
            v.res_id == res_id,
            v.version == version,
        )
        row = self.conn.execute(stmt).first()
        return _stored(row) if row else None

    def fetch_current(self, pks: Sequence[int]) -> list[StoredVersion]:
        """Current versions of resources by primary key, in the order of `pks`."""
        found = {stored.resource_pk: stored for stored in self._current(S.resource.c.pk, pks)}
        return [found[pk] for pk in pks if pk in found]

    def _current(self, key: Any, values: Sequence[Any], *where: Any) -> Iterator[StoredVersion]:
        """The current versions whose `key` column is one of `values` (500 a statement)."""
        if not values:
            return
        self.flush()
        r, v = S.resource.c, S.resource_version.c
        for chunk in _chunks(list(values), 500):
            stmt = (
                select(*_version_columns())
                .select_from(S.resource.join(S.resource_version, v.resource_pk == r.pk))
                .where(key.in_(chunk), v.version == r.version, *where)
            )
            for row in self.conn.execute(stmt):
                yield _stored(row)

    def history(
        self,
        res_type: str | None = None,
        res_id: str | None = None,
        *,
        since: int | None = None,
        at: tuple[int, int] | None = None,
        before: tuple[int, int] | None = None,
        count: int = 50,
    ) -> list[StoredVersion]:
        """Versions newest first; `before` is the (last_updated, pk) keyset cursor of a page."""
        self.flush()
        v = S.resource_version.c
        stmt = select(*_version_columns()).where(v.tenant == self.tenant)
        if res_type:
            stmt = stmt.where(v.res_type == res_type)
        if res_id:
            stmt = stmt.where(v.res_id == res_id)
        if since is not None:
            stmt = stmt.where(v.last_updated >= since)
        if at is not None:
            stmt = stmt.where(*_current_during(at))
        if before is not None:
            stmt = stmt.where(
                (v.last_updated < before[0]) | and_(v.last_updated == before[0], v.pk < before[1])
            )
        stmt = stmt.order_by(v.last_updated.desc(), v.pk.desc()).limit(count)
        return [_stored(row) for row in self.conn.execute(stmt)]

    def execute(self, stmt: Any) -> Any:
        """Run a query built by the search engine (after flushing pending writes)."""
        self.flush()
        return self.conn.execute(stmt)

    # -- writes ----------------------------------------------------------------------

    def lock_key(self, key: str) -> None:
        """Serialise writers on a logical key (e.g. a conditional-create query) until commit."""
        if self.sqlite:
            return  # the database write lock is already exclusive
        digest = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")
        signed = digest - (1 << 64) if digest >= (1 << 63) else digest
        self.conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": signed})

    def write(
        self,
        res_type: str,
        res_id: str,
        *,
        current: CurrentRow | None,
        content: bytes | None,
        last_updated: int,
        method: str,
        index_entries: Iterable[E.IndexEntry] = (),
        previous_entries: Iterable[E.IndexEntry] | None = None,
    ) -> int:
        """Append a version (content None = tombstone) and replace the index rows.

        `current` is the row the caller based its decision on; if another writer got in
        between, WriteConflict is raised rather than losing its update.
        `previous_entries`: the index entries of the version `current` names, when the
        caller has them; then only the tables whose rows change are rewritten, else the
        resource's rows are deleted from every index table.
        """
        version = 1 if current is None else current.version + 1
        if current is None:
            pk = _NewResource(res_type, res_id, last_updated, content is None)
            self._new[(res_type, res_id)] = pk
        else:
            pk = current.pk
            held = self._locked.get((res_type, res_id)) is current and not self.sqlite
            self._bump_resource(current, version, last_updated, content is None, held)
        self._versions.append(
            {
                "resource_pk": pk,
                "tenant": self.tenant,
                "res_type": res_type,
                "res_id": res_id,
                "version": version,
                "last_updated": last_updated,
                "method": method,
                "content": content,
            }
        )
        rows = self._index_rows_of(pk, res_type, index_entries) if content is not None else {}
        if current is not None:
            if previous_entries is None or content is None or pk in self._buffered_pks:
                self._replace_all(pk)
            else:
                rows = self._changed_tables(pk, res_type, previous_entries, rows)
        for table, table_rows in rows.items():
            self._index_rows.setdefault(table, []).extend(table_rows)
        if current is not None:  # still locked by this transaction, at its new version
            new_row = CurrentRow(pk, version, content is None, last_updated)
            self._locked[(res_type, res_id)] = new_row
        if content is not None:
            self._buffered_pks.add(pk)
            stored = StoredVersion(0, res_type, res_id, version, last_updated, method, content)
            self._known[(res_type, res_id)] = stored
        else:
            self._known.pop((res_type, res_id), None)
        return version

    def defer(self, statement: FixedStatement, params: dict[str, Any]) -> None:
        """A write of a table beside the resources (a plugin's own index row) sent with
        the next flush, after the resources' rows: in the same round trip on PostgreSQL.
        Its result is never read (an upsert, a delete), and readers of that table see it
        once the session has flushed (`execute` and the store's reads flush first)."""
        self._deferred.append((statement, params))

    def _replace_all(self, pk: int) -> None:
        """The resource's rows go from every index table (its previous rows are unknown)."""
        self._index_deletes.append(pk)
        if pk in self._buffered_pks:  # written twice before a flush: drop the old rows
            self._drop_buffered(pk)

    def _changed_tables(
        self,
        pk: int,
        res_type: str,
        previous_entries: Iterable[E.IndexEntry],
        rows: dict[Any, list[dict[str, Any]]],
    ) -> dict[Any, list[dict[str, Any]]]:
        """Only the tables whose rows differ from the previous version's are rewritten:
        an update that changes one trait touches one table, not eight."""
        old = self._index_rows_of(pk, res_type, previous_entries)
        changed = {}
        for table in old.keys() | rows.keys():
            new_rows = rows.get(table, [])
            if old.get(table, []) != new_rows:
                if table in old:
                    self._table_deletes.setdefault(table, []).append(pk)
                changed[table] = new_rows
        return changed

    def _bulk_insert(self, table: Any, rows: list[dict[str, Any]]) -> None:
        """Append rows with the driver's bulk path: COPY on PostgreSQL, executemany on SQLite.

        Going below SQLAlchemy here saves its per-row parameter processing, which was the
        largest share of ingest CPU after the indexing itself (see docs/benchmarks.md).
        """
        columns = list(rows[0])
        names = ", ".join(f'"{c}"' for c in columns)
        if self.sqlite:
            marks = ", ".join("?" * len(columns))
            sql = f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})'
            values = [tuple(r[c] for c in columns) for r in rows]
            driver_execute(self.conn, sql, values, many=True)
        elif len(rows) <= _PG_INSERT_ROWS:
            # a COPY costs three round trips: a few rows (one resource) go as one INSERT
            marks = ", ".join(["%s"] * len(columns))
            values = ", ".join([f"({marks})"] * len(rows))
            sql = f'INSERT INTO "{table.name}" ({names}) VALUES {values}'
            driver_execute(self.conn, sql, [r[c] for r in rows for c in columns])
        else:
            with self.conn.connection.dbapi_connection.cursor() as cursor:
                _copy_rows(cursor, table, columns, rows)

    def _insert_new_resources(self) -> None:
        """One multi-row INSERT … RETURNING for the resources created since the last flush."""
        new, self._new = list(self._new.values()), {}
        rows = [
            {
                "tenant": self.tenant,
                "res_type": n.res_type,
                "res_id": n.res_id,
                "version": 1,
                "last_updated": n.last_updated,
                "deleted": n.deleted,
            }
            for n in new
        ]
        if len(rows) == 1:  # the common case: one resource written
            if self._keys is not None:  # its key now, its row with the flush's others
                new[0].pk = self._keys.take(self.conn)
                self._resources.append({**rows[0], "pk": new[0].pk})
                return
            new[0].pk = _INSERT_ONE.first(self.conn, rows[0])[0]
            return
        stmt = insert(S.resource).returning(S.resource.c.pk, sort_by_parameter_order=True)
        for n, pk in zip(new, self.conn.execute(stmt, rows).scalars(), strict=True):
            n.pk = pk

    def _bump_resource(
        self, current: CurrentRow, version: int, last_updated: int, deleted: bool, held: bool
    ) -> None:
        """Move the resource row to its new version, if it is still at `current`'s.

        `held`: PostgreSQL, and this transaction holds the row locked (`SELECT … FOR
        UPDATE`) at that version: no other writer can have moved it, so the update is
        sent with the next flush, in its round trip, instead of a round trip of its own
        (one of the five or six a single-resource update costs)."""
        params = {
            "k_pk": current.pk,
            "k_version": current.version,
            "n_version": version,
            "n_last_updated": last_updated,
            "n_deleted": deleted,
        }
        if held:
            self._deferred.append((_BUMP, params))
            return
        if _BUMP.rowcount(self.conn, params) != 1:
            raise WriteConflict(f"resource pk {current.pk} changed concurrently")

    def _index_rows_of(
        self, pk: Any, res_type: str, entries: Iterable[E.IndexEntry]
    ) -> dict[Any, list[dict[str, Any]]]:
        """The index rows of one version, by table."""
        base = {"resource_pk": pk, "tenant": self.tenant, "res_type": res_type}
        out: dict[Any, list[dict[str, Any]]] = {}
        group = 0
        for entry in entries:
            table = _TABLE_OF_ENTRY.get(type(entry))
            if table is not None:
                out.setdefault(table, []).append({**base, **entry._asdict()})
            elif type(entry) is E.CompositeEntry:
                rows = _composite_rows(base, entry, group)
                if rows:
                    out.setdefault(S.idx_composite, []).extend(rows)
                    group += 1
        return out

    def _drop_buffered(self, pk: int) -> None:
        for table, rows in self._index_rows.items():
            self._index_rows[table] = [r for r in rows if r["resource_pk"] != pk]
        self._buffered_pks.discard(pk)

    def flush(self) -> None:
        """Send buffered resources, versions and index rows to the database in bulk."""
        if self._new:
            self._insert_new_resources()  # the rows below need the keys it returns
        pending = self._resources or self._versions or self._index_rows or self._deferred
        if not (pending or self._index_deletes or self._table_deletes):
            return
        if self._pipelined():
            with pipeline(self.conn):
                self._flush_rows()
        else:
            self._flush_rows()

    def first_after_flush(self, statement: FixedStatement, params: dict[str, Any]) -> tuple | None:
        """Flush, then run a one-row query that must come after the resources' rows (the
        audit entry a write commits with, which locks the trail's head): on PostgreSQL in
        the flush's round trip when the flush is pipelined (one resource written). An
        error of the flush is raised as `PrecedingFailed` (see `flush_before`)."""
        try:
            if self._new:
                self._insert_new_resources()  # the rows below need the keys it returns
            pipelined = self._pipelined(extra=1)
            if not pipelined:
                self.flush()
        except Exception as exc:
            raise PrecedingFailed(exc) from exc
        if not pipelined:
            return statement.first(self.conn, params)
        return statement.first_after(self.conn, params, self._flush_rows)

    def flush_before(self) -> None:
        """Flush before statements of the caller's own (the audit entry): an error of the
        flush is raised as `PrecedingFailed`, which the caller hands on instead of taking
        it for its own failure, and the session handles as the flush's (a conflict is a
        WriteConflict)."""
        try:
            self.flush()
        except Exception as exc:
            raise PrecedingFailed(exc) from exc

    def _pipelined(self, extra: int = 0) -> bool:
        """PostgreSQL sends a flush's deletes and inserts in one round trip when they are
        all one-statement ones (one resource written: an update is a delete, the version
        and the changed rows; a creation, its version and rows in 4 to 6 tables), not the
        COPYs and batched deletes of bulk writes. `extra`: statements sent after them."""
        if self.sqlite:
            return False
        every = len(self._index_deletes)
        deletes = [every + len(self._table_deletes.get(t, [])) for t in S.INDEX_TABLES.values()]
        inserts = [len(self._resources), len(self._versions), *map(len, self._index_rows.values())]
        statements = sum(map(bool, deletes)) + sum(map(bool, inserts)) + len(self._deferred)
        statements += extra
        return max(deletes) <= 1 and max(inserts) <= _PG_INSERT_ROWS and statements > 1

    def _flush_rows(self) -> None:
        for row in self._resources:  # first: the rows below refer to it
            _INSERT_KEYED.rowcount(self.conn, row)
        self._resources = []
        if self._index_deletes or self._table_deletes:
            every, self._index_deletes = self._index_deletes, []
            some, self._table_deletes = self._table_deletes, {}
            for table in S.INDEX_TABLES.values():
                pks = every + some.get(table, [])
                if len(pks) == 1:
                    _DELETE_ONE[table].rowcount(self.conn, {"k_pk": pks[0]})
                    continue
                for chunk in _chunks(pks, 500):
                    self.conn.execute(_DELETE_ROWS[table], {"k_pks": chunk})
        if self._versions:
            rows, self._versions = self._versions, []
            self._bulk_insert(S.resource_version, _resolved(rows))
        if self._index_rows:
            buffered, self._index_rows = self._index_rows, {}
            self._buffered_pks = set()
            for table, rows in buffered.items():
                if rows:
                    self._bulk_insert(table, _resolved(rows))
        if self._deferred:
            deferred, self._deferred = self._deferred, []
            for statement, params in deferred:
                statement.rowcount(self.conn, params)


class _NewResource:
    """A resource created in this transaction and not yet inserted (see flush)."""

    __slots__ = ("res_type", "res_id", "last_updated", "deleted", "pk")

    def __init__(self, res_type: str, res_id: str, last_updated: int, deleted: bool) -> None:
        self.res_type, self.res_id = res_type, res_id
        self.last_updated, self.deleted = last_updated, deleted
        self.pk: int | None = None


def _resolved(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Replace placeholders by the keys the bulk insert returned (in place)."""
    for row in rows:
        owner = row["resource_pk"]
        if type(owner) is _NewResource:
            row["resource_pk"] = owner.pk
    return rows


def _copy_rows(cursor: Any, table: Any, columns: list[str], rows: list[dict]) -> None:
    """PostgreSQL COPY: the cheapest way to append many rows (no per-row statement)."""
    names = ", ".join(f'"{c}"' for c in columns)
    with cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row([row[c] for c in columns])


def _composite_rows(base: dict[str, Any], entry: E.CompositeEntry, group: int) -> list[dict]:
    """The idx_composite rows of one combination: one per component, sharing `group`.

    Every row has every column (executemany needs the same keys), NULL where the
    component's type does not use it. A component of an unknown type drops the whole
    combination rather than storing a partial one.
    """
    rows = []
    for pos, component in enumerate(entry.components):
        kind = _KIND_OF_ENTRY.get(type(component))
        if kind is None:
            return []
        row = {**base, **_COMPOSITE_NULLS, "param": entry.param, "grp": group, "pos": pos}
        values = component._asdict()
        for name, column in S.COMPOSITE_COLUMNS[kind].items():
            row[column] = values[name]
        rows.append(row)
    return rows


def _version_columns() -> tuple:
    v = S.resource_version.c
    return (
        v.resource_pk,
        v.res_type,
        v.res_id,
        v.version,
        v.last_updated,
        v.method,
        v.content,
        v.pk,
    )


def _stored(row: Any) -> StoredVersion:
    return StoredVersion(
        row.resource_pk,
        row.res_type,
        row.res_id,
        row.version,
        row.last_updated,
        row.method,
        bytes(row.content) if row.content is not None else None,
        row.pk,
    )


def _current_during(at: tuple[int, int]) -> list:
    """Versions that were current at some point within [low, high] (history `_at`)."""
    v = S.resource_version.c
    later = S.resource_version.alias("later")
    superseded_before = exists().where(
        later.c.resource_pk == v.resource_pk,
        later.c.version > v.version,
        later.c.last_updated <= at[0],
    )
    return [v.last_updated <= at[1], ~superseded_before]


def _chunks(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def new_store(url: str) -> ResourceStore:
    """Create a store for a database URL (the schema must already be migrated)."""
    from socle.fhir.storage.database import create_db_engine

    return ResourceStore(create_db_engine(url))


__all__ = [
    "CurrentRow",
    "FhirError",
    "PrecedingFailed",
    "ResourceStore",
    "StoreSession",
    "StoredVersion",
    "WriteConflict",
    "new_store",
]
