"""The generic FHIR R4 engine: storage, indexing, search, REST, validation, operations.

Nothing in this package knows about French rules; services plug in from outside.
"""
