"""The French rules as a Socle plugin (entry point `socle.plugins: fr`).

`register(engine)` adds the rules to the engine's validation service, so they run on
writes, `$validate`; `register_validation(service)` does the same for a standalone
service (`socle validate` works offline, without an engine).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from socle.fr.rules import RULES

if TYPE_CHECKING:
    from socle.fhir.engine import FhirEngine
    from socle.fhir.validation.service import ValidationService


class FrenchRulesPlugin:
    name = "fr"

    def register(self, engine: FhirEngine) -> None:
        self.register_validation(engine.validation)

    @staticmethod
    def register_validation(service: ValidationService) -> None:
        registered = getattr(service, "_fr_rules", False)
        if registered:
            return
        for rule in RULES:
            service.add_rule(rule.profile, rule.code, rule.check)
        service._fr_rules = True  # type: ignore[attr-defined]


plugin = FrenchRulesPlugin()
