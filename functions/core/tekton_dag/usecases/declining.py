"""status-reporter's answer to a Re-run of an outdated head: settle the checks GitHub reset for it.

What GitHub does on a re-run (the description of checks/rerequest-run in @octokit/openapi, as
https://docs.github.com/en/rest/checks/runs#rerequest-a-check-run says): "When a check run is
`rerequested`, the `status` of the check suite it belongs to is reset to `queued` and the
`conclusion` is cleared. The check run itself is not updated. GitHub apps recieving the `check_run`
webhook with the `rerequested` action should then decide if the check run should be reset or
updated and call the update `check_run` endpoint to update the check_run if desired." For Re-run
all (https://docs.github.com/en/rest/checks/suites#rerequest-a-check-suite): "When a check suite
is `rerequested`, its `status` is reset to `queued` and the `conclusion` is cleared." The suite
shows as queued until the App writes its check runs again.

tekton-dag runs nothing for a head that is no longer its pull request's
(``events.github.outdated_reason``), so without this the suite would stay queued for ever. Each
re-requested check run of ours (``check_run``: the one pressed, found by listing only its name's
newest in the suite, GitHub's ``check_name``; ``check_suite``: the suite's newest of each of our
names) that had completed is updated in place (GitHub's advice above; an update is
also idempotent, so the Broker's retry writes the same again):

- its conclusion stays: the run that made it is still the truth about that commit. ``neutral`` or
  ``skipped`` would rewrite a failure as "nothing wrong" (branch protection counts both as passing);
- its title says it was not re-run; the summary says why, names the pull request's head now and how
  to test it (that head's Re-run, or ``/retest``), above the summary it had;
- ``stale`` (GitHub's, for a check run left incomplete for 14 days) cannot be written by an App
  (checks/update: "only GitHub can set this"): it becomes ``skipped``, as nothing ran to the end;
- a check run not completed is left alone: its PipelineRun still runs and will complete it.

The event is a hint, as Tekton's are: the pull request's head is read back from GitHub first, and
nothing is written when the re-run head is its head again (a force-push back: the re-run was
ignored anyway; pressing Re-run again then runs it). Only through an App installation
(``GitHub.mode_for`` is ``checks``): a plain token may not write check runs (github/client.py).
"""

from __future__ import annotations

import logging
from typing import Final, get_args

from tekton_dag.checks.states import CheckConclusion
from tekton_dag.events import github as events
from tekton_dag.github.port import CheckOutput, CheckRun, GitHub, Repo
from tekton_dag.usecases.reporting import Result

log = logging.getLogger(__name__)

TITLE_PREFIX: Final = "Not re-run: "
NOTE_END: Final = "\n\n---\n\n"  # between the note and the summary the check run had
CONCLUSIONS: Final = frozenset(get_args(CheckConclusion))


async def settle(github: GitHub, event: events.GitHubEvent) -> list[Result]:
    """Write the truth on the check runs an outdated re-run reset (module docstring); one result per
    check run written, or ``skipped`` / ``unchanged`` for nothing to write."""
    rerun = event.rerun
    if rerun is None or not rerun.newer_head_sha or not rerun.pr_number or not rerun.check_suite_id:
        return ["skipped"]
    owner, _, name = event.repo.partition("/")
    repo = Repo(owner, name, event.installation_id or None)
    if github.mode_for(repo) != "checks":
        return ["skipped"]
    head = await github.pull_request_head(repo, rerun.pr_number)
    if head.sha == rerun.head_sha:
        log.info("%s: %s is the head of #%d again: its re-run was ignored, nothing to settle",
                 event.repo, rerun.head_sha[:12], rerun.pr_number)
        return ["unchanged"]
    # One check pressed: only its name's newest check run is listed (GitHub's check_name), not the suite.
    pressed = (rerun.check_name or None) if event.name == events.CHECK_RUN else None
    runs = [run for run in await github.suite_check_runs(repo, rerun.check_suite_id, name=pressed)
            if events.check_target(run.name) and run.status == "completed"
            and (event.name == events.CHECK_SUITE or run.id == rerun.check_run_id)]
    for run in runs:
        await github.update_check_run(repo, run.id, status="completed", conclusion=_kept(run.conclusion),
                                      output=_output(run, rerun, head.sha))
    return ["updated"] * len(runs) or ["unchanged"]


def _kept(conclusion: str | None) -> CheckConclusion:
    return conclusion if conclusion in CONCLUSIONS else "skipped"  # type: ignore[return-value]


def _output(run: CheckRun, rerun: events.Rerun, newer: str) -> CheckOutput:
    """The note, then what the check run showed (its title and summary; once, however often Re-run is pressed)."""
    if run.title.startswith(TITLE_PREFIX):  # pressed before: keep what it showed before the first note
        earlier = run.summary.split(NOTE_END, 1)[-1]
    else:
        earlier = f"**{run.title}**\n\n{run.summary}" if run.summary else f"**{run.title}**"
    number = rerun.pr_number
    note = (f"**Not re-run.** A re-run was requested for {rerun.head_sha}, which is no longer the head of pull "
            f"request #{number}: its head is now {newer}. tekton-dag tests a pull request's head only, so nothing "
            f"ran again, and the result below is still the earlier run's.\n\n"
            f"To test #{number}, re-run the checks of {newer[:12]} or comment `/retest` on the pull request.")
    title = f"{TITLE_PREFIX}{rerun.head_sha[:12]} is no longer the head of #{number}"
    return CheckOutput(title, note + NOTE_END + earlier)
