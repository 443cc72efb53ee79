"""Knative func entry point of webhook-ingest: the handler is the shared core's (thin adapter, one core)."""

from tekton_dag.functions.webhook_ingest import new

__all__ = ["new"]
