"""The shipped JSON Schemas: valid schemas, the validation engines (jsonschema-rs, fastjsonschema,
jsonschema) agree, docs cover every field."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from support.trees import BASE
from tekton_dag.config import validation

from .test_validation import CASES

REPO = Path(__file__).resolve().parents[2]


def kind_of(path: str) -> validation.Kind:
    name = Path(path).name
    return {"team.yaml": "team", "versions.yaml": "versions", "registry.yaml": "registry"}.get(name, "stack")  # type: ignore[return-value]


@pytest.mark.parametrize("kind", validation.KINDS)
def test_each_schema_is_a_valid_draft_7_schema(kind: validation.Kind) -> None:
    jsonschema.Draft7Validator.check_schema(validation.schema(kind))


def documents() -> list[tuple[str, Any]]:
    """Every YAML document of the tests and examples that parses."""
    texts = {f"{name}:{path}": text for name, changes, _ in CASES for path, text in changes.items() if text}
    texts.update(BASE)
    for path in [*REPO.glob("teams/**/*.yaml"), *REPO.glob("tests/fixtures/config/**/*.yaml")]:
        if path.name != "values.yaml":  # Helm values beside team.yaml are not tekton-dag config
            texts[str(path)] = path.read_text()
    parsed = []
    for path, text in texts.items():
        try:
            parsed.append((path, yaml.safe_load(text)))
        except yaml.YAMLError:
            continue
    return parsed


@pytest.mark.parametrize(("path", "document"), documents(), ids=lambda v: v if isinstance(v, str) else "")
def test_the_fast_engine_agrees_with_jsonschema(path: str, document: Any) -> None:
    kind = kind_of(path.split(":")[-1])
    slow = not any(validation.validator(kind).iter_errors(document))
    assert validation.is_valid(kind, document) == slow
    assert validation.fast_validator(kind, "fastjsonschema")(document) == slow  # without jsonschema-rs


LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 70000),
    st.floats(allow_nan=False),
    st.sampled_from(["", "x", "Bad_Name", "a/b", "../up", "npm", "1h", "5Gi", "frontend", "80"]),
    st.lists(st.text(max_size=3), max_size=2),
    st.dictionaries(st.text(max_size=3), st.none(), max_size=2),
)


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += paths(value, (*prefix, i))
    return found


def mutate(document: Any, path: tuple[Any, ...], action: str, leaf: Any, key: str) -> Any:
    result = copy.deepcopy(document)
    if not path:
        return leaf
    parent = result
    for part in path[:-1]:
        parent = parent[part]
    if action == "replace":
        parent[path[-1]] = leaf
    elif action == "delete":
        del parent[path[-1]]
    elif isinstance(parent[path[-1]], dict):
        parent[path[-1]][key] = leaf
    return result


EXAMPLES = {
    "stack": yaml.safe_load((REPO / "teams/default/stacks/stack-one.yaml").read_text()),
    "team": yaml.safe_load((REPO / "teams/default/team.yaml").read_text()),
    "versions": yaml.safe_load((REPO / "teams/default/versions.yaml").read_text()),
    "registry": yaml.safe_load((REPO / "tests/fixtures/config/fallback/stacks/registry.yaml").read_text()),
}


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(sorted(EXAMPLES)),
    st.data(),
    LEAVES,
    st.sampled_from(["replace", "delete", "add"]),
    st.sampled_from(["extra", "tool", "name", "secretName", "x-version"]),
)
def test_the_engines_agree_on_mutated_documents(
    kind: validation.Kind, data: st.DataObject, leaf: Any, action: str, key: str
) -> None:
    document = EXAMPLES[kind]
    path = data.draw(st.sampled_from(paths(document)))
    mutated = mutate(document, path, action, leaf, key)
    slow = not any(validation.validator(kind).iter_errors(mutated))
    assert validation.is_valid(kind, mutated) == slow
    assert validation.fast_validator(kind, "fastjsonschema")(mutated) == slow  # without jsonschema-rs


def schema_properties(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        found |= set(node.get("properties", {}))
        for value in node.values():
            found |= schema_properties(value)
    elif isinstance(node, list):
        for value in node:
            found |= schema_properties(value)
    return found


@pytest.mark.parametrize("kind", validation.KINDS)
def test_the_configuration_docs_name_every_field(kind: validation.Kind) -> None:
    docs = (REPO / "docs/configuration.md").read_text()
    missing = sorted(p for p in schema_properties(validation.schema(kind)) if f"`{p}`" not in docs)
    assert missing == [], f"docs/configuration.md does not describe: {missing}"


@pytest.mark.parametrize(("kind", "change"), [
    ("stack", lambda d: d["apps"][0]["build"].update({"node-version": float("inf")})),  # no JSON number
    ("team", lambda d: d.update(github={"detailsUrl": "https://dash/\x1c"})),  # whitespace to Python only
    # Python's "$" also matches before a final line break, the Rust engine's pattern does not.
    ("stack", lambda d: d["apps"][0].update(name="web\n")),
    ("stack", lambda d: d["apps"][0].update(repo="acme/web\n")),
    ("team", lambda d: d.update(namespace="ns\n", webhook={"secretName": "a.b\n"})),
    ("versions", lambda d: d["apps"].update({"web\n": {"version": "1"}})),
    ("stack", lambda d: d["apps"][0].update(repo="acme/..")),
    ("stack", lambda d: d["apps"][0].update(name="Web")),
], ids=["infinity", "a control character Python calls whitespace", "label", "repo", "namespace, subdomain",
        "key", "dot-dot repo", "upper case"])
def test_the_engines_agree_where_rust_and_python_differ(kind: validation.Kind, change: Any) -> None:
    document = copy.deepcopy(EXAMPLES[kind])
    change(document)
    slow = not any(validation.validator(kind).iter_errors(document))
    assert validation.is_valid(kind, document) == slow
    assert validation.fast_validator(kind, "fastjsonschema")(document) == slow
