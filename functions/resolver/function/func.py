"""Knative func entry point of resolver: the handler is the shared core's (thin adapter, one core)."""

from tekton_dag.functions import limits, loops
from tekton_dag.functions.resolver import new

limits.install()  # func-python's app on granian (or hypercorn), slow clients bounded (tekton_dag.functions.limits)
loops.install()  # func-python's asyncio.run makes a uvloop loop (tekton_dag.functions.loops)

__all__ = ["new"]
