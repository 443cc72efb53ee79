"""Knative func entry point of run-creator: the handler is the shared core's (thin adapter, one core)."""

from tekton_dag.functions.run_creator import new

__all__ = ["new"]
