"""Kubernetes Events (``events.k8s.io/v1``) for what a team must see in ``kubectl get events``.

Best-effort and off the critical path: ``EventRecorder.emit`` only puts the Event on a bounded
queue and returns; one background task creates them through the ``kubernetes_asyncio`` client
(the process's, ``shared.PROCESS``), one attempt each. A full queue
drops the Event (counted in ``dropped``), a failed create is logged and counted in ``failed``:
an Event never fails, delays or retries a run.

The fields follow the Event schema and the apiserver's rules (kubernetes/kubernetes
pkg/apis/core/validation/events.go, ``ValidateEventCreate``): ``eventTime`` a MicroTime,
``reportingController`` a qualified name, ``reportingInstance``, ``action`` and ``reason`` at
most 128 characters, ``note`` at most 1 KiB (cut here, on a character boundary), ``type``
Normal or Warning, ``regarding`` in the Event's namespace. Names follow client-go's recorder,
``<regarding name>.<unix nanoseconds in hex>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from tekton_dag.kube import shared

log = logging.getLogger(__name__)

EventType = Literal["Normal", "Warning"]
CONTROLLER = "tekton-dag.dev/run-creator"
NOTE_LIMIT = 1024  # bytes (the apiserver's NoteLengthLimit counts Go string bytes)
FIELD_LIMIT = 128  # reportingInstance, action, reason
QUEUE_SIZE = 256
TIMEOUT_S = 5.0
CONFIG_MAP = "tekton-dag-teams"  # the chart's team ConfigMap (tekton-dag.teamConfig.name)


def pipelinerun_ref(namespace: str, name: str, uid: str = "") -> dict[str, str]:
    """The ``regarding`` reference of a PipelineRun (it need not exist: a failed create has none)."""
    ref = {"apiVersion": "tekton.dev/v1", "kind": "PipelineRun", "namespace": namespace, "name": name}
    if uid:
        ref["uid"] = uid
    return ref


def config_ref(namespace: str) -> dict[str, str]:
    """The ``regarding`` reference of the team's configuration (the chart's ConfigMap)."""
    return {"apiVersion": "v1", "kind": "ConfigMap", "namespace": namespace, "name": CONFIG_MAP}


def event_body(regarding: Mapping[str, str], reason: str, action: str, note: str, type_: EventType,
               instance: str, now: float | None = None) -> dict[str, Any]:
    """The Event about ``regarding``, in its namespace (pure; ``now`` in epoch seconds)."""
    now = time.time() if now is None else now
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    namespace = regarding["namespace"]
    return {
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": f"{regarding['name']}.{int(now * 1e9):x}", "namespace": namespace,
                     "labels": {"app.kubernetes.io/managed-by": "tekton-dag"}},
        "eventTime": stamp,
        "reportingController": CONTROLLER,
        "reportingInstance": instance[:FIELD_LIMIT] or "run-creator",
        "action": action[:FIELD_LIMIT], "reason": reason[:FIELD_LIMIT],
        "note": _cut(note, NOTE_LIMIT), "type": type_,
        "regarding": dict(regarding),
    }


def _cut(text: str, limit: int) -> str:
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode(errors="ignore") + "..."


class EventRecorder:
    """Queues Events and creates them in the background; ``start()`` on the serving loop."""

    def __init__(self, instance: str = "", queue_size: int = QUEUE_SIZE):
        self._api: Any = None
        self.instance = instance or os.environ.get("HOSTNAME", "run-creator")
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(queue_size)
        self._worker: asyncio.Task[None] | None = None
        self.dropped = 0
        self.failed = 0
        self.created = 0

    def start(self) -> None:
        """Start the background task on the running loop (without one: at the first ``emit``)."""
        if self._worker is None:
            with contextlib.suppress(RuntimeError):
                self._worker = asyncio.get_running_loop().create_task(self._drain())

    def emit(self, regarding: Mapping[str, str], reason: str, action: str, note: str,
             type_: EventType = "Normal") -> None:
        """Queue one Event; never blocks, never raises."""
        self.start()
        try:
            self._queue.put_nowait(event_body(regarding, reason, action, note, type_, self.instance))
        except asyncio.QueueFull:
            self.dropped += 1
            log.debug("Event queue full; dropped %s %s", reason, regarding.get("name"))

    async def flush(self, timeout: float = 5.0) -> None:
        """Wait until every queued Event was tried (tests, shutdown)."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._queue.join(), timeout)

    async def close(self) -> None:
        """Stop creating Events (the client is the process's, closed with it)."""
        if self._worker is not None:
            self._worker.cancel()
            self._worker = None

    async def _drain(self) -> None:
        while True:
            body = await self._queue.get()
            try:
                await self._create(body)
                self.created += 1
            except Exception as exc:  # best-effort: an Event never breaks what it reports on
                self.failed += 1
                log.warning("Event %s/%s not created: %s", body["metadata"]["namespace"], body["reason"],
                            getattr(exc, "status", None) or exc.__class__.__name__)
            finally:
                self._queue.task_done()

    async def _create(self, body: dict[str, Any]) -> None:
        api_client = await shared.PROCESS.get()
        if self._api is None or self._api.api_client is not api_client:
            from kubernetes_asyncio.client import CustomObjectsApi

            # The generic path, not EventsV1Api: the same POST, but the answer stays a dict
            # instead of becoming an EventsV1Event model (whose timestamps dateutil parses).
            self._api = CustomObjectsApi(api_client)
        await self._api.create_namespaced_custom_object("events.k8s.io", "v1", body["metadata"]["namespace"],
                                                        "events", body, _request_timeout=TIMEOUT_S)


class NoEvents:
    """Where there is no cluster (a dry-run directory): Events are only logged."""

    def start(self) -> None:
        pass

    def emit(self, regarding: Mapping[str, str], reason: str, action: str, note: str,
             type_: EventType = "Normal") -> None:
        log.info("event %s %s %s/%s: %s", type_, reason, regarding.get("namespace"), regarding.get("name"), note)

    async def flush(self, timeout: float = 5.0) -> None:
        pass

    async def close(self) -> None:
        pass
