"""The FHIR R4 model built from the vendored StructureDefinition snapshots."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from socle.fhir.definitions import cache
from socle.fhir.definitions.model import FhirModel, get_model, load_model


@pytest.fixture(scope="module")
def model() -> FhirModel:
    return get_model()


def test_get_model_is_cached_per_process(model: FhirModel) -> None:
    assert get_model() is model


def test_resource_types_are_the_concrete_r4_resources(model: FhirModel) -> None:
    assert {
        "Patient",
        "Observation",
        "Bundle",
        "Questionnaire",
        "Parameters",
    } <= model.resource_types
    assert not {"Resource", "DomainResource", "MetadataResource"} & model.resource_types
    assert "SubscriptionStatus" not in model.resource_types  # R4B, not R4
    assert "HumanName" not in model.resource_types
    assert len(model.resource_types) == 146
    assert model.is_resource_type("Patient")
    assert not model.is_resource_type("DomainResource")
    assert not model.is_resource_type("patient")
    assert model.abstract_resource_types == {"Resource", "DomainResource"}


def test_top_level_elements_of_patient(model: FhirModel) -> None:
    els = model.elements("Patient")
    birth = els["birthDate"]
    assert (birth.min, birth.max, birth.types) == (0, 1, ("date",))
    assert birth.is_summary and not birth.is_modifier and not birth.is_array
    assert not birth.is_choice
    name = els["name"]
    assert (name.max, name.types, name.is_array) == ("*", ("HumanName",), True)
    assert name.max_count is None
    assert els["active"].is_modifier
    assert {"id", "meta", "text", "contained", "extension", "modifierExtension"} <= els.keys()


def test_resource_id_is_typed_id_but_element_id_is_string(model: FhirModel) -> None:
    assert model.elements("Patient")["id"].types == ("id",)
    assert model.elements("HumanName")["id"].types == ("string",)
    assert model.elements("Patient.contact")["id"].types == ("string",)


def test_fhirpath_system_types_are_mapped_to_fhir_types(model: FhirModel) -> None:
    assert model.elements("Extension")["url"].types == ("uri",)
    assert model.elements("date")["value"].types == ("date",)
    assert model.elements("instant")["value"].types == ("instant",)
    assert model.elements("boolean")["value"].types == ("boolean",)


def test_choice_elements(model: FhirModel) -> None:
    deceased = model.elements("Patient")["deceased"]
    assert deceased.is_choice
    assert deceased.path == "Patient.deceased[x]"
    assert deceased.types == ("boolean", "dateTime")
    assert deceased.json_names() == ("deceasedBoolean", "deceasedDateTime")
    value = model.element("Observation.value[x]")
    assert value is not None and "Quantity" in value.types and "Reference" not in value.types
    assert model.element("Observation.valueQuantity") is value


def test_backbone_elements_by_path(model: FhirModel) -> None:
    contact = model.elements("Patient.contact")
    assert {
        "relationship",
        "name",
        "telecom",
        "address",
        "gender",
        "organization",
    } <= contact.keys()
    assert contact["name"].types == ("HumanName",)
    assert model.elements("Patient.communication")["language"].min == 1
    assert model.element("Patient.contact.name").path == "Patient.contact.name"
    # backbone defined inline in a datatype (type code Element)
    assert "frequency" in model.elements("Timing.repeat")


def test_paths_walk_through_datatypes(model: FhirModel) -> None:
    assert model.type_info("Patient.name").key == "HumanName"
    assert model.type_info("Observation.valueQuantity").key == "Quantity"
    assert model.type_info("Patient.deceased") is None  # ambiguous choice
    assert model.type_info("Patient.nope") is None
    with pytest.raises(KeyError):
        model.elements("Nope")


def test_content_reference_is_resolved(model: FhirModel) -> None:
    nested = model.element("Questionnaire.item.item")
    assert nested is not None
    assert nested.content_reference == "Questionnaire.item"
    assert nested.types == ("BackboneElement",) and nested.is_array
    assert model.elements("Questionnaire.item.item") == model.elements("Questionnaire.item")
    assert "linkId" in model.elements("Questionnaire.item.item.item")
    assert model.element("Bundle.entry.link").content_reference == "Bundle.link"
    assert "part" in model.elements("Parameters.parameter.part")


def test_simple_quantity_profile_is_used_where_the_base_requires_it(model: FhirModel) -> None:
    low = model.element("Observation.referenceRange.low")
    assert low.types == ("Quantity",) and low.type_keys == ("SimpleQuantity",)
    assert model.elements("SimpleQuantity")["comparator"].max == 0
    assert model.elements("Quantity")["comparator"].max == 1


def test_summary_elements(model: FhirModel) -> None:
    summary = model.summary_elements("Patient")
    assert {"id", "meta", "identifier", "name", "birthDate", "active", "gender"} <= summary
    assert {"deceased", "deceasedBoolean", "deceasedDateTime", "_birthDate"} <= summary
    assert not {"contact", "photo", "communication", "text", "contained"} & summary
    assert "subject" in model.summary_elements("Observation")
    with pytest.raises(KeyError):
        model.summary_elements("HumanName")


def test_mandatory_elements(model: FhirModel) -> None:
    assert model.mandatory_elements("Observation") == {"status", "_status", "code"}
    assert model.mandatory_elements("Patient") == frozenset()
    assert model.mandatory_elements("Bundle") == {"type", "_type"}


def test_primitive_regexes_come_from_the_definitions(model: FhirModel) -> None:
    assert model.primitive_regex("id") == r"[A-Za-z0-9\-\.]{1,64}"
    assert model.primitive_regex("code") == r"[^\s]+(\s[^\s]+)*"
    assert model.primitive_regex("xhtml") is None


# -- on-disk cache ------------------------------------------------------------------------


def test_cache_is_written_then_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path))
    built = load_model()
    assert built.source == "built+cached"
    assert len(list(tmp_path.glob("fhir-r4-model-*.json"))) == 1
    started = time.perf_counter()
    cached = load_model()
    elapsed = time.perf_counter() - started
    assert cached.source == "cache"
    assert cached.resource_types == built.resource_types
    assert cached.elements("Questionnaire.item") == built.elements("Questionnaire.item")
    assert cached.summary_elements("Patient") == built.summary_elements("Patient")
    assert elapsed < 1.0


def test_unwritable_cache_dir_falls_back_to_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    monkeypatch.setenv(cache.CACHE_ENV, str(blocker / "sub"))
    model = load_model()
    assert model.source == "built"
    assert model.is_resource_type("Patient")


def test_corrupt_cache_file_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path))
    load_model()
    (cache_file,) = tmp_path.glob("fhir-r4-model-*.json")
    cache_file.write_bytes(b"{not json")
    assert load_model().source == "built+cached"
    assert load_model().source == "cache"


def test_cache_key_depends_on_data() -> None:
    assert cache.cache_key([b"a", b"b"]) != cache.cache_key([b"a", b"c"])
    assert cache.cache_key([b"a"]) == cache.cache_key([b"a"])


def test_build_without_cache() -> None:
    model = load_model(use_cache=False)
    assert model.source == "built"
    assert "Patient" in model.resource_types
