"""Reading one YAML file into plain Python data, or one precise error.

PyYAML's C loader (libyaml) is used when it is available: it is several times faster than the
pure-Python one, which matters for a thousand teams. Two YAML traps are turned into errors with
a line number instead of being silently accepted: a key repeated in one mapping (YAML keeps the
last one) and a non-string key (``on:`` or ``1:``), which no tekton-dag file uses.
"""

from __future__ import annotations

import json
from pathlib import Path
from sys import intern
from typing import Any

import yaml

from tekton_dag.config.errors import ROOT_PATH, ConfigError

_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


_STR = "tag:yaml.org,2002:str"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_MERGE = "tag:yaml.org,2002:merge"
_SCALARS = frozenset(f"tag:yaml.org,2002:{t}" for t in ("null", "bool", "int", "float", "timestamp", "binary"))


class _Unusual(Exception):
    """Something the fast path leaves to PyYAML's own constructor (merge keys, recursive aliases)."""


class StrictLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """Safe loading that rejects repeated keys and non-string keys.

    Plain documents (mappings, lists, standard scalars) are built by one direct recursion over
    the composed nodes, several times faster than PyYAML's generator-based constructor; anything
    else (merge keys ``<<``, self-referencing aliases, unknown tags) goes through that constructor,
    which gives the same result and the same errors.
    """

    # Tag resolution, called by the C composer for every node, is pure Python and a third of the
    # load time. Without path resolvers (none are registered) and for a scalar whose first
    # character starts no implicit type (most: names, repos, commands), the answer is fixed.
    _IMPLICIT_FIRST = frozenset(k for k in _BaseLoader.yaml_implicit_resolvers if k is not None)
    _PLAIN_IS_STR = None not in _BaseLoader.yaml_implicit_resolvers and not _BaseLoader.yaml_path_resolvers

    def resolve(self, kind: type[yaml.Node], value: Any, implicit: tuple[bool, bool]) -> str:
        if not self._PLAIN_IS_STR:
            return super().resolve(kind, value, implicit)
        if kind is yaml.ScalarNode:
            if implicit[0] and (not value or value[0] in self._IMPLICIT_FIRST):
                return super().resolve(kind, value, implicit)
            return _STR
        return _SEQ if kind is yaml.SequenceNode else _MAP

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        if self._PLAIN_IS_STR:
            return None
        return super().descend_resolver(current_node, current_index)

    def ascend_resolver(self) -> None:
        if self._PLAIN_IS_STR:
            return None
        return super().ascend_resolver()

    def construct_document(self, node: yaml.Node) -> Any:
        try:
            return self._build(node, {}, set())
        except _Unusual:
            return super().construct_document(node)

    def _build(self, node: yaml.Node, done: dict[int, Any], building: set[int]) -> Any:
        key = id(node)
        if key in done:  # an alias: the same object, as PyYAML gives
            return done[key]
        if key in building:
            raise _Unusual
        tag = node.tag
        if tag == _STR:
            # Interned: a thousand stacks repeat the same keys, tools and commands 40,000 times.
            value: Any = intern(node.value)
        elif tag in _SCALARS:
            value = self.yaml_constructors[tag](self, node)
        elif tag == _SEQ:
            building.add(key)
            value = [self._build(child, done, building) for child in node.value]
        elif tag == _MAP:
            building.add(key)
            value = {}
            for key_node, value_node in node.value:
                if key_node.tag != _STR or not isinstance(key_node, yaml.ScalarNode) or key_node.value in value:
                    raise _Unusual  # the full constructor reports it with a line number (or merges)
                value[intern(key_node.value)] = self._build(value_node, done, building)
        else:
            raise _Unusual
        done[key] = value
        return value

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
        return super().construct_mapping(node, deep=deep)


StrictLoader.add_constructor(_MAP, StrictLoader.construct_yaml_map)


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
    if exc.context:
        problem = f"{problem} ({exc.context})"
    return ConfigError(shown_as, where, f"invalid YAML: {problem}")
