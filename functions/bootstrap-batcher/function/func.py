"""bootstrap-batcher for ``func build`` / ``func run``: the handler is the shared core's."""

from tekton_dag.functions.bootstrap_batcher import new

__all__ = ["new"]
