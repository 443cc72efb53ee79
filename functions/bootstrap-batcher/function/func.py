"""bootstrap-batcher for ``func build`` / ``func run``: the handler is the shared core's."""

from tekton_dag.functions import limits
from tekton_dag.functions.bootstrap_batcher import new

limits.install()  # slow clients are bounded in func-python's hypercorn too (tekton_dag.functions.limits)

__all__ = ["new"]
