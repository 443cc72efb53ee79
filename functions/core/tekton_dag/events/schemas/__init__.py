"""JSON schemas of the ``data`` of every CloudEvent type in ``tekton_dag.events.catalog``.

One file per type, named after the type without the ``dev.tektondag.`` prefix
(``run.requested.v1.json``); Tekton's three finished-PipelineRun types share
``tekton.event.pipelinerun.v1.json``. ``docs/events.md`` shows the same schemas.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jsonschema

from tekton_dag.events import catalog

_TEKTON_PIPELINERUN = "tekton.event.pipelinerun.v1"


def schema_name(event_type: str) -> str:
    """The schema file stem for ``event_type``; raises KeyError for a type not in the catalog."""
    if event_type in catalog.TEKTON_PIPELINERUN_FINISHED:
        return _TEKTON_PIPELINERUN
    prefix = f"{catalog.PREFIX}."
    if not event_type.startswith(prefix) or event_type == catalog.GITHUB_PREFIX:
        raise KeyError(event_type)
    return event_type[len(prefix):]


@functools.cache
def load(event_type: str) -> dict[str, Any]:
    """The JSON schema of the data of ``event_type``."""
    text = resources.files(__package__).joinpath(f"{schema_name(event_type)}.json").read_text()
    return json.loads(text)


@functools.cache
def _validator(event_type: str) -> jsonschema.protocols.Validator:
    import jsonschema  # ~40 ms: on the first check, not in every function's cold start

    schema = load(event_type)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def check(event_type: str, data: Any, error: type[Exception]) -> None:
    """Raise ``error`` naming the first field of ``data`` that breaks the schema of ``event_type``."""
    from jsonschema.exceptions import best_match

    problem = best_match(_validator(event_type).iter_errors(data))
    if problem is not None:
        where = ".".join(str(part) for part in problem.absolute_path) or "data"
        raise error(f"{where}: {problem.message}")
