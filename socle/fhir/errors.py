"""FHIR errors: every failure becomes an OperationOutcome with the right HTTP status."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Issue:
    """One OperationOutcome.issue: severity, code (IssueType), text and FHIRPath locations;
    `details` (a CodeableConcept) when a coded reason says more than the IssueType."""

    severity: str
    code: str
    diagnostics: str
    expression: list[str] = field(default_factory=list)
    details: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"severity": self.severity, "code": self.code}
        if self.details:
            out["details"] = self.details
        out["diagnostics"] = self.diagnostics
        if self.expression:
            out["expression"] = list(self.expression)
        return out


def operation_outcome(issues: list[Issue]) -> dict[str, Any]:
    """Build an OperationOutcome resource from issues (an empty list means 'all ok')."""
    if not issues:
        issues = [Issue("information", "informational", "All OK")]
    return {"resourceType": "OperationOutcome", "issue": [i.to_json() for i in issues]}


class FhirError(Exception):
    """An error that maps to an HTTP status and an OperationOutcome."""

    def __init__(
        self,
        status: int,
        code: str,
        diagnostics: str,
        expression: list[str] | str | None = None,
        issues: list[Issue] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(diagnostics)
        if isinstance(expression, str):
            expression = [expression]
        self.status = status
        self.issues = issues or [Issue("error", code, diagnostics, expression or [])]
        self.headers = headers or {}

    @property
    def code(self) -> str:
        return self.issues[0].code

    def outcome(self) -> dict[str, Any]:
        return operation_outcome(self.issues)


def bad_request(msg: str, expression: list[str] | str | None = None, code: str = "invalid"):
    return FhirError(400, code, msg, expression)


def not_found(msg: str) -> FhirError:
    return FhirError(404, "not-found", msg)


def gone(msg: str, headers: dict[str, str] | None = None) -> FhirError:
    return FhirError(410, "deleted", msg, headers=headers)


def conflict(msg: str) -> FhirError:
    return FhirError(409, "conflict", msg)


def precondition_failed(msg: str) -> FhirError:
    return FhirError(412, "conflict", msg)


def unprocessable(msg: str, issues: list[Issue] | None = None) -> FhirError:
    return FhirError(422, "processing", msg, issues=issues)
