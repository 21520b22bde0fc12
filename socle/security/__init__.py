"""Security of the platform: authentication, the access-policy engine, consent and audit.

Everything that decides access lives here, behind the kernel's Guard seam
(`socle.fhir.guard`). `install(engine)` (called by `create_app` when the auth mode is
`oidc`) puts `SecurityGuard` in place; see docs/security.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from socle.fhir.engine import FhirEngine
    from socle.security.service import Security


def install(engine: FhirEngine, config: Any = None) -> Security:
    from socle.security.service import install as _install

    return _install(engine, config)
