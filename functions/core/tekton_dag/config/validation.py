"""Checking one document against its JSON Schema, with messages a person can act on.

Two engines read the same schema files. A fast one answers "valid or not": jsonschema-rs
(Rust; 0.09 s for 1,000 stacks of 40 apps) or, without it, fastjsonschema (compiled to Python;
0.4-0.5 s), which matters for a thousand teams (bench/config_load.py); neither lists problems
as we word them, though. So a document it rejects is checked again by jsonschema, which lists
every problem with its path. Each is built once per schema and reused.
tests/config/test_schemas.py checks that the engines agree.

jsonschema's raw messages are rewritten so each problem names the field and says what was
expected (``apps[2].build.tool: "ant" is not one of: npm, maven, gradle, pip, composer``), and
unknown fields suggest the closest known one.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterator, Sequence
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

import fastjsonschema

if TYPE_CHECKING:
    import jsonschema
    from jsonschema.exceptions import ValidationError

from tekton_dag.config.errors import ConfigError, describe, format_path
from tekton_dag.pipelines import image_registry_problem
from tekton_dag.syntax import tcp_port

Kind = Literal["team", "stack", "versions", "registry"]
KINDS: tuple[Kind, ...] = ("team", "stack", "versions", "registry")

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# GitHub: owner up to 39 characters of letters, digits and single hyphens; repo of letters,
# digits, ".", "_" and "-" (but not "." or "..").
GITHUB_REPO = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}/(?!\.\.?$)[A-Za-z0-9._-]{1,100}$")

FORMAT_MESSAGES = {
    "dns1123-label": "is not a DNS-1123 label (lowercase letters, digits and '-', starting and ending "
                     "with a letter or digit, at most 63 characters)",
    "dns1123-subdomain": "is not a DNS-1123 subdomain (lowercase letters, digits, '-' and '.', "
                         "at most 253 characters)",
    "github-repo": "is not a GitHub repository as owner/name",
    "relative-path": "must be a relative path inside its directory (no leading '/', no '..')",
    # kube-apiserver refuses a Service or container port outside 1-65535 (validation.IsValidPortNum)
    "tcp-port": "is not a TCP port (1 to 65535)",
    "repo-path": "must be a relative path inside the app's repository (letters, digits, '_', '.', '-' and "
                 "'/'; no leading '/', no '..')",
}


# A path inside an app's checkout as the resolve-stack task takes it (tasks/scripts/resolve_stack.py
# ``safe_relative``, which runs in the pipeline's image and cannot import this; tests/tekton holds
# the two to the same answers): checked here so that such a path fails ``validate``, not a run.
# Letters, digits, '_', '.', '/', '-'; no leading '/'; no '..' segment. One expression, so the Rust
# engine checks it without calling Python (FORMAT_PATTERNS): stacks hold one per app's tests.
REPO_PATH = re.compile(r"^(?!/)(?!(?:.*/)?\.\.(?:/|$))[A-Za-z0-9_./-]+$")


def _is_relative_path(value: str) -> bool:
    parts = value.replace("\\", "/").split("/")
    return bool(value) and not value.startswith("/") and ".." not in parts


# fullmatch: Python's "$" also matches before a final line break ("ns\n", a "|" block)
FORMATS: dict[str, Callable[[str], bool]] = {
    "dns1123-label": lambda v: bool(DNS1123_LABEL.fullmatch(v)),
    "dns1123-subdomain": lambda v: bool(DNS1123_SUBDOMAIN.fullmatch(v)),
    "github-repo": lambda v: bool(GITHUB_REPO.fullmatch(v)),
    "relative-path": _is_relative_path,
    "tcp-port": lambda v: tcp_port(v) is not None,
    "repo-path": lambda v: bool(REPO_PATH.fullmatch(v)),
    "image-registry": lambda v: image_registry_problem(v) is None,
}
# Formats whose message depends on the value: what exactly is wrong with it.
FORMAT_REASONS: dict[str, Callable[[str], str | None]] = {"image-registry": image_registry_problem}


def format_checker() -> jsonschema.FormatChecker:
    import jsonschema  # ~40 ms to import: only once a document is invalid, never on a valid start

    checker = jsonschema.FormatChecker(formats=())
    for name, test in FORMATS.items():
        # Only strings are checked; a wrong type is reported by the schema's "type".
        checker.checks(name)(lambda value, test=test: not isinstance(value, str) or test(value))
    return checker


@cache
def schema(kind: Kind) -> dict[str, Any]:
    """The JSON Schema of one file kind, as shipped in ``tekton_dag/config/schemas``."""
    text = resources.files("tekton_dag.config.schemas").joinpath(f"{kind}.schema.json").read_text("utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


@cache
def validator(kind: Kind) -> jsonschema.protocols.Validator:
    import jsonschema

    document = schema(kind)
    cls = jsonschema.validators.validator_for(document)
    cls.check_schema(document)
    return cls(document, format_checker=format_checker())


@cache
def _jsonschema_rs() -> Any:
    """The module, imported on first use (not by a process that loads from a snapshot), or None."""
    try:
        import jsonschema_rs
    except ImportError:  # optional speed: fastjsonschema gives the same answers, slower
        return None
    return jsonschema_rs


@cache
def fast_validator(kind: Kind, engine: str = "best") -> Callable[[Any], bool]:
    """``document -> valid?`` for the ``kind`` schema: jsonschema-rs when installed (``engine``
    "best"), else fastjsonschema (also ``engine`` "fastjsonschema", which the tests compare)."""
    jsonschema_rs = _jsonschema_rs() if engine == "best" else None
    if jsonschema_rs is not None:
        # Formats are ours (Python) in every engine; the Rust engine calls them for strings
        # only, and checks those that are a regular expression as a pattern, without calling
        # Python (45,000 calls for 1,000 stacks; see FORMAT_PATTERNS).
        rust = jsonschema_rs.validator_for(_with_patterns(schema(kind)), formats=FORMATS,
                                           validate_formats=True).is_valid

        def rust_is_valid(document: Any) -> bool:
            try:
                if rust(document):
                    return True
            except (ValueError, TypeError):  # not JSON (a date, a key that is no string): Python decides
                pass
            # A rejection (rare: only broken files) is confirmed by the Python engine, whose
            # semantics are jsonschema's: a float such as inf is a number there, not in JSON.
            return fast_validator(kind, "fastjsonschema")(document)

        return rust_is_valid
    compiled = fastjsonschema.compile(schema(kind), formats=FORMATS)

    def compiled_is_valid(document: Any) -> bool:
        try:
            compiled(document)
        except fastjsonschema.JsonSchemaValueException:
            return False
        return True

    return compiled_is_valid


# The formats that are one regular expression, as a JSON Schema "pattern" for the Rust engine.
# Its regular expressions (ECMA 262) mean the same as Python's ``fullmatch`` of them here: "$"
# matches only at the end, as ``fullmatch`` requires (``FORMATS``).
FORMAT_PATTERNS = {"dns1123-label": DNS1123_LABEL, "dns1123-subdomain": DNS1123_SUBDOMAIN,
                   "github-repo": GITHUB_REPO, "repo-path": REPO_PATH}


def _with_patterns(node: Any) -> Any:
    """``node`` with each ``format`` of ``FORMAT_PATTERNS`` turned into its ``pattern``."""
    if isinstance(node, list):
        return [_with_patterns(item) for item in node]
    if not isinstance(node, dict):
        return node
    result = {key: _with_patterns(value) for key, value in node.items()}
    name = result.get("format")
    if isinstance(name, str) and name in FORMAT_PATTERNS and "pattern" not in result:
        result["pattern"] = FORMAT_PATTERNS[result.pop("format")].pattern
    return result


def is_valid(kind: Kind, document: Any) -> bool:
    """Whether ``document`` satisfies the ``kind`` schema (the fast engine alone)."""
    return fast_validator(kind)(document)


def check(kind: Kind, document: Any, shown_as: str) -> list[ConfigError]:
    """Every schema problem of ``document`` (a parsed ``kind`` file shown as ``shown_as``)."""
    if is_valid(kind, document):
        return []
    problems: list[ConfigError] = []
    for error in validator(kind).iter_errors(document):
        for path, message in _explain(error):
            problems.append(ConfigError(shown_as, format_path(path), message))
    return _unique(problems)


def _unique(problems: list[ConfigError]) -> list[ConfigError]:
    # "required" and "additionalProperties" are explained for the whole mapping at once; jsonschema
    # reports them once per key, so the same explanation can come several times.
    return list(dict.fromkeys(problems))


def _explain(error: ValidationError) -> Iterator[tuple[Sequence[str | int], str]]:
    path = list(error.absolute_path)
    # types-jsonschema allows these to be unset (an error built by hand); those from iter_errors
    # always carry them, as whatever JSON the schema and the document hold.
    instance: Any = error.instance
    kind: Any = error.validator
    value: Any = error.validator_value
    schema: Any = error.schema
    if kind == "required":
        for key in value:
            if isinstance(instance, dict) and key not in instance:
                yield [*path, key], "required field is missing"
    elif kind == "additionalProperties" and isinstance(instance, dict):
        known = list(schema.get("properties", {}))
        patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
        for key in instance:
            if key not in known and not any(p.search(key) for p in patterns):
                yield [*path, key], _unknown_field(key, known)
    elif "propertyNames" in error.schema_path:
        explanation = FORMAT_MESSAGES.get(value) or schema.get("description", "is not allowed")
        yield [*path, instance], f"key {describe(instance)} {explanation}"
    elif kind == "type":
        yield path, f"expected {_types(value)}, got {_type_name(instance)} {describe(instance)}"
    elif kind == "enum":
        yield path, f"{describe(instance)} is not one of: {', '.join(map(str, value))}"
    elif kind == "format" and value in FORMAT_REASONS:
        yield path, f"{describe(instance)} is not usable in an image name: {FORMAT_REASONS[value](instance)}"
    elif kind == "format":
        yield path, f"{describe(instance)} {FORMAT_MESSAGES.get(value, 'has the wrong format')}"
    elif kind == "maxLength":
        yield path, f"{describe(instance)} is longer than {value} characters"
    elif kind == "pattern":
        yield path, f"{describe(instance)} does not match the pattern {value}"
    elif kind == "uniqueItems":
        yield path, f"lists the same item twice: {describe(_first_repeat(instance))}"
    elif kind in ("anyOf", "oneOf") and "description" in schema:
        expected = schema["description"].rstrip(".")
        yield path, f"{describe(instance)} is not valid: expected {expected[0].lower()}{expected[1:]}"
    else:
        yield path, error.message


def _unknown_field(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" (did you mean {describe(close[0])}?)" if close else ""
    allowed = f"; allowed: {', '.join(known)}" if known and not close else ""
    return f"unknown field{hint}{allowed}"


def _first_repeat(items: list[Any]) -> Any:
    seen: list[Any] = []
    for item in items:
        if item in seen:
            return item
        seen.append(item)
    return None


_JSON_TYPES = {"object": "a mapping", "array": "a list", "string": "a string", "integer": "an integer",
               "number": "a number", "boolean": "true or false", "null": "null"}


def _types(expected: str | list[str]) -> str:
    names = [expected] if isinstance(expected, str) else expected
    return " or ".join(_JSON_TYPES.get(n, n) for n in names)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return {dict: "a mapping", list: "a list", str: "a string", int: "an integer", float: "a number"}.get(
        type(value), type(value).__name__)
