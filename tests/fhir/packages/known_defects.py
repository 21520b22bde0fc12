"""Package examples known to be wrong: the errors Socle reports for each, and why.

Generated from a validation run, then reviewed; `docs/validation.md` explains each reason.
Each entry: (reason, FHIRPath location, exact message).
"""

# ruff: noqa: E501

KNOWN_DEFECTS: dict[str, list[tuple[str, str, str]]] = {
    "ans.fhir.fr.annuaire/Organization-158480.json": [
        (
            "insee",
            "Organization.address[0].extension[0].value.ofType(Coding)",
            "Organization.address[0].extension[0].value.ofType(Coding): https://mos.esante.gouv.fr/NOS/TRE_R13-Commune/FHIR/TRE-R13-Commune#75114 is not in the value set https://hl7.fr/ig/fhir/core/ValueSet/fr-core-vs-insee-code|2.2.0 (required binding, from https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-address-insee-code)",
        ),
    ],
    "ans.fhir.fr.annuaire/Organization-158480DP.json": [
        (
            "insee",
            "Organization.address[0].extension[0].value.ofType(Coding)",
            "Organization.address[0].extension[0].value.ofType(Coding): https://mos.esante.gouv.fr/NOS/TRE_R13-Commune/FHIR/TRE-R13-Commune#75114 is not in the value set https://hl7.fr/ig/fhir/core/ValueSet/fr-core-vs-insee-code|2.2.0 (required binding, from https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-address-insee-code)",
        ),
    ],
    "ans.fhir.fr.annuaire/Organization-example-organization-fictive.json": [
        (
            "insee",
            "Organization.address[0].extension[0].value.ofType(Coding)",
            "Organization.address[0].extension[0].value.ofType(Coding): https://mos.esante.gouv.fr/NOS/TRE_R13-Commune/FHIR/TRE-R13-Commune#18000 is not in the value set https://hl7.fr/ig/fhir/core/ValueSet/fr-core-vs-insee-code|2.2.0 (required binding, from https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-address-insee-code)",
        ),
    ],
    "ans.fhir.fr.annuaire/Organization-example-organization-nancy.json": [
        (
            "insee",
            "Organization.address[0].extension[0].value.ofType(Coding)",
            "Organization.address[0].extension[0].value.ofType(Coding): https://mos.esante.gouv.fr/NOS/TRE_R13-Commune/FHIR/TRE-R13-Commune#54547 is not in the value set https://hl7.fr/ig/fhir/core/ValueSet/fr-core-vs-insee-code|2.2.0 (required binding, from https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-address-insee-code)",
        ),
    ],
    "ans.fhir.fr.annuaire/Person-pp16dr-person.json": [
        (
            "insee",
            "Person.extension[0].value.ofType(Address).extension[0].value.ofType(Coding)",
            "Person.extension[0].value.ofType(Address).extension[0].value.ofType(Coding): https://mos.esante.gouv.fr/NOS/TRE_R13-Commune/FHIR/TRE-R13-Commune#58086 is not in the value set https://hl7.fr/ig/fhir/core/ValueSet/fr-core-vs-insee-code|2.2.0 (required binding, from https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-address-insee-code)",
        ),
        (
            "meta-profile-canonical",
            "Person.meta.profile",
            "Person.meta.profile: slice 'as-dr-canonical' requires at least 1 element, found 0 (from https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/as-dr-person)",
        ),
    ],
    "ans.fhir.fr.annuaire/Person-pp19dr-person.json": [
        (
            "insee",
            "Person.extension[0].value.ofType(Address).extension[0].value.ofType(Coding)",
            "Person.extension[0].value.ofType(Address).extension[0].value.ofType(Coding): https://mos.esante.gouv.fr/NOS/TRE_R13-Commune/FHIR/TRE-R13-Commune#44109 is not in the value set https://hl7.fr/ig/fhir/core/ValueSet/fr-core-vs-insee-code|2.2.0 (required binding, from https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-address-insee-code)",
        ),
        (
            "meta-profile-canonical",
            "Person.meta.profile",
            "Person.meta.profile: slice 'as-dr-canonical' requires at least 1 element, found 0 (from https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/as-dr-person)",
        ),
    ],
    "ans.fhir.fr.annuaire/Practitioner-334081.json": [
        (
            "insee",
            "Practitioner.address[0].extension[0].value.ofType(Coding)",
            "Practitioner.address[0].extension[0].value.ofType(Coding): https://mos.esante.gouv.fr/NOS/TRE_R13-Commune/FHIR/TRE-R13-Commune#92023 is not in the value set https://hl7.fr/ig/fhir/core/ValueSet/fr-core-vs-insee-code|2.2.0 (required binding, from https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-address-insee-code)",
        ),
    ],
    "ans.fhir.fr.annuaire/Practitioner-3719500.json": [
        (
            "insee",
            "Practitioner.address[0].extension[0].value.ofType(Coding)",
            "Practitioner.address[0].extension[0].value.ofType(Coding): https://mos.esante.gouv.fr/NOS/TRE_R13-Commune/FHIR/TRE-R13-Commune#58059 is not in the value set https://hl7.fr/ig/fhir/core/ValueSet/fr-core-vs-insee-code|2.2.0 (required binding, from https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-address-insee-code)",
        ),
    ],
    "ans.fhir.fr.cds/Bundle-cds-bundle-transaction-creation-example.json": [
        (
            "empty-string",
            "Bundle.entry[0].resource.name.extension[0].extension[1].value.ofType(string)",
            "Bundle.entry[0].resource.name.extension[0].extension[1].value.ofType(string): empty string: FHIR forbids empty strings, omit the element instead",
        ),
        (
            "empty-string",
            "Bundle.entry[1].resource.alias[0].extension[0].extension[1].value.ofType(string)",
            "Bundle.entry[1].resource.alias[0].extension[0].extension[1].value.ofType(string): empty string: FHIR forbids empty strings, omit the element instead",
        ),
        (
            "empty-string",
            "Bundle.entry[1].resource.name.extension[0].extension[1].value.ofType(string)",
            "Bundle.entry[1].resource.name.extension[0].extension[1].value.ofType(string): empty string: FHIR forbids empty strings, omit the element instead",
        ),
    ],
    "ans.fhir.fr.cds/CareTeam-cds-careteam-example.json": [
        (
            "empty-string",
            "CareTeam.name.extension[0].extension[1].value.ofType(string)",
            "CareTeam.name.extension[0].extension[1].value.ofType(string): empty string: FHIR forbids empty strings, omit the element instead",
        ),
    ],
    "ans.fhir.fr.cds/Organization-cds-organization-example.json": [
        (
            "empty-string",
            "Organization.alias[0].extension[0].extension[1].value.ofType(string)",
            "Organization.alias[0].extension[0].extension[1].value.ofType(string): empty string: FHIR forbids empty strings, omit the element instead",
        ),
        (
            "empty-string",
            "Organization.name.extension[0].extension[1].value.ofType(string)",
            "Organization.name.extension[0].extension[1].value.ofType(string): empty string: FHIR forbids empty strings, omit the element instead",
        ),
    ],
    "ans.fhir.fr.cds/Patient-cds-patient-example.json": [
        (
            "insee",
            "Patient.extension[1].value.ofType(Address).extension[0].value.ofType(Coding)",
            "Patient.extension[1].value.ofType(Address).extension[0].value.ofType(Coding): https://mos.esante.gouv.fr/NOS/TRE_R13-Commune/FHIR/TRE-R13-Commune#29064 is not in the value set https://hl7.fr/ig/fhir/core/ValueSet/fr-core-vs-insee-code|2.2.0 (required binding, from https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-address-insee-code)",
        ),
        (
            "ins-key",
            "Patient.identifier[0].value",
            "FR-INS-001: INS-NIR '123456789012244' is not a valid 15-character INS (sex digit, year, month, place with 2A/2B, order, 2-digit key): Characters 4-5: month 45 is impossible (01-12, or the special values 20-42 and 50-99)",
        ),
        (
            "ins-key",
            "Patient.identifier[0].value",
            "FR-INS-002: INS-NIR '123456789012244' has key 44, expected 12 (key = 97 - (first 13 characters mod 97), 2A read as 19, 2B as 18)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-HAS-01-Presc-Pantoprazole-DC.json": [
        (
            "local-reference",
            "Bundle.entry[1].resource.medication.ofType(Reference)",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-HAS-01-Presc-Pantoprazole-MV.json": [
        (
            "bogus-medication",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept)",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept): http://BogusSystemMedicabase.com#MV00000792 is not in the value set https://interop.esante.gouv.fr/ig/fhir/eprescription/ValueSet/fr-medication-code (required binding, from https://interop.esante.gouv.fr/ig/fhir/eprescription/StructureDefinition/fr-medicationrequest)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-HAS-02-Presc-Fluindione.json": [
        (
            "bogus-medication",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept)",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept): http://BogusSystemMedicabase.com#MV00001070 is not in the value set https://interop.esante.gouv.fr/ig/fhir/eprescription/ValueSet/fr-medication-code (required binding, from https://interop.esante.gouv.fr/ig/fhir/eprescription/StructureDefinition/fr-medicationrequest)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-HAS-04a-Presc-Paracetamol.json": [
        (
            "bogus-medication",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept)",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept): http://BogusSystemMedicabase.com#MV00000557 is not in the value set https://interop.esante.gouv.fr/ig/fhir/eprescription/ValueSet/fr-medication-code (required binding, from https://interop.esante.gouv.fr/ig/fhir/eprescription/StructureDefinition/fr-medicationrequest)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-HAS-05a-Presc-Fluindione.json": [
        (
            "bogus-medication",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept)",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept): http://BogusSystemMedicabase.com#MV00001070 is not in the value set https://interop.esante.gouv.fr/ig/fhir/eprescription/ValueSet/fr-medication-code (required binding, from https://interop.esante.gouv.fr/ig/fhir/eprescription/StructureDefinition/fr-medicationrequest)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-HAS-06-1-Presc-Methotrexate.json": [
        (
            "bogus-medication",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept)",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept): http://BogusSystemMedicabase.com#MV00003397 is not in the value set https://interop.esante.gouv.fr/ig/fhir/eprescription/ValueSet/fr-medication-code (required binding, from https://interop.esante.gouv.fr/ig/fhir/eprescription/StructureDefinition/fr-medicationrequest)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-HAS-06-2-Presc-Methotrexate.json": [
        (
            "bogus-medication",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept)",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept): http://BogusSystemMedicabase.com#MV00003397 is not in the value set https://interop.esante.gouv.fr/ig/fhir/eprescription/ValueSet/fr-medication-code (required binding, from https://interop.esante.gouv.fr/ig/fhir/eprescription/StructureDefinition/fr-medicationrequest)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-HAS-07-Presc-Paracetamol.json": [
        (
            "bogus-medication",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept)",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept): http://BogusSystemMedicabase.com#MV00000557 is not in the value set https://interop.esante.gouv.fr/ig/fhir/eprescription/ValueSet/fr-medication-code (required binding, from https://interop.esante.gouv.fr/ig/fhir/eprescription/StructureDefinition/fr-medicationrequest)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-HAS-08-1-Presc-Betamethasone.json": [
        (
            "bogus-medication",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept)",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept): http://BogusSystemMedicabase.com#MV00000063 is not in the value set https://interop.esante.gouv.fr/ig/fhir/eprescription/ValueSet/fr-medication-code (required binding, from https://interop.esante.gouv.fr/ig/fhir/eprescription/StructureDefinition/fr-medicationrequest)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-HAS-08-2-Presc-Paracetamol.json": [
        (
            "bogus-medication",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept)",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept): http://BogusSystemMedicabase.com#MV00001921 is not in the value set https://interop.esante.gouv.fr/ig/fhir/eprescription/ValueSet/fr-medication-code (required binding, from https://interop.esante.gouv.fr/ig/fhir/eprescription/StructureDefinition/fr-medicationrequest)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-HAS-09-Presc-Ropinirole.json": [
        (
            "bogus-medication",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept)",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept): http://BogusSystemMedicabase.com#MV00000499 is not in the value set https://interop.esante.gouv.fr/ig/fhir/eprescription/ValueSet/fr-medication-code (required binding, from https://interop.esante.gouv.fr/ig/fhir/eprescription/StructureDefinition/fr-medicationrequest)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-HAS-10-Presc-Methotrexate.json": [
        (
            "bogus-medication",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept)",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept): http://BogusSystemMedicabase.com#MV00003397 is not in the value set https://interop.esante.gouv.fr/ig/fhir/eprescription/ValueSet/fr-medication-code (required binding, from https://interop.esante.gouv.fr/ig/fhir/eprescription/StructureDefinition/fr-medicationrequest)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-HAS-11-1-Presc-VitamineD.json": [
        (
            "bogus-medication",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept)",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept): http://BogusSystemMedicabase.com#MV00000507 is not in the value set https://interop.esante.gouv.fr/ig/fhir/eprescription/ValueSet/fr-medication-code (required binding, from https://interop.esante.gouv.fr/ig/fhir/eprescription/StructureDefinition/fr-medicationrequest)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-HAS-12-2-Presc-Methotrexate.json": [
        (
            "bogus-medication",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept)",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept): http://BogusSystemMedicabase.com#MV00003397 is not in the value set https://interop.esante.gouv.fr/ig/fhir/eprescription/ValueSet/fr-medication-code (required binding, from https://interop.esante.gouv.fr/ig/fhir/eprescription/StructureDefinition/fr-medicationrequest)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-HAS-12-3-Presc-Enoxaparine.json": [
        (
            "local-reference",
            "Bundle.entry[1].resource.medication.ofType(Reference)",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-HAS-13-Presc-Desloratadine.json": [
        (
            "bogus-medication",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept)",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept): http://BogusSystemMedicabase.com#MV00000161 is not in the value set https://interop.esante.gouv.fr/ig/fhir/eprescription/ValueSet/fr-medication-code (required binding, from https://interop.esante.gouv.fr/ig/fhir/eprescription/StructureDefinition/fr-medicationrequest)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-HAS-14-2-Presc-Betamethasone.json": [
        (
            "bogus-medication",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept)",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept): http://BogusSystemMedicabase.com#MV00000063 is not in the value set https://interop.esante.gouv.fr/ig/fhir/eprescription/ValueSet/fr-medication-code (required binding, from https://interop.esante.gouv.fr/ig/fhir/eprescription/StructureDefinition/fr-medicationrequest)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-HAS-15-Presc-Morphine.json": [
        (
            "core-invariant",
            "Bundle.entry[0].resource.dosageInstruction[0].timing.repeat",
            "Constraint tim-10 failed: If there's a timeOfDay, there cannot be a when, or vice versa (from http://hl7.org/fhir/StructureDefinition/MedicationRequest)",
        ),
        (
            "bogus-medication",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept)",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept): http://BogusSystemMedicabase.com#MV00001636 is not in the value set https://interop.esante.gouv.fr/ig/fhir/eprescription/ValueSet/fr-medication-code (required binding, from https://interop.esante.gouv.fr/ig/fhir/eprescription/StructureDefinition/fr-medicationrequest)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-HAS-16-Presc-Racecadotril.json": [
        (
            "core-invariant",
            "Bundle.entry[0].resource.dosageInstruction[0].timing.repeat",
            "Constraint tim-8 failed: If there's a countMax, there must be a count (from http://hl7.org/fhir/StructureDefinition/MedicationRequest)",
        ),
        (
            "bogus-medication",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept)",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept): http://BogusSystemMedicabase.com#MV00000139 is not in the value set https://interop.esante.gouv.fr/ig/fhir/eprescription/ValueSet/fr-medication-code (required binding, from https://interop.esante.gouv.fr/ig/fhir/eprescription/StructureDefinition/fr-medicationrequest)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-HAS-17-Presc-Budesonide.json": [
        (
            "bogus-medication",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept)",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept): http://BogusSystemMedicabase.com#MV00004231 is not in the value set https://interop.esante.gouv.fr/ig/fhir/eprescription/ValueSet/fr-medication-code (required binding, from https://interop.esante.gouv.fr/ig/fhir/eprescription/StructureDefinition/fr-medicationrequest)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-HAS-18-Presc-Budesonide-MV.json": [
        (
            "bogus-medication",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept)",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept): http://BogusSystemMedicabase.com#MV00004231 is not in the value set https://interop.esante.gouv.fr/ig/fhir/eprescription/ValueSet/fr-medication-code (required binding, from https://interop.esante.gouv.fr/ig/fhir/eprescription/StructureDefinition/fr-medicationrequest)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-HAS-19-Presc-Paracetamol.json": [
        (
            "bogus-medication",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept)",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept): http://BogusSystemMedicabase.com#MV00002414 is not in the value set https://interop.esante.gouv.fr/ig/fhir/eprescription/ValueSet/fr-medication-code (required binding, from https://interop.esante.gouv.fr/ig/fhir/eprescription/StructureDefinition/fr-medicationrequest)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-HAS-20-Presc-Hydrocortisone.json": [
        (
            "bogus-medication",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept)",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept): http://BogusSystemMedicabase.com#MV00000089 is not in the value set https://interop.esante.gouv.fr/ig/fhir/eprescription/ValueSet/fr-medication-code (required binding, from https://interop.esante.gouv.fr/ig/fhir/eprescription/StructureDefinition/fr-medicationrequest)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-HAS-21-Presc-Prednisolone.json": [
        (
            "bogus-medication",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept)",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept): http://BogusSystemMedicabase.com#MV00002248 is not in the value set https://interop.esante.gouv.fr/ig/fhir/eprescription/ValueSet/fr-medication-code (required binding, from https://interop.esante.gouv.fr/ig/fhir/eprescription/StructureDefinition/fr-medicationrequest)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-HAS-22-Presc-Prednisolone.json": [
        (
            "bogus-medication",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept)",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept): http://BogusSystemMedicabase.com#MV00002248 is not in the value set https://interop.esante.gouv.fr/ig/fhir/eprescription/ValueSet/fr-medication-code (required binding, from https://interop.esante.gouv.fr/ig/fhir/eprescription/StructureDefinition/fr-medicationrequest)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-HAS-23-1-Presc-Fluindione.json": [
        (
            "bogus-medication",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept)",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept): http://BogusSystemMedicabase.com#MV00001070 is not in the value set https://interop.esante.gouv.fr/ig/fhir/eprescription/ValueSet/fr-medication-code (required binding, from https://interop.esante.gouv.fr/ig/fhir/eprescription/StructureDefinition/fr-medicationrequest)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-HAS-23-2-Presc-Amiodarone.json": [
        (
            "bogus-medication",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept)",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept): http://BogusSystemMedicabase.com#MV00002542 is not in the value set https://interop.esante.gouv.fr/ig/fhir/eprescription/ValueSet/fr-medication-code (required binding, from https://interop.esante.gouv.fr/ig/fhir/eprescription/StructureDefinition/fr-medicationrequest)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-HAS-24-1-presc-Doxycyline.json": [
        (
            "bogus-medication",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept)",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept): http://BogusSystemMedicabase.com#MV00000833 is not in the value set https://interop.esante.gouv.fr/ig/fhir/eprescription/ValueSet/fr-medication-code (required binding, from https://interop.esante.gouv.fr/ig/fhir/eprescription/StructureDefinition/fr-medicationrequest)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-HAS-24-1-presc-Topiramate.json": [
        (
            "bogus-medication",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept)",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept): http://BogusSystemMedicabase.com#MV00002365 is not in the value set https://interop.esante.gouv.fr/ig/fhir/eprescription/ValueSet/fr-medication-code (required binding, from https://interop.esante.gouv.fr/ig/fhir/eprescription/StructureDefinition/fr-medicationrequest)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-HAS-26-Diazepam.json": [
        (
            "bogus-medication",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept)",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept): http://BogusSystemMedicabase.com#MV00000531 is not in the value set https://interop.esante.gouv.fr/ig/fhir/eprescription/ValueSet/fr-medication-code (required binding, from https://interop.esante.gouv.fr/ig/fhir/eprescription/StructureDefinition/fr-medicationrequest)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-HAS-27-2-presc-Rifampicine.json": [
        (
            "bogus-medication",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept)",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept): http://BogusSystemMedicabase.com#MV00002500 is not in the value set https://interop.esante.gouv.fr/ig/fhir/eprescription/ValueSet/fr-medication-code (required binding, from https://interop.esante.gouv.fr/ig/fhir/eprescription/StructureDefinition/fr-medicationrequest)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-HAS-30-1-Presc-Hydrocortisone.json": [
        (
            "core-invariant",
            "Bundle.entry[0].resource.dosageInstruction[2].timing.repeat",
            "Constraint tim-10 failed: If there's a timeOfDay, there cannot be a when, or vice versa (from http://hl7.org/fhir/StructureDefinition/MedicationRequest)",
        ),
        (
            "bogus-medication",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept)",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept): http://BogusSystemMedicabase.com#MV00000089 is not in the value set https://interop.esante.gouv.fr/ig/fhir/eprescription/ValueSet/fr-medication-code (required binding, from https://interop.esante.gouv.fr/ig/fhir/eprescription/StructureDefinition/fr-medicationrequest)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-HAS-30-2-Presc-Cetirizine.json": [
        (
            "bogus-medication",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept)",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept): http://BogusSystemMedicabase.com#MV00000524 is not in the value set https://interop.esante.gouv.fr/ig/fhir/eprescription/ValueSet/fr-medication-code (required binding, from https://interop.esante.gouv.fr/ig/fhir/eprescription/StructureDefinition/fr-medicationrequest)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-MultiLine-Presc-METFORMINE-GLICLAZIDE.json": [
        (
            "extension-context",
            "Bundle.entry[2].resource.action[0].relatedAction[0].extension[0]",
            "Bundle.entry[2].resource.action[0].relatedAction[0].extension[0]: extension https://interop.esante.gouv.fr/ig/fhir/eprescription/StructureDefinition/fr-additional-action-relationship is not allowed on RequestGroup.action.relatedAction (BackboneElement); its context allows RequestGroup.action.retaledAction",
        ),
        (
            "local-reference",
            "Bundle.entry[2].resource.action[0].resource",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
        (
            "local-reference",
            "Bundle.entry[2].resource.action[1].resource",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-MultiLine-Presc-METHOTREXATE-LEDERFOLINE.json": [
        (
            "local-reference",
            "Bundle.entry[2].resource.action[0].resource",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
        (
            "local-reference",
            "Bundle.entry[2].resource.action[1].resource",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-MultiLine-Presc-Sucralfate-Paracetamol.json": [
        (
            "local-reference",
            "Bundle.entry[2].resource.action[0].resource",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
        (
            "local-reference",
            "Bundle.entry[2].resource.action[1].resource",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-Presc-BISOPROLOL-SANDOZ-DosesRationnelles.json": [
        (
            "local-reference",
            "Bundle.entry[1].resource.medication.ofType(Reference)",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-Presc-Betamethasone-ApplCut.json": [
        (
            "local-reference",
            "Bundle.entry[1].resource.medication.ofType(Reference)",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-Presc-Capecitabine-Dose-Calculee.json": [
        (
            "local-reference",
            "Bundle.entry[1].resource.medication.ofType(Reference)",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-Presc-DIPROSONE-AppCut.json": [
        (
            "local-reference",
            "Bundle.entry[1].resource.medication.ofType(Reference)",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-Presc-DOLIPRANE-20DoseParKG.json": [
        (
            "core-invariant",
            "Bundle.entry[0].resource.ingredient[0].strength",
            "Constraint rat-1 failed: Numerator and denominator SHALL both be present, or both are absent. If both are absent, there SHALL be some extension present (from http://hl7.org/fhir/StructureDefinition/Ratio)",
        ),
        (
            "local-reference",
            "Bundle.entry[1].resource.medication.ofType(Reference)",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-Presc-EFFERALGAN.json": [
        (
            "local-reference",
            "Bundle.entry[1].resource.medication.ofType(Reference)",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-Presc-Fentanyl-patch72h-TL3j.json": [
        (
            "local-reference",
            "Bundle.entry[1].resource.medication.ofType(Reference)",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-Presc-MATRIFEN-patch-TL72h.json": [
        (
            "local-reference",
            "Bundle.entry[1].resource.medication.ofType(Reference)",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-Presc-MV-PerfGl-NaCl-KCl.json": [
        (
            "bogus-medication",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept)",
            "Bundle.entry[0].resource.medication.ofType(CodeableConcept): http://BogusSystemMedicabase.com#MV00004216 is not in the value set https://interop.esante.gouv.fr/ig/fhir/eprescription/ValueSet/fr-inpatient-medication-code (required binding, from https://interop.esante.gouv.fr/ig/fhir/eprescription/StructureDefinition/fr-inpatient-medicationrequest)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-Presc-Methylpredinosolone-DosesEvolutives.json": [
        (
            "local-reference",
            "Bundle.entry[1].resource.medication.ofType(Reference)",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-Presc-MiniperfCefotaxime-En20min-Pdt3j.json": [
        (
            "local-reference",
            "Bundle.entry[2].resource.ingredient[0].item.ofType(Reference)",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
        (
            "local-reference",
            "Bundle.entry[2].resource.ingredient[1].item.ofType(Reference)",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
        (
            "local-reference",
            "Bundle.entry[3].resource.dosageInstruction[0].doseAndRate[0].extension[0].value.ofType(Reference)",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
        (
            "local-reference",
            "Bundle.entry[3].resource.medication.ofType(Reference)",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-Presc-MiniperfCefotaxime-En20min-Pdt4j.json": [
        (
            "local-reference",
            "Bundle.entry[2].resource.ingredient[0].item.ofType(Reference)",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
        (
            "local-reference",
            "Bundle.entry[2].resource.ingredient[1].item.ofType(Reference)",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
        (
            "local-reference",
            "Bundle.entry[3].resource.dosageInstruction[0].doseAndRate[0].extension[0].value.ofType(Reference)",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
        (
            "local-reference",
            "Bundle.entry[3].resource.medication.ofType(Reference)",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-Presc-NICORETTESKIN-patch.json": [
        (
            "local-reference",
            "Bundle.entry[1].resource.medication.ofType(Reference)",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-Presc-Nicotine-15mgPar16h.json": [
        (
            "local-reference",
            "Bundle.entry[1].resource.medication.ofType(Reference)",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-Presc-Paracetamol-DoseEvolutive.json": [
        (
            "local-reference",
            "Bundle.entry[1].resource.medication.ofType(Reference)",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-Presc-Paracetamol-SiDouleur-MaxPrise-DelaisMin.json": [
        (
            "core-invariant",
            "Bundle.entry[1].resource.dosageInstruction[0].timing.repeat",
            "Constraint tim-6 failed: If there's a periodMax, there must be a period (from http://hl7.org/fhir/StructureDefinition/MedicationRequest)",
        ),
        (
            "local-reference",
            "Bundle.entry[1].resource.medication.ofType(Reference)",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-Presc-Paracetamol-TL6h.json": [
        (
            "local-reference",
            "Bundle.entry[1].resource.medication.ofType(Reference)",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-Presc-Paracetamol.json": [
        (
            "local-reference",
            "Bundle.entry[1].resource.medication.ofType(Reference)",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-Presc-ParacetamolCodeine-500mg30mg.json": [
        (
            "local-reference",
            "Bundle.entry[1].resource.medication.ofType(Reference)",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-Presc-PerfDobutamine-Qsp40mL.json": [
        (
            "local-reference",
            "Bundle.entry[2].resource.ingredient[0].item.ofType(Reference)",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
        (
            "local-reference",
            "Bundle.entry[3].resource.dosageInstruction[0].doseAndRate[0].extension[0].value.ofType(Reference)",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
        (
            "local-reference",
            "Bundle.entry[3].resource.medication.ofType(Reference)",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-Presc-PerfGl-NaCl-KCl-1l.json": [
        (
            "substance-snomed",
            "Bundle.entry[0].resource.ingredient[0].item.ofType(CodeableConcept).coding[0]",
            "Bundle.entry[0].resource.ingredient[0].item.ofType(CodeableConcept).coding[0]: http://snomed.info/sct#67079006 is not in the value set https://interop.esante.gouv.fr/ig/fhir/eprescription/ValueSet/fr-substance-code (required binding, from https://interop.esante.gouv.fr/ig/fhir/eprescription/StructureDefinition/fr-mp-substance)",
        ),
        (
            "local-reference",
            "Bundle.entry[3].resource.ingredient[0].item.ofType(Reference)",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
        (
            "local-reference",
            "Bundle.entry[3].resource.ingredient[1].item.ofType(Reference)",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
        (
            "local-reference",
            "Bundle.entry[3].resource.ingredient[2].item.ofType(Reference)",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
        (
            "local-reference",
            "Bundle.entry[4].resource.medication.ofType(Reference)",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-Presc-PerfGl-NaCl-KCl-500ml.json": [
        (
            "local-reference",
            "Bundle.entry[3].resource.ingredient[0].item.ofType(Reference)",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
        (
            "local-reference",
            "Bundle.entry[3].resource.ingredient[1].item.ofType(Reference)",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
        (
            "local-reference",
            "Bundle.entry[3].resource.ingredient[2].item.ofType(Reference)",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
        (
            "local-reference",
            "Bundle.entry[4].resource.medication.ofType(Reference)",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-Presc-SolPrPerf-BIONOLYTE-G5-500mL-Sur12h.json": [
        (
            "local-reference",
            "Bundle.entry[1].resource.medication.ofType(Reference)",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-TradPN13FHIR-MultiLine-Presc-Alt-METFORMINE-GLICLAZIDE.json": [
        (
            "insee",
            "Bundle.entry[0].resource.extension[1].value.ofType(Address).extension[0].value.ofType(Coding)",
            "Bundle.entry[0].resource.extension[1].value.ofType(Address).extension[0].value.ofType(Coding): https://mos.esante.gouv.fr/NOS/TRE_R13-Commune/FHIR/TRE-R13-Commune#29134 is not in the value set https://hl7.fr/ig/fhir/core/ValueSet/fr-core-vs-insee-code|2.2.0 (required binding, from https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-address-insee-code)",
        ),
        (
            "ins-key",
            "Bundle.entry[0].resource.identifier[0].value",
            "FR-INS-002: INS-NIR '289062913400149' has key 49, expected 46 (key = 97 - (first 13 characters mod 97), 2A read as 19, 2B as 18)",
        ),
        (
            "extension-context",
            "Bundle.entry[3].resource.action[0].relatedAction[0].extension[0]",
            "Bundle.entry[3].resource.action[0].relatedAction[0].extension[0]: extension https://interop.esante.gouv.fr/ig/fhir/eprescription/StructureDefinition/fr-additional-action-relationship is not allowed on RequestGroup.action.relatedAction (BackboneElement); its context allows RequestGroup.action.retaledAction",
        ),
        (
            "extension-context",
            "Bundle.entry[3].resource.action[1].relatedAction[0].extension[0]",
            "Bundle.entry[3].resource.action[1].relatedAction[0].extension[0]: extension https://interop.esante.gouv.fr/ig/fhir/eprescription/StructureDefinition/fr-additional-action-relationship is not allowed on RequestGroup.action.relatedAction (BackboneElement); its context allows RequestGroup.action.retaledAction",
        ),
        (
            "local-reference",
            "Bundle.entry[1].resource.subject",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
        (
            "local-reference",
            "Bundle.entry[2].resource.subject",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
        (
            "local-reference",
            "Bundle.entry[3].resource.action[0].resource",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
        (
            "local-reference",
            "Bundle.entry[3].resource.action[1].resource",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
        (
            "local-reference",
            "Bundle.entry[3].resource.subject",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-TradPN13FHIR-Presc-DOLIPRANE-Interpret.json": [
        (
            "local-reference",
            "Bundle.entry[1].resource.medication.ofType(Reference)",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-TradPN13FHIR-Presc-DOLIPRANE.json": [
        (
            "local-reference",
            "Bundle.entry[1].resource.medication.ofType(Reference)",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-TradPN13FHIR-Presc-Morphine-PCA.json": [
        (
            "insee",
            "Bundle.entry[0].resource.extension[1].value.ofType(Address).extension[0].value.ofType(Coding)",
            "Bundle.entry[0].resource.extension[1].value.ofType(Address).extension[0].value.ofType(Coding): https://mos.esante.gouv.fr/NOS/TRE_R13-Commune/FHIR/TRE-R13-Commune#29134 is not in the value set https://hl7.fr/ig/fhir/core/ValueSet/fr-core-vs-insee-code|2.2.0 (required binding, from https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-address-insee-code)",
        ),
        (
            "ins-key",
            "Bundle.entry[0].resource.identifier[0].value",
            "FR-INS-002: INS-NIR '289062913400149' has key 49, expected 46 (key = 97 - (first 13 characters mod 97), 2A read as 19, 2B as 18)",
        ),
        (
            "local-reference",
            "Bundle.entry[1].resource.subject",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-TradPN13FHIR-Presc-Paracetamol-SiDouleur.json": [
        (
            "local-reference",
            "Bundle.entry[3].resource.subject",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
        (
            "local-reference",
            "Bundle.entry[4].resource.subject",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
        (
            "local-reference",
            "Bundle.entry[5].resource.medication.ofType(Reference)",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
        (
            "local-reference",
            "Bundle.entry[5].resource.requester",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
        (
            "local-reference",
            "Bundle.entry[5].resource.subject",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
        (
            "local-reference",
            "Bundle.entry[5].resource.supportingInformation[1]",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
        (
            "local-reference",
            "Bundle.entry[5].resource.supportingInformation[2]",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-TradPN13FHIR-Presc-Paracetamol.json": [
        (
            "local-reference",
            "Bundle.entry[3].resource.subject",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
        (
            "local-reference",
            "Bundle.entry[4].resource.subject",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
        (
            "local-reference",
            "Bundle.entry[5].resource.medication.ofType(Reference)",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
        (
            "local-reference",
            "Bundle.entry[5].resource.requester",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
        (
            "local-reference",
            "Bundle.entry[5].resource.subject",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
        (
            "local-reference",
            "Bundle.entry[5].resource.supportingInformation[1]",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
        (
            "local-reference",
            "Bundle.entry[5].resource.supportingInformation[2]",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
    ],
    "ans.fhir.fr.eprescription/Bundle-TradPN13FHIR-Presc-perfusion-6-composants.json": [
        (
            "official-name-family",
            "Bundle.entry[0].resource.name[1].family",
            "Bundle.entry[0].resource.name[1].family: minimum required = 1, but only found 0 (from https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient)",
        ),
        (
            "local-reference",
            "Bundle.entry[10].resource.subject",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
        (
            "local-reference",
            "Bundle.entry[11].resource.subject",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
        (
            "local-reference",
            "Bundle.entry[12].resource.medication.ofType(Reference)",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
        (
            "local-reference",
            "Bundle.entry[12].resource.requester",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
        (
            "local-reference",
            "Bundle.entry[12].resource.subject",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
        (
            "local-reference",
            "Bundle.entry[12].resource.supportingInformation[0]",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
        (
            "local-reference",
            "Bundle.entry[12].resource.supportingInformation[1]",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
        (
            "local-reference",
            "Bundle.entry[12].resource.supportingInformation[2]",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
        (
            "local-reference",
            "Bundle.entry[8].resource.ingredient[0].item.ofType(Reference)",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
        (
            "local-reference",
            "Bundle.entry[8].resource.ingredient[1].item.ofType(Reference)",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
        (
            "local-reference",
            "Bundle.entry[8].resource.ingredient[2].item.ofType(Reference)",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
        (
            "local-reference",
            "Bundle.entry[8].resource.ingredient[3].item.ofType(Reference)",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
        (
            "local-reference",
            "Bundle.entry[8].resource.ingredient[4].item.ofType(Reference)",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
        (
            "local-reference",
            "Bundle.entry[8].resource.ingredient[5].item.ofType(Reference)",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
        (
            "local-reference",
            "Bundle.entry[9].resource.subject",
            "Constraint ref-1 failed: SHALL have a contained resource if a local reference is provided (from http://hl7.org/fhir/StructureDefinition/Reference)",
        ),
    ],
    "ans.fhir.fr.nde/CommunicationRequest-com1.json": [
        (
            "practitioner-identifier-type",
            "CommunicationRequest.contained[2].identifier[0].type",
            "CommunicationRequest.contained[2].identifier[0].type: minimum required = 1, but only found 0 (from https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-practitioner)",
        ),
        (
            "idnps-as-rpps",
            "CommunicationRequest.contained[2].identifier[0].value",
            "FR-RPPS-001: RPPS '801234567897' must be 11 digits",
        ),
        (
            "practitioner-identifier-type",
            "CommunicationRequest.recipient[0]",
            "CommunicationRequest.recipient[0]: the referenced Practitioner does not conform to https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-practitioner (first problem: Practitioner.identifier[0].type: minimum required = 1, but only found 0 (from https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-practitioner))",
        ),
    ],
    "ans.fhir.fr.nde/Subscription-sub1.json": [
        (
            "practitioner-identifier-type",
            "Subscription.contained[2].identifier[0].type",
            "Subscription.contained[2].identifier[0].type: minimum required = 1, but only found 0 (from https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-practitioner)",
        ),
        (
            "idnps-as-rpps",
            "Subscription.contained[2].identifier[0].value",
            "FR-RPPS-001: RPPS '801234567897' must be 11 digits",
        ),
        (
            "practitioner-identifier-type",
            "Subscription.extension[4].value.ofType(Reference)",
            "Subscription.extension[4].value.ofType(Reference): the referenced Practitioner does not conform to https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-practitioner (first problem: Practitioner.identifier[0].type: minimum required = 1, but only found 0 (from https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-practitioner))",
        ),
    ],
    "ans.fhir.fr.pdsm/DocumentReference-exemple-pdsm-documentreference.json": [
        (
            "dom-4",
            "DocumentReference.contained[0].meta",
            "A contained resource cannot have meta.versionId or meta.lastUpdated (dom-4)",
        ),
    ],
    "ans.fhir.fr.pdsm/List-ExampleSubmissionSet.json": [
        (
            "dom-4",
            "List.contained[0].meta",
            "A contained resource cannot have meta.versionId or meta.lastUpdated (dom-4)",
        ),
        (
            "dom-4",
            "List.contained[1].meta",
            "A contained resource cannot have meta.versionId or meta.lastUpdated (dom-4)",
        ),
    ],
    "ans.fhir.fr.pdsm/Organization-org-example.json": [
        (
            "annuaire-version",
            "Organization.meta.profile",
            "Organization.meta.profile: slice 'as-dp-canonical' requires at least 1 element, found 0 (from https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/as-dp-organization)",
        ),
        (
            "annuaire-version",
            "Organization.meta.profile",
            "Organization.meta.profile: slice 'fr-canonical' requires at least 1 element, found 0 (from https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/as-dp-organization)",
        ),
        (
            "annuaire-version",
            "Organization.meta.source",
            "Organization.meta.source: value 'https://annuaire.sante.fr' does not match the pattern 'https://annuaire.esante.gouv.fr' (from https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/as-dp-organization)",
        ),
    ],
    "ans.fhir.fr.pdsm4dmp/Bundle-example-annexe-searchset-documentreferences.json": [
        (
            "pdsm-custodian",
            "Bundle.entry[0].resource.custodian",
            "Bundle.entry[0].resource.custodian: minimum required = 1, but only found 0 (from https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/pdsm-comprehensive-document-reference)",
        ),
        (
            "pdsm-custodian",
            "Bundle.entry[1].resource.custodian",
            "Bundle.entry[1].resource.custodian: minimum required = 1, but only found 0 (from https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/pdsm-comprehensive-document-reference)",
        ),
    ],
    "ans.fhir.fr.pdsm4dmp/Bundle-example-td2-1-remplacement.json": [
        (
            "pdsm-submissionset",
            "Bundle.entry",
            "Bundle.entry: slice 'SubmissionSet' requires at least 1 element, found 0 (from https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/pdsm-comprehensive-provide-document-bundle)",
        ),
        (
            "pdsm-custodian",
            "Bundle.entry[0].resource.entry[0].item",
            "Bundle.entry[0].resource.entry[0].item: the referenced DocumentReference does not conform to https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/pdsm-comprehensive-document-reference (first problem: DocumentReference.author[0]: the referenced Practitioner does not conform to https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/as-practitioner (first problem: Practitioner.identifier[0].type: minimum required = 1, but only found 0 (from https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/as-practitioner)))",
        ),
        (
            "pdsm-source-practitioner",
            "Bundle.entry[0].resource.source.reference",
            "Bundle.entry[0].resource.source: a reference to Practitioner is not allowed here (allowed: Device, Patient, PractitionerRole)",
        ),
        (
            "practitioner-identifier-type",
            "Bundle.entry[1].resource.authenticator",
            "Bundle.entry[1].resource.authenticator: the referenced Practitioner does not conform to https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/as-practitioner (first problem: Practitioner.identifier[0].type: minimum required = 1, but only found 0 (from https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/as-practitioner))",
        ),
        (
            "practitioner-identifier-type",
            "Bundle.entry[1].resource.author[0]",
            "Bundle.entry[1].resource.author[0]: the referenced Practitioner does not conform to https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/as-practitioner (first problem: Practitioner.identifier[0].type: minimum required = 1, but only found 0 (from https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/as-practitioner))",
        ),
        (
            "pdsm-custodian",
            "Bundle.entry[1].resource.custodian",
            "Bundle.entry[1].resource.custodian: minimum required = 1, but only found 0 (from https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/pdsm-comprehensive-document-reference)",
        ),
    ],
    "ans.fhir.fr.pdsm4dmp/Bundle-example-td2-iti65-lot-soumission.json": [
        (
            "pdsm-submissionset",
            "Bundle.entry",
            "Bundle.entry: slice 'SubmissionSet' requires at least 1 element, found 0 (from https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/pdsm-comprehensive-provide-document-bundle)",
        ),
        (
            "pdsm-custodian",
            "Bundle.entry[0].resource.entry[0].item",
            "Bundle.entry[0].resource.entry[0].item: the referenced DocumentReference does not conform to https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/pdsm-comprehensive-document-reference (first problem: DocumentReference.author[0]: the referenced Practitioner does not conform to https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/as-practitioner (first problem: Practitioner.identifier[0].type: minimum required = 1, but only found 0 (from https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/as-practitioner)))",
        ),
        (
            "pdsm-source-practitioner",
            "Bundle.entry[0].resource.source.reference",
            "Bundle.entry[0].resource.source: a reference to Practitioner is not allowed here (allowed: Device, Patient, PractitionerRole)",
        ),
        (
            "practitioner-identifier-type",
            "Bundle.entry[1].resource.authenticator",
            "Bundle.entry[1].resource.authenticator: the referenced Practitioner does not conform to https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/as-practitioner (first problem: Practitioner.identifier[0].type: minimum required = 1, but only found 0 (from https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/as-practitioner))",
        ),
        (
            "practitioner-identifier-type",
            "Bundle.entry[1].resource.author[0]",
            "Bundle.entry[1].resource.author[0]: the referenced Practitioner does not conform to https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/as-practitioner (first problem: Practitioner.identifier[0].type: minimum required = 1, but only found 0 (from https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/as-practitioner))",
        ),
        (
            "pdsm-custodian",
            "Bundle.entry[1].resource.custodian",
            "Bundle.entry[1].resource.custodian: minimum required = 1, but only found 0 (from https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/pdsm-comprehensive-document-reference)",
        ),
    ],
    "ans.fhir.fr.pdsm4dmp/DocumentReference-doc-x-id.json": [
        (
            "practitioner-identifier-type",
            "DocumentReference.authenticator",
            "DocumentReference.authenticator: the referenced Practitioner does not conform to https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/as-practitioner (first problem: Practitioner.identifier[0].type: minimum required = 1, but only found 0 (from https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/as-practitioner))",
        ),
        (
            "practitioner-identifier-type",
            "DocumentReference.author[0]",
            "DocumentReference.author[0]: the referenced Practitioner does not conform to https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/as-practitioner (first problem: Practitioner.identifier[0].type: minimum required = 1, but only found 0 (from https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/as-practitioner))",
        ),
        (
            "pdsm-custodian",
            "DocumentReference.custodian",
            "DocumentReference.custodian: minimum required = 1, but only found 0 (from https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/pdsm-comprehensive-document-reference)",
        ),
    ],
    "ans.fhir.fr.pdsm4dmp/DocumentReference-example-annexe-docref-cda.json": [
        (
            "pdsm-custodian",
            "DocumentReference.custodian",
            "DocumentReference.custodian: minimum required = 1, but only found 0 (from https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/pdsm-comprehensive-document-reference)",
        ),
    ],
    "ans.fhir.fr.pdsm4dmp/DocumentReference-example-annexe-docref-fhir.json": [
        (
            "pdsm-custodian",
            "DocumentReference.custodian",
            "DocumentReference.custodian: minimum required = 1, but only found 0 (from https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/pdsm-comprehensive-document-reference)",
        ),
    ],
    "ans.fhir.fr.pdsm4dmp/DocumentReference-example-td2-iti105-publication-simplifiee.json": [
        (
            "practitioner-identifier-type",
            "DocumentReference.author[0]",
            "DocumentReference.author[0]: the referenced Practitioner does not conform to https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/as-practitioner (first problem: Practitioner.identifier[0].type: minimum required = 1, but only found 0 (from https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/as-practitioner))",
        ),
        (
            "pdsm-custodian",
            "DocumentReference.custodian",
            "DocumentReference.custodian: minimum required = 1, but only found 0 (from https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/pdsm-simplified-publish)",
        ),
    ],
    "ans.fhir.fr.pdsm4dmp/DocumentReference-example-td3-1a-cr-consultation.json": [
        (
            "pdsm-custodian",
            "DocumentReference.custodian",
            "DocumentReference.custodian: minimum required = 1, but only found 0 (from https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/pdsm-comprehensive-document-reference)",
        ),
    ],
    "ans.fhir.fr.pdsm4dmp/DocumentReference-example-td3-1a-fhir-document.json": [
        (
            "pdsm-custodian",
            "DocumentReference.custodian",
            "DocumentReference.custodian: minimum required = 1, but only found 0 (from https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/pdsm-comprehensive-document-reference)",
        ),
    ],
    "ans.fhir.fr.pdsm4dmp/DocumentReference-example-td3-1a-ordonnance.json": [
        (
            "pdsm-custodian",
            "DocumentReference.custodian",
            "DocumentReference.custodian: minimum required = 1, but only found 0 (from https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/pdsm-comprehensive-document-reference)",
        ),
    ],
    "ans.fhir.fr.tde/Practitioner-PractitionerExample.json": [
        (
            "practitioner-identifier-type",
            "Practitioner.identifier[0].type",
            "Practitioner.identifier[0].type: minimum required = 1, but only found 0 (from https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-practitioner)",
        ),
    ],
    "hl7.fhir.fr.core/Patient-FRCorePatientExample.json": [
        (
            "ins-key",
            "Patient.identifier[0].value",
            "FR-INS-001: INS-NIR '123456789012244' is not a valid 15-character INS (sex digit, year, month, place with 2A/2B, order, 2-digit key): Characters 4-5: month 45 is impossible (01-12, or the special values 20-42 and 50-99)",
        ),
        (
            "ins-key",
            "Patient.identifier[0].value",
            "FR-INS-002: INS-NIR '123456789012244' has key 44, expected 12 (key = 97 - (first 13 characters mod 97), 2A read as 19, 2B as 18)",
        ),
    ],
}

# Why each example fails (docs/validation.md shows the same table).
REASONS: dict[str, str] = {
    "insee": "INSEE commune code from TRE_R13-Commune, but FR Core's fr-core-vs-insee-code only includes TRE_R13-CommuneOM (the IG publisher reports it too)",
    "bogus-medication": "medication coded in the placeholder system http://BogusSystemMedicabase.com, outside the required fr-medication-code value set (the IG publisher reports it too)",
    "substance-snomed": "substance coded in SNOMED CT only; the fr-mp-substance profile binds each coding (required) to fr-substance-code, which includes only the ANSM substance and SMS systems (the IG publisher could not check the SNOMED CT coding: its report has a processing warning there)",
    "pdsm-custodian": "DocumentReference without custodian: required by PDSm 3.1.1, which stands in for the PDSm 3.1.0 the package depends on (not available; the IG publisher, with 3.1.0, does not report it)",
    "dom-4": "contained resource with meta.versionId/lastUpdated (dom-4; the IG publisher reports it too)",
    "empty-string": "empty valueString in a translation extension (the IG publisher reports it too)",
    "pdsm-source-practitioner": "SubmissionSet.source references a Practitioner; PDSm allows Device, Patient or PractitionerRole (the IG publisher reports it too)",
    "practitioner-identifier-type": "RPPS/IDNPS identifier without identifier.type, which the rpps/idNatPs identifier slices of FR Core 2.2.0 (and of Annuaire 1.2.0-snapshot-2's as-practitioner) require; the package was written for FR Core 2.1.0 (and PDSm 3.1.0 / Annuaire 1.0.1), which the IG publisher used",
    "meta-profile-canonical": "meta.profile lacks the versioned canonical the Annuaire profile requires (the IG publisher reports it too)",
    "idnps-as-rpps": "an IDNPS value (8 + RPPS, 12 digits) under the RPPS system, which holds 11-digit RPPS numbers (French rule FR-RPPS-001)",
    "ins-key": "INS-NIR that is not a NIR: a wrong key (French rule FR-INS-002), and for the placeholder 123456789012244 also an impossible birth month 45 (FR-INS-001)",
    "core-invariant": "dosage timing or ratio breaking an R4 core invariant (the IG publisher reports it too)",
    "pdsm-submissionset": "provide-document Bundle whose SubmissionSet entry does not conform to the SubmissionSet profile (the IG publisher reports it too)",
    "official-name-family": "officialName without family (the IG publisher reports it too)",
    "annuaire-version": "validated against Annuaire 1.2.0-snapshot-2 (the package depends on 1.1.0, not available), which requires meta.source and versioned meta.profile canonicals",
    "local-reference": "a '#id' reference to another entry of the Bundle: '#' names a contained resource of the referring resource itself, so the R4 core invariant ref-1 fails; entries are referenced by their fullUrl (the IG publisher reports it too)",
    "extension-context": "the ePrescription extension fr-additional-action-relationship is used on RequestGroup.action.relatedAction, but its definition's context names RequestGroup.action.retaledAction (a typo, so it is allowed nowhere; the IG publisher reports both)",
}
