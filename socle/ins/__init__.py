"""The INS service: national health identity (INS) rules, RNIV statuses, an INSi-style
teleservice, identity vigilance (matching, duplicates, collisions, merge) and the
HL7 v2 PAM feed.

Registered as the ``ins`` entry point of ``socle.plugins``; see docs/ins.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from socle.fhir.engine import FhirEngine


class InsPlugin:
    name = "ins"

    def register(self, engine: FhirEngine) -> None:
        from socle.ins import demo, operations
        from socle.ins.hooks import make_write_hook
        from socle.ins.index import make_after_write
        from socle.ins.outgoing import filter_past, filter_patient

        operations.register(engine)
        engine.hooks.write.append(make_write_hook(engine))
        engine.hooks.reads_replaced.add("Patient")  # the hook compares with the stored one
        # the identity index follows every Patient write, in the writer's transaction
        engine.hooks.after_write.append(make_after_write(engine))
        # RNIV: the INS leaves the server only with a qualified identity (read, search…)
        engine.hooks.add_output("Patient", lambda _ctx, patient: filter_patient(patient))
        # ... and a past version's INS only while the identity is still qualified now
        engine.hooks.add_past_output("Patient", lambda _ctx, old, now: filter_past(old, now))
        engine.demo_loaders.append(demo.load_registry)
        # Socle's own extensions and code systems, known to $validate
        from socle.ins.definitions import definitions

        engine.validation.add_definitions(definitions())


plugin = InsPlugin()
