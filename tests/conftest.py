"""Shared fixtures: every storage test runs on SQLite and, when reachable, PostgreSQL.

PostgreSQL comes from SOCLE_TEST_POSTGRES_URL, or 127.0.0.1:5432/test when a server
answers there. Without one, the PostgreSQL variants are skipped and say why; in CI
(CI=true) a missing PostgreSQL is an error, not a skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _postgres_url() -> tuple[str | None, str]:
    url = os.environ.get("SOCLE_TEST_POSTGRES_URL") or DEFAULT_PG
    try:
        import psycopg

        from socle.fhir.storage.database import normalize_url

        plain = normalize_url(url).replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(plain, connect_timeout=3):
            return url, ""
    except Exception as exc:  # noqa: BLE001 - any failure means "not available"
        return None, f"PostgreSQL not reachable at {url}: {exc.__class__.__name__}"


PG_URL, PG_REASON = _postgres_url()


def pytest_report_header(config) -> str:  # noqa: ANN001
    return f"postgres: {PG_URL or 'SKIPPED - ' + PG_REASON}"


@pytest.fixture(scope="session")
def pg_schema_url() -> Iterator[str]:
    """A private PostgreSQL schema for this test process, dropped at the end."""
    if PG_URL is None:
        if (
            os.environ.get("CI") == "true"
            and os.environ.get("SOCLE_TEST_REQUIRE_POSTGRES", "1") == "1"
        ):
            pytest.fail(f"CI must run the PostgreSQL tests: {PG_REASON}")
        pytest.skip(PG_REASON)
    import psycopg

    from socle.fhir.storage.database import normalize_url

    schema = f"t_{uuid.uuid4().hex[:12]}"
    plain = normalize_url(PG_URL).replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{normalize_url(PG_URL)}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def db_url(request, tmp_path_factory) -> str:  # noqa: ANN001
    """A migrated database URL, once per backend for the session."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'socle.db'}"
    else:
        url = request.getfixturevalue("pg_schema_url")
    from socle.fhir.storage.database import create_db_engine
    from socle.fhir.storage.migrate import migrate

    engine = create_db_engine(url, pool_size=1)
    migrate(engine)
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def fhir_engine(db_url: str, tmp_path_factory):  # noqa: ANN001
    """One engine per backend, shared by the tests; isolation comes from tenants."""
    from socle.config import Settings
    from socle.fhir.engine import FhirEngine

    settings = Settings(data_dir=Path(tmp_path_factory.mktemp("data")), database_url=db_url)
    engine = FhirEngine(settings)
    yield engine
    engine.close()


@pytest.fixture
def audited(db_url: str, tmp_path: Path):  # noqa: ANN201
    """An engine of its own with the INS plugin and the security module (audit trail)."""
    from socle.config import Settings
    from socle.fhir.engine import FhirEngine
    from socle.security import install

    engine = FhirEngine(Settings(data_dir=tmp_path, database_url=db_url))
    engine.load_plugins(["ins"])
    install(engine)
    yield engine
    engine.close()


@pytest.fixture
def tenant() -> str:
    """A fresh tenant per test: the same tables, none of another test's rows."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def client(fhir_engine, tenant):  # noqa: ANN001
    """An HTTP client on the FHIR app for this test's tenant."""
    from starlette.testclient import TestClient

    from socle.server import create_server

    app = create_server(fhir_engine.settings, fhir_engine, tenant=tenant)
    with TestClient(app, base_url="http://testserver") as c:
        yield c
