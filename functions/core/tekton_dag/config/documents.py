"""Reading one YAML file into plain Python data, or one precise error.

Three paths give the same data, fastest first: ``fastyaml.load`` (yaml-rs, in Rust, with
checks that its answer is PyYAML's), ``_load_plain`` (libyaml's events), and PyYAML's full
loader, which also words every error. A document goes on to the next path whenever the one
before cannot be sure (see each). The semantics promised are PyYAML's safe loader's: YAML 1.1.

Parsing is libyaml's (PyYAML's C parser) on the two slower paths. Two YAML traps are turned into errors with a line
number instead of being silently accepted: a key repeated in one mapping (YAML keeps the last
one) and a non-string key (``on:`` or ``1:``), which no tekton-dag file uses.

Speed matters for a thousand teams (bench/config_load.py), and PyYAML spends most of its time
in Python: a node object and a tag lookup for every value, then a generator-driven
constructor. ``_load_plain`` builds the data straight from the parser's events instead, for
documents of mappings, lists and scalars, with anchors, aliases and ``<<`` merges as
hand-written files use them (an alias is the anchored object itself, as PyYAML gives it).
Anything else goes through ``StrictLoader``, PyYAML's full safe loader, which gives the same
data or the precise error: explicit tags, repeated or non-string keys, syntax errors, undefined,
repeated or recursive anchors, and the merges whose result depends on PyYAML's version or on
its in-place flattening (see ``_merged``). tests/config/test_documents.py checks that both agree.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from sys import intern
from typing import TYPE_CHECKING, Any

import yaml
from yaml import events

from tekton_dag.config import fastyaml
from tekton_dag.config.errors import ROOT_PATH, ConfigError
from tekton_dag.config.yamlmerge import Unusual as _Unusual
from tekton_dag.config.yamlmerge import merged as _merged
from tekton_dag.syntax import CONFIG_FILE_LIMIT, file_text

if TYPE_CHECKING:  # CSafeLoader has SafeLoader's interface; the stubs cannot say which one loads
    _BaseLoader = yaml.SafeLoader
else:
    _BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Parser: Callable[[str], Any] | None  # parser events are dispatched on their exact type: see _load_plain
try:
    from yaml._yaml import CParser as _CParser  # libyaml, as PyYAML ships it

    _Parser = _CParser
except ImportError:  # PyYAML built without libyaml: the slower full loader does everything
    _Parser = None

_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"
_TYPED_SCALARS = frozenset(f"tag:yaml.org,2002:{t}" for t in ("null", "bool", "int", "float", "timestamp"))


class StrictLoader(_BaseLoader):
    """PyYAML's safe loader, rejecting repeated keys and non-string keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[str, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE:  # `<<: *defaults` is fine
                continue
            if not isinstance(key_node, yaml.ScalarNode):  # ``[a, b]: 1``, ``? {a: b}``: no text to quote
                kind = "a sequence" if isinstance(key_node, yaml.SequenceNode) else "a mapping"
                raise yaml.constructor.ConstructorError(
                    None, None, f"a key must be a string, not {kind}", key_node.start_mark)
            if key_node.tag != _STR:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {json.dumps(key_node.value)} must be a string (quote it)", key_node.start_mark)
            if key_node.value in seen:
                first = seen[key_node.value].start_mark.line + 1
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {json.dumps(key_node.value)} (first at line {first})",
                    key_node.start_mark)
            seen[key_node.value] = key_node
        return dict(super().construct_mapping(node, deep=deep))


# types-PyYAML accepts only constructors typed for a Loader class, not SafeConstructor's own methods.
StrictLoader.add_constructor("tag:yaml.org,2002:map", StrictLoader.construct_yaml_map)  # type: ignore[type-var]


# Plain scalars whose first character starts no implicit type (names, repos, commands) are
# strings; the others are resolved and constructed exactly as PyYAML does.
_RESOLVER = yaml.resolver.Resolver()
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_TYPED_FIRST = frozenset(k for k in yaml.resolver.Resolver.yaml_implicit_resolvers if k is not None)
_FAST = (_Parser is not None and None not in yaml.resolver.Resolver.yaml_implicit_resolvers
         and not yaml.resolver.Resolver.yaml_path_resolvers)


_MERGE_KEY: Any = object()  # a plain ``<<``: valid only as a key, where it merges its value


def _scalar(event: events.ScalarEvent) -> Any:
    """A scalar that may not be a plain string (the loop handles those inline)."""
    if event.tag is not None and event.tag != "!":
        raise _Unusual
    value = event.value
    if event.implicit[0] and (not value or value[0] in _TYPED_FIRST):
        # Resolver.resolve is untyped in types-PyYAML.
        tag = _RESOLVER.resolve(yaml.ScalarNode, value, event.implicit)  # type: ignore[no-untyped-call]
        if tag != _STR:
            if tag == _MERGE:
                return _MERGE_KEY
            if tag not in _TYPED_SCALARS:  # anything new
                raise _Unusual
            return _CONSTRUCTOR.yaml_constructors[tag](_CONSTRUCTOR, yaml.ScalarNode(tag, value))
    return intern(value)  # a thousand stacks repeat the same keys, tools and commands


def _load_plain(text: str) -> Any:
    """The document, built from parser events; raises ``_Unusual`` for anything not plain."""
    if _Parser is None:  # parse_yaml calls this only when _FAST
        raise _Unusual
    parser = _Parser(text)
    try:
        get = parser.get_event
        get()  # StreamStart
        event = get()
        if isinstance(event, events.StreamEndEvent):
            return None  # an empty file, as PyYAML loads it
        if not isinstance(event, events.DocumentStartEvent):
            raise _Unusual
        containers: list[Any] = []
        keys: list[Any] = []  # per open mapping: the key waiting for its value, or None
        anchors: dict[str, Any] = {}  # anchor -> its finished value
        opened: dict[int, str] = {}  # depth -> anchor of an open container at that depth
        merges: dict[int, list[Any]] = {}  # depth -> what ``<<`` keys of the open mapping merge
        overridden: set[int] = set()  # ids of merged mappings whose own keys overrode merged ones
        while True:
            event = get()
            kind = type(event)
            if kind is events.ScalarEvent:
                value = event.value
                if event.tag is None and event.anchor is None and not (
                        event.implicit[0] and (not value or value[0] in _TYPED_FIRST)):
                    value = intern(value)  # a string: most values, so handled here
                else:
                    value = _scalar(event)
                    if value is _MERGE_KEY:  # PyYAML constructs no merge value, and anchors none
                        if not containers or type(containers[-1]) is list or keys[-1] is not None or event.anchor:
                            raise _Unusual
                    elif event.anchor is not None:
                        _define(anchors, event.anchor, value)
            elif kind is events.MappingStartEvent or kind is events.SequenceStartEvent:
                if event.tag is not None:
                    raise _Unusual
                containers.append({} if kind is events.MappingStartEvent else [])
                keys.append(None)
                if event.anchor is not None:
                    opened[len(containers)] = event.anchor
                continue
            elif kind is events.MappingEndEvent or kind is events.SequenceEndEvent:
                value = containers.pop()
                keys.pop()
                if merges or opened:  # rare: only then is the depth worth computing
                    depth = len(containers) + 1
                    if depth in merges:
                        value = _merged(merges.pop(depth), value, overridden)
                    if depth in opened:
                        _define(anchors, opened.pop(depth), value)
            elif kind is events.AliasEvent:
                try:
                    value = anchors[event.anchor]
                except KeyError:  # undefined, or an enclosing (recursive) node: PyYAML decides
                    raise _Unusual from None
            else:
                raise _Unusual
            if not containers:
                break
            top = containers[-1]
            if type(top) is list:
                top.append(value)
                continue
            key = keys[-1]
            if key is None:
                if type(value) is not str or value in top:
                    if value is not _MERGE_KEY:
                        raise _Unusual  # StrictLoader reports it with its line
                    merges.setdefault(len(containers), [])
                keys[-1] = value
            elif key is _MERGE_KEY:  # a mapping, or a list of them (_merged checks)
                merges[len(containers)].extend(value if type(value) is list else [value])
                keys[-1] = None
            else:
                top[key] = value
                keys[-1] = None
        if not isinstance(get(), events.DocumentEndEvent) or not isinstance(get(), events.StreamEndEvent):
            raise _Unusual  # several documents: StrictLoader says so
        return value
    finally:
        parser.dispose()


def _define(anchors: dict[str, Any], anchor: str, value: Any) -> None:
    if anchor in anchors:
        raise _Unusual  # PyYAML refuses a repeated anchor
    anchors[anchor] = value


def read_yaml(path: Path, shown_as: str, native: bool = True) -> tuple[Any, ConfigError | None]:
    """The document in ``path``; on failure ``(None, error)`` with ``shown_as`` as the file name.
    ``native``: try yaml-rs first (``parse_yaml``)."""
    try:
        text = read_text(path)
    except FileNotFoundError:
        return None, ConfigError(shown_as, ROOT_PATH, "file does not exist")
    except UnicodeDecodeError as exc:
        return None, ConfigError(shown_as, ROOT_PATH, f"not UTF-8 text ({exc.reason} at byte {exc.start})")
    except OSError as exc:
        return None, ConfigError(shown_as, ROOT_PATH, f"cannot read: {exc.strerror or exc}")
    return parse_yaml(text, shown_as, native)


def read_text(path: Path) -> str:
    """What ``path.read_text(encoding="utf-8")`` gives (line breaks made ``\\n``, as universal
    newlines do), in one unbuffered read: half its cost here (12 µs a file against 23, and a
    first load reads 3,000 files), as no text layer or buffer is set up for one read. A file over
    ``CONFIG_FILE_LIMIT`` (1 MiB: the chart mounts a team's files from one ConfigMap) is an
    ``OSError`` saying so, never read into memory."""
    return file_text(path, CONFIG_FILE_LIMIT)


def parse_yaml(text: str, shown_as: str, native: bool = True) -> tuple[Any, ConfigError | None]:
    """The document in ``text``, by the cheapest path that gives ``yaml.safe_load``'s data:
    yaml-rs when ``native`` (worth it over many files: importing it maps ~7 MB), libyaml's
    events, or PyYAML's full loader, which also words the errors."""
    if native:
        try:
            return fastyaml.load(text), None
        except _Unusual:
            pass  # the event path, or in the end the full loader, gives the same data or the error
    if _FAST:
        try:
            return _load_plain(text), None
        except (_Unusual, yaml.YAMLError):
            pass  # the full loader gives the same data, or the error with its line
    try:
        return yaml.load(text, Loader=StrictLoader), None  # noqa: S506 - StrictLoader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        return None, _syntax_error(exc, shown_as)
    except yaml.YAMLError as exc:
        return None, ConfigError(shown_as, ROOT_PATH, f"invalid YAML: {exc}")


def _syntax_error(exc: yaml.MarkedYAMLError, shown_as: str) -> ConfigError:
    mark = exc.problem_mark or exc.context_mark
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ROOT_PATH
    problem = exc.problem or "syntax error"
    if exc.context:  # "while parsing X" explains the problem; "expected X" comes before its "but found Y"
        problem = f"{exc.context}, {problem}" if problem.startswith("but ") else f"{problem} ({exc.context})"
    return ConfigError(shown_as, where, f"invalid YAML: {problem}")
