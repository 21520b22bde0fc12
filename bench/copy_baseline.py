"""(c) The physical limit: the same resources' JSON into one bare table, no FHIR at all.

PostgreSQL: `COPY bare (id, content) FROM STDIN` with psycopg 3 `cursor.copy`, one
transaction, into a table without any index or constraint, once with `content bytea` (what
Socle stores: `resource_version.content` is bytea) and once with `content jsonb` (the server
parses every document). SQLite: `executemany` of `INSERT INTO bare (id, content)` (a BLOB)
with the same pragmas as Socle (WAL, synchronous=NORMAL), in one transaction and with one
transaction per patient Bundle (as Socle commits each Bundle).

The rows (id + relinked JSON bytes) are prepared before the clock starts.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from bench.common import CpuMeter, progress
from bench.databases import connect
from bench.dataset import Dataset, relinked_resources

Row = tuple[str, bytes]


def prepare_rows(data: Dataset) -> tuple[list[Row], list[int]]:
    """Every resource of the dataset as (id, JSON bytes), and the size of each Bundle."""
    rows: list[Row] = []
    sizes: list[int] = []
    with progress() as bar:
        task = bar.add_task("  serialising resources", total=len(data.bundles) + 1)
        for raw in [data.reference, *data.bundles]:
            resources = relinked_resources(raw)
            rows.extend((name, _dumps(res)) for name, res in resources)
            sizes.append(len(resources))
            bar.advance(task)
    return rows, sizes


def _dumps(resource: dict) -> bytes:
    import orjson

    return orjson.dumps(resource)


def postgres_copy(base_url: str, schema: str, rows: list[Row], column: str) -> dict:
    """COPY every row into `<schema>.bare_<column>`; resources/s includes the commit."""
    table = f'"{schema}".bare_{column}'
    with connect(base_url) as conn:
        conn.execute(f"CREATE TABLE {table} (id text, content {column})")
        conn.commit()
        total_bytes = sum(len(c) for _, c in rows)
        with progress() as bar:
            task = bar.add_task(f"  COPY into ({column})", total=len(rows))
            meter = CpuMeter(None)
            started = time.perf_counter()
            with conn.cursor() as cur, cur.copy(f"COPY {table} (id, content) FROM STDIN") as copy:
                for n, (res_id, content) in enumerate(rows, 1):
                    copy.write_row((res_id, content if column == "bytea" else content.decode()))
                    if n % 5000 == 0:
                        bar.update(task, completed=n)
            conn.commit()
            seconds = time.perf_counter() - started
            cpu = meter.stop()
            bar.update(task, completed=len(rows))
        count = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        conn.execute(f"DROP TABLE {table}")
        conn.commit()
    if count != len(rows):
        raise RuntimeError(f"COPY stored {count} rows of {len(rows)}")
    return _result(f"PostgreSQL COPY, content {column}", rows, total_bytes, seconds, cpu)


def sqlite_executemany(path: Path, rows: list[Row], sizes: list[int], per_bundle: bool) -> dict:
    """executemany into a bare table, one transaction in all or one per Bundle."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("CREATE TABLE bare (id TEXT, content BLOB)")
        total_bytes = sum(len(c) for _, c in rows)
        batches = _batches(rows, sizes) if per_bundle else [rows]
        label = "one transaction per Bundle" if per_bundle else "one transaction"
        with progress() as bar:
            task = bar.add_task(f"  SQLite executemany ({label})", total=len(rows))
            meter = CpuMeter(None)
            started = time.perf_counter()
            for batch in batches:
                conn.execute("BEGIN")
                conn.executemany("INSERT INTO bare (id, content) VALUES (?, ?)", batch)
                conn.execute("COMMIT")
                bar.advance(task, len(batch))
            seconds = time.perf_counter() - started
            cpu = meter.stop()
        count = conn.execute("SELECT count(*) FROM bare").fetchone()[0]
    finally:
        conn.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    if count != len(rows):
        raise RuntimeError(f"executemany stored {count} rows of {len(rows)}")
    return _result(f"SQLite executemany, {label}", rows, total_bytes, seconds, cpu)


def _batches(rows: list[Row], sizes: list[int]) -> list[list[Row]]:
    out, pos = [], 0
    for size in sizes:
        out.append(rows[pos : pos + size])
        pos += size
    return out


def _result(label: str, rows: list[Row], total_bytes: int, seconds: float, cpu) -> dict:  # noqa: ANN001
    return {
        "label": label,
        "rows": len(rows),
        "mb": round(total_bytes / 1e6, 1),
        "seconds": round(seconds, 3),
        "resources_per_s": round(len(rows) / seconds, 1),
        "mb_per_s": round(total_bytes / 1e6 / seconds, 1),
        "cpu_cores": cpu.as_dict(),
    }
