"""The yaml-rs path gives exactly what PyYAML's safe loader gives, or steps aside (``Unusual``)."""

from __future__ import annotations

import importlib.util
import random
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tekton_dag.config import fastyaml
from tekton_dag.config.yamlmerge import Unusual

from .test_documents import DATA, EDGE_CASES, HAND_WRITTEN, _ordered, anchored_yaml

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(fastyaml.yaml_rs() is None, reason="yaml-rs is not installed")


def agrees_or_steps_aside(text: str) -> bool:
    """True when the fast path answered (and agreed with PyYAML, key order included)."""
    try:
        loaded = fastyaml.load(text)
    except Unusual:
        return False
    assert _ordered(loaded) == _ordered(yaml.safe_load(text))
    return True


@pytest.mark.parametrize("text", [*EDGE_CASES.values(), *HAND_WRITTEN.values()],
                         ids=[*EDGE_CASES.keys(), *HAND_WRITTEN.keys()])
def test_edge_cases_load_as_pyyaml_loads_them(text: str) -> None:
    agrees_or_steps_aside(text)


# What people write in tekton-dag files: these must take the fast path (or the speed is gone).
EVERYDAY = {
    "quoted numbers": 'defaults:\n  container-port: "8080"\nbuild:\n  node-version: "20"\n  python-version: "3.12"\n',
    "plain integers": "maxConcurrentRuns: 3\nmaxParallelBuilds: 5\nfsGroup: 65532\n",
    "booleans and nulls": "push: true\ncoschedule: false\ncluster: null\nempty:\n",
    "commands with && and *": "build-command: npm ci && npm run build\nclean: rm -rf dist/*\n",
    "flow lists": "downstream: [app-1, app-2]\nbaseBranches: [main, 'release/*']\n",
    "anchors, aliases and merges": "a: &b {tool: npm, runtime: node}\nc: *b\nd:\n  <<: *b\n  runtime: node-2\n",
}


@pytest.mark.parametrize("text", EVERYDAY.values(), ids=EVERYDAY.keys())
def test_everyday_documents_take_the_fast_path(text: str) -> None:
    assert agrees_or_steps_aside(text)


# Where YAML 1.2 (yaml-rs) and YAML 1.1 (PyYAML) differ, or where PyYAML refuses: never the
# fast path's answer.
DIFFERENT = {
    "1.1 booleans": "a: yes\nb: off\n",
    "a 1.1 boolean key": "on: push\n",
    "octal": "mode: 0755\n",
    "0o octal is a string to PyYAML": "mode: 0o755\n",
    "an exponent without a dot is a string to PyYAML": "a: 1e3\n",
    "floats": "a: 2.5\n",
    "sexagesimal": "a: 1:30\n",
    "dates": "a: 2024-01-31\n",
    "integer keys": "1: one\n",
    "empty key": ": x\n",
    "complex key": "? [a]\n: b\n",
    "tags": "a: !!str 12\n",
    "unknown tag": "a: !foo x\n",
    "byte order mark": "\ufeffa: 1\n",
    "two documents": "a: 1\n---\nb: 2\n",
    "a directive": "%YAML 1.1\n---\na: 1\n",
    "duplicate key": "a: 1\na: 2\n",
    "repeated anchor": "a: &x 1\nb: &x 2\nc: *x\n",
    "recursive alias": "a: &x [*x]\n",
    "undefined alias": "a: *nope\n",
    "quoted << key": 'a: &a {x: 1}\nb: {"<<": *a}\n',
    "merge of a scalar": "<<: 1\n",
    "key in two merged mappings": "a: &a {k: 1}\nb: &b {k: 2}\nc: {<<: [*a, *b]}\n",
    "merging an overriding mapping": "a: &a {<<: {x: 1}, x: 2}\nb: {<<: *a}\n",
    "a << value": "a: <<\n",
    "= value": "a: =\n",
    "syntax error": "a: [1\n",
    "a YAML 1.1 line break": 'a: "x\x85 y"\n',
    "an empty block scalar": "a: |\nb: >\n",
    "a block scalar in a flow mapping": "a: {k: |2}\n",
    "a flow scalar starting with a colon": "a: {k: :x}\n",
    "a tab": "a:\t1\n",
    "an anchor name PyYAML refuses": "- &a#b 1\n",
    "an underscore number": "a: {k: _3}\n",
    "a question mark in a flow mapping": "a: {k: u? }\n",
    "a colon before a wide space": "a: [:\u3000x]\n",
    "a block scalar after an anchor": "a: {k: &a >1}\n",
    "a block scalar after an anchor in a list": "a: [&a |x]\n",
    "a flow mapping over several lines": "a: {k: 1e,null\n=9:}\n",
    "an anchor name with a no-break space": "a: &b\xa0c 1\n",
    # Found in review (2026-12-02): each gave yaml-rs's answer where PyYAML gives another or refuses.
    "an upper-case 0X is a string to PyYAML": "a: 0X1F\n",
    "an upper-case 0B is a string to PyYAML": "maxConcurrentRuns: 0B101\n",
    "a control character PyYAML refuses": "a: b\x7f\n",
    "an escape character": "a: \x1b[0m\n",
    "a NUL": "a: \x00\n",
    "a non-character": "a: \ufffe\n",
    "a document end marker": "a: 1\n...\nb: 2\n",
    "only a document end marker": "...\n",
    "a colon before a closing bracket": "downstream: [a:]\n",
    "a colon before a closing brace": "a: {a:}\n",
    "a block scalar after a long anchor": f"k: &{'a' * 90} |\n\n",
}


@pytest.mark.parametrize("text", DIFFERENT.values(), ids=DIFFERENT.keys())
def test_documents_where_the_yaml_versions_differ_step_aside(text: str) -> None:
    with pytest.raises(Unusual):
        fastyaml.load(text)


def test_a_quoted_typed_string_stays_on_the_fast_path() -> None:
    # "0755" quoted is a string to both; yaml-rs would read it plain as a number, so it was quoted.
    assert fastyaml.load('a: "0755"\nb: "true"\nc: "8080"\n') == {"a": "0755", "b": "true", "c": "8080"}


def test_the_repository_configuration_takes_the_fast_path() -> None:
    for path in [*REPO.glob("tests/fixtures/config/**/*.yaml"), *REPO.glob("teams/*/values.yaml")]:
        agrees_or_steps_aside(path.read_text(encoding="utf-8"))
    paths = [path for path in REPO.glob("teams/**/*.yaml") if path.name != "values.yaml"]  # Helm's, not ours
    assert paths and all(agrees_or_steps_aside(path.read_text(encoding="utf-8")) for path in paths)


def test_generated_stacks_with_anchors_take_the_fast_path() -> None:
    spec = importlib.util.spec_from_file_location("config_load", REPO / "bench" / "config_load.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)  # the benchmark's stacks, written as by hand
    stack_yaml = bench.stack_yaml
    rng = random.Random(3)
    for team in range(5):
        assert agrees_or_steps_aside(stack_yaml(team, 40, rng, anchors=True))
        assert agrees_or_steps_aside(stack_yaml(team, 40, rng, anchors=False))


@settings(max_examples=600, deadline=None)
@given(DATA, st.sampled_from([None, True, False]), st.sampled_from([None, '"', "'", "|"]))
def test_any_dumped_data_loads_as_pyyaml_loads_it(data: Any, flow: bool | None, style: str | None) -> None:
    try:
        text = yaml.safe_dump(data, default_flow_style=flow, default_style=style, allow_unicode=True)
        yaml.safe_load(text)
    except yaml.YAMLError:
        return
    agrees_or_steps_aside(text)


@settings(max_examples=300, deadline=None)
@given(anchored_yaml())
def test_anchors_and_merges_load_as_pyyaml_loads_them(text: str) -> None:
    try:
        yaml.safe_load(text)
    except yaml.YAMLError:
        with pytest.raises(Unusual):
            fastyaml.load(text)
        return
    agrees_or_steps_aside(text)


# The text screens as regular expressions: the helpers find the same with str.find (faster).
_SCREEN_PATTERNS = {
    "_multiline_flow": re.compile(r"[\[{][^\]}\n]*\n"),
    "_number_trap": re.compile(r"\b0[0-9oOxXbB_]|[0-9]_|_[0-9]"),
}
_SCREEN_TEXT = st.text(alphabet=st.sampled_from("[]{}\n 0123456789_oOaé:|>?%@`&-xXbB\u0663"), max_size=40)


@settings(max_examples=600, deadline=None)
@given(_SCREEN_TEXT)
def test_text_screens_find_what_their_regular_expressions_find(text: str) -> None:
    for name, pattern in _SCREEN_PATTERNS.items():
        assert getattr(fastyaml, name)(text) == bool(pattern.search(text)), name
    indicators = re.compile(r"[|>?%@`]|:(?=[^ \r\n])")
    expected = bool(re.search(r":[\]},]", text)) or any(
        fastyaml._at_node_start(text, match.start()) for match in indicators.finditer(text))
    assert fastyaml._indicator_at_node_start(text) == expected


def _at_node_start_by_slices(text: str, index: int) -> bool:
    """``fastyaml._at_node_start`` as it was written first, on a stripped copy of what precedes."""
    before = text[max(0, index - 80):index]
    stripped = before.rstrip(" ")
    anchor = stripped.rfind("&")
    if anchor >= 0 and len(stripped) < len(before) and not re.search(r"[\s\[{,]", stripped[anchor:]):
        return _at_node_start_by_slices(text, index - len(before) + anchor)
    if index > 80 and stripped and len(stripped) < len(before) and not re.search(r"[\s\[{,]", stripped):
        return True  # one token fills the 80 characters looked at: where it starts is not seen
    return not stripped or stripped.endswith(("\n", "[", "{", ",")) or (
        stripped.endswith((":", "?", "-")) and len(stripped) < len(before))


@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from([" ", " " * 9, " " * 81, "\n", "\t", "&", "&x", "*", ":", "-", "?", "[", "{", ",",
                                  "a", "a" * 70]), max_size=40).map("".join))
def test_where_a_node_starts_is_decided_as_on_a_stripped_copy(text: str) -> None:
    """The position-based look back (no copies) answers as the first, slicing version did,
    at every position: after spaces, anchors, keys, list dashes, 80 characters back and more."""
    for index in range(len(text)):
        assert fastyaml._at_node_start(text, index) == _at_node_start_by_slices(text, index), index


def test_a_typed_integer_with_a_leading_zero_anywhere_steps_aside() -> None:
    assert fastyaml.load("a: 80\nb: x\n") == {"a": 80, "b": "x"}
    for text in ("a: 80\nb: 012\n", "a: 80\nb: [0o1]\n", "a: 80\nb: 1_000\n", "a: 80\nb: _3\n", "a: 80\n012: b\n"):
        with pytest.raises(Unusual):
            fastyaml.load(text)


_SCALARS = st.one_of(
    st.text(alphabet=st.sampled_from("0123456789.+-_:eExXoObB~nNuUlLtTrRfFaAsSyYiI <=!&* \t"), max_size=12),
    st.sampled_from(["", "~", "null", "Yes", "off", "0x1F", "0o17", "1_000", "1:30", ".inf", "-.NaN", "2001-12-14",
                     "2001-12-14t21:59:43.10-05:00", "<<", "=", "!", "&", "*", "190:20:30", "0b101", "1e3"]))


@settings(max_examples=1500, deadline=None)
@given(_SCALARS)
def test_a_plain_scalar_is_typed_exactly_when_pyyaml_resolves_it_to_a_type(value: str) -> None:
    resolved = yaml.resolver.Resolver().resolve(yaml.ScalarNode, value, (True, False))
    assert fastyaml._typed(value) == (resolved != "tag:yaml.org,2002:str"), (value, resolved)
