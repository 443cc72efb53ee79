"""Tekton's PipelineRun CloudEvents, built as Tekton builds them.

Source: tektoncd/pipeline ``pkg/reconciler/events/cloudevent/cloudevent.go`` (``eventForRunObject``,
``getEventType``, ``newTektonCloudEventData``) and ``cloud_event_controller.go``
(``EmitCloudEvents``, ``dispatchCloudEvent``), read at commit 3ee1745 (v1.15 line):

- ``type`` from the run's ``Succeeded`` condition: Unknown with reason ``Started`` → ``started``,
  ``Running`` → ``running``, any other Unknown reason (``PipelineRunPending``,
  ``CancelledRunningFinally``, ``PipelineRunStopping`` ...) → ``unknown``; True → ``successful``;
  False → ``failed`` (a cancelled run ends False/Cancelled, so as ``failed``: there is no
  ``cancelled`` type). No condition → ``queued``, a type added in v1.12 (TEP-0137, commit
  3fd3dac3d) and sent only by the separate ``tekton-events-controller``: ``queued=True`` models it.
  That controller (the only sender since v1.12) builds events from the runs it watches, so it
  never sees the ``Started`` that the core reconciler replaces by ``Running`` before its one
  status write (``TektonDouble(emit_queued=True)`` sends no ``started``).
- ``subject`` = the run's name; ``source`` = its selfLink, else
  ``/apis/<group>/<version>/namespaces/<ns>/<Kind>/<name>`` from the object's GVK (``tekton.dev``,
  ``v1``, ``PipelineRun``: Tekton stores and reconciles v1 objects).
- ``id`` a random UUID and ``time`` = now (``cloudevents.WithUUIDs()``, ``WithTimeNow()`` in
  ``cloudeventclient.go``); ``datacontenttype: application/json``; sent in binary mode
  (sdk-go's HTTP default).
- ``data`` = ``{"pipelineRun": <the run converted to v1beta1>}``; ``ConvertFrom`` copies
  ObjectMeta but not TypeMeta, so the payload has no ``apiVersion``/``kind``.
- De-duplication: an event goes out only when the condition (status, reason, message) changed
  (the L1 cache), and every type but ``unknown`` at most once per run (the L2 cache).
"""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime
from typing import Any

from cloudevents.core.v1.event import CloudEvent

Object = dict[str, Any]
PREFIX = "dev.tekton.event.pipelinerun."
QUEUED, STARTED, RUNNING, UNKNOWN = (f"{PREFIX}{x}.v1" for x in ("queued", "started", "running", "unknown"))
SUCCESSFUL, FAILED = f"{PREFIX}successful.v1", f"{PREFIX}failed.v1"
TYPES = (STARTED, RUNNING, UNKNOWN, SUCCESSFUL, FAILED)  # what releases before v1.12 send


def succeeded_condition(run: Object) -> Object | None:
    for condition in (run.get("status") or {}).get("conditions") or ():
        if condition.get("type") == "Succeeded":
            return dict(condition)
    return None


def event_type(run: Object) -> str:
    """``getEventType`` for a PipelineRun."""
    condition = succeeded_condition(run)
    if condition is None:
        return QUEUED
    status, reason = condition.get("status"), condition.get("reason")
    if status == "True":
        return SUCCESSFUL
    if status == "False":
        return FAILED
    return {"Started": STARTED, "Running": RUNNING}.get(str(reason), UNKNOWN)


def source_of(run: Object) -> str:
    """The run's selfLink, else the path ``eventForRunObject`` builds from the v1 GVK."""
    metadata = run["metadata"]
    return metadata.get("selfLink") or (
        f"/apis/tekton.dev/v1/namespaces/{metadata['namespace']}/PipelineRun/{metadata['name']}"
    )


def to_v1beta1(run: Object) -> Object:
    """``v1beta1.PipelineRun.ConvertFrom(v1)`` (pkg/apis/pipeline/v1beta1/pipelinerun_conversion.go)
    for the fields that differ: ``spec.taskRunTemplate`` → ``spec.serviceAccountName`` and
    ``spec.podTemplate``; in ``spec.taskRunSpecs[]`` ``serviceAccountName`` → ``taskServiceAccountName``,
    ``podTemplate`` → ``taskPodTemplate``, ``stepSpecs`` → ``stepOverrides``, ``sidecarSpecs`` →
    ``sidecarOverrides``; ``status.results`` → ``status.pipelineResults``. No TypeMeta."""
    converted = copy.deepcopy({k: v for k, v in run.items() if k not in ("apiVersion", "kind")})
    spec = converted.get("spec") or {}
    template = spec.pop("taskRunTemplate", None) or {}
    if template.get("serviceAccountName"):
        spec["serviceAccountName"] = template["serviceAccountName"]
    if template.get("podTemplate"):
        spec["podTemplate"] = template["podTemplate"]
    for task_spec in spec.get("taskRunSpecs") or ():
        for old, new in (("serviceAccountName", "taskServiceAccountName"), ("podTemplate", "taskPodTemplate"),
                         ("stepSpecs", "stepOverrides"), ("sidecarSpecs", "sidecarOverrides")):
            if old in task_spec:
                task_spec[new] = task_spec.pop(old)
    status = converted.get("status") or {}
    if "results" in status:
        status["pipelineResults"] = status.pop("results")
    return converted


def cloud_event(run: Object, now: datetime | None = None) -> CloudEvent:
    """The CloudEvent Tekton sends for ``run`` in its current state."""
    return CloudEvent(
        attributes={
            "id": str(uuid.uuid4()),
            "source": source_of(run),
            "type": event_type(run),
            "subject": run["metadata"]["name"],
            "time": now or datetime.now(UTC),
            "datacontenttype": "application/json",
        },
        data={"pipelineRun": to_v1beta1(run)},
    )


class EventCache:
    """Tekton's two de-duplication caches, per run (``pkg/reconciler/events/cache``)."""

    def __init__(self) -> None:
        self._conditions: dict[str, tuple[Any, ...]] = {}
        self._sent: set[tuple[str, str]] = set()

    def admit(self, run: Object, emit_queued: bool) -> bool:
        """Whether ``run``'s current state yields an event; records it if so."""
        key = f"{run['metadata']['namespace']}/{run['metadata']['name']}"
        condition = succeeded_condition(run)
        snapshot = (None,) if condition is None else tuple(condition.get(k) for k in ("status", "reason", "message"))
        if self._conditions.get(key) == snapshot:
            return False  # L1: this exact condition was already processed
        self._conditions[key] = snapshot
        kind = event_type(run)
        if kind == QUEUED and not emit_queued:
            return False
        if kind != UNKNOWN:
            if (key, kind) in self._sent:
                return False  # L2: "running" goes out once even though its message changes
            self._sent.add((key, kind))
        return True
