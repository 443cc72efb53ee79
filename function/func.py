"""Knative func entry point of the all-in-one function (root func.yaml): the five handlers in one
process behind an in-process bus. The code is the shared core's (tekton_dag.functions.all_in_one)."""

from tekton_dag.functions import configs, limits, loops
from tekton_dag.functions.all_in_one import new

limits.install()  # func-python's app on granian (or hypercorn), slow clients bounded (tekton_dag.functions.limits)
loops.install()  # func-python's asyncio.run makes a uvloop loop (tekton_dag.functions.loops)
# Before func-python's server starts its threads, as `tekton-dag serve` does: a first load of many
# teams may then read them on every core (tekton_dag.functions.configs.preload).
configs.preload_from_env()

__all__ = ["new"]
