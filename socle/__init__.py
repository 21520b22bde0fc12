"""Socle: the French national e-health core, speaking FHIR R4."""

__version__ = "0.1.0"
