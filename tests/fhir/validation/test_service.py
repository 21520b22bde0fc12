"""The validation service's conformance context: `supportedProfile` comes from it, and it
follows `socle packages install/remove` (one `stat()` per use, a new read only on change)."""

from __future__ import annotations

import os
from pathlib import Path

from socle.fhir.packages.store import PackageStore
from socle.fhir.validation.service import ValidationService
from tests.fhir.packages.helpers import make_package, profile

CUSTOM = "https://example.org/StructureDefinition/custom-patient"
FR_CORE_PATIENT = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient"


def _install(data_dir: Path, tmp_path: Path, version: str) -> None:
    archive = make_package(
        tmp_path / f"custom-{version}.tgz",
        "example.custom",
        version,
        resources=[profile(CUSTOM, version)],
    )
    PackageStore(data_dir).install(archive)


def test_supported_profiles_are_those_of_the_context(tmp_path: Path) -> None:
    svc = ValidationService(data_dir=tmp_path / "data")
    key, profiles = svc.supported_profiles()
    assert FR_CORE_PATIENT in profiles["Patient"]
    assert svc.context.structure_definition(FR_CORE_PATIENT) is not None
    assert svc.supported_profiles() == (key, profiles)  # cached: the same objects
    assert svc.supported_profiles()[1] is profiles
    for urls in profiles.values():
        assert urls == sorted(set(urls))


def test_the_context_follows_install_and_remove(tmp_path: Path) -> None:
    data = tmp_path / "data"
    svc = ValidationService(data_dir=data)
    key, profiles = svc.supported_profiles()
    validator = svc.validator
    assert CUSTOM not in profiles["Patient"]
    _install(data, tmp_path, "1.0.0")
    key2, profiles2 = svc.supported_profiles()
    assert key2 != key and CUSTOM in profiles2["Patient"]
    assert svc.validator is not validator  # validation uses the same, new definitions
    assert svc.context.structure_definition(CUSTOM)["version"] == "1.0.0"
    _install(data, tmp_path, "2.0.0")
    _, profiles3 = svc.supported_profiles()
    assert profiles3["Patient"].count(CUSTOM) == 1
    assert svc.context.structure_definition(CUSTOM)["version"] == "2.0.0"
    PackageStore(data).remove("example.custom")
    _, profiles4 = svc.supported_profiles()
    assert CUSTOM not in profiles4["Patient"] and svc.context.structure_definition(CUSTOM) is None


def test_a_broken_archive_keeps_the_loaded_definitions(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _install(data, tmp_path, "1.0.0")
    installed = data / "packages"
    os.utime(installed, ns=(1_000_000_000, 1_000_000_000))  # installed long ago
    svc = ValidationService(data_dir=data)
    key, profiles = svc.supported_profiles()
    context = svc.context
    assert CUSTOM in profiles["Patient"]
    (installed / "broken-1.0.0.tgz").write_bytes(b"not a package")
    for _ in range(3):
        assert svc.supported_profiles() == (key, profiles)
        assert svc.context is context
        assert svc.validator.validate({"resourceType": "Patient"}, [CUSTOM]) is not None
    (installed / "broken-1.0.0.tgz").unlink()
    _install(data, tmp_path, "2.0.0")  # the next change is read
    assert svc.context is not context
    assert svc.context.structure_definition(CUSTOM)["version"] == "2.0.0"


def test_a_given_context_is_not_replaced(tmp_path: Path) -> None:
    data = tmp_path / "data"
    owner = ValidationService(data_dir=data)
    svc = ValidationService(data_dir=data, context=owner.context)
    _install(data, tmp_path, "1.0.0")
    assert svc.context is not owner.context  # the owner reads the packages again…
    assert CUSTOM not in svc.supported_profiles()[1]["Patient"]  # …the borrower does not


def test_a_services_own_definitions_survive_a_new_context() -> None:
    """Definitions a service adds (its extensions, code systems) are in every context the
    validation service reads, also after the packages change (reload)."""
    svc = ValidationService(data_dir=None)
    url = "https://socle.example.org/fhir/CodeSystem/test-own"
    cs = {"resourceType": "CodeSystem", "url": url, "status": "active", "content": "complete"}
    svc.add_definitions([cs])
    assert svc.context.resolve(url)["url"] == url
    svc.reload()
    assert svc.context.resolve(url)["url"] == url
