"""Per-request context handed to every interaction and operation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class RequestContext:
    """Who is asking, for which tenant, and how the answer should be shaped.

    `principal` is filled by the security layer (a later issue); the kernel only passes
    it along so that every decision can be taken in that one place.
    """

    tenant: str = "default"
    base_url: str = "http://127.0.0.1:8080/fhir"
    principal: Any = None
    lenient: bool = False
    extras: dict[str, Any] = field(default_factory=dict)
