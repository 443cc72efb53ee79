"""A run's check state and the one rule that keeps it monotonic.

A check moves ``queued`` → ``in_progress`` → ``completed`` and never back: events reach
status-reporter out of order (the Broker retries, Tekton and run-creator publish independently)
and more than once, so a report is applied only when it moves the check forward. The first
``completed`` wins: a later ``completed`` (e.g. Tekton's ``failed`` after run-creator already said
the run was superseded) changes nothing, and neither does a redelivered event.

Tekton's end states (``Succeeded`` condition) map to check conclusions here. Reasons from
tektoncd/pipeline ``pkg/apis/pipeline/v1/pipelinerun_types.go`` (``PipelineRunReasonTimedOut`` =
``PipelineRunTimeout``, ``PipelineRunReasonCancelled`` = ``Cancelled``,
``PipelineRunReasonCancelledRunningFinally`` = ``CancelledRunningFinally``, ``...StoppedRunningFinally``)
and ``docs/pipelineruns.md`` ("Monitoring execution status").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

# GitHub's REST values (https://docs.github.com/en/rest/checks/runs, /commits/statuses). Declared
# here, in the decisions layer, because ``github.port`` sits above it and imports them from here.
CheckStatus = Literal["queued", "in_progress", "completed"]
CheckConclusion = Literal["success", "failure", "cancelled", "timed_out", "neutral", "skipped", "action_required"]
CommitState = Literal["pending", "success", "failure", "error"]

RANK: Final[dict[str, int]] = {"queued": 0, "in_progress": 1, "completed": 2}

TIMED_OUT_REASONS: Final = frozenset({"PipelineRunTimeout"})
CANCELLED_REASONS: Final = frozenset({"Cancelled", "CancelledRunningFinally", "StoppedRunningFinally",
                                      "CancelledRunFinally", "StoppedRunFinally"})


@dataclass(frozen=True, slots=True)
class Report:
    """What one event says about one PipelineRun's check: its new status and the text for it."""

    status: CheckStatus
    conclusion: CheckConclusion | None
    title: str
    summary: str


def advances(recorded: str | None, report: Report) -> bool:
    """Whether ``report`` moves a check last reported as ``recorded`` (None: never) forward."""
    if recorded is None:
        return True
    return RANK[report.status] > RANK.get(recorded, -1)


def conclusion_of_tekton(status: str, reason: str) -> CheckConclusion | None:
    """The conclusion of a finished run from its ``Succeeded`` condition (None: not finished)."""
    if status == "True":
        return "success"
    if status != "False":
        return None
    if reason in TIMED_OUT_REASONS:
        return "timed_out"
    if reason in CANCELLED_REASONS:
        return "cancelled"
    return "failure"
