"""Reading a PipelineRun's state as Tekton reports it (``spec.status`` and the Succeeded condition)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tekton_dag import pipelines

PENDING = "PipelineRunPending"
CANCELLED = "Cancelled"
CANCELLED_RUN_FINALLY = "CancelledRunFinally"
# spec.status values that stop a run (Tekton v1); a stopped run frees its slot.
STOPPING = frozenset({CANCELLED, CANCELLED_RUN_FINALLY, "StoppedRunFinally"})


def name_of(run: Mapping[str, Any]) -> str:
    return str(run["metadata"]["name"])


def labels_of(run: Mapping[str, Any]) -> Mapping[str, str]:
    return run.get("metadata", {}).get("labels") or {}


def is_pending(run: Mapping[str, Any]) -> bool:
    return (run.get("spec") or {}).get("status") == PENDING


def is_finished(run: Mapping[str, Any]) -> bool:
    """Done, failed or cancelled: Tekton set Succeeded to True/False, or we asked it to stop."""
    if was_stopped(run):
        return True
    return bool((run.get("status") or {}).get("completionTime")) or is_done(run)


def was_stopped(run: Mapping[str, Any]) -> bool:
    """Asked to stop (cancelled: superseded, closed, ``/cancel``), not finished by itself."""
    return (run.get("spec") or {}).get("status") in STOPPING


def is_done(run: Mapping[str, Any]) -> bool:
    """Tekton's ``IsDone``: its Succeeded condition is True or False. From then on Tekton's
    validating webhook refuses any change to the run's spec (tektoncd/pipeline
    pkg/apis/pipeline/v1/pipelinerun_validation.go, ``ValidateUpdate``)."""
    return any(
        c.get("type") == "Succeeded" and c.get("status") in ("True", "False")
        for c in (run.get("status") or {}).get("conditions") or ()
    )


def priority_of(run: Mapping[str, Any]) -> int:
    pipeline = labels_of(run).get(pipelines.L_PIPELINE, pipelines.BOOTSTRAP)
    return pipelines.PRIORITY.get(pipeline, max(pipelines.PRIORITY.values()))
