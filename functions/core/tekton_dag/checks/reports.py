"""What each event says about a run's check: titles and Markdown summaries, no I/O.

One ``Report`` per event kind: run-creator's outcomes (``run.created`` / ``queued`` / ``started`` /
``failed`` / ``cancelled``, see ``functions/run_creator.py``) and Tekton's PipelineRun events (the
run as Tekton sent it, ``{"pipelineRun": <v1beta1 run>}``; ``testing/tekton_events.py`` cites how
Tekton builds them). The summary of a finished run lists the pipeline's tasks from
``status.childReferences`` (v1: name and pipelineTaskName of each TaskRun; Tekton no longer embeds
the TaskRuns' own status, ``docs/pipeline-api.md`` ``ChildStatusReference``) and
``status.skippedTasks`` (name and reason), with the condition's message (``Tasks Completed: 3
(Failed: 1, Cancelled 0), Skipped: 0``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tekton_dag.checks.states import CheckConclusion, CommitState, Report, conclusion_of_tekton

Object = Mapping[str, Any]
# GitHub's limits: a commit status description is a "short description" that GitHub cuts at 140
# characters; a check run's summary is cut where it leaves for GitHub (github/client.py).
MAX_DESCRIPTION = 140
MAX_TASK_ROWS = 100

TEKTON_PREFIX = "dev.tekton.event.pipelinerun."
_CONCLUSION_TITLES: dict[str, str] = {
    "success": "Succeeded", "failure": "Failed", "cancelled": "Cancelled", "timed_out": "Timed out",
}


def queued(position: int, limit: int) -> Report:
    """Created but held by the team's admission limit (``run.queued``)."""
    where = f"number {position} in the team's queue" if position > 0 else "in the team's queue"
    limit_text = f"{limit} runs at a time" if limit > 0 else "its limit of runs at a time"
    summary = (f"Waiting: {where}. The team runs {limit_text} (`maxConcurrentRuns`); "
               "this run starts when a slot frees.")
    return Report("queued", None, f"Queued ({where})", summary)


def created() -> Report:
    """Created and admitted (``run.created``): Tekton starts it next."""
    return Report("queued", None, "Starting", "The PipelineRun was created and holds a slot; Tekton is starting it.")


def admitted() -> Report:
    """A queued run got its slot (``run.started``)."""
    return Report("in_progress", None, "Running", "The run left the team's queue and is running.")


def not_created(reason: str) -> Report:
    """``run.failed``: the run could not be created; the reason says why."""
    return Report("completed", "failure", "Not started", f"The PipelineRun could not be created: {reason}")


def cancelled(reason: str, by_head: str = "") -> Report:
    """Cancelled by the chain: superseded by a newer head, or the PR closed."""
    if by_head:
        return Report("completed", "cancelled", f"Superseded by {by_head[:12]}",
                      f"Cancelled: head `{by_head}` of the pull request superseded this run.")
    return Report("completed", "cancelled", "Cancelled", f"Cancelled: {reason or 'asked to cancel'}.")


def from_tekton(event_type: str, run: Object) -> Report | None:
    """The report for one of Tekton's PipelineRun events; None for states a check does not show
    (``unknown``: pending or stopping; anything else unknown)."""
    return _report(event_type.removeprefix(TEKTON_PREFIX).split(".")[0], run)


def _report(kind: str, run: Object) -> Report | None:
    """The report for ``run`` in the state Tekton's event kind names (``started``, ``running``,
    ``successful``, ``failed``; None for any other)."""
    condition = _succeeded(run)
    reason = str(condition.get("reason") or "")
    message = str(condition.get("message") or "")
    if kind in ("started", "running"):
        return Report("in_progress", None, "Running", _task_summary("Tekton is running the pipeline.", run))
    # Not ``unknown`` / PipelineRunPending either: every run is created Pending, an admitted one too,
    # so Tekton's pending event says nothing about the team's queue, and arriving before run-creator's
    # ``run.queued`` (its place and the team's limit) it would have won the check's one ``queued`` call.
    if kind not in ("successful", "failed"):
        return None
    conclusion = conclusion_of_tekton(str(condition.get("status") or ("True" if kind == "successful" else "False")),
                                      reason)
    assert conclusion is not None  # True or False by now
    head = f"{reason}: {message}" if reason and message else message or reason or kind
    return Report("completed", conclusion, _CONCLUSION_TITLES.get(conclusion, conclusion), _task_summary(head, run))


def from_run(run: Object) -> Report | None:
    """The report for a PipelineRun as the API has it now. Tekton cannot seal its events, so one
    only says when to look: reading its own ``pipelineRun`` would let a forged "successful" pass a
    required check (and a merge queue), and a late event of a deleted run of the same name would
    complete the new one's check."""
    condition = _succeeded(run)
    status, reason = str(condition.get("status") or ""), str(condition.get("reason") or "")
    if status == "True":
        kind = "successful"
    elif status == "False":
        kind = "failed"
    elif status == "Unknown" and reason in _RUNNING:
        kind = "running"
    else:
        return None  # pending, stopping, or no condition yet
    return _report(kind, run)


_RUNNING = frozenset({"Started", "Running"})  # Tekton's reasons for an Unknown Succeeded while it runs


def check_name(stack: str, app: str) -> str:
    """``tekton-dag / <stack> (<app>)``: one check per stack and changed app."""
    return f"tekton-dag / {stack} ({app})" if app else f"tekton-dag / {stack}"


def commit_status(report: Report) -> tuple[CommitState, str]:
    """The token fallback: a commit status ``state`` and ``description`` for ``report``."""
    states: dict[CheckConclusion | None, CommitState] = {
        None: "pending", "success": "success", "failure": "failure", "neutral": "success", "skipped": "success",
    }
    state = states.get(report.conclusion, "error") if report.status == "completed" else "pending"
    return state, _cut(report.title, MAX_DESCRIPTION)


def _succeeded(run: Object) -> Object:
    for condition in (run.get("status") or {}).get("conditions") or ():
        if isinstance(condition, Mapping) and condition.get("type") == "Succeeded":
            return condition
    return {}


def _task_summary(head: str, run: Object) -> str:
    """``head`` and a table of the run's tasks (those Tekton reported so far)."""
    status = run.get("status") or {}
    rows = [(str(c.get("pipelineTaskName") or "?"), f"`{c.get('name', '')}`")
            for c in status.get("childReferences") or () if isinstance(c, Mapping)]
    rows += [(str(s.get("name") or "?"), f"skipped ({s.get('reason') or 'when expressions'})")
             for s in status.get("skippedTasks") or () if isinstance(s, Mapping)]
    if not rows:
        return head
    lines = [head, "", "| Task | Run |", "| --- | --- |"]
    lines += [f"| {_cell(task)} | {_cell(what)} |" for task, what in rows[:MAX_TASK_ROWS]]
    if len(rows) > MAX_TASK_ROWS:
        lines.append(f"| … | {len(rows) - MAX_TASK_ROWS} more |")
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
