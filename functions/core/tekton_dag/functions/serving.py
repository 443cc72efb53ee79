"""Serve one function as a real HTTP server: ``tekton-dag serve <name>``.

The application and its lifecycle are func-python's, served on granian (or func-python's own
hypercorn: ``TEKTON_DAG_HTTP_SERVER``, tekton_dag.functions.limits), exactly as a Knative build
runs it; it listens on ``LISTEN_ADDRESS`` and the function sends its events to ``K_SINK``. Slow clients are bounded
as in the built function (``tekton_dag.functions.limits``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    module: str  # the module whose ``new()`` builds the function instance
    invoke: Literal["http", "cloudevent"]
    configured: bool = True  # reads the team configuration: its handler's ``configured`` (a test checks)


FUNCTIONS: dict[str, FunctionSpec] = {
    spec.name: spec
    for spec in (
        FunctionSpec("webhook-ingest", "tekton_dag.functions.webhook_ingest", "http"),
        FunctionSpec("resolver", "tekton_dag.functions.resolver", "cloudevent"),
        FunctionSpec("run-creator", "tekton_dag.functions.run_creator", "cloudevent"),
        FunctionSpec("bootstrap-batcher", "tekton_dag.functions.bootstrap_batcher", "cloudevent"),
        FunctionSpec("status-reporter", "tekton_dag.functions.status_reporter", "cloudevent"),
    )
}


# The five handlers in one process behind the in-process bus (the root func.yaml); not one of
# the chain's functions above, which it serves.
ALL_IN_ONE = FunctionSpec("all-in-one", "tekton_dag.functions.all_in_one", "http")
# The Broker's dead-letter sink (distributed mode): not a Trigger's subscriber either.
DEAD_LETTERS = FunctionSpec("dead-letters", "tekton_dag.functions.dead_letters", "cloudevent", configured=False)
SERVABLE: dict[str, FunctionSpec] = {**FUNCTIONS, ALL_IN_ONE.name: ALL_IN_ONE, DEAD_LETTERS.name: DEAD_LETTERS}


def serve(name: str) -> None:
    """Block serving function ``name`` (one of ``SERVABLE``) until SIGINT/SIGTERM; everything it
    talks to comes from the environment, as in a deployment."""
    from tekton_dag.functions import limits, loops

    limits.install()
    loops.install()
    spec = SERVABLE[name]
    runtime = importlib.import_module(f"func_python.{spec.invoke}")
    factory = importlib.import_module(spec.module).new

    def new() -> Any:  # func-python recognises the factory by this name
        return factory()

    runtime.serve(new)
