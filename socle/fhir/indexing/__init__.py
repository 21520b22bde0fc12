"""Search parameters and the index rows extracted from resources.

Public entry points (imported lazily so that ``socle.fhir.datetime`` can import
``entries`` without pulling in the whole package):

* `SearchParamRegistry`, `SearchParam`, `default_registry` (``registry``);
* `IndexExtractor` (``extract``) producing the rows of ``entries``;
* `compile_path` (``paths``) for FHIRPath expressions used elsewhere.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "IndexExtractor": "socle.fhir.indexing.extract",
    "SearchParam": "socle.fhir.indexing.registry",
    "SearchParamRegistry": "socle.fhir.indexing.registry",
    "default_registry": "socle.fhir.indexing.registry",
    "compile_path": "socle.fhir.indexing.paths",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
