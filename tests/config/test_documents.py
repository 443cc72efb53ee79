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


PLAIN = {k: EDGE_CASES[k] for k in ("typed scalars", "flow and block collections", "block scalars", "unicode",
                                     "anchors and aliases", "merge keys")}


@pytest.mark.parametrize("text", PLAIN.values(), ids=PLAIN.keys())
def test_plain_documents_take_the_fast_path(text: str) -> None:
    assert documents._load_plain(text) == yaml.safe_load(text)


HAND_WRITTEN = {
    "a merged mapping with an override": "base: &b {tool: npm, runtime: node}\nuse:\n  <<: *b\n  runtime: deno\n",
    "several merges": "a: &a {x: 1}\nb: &b {y: 2}\nc: {<<: [*b, *a], z: 3}\nd: {<<: *a, <<: *b}\n",
    "a merged list alias": "l: &l [{x: 1}, {y: 2}]\nm: {<<: *l}\n",
    "a merge of a merged mapping": "a: &a {x: 1}\nb: &b {<<: *a, y: 2}\nc: {<<: *b}\n",
    "anchored scalars and lists": "a: &s 12\nb: &l [x, *s]\nc: [*s, *l]\n&k key: *s\nd: {*k : 1}\n",
    "a quoted << is a key": '"<<": 1\n',
    "an anchored root": "&r {a: 1}\n",
}


@pytest.mark.parametrize("text", HAND_WRITTEN.values(), ids=HAND_WRITTEN.keys())
def test_anchors_aliases_and_merges_take_the_fast_path(text: str) -> None:
    assert _ordered(documents._load_plain(text)) == _ordered(yaml.safe_load(text))


def test_an_alias_is_the_anchored_object_as_in_pyyaml() -> None:
    loaded = documents._load_plain("a: &a {x: [1]}\nb: *a\n")
    assert loaded["a"] is loaded["b"]


@pytest.mark.parametrize("text", [
    EDGE_CASES["explicit tags"], "!!merge <<: {a: 1}\n",
    "a: 1\na: 2\n", "1: x\n", "? [a]\n: b\n", "--- 1\n--- 2\n", "a: [1\n",
    "a: &x 1\nb: &x 2\n", "a: *nope\n", "a: &a [*a]\n", "a: <<\n", "- <<\n", "<<\n", "a: &m <<\n",
    "<<: 1\n", "<<: [{a: 1}, 2]\n",
    "a: &a {k: 1}\nb: &b {k: 2}\nc: {<<: [*a, *b]}\n", "b: &b {x: 1}\n<<: [*b, *b]\n",
    "a: &a {<<: {x: 1}, x: 2}\nb: {<<: *a}\n",
], ids=["tags", "tagged merge", "duplicate key", "int key", "complex key", "two documents", "syntax error",
        "repeated anchor", "undefined alias", "recursive alias", "merge value", "merge item", "merge document",
        "anchored merge", "merge of a scalar", "merge of a list with a scalar", "key in two merged mappings",
        "the same mapping merged twice", "merging an overriding mapping"])
def test_unusual_documents_go_to_the_full_loader(text: str) -> None:
    with pytest.raises((documents._Unusual, yaml.YAMLError)):
        documents._load_plain(text)


@pytest.mark.parametrize(("text", "where", "message"), [
    ("a: 1\nb: 2\na: 3\n", "line 3, column 1", 'invalid YAML: duplicate key "a" (first at line 1)'),
    ("x: 1\n2: y\n", "line 2, column 1", 'invalid YAML: key "2" must be a string (quote it)'),
    ("--- 1\n--- 2\n", "line 2, column 1", "invalid YAML: expected a single document in the stream, "
                                           "but found another document"),
    # A key that is itself a collection: reported, not a crash (json.dumps of its nodes raised TypeError).
    ("[a, b]: 1\n", "line 1, column 1", "invalid YAML: a key must be a string, not a sequence"),
    ("x:\n  ? {a: b}\n  : 1\n", "line 2, column 5", "invalid YAML: a key must be a string, not a mapping"),
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


def _ordered(value: Any, enclosing: frozenset[int] = frozenset()) -> Any:
    """``value`` with every mapping as its list of items: equal only if keys come in the same order.
    A recursive alias (PyYAML builds a cycle) becomes a marker."""
    if isinstance(value, (dict, list)) and id(value) in enclosing:
        return "<cycle>"
    inner = enclosing | {id(value)}
    if isinstance(value, dict):
        return [(k, _ordered(v, inner)) for k, v in value.items()]
    if isinstance(value, list):
        return [_ordered(v, inner) for v in value]
    return value


NAMES = ["a", "b", "c", "tool", "runtime", "x-y", "z", "ab"]
ODD_NAMES = ["on", "1", '"<<"']  # not strings to PyYAML, or a quoted "<<" (a plain key)
VALUES = ["npm", "1", "2.5", "on", "~", "''", '"q"', "2024-01-31", "[]", "{}"]


@st.composite
def anchored_yaml(draw: st.DrawFn) -> str:
    """A document with anchors, aliases and ``<<`` merges as people write them (a few anchored
    mappings first, merged and aliased below), and some that PyYAML refuses or loads its own way:
    undefined or repeated anchors, merges of scalars, keys in two merged mappings, repeated keys."""
    defined: list[str] = []
    mappings: list[str] = []  # the anchors of mappings, which merges mostly use

    def alias() -> str:
        if draw(st.integers(0, 49)) == 0:
            return f"*{draw(st.sampled_from(['nope', 'a0']))}"  # undefined, or maybe defined later
        return f"*{draw(st.sampled_from(defined))}" if defined else draw(st.sampled_from(VALUES))

    def merge() -> str:
        if not mappings or draw(st.integers(0, 19)) == 0:
            return f"<<: {alias()}"
        names = draw(st.lists(st.sampled_from(mappings), min_size=1, max_size=3, unique=draw(st.integers(0, 5)) > 0))
        if len(names) == 1 and draw(st.booleans()):
            return f"<<: *{names[0]}"
        return f"<<: [{', '.join(f'*{n}' for n in names)}]"

    def anchored(text: str) -> str:
        if draw(st.integers(0, 2)) == 0:
            name = f"a{len(defined)}" if draw(st.integers(0, 19)) > 0 else "a0"  # sometimes repeated
            defined.append(name)
            if text.startswith("{"):
                mappings.append(name)
            return f"&{name} {text}"
        return text

    def mapping(depth: int) -> str:
        keys = draw(st.lists(st.sampled_from(NAMES), max_size=4, unique=draw(st.integers(0, 9)) > 0))
        if draw(st.integers(0, 19)) == 0:
            keys.append(draw(st.sampled_from(ODD_NAMES)))
        entries = [f"{key}: {node(depth + 1)}" for key in keys]
        for _ in range(draw(st.integers(0, 2))):
            entries.insert(draw(st.integers(0, len(entries))), merge())
        return f"{{{', '.join(entries)}}}"

    def node(depth: int) -> str:
        kind = draw(st.sampled_from(["scalar", "alias", "map", "list"] if depth < 3 else ["scalar", "alias"]))
        if kind == "scalar":
            return anchored(draw(st.sampled_from(VALUES)))
        if kind == "alias":
            return alias()
        if kind == "list":
            return anchored(f"[{', '.join(node(depth + 1) for _ in range(draw(st.integers(0, 3))))}]")
        return anchored(mapping(depth))

    lines = []
    for i in range(draw(st.integers(0, 3))):
        text = mapping(2)
        defined.append(f"m{i}")
        mappings.append(f"m{i}")
        lines.append(f"m{i}: &m{i} {text}")
    lines += [f"k{i}: {node(1)}" for i in range(draw(st.integers(1, 4)))]
    return "\n".join(lines) + "\n"


@settings(max_examples=300, deadline=None)
@given(anchored_yaml())
def test_anchors_and_merges_load_as_pyyaml_loads_them(text: str) -> None:
    try:
        expected = yaml.safe_load(text)
    except yaml.YAMLError:
        data, error = parse_yaml(text, "f.yaml")
        assert data is None and error is not None
        return
    loaded, error = parse_yaml(text, "f.yaml")
    if error is None:
        assert _ordered(loaded) == _ordered(expected)
    else:  # only the strict rules may refuse what PyYAML accepts
        assert "must be a string" in error.message or "duplicate key" in error.message


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64)
       | st.lists(st.sampled_from([b"a", b"\r", b"\n", b"\r\n", b"\xc3\xa9", b"\xff"])).map(b"".join))
def test_a_file_reads_as_path_read_text_reads_it(data: bytes) -> None:
    """documents.read_text skips Python's text layer: the same text (universal newlines: "\\r\\n"
    and a lone "\\r" become "\\n"), and the same decoding error where the bytes are not UTF-8."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "file.yaml"
        path.write_bytes(data)
        try:
            expected: str | tuple[str, int] = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            expected = (exc.reason, exc.start)
        try:
            got: str | tuple[str, int] = documents.read_text(path)
        except UnicodeDecodeError as exc:
            got = (exc.reason, exc.start)
    assert got == expected
