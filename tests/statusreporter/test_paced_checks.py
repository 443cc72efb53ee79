"""status-reporter's writes to GitHub under GitHub's secondary-limit rules (github.pacing): paced per
installation, and a write GitHub holds off past the deadline is answered 503, so the Broker delivers
the event again instead of it being acknowledged with its check never written. The double enforces
the gap (``min_write_gap_s``); spacing is read from the times it recorded."""

from __future__ import annotations

import asyncio
import itertools

from statusreporter.conftest import DEADLINE_S, Served
from statusreporter.test_function import outcome
from support.githubapi import environment
from tekton_dag import pipelines
from tekton_dag.events import catalog

INTERVAL_S = 0.3


async def test_checks_of_runs_arriving_together_are_written_a_pace_apart(served: Served, tmp_path) -> None:
    served.github.min_write_gap_s = INTERVAL_S - 0.05
    served.restart(environment(served.github, tmp_path, deadline_s=DEADLINE_S, write_interval_s=INTERVAL_S))
    runs = [await served.create_run(number=n) for n in (1, 2, 3)]
    answers = await asyncio.gather(*(served.post(catalog.RUN_CREATED, outcome(run, pr=n), id=f"c{n}")
                                     for n, run in zip((1, 2, 3), runs, strict=True)))
    assert [a.status_code for a in answers] == [202, 202, 202]
    assert [c.status for c in served.github.calls if c.status >= 400] == []  # never a secondary limit
    writes = sorted(served.github.calls_to("checks/create"), key=lambda c: c.arrived)
    assert len(writes) == 3
    for before, after in itertools.pairwise(writes):
        assert after.arrived - before.answered >= INTERVAL_S - 0.02


async def test_a_write_held_off_past_the_deadline_is_not_acknowledged_and_written_on_the_retry(
        served: Served) -> None:
    first, second = await served.create_run(number=1), await served.create_run(number=2)
    assert (await served.post(catalog.RUN_CREATED, outcome(first, pr=1), id="a")).status_code == 202
    served.github.min_write_gap_s = 60.0  # the next write comes too soon: secondary limit, retry-after 3 s
    served.github.write_retry_after_s = int(DEADLINE_S) + 1
    assert (await served.post(catalog.RUN_CREATED, outcome(second, pr=2), id="b")).status_code == 503
    name = second["metadata"]["name"]
    assert pipelines.A_CHECK_RUN_ID not in (await served.run(name))["metadata"]["annotations"]
    served.github.min_write_gap_s = 0.0
    await asyncio.sleep(2.0)  # what is left of the hold (1 s) is then well within the deadline: the client waits it out
    assert (await served.post(catalog.RUN_CREATED, outcome(second, pr=2), id="b")).status_code == 202  # the retry
    assert [c.status for c in served.github.calls_to("checks/create")] == [201, 403, 201]
    assert pipelines.A_CHECK_RUN_ID in (await served.run(name))["metadata"]["annotations"]
