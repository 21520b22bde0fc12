"""Socle's terminology server (SMT): CodeSystem, ValueSet and ConceptMap operations.

`engine.terminology` (a `Terminology`, see `service.py`) is the in-process interface;
`TerminologyService` is its Protocol.
"""

from socle.terminology.service import (
    LookupResult,
    Terminology,
    TerminologyService,
    TranslationResult,
    ValidationResult,
)

__all__ = [
    "LookupResult",
    "Terminology",
    "TerminologyService",
    "TranslationResult",
    "ValidationResult",
]
