"""The status-reporter use case: move a PipelineRun's GitHub check forward, at most once per state.

It joins the decisions of ``checks`` (which check, which report, whether it advances) with two
ports: the run store (``kube.stores.RunStore``: get and merge-patch of PipelineRuns) and GitHub
(``github.port.GitHub``). The check run id and the last status reported live on the PipelineRun
(annotations ``tekton-dag.dev/check-run-id`` and ``tekton-dag.dev/check-status``), so no other
store is needed and a restarted replica knows what it did.

For one run: read it, decide, call GitHub (create the check run the first time, update it after;
a commit status in ``statuses`` mode), then record the new status on the run. Events for one run
are serialised in this process (a lock per run name), so two events arriving at once never
create two check runs. Across replicas nothing serialises them: the chart runs one replica
(docs/functions.md says why that is enough and what more replicas would need). A GitHub call that
succeeded before the record failed is repeated on the Broker's retry: harmless for an update, a
second check run of the same name for a create (GitHub shows the newest).

A run that was never created (``run.failed``) has nothing to annotate: it gets one completed check,
and the failed event's id is remembered in this process so a redelivery creates no second one.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from tekton_dag import pipelines
from tekton_dag.checks import reports
from tekton_dag.checks.states import Report, advances
from tekton_dag.checks.targets import Target, recorded_of, target_of, target_of_run
from tekton_dag.config.models import Config
from tekton_dag.github.port import CheckOutput, GitHub, Repo
from tekton_dag.kube.stores import Object, RunStore

log = logging.getLogger(__name__)

Result = Literal["created", "updated", "unchanged", "skipped", "gone"]
REMEMBERED_FAILURES = 4096  # run.failed event ids kept (a redelivery comes within minutes)


@dataclass
class Reporter:
    config: Callable[[], Config]
    store: RunStore
    github: GitHub
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    _waiting: dict[str, int] = field(default_factory=dict)
    _failures: OrderedDict[str, None] = field(default_factory=OrderedDict)

    async def report(self, namespace: str, name: str,
                     report: Report | Callable[[Object], Report | None]) -> Result:
        """Apply ``report`` to run ``namespace/name``'s check if it moves it forward; a callable
        makes the report from the run as read back (Tekton's events: ``reports.from_run``)."""
        if not any(team.github.checks and team.namespace == namespace for team in self.config().teams):
            return "skipped"  # no team here wants checks for this namespace: not even a read
        async with self._run_lock(f"{namespace}/{name}"):
            run = await self.store.get_run(namespace, name)
            if run is None:
                return "gone"
            made = report(run) if callable(report) else report
            if made is None:
                return "unchanged"
            report = made
            target = target_of_run(self.config(), run)
            if target is None:
                return "skipped"
            recorded = recorded_of(run)
            if not advances(recorded.status, report):
                return "unchanged"
            check_run_id = await self._send(target, recorded.check_run_id, report)
            annotations: dict[str, str] = {pipelines.A_CHECK_STATUS: report.status}
            if check_run_id is not None:
                annotations[pipelines.A_CHECK_RUN_ID] = str(check_run_id)
            await self.store.patch_run(namespace, name, {"metadata": {"annotations": annotations}})
            return "created" if recorded.check_run_id is None and check_run_id is not None else "updated"

    async def report_not_created(self, event_id: str, data: dict[str, Any], report: Report) -> Result:
        """``run.failed``: a completed check for a run that may not exist. With a run to annotate,
        the usual path; without one, a single check run, once per event id."""
        namespace, name = str(data.get("namespace") or ""), str(data.get("pipelinerun") or "")
        if namespace and name:
            result = await self.report(namespace, name, report)
            if result != "gone":
                return result
        target = target_of(
            self.config(), team=str(data.get("team") or ""), namespace=namespace,
            pipelinerun=name or str(data.get("delivery") or ""), stack=str(data.get("stack") or ""),
            app=str(data.get("app") or ""), repo=str(data.get("repo") or ""),
            head_sha=str(data.get("head_sha") or ""), installation=str(data.get("installation_id") or ""),
        )
        if target is None:
            return "skipped"
        async with self._run_lock(f"failed/{event_id}"):
            if event_id in self._failures:
                return "unchanged"
            await self._send(target, None, report)
            self._failures[event_id] = None
            while len(self._failures) > REMEMBERED_FAILURES:
                self._failures.popitem(last=False)
        return "created"

    async def _send(self, target: Target, check_run_id: int | None, report: Report) -> int | None:
        """The GitHub call for ``report``; returns the check run id (None in statuses mode)."""
        owner, _, repo_name = target.repo.partition("/")
        repo = Repo(owner, repo_name, target.installation_id)
        name = reports.check_name(target.stack, target.app)
        url = target.team.github.details_link(target.namespace, target.pipelinerun)
        if self.github.mode_for(repo) == "statuses":  # a token's repository: no check runs (an App's alone)
            state, description = reports.commit_status(report)
            await self.github.set_commit_status(repo, target.head_sha, state=state, context=name,
                                                description=description, target_url=url)
            return None
        output = CheckOutput(report.title, report.summary, url)
        if check_run_id is None:
            return await self.github.create_check_run(repo, name=name, head_sha=target.head_sha,
                                                      external_id=target.pipelinerun, status=report.status,
                                                      conclusion=report.conclusion, output=output)
        await self.github.update_check_run(repo, check_run_id, status=report.status,
                                           conclusion=report.conclusion, output=output)
        return check_run_id

    @asynccontextmanager
    async def _run_lock(self, key: str) -> AsyncIterator[None]:
        """One holder per key in this process; the lock is dropped when nobody waits for it."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._waiting[key] -= 1
            if not self._waiting[key]:
                del self._waiting[key]
                del self._locks[key]
