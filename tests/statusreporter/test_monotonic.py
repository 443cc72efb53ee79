"""Checks only move forward, whatever order and however often the events arrive (Broker retries,
Tekton and run-creator publishing independently): drawn sequences of one run's events, shuffled and
repeated, through the served function."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from statusreporter.conftest import Served
from statusreporter.test_function import outcome, tekton
from tekton_dag.checks.states import RANK
from tekton_dag.events import catalog

EVENTS = ("queued", "created", "started", "running", "pending", "succeeded", "failed", "timed_out", "cancelled")
CONCLUSIONS = {"succeeded": "success", "failed": "failure", "timed_out": "timed_out", "cancelled": "cancelled"}
numbers = itertools.count(100)


def event_for(name: str, run: dict) -> tuple[str, dict]:
    return {
        "queued": lambda: (catalog.RUN_QUEUED, outcome(run, position=1, limit=3)),
        "created": lambda: (catalog.RUN_CREATED, outcome(run)),
        "started": lambda: tekton(run, "Unknown", "Started"),
        "running": lambda: tekton(run, "Unknown", "Running", "Tasks Completed: 0"),
        "pending": lambda: tekton(run, "Unknown", "PipelineRunPending"),
        "succeeded": lambda: tekton(run, "True", "Succeeded"),
        "failed": lambda: tekton(run, "False", "Failed"),
        "timed_out": lambda: tekton(run, "False", "PipelineRunTimeout"),
        "cancelled": lambda: tekton(run, "False", "Cancelled"),
    }[name]()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=st.lists(st.sampled_from(EVENTS), min_size=1, max_size=8))
async def test_a_check_never_moves_back_and_the_first_end_wins(served: Served, sequence: list[str]) -> None:
    run = await served.create_run(number=next(numbers))
    name = run["metadata"]["name"]
    for index, event in enumerate(sequence):
        kind, data = event_for(event, run)
        assert (await served.post(kind, data, id=f"{name}-{event}")).status_code == 202, index
    mine = [c for c in served.calls()
            if c.get("external_id") == name or (c["call"] == "update_check_run" and c["id"] in _ids(served, name))]
    shown = any(e != "pending" for e in sequence)  # Tekton's pending says nothing a check shows (reports.py)
    assert [c["call"] for c in mine].count("create_check_run") == int(shown)
    ranks = [RANK[c["status"]] for c in mine]
    assert ranks == sorted(set(ranks)), "strictly forward, no repeats"
    assert len(mine) <= 3
    ends = [e for e in sequence if e in CONCLUSIONS]
    if ends:
        assert (mine[-1]["status"], mine[-1]["conclusion"]) == ("completed", CONCLUSIONS[ends[0]])


def _ids(served: Served, name: str) -> set[int]:
    return {c["id"] for c in served.calls() if c.get("external_id") == name}
