"""run-creator: the cloudevent function that turns requests into PipelineRuns.

Consumes ``run.requested``, ``run.cancel.requested`` and Tekton's
``dev.tekton.event.pipelinerun.{successful,failed,cancelled}.v1``; replies with ONE CloudEvent
(``run.created`` / ``run.queued`` / ``run.failed`` / ``run.cancelled`` / ``run.started``), or
an empty 202 when a finished run started nothing. 400 for data that can never be handled; 503
when the Kubernetes API stayed unavailable past the retry deadline (the Broker retries).

Environment: ``TEKTON_DAG_TEAMS_DIR`` (config, re-checked every ``TEKTON_DAG_CONFIG_RELOAD_S``
seconds, default 5, 0 disables), ``TEKTON_DAG_DRY_RUN_DIR`` (write YAML files instead of calling
Kubernetes), ``TEKTON_DAG_RECONCILE_SECONDS`` (default 30; 0 disables),
``TEKTON_DAG_KUBE_DEADLINE_SECONDS`` / ``TEKTON_DAG_KUBE_TIMEOUT_SECONDS`` (retries).
All logic is in ``tekton_dag.pipelineruns.creating``; this module only adapts.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from cloudevents.core.v1.event import CloudEvent

from tekton_dag import warming
from tekton_dag.config.models import Config
from tekton_dag.events import catalog
from tekton_dag.events.requests import CancelRequest, RequestError, RunRequest
from tekton_dag.functions.configs import ConfigSource
from tekton_dag.kube.errors import PermanentApiError, TransientApiError
from tekton_dag.kube.stores import RunStore, store_from_env
from tekton_dag.pipelineruns.creating import Outcome, RunCreator

log = logging.getLogger(__name__)

RECONCILE_ENV = "TEKTON_DAG_RECONCILE_SECONDS"
DEFAULT_RECONCILE_S = 30.0
REPLY_TYPES = {"created": catalog.RUN_CREATED, "queued": catalog.RUN_QUEUED, "failed": catalog.RUN_FAILED}


class RunCreatorFunction:
    def __init__(self, config: Config | None = None, store: RunStore | None = None, reconcile_every: float | None = None):
        """Tests pass ``config`` and ``store``; a deployed function gets both in ``start``."""
        self._config = config
        self._configs: ConfigSource | None = None  # once started from env
        self._store = store
        self._reconcile_every = reconcile_every
        self.creator: RunCreator | None = None
        self._tasks: list[asyncio.Task[None]] = []
        if config is not None and store is not None:
            self.creator = RunCreator(self._current_config, store)

    def start(self, cfg: Mapping[str, str]) -> None:
        """Called once by func-python before serving (on the server's event loop): load the
        config and follow its changes, pick the store, start the periodic reconcile."""
        loop = asyncio.get_running_loop()
        if self._config is None:
            self._configs = ConfigSource.from_env(cfg)
        if self._store is None:
            self._store = store_from_env(cfg)
        warm_up = getattr(self._store, "warm_up", None)
        if warm_up is not None:  # import the Kubernetes client off the critical path to ready
            warming.in_background(warm_up, "Kubernetes client warm-up")
        self.creator = RunCreator(self._current_config, self._store)
        every = self._reconcile_every if self._reconcile_every is not None else float(cfg.get(RECONCILE_ENV, DEFAULT_RECONCILE_S))
        if every > 0:
            self._tasks.append(loop.create_task(self._reconcile_loop(every)))

    def stop(self) -> None:
        """Called by func-python at shutdown: end the reconcile, close the API client."""
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        if self._configs is not None:
            self._configs.close()
        close = getattr(self._store, "close", None)
        if close is not None:
            close()

    def alive(self) -> tuple[bool, str]:
        return True, "OK"

    def ready(self) -> tuple[bool, str]:
        if self.creator is None:
            return False, "not started"
        if self._config is None and (self._configs is None or self._configs.current() is None):
            return False, "configuration not loaded: " + (self._configs.problem() if self._configs else "not started")
        return True, "OK"

    async def _reconcile_loop(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                if self.creator is not None:
                    await self.creator.reconcile_all()
            except Exception:  # one bad round must not end the loop that unsticks queues
                log.exception("reconcile round failed")

    def _current_config(self) -> Config:
        """The fixed config (tests) or the last good one loaded from disk; an empty one before
        any loaded (requests then fail as "team not configured" and ready() says why)."""
        if self._config is not None:
            return self._config
        current = self._configs.current() if self._configs is not None else None
        return current if current is not None else Config(teams=())

    async def handle(self, scope: dict[str, Any], receive: Callable[..., Any], send: Any) -> None:
        event: CloudEvent = scope["event"]
        if self.creator is None:
            await _plain(send, 503, "run-creator is not started")
            return
        try:
            reply = await self._dispatch(event)
        except RequestError as exc:
            await _plain(send, 400, f"{event.get_type()}: {exc}")
            return
        except TransientApiError as exc:
            log.warning("event %s: %s", event.get_id(), exc)
            await _plain(send, 503, f"Kubernetes API unavailable: {exc}")
            return
        if reply is None:
            await _plain(send, 202, "")
        else:
            await send.binary(reply)

    async def _dispatch(self, event: CloudEvent) -> CloudEvent | None:
        assert self.creator is not None
        kind, data = event.get_type(), _json_data(event)
        if kind == catalog.RUN_REQUESTED:
            traceparent = event.get_extension(catalog.EXT_TRACEPARENT)
            outcome = await self.creator.request(RunRequest.from_data(data, strict=False), traceparent=traceparent)
            if outcome.kind == "ignored":  # a superseded head: an end state, nothing was run
                return _reply(event, catalog.EVENT_IGNORED, _ignored_data(event, outcome))
            return _reply(event, REPLY_TYPES[outcome.kind], _outcome_data(outcome))
        if kind == catalog.RUN_CANCEL_REQUESTED:
            cancel = CancelRequest.from_data(data, strict=False)
            if self.creator.config().team(cancel.team) is None:
                return _reply(event, catalog.RUN_FAILED, {**cancel.to_data(), "reason": f"team {cancel.team!r} is not configured"})
            try:
                names = await self.creator.cancel(cancel)
            except PermanentApiError as exc:
                return _reply(event, catalog.RUN_FAILED, {**cancel.to_data(), "reason": exc.message})
            return _reply(event, catalog.RUN_CANCELLED, {**cancel.to_data(), "pipelineruns": list(names)})
        if kind in catalog.TEKTON_PIPELINERUN_FINISHED:
            namespace, name, team = _finished_run(data)
            try:
                started = await self.creator.finished(namespace, name, team)
            except PermanentApiError as exc:
                log.warning("finished %s/%s: %s", namespace, name, exc)
                return None
            if not started:
                return None
            return _reply(event, catalog.RUN_STARTED, {"team": team, "namespace": namespace, "pipelineruns": started})
        raise RequestError(f"type: run-creator does not handle {kind!r}")


def new() -> RunCreatorFunction:
    """func-python's factory: one instance per process."""
    return RunCreatorFunction()


def _json_data(event: CloudEvent) -> Any:
    data = event.get_data()
    if isinstance(data, (bytes, str)):
        try:
            return json.loads(data)
        except json.JSONDecodeError as exc:
            raise RequestError(f"data: not JSON ({exc.msg} at character {exc.pos})") from None
        except UnicodeDecodeError:
            raise RequestError("data: not UTF-8 text") from None
    return data


def _finished_run(data: Any) -> tuple[str, str, str]:
    """Namespace, name and team label of the run in a Tekton event (``{"pipelineRun": {...}}``)."""
    run = data.get("pipelineRun") if isinstance(data, dict) else None
    metadata = run.get("metadata") if isinstance(run, dict) else None
    if not isinstance(metadata, dict) or not metadata.get("name") or not metadata.get("namespace"):
        raise RequestError("data.pipelineRun.metadata: name and namespace required")
    from tekton_dag import pipelines

    team = (metadata.get("labels") or {}).get(pipelines.L_TEAM, "")
    return str(metadata["namespace"]), str(metadata["name"]), str(team)


def _outcome_data(outcome: Outcome) -> dict[str, Any]:
    request = outcome.request
    data: dict[str, Any] = {
        "team": request.team, "stack": request.stack, "app": request.app, "pipeline": request.pipeline,
        "delivery": request.delivery, "namespace": outcome.namespace, "pipelinerun": outcome.name,
    }
    if request.pr is not None:
        data["pr"] = request.pr.number
    if outcome.reason:
        data["reason"] = outcome.reason
    if outcome.superseded:
        data["superseded"] = list(outcome.superseded)
    return data


def _ignored_data(incoming: CloudEvent, outcome: Outcome) -> dict[str, Any]:
    request = outcome.request
    return {"reason": outcome.reason, "input_type": incoming.get_type(), "input_id": incoming.get_id(),
            "repo": request.repo, "team": request.team, "stack": request.stack, "app": request.app}


def _reply(incoming: CloudEvent, kind: str, data: dict[str, Any]) -> CloudEvent:
    attributes: dict[str, Any] = {
        "type": kind,
        "source": catalog.SOURCE_RUN_CREATOR,
        "id": catalog.derived_id(incoming.get_id(), kind.removeprefix(f"{catalog.PREFIX}.")),
        "datacontenttype": "application/json",
    }
    if data.get("team"):
        attributes[catalog.EXT_TEAM] = data["team"]
    for ext in (catalog.EXT_TRACEPARENT, catalog.EXT_GITHUB_DELIVERY, catalog.EXT_PARTITION_KEY):
        value = incoming.get_extension(ext)
        if value:
            attributes[ext] = value
    if data.get("pipelinerun"):
        attributes["subject"] = data["pipelinerun"]
    return CloudEvent(attributes=attributes, data=data)


async def _plain(send: Any, status: int, message: str) -> None:
    await send.http({"type": "http.response.start", "status": status, "headers": [[b"content-type", b"text/plain"]]})
    await send.http({"type": "http.response.body", "body": message.encode()})


__all__ = ["RunCreatorFunction", "new"]
