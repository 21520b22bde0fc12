"""A fresh database per run: a SQLite file under bench/out/, or a PostgreSQL schema.

A PostgreSQL database is a new schema `bench_<run>_<label>` of the configured server,
selected with the URL option `?options=-csearch_path%3D<schema>` and dropped at the end.
Both are migrated with the real `socle migrate --database URL`.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from bench.common import OUT_DIR, socle_command

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
APPLICATION_NAME = f"socle_bench_{os.getpid()}"  # PostgreSQL application_name of this run


@dataclass
class BenchDatabase:
    backend: str  # "sqlite" or "postgres"
    label: str
    url: str  # what `socle --database` receives
    path: Path | None = None  # SQLite file
    schema: str | None = None  # PostgreSQL schema
    base_url: str | None = None  # PostgreSQL URL without the schema option


def postgres_base_url() -> str:
    return (
        os.environ.get("SOCLE_BENCH_POSTGRES_URL")
        or os.environ.get("SOCLE_TEST_POSTGRES_URL")
        or DEFAULT_POSTGRES_URL
    )


def libpq_url(url: str) -> str:
    """`postgresql+psycopg://...` -> `postgresql://...` for psycopg itself."""
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", url)


def postgres_version(url: str) -> str | None:
    """Server version, or None when PostgreSQL is not reachable."""
    import psycopg

    try:
        with psycopg.connect(libpq_url(url), connect_timeout=5) as conn:
            return str(conn.execute("SHOW server_version").fetchone()[0])
    except psycopg.Error:
        return None


def postgres_settings(url: str) -> dict[str, str]:
    """The server settings that matter for these numbers."""
    import psycopg

    names = ("autovacuum", "shared_buffers", "synchronous_commit", "fsync", "work_mem")
    try:
        with psycopg.connect(libpq_url(url), connect_timeout=5) as conn:
            return {n: str(conn.execute(f"SHOW {n}").fetchone()[0]) for n in names}
    except psycopg.Error:
        return {}


def fresh_sqlite(run_id: str, label: str) -> BenchDatabase:
    path = OUT_DIR / f"{run_id}-{label}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    return BenchDatabase("sqlite", label, f"sqlite:///{path}", path=path)


def fresh_postgres(base_url: str, run_id: str, label: str) -> BenchDatabase:

    schema = f"bench_{run_id}_{label}".lower().replace("-", "_")
    with connect(base_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return BenchDatabase(
        "postgres", label, _with_search_path(base_url, schema), schema=schema, base_url=base_url
    )


def _with_search_path(url: str, schema: str) -> str:
    """Select the schema, and name the connections so that their CPU can be told apart."""
    parts = urlsplit(url)
    option = "options=" + quote(f"-csearch_path={schema}", safe="-")
    option += f"&application_name={APPLICATION_NAME}"
    query = f"{parts.query}&{option}" if parts.query else option
    return urlunsplit(parts._replace(query=query))


def connect(url: str, **kwargs):  # noqa: ANN003, ANN201
    """A psycopg connection named like the benchmark's other connections."""
    import psycopg

    return psycopg.connect(libpq_url(url), application_name=APPLICATION_NAME, **kwargs)


def fresh(backend: str, run_id: str, label: str, pg_url: str) -> BenchDatabase:
    if backend == "sqlite":
        return fresh_sqlite(run_id, label)
    return fresh_postgres(pg_url, run_id, label)


def migrate(db: BenchDatabase) -> float:
    """`socle migrate --database URL`; returns the seconds it took."""
    started = time.perf_counter()
    cmd = [*socle_command(), "migrate", "--database", db.url, "--data-dir", str(OUT_DIR)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"socle migrate failed for {db.label}:\n{done.stdout}{done.stderr}")
    return time.perf_counter() - started


def drop(db: BenchDatabase) -> None:
    """Remove the database of a run (SQLite files, or the PostgreSQL schema)."""
    if db.backend == "sqlite" and db.path is not None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db.path}{suffix}").unlink(missing_ok=True)
        return

    assert db.base_url is not None and db.schema is not None
    with connect(db.base_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{db.schema}" CASCADE')


def analyze(db: BenchDatabase) -> float:
    """Planner statistics for the tables of this database only; returns the seconds it took."""
    started = time.perf_counter()
    if db.backend == "sqlite" and db.path is not None:
        import sqlite3

        with sqlite3.connect(db.path, timeout=60) as conn:
            conn.execute("ANALYZE")
        return time.perf_counter() - started

    assert db.base_url is not None
    with connect(db.base_url, autocommit=True) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s", (db.schema,)
            )
        ]
        for table in tables:  # a bare ANALYZE would visit every schema of the database
            conn.execute(f'ANALYZE "{db.schema}"."{table}"')
    return time.perf_counter() - started


def size_mb(db: BenchDatabase) -> float | None:
    """On-disk size of the database after a run (tables and indexes)."""
    if db.backend == "sqlite" and db.path is not None:
        total = sum(
            Path(f"{db.path}{s}").stat().st_size
            for s in ("", "-wal")
            if Path(f"{db.path}{s}").exists()
        )
        return round(total / 1e6, 1)

    assert db.base_url is not None
    with connect(db.base_url) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind IN ('r', 'm')",
            (db.schema,),
        ).fetchone()
    return round(int(row[0]) / 1e6, 1)
