"""Validation policy: what the server checks when a resource is written.

Modes, per resource type and per profile:

* `off` — no profile validation and no service rules (the kernel's structural check
  still runs: it protects storage and indexing);
* `structural` — the structural check only (same effect as `off` for profiles, but says
  what is meant);
* `full` — structural + every profile the resource declares in `meta.profile` + the
  profiles the policy requires for its type (`required`), with the service rules
  (French identifier rules…) of those profiles.

The default is `full`: a resource that declares no profile costs nothing more than the
structural check. A profile set to `off`/`structural` in `profiles` is skipped even when
declared. The policy also sets what happens with definitions the server does not know.

Configuration: `SOCLE_VALIDATION_POLICY` holds JSON, or `@/path/to/policy.json`:

    {"default": "full",
     "types": {"AuditEvent": "structural"},
     "profiles": {"https://example.org/StructureDefinition/noisy": "off"},
     "required": {"Patient": ["https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient"]},
     "unknownProfile": "warning", "unknownExtension": "warning", "bestPractice": "warning"}
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

MODES = ("off", "structural", "full")
_LEVELS = ("ignore", "information", "warning", "error")
ENV_VAR = "SOCLE_VALIDATION_POLICY"


class PolicyError(ValueError):
    """The policy configuration is invalid."""


@dataclass(frozen=True)
class ValidationPolicy:
    default: str = "full"
    types: dict[str, str] = field(default_factory=dict)
    profiles: dict[str, str] = field(default_factory=dict)
    required: dict[str, tuple[str, ...]] = field(default_factory=dict)
    unknown_profile: str = "warning"
    unknown_extension: str = "warning"
    best_practice: str = "warning"

    def __post_init__(self) -> None:
        for where, mode in [("default", self.default), *self.types.items(), *self.profiles.items()]:
            if mode not in MODES:
                raise PolicyError(f"{where}: mode must be one of {', '.join(MODES)}, not {mode!r}")
        for name, level in (
            ("unknownProfile", self.unknown_profile),
            ("unknownExtension", self.unknown_extension),
            ("bestPractice", self.best_practice),
        ):
            if level not in _LEVELS:
                raise PolicyError(f"{name} must be one of {', '.join(_LEVELS)}, not {level!r}")

    def mode_for(self, resource_type: str) -> str:
        return self.types.get(resource_type, self.default)

    def profile_enabled(self, canonical: str) -> bool:
        url = canonical.split("|", 1)[0]
        mode = self.profiles.get(canonical, self.profiles.get(url, "full"))
        return mode == "full"

    @classmethod
    def from_json(cls, data: Any) -> ValidationPolicy:
        if not isinstance(data, dict):
            raise PolicyError("the validation policy must be a JSON object")
        known = {
            "default",
            "types",
            "profiles",
            "required",
            "unknownProfile",
            "unknownExtension",
            "bestPractice",
        }
        unknown = set(data) - known
        if unknown:
            raise PolicyError(f"unknown policy keys: {', '.join(sorted(unknown))}")
        required = data.get("required") or {}
        if not isinstance(required, dict) or not all(
            isinstance(v, list) for v in required.values()
        ):
            raise PolicyError("required must map resource types to lists of profiles")
        return cls(
            default=data.get("default", "full"),
            types=dict(data.get("types") or {}),
            profiles=dict(data.get("profiles") or {}),
            required={k: tuple(v) for k, v in required.items()},
            unknown_profile=data.get("unknownProfile", "warning"),
            unknown_extension=data.get("unknownExtension", "warning"),
            best_practice=data.get("bestPractice", "warning"),
        )

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> ValidationPolicy:
        raw = (environ if environ is not None else os.environ).get(ENV_VAR, "").strip()
        if not raw:
            return cls()
        text = Path(raw[1:]).read_text(encoding="utf-8") if raw.startswith("@") else raw
        try:
            return cls.from_json(orjson.loads(text))
        except orjson.JSONDecodeError as exc:
            raise PolicyError(f"{ENV_VAR} is not valid JSON: {exc}") from exc
