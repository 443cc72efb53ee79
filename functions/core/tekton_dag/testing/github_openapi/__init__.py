"""GitHub's REST API contract, as its official OpenAPI description states it, for the operations we call.

``operations.json`` is extracted by ``generate.py`` from npm ``@octokit/openapi@23.0.2``
(``generated/api.github.com.json``). ``Contract`` compiles, once per process, each operation's path
and query parameters, JSON request body and JSON answers into fastjsonschema validators. OpenAPI
3.0 is not JSON Schema: ``nullable: true`` becomes a ``null`` type (OpenAPI 3.0.3 §4.7.24), and
the ``int64`` format (OpenAPI's own) is accepted as any integer.

Stricter than GitHub on one point, on purpose: a request body with a property the operation does
not define is refused (GitHub ignores unknown parameters; for us such a property is a typo).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fastjsonschema

SPEC = Path(__file__).with_name("operations.json")
FORMATS: dict[str, Any] = {"int64": lambda value: True, "int32": lambda value: True}

Validator = Callable[[Any], Any]


@dataclass
class Operation:
    method: str  # upper case
    template: str
    operation_id: str
    pattern: re.Pattern[str]
    path_params: dict[str, Validator]
    query_params: dict[str, tuple[Validator, bool, str]]  # name -> (validate, required, type)
    body: Validator | None
    body_required: bool
    body_properties: frozenset[str] | None
    answers: dict[str, Validator | None] = field(default_factory=dict)  # status -> validate JSON (None: no body)


def _json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema → JSON Schema (draft 4 semantics fastjsonschema checks)."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {k: _json_schema(v) for k, v in node.items() if k not in ("nullable", "discriminator")}
    if node.get("nullable") is True:
        if "type" in converted:
            types = converted["type"] if isinstance(converted["type"], list) else [converted["type"]]
            converted["type"] = [*types, "null"]
            if "enum" in converted:
                converted["enum"] = [*converted["enum"], None]
        else:
            return {"anyOf": [converted, {"type": "null"}]}
    return converted


class Contract:
    """Every operation of ``operations.json``, compiled."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self._components = _json_schema(spec["components"])
        self._raw_components = spec["components"]
        self.operations: list[Operation] = []
        for template, methods in spec["paths"].items():
            for method, operation in methods.items():
                self.operations.append(self._operation(method.upper(), template, operation))

    def match(self, method: str, path: str) -> tuple[Operation | None, dict[str, str], bool]:
        """(operation, path parameters, path known with another method)."""
        path_known = False
        for operation in self.operations:
            found = operation.pattern.fullmatch(path)
            if found is None:
                continue
            if operation.method == method:
                return operation, found.groupdict(), True
            path_known = True
        return None, {}, path_known

    def _compile(self, schema: Any) -> Validator:
        """A validator compiled on its first use: a test touches a few operations, not all 40 schemas."""
        document = {**_json_schema(schema), "components": self._components}

        @functools.cache
        def compiled() -> Validator:
            return fastjsonschema.compile(document, formats=FORMATS)

        return lambda value: compiled()(value)

    def _resolve(self, node: Any) -> Any:
        while isinstance(node, dict) and "$ref" in node:
            _, _, kind, name = node["$ref"].split("/", 3)
            node = self._raw_components[kind][name]
        return node

    def _operation(self, method: str, template: str, spec: Mapping[str, Any]) -> Operation:
        pattern = re.compile(re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template))
        path_params: dict[str, Validator] = {}
        query: dict[str, tuple[Validator, bool, str]] = {}
        for raw in spec.get("parameters", []):
            parameter = self._resolve(raw)
            schema = parameter.get("schema", {})
            if parameter["in"] == "path":
                path_params[parameter["name"]] = self._compile(schema)
            elif parameter["in"] == "query":
                query[parameter["name"]] = (self._compile(schema), bool(parameter.get("required")),
                                            str(schema.get("type", "string")))
        body = body_properties = None
        request = self._resolve(spec.get("requestBody")) if spec.get("requestBody") else None
        if request is not None:
            schema = request["content"]["application/json"]["schema"]
            body = self._compile(schema)
            properties = self._resolve(schema).get("properties")
            body_properties = frozenset(properties) if isinstance(properties, dict) else None
        operation = Operation(method, template, spec["operationId"], pattern, path_params, query, body,
                              bool(request and request.get("required")), body_properties)
        for status, raw_answer in spec.get("responses", {}).items():
            answer = self._resolve(raw_answer)
            content = answer.get("content", {}).get("application/json")
            operation.answers[status] = self._compile(content["schema"]) if content and "schema" in content else None
        return operation


@functools.cache
def contract() -> Contract:
    return Contract(json.loads(SPEC.read_text()))


def request_problems(operation: Operation, path_params: Mapping[str, str], query: Mapping[str, list[str]],
                     body: Any, has_body: bool) -> list[str]:
    """What is wrong with a request for ``operation``, in GitHub's wording where it has one."""
    problems: list[str] = []
    for name, validate in operation.path_params.items():
        problems += _check(validate, _typed(path_params.get(name, ""), "integer" if name.endswith("_id") or name in (
            "issue_number", "pull_number") else "string"), f"path parameter {name}")
    for name in query:
        if name not in operation.query_params:
            problems.append(f"query parameter {name!r} is not defined for {operation.operation_id}")
    for name, (validate, required, kind) in operation.query_params.items():
        if name not in query:
            if required:
                problems.append(f"query parameter {name!r} is required")
            continue
        problems += _check(validate, _typed(query[name][-1], kind), f"query parameter {name}")
    if operation.body is None:
        if has_body and body not in (None, {}, ""):
            problems.append(f"{operation.operation_id} takes no request body")
        return problems
    if not has_body:
        if operation.body_required:
            problems.append("a JSON request body is required")
        return problems
    problems += _check(operation.body, body, "body")
    if operation.body_properties is not None and isinstance(body, dict):
        unknown = sorted(set(body) - operation.body_properties)
        if unknown:
            problems.append(f"body: {', '.join(map(repr, unknown))} not defined for {operation.operation_id} "
                            f"(defined: {', '.join(sorted(operation.body_properties))})")
    return problems


def answer_problems(operation: Operation, status: int, body: Any) -> list[str]:
    """What is wrong with an answer of the double (a bug of the double, not of the caller)."""
    key = str(status) if str(status) in operation.answers else "default" if "default" in operation.answers else None
    if key is None:
        return [] if status >= 400 else [f"{operation.operation_id} does not answer {status}"]
    validate = operation.answers[key]
    return [] if validate is None else _check(validate, body, f"answer {status}")


def _typed(raw: str, kind: str) -> Any:
    if kind == "integer":
        try:
            return int(raw)
        except ValueError:
            return raw
    if kind == "boolean" and raw in ("true", "false"):
        return raw == "true"
    return raw


def _check(validate: Validator, value: Any, where: str) -> list[str]:
    try:
        validate(value)
    except fastjsonschema.JsonSchemaValueException as exc:
        return [f"{where}: {exc.message.replace('data', where, 1) if exc.message.startswith('data') else exc.message}"]
    return []
