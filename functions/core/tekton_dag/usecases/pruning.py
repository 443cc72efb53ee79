"""Retention, carried out: delete the finished PipelineRuns ``pipelineruns.retention.to_delete``
names, team by team, in run-creator's periodic reconcile (each delete with the run's uid as a
precondition, at most ``deletes_per_cycle`` per team per cycle)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from tekton_dag import pipelines
from tekton_dag.config.models import Config, Team
from tekton_dag.kube.errors import PermanentApiError, TransientApiError
from tekton_dag.kube.stores import RunStore
from tekton_dag.pipelineruns import states
from tekton_dag.pipelineruns.naming import label_value
from tekton_dag.pipelineruns.retention import DEFAULT_DELETES_PER_CYCLE, to_delete

log = logging.getLogger(__name__)


@dataclass
class Pruner:
    """Deletes what ``to_delete`` names, team by team."""

    store: RunStore
    deletes_per_cycle: int = DEFAULT_DELETES_PER_CYCLE
    clock: Callable[[], float] = time.time

    async def prune(self, team: Team) -> list[str]:
        """Delete the team's surplus runs (this cycle's share); returns the names deleted."""
        if not team.retention.enabled:
            return []
        selector = {pipelines.L_MANAGED_BY: pipelines.MANAGED_BY, pipelines.L_TEAM: label_value(team.name)}
        runs = await self.store.list_runs(team.namespace, selector)
        deleted = []
        for run in to_delete(runs, team.retention, self.clock(), self.deletes_per_cycle):
            uid = str((run.get("metadata") or {}).get("uid") or "")
            if await self.store.delete_run(team.namespace, states.name_of(run), uid):
                deleted.append(states.name_of(run))
        if deleted:
            log.info("retention of team %s deleted %d PipelineRun(s): %s", team.name, len(deleted), ", ".join(deleted))
        return deleted

    async def prune_all(self, config: Config) -> dict[str, list[str]]:
        """``prune`` every team; one team's API trouble does not stop the others."""
        deleted = {}
        for team in config.teams:
            try:
                deleted[team.name] = await self.prune(team)
            except (TransientApiError, PermanentApiError) as exc:
                log.warning("retention of team %s failed: %s", team.name, exc)
        return deleted
