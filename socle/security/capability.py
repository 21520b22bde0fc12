"""What `/fhir/metadata` says about security: SMART on FHIR, its OAuth endpoints, CORS.

Registered in `engine.capability_contributors` by `install()`, so that clients that read
the CapabilityStatement (rather than `/.well-known/smart-configuration`) find how to get
a token: `rest[0].security` with the SMART-on-FHIR service coding and the
`oauth-uris` extension (authorize, token, revoke, introspect).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from socle.security.config import SecurityConfig

SERVICE_SYSTEM = "http://terminology.hl7.org/CodeSystem/restful-security-service"
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"


def smart_contributor(config: SecurityConfig) -> Callable[[dict[str, Any], str], None]:
    """A contributor adding `rest[0].security` for this configuration."""

    def contribute(statement: dict[str, Any], base_url: str) -> None:
        rest = statement.get("rest") or []
        if rest:
            rest[0]["security"] = security_section(config)

    return contribute


def security_section(config: SecurityConfig) -> dict[str, Any]:
    """The CapabilityStatement.rest.security element (SMART App Launch 2, §Capability)."""
    section: dict[str, Any] = {
        "cors": bool(config.cors_origins),
        "service": [
            {
                "coding": [
                    {"system": SERVICE_SYSTEM, "code": "SMART-on-FHIR", "display": "SMART-on-FHIR"}
                ],
                "text": "OAuth2 using SMART-on-FHIR profile (see http://docs.smarthealthit.org)",
            }
        ],
        "description": (
            "Every request needs an OAuth 2.0 bearer token (SMART App Launch v1/v2 scopes), "
            "except this CapabilityStatement and the .well-known documents; see "
            ".well-known/smart-configuration. Accesses are decided by the access policy and "
            "recorded in the audit trail (AuditEvent)."
        ),
    }
    if config.embedded:
        iss = config.issuer
        uris = [("authorize", "authorize"), ("token", "token"), ("revoke", "revoke")]
        uris.append(("introspect", "introspect"))
        section["extension"] = [
            {
                "url": OAUTH_URIS,
                "extension": [{"url": name, "valueUri": f"{iss}/{path}"} for name, path in uris],
            }
        ]
    return section


__all__ = ["smart_contributor", "security_section"]
