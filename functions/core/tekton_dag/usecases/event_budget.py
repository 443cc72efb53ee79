"""How many ``Queued`` Kubernetes Events a team gets while its queue fills: a token bucket per team.

Facts it rests on:

- client-go's recorder limits Events per source and object with a token bucket, 25 at once and
  then one per 5 minutes (kubernetes/client-go tools/record/events_cache.go: ``defaultSpamBurst
  = 25``, ``defaultSpamQPS = 1. / 300.``, ``EventSourceObjectSpamFilter``), "to control the
  long-tail of events for things that are always unhealthy"; its aggregation and spam keys
  include the involved object, so Events about many different objects are never combined.
- Tekton already records an Event on every PipelineRun it first reconciles, pending or not
  (tektoncd/pipeline pkg/reconciler/events/k8sevent/event.go ``EmitK8sEvents``: a ``Started``
  Event when the Succeeded condition appears as Unknown), and a pending run's status says
  ``PipelineRunPending`` (pkg/reconciler/pipelinerun/pipelinerun.go, ``reconcile``).

So a waiting run is visible on the run itself; what only run-creator can add is *why* it waits
(the team runs its ``maxConcurrentRuns``). That is one condition of the team, not news about
each run: during a burst one ``Queued`` Event per run was one API write per webhook (a third of
the all-in-one's writes under load) saying the same thing. Hence the budget is client-go's
bucket keyed by the team instead of the run: the first 25 runs queued get their Event, then one
per 5 minutes, and that one says how many runs queued meanwhile without one. Warnings and
cancellations (``RunNotCreated``, ``Superseded``, ``Cancelled``) are not budgeted: each is an
action on one run, and they are rare.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

BURST = 25  # client-go's defaultSpamBurst
REFILL_S = 300.0  # client-go's defaultSpamQPS, 1/300: one more Event every 5 minutes


@dataclass
class EventBudget:
    """Token buckets by key (a team); ``take`` says whether an Event may be written now."""

    burst: int = BURST
    refill_s: float = REFILL_S
    clock: Callable[[], float] = time.monotonic
    # key → (tokens, when they were counted, Events held back since the last one written)
    _buckets: dict[str, tuple[float, float, int]] = field(default_factory=dict)

    def take(self, key: str) -> int | None:
        """None: no Event now (it is counted as held back); else how many were held back since
        the last one (0 unless the bucket ran dry)."""
        now = self.clock()
        tokens, counted, held = self._buckets.get(key, (float(self.burst), now, 0))
        tokens = min(float(self.burst), tokens + (now - counted) / self.refill_s)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now, held + 1)
            return None
        self._buckets[key] = (tokens - 1.0, now, 0)
        return held
