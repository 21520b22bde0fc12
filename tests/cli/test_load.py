"""`socle load`: files, NDJSON, summary and exit code; kill -9 never half-applies a Bundle."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
from sqlalchemy import select

from socle.fhir.storage import schema as S
from socle.fhir.storage.database import create_db_engine

PER_BUNDLE = 40


def _socle(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.Popen:
    env = {**os.environ, "SOCLE_PROGRESS": "0", **(env_extra or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "socle.cli.main", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )


def _tagged_bundle(n: int) -> dict:
    entries = []
    for i in range(PER_BUNDLE):
        entries.append(
            {
                "fullUrl": f"urn:uuid:00000000-0000-4000-8000-{n:06d}{i:06d}",
                "resource": {
                    "resourceType": "Patient",
                    "identifier": [{"system": "urn:test:bundle", "value": f"b{n}"}],
                    "name": [{"family": f"Famille{n}", "given": [f"P{i}"]}],
                },
                "request": {"method": "POST", "url": "Patient"},
            }
        )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def _bundle_counts(url: str) -> dict[str, int]:
    engine = create_db_engine(url, pool_size=1)
    counts: dict[str, int] = {}
    with engine.connect() as conn:
        for (content,) in conn.execute(select(S.resource_version.c.content)):
            if content is None:
                continue
            res = orjson.loads(content)
            ids = [i for i in res.get("identifier", []) if i.get("system") == "urn:test:bundle"]
            if ids:
                counts[ids[0]["value"]] = counts.get(ids[0]["value"], 0) + 1
    engine.dispose()
    return counts


def test_load_files_and_ndjson_with_summary(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'l.db'}"
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "b.json").write_text(json.dumps(_tagged_bundle(1)))
    lines = [json.dumps({"resourceType": "Patient", "id": f"nd{i}"}) for i in range(3)]
    lines.append('{"resourceType": "Patient", "birthDate": "not-a-date"}')
    lines.append("{broken json")
    (tmp_path / "in" / "p.ndjson").write_text("\n".join(lines) + "\n")
    proc = _socle("load", str(tmp_path / "in"), "--database", url)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err.decode()
    text = err.decode()
    assert f"Loaded {PER_BUNDLE + 3} resources" in text
    assert "2 failed" in text
    assert "p.ndjson:4" in text and "p.ndjson:5" in text


def test_load_missing_path_exits_2(tmp_path: Path) -> None:
    proc = _socle("load", str(tmp_path / "nope.json"), "--database", f"sqlite:///{tmp_path}/x.db")
    proc.communicate(timeout=60)
    assert proc.returncode == 2


def _kill_mid_load(url: str, tmp_path: Path) -> None:
    src = tmp_path / "bundles"
    src.mkdir()
    for n in range(400):
        (src / f"{n:04d}.json").write_text(json.dumps(_tagged_bundle(n)))
    proc = _socle("load", str(src), "--database", url)
    deadline = time.time() + 90
    while time.time() < deadline:
        time.sleep(0.2)
        try:
            if sum(_bundle_counts(url).values()) >= PER_BUNDLE * 3:
                break
        except Exception:  # noqa: BLE001 - schema not created yet
            continue
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    counts = _bundle_counts(url)
    assert counts, "nothing was loaded before the kill"
    assert len(counts) < 400, "the load finished before it could be killed"
    assert all(c == PER_BUNDLE for c in counts.values()), counts


def test_kill_9_leaves_no_half_bundle_sqlite(tmp_path: Path) -> None:
    _kill_mid_load(f"sqlite:///{tmp_path / 'k.db'}", tmp_path)


def test_kill_9_leaves_no_half_bundle_postgres(tmp_path: Path, pg_schema_url: str) -> None:
    _kill_mid_load(pg_schema_url, tmp_path)


def test_large_ndjson_loads_in_chunks(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'n.db'}"
    lines = [
        json.dumps(
            {
                "resourceType": "Patient",
                "id": f"n{i}",
                "identifier": [{"system": "urn:test:bundle", "value": "nd"}],
            }
        )
        for i in range(600)
    ]
    lines[450] = json.dumps({"resourceType": "Patient", "id": "bad", "gender": 42})
    (tmp_path / "big.ndjson").write_text("\n".join(lines) + "\n")
    proc = _socle("load", str(tmp_path / "big.ndjson"), "--database", url)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert "Loaded 599 resources from 600 items" in err.decode()
    assert "big.ndjson:451" in err.decode()
    assert _bundle_counts(url) == {"nd": 599}
