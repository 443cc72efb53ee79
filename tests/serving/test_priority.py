"""``devchain.priority``: what a function started by ``tekton-dag dev`` after the ack applies to itself.

Each case runs in a child process: the policy and niceness stay with the process that set them.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = (
    "import os, sys\n"
    "from tekton_dag.devchain.priority import lower_priority\n"
    "applied = lower_priority({'TEKTON_DAG_NICE': sys.argv[1]} if sys.argv[1] else {})\n"
    "print(applied, os.getpriority(os.PRIO_PROCESS, 0), os.sched_getscheduler(0))\n"
)

linux_policies = pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="SCHED_BATCH is Linux's")


def probe(nice: str) -> tuple[int, int, int]:
    out = subprocess.run([sys.executable, "-c", PROBE, nice], capture_output=True, text=True, check=True).stdout
    applied, niceness, policy = (int(word) for word in out.split())
    return applied, niceness, policy


@linux_policies
def test_work_after_the_ack_runs_nicer_and_as_batch_so_its_wake_ups_never_preempt_the_ack_path() -> None:
    base = os.getpriority(os.PRIO_PROCESS, 0)
    assert probe("10") == (10, min(base + 10, 19), os.SCHED_BATCH)


@linux_policies
def test_without_the_variable_nothing_changes() -> None:
    # webhook-ingest under `dev`, and every function in a cluster (where pods' CPU requests do this)
    assert probe("") == (0, os.getpriority(os.PRIO_PROCESS, 0), os.sched_getscheduler(0))
    assert probe("0") == (0, os.getpriority(os.PRIO_PROCESS, 0), os.sched_getscheduler(0))
