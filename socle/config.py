"""Settings from SOCLE_* environment variables (CLI flags override them)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw else default


@dataclass(frozen=True)
class Settings:
    """Runtime configuration of one Socle process."""

    data_dir: Path = field(default_factory=lambda: Path("var"))
    database_url: str | None = None
    base_url: str | None = None  # public base of the FHIR API, e.g. https://host/fhir
    tenant: str = "default"
    max_body_bytes: int = 16 * 1024 * 1024
    max_json_depth: int = 64
    default_count: int = 20
    max_count: int = 1000
    log_level: str = "info"

    @property
    def effective_database_url(self) -> str:
        """The configured URL, or an embedded SQLite file under the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'socle.db').resolve()}"

    def with_overrides(self, **changes: object) -> Settings:
        """Apply CLI flags on top of the environment (None means 'not given')."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def load_settings() -> Settings:
    """Read the SOCLE_* environment variables."""
    env = os.environ
    return Settings(
        data_dir=Path(env.get("SOCLE_DATA_DIR", "var")),
        database_url=env.get("SOCLE_DATABASE_URL") or None,
        base_url=env.get("SOCLE_BASE_URL") or None,
        tenant=env.get("SOCLE_TENANT", "default"),
        max_body_bytes=_env_int("SOCLE_MAX_BODY_BYTES", 16 * 1024 * 1024),
        max_json_depth=_env_int("SOCLE_MAX_JSON_DEPTH", 64),
        default_count=_env_int("SOCLE_DEFAULT_COUNT", 20),
        max_count=_env_int("SOCLE_MAX_COUNT", 1000),
        log_level=env.get("SOCLE_LOG_LEVEL", "info"),
    )
