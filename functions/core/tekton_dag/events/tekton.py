"""Reading Tekton's own CloudEvents: which namespace a run event comes from.

Tekton sets ``source`` to the run's selfLink, else to
``/apis/<group>/<version>/namespaces/<ns>/<Kind>/<name>`` (tektoncd/pipeline
``pkg/reconciler/events/cloudevent/cloudevent.go``, ``eventForRunObject``); the data's
``pipelineRun.metadata.namespace`` says the same. The one cluster-wide sink uses this to route an
event to the team that owns the namespace.
"""

from __future__ import annotations

TEKTON_EVENT_PREFIX = "dev.tekton.event."


def namespace_of_source(source: str) -> str | None:
    """``/apis/tekton.dev/v1/namespaces/team-a/PipelineRun/x`` (or the selfLink form with
    ``pipelineruns``) → ``team-a``; None for anything that is not a namespaced Tekton object path."""
    parts = source.split("/")
    if len(parts) != 8 or parts[:3] != ["", "apis", "tekton.dev"] or parts[4] != "namespaces":
        return None
    return parts[5] if all(parts[i] for i in (3, 5, 6, 7)) else None
