"""The profile validator checks bindings through the terminology server once it is loaded."""

from __future__ import annotations

from socle.terminology.validator import ValidatorTerminology

J07 = "https://mos.esante.gouv.fr/NOS/JDV_J07-XdsTypeCode-CISIS/FHIR/JDV-J07-XdsTypeCode-CISIS"
A05 = "urn:oid:1.2.250.1.213.1.1.4.12"


def test_validator_uses_the_smt_for_bindings(client, fhir_engine) -> None:  # noqa: ANN001
    assert "terminology" in fhir_engine.plugins
    terminology = fhir_engine.validation.validator.terminology
    assert isinstance(terminology, ValidatorTerminology)
    # a JDV only the SMT knows (CI-SIS SVS): a code outside it is refused
    assert terminology.validate_code(J07, A05, "NOT-A-TYPE") is False
    assert terminology.validate_code(J07, A05, "ATTEST-RESID") is True
