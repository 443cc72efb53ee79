"""Reading one YAML file into plain Python data, or one precise error.

PyYAML's C loader (libyaml) is used when it is available: it is several times faster than the
pure-Python one, which matters for a thousand teams. Two YAML traps are turned into errors with
a line number instead of being silently accepted: a key repeated in one mapping (YAML keeps the
last one) and a non-string key (``on:`` or ``1:``), which no tekton-dag file uses.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tekton_dag.config.errors import ROOT_PATH, ConfigError

_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class StrictLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """Safe loading that rejects repeated keys and non-string keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[str, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *defaults` is fine
                continue
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != "tag:yaml.org,2002:str":
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {json.dumps(key_node.value)} must be a string (quote it)", key_node.start_mark)
            if key_node.value in seen:
                first = seen[key_node.value].start_mark.line + 1
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {json.dumps(key_node.value)} (first at line {first})", key_node.start_mark)
            seen[key_node.value] = key_node
        return super().construct_mapping(node, deep=deep)


StrictLoader.add_constructor("tag:yaml.org,2002:map", StrictLoader.construct_yaml_map)


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
