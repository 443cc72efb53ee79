"""Reading YAML: the event-driven fast path gives exactly what PyYAML's safe loader gives."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tekton_dag.config import documents
from tekton_dag.config.documents import parse_yaml

EDGE_CASES = {
    "typed scalars": "a: 1\nb: 0x1f\nc: 1_000\nd: 2.5\ne: .inf\nf: true\ng: on\nh: ~\ni: null\nj: 2024-01-31\n"
                     "k: 2024-01-31T10:00:00Z\nl: '1'\nm: \"on\"\nn: -3\no: +4\np: .\nq: ./gradlew\nr: ''\n",
    "flow and block collections": "a: [1, {b: c}, [d]]\nb:\n  - x\n  - - y\n    - z\nc: {}\nd: []\n",
    "block scalars": "a: |\n  line one\n  line two\nb: >-\n  folded\n  text\n",
    "non-specific tag": "a: ! 12\n",
    "explicit tags": "a: !!str 12\nb: !!int '7'\n",
    "anchors and aliases": "base: &b {tool: npm}\nuse: *b\n",
    "merge keys": "base: &b {tool: npm}\nuse:\n  <<: *b\n  extra: 1\n",
    "a scalar document": "just text\n",
    "an empty document": "",
    "only comments": "# nothing\n",
    "explicit document markers": "---\na: 1\n...\n",
    "unicode": "name: café\nemoji: \"\\u2603\"\n",
}


@pytest.mark.parametrize("text", EDGE_CASES.values(), ids=EDGE_CASES.keys())
def test_documents_load_as_pyyaml_loads_them(text: str) -> None:
    assert parse_yaml(text, "f.yaml") == (yaml.safe_load(text), None)


PLAIN = {k: EDGE_CASES[k] for k in ("typed scalars", "flow and block collections", "block scalars", "unicode")}


@pytest.mark.parametrize("text", PLAIN.values(), ids=PLAIN.keys())
def test_plain_documents_take_the_fast_path(text: str) -> None:
    assert documents._load_plain(text) == yaml.safe_load(text)


@pytest.mark.parametrize("text", [
    EDGE_CASES["anchors and aliases"], EDGE_CASES["merge keys"], EDGE_CASES["explicit tags"],
    "a: 1\na: 2\n", "1: x\n", "? [a]\n: b\n", "--- 1\n--- 2\n", "a: [1\n",
], ids=["anchors", "merge", "tags", "duplicate key", "int key", "complex key", "two documents", "syntax error"])
def test_unusual_documents_go_to_the_full_loader(text: str) -> None:
    with pytest.raises((documents._Unusual, yaml.YAMLError)):
        documents._load_plain(text)


@pytest.mark.parametrize(("text", "where", "message"), [
    ("a: 1\nb: 2\na: 3\n", "line 3, column 1", 'invalid YAML: duplicate key "a" (first at line 1)'),
    ("x: 1\n2: y\n", "line 2, column 1", 'invalid YAML: key "2" must be a string (quote it)'),
    ("--- 1\n--- 2\n", "line 2, column 1", "invalid YAML: expected a single document in the stream, "
                                           "but found another document"),
])
def test_the_full_loader_reports_with_a_line(text: str, where: str, message: str) -> None:
    data, error = parse_yaml(text, "f.yaml")
    assert data is None and error is not None
    assert (error.file, error.path, error.message) == ("f.yaml", where, message)


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.sampled_from(
        [
            "on",
            "off",
            "yes",
            "~",
            "1e3",
            "0o17",
            "<<",
            "=",
            "2024-02-29",
            "12:30",
            "-",
            "- a",
            ": b",
            "#c",
            "!x",
            "&a",
            "*a",
            "@",
        ]
    ),
)
KEYS = st.one_of(st.text(max_size=8), st.sampled_from(["on", "1", "null", "<<", "a b", "x: y"]))
DATA = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                     st.dictionaries(KEYS, inner, max_size=4)), max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(DATA, st.sampled_from([None, True, False]), st.sampled_from([None, '"', "'", "|"]))
def test_any_dumped_data_loads_back_identically(data: Any, flow: bool | None, style: str | None) -> None:
    try:
        text = yaml.safe_dump(data, default_flow_style=flow, default_style=style, allow_unicode=True)
    except yaml.YAMLError:
        return
    expected = yaml.safe_load(text)
    loaded, error = parse_yaml(text, "f.yaml")
    if error is None:
        assert loaded == expected
    else:  # only the strict rules may refuse what PyYAML accepts
        assert "must be a string" in error.message or "duplicate key" in error.message
