"""Knative func entry point of the all-in-one function (root func.yaml): the four handlers in one
process behind an in-process bus. The code is the shared core's (tekton_dag.eventing.allinone)."""

from tekton_dag.eventing.allinone import new

__all__ = ["new"]
