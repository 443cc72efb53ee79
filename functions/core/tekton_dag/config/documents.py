"""Reading one YAML file into plain Python data, or one precise error.

Parsing is libyaml's (PyYAML's C parser). Two YAML traps are turned into errors with a line
number instead of being silently accepted: a key repeated in one mapping (YAML keeps the last
one) and a non-string key (``on:`` or ``1:``), which no tekton-dag file uses.

Speed matters for a thousand teams (bench/config_load.py), and PyYAML spends most of its time
in Python: a node object and a tag lookup for every value, then a generator-driven
constructor. ``_load_plain`` builds the data straight from the parser's events instead, for
documents of mappings, lists and scalars without anchors or tags, which is what configuration
files are. Anything else (anchors, aliases, ``<<`` merges, explicit tags, repeated or
non-string keys, syntax errors) goes through ``StrictLoader``, PyYAML's full safe loader, which
gives the same data or the precise error. tests/config/test_documents.py checks that both agree.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from sys import intern
from typing import TYPE_CHECKING, Any

import yaml
from yaml import events

from tekton_dag.config.errors import ROOT_PATH, ConfigError

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
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _STR:
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


class _Unusual(Exception):
    """The document needs PyYAML's full loader."""


# Plain scalars whose first character starts no implicit type (names, repos, commands) are
# strings; the others are resolved and constructed exactly as PyYAML does.
_RESOLVER = yaml.resolver.Resolver()
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_TYPED_FIRST = frozenset(k for k in yaml.resolver.Resolver.yaml_implicit_resolvers if k is not None)
_FAST = (_Parser is not None and None not in yaml.resolver.Resolver.yaml_implicit_resolvers
         and not yaml.resolver.Resolver.yaml_path_resolvers)


def _scalar(event: events.ScalarEvent) -> Any:
    """A scalar that may not be a plain string (the loop handles those inline)."""
    if event.anchor is not None or (event.tag is not None and event.tag != "!"):
        raise _Unusual
    value = event.value
    if event.implicit[0] and (not value or value[0] in _TYPED_FIRST):
        # Resolver.resolve is untyped in types-PyYAML.
        tag = _RESOLVER.resolve(yaml.ScalarNode, value, event.implicit)  # type: ignore[no-untyped-call]
        if tag != _STR:
            if tag not in _TYPED_SCALARS:  # "<<" and anything new
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
            elif kind is events.MappingStartEvent or kind is events.SequenceStartEvent:
                if event.anchor is not None or event.tag is not None:
                    raise _Unusual
                containers.append({} if kind is events.MappingStartEvent else [])
                keys.append(None)
                continue
            elif kind is events.MappingEndEvent or kind is events.SequenceEndEvent:
                value = containers.pop()
                keys.pop()
            else:  # aliases
                raise _Unusual
            if not containers:
                break
            top = containers[-1]
            if type(top) is list:
                top.append(value)
            elif keys[-1] is None:
                if type(value) is not str or value in top:
                    raise _Unusual  # StrictLoader reports it with its line
                keys[-1] = value
            else:
                top[keys[-1]] = value
                keys[-1] = None
        if not isinstance(get(), events.DocumentEndEvent) or not isinstance(get(), events.StreamEndEvent):
            raise _Unusual  # several documents: StrictLoader says so
        return value
    finally:
        parser.dispose()


def read_yaml(path: Path, shown_as: str) -> tuple[Any, ConfigError | None]:
    """The document in ``path``; on failure ``(None, error)`` with ``shown_as`` as the file name."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, ConfigError(shown_as, ROOT_PATH, "file does not exist")
    except UnicodeDecodeError as exc:
        return None, ConfigError(shown_as, ROOT_PATH, f"not UTF-8 text ({exc.reason} at byte {exc.start})")
    except OSError as exc:
        return None, ConfigError(shown_as, ROOT_PATH, f"cannot read: {exc.strerror or exc}")
    return parse_yaml(text, shown_as)


def parse_yaml(text: str, shown_as: str) -> tuple[Any, ConfigError | None]:
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
