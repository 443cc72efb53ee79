"""run-creator: the cloudevent function that turns requests into PipelineRuns.

Consumes ``run.requested``, ``run.cancel.requested`` and Tekton's
``dev.tekton.event.pipelinerun.{successful,failed}.v1`` (a cancelled run ends as ``failed``);
replies with ONE CloudEvent (``run.created`` / ``run.queued`` / ``run.failed`` / ``run.cancelled``
/ ``run.started``), or an empty 202 when a finished run started nothing. A Tekton event for a
namespace no team here owns is forwarded to the owning team's Broker (``eventing.forwarding``:
Tekton has one sink per cluster). 400 for data that can never be handled; 503
when the Kubernetes API stayed unavailable past the retry deadline (the Broker retries).

Environment: ``TEKTON_DAG_TEAMS_DIR`` (config, re-checked every ``TEKTON_DAG_CONFIG_RELOAD_S``
seconds, default 5, 0 disables), ``TEKTON_DAG_DRY_RUN_DIR`` (write YAML files instead of calling
Kubernetes), ``TEKTON_DAG_RECONCILE_SECONDS`` (default 30; 0 disables),
``TEKTON_DAG_KUBE_DEADLINE_SECONDS`` / ``TEKTON_DAG_KUBE_TIMEOUT_SECONDS`` (retries),
``TEKTON_DAG_TEAM_BROKER_URL`` (where other teams' Tekton events go, ``{namespace}`` filled in),
``TEKTON_DAG_RETENTION_DELETES_PER_CYCLE`` (default 20: finished runs deleted per team per
reconcile under the team's ``retention``).

Outcomes a team must see also become Kubernetes Events in its namespace (``kube.events``,
best-effort, never in the way of a reply): a run not created, queued (within a budget per team,
``usecases.event_budget``), superseded or cancelled, and a configuration change rejected. All
logic is in ``tekton_dag.usecases.creating`` and ``tekton_dag.usecases.pruning``; this module only
adapts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from cloudevents.core.v1.event import CloudEvent

from tekton_dag import pipelines, warming
from tekton_dag.config.models import Config, Team
from tekton_dag.eventing.forwarding import ForwardError, TeamForwarder
from tekton_dag.events import catalog, codec, tekton
from tekton_dag.events.requests import CancelRequest, RequestError, RunRequest
from tekton_dag.functions.lifecycle import REFUSED, Handler, Wiring, plain, refuse
from tekton_dag.kube import events as kube_events
from tekton_dag.kube.errors import PermanentApiError, TransientApiError
from tekton_dag.kube.stores import KubernetesStore, RunStore, store_from_env
from tekton_dag.observability import metrics
from tekton_dag.pipelineruns.naming import label_value
from tekton_dag.pipelineruns.retention import DEFAULT_DELETES_PER_CYCLE, DELETES_PER_CYCLE_ENV
from tekton_dag.usecases.creating import Outcome, RunCreator
from tekton_dag.usecases.event_budget import EventBudget
from tekton_dag.usecases.ledger_hints import LedgerHints
from tekton_dag.usecases.pruning import Pruner

log = logging.getLogger(__name__)

RECONCILE_ENV = "TEKTON_DAG_RECONCILE_SECONDS"
DEFAULT_RECONCILE_S = 30.0
REPLY_TYPES = {"created": catalog.RUN_CREATED, "queued": catalog.RUN_QUEUED, "failed": catalog.RUN_FAILED}


class RunCreatorFunction(Handler):
    publishes = False  # it answers with replies; the Broker routes them

    def __init__(self, wiring: Wiring | None = None) -> None:
        super().__init__(wiring)
        self.creator: RunCreator | None = None
        self._store: RunStore | None = None
        self._forwarder: TeamForwarder | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.pruner: Pruner | None = None
        self.events: kube_events.EventRecorder | kube_events.NoEvents = kube_events.NoEvents()
        self.queued_events = EventBudget()
        self._config_errors_seen: tuple[Any, ...] = ()

    def setup(self) -> None:
        """Pick the store (wired, else from the environment), start the periodic reconcile."""
        self._store = self.wiring.store or store_from_env(self.env)
        self._forwarder = self.wiring.forwarder or TeamForwarder.from_env(self.env)
        warm_up = getattr(self._store, "warm_up", None)
        if warm_up is not None:  # import the Kubernetes client off the critical path to ready
            warming.in_background(warm_up, "Kubernetes client warm-up")
        self.creator = RunCreator(self._current_config, self._store, hints=LedgerHints.from_env(self.env))
        self.pruner = Pruner(self._store, int(self.env.get(DELETES_PER_CYCLE_ENV, DEFAULT_DELETES_PER_CYCLE)))
        # Events go where the runs go: a cluster (the store's API) gets them, a dry run logs them.
        self.events = (
            kube_events.EventRecorder() if isinstance(self._store, KubernetesStore) else kube_events.NoEvents()
        )
        self.events.start()
        metrics.ADMISSION.add(self.creator.admission)
        every = float(self.env.get(RECONCILE_ENV, DEFAULT_RECONCILE_S))
        if every > 0:
            self._tasks.append(asyncio.get_running_loop().create_task(self._reconcile_loop(every)))

    def teardown(self) -> list[Coroutine[Any, Any, None]]:
        """End the reconcile; close the API client this function made (a wired store is the caller's)."""
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        if self.creator is not None:
            metrics.ADMISSION.remove(self.creator.admission)
            if self.creator.hints is not None:
                self.creator.hints.close()  # the other workers stop waking this one
        return [self.events.close(), *self.closing_own(self._store, self.wiring.store),
                *self.closing_own(self._forwarder, self.wiring.forwarder)]

    async def _reconcile_loop(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await self.reconcile_once()
            except Exception:  # one bad round must not end the loop that unsticks queues
                log.exception("reconcile round failed")

    async def reconcile_once(self) -> None:
        """One round: repair admission, apply each team's retention, report a rejected config."""
        if self.creator is None or self.pruner is None:
            return
        for team, started in (await self.creator.reconcile_all()).items():
            self._count(team, "started", len(started))
        await self.pruner.prune_all(self._current_config())
        self._report_config_errors()

    def _report_config_errors(self) -> None:
        """A Warning Event per team whose files a rejected reload named, once per new set of errors."""
        errors = tuple(getattr(getattr(self.configs, "store", None), "errors", ()))
        if errors == self._config_errors_seen:
            return
        self._config_errors_seen = errors
        by_team: dict[str, list[str]] = {}
        for error in errors:
            parts = error.file.split("/")
            if len(parts) >= 3 and parts[0] == "teams":  # teams/<team>/...
                by_team.setdefault(parts[1], []).append(str(error))
        config = self._current_config()
        for name, problems in by_team.items():
            team = config.team(name)
            if team is not None:
                note = f"configuration change rejected, the previous one keeps serving: {'; '.join(problems)}"
                self.events.emit(
                    kube_events.config_ref(team.namespace), "ConfigRejected", "LoadConfig", note, "Warning"
                )

    def _current_config(self) -> Config:
        """The last good configuration; an empty one before any loaded (requests then fail as
        "team not configured" and ready() says why)."""
        current = self.configs.current() if self.configs is not None else None
        return current if current is not None else Config(teams=())

    async def handle(self, scope: dict[str, Any], receive: Callable[..., Any], send: Any) -> None:
        event: CloudEvent = scope["event"]
        if self.creator is None:
            await plain(send, 503, "run-creator is not started")
            return
        try:
            reply = await self._dispatch(event)
        except REFUSED as exc:
            await refuse(send, event, exc, log)
            return
        except TransientApiError as exc:
            log.warning("event %s: %s", event.get_id(), exc)
            await plain(send, 503, f"Kubernetes API unavailable: {exc}")
            return
        except ForwardError as exc:
            log.warning("event %s: %s", event.get_id(), exc)
            await plain(send, 503, str(exc))
            return
        if reply is None:
            await plain(send, 202, "")
        else:
            await send.binary(reply)

    async def _dispatch(self, event: CloudEvent) -> CloudEvent | None:
        assert self.creator is not None
        kind, data = event.get_type(), codec.data(event)
        self.keys.check(event, data)  # requests must be sealed; Tekton's events are not (they are hints)
        if kind == catalog.RUN_REQUESTED:
            traceparent = event.get_extension(catalog.EXT_TRACEPARENT)
            outcome = await self.creator.request(RunRequest.from_data(data, strict=False), traceparent=traceparent)
            self._report_outcome(outcome)
            self._observe(outcome, codec.extension(event, catalog.EXT_RECEIVED))
            if outcome.kind == "ignored":  # a superseded head: an end state, nothing was run
                return _reply(event, catalog.EVENT_IGNORED, _ignored_data(event, outcome))
            configured = self.creator.config().team(outcome.request.team)
            limit = configured.max_concurrent_runs if configured else 0
            return _reply(event, REPLY_TYPES[outcome.kind], _outcome_data(outcome, limit), configured)
        if kind == catalog.RUN_CANCEL_REQUESTED:
            cancel = CancelRequest.from_data(data, strict=False)
            cancelling = self.creator.config().team(cancel.team)
            if cancelling is None:
                return _reply(
                    event, catalog.RUN_FAILED, {**cancel.to_data(), "reason": f"team {cancel.team!r} is not configured"}
                )
            try:
                names = await self.creator.cancel(cancel)
            except PermanentApiError as exc:
                return _reply(event, catalog.RUN_FAILED, {**cancel.to_data(), "reason": exc.message}, cancelling)
            namespace = cancelling.namespace
            for name in names:
                self.events.emit(
                    kube_events.pipelinerun_ref(namespace, name),
                    "Cancelled",
                    "Cancel",
                    f"cancelled: pull request #{cancel.pr_number} {cancel.reason or 'asked to cancel'}",
                )
            self._count(cancel.team, "cancelled", len(names))
            return _reply(event, catalog.RUN_CANCELLED, {**cancel.to_data(), "pipelineruns": list(names)}, cancelling)
        if kind in catalog.TEKTON_PIPELINERUN_FINISHED:
            namespace, name, team = _finished_run(data)
            owner = tekton.namespace_of_source(str(event.get_source())) or namespace
            served = sorted({t.namespace for t in self.creator.config().teams})
            if owner not in served:
                self._forwarder = self._forwarder or TeamForwarder()
                forwarded = await self._forwarder.forward(event, owner, by=",".join(served))
                log.info("Tekton event %s for %s/%s: %s", event.get_id(), owner, name, forwarded)
                return None
            try:
                started = await self.creator.finished(namespace, name, team)
            except PermanentApiError as exc:
                log.warning("finished %s/%s: %s", namespace, name, exc)
                return None
            if not started:
                return None
            self._count(team, "started", len(started))
            return _reply(event, catalog.RUN_STARTED, {"team": team, "namespace": namespace, "pipelineruns": started},
                          self.creator.config().team(team))
        raise RequestError(f"type: run-creator does not handle {kind!r}")

    def _report_outcome(self, outcome: Outcome) -> None:
        """The Events a team sees for one request (queued, not created, superseded)."""
        request = outcome.request
        team = self.creator.config().team(request.team) if self.creator else None
        namespace = outcome.namespace or (team.namespace if team else "")
        if not namespace:
            return  # no team, no namespace to tell
        ref = (
            kube_events.pipelinerun_ref(namespace, outcome.name) if outcome.name else kube_events.config_ref(namespace)
        )
        what = f"{request.pipeline} of {request.stack}/{request.app or '-'}"
        if outcome.kind == "failed":
            self.events.emit(
                ref,
                "RunNotCreated",
                "Create",
                f"{what} (delivery {request.delivery}) not created: {outcome.reason}",
                "Warning",
            )
        elif outcome.kind == "queued":
            held = self.queued_events.take(namespace)  # a budget per team (usecases.event_budget)
            if held is not None:
                limit = team.max_concurrent_runs if team else "?"
                more = (f"; {held} more of the team's runs queued before it without an Event of their own "
                        f"(at most {self.queued_events.burst} at once, then one per "
                        f"{self.queued_events.refill_s:g} s)") if held else ""
                self.events.emit(
                    ref,
                    "Queued",
                    "Queue",
                    f"{what} waits Pending: the team already runs its limit of "
                    f"{limit} (maxConcurrentRuns); it starts when a slot frees{more}",
                )
        for old in outcome.superseded:
            pr = f"pull request #{request.pr.number}" if request.pr else "its pull request"
            self.events.emit(
                kube_events.pipelinerun_ref(namespace, old),
                "Superseded",
                "Cancel",
                f"cancelled: {outcome.name} tests a newer head of {pr}",
            )
    # --- metrics ----------------------------------------------------------------------------
    def _count(self, team: str, outcome: str, runs: int = 1) -> None:
        """Count ``runs`` PipelineRuns of ``team`` (a name or a team label) reaching ``outcome``."""
        if runs:
            metrics.RUNS.labels(self._team_label(team), outcome).inc(runs)

    def _team_label(self, team: str) -> str:
        """``team`` when configured (the label stays bounded by the configuration), else UNCONFIGURED."""
        assert self.creator is not None
        teams = self.creator.config().teams
        return team if any(t.name == team for t in teams) else next(
            (t.name for t in teams if label_value(t.name) == team), metrics.UNCONFIGURED)

    def _observe(self, outcome: Outcome, received: str) -> None:
        """Count a request's outcome; time it from webhook-ingest's ``tektondagreceived`` stamp."""
        team = self._team_label(outcome.request.team)
        metrics.RUNS.labels(team, outcome.kind).inc()
        if outcome.superseded:
            metrics.RUNS.labels(team, "cancelled").inc(len(outcome.superseded))
        if outcome.kind != "failed" and received:
            try:
                waited = time.time() - datetime.fromisoformat(received).timestamp()
            except (ValueError, TypeError):
                return
            metrics.WEBHOOK_TO_RUN.labels(team).observe(max(waited, 0.0))


def new(wiring: Wiring | None = None) -> RunCreatorFunction:
    """func-python's factory: one instance per process."""
    return RunCreatorFunction(wiring)


def _finished_run(data: Any) -> tuple[str, str, str]:
    """Namespace, name and team label of the run in a Tekton event (``{"pipelineRun": {...}}``)."""
    run = data.get("pipelineRun") if isinstance(data, dict) else None
    metadata = run.get("metadata") if isinstance(run, dict) else None
    if not isinstance(metadata, dict) or not metadata.get("name") or not metadata.get("namespace"):
        raise RequestError("data.pipelineRun.metadata: name and namespace required")
    labels = metadata.get("labels") or {}
    if not isinstance(labels, dict):  # Tekton's events are unsealed: any shape can come
        raise RequestError("data.pipelineRun.metadata.labels: must be an object")
    return str(metadata["namespace"]), str(metadata["name"]), str(labels.get(pipelines.L_TEAM, ""))


def _outcome_data(outcome: Outcome, limit: int = 0) -> dict[str, Any]:
    request = outcome.request
    data: dict[str, Any] = {
        "team": request.team,
        "stack": request.stack,
        "app": request.app,
        "pipeline": request.pipeline,
        "delivery": request.delivery,
        "namespace": outcome.namespace,
        "pipelinerun": outcome.name,
    }
    if request.repo:
        data["repo"] = request.repo
    head_sha = request.pr.head_sha if request.pr is not None else request.revision
    if head_sha:
        data["head_sha"] = head_sha
    if request.pr is not None:
        data["pr"] = request.pr.number
    if request.installation_id:  # status-reporter acts as the App's installation (a run.failed has no run to read)
        data["installation_id"] = request.installation_id
    if outcome.kind == "queued":  # status-reporter shows where the run waits and why
        data["position"] = outcome.position
        data["limit"] = limit
    if outcome.reason:
        data["reason"] = outcome.reason
    if outcome.superseded:
        data["superseded"] = list(outcome.superseded)
    return data


def _ignored_data(incoming: CloudEvent, outcome: Outcome) -> dict[str, Any]:
    request = outcome.request
    return {
        "reason": outcome.reason,
        "input_type": incoming.get_type(),
        "input_id": incoming.get_id(),
        "repo": request.repo,
        "team": request.team,
        "stack": request.stack,
        "app": request.app,
    }


def _reply(incoming: CloudEvent, kind: str, data: dict[str, Any], team: Team | None = None) -> CloudEvent:
    """run-creator's outcome of ``incoming``; ``team``: the configured team it is about, whose
    ``github.checks`` marks it for status-reporter's Triggers (``EXT_CHECKS``): the outcomes of the
    other teams are not delivered to status-reporter at all."""
    event_id = catalog.derived_id(incoming.get_id(), kind.removeprefix(f"{catalog.PREFIX}."))
    return codec.following(
        incoming,
        kind,
        catalog.SOURCE_RUN_CREATOR,
        event_id,
        data,
        subject=data.get("pipelinerun", ""),
        team=data.get("team", ""),
        extensions={catalog.EXT_CHECKS: "true"} if team is not None and team.github.checks else None,
    )


__all__ = ["RunCreatorFunction", "new"]
