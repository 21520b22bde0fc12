"""French rules for the generic engine: identifier checks the French guides state in prose.

The FR Core and ANS profiles are validated like any profile by `socle.fhir.validation`.
Some rules are not expressible in their StructureDefinitions (the NIR key, the RPPS
check digit, IDNPS = 8 + RPPS); `socle.fr.rules` implements them as named rules, and
`socle.fr.plugin` registers them on the profiles they belong to.
"""
