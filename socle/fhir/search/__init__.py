"""FHIR search, query side: parse a request, run it on the index tables, page, include.

Public API: `SearchEngine` (``parse``, ``search``, ``find_pks``, ``count``), the
`SearchQuery`/`SearchPage` it exchanges, and `SearchLimits`. Module map: `parameters`
(names, modifiers, chains, result parameters), `values` (escaping, prefixes), `clauses`
(one module per parameter type, composites included), `chain` (chains, ``_has`` and
``_list``), `compartment`, `sort`, `paging` (keyset cursors), `include`, `dialect`
(``_total=estimate`` and the query-time limit), `plan` (which criterion drives),
`engine`. The indexes it relies on are declared with the tables, in
`socle.fhir.storage.schema`. Semantics and limits: docs/search.md; SQL shapes and
measured plans: docs/search-plans.md.
"""

from socle.fhir.search.engine import SearchEngine
from socle.fhir.search.limits import DEFAULT_LIMITS, SearchLimits
from socle.fhir.search.model import SearchPage, SearchQuery
from socle.fhir.search.paging import CURSOR_PARAM

__all__ = [
    "CURSOR_PARAM",
    "DEFAULT_LIMITS",
    "SearchEngine",
    "SearchLimits",
    "SearchPage",
    "SearchQuery",
]
