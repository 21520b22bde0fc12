"""Reading archives, the package store, lenient dependency and canonical resolution."""

from __future__ import annotations

from pathlib import Path

import pytest

from socle.fhir.packages import ConformanceContext, NpmPackage, PackageError, PackageStore
from socle.fhir.packages.npm import version_key
from socle.fhir.packages.resolver import resolve_dependencies, split_canonical
from socle.fhir.packages.store import parse_spec, vendored_dir
from tests.fhir.packages.helpers import make_package, profile

FR_CORE = "https://hl7.fr/ig/fhir/core/StructureDefinition/"


def test_archive_is_read_with_resources_and_examples(tmp_path: Path) -> None:
    sd = profile("https://example.org/StructureDefinition/p1", "1.0.0")
    ex = {"resourceType": "Patient", "id": "ex1", "birthDate": "2000-01-01"}
    pkg = NpmPackage.from_path(
        make_package(tmp_path / "p.tgz", "example.pkg", "1.0.0", resources=[sd], examples=[ex])
    )
    assert pkg.key == "example.pkg@1.0.0"
    assert pkg.manifest.dependencies == (("hl7.fhir.r4.core", "4.0.1"),)
    [res] = pkg.resources
    assert (res.resource_type, res.url, res.version) == ("StructureDefinition", sd["url"], "1.0.0")
    assert res.meta["type"] == "Patient" and res.parse() == sd
    assert [e.parse()["id"] for e in pkg.examples] == ["ex1"]


@pytest.mark.parametrize(
    "manifest, message",
    [
        (None, "package/package.json is missing"),
        ({"version": "1.0.0"}, "no valid name"),
        ({"name": "x.y"}, "no valid version"),
    ],
)
def test_broken_archives_are_refused(tmp_path: Path, manifest, message: str) -> None:  # noqa: ANN001
    path = tmp_path / "bad.tgz"
    if manifest is None:
        path.write_bytes(b"not a tar archive")
        message = "not a readable package archive"
    else:
        make_package(path, "", "", manifest=manifest)
    with pytest.raises(PackageError, match=message):
        NpmPackage.from_path(path)


def test_versions_sort_releases_after_prereleases() -> None:
    versions = ["2.1.0", "1.2.0-snapshot-2", "2.2.0", "1.2.0", "10.0.0", "2.1.0-ballot"]
    assert sorted(versions, key=version_key) == [
        "1.2.0-snapshot-2",
        "1.2.0",
        "2.1.0-ballot",
        "2.1.0",
        "2.2.0",
        "10.0.0",
    ]
    assert split_canonical("http://a/b|1.0#frag") == ("http://a/b", "1.0")
    assert parse_spec("hl7.fhir.fr.core@2.2.0") == ("hl7.fhir.fr.core", "2.2.0")
    assert parse_spec("hl7.fhir.fr.core") == ("hl7.fhir.fr.core", None)


def test_vendored_packages_and_lenient_dependencies() -> None:
    store = PackageStore(None)
    names = {(e.name, e.version) for e in store.entries()}
    assert ("hl7.fhir.fr.core", "2.2.0") in names and len(names) == 11
    resolution = resolve_dependencies(store.packages())
    by = {(d.package, d.dependency): d for d in resolution.dependencies}
    # FR Core 2.1.0 asked for, 2.2.0 present: used, with a warning
    tde = by[("ans.fhir.fr.tde@2.0.0", "hl7.fhir.fr.core")]
    assert (tde.requested, tde.used, tde.exact) == ("2.1.0", "2.2.0", False)
    assert (
        "ans.fhir.fr.tde@2.0.0: dependency hl7.fhir.fr.core@2.1.0 resolved to 2.2.0 "
        "(highest loaded)" in resolution.warnings
    )
    # the R4 core is always the vendored one
    core = by[("hl7.fhir.fr.core@2.2.0", "hl7.fhir.r4.core")]
    assert core.used == "4.0.1" and core.exact
    # a dependency nowhere to be found is reported, not fatal
    missing = by[("hl7.fhir.fr.core@2.2.0", "hl7.terminology.r4")]
    assert missing.used is None
    # dependencies come first
    order = [p.name for p in resolution.packages]
    assert order.index("hl7.fhir.fr.core") < order.index("ans.fhir.fr.annuaire")
    assert order.index("ans.fhir.fr.annuaire") < order.index("ans.fhir.fr.mss")


def test_canonical_resolution_by_url_and_version() -> None:
    from tests.fhir.validation.support import service

    ctx = service().context
    patient_ins = FR_CORE + "fr-core-patient-ins"
    assert ctx.structure_definition(patient_ins)["version"] == "2.2.0"
    assert ctx.structure_definition(patient_ins + "|2.2.0")["version"] == "2.2.0"
    # 2.1.0 is not there: the highest version stands in, and the substitution is recorded
    assert ctx.structure_definition(patient_ins + "|2.1.0")["version"] == "2.2.0"
    assert ctx.version_used(patient_ins + "|2.1.0") == "2.2.0"
    # core definitions come from the vendored R4 core
    birth_place = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
    assert ctx.structure_definition(birth_place + "|5.2.0")["version"] == "4.0.1"
    assert ctx.value_set("http://hl7.org/fhir/ValueSet/administrative-gender") is not None
    assert ctx.structure_definition("https://example.org/none") is None
    assert ctx.resolve(patient_ins, "ValueSet") is None


def test_store_install_list_remove(tmp_path: Path) -> None:
    store = PackageStore(tmp_path)
    archive = make_package(
        tmp_path / "mine.tgz",
        "example.mine",
        "0.1.0",
        dependencies={"hl7.fhir.r4.core": "4.0.1", "hl7.fhir.fr.core": "2.1.0"},
        resources=[profile("https://example.org/StructureDefinition/mine", "0.1.0")],
    )
    entry = store.install(archive)
    assert entry.path == tmp_path / "packages" / "example.mine-0.1.0.tgz"
    assert ("example.mine", "0.1.0", "installed") in {
        (e.name, e.version, e.origin) for e in store.entries()
    }
    ctx = ConformanceContext.from_store(store)
    assert ctx.structure_definition("https://example.org/StructureDefinition/mine")
    with pytest.raises(PackageError, match="vendored with Socle"):
        store.remove("hl7.fhir.fr.core")
    with pytest.raises(PackageError, match="not known"):
        store.remove("example.mine", "9.9.9")
    assert [e.version for e in store.remove(["example.mine", "0.1.0"][0])] == ["0.1.0"]
    assert "example.mine" not in {e.name for e in store.entries()}
    with pytest.raises(PackageError):
        store.install(tmp_path / "missing.tgz")


def test_installed_package_replaces_vendored_same_version(tmp_path: Path) -> None:
    store = PackageStore(tmp_path)
    (tmp_path / "packages").mkdir()
    src = vendored_dir() / "ans.fhir.fr.tde-2.0.0.tgz"
    (tmp_path / "packages" / "copy.tgz").write_bytes(src.read_bytes())
    tde = [e for e in store.entries() if e.name == "ans.fhir.fr.tde"]
    assert [(e.version, e.origin) for e in tde] == [("2.0.0", "installed")]
