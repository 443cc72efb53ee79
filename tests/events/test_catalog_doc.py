"""docs/events.md, tekton_dag.events.catalog and the schema files describe the same events."""

from __future__ import annotations

import re
from pathlib import Path

import jsonschema
import pytest

from tekton_dag.bus import routing
from tekton_dag.events import catalog, schemas
from tekton_dag.syntax import json_value

DOC = Path(__file__).parents[2] / "docs" / "events.md"
SECTION = re.compile(r"^## `([^`]+)`\n(.*?)(?=^## |\Z)", re.S | re.M)


def catalog_types() -> set[str]:
    return {
        value for name, value in vars(catalog).items()
        if name.isupper() and isinstance(value, str) and re.fullmatch(r"dev\.tekton[a-z]*\..+\.v\d+", value)
    }


def doc_sections() -> dict[str, str]:
    return {match[1]: match[2] for match in SECTION.finditer(DOC.read_text())}


def test_every_catalog_type_has_a_section_and_no_other() -> None:
    assert set(doc_sections()) == catalog_types()


def test_the_summary_table_lists_every_type() -> None:
    listed = set(re.findall(r"^\| \[`([^`]+)`\]", DOC.read_text(), re.M))
    assert listed == catalog_types()


@pytest.mark.parametrize("event_type", sorted(catalog_types()))
def test_each_section_shows_the_schema_file(event_type: str) -> None:
    section = doc_sections()[event_type]
    [block] = re.findall(r"```json\n(.*?)```", section, re.S)
    assert json_value(block) == schemas.load(event_type)  # strict: a key twice is refused
    assert f"schemas/{schemas.schema_name(event_type)}.json" in section


@pytest.mark.parametrize("event_type", sorted(catalog_types()))
def test_each_schema_is_a_valid_json_schema(event_type: str) -> None:
    schema = schemas.load(event_type)
    jsonschema.validators.validator_for(schema).check_schema(schema)


def test_every_schema_file_belongs_to_a_catalog_type() -> None:
    files = {p.stem for p in Path(schemas.__file__).parent.glob("*.json")}
    assert files == {schemas.schema_name(t) for t in catalog_types()}


def test_sources_named_in_the_doc_are_the_catalog_sources() -> None:
    sources = {v for k, v in vars(catalog).items() if k.startswith("SOURCE_")}
    named = set(re.findall(r"`(/tekton-dag/[a-z-]+)`", DOC.read_text()))
    assert named == sources


def test_extensions_named_in_the_doc_are_the_catalog_extensions() -> None:
    extensions = {v for k, v in vars(catalog).items() if k.startswith("EXT_")} - {catalog.EXT_BROKER_TTL}
    text = DOC.read_text()
    for extension in extensions:
        assert f"`{extension}`" in text
        assert re.fullmatch(r"[a-z0-9]+", extension)


@pytest.mark.parametrize("event_type", sorted(catalog_types()))
def test_the_consumers_named_are_the_routing_tables(event_type: str) -> None:
    """The summary table's consumer column and each section's Triggers (hand-written in the doc) are
    those of ``routing.CONSUMES``, from which scripts/generate writes knative/triggers.yaml: a
    consumer the doc still names after its Trigger went fails here."""
    consumers = sorted(f for f, types in routing.CONSUMES.items() if event_type in types)
    [row] = re.findall(rf"^\| \[`{re.escape(event_type)}`\][^|]*\|[^|]*\| ([^|]*) \|$", DOC.read_text(), re.M)
    assert row == (", ".join(consumers) or "none")
    [line] = re.findall(r"^\| consumer \| (.*) \|$", doc_sections()[event_type], re.M)
    assert set(re.findall(r"`([a-z-]+)`", line)) == {routing.trigger_name(f, event_type) for f in consumers}
