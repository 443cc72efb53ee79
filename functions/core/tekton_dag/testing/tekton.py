"""A Tekton controller double: moves PipelineRuns through Tekton's lifecycle and sends its CloudEvents.

It polls PipelineRuns through a ``RunStore`` (the real ``kubernetes`` client against a fake API,
or the dry-run directory of ``tekton-dag dev``), writes ``status`` back with a merge patch of the
status subresource (``RunStore.patch_run_status``: the CRD's main resource ignores a status;
Tekton's knative-generated reconciler writes it with ``UpdateStatus``), and posts Tekton's
CloudEvents (``tekton_events``) to a sink. Each rule below cites where Tekton does the same
(tektoncd/pipeline at commit 3ee1745, the v1.15 line; docs/pipelineruns.md):

- ``spec.status: PipelineRunPending`` holds a run: Succeeded Unknown/``PipelineRunPending``,
  message ``PipelineRun "<name>" is pending``, no ``startTime`` (pkg/reconciler/pipelinerun/
  pipelinerun.go: ``if pr.IsPending() { pr.Status.MarkRunning(ReasonPending, ...) }``).
- Starting (``!pr.HasStarted() && !pr.IsPending()``): ``startTime`` and Unknown/``Started``
  (``PipelineRunStatus.InitializeConditions``), then Unknown/``Running`` with the message
  ``Tasks Completed: c (Failed: f, Cancelled k), Incomplete: i, Skipped: s``, then the end state
  of ``GetPipelineConditionStatus`` (resources/pipelinerunstate.go): True/``Succeeded``, or
  True/``Completed`` when a task was skipped; False/``Failed`` when a task failed; False/
  ``Cancelled`` when gracefully cancelled or stopped or a task was cancelled; ``completionTime``.
- ``Cancelled`` (cancel.go ``cancelPipelineRun``): running TaskRuns are cancelled, nothing more
  is scheduled, not even ``finally``; False/``Cancelled``, ``PipelineRun "<name>" was cancelled``.
  A pending run that is cancelled is started first, then cancelled (the reconciler's order).
- ``CancelledRunFinally``: running DAG TaskRuns are cancelled, unstarted DAG tasks skipped
  ("PipelineRun was gracefully cancelled"), ``finally`` runs (Unknown/``CancelledRunningFinally``),
  then False/``Cancelled``. ``StoppedRunFinally``: running TaskRuns finish normally, unstarted DAG
  tasks are skipped ("PipelineRun was gracefully stopped"), ``finally`` runs
  (Unknown/``StoppedRunningFinally``), then False/``Cancelled`` (or ``Failed`` if a task failed).
- The graph (resources/pipelinerunresolution.go ``skip``): a task starts when every parent
  (``runAfter`` and every task whose results it references) is done; skip reasons in Tekton's
  order: "PipelineRun was stopping" (a DAG task failed: nothing new starts; reason
  ``PipelineRunStopping`` while others finish), graceful cancel/stop, "When Expressions evaluated
  to false" (``in``/``notin`` after substituting params, results and ``context.pipelineRun.name``;
  it does not cascade), "Parent Tasks were skipped" (a parent skipped for another reason),
  "Results were missing" (a referenced task was skipped by its ``when``). ``finally`` tasks start
  once every DAG task is done or skipped (``finallyStartTime``) and may read ``$(tasks.<t>.status)``,
  ``$(tasks.<t>.reason)`` and ``$(tasks.status)``.
- TaskRun creation rules: ``taskrun_rules(pipeline, pipelinerun, pipeline_task)`` returns the
  reasons Tekton would refuse the TaskRun; it then fails at once with reason
  ``TaskRunValidationFailed`` (pkg/reconciler/taskrun/taskrun.go, e.g.
  ``workspace.ValidateOnlyOnePVCIsUsed`` under ``coschedule: workspaces``), failing the run.
- A ``pipelineRef`` that names no known Pipeline: False/``CouldntGetPipeline``.
- The claims a run's ``volumeClaimTemplate`` workspaces become (``claims(namespace)``): made when
  its first TaskRuns are (not for a run cancelled before that), and deleted when it is done only
  under ``coschedule`` ``pipelineruns``/``isolate-pipelinerun``, or under ``workspaces`` (the
  default) when the run is annotated ``tekton.dev/auto-cleanup-pvc: "true"``; otherwise they stay
  until the PipelineRun itself is deleted (their owner: garbage collection) (pkg/reconciler/
  pipelinerun/affinity_assistant.go ``cleanupAffinityAssistantsAndPVCs``, ``AutoCleanupPVCAnnotation``,
  Tekton v1.11+; docs/affinityassistants.md "PVC Auto-Cleanup for Workspaces Mode"). Their names
  stand in for Tekton's (``pvc-<hash>``).
- Children are named ``<run>-<pipeline task>`` (``kmeta.ChildName``) and listed in
  ``status.childReferences``; skipped tasks in ``status.skippedTasks``; the resolved spec in
  ``status.pipelineSpec``.

Not modelled (docs/testing.md keeps the same list): TaskRun objects in the API (children live
here, visible through ``children()``), TaskRun events, pods, retries, timeouts, ``onError``,
matrix, CEL ``when``, pipeline results, parameter validation, name shortening over 63 characters,
the affinity assistant's StatefulSet and scheduling (only the lifetime of the template claims),
the watch (this polls), and the events controller's restarts (its caches live as long as this).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml
from cloudevents.core.v1.event import CloudEvent

from tekton_dag.eventing.publishing import Publisher, PublishError
from tekton_dag.kube.stores import RunStore
from tekton_dag.testing import tekton_events, tekton_rules

log = logging.getLogger(__name__)

Object = dict[str, Any]
TaskRule = Callable[[Object, Object, Object], Iterable[str]]
PENDING, CANCELLED = "PipelineRunPending", "Cancelled"
CANCELLED_RUN_FINALLY, STOPPED_RUN_FINALLY = "CancelledRunFinally", "StoppedRunFinally"
# TaskRun condition reasons (pkg/apis/pipeline/v1/taskrun_types.go)
TR_SUCCEEDED, TR_FAILED, TR_CANCELLED, TR_INVALID = "Succeeded", "Failed", "TaskRunCancelled", "TaskRunValidationFailed"
# Skipping reasons (pkg/apis/pipeline/v1/pipelinerun_types.go)
WHEN_SKIP = "When Expressions evaluated to false"
PARENT_SKIP = "Parent Tasks were skipped"
STOPPING_SKIP = "PipelineRun was stopping"
GRACEFULLY_CANCELLED_SKIP = "PipelineRun was gracefully cancelled"
GRACEFULLY_STOPPED_SKIP = "PipelineRun was gracefully stopped"
MISSING_RESULTS_SKIP = "Results were missing"
RESULT_REF = re.compile(r"\$\(tasks\.([^.)]+)\.results\.([^.)\[]+)")
VARIABLE = re.compile(r"\$\(([^)]+)\)")


@dataclass(frozen=True)
class Timing:
    """How long each simulated TaskRun runs, in seconds of ``clock``."""

    default: float = 0.0
    per_task: Mapping[str, float] = field(default_factory=dict)

    def of(self, task: str) -> float:
        return self.per_task.get(task, self.default)


@dataclass
class Child:
    """One pipeline task of a run and the TaskRun it became."""

    task: Object
    final: bool
    state: str = "waiting"  # waiting | running | done | skipped
    reason: str = ""  # the TaskRun's Succeeded reason once done
    message: str = ""
    skip_reason: str = ""
    ends: float = 0.0
    results: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.task["name"])

    @property
    def settled(self) -> bool:
        return self.state in ("done", "skipped")

    @property
    def failed(self) -> bool:
        return self.state == "done" and self.reason in (TR_FAILED, TR_INVALID)

    @property
    def cancelled(self) -> bool:
        return self.state == "done" and self.reason == TR_CANCELLED


@dataclass
class RunState:
    pipeline: Object  # the Pipeline (or a stand-in built from spec.pipelineSpec)
    children: dict[str, Child]
    finally_started: bool = False
    claims_made: bool = False


AUTO_CLEANUP_PVC = "tekton.dev/auto-cleanup-pvc"  # affinity_assistant.go AutoCleanupPVCAnnotation


def load_pipelines(directory: Path) -> dict[str, Object]:
    """Every Pipeline in ``directory/*.yaml`` by name (the project's ``pipeline/``)."""
    found: dict[str, Object] = {}
    for path in sorted(Path(directory).glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "Pipeline":
                found[doc["metadata"]["name"]] = doc
    return found


def directory_namespaces(root: Path) -> Callable[[], list[str]]:
    """The namespaces of a ``DirectoryStore``: its subdirectories (``.ledgers`` aside)."""
    return lambda: sorted(p.name for p in Path(root).iterdir() if p.is_dir() and not p.name.startswith("."))


class TektonDouble:
    """Call ``await poll()`` to reconcile every run once (tests), or ``await run(stop)`` to poll
    until ``stop`` is set. ``events`` records every CloudEvent built, in order."""

    def __init__(self, store: RunStore, namespaces: Iterable[str] | Callable[[], Iterable[str]],
                 pipelines: Mapping[str, Object], *, sink: str | None = None, timing: Timing = Timing(),
                 outcome: Callable[[Object, str], str] | None = None,
                 results: Callable[[Object, str], Mapping[str, str]] | None = None,
                 taskrun_rules: TaskRule | None = None, clock: Callable[[], float] = time.monotonic,
                 emit_queued: bool = True, poll_interval: float = 0.05, coschedule: str = "workspaces"):
        """``outcome(run, task)`` → ``"Succeeded"`` (default) or ``"Failed"``; ``results(run, task)``
        → the task's results (every result another task references defaults to ``""``);
        ``emit_queued``: Tekton ≥ v1.12's events controller (the default: every release since
        v1.12, April 2026, sends events this way), which sends ``queued`` and sees only the states
        each reconcile stored (so never ``started``); False: the releases before; ``coschedule``:
        the cluster's feature flag (Tekton's default ``workspaces``), for the claims' lifetime."""
        if coschedule not in tekton_rules.COSCHEDULE_MODES:
            raise ValueError(f"coschedule: {coschedule!r} is none of {', '.join(tekton_rules.COSCHEDULE_MODES)}")
        self.coschedule = coschedule
        self.store = store
        self._namespaces = namespaces
        self.pipelines = dict(pipelines)
        self.timing, self.clock, self.poll_interval = timing, clock, poll_interval
        self._outcome = outcome or (lambda run, task: TR_SUCCEEDED)
        self._results = results or (lambda run, task: {})
        self._rules = taskrun_rules
        self.emit_queued = emit_queued
        self.events: list[CloudEvent] = []
        self._cache = tekton_events.EventCache()
        self._runs: dict[str, RunState] = {}
        self._claims: dict[str, set[str]] = {}  # run key → its volumeClaimTemplate claims still there
        self._sink_client = httpx.AsyncClient(timeout=5.0) if sink else None
        self._publisher = Publisher(sink, client=self._sink_client) if sink else None
        self._sending: set[asyncio.Task[None]] = set()

    def children(self, namespace: str, name: str) -> dict[str, Child]:
        state = self._runs.get(f"{namespace}/{name}")
        return dict(state.children) if state else {}

    def claims(self, namespace: str) -> list[str]:
        """The PersistentVolumeClaims made from runs' ``volumeClaimTemplate`` workspaces that
        still exist in ``namespace``."""
        return sorted(c for key, names in self._claims.items() if key.split("/")[0] == namespace for c in names)

    def namespaces(self) -> list[str]:
        source = self._namespaces
        return list(source() if callable(source) else source)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.poll()
            except Exception:  # one bad round (API hiccup) must not end the controller
                log.exception("Tekton double: poll failed")
            with contextlib.suppress(TimeoutError):  # the next round is due
                await asyncio.wait_for(stop.wait(), self.poll_interval)

    async def poll(self) -> None:
        for namespace in self.namespaces():
            runs = await self.store.list_runs(namespace, {})
            listed = {f"{namespace}/{r['metadata']['name']}" for r in runs}
            for key in [k for k in self._claims if k.split("/")[0] == namespace and k not in listed]:
                del self._claims[key]  # the run was deleted: its claims, which it owns, go with it
            for run in runs:
                await self._reconcile_one(run)

    async def aclose(self) -> None:
        await self.drain()
        if self._sink_client is not None:
            await self._sink_client.aclose()

    async def drain(self) -> None:
        """Wait until every event handed to the sink was sent (or given up)."""
        while self._sending:
            await asyncio.gather(*list(self._sending), return_exceptions=True)

    async def _reconcile_one(self, run: Object) -> None:
        before = copy.deepcopy(run.get("status") or {})
        snapshots = self.reconcile(run, self.clock())
        if self.emit_queued:
            # v1.12+: only the tekton-events-controller sends, from the runs it watches: the new
            # object (queued), then what each reconcile stored, once. The core reconciler's own
            # steps within one reconcile (Started, then Running) are never stored apart, so no
            # ``started`` (commit 3fd3dac3d; pkg/reconciler/notifications/pipelinerun/reconciler.go).
            seen = [s for s in snapshots[:1] if tekton_events.succeeded_condition(s) is None]
            if tekton_events.succeeded_condition(run) is not None:
                seen.append(copy.deepcopy(run))
            snapshots = seen
        for snapshot in snapshots:
            if self._cache.admit(snapshot, self.emit_queued):
                self._emit(tekton_events.cloud_event(snapshot))
        status = run.get("status") or {}
        if status != before:
            meta = run["metadata"]
            await self.store.patch_run_status(meta["namespace"], meta["name"], status)

    def _emit(self, event: CloudEvent) -> None:
        self.events.append(event)
        if self._publisher is not None:
            task = asyncio.get_running_loop().create_task(self._send(event))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _send(self, event: CloudEvent) -> None:
        """``ContextWithRetriesExponentialBackoff(ctx, 10ms, 10)`` (cloud_event_controller.go):
        ten retries from 10 ms, doubling; then Tekton gives up (a Kubernetes Event says so)."""
        assert self._publisher is not None
        for attempt in range(11):
            try:
                await self._publisher.publish(event)
                return
            except PublishError as exc:
                if attempt == 10:
                    log.warning(
                        "Tekton double: gave up sending %s for %s: %s", event.get_type(), event.get_subject(), exc
                    )
                    return
                await asyncio.sleep(0.01 * 2 ** attempt)

    # --- the reconciler: mutates run["status"], returns a copy of the run per condition set

    def reconcile(self, run: Object, now: float) -> list[Object]:
        meta, spec = run["metadata"], run.get("spec") or {}
        key, name = f"{meta['namespace']}/{meta['name']}", meta["name"]
        status = run.setdefault("status", {})
        snapshots: list[Object] = []

        def condition(state: str, reason: str, message: str) -> None:
            status["conditions"] = [{"type": "Succeeded", "status": state, "reason": reason, "message": message,
                                     "lastTransitionTime": _timestamp()}]
            snapshots.append(copy.deepcopy(run))

        if status.get("completionTime"):
            return snapshots  # done: Tekton only cleans up (its children stay readable here)
        if tekton_events.succeeded_condition(run) is None:
            snapshots.append(copy.deepcopy(run))  # what the events controller sees first: queued
        wanted = spec.get("status")
        if not status.get("startTime"):
            if wanted == PENDING:
                current = tekton_events.succeeded_condition(run)
                if not current or current.get("reason") != PENDING:
                    condition("Unknown", PENDING, f'PipelineRun "{name}" is pending')
                return snapshots
            status["startTime"] = _timestamp()
            previous = tekton_events.succeeded_condition(run) or {}
            condition("Unknown", "Started", previous.get("message", ""))
        state = self._runs.get(key) or self._start(key, run)
        if state is None:
            pipeline = (spec.get("pipelineRef") or {}).get("name", "")
            condition("False", "CouldntGetPipeline",
                      f"Error retrieving pipeline for pipelinerun {key}: pipelines.tekton.dev \"{pipeline}\" not found")
            status["completionTime"] = _timestamp()
            return snapshots
        status.setdefault("pipelineSpec", copy.deepcopy(state.pipeline.get("spec") or {}))
        if wanted == CANCELLED:
            self._cancel_running(state, final_too=True)
            self._write_children(status, state, name)
            condition("False", "Cancelled", f'PipelineRun "{name}" was cancelled')
            status["completionTime"] = _timestamp()
            self._clean_up_claims(key, run)
            return snapshots
        if wanted == CANCELLED_RUN_FINALLY:
            self._cancel_running(state, final_too=False)
        if not state.claims_made:  # before the first TaskRuns (createOrUpdateAffinityAssistantsAndPVCs)
            state.claims_made = True
            self._claims[key] = {_claim_name(b["name"], meta.get("uid") or key)
                                 for b in spec.get("workspaces") or () if b.get("volumeClaimTemplate")}
        self._advance(run, state, now)
        self._write_children(status, state, name)
        if state.finally_started and "finallyStartTime" not in status:
            status["finallyStartTime"] = _timestamp()
        state_, reason, message = self._condition(state, wanted, name)
        current = tekton_events.succeeded_condition(run) or {}
        if (current.get("status"), current.get("reason"), current.get("message")) != (state_, reason, message):
            condition(state_, reason, message)
        if state_ != "Unknown":
            status["completionTime"] = _timestamp()
            self._clean_up_claims(key, run)
        return snapshots

    def _clean_up_claims(self, key: str, run: Object) -> None:
        """``cleanupAffinityAssistantsAndPVCs`` once the run is done."""
        annotations = run["metadata"].get("annotations") or {}
        if self.coschedule in ("pipelineruns", "isolate-pipelinerun") or (
                self.coschedule == "workspaces" and annotations.get(AUTO_CLEANUP_PVC) == "true"):
            self._claims.pop(key, None)

    def _start(self, key: str, run: Object) -> RunState | None:
        spec = run.get("spec") or {}
        if spec.get("pipelineSpec"):
            pipeline: Object = {"metadata": {"name": ""}, "spec": spec["pipelineSpec"]}
        else:
            found = self.pipelines.get((spec.get("pipelineRef") or {}).get("name", ""))
            if found is None:
                return None
            pipeline = found
        pipeline_spec = pipeline.get("spec") or {}
        children = {t["name"]: Child(t, final=False) for t in pipeline_spec.get("tasks") or ()}
        children.update({t["name"]: Child(t, final=True) for t in pipeline_spec.get("finally") or ()})
        self._runs[key] = state = RunState(pipeline, children)
        return state

    def _cancel_running(self, state: RunState, final_too: bool) -> None:
        for child in state.children.values():
            if child.state == "running" and (final_too or not child.final):
                child.state, child.reason, child.message = "done", TR_CANCELLED, "TaskRun was cancelled"

    def _advance(self, run: Object, state: RunState, now: float) -> None:
        """Finish what ran its time, then start or skip what may go, until nothing changes."""
        for child in state.children.values():
            if child.state == "running" and now >= child.ends:
                self._finish(run, child)
        wanted = (run.get("spec") or {}).get("status")
        changed = True
        while changed:
            changed = False
            dag = [c for c in state.children.values() if not c.final]
            for child in dag:
                if child.state == "waiting":
                    changed |= self._schedule(run, state, child, wanted, now)
            if all(c.settled for c in dag):
                for child in state.children.values():
                    if child.final and child.state == "waiting":
                        state.finally_started = True
                        changed |= self._schedule(run, state, child, wanted, now)

    def _schedule(self, run: Object, state: RunState, child: Child, wanted: str | None, now: float) -> bool:
        """Skip ``child``, start it, or leave it waiting; True when it changed."""
        children = state.children
        if not child.final:
            stopping = any(c.failed or c.cancelled for c in children.values() if not c.final)
            if stopping or wanted in (CANCELLED_RUN_FINALLY, STOPPED_RUN_FINALLY):
                child.state = "skipped"
                child.skip_reason = (STOPPING_SKIP if stopping else GRACEFULLY_CANCELLED_SKIP
                                     if wanted == CANCELLED_RUN_FINALLY else GRACEFULLY_STOPPED_SKIP)
                return True
        parents = self._parents(child, children)
        if not all(children[p].settled for p in parents if p in children):
            return False
        if child.final and self._results_missing(child, children):
            child.state, child.skip_reason = "skipped", MISSING_RESULTS_SKIP  # IsFinallySkipped checks this first
            return True
        if not self._when_allows(run, state, child):
            child.state, child.skip_reason = "skipped", WHEN_SKIP
            return True
        if not child.final and any(children[p].state == "skipped" and children[p].skip_reason != WHEN_SKIP
                                   for p in parents if p in children):
            child.state, child.skip_reason = "skipped", PARENT_SKIP
            return True
        if not child.final and self._results_missing(child, children):
            child.state, child.skip_reason = "skipped", MISSING_RESULTS_SKIP
            return True
        reasons = list(self._rules(state.pipeline, run, child.task)) if self._rules else []
        if reasons:
            child.state, child.reason, child.message = "done", TR_INVALID, "; ".join(reasons)
            return True
        # A TaskRun finishes in a later round at the earliest: Tekton's TaskRun reconciler runs it.
        child.state, child.ends = "running", now + self.timing.of(child.name)
        return True

    @staticmethod
    def _results_missing(child: Child, children: Mapping[str, Child]) -> bool:
        """``skipBecauseResultReferencesAreMissing``: a DAG task misses results of a task its
        ``when`` skipped; a ``finally`` task misses those of any task that did not succeed."""
        for task, _ in _result_refs(child.task):
            ref = children.get(task)
            if ref is None:
                continue
            if child.final and not (ref.state == "done" and ref.reason == TR_SUCCEEDED):
                return True
            if not child.final and ref.state == "skipped" and ref.skip_reason == WHEN_SKIP:
                return True
        return False

    def _finish(self, run: Object, child: Child) -> None:
        reason = self._outcome(run, child.name)
        child.state, child.reason = "done", reason
        child.message = "All Steps have completed executing" if reason == TR_SUCCEEDED else '"step" exited with code 1'
        if reason == TR_SUCCEEDED:
            child.results = {r: "" for r in self._referenced_results(child.name, run)}
            child.results.update(self._results(run, child.name))

    def _referenced_results(self, task: str, run: Object) -> set[str]:
        state = self._runs[f"{run['metadata']['namespace']}/{run['metadata']['name']}"]
        return {r for c in state.children.values() for t, r in _result_refs(c.task) if t == task}

    @staticmethod
    def _parents(child: Child, children: Mapping[str, Child]) -> set[str]:
        if child.final:
            return set()
        return set(child.task.get("runAfter") or ()) | {t for t, _ in _result_refs(child.task)}

    def _when_allows(self, run: Object, state: RunState, child: Child) -> bool:
        values = self._variables(run, state)
        for expression in child.task.get("when") or ():
            if "input" not in expression:
                continue  # CEL `when` is not modelled
            given = _substitute(str(expression["input"]), values)
            allowed = [_substitute(str(v), values) for v in expression.get("values") or ()]
            if (given in allowed) != (expression.get("operator", "in") == "in"):
                return False
        return True

    def _variables(self, run: Object, state: RunState) -> dict[str, str]:
        values: dict[str, str] = {}
        for param in (state.pipeline.get("spec") or {}).get("params") or ():
            if isinstance(param.get("default"), str):
                values[f"params.{param['name']}"] = param["default"]
        for param in (run.get("spec") or {}).get("params") or ():
            if isinstance(param.get("value"), str):
                values[f"params.{param['name']}"] = param["value"]
        values["context.pipelineRun.name"] = run["metadata"]["name"]
        values["context.pipelineRun.namespace"] = run["metadata"]["namespace"]
        dag = [c for c in state.children.values() if not c.final]
        for child in dag:
            for result, value in child.results.items():
                values[f"tasks.{child.name}.results.{result}"] = value
            # $(tasks.<t>.status) in finally (docs/pipelines.md "Using Execution Status of pipelineTask")
            values[f"tasks.{child.name}.status"] = ("None" if child.state != "done" else
                                                    "Succeeded" if child.reason == TR_SUCCEEDED else "Failed")
            # $(tasks.<t>.reason): its TaskRun's condition reason, "" without a TaskRun
            # (resources/pipelinerunresolution.go ``getReason``; docs/variables.md, Tekton v0.62+)
            values[f"tasks.{child.name}.reason"] = child.reason if child.state == "done" else ""
        values["tasks.status"] = ("Failed" if any(c.failed for c in dag) else
                                  "Completed" if any(c.state == "skipped" for c in dag) else "Succeeded")
        return values

    @staticmethod
    def _write_children(status: Object, state: RunState, name: str) -> None:
        started = [c for c in state.children.values() if c.state in ("running", "done")]
        status["childReferences"] = [{"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "name": f"{name}-{c.name}",
                                      "pipelineTaskName": c.name} for c in started]
        skipped = [c for c in state.children.values() if c.state == "skipped"]
        if skipped:
            status["skippedTasks"] = [{"name": c.name, "reason": c.skip_reason,
                                       **({"whenExpressions": c.task["when"]} if c.skip_reason == WHEN_SKIP else {})}
                                      for c in skipped]

    @staticmethod
    def _condition(state: RunState, wanted: str | None, name: str) -> tuple[str, str, str]:
        """``GetPipelineConditionStatus`` (resources/pipelinerunstate.go), without timeouts."""
        children = list(state.children.values())
        succeeded = sum(c.state == "done" and c.reason == TR_SUCCEEDED for c in children)
        failed = sum(c.failed for c in children)
        cancelled = sum(c.cancelled for c in children)
        skipped = sum(c.state == "skipped" for c in children)
        incomplete = len(children) - succeeded - failed - cancelled - skipped
        completed = succeeded + failed + cancelled
        if incomplete == 0:
            message = f"Tasks Completed: {completed} (Failed: {failed}, Cancelled {cancelled}), Skipped: {skipped}"
            if failed:
                return "False", "Failed", message
            if wanted in (CANCELLED_RUN_FINALLY, STOPPED_RUN_FINALLY):
                return "False", "Cancelled", f'PipelineRun "{name}" was cancelled'
            if cancelled:
                return "False", "Cancelled", message
            return "True", "Completed" if skipped else "Succeeded", message
        finals_done = all(c.settled for c in children if c.final)
        reason = ("CancelledRunningFinally" if wanted == CANCELLED_RUN_FINALLY else
                  "StoppedRunningFinally" if wanted == STOPPED_RUN_FINALLY else
                  "PipelineRunStopping" if cancelled or (failed and finals_done) else "Running")
        return "Unknown", reason, (f"Tasks Completed: {completed} (Failed: {failed}, Cancelled {cancelled}), "
                                   f"Incomplete: {incomplete}, Skipped: {skipped}")


def _result_refs(task: Object) -> set[tuple[str, str]]:
    """(task, result) for every ``$(tasks.<t>.results.<r>)`` in the task's params and ``when``."""
    text = yaml.safe_dump([task.get("params") or [], task.get("when") or []])
    return set(RESULT_REF.findall(text))


def _claim_name(workspace: str, owner: str) -> str:
    """A stand-in for Tekton's generated claim name (volumeclaim ``GeneratePVCNameFromWorkspaceBinding``)."""
    return "pvc-" + hashlib.sha256(f"{workspace}/{owner}".encode()).hexdigest()[:10]


def _substitute(text: str, values: Mapping[str, str]) -> str:
    return VARIABLE.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def _timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


__all__ = ["AUTO_CLEANUP_PVC", "Child", "TaskRule", "TektonDouble", "Timing", "directory_namespaces", "load_pipelines"]
