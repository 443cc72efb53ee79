"""JSON schemas of the ``data`` of every CloudEvent type in ``tekton_dag.events.catalog``.

One file per type, named after the type without the ``dev.tektondag.`` prefix
(``run.requested.v1.json``); Tekton's PipelineRun types share
``tekton.event.pipelinerun.v1.json``. ``docs/events.md`` shows the same schemas.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jsonschema

from tekton_dag.events import catalog
from tekton_dag.syntax import json_value

_TEKTON_PIPELINERUN = "tekton.event.pipelinerun.v1"


def schema_name(event_type: str) -> str:
    """The schema file stem for ``event_type``; raises KeyError for a type not in the catalog."""
    if event_type in catalog.TEKTON_PIPELINERUN_ALL:
        return _TEKTON_PIPELINERUN
    prefix = f"{catalog.PREFIX}."
    if not event_type.startswith(prefix) or event_type == catalog.GITHUB_PREFIX:
        raise KeyError(event_type)
    return event_type[len(prefix):]


@functools.cache
def load(event_type: str) -> dict[str, Any]:
    """The JSON schema of the data of ``event_type``."""
    text = resources.files(__package__).joinpath(f"{schema_name(event_type)}.json").read_text()
    # Read strictly (a key twice is refused: plain json.loads keeps the last and loses the first's rules).
    schema: dict[str, Any] = json_value(text)  # each file is one JSON object (tests/events checks them)
    return schema


@functools.cache
def _validator(event_type: str) -> jsonschema.protocols.Validator:
    import jsonschema  # ~40 ms: on the first check, not in every function's cold start

    schema = load(event_type)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


@functools.cache
def _fast(event_type: str) -> Callable[[Any], Any] | None:
    """fastjsonschema's compiled check of the same schema (µs per call where jsonschema takes
    ~0.1 ms): it only decides "valid"; jsonschema words a rejection. None if it cannot compile."""
    import fastjsonschema

    try:
        return fastjsonschema.compile(load(event_type), use_default=False, use_formats=False)
    except (fastjsonschema.JsonSchemaDefinitionException, ValueError):
        return None


def problem(event_type: str, data: Any) -> tuple[tuple[str | int, ...], str, dict[str, Any]] | None:
    """The first field of ``data`` that breaks the schema of ``event_type``: its path, jsonschema's
    message and the schema of that field; None when ``data`` is valid."""
    fast = _fast(event_type)
    if fast is not None:
        import fastjsonschema

        try:
            fast(data)
            return None
        except fastjsonschema.JsonSchemaValueException:
            pass  # jsonschema has the last word, and words the answer
    from jsonschema.exceptions import best_match

    found = best_match(_validator(event_type).iter_errors(data))
    if found is None:
        return None
    while found.parent is not None:  # an anyOf's branch: report the field, not the branch
        found = found.parent
    return tuple(found.absolute_path), found.message, found.schema if isinstance(found.schema, dict) else {}


def check(event_type: str, data: Any, error: type[Exception]) -> None:
    """Raise ``error`` naming the first field of ``data`` that breaks the schema of ``event_type``."""
    found = problem(event_type, data)
    if found is not None:
        path, message, _ = found
        where = ".".join(str(part) for part in path) or "data"
        raise error(f"{where}: {message}")
