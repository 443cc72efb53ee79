"""Knative func entry point of resolver: the handler is the shared core's (thin adapter, one core)."""

from tekton_dag.functions.resolver import new

__all__ = ["new"]
