"""FHIR NPM packages: reading archives, the package store, dependency and canonical resolution.

* `npm` reads one `.tgz` (manifest, conformance resources, examples);
* `store` knows the vendored and installed archives (`socle packages …`);
* `resolver` resolves dependencies and canonicals leniently;
* `context` is what validators use: canonical -> parsed definition, with the R4 core;
* `seed` copies conformance resources into the database so the API serves them.
"""

from socle.fhir.packages.context import ConformanceContext
from socle.fhir.packages.npm import CONFORMANCE_TYPES, Manifest, NpmPackage, PackageError
from socle.fhir.packages.store import PackageStore

__all__ = [
    "CONFORMANCE_TYPES",
    "ConformanceContext",
    "Manifest",
    "NpmPackage",
    "PackageError",
    "PackageStore",
]
