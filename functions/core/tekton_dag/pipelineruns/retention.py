"""Retention: which finished PipelineRuns of a team to delete (pure; ``usecases.pruning`` deletes them).

A team opts in with ``retention`` in team.yaml (``config.models.Retention``). run-creator's
periodic reconcile calls ``Pruner.prune_all`` after repairing the admission ledgers:

- only runs that are done count -- ``status.completionTime`` set, or the Succeeded condition
  True/False. A Pending (queued) run, a running one, and a cancelled one still running its
  ``finally`` tasks are never deleted, whatever their age;
- runs are grouped by pipeline and stack (their labels); in each group the newest ``keepLast``
  done runs stay, older ones go; and any done run that finished more than ``maxAge`` ago goes;
- at most ``deletes_per_cycle`` per team per cycle, oldest first, so a first cycle over a
  namespace with years of runs does not flood the API server;
- each delete carries the run's uid as a precondition: a run deleted and re-created under the
  same (deterministic) name since the list is left alone.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from tekton_dag import pipelines
from tekton_dag.config.models import Retention
from tekton_dag.pipelineruns import states

log = logging.getLogger(__name__)

DELETES_PER_CYCLE_ENV = "TEKTON_DAG_RETENTION_DELETES_PER_CYCLE"
DEFAULT_DELETES_PER_CYCLE = 20

Run = Mapping[str, Any]


def is_done(run: Run) -> bool:
    """Tekton reported the run over (unlike ``states.is_finished``, a cancel request alone is not
    enough: the run may still be running its finally tasks)."""
    if states.is_pending(run):
        return False
    status = run.get("status") or {}
    if status.get("completionTime"):
        return True
    return any(c.get("type") == "Succeeded" and c.get("status") in ("True", "False")
               for c in status.get("conditions") or ())


def finished_at(run: Run) -> float:
    """Epoch seconds the run finished: completionTime, else its Succeeded condition's last
    transition, else its creation; -inf when none is readable."""
    status = run.get("status") or {}
    condition: dict[str, Any] = next((c for c in status.get("conditions") or () if c.get("type") == "Succeeded"), {})
    for stamp in (status.get("completionTime"), condition.get("lastTransitionTime"),
                  (run.get("metadata") or {}).get("creationTimestamp")):
        if stamp:
            try:
                return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    return float("-inf")


def to_delete(runs: Iterable[Run], retention: Retention, now: float, limit: int) -> list[Run]:
    """The done runs ``retention`` lets go, oldest first, at most ``limit``."""
    if not retention.enabled or limit <= 0:
        return []
    groups: dict[tuple[str, str], list[Run]] = defaultdict(list)
    for run in runs:
        if is_done(run):
            labels = states.labels_of(run)
            groups[(labels.get(pipelines.L_PIPELINE, ""), labels.get(pipelines.L_STACK, ""))].append(run)
    doomed = []
    for group in groups.values():
        group.sort(key=lambda r: (finished_at(r), states.name_of(r)), reverse=True)  # newest first
        for position, run in enumerate(group):
            beyond_count = retention.keep_last is not None and position >= retention.keep_last
            too_old = retention.max_age_seconds is not None and now - finished_at(run) > retention.max_age_seconds
            if beyond_count or too_old:
                doomed.append(run)
    doomed.sort(key=lambda r: (finished_at(r), states.name_of(r)))
    return doomed[:limit]
