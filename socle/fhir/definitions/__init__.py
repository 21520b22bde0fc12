"""FHIR R4 definitions: the model of resource types and their elements."""

from socle.fhir.definitions.model import ElementInfo, FhirModel, TypeInfo, get_model

__all__ = ["ElementInfo", "FhirModel", "TypeInfo", "get_model"]
