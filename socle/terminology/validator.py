"""The SMT behind the profile validator's binding checks.

`socle.fhir.validation.terminology.Terminology` is the small interface the validator
calls (`has_value_set`, `validate_code(value_set, system, code)` answering True, False or
None for "cannot tell"). `ValidatorTerminology` implements it with this service, so the
validator sees everything the SMT serves: the CI-SIS JDV (by NOS URL or `urn:oid:`), NOS,
FR Core and R4 core value sets, and what each tenant loaded.

    from socle.terminology.validator import ValidatorTerminology
    ValidationService(..., terminology=ValidatorTerminology(engine.terminology))
"""

from __future__ import annotations

from socle.terminology.service import Terminology


class ValidatorTerminology:
    def __init__(self, service: Terminology, tenant: str | None = None) -> None:
        self.service = service
        self.tenant = tenant

    def has_value_set(self, value_set: str) -> bool:
        return self.service.has_value_set(value_set, tenant=self.tenant)

    def validate_code(self, value_set: str, system: str | None, code: str) -> bool | None:
        """True: a member; False: not a member; None: the SMT cannot tell (unknown system)."""
        result = self.service.validate_code(system, code, value_set=value_set, tenant=self.tenant)
        if result.result:
            return True
        return None if result.unknown else False
