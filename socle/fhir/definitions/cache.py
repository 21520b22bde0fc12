"""On-disk cache of the compact model, keyed by the hash of its inputs.

Every server worker builds the model at start-up; reading a small derived JSON file is an
order of magnitude faster than parsing the full snapshots. The key covers the data files
and the builder's source, so a new data drop or a builder change never reads a stale file.
JSON (not pickle) keeps a tampered cache file from ever executing code.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from socle.fhir.definitions import builder

log = logging.getLogger(__name__)

CACHE_ENV = "SOCLE_CACHE_DIR"


def cache_dir() -> Path:
    """`$SOCLE_CACHE_DIR`, else `~/.cache/socle`."""
    configured = os.environ.get(CACHE_ENV)
    return Path(configured) if configured else Path.home() / ".cache" / "socle"


def cache_key(raw_files: list[bytes]) -> str:
    """Digest of the data files and of the code that derives the compact model from them."""
    digest = hashlib.sha256()
    for raw in raw_files:
        digest.update(hashlib.sha256(raw).digest())
    digest.update(Path(builder.__file__).read_bytes())
    return digest.hexdigest()[:32]


def load_or_build(
    raw_files: list[bytes], build: Callable[[list[bytes]], dict[str, Any]]
) -> tuple[dict[str, Any], str]:
    """The compact model from the cache, or built (and stored if possible).

    Returns the model and where it came from: "cache", "built+cached" or "built".
    """
    path = cache_dir() / f"fhir-r4-model-{cache_key(raw_files)}.json"
    try:
        return orjson.loads(path.read_bytes()), "cache"
    except FileNotFoundError:
        pass
    except (OSError, orjson.JSONDecodeError) as exc:
        log.warning("Ignoring unreadable FHIR model cache %s: %s", path, exc)
    compact = build(raw_files)
    return compact, "built+cached" if _store(path, compact) else "built"


def _store(path: Path, compact: dict[str, Any]) -> bool:
    """Write atomically (temp file + rename) so concurrent workers never read half a file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".model-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(orjson.dumps(compact))
            os.chmod(tmp, 0o644)  # mkstemp makes it private; workers may run as other users
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        log.info("FHIR model cache not writable (%s): building in memory", exc)
        return False
    return True
