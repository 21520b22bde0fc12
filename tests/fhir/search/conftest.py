"""Search tests run on SQLite (always) and PostgreSQL (when reachable).

PostgreSQL comes from SOCLE_TEST_POSTGRES_URL, else 127.0.0.1:5432/test; each test module
gets a fresh schema (``search_path`` set through the connection options), dropped after.
Each test gets its own tenant, so tests in a module share tables but never rows.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from socle.fhir.indexing.extract import IndexExtractor
from socle.fhir.indexing.registry import default_registry
from socle.fhir.search import SearchEngine, SearchLimits, SearchPage
from socle.fhir.storage.database import create_db_engine, normalize_url
from socle.fhir.storage.migrate import migrate
from socle.fhir.storage.store import ResourceStore

BASE = "http://example.org/fhir"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _pg_url() -> tuple[str | None, str]:
    url = os.environ.get("SOCLE_TEST_POSTGRES_URL") or DEFAULT_PG
    try:
        import psycopg

        with psycopg.connect(_libpq(url), connect_timeout=3):
            return url, ""
    except Exception as exc:  # noqa: BLE001 - any failure means "not available"
        return None, f"PostgreSQL not reachable at {url}: {exc.__class__.__name__}"


def _libpq(url: str) -> str:
    return normalize_url(url).replace("postgresql+psycopg://", "postgresql://")


PG_URL, PG_REASON = _pg_url()


@pytest.fixture(scope="module")
def pg_module_url() -> Iterator[str]:
    """A private schema for this test module, dropped afterwards."""
    if PG_URL is None:
        pytest.skip(PG_REASON)
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(PG_URL), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{normalize_url(PG_URL)}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(_libpq(PG_URL), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def search_store(request, tmp_path_factory) -> Iterator[ResourceStore]:  # noqa: ANN001
    """A migrated store per backend and test module."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('search') / 'socle.db'}"
    else:
        url = request.getfixturevalue("pg_module_url")
    engine = create_db_engine(url, pool_size=2)
    migrate(engine)
    store = ResourceStore(engine)
    yield store
    store.dispose()


class SearchDb:
    """A tenant of the test store with helpers to write resources and run searches."""

    def __init__(self, store: ResourceStore, tenant: str, limits: SearchLimits) -> None:
        self.store = store
        self.tenant = tenant
        registry = default_registry()
        self.extractor = IndexExtractor(registry, base_url=BASE)
        self.engine = SearchEngine(registry, limits=limits, base_url=BASE)
        self._clock = 1_700_000_000_000_000

    @property
    def backend(self) -> str:
        return self.store.engine.dialect.name

    def put(self, resource: dict[str, Any], last_updated: int | None = None) -> int:
        """Create or update `resource` (its id is required); returns its pk."""
        self._clock += 1_000_000
        when = last_updated if last_updated is not None else self._clock
        rtype, rid = resource["resourceType"], resource["id"]
        with self.store.session(self.tenant, write=True) as s:
            current = s.current(rtype, rid)
            s.write(
                rtype,
                rid,
                current=current,
                content=orjson.dumps(resource),
                last_updated=when,
                method="PUT",
                index_entries=self.extractor.extract(resource),
            )
            return s.current(rtype, rid).pk

    def put_all(self, *resources: dict[str, Any]) -> None:
        for r in resources:
            self.put(r)

    def delete(self, rtype: str, rid: str) -> None:
        with self.store.session(self.tenant, write=True) as s:
            current = s.current(rtype, rid)
            s.write(
                rtype, rid, current=current, content=None, last_updated=self._clock, method="DELETE"
            )

    def page(
        self,
        rtype: str | None,
        params: list[tuple[str, str]],
        *,
        lenient: bool = False,
        compartment: tuple[str, str] | None = None,
        count: int | None = None,
        cursor: str | None = None,
    ) -> SearchPage:
        query = self.engine.parse(rtype, params, lenient=lenient, compartment=compartment)
        with self.store.session(self.tenant) as s:
            return self.engine.search(s, query, count=count, cursor=cursor)

    def names(self, pks: list[int]) -> list[str]:
        """``Type/id`` of pks, in order."""
        with self.store.session(self.tenant) as s:
            return [f"{v.res_type}/{v.res_id}" for v in s.fetch_current(pks)]

    def ids(self, rtype: str | None, params: list[tuple[str, str]], **kw: Any) -> list[str]:
        """Ids of the first page (``Type/id`` for a system search), in page order."""
        names = self.names(self.page(rtype, params, **kw).pks)
        return names if rtype is None else [n.split("/", 1)[1] for n in names]

    def idset(self, rtype: str | None, params: list[tuple[str, str]], **kw: Any) -> set[str]:
        return set(self.ids(rtype, params, **kw))


@pytest.fixture
def limits() -> SearchLimits:
    return SearchLimits()


@pytest.fixture
def db(search_store: ResourceStore, limits: SearchLimits) -> SearchDb:
    """A fresh tenant on the module's store."""
    return SearchDb(search_store, f"s{uuid.uuid4().hex[:10]}", limits)


@pytest.fixture(scope="session")
def engine() -> SearchEngine:
    """An engine for parse-only tests (no database)."""
    return SearchEngine(default_registry(), base_url=BASE)


def now_us() -> int:
    return time.time_ns() // 1000
