"""The decisions of ``tekton_dag.checks``: names, texts, Tekton's end states, commit statuses, targets."""

from __future__ import annotations

import pytest

from runcreator.conftest import NAMESPACE, pr_request
from statusreporter.conftest import REPO
from tekton_dag import pipelines
from tekton_dag.checks import reports
from tekton_dag.checks.states import Report, advances, conclusion_of_tekton
from tekton_dag.checks.targets import recorded_of, target_of, target_of_run
from tekton_dag.config.models import Config, GitHubReporting
from tekton_dag.pipelineruns.building import build_pipelinerun


@pytest.mark.parametrize(("status", "reason", "conclusion"), [
    ("True", "Succeeded", "success"), ("True", "Completed", "success"), ("False", "Failed", "failure"),
    ("False", "PipelineRunTimeout", "timed_out"), ("False", "Cancelled", "cancelled"),
    ("False", "StoppedRunFinally", "cancelled"), ("False", "CouldntGetPipeline", "failure"),
    ("Unknown", "Running", None),
])
def test_tekton_end_states_become_check_conclusions(status: str, reason: str, conclusion: str | None) -> None:
    assert conclusion_of_tekton(status, reason) == conclusion


def test_reports_only_advance() -> None:
    queued, running, done = reports.queued(1, 3), reports.admitted(), reports.not_created("x")
    assert advances(None, queued) and advances("queued", running) and advances("in_progress", done)
    assert not advances("queued", queued) and not advances("in_progress", queued)
    assert not advances("completed", running) and not advances("completed", done)


def test_names_and_details_urls() -> None:
    assert reports.check_name("stack-one", "demo-fe") == "tekton-dag / stack-one (demo-fe)"
    template = "https://dash.example/#/namespaces/{namespace}/pipelineruns/{name}"
    link = GitHubReporting(details_url=template).details_link("ns", "run-1")
    assert link == "https://dash.example/#/namespaces/ns/pipelineruns/run-1"
    assert GitHubReporting().details_link("ns", "run-1") is None


def test_the_task_summary_lists_children_and_skipped_tasks_and_escapes_tables() -> None:
    run = {"status": {"conditions": [{"type": "Succeeded", "status": "False", "reason": "Failed",
                                      "message": "Tasks Completed: 2 (Failed: 1, Cancelled 0), Skipped: 1"}],
                      "childReferences": [{"name": "r-a", "pipelineTaskName": "a|b"}],
                      "skippedTasks": [{"name": "post-result", "reason": "When Expressions evaluated to false"}]}}
    report = reports.from_tekton("dev.tekton.event.pipelinerun.failed.v1", run)
    assert report is not None and (report.status, report.conclusion) == ("completed", "failure")
    assert report.summary.startswith("Failed: Tasks Completed: 2")
    assert "| a\\|b | `r-a` |" in report.summary
    assert "| post-result | skipped (When Expressions evaluated to false) |" in report.summary


def test_stopping_and_pending_runs_are_not_shown_run_creator_says_whether_a_run_waits() -> None:
    for reason in ("PipelineRunStopping", "PipelineRunPending"):
        run = {"status": {"conditions": [{"type": "Succeeded", "status": "Unknown", "reason": reason}]}}
        assert reports.from_tekton("dev.tekton.event.pipelinerun.unknown.v1", run) is None, reason


@pytest.mark.parametrize(("report", "state"), [
    (reports.queued(1, 3), "pending"), (reports.admitted(), "pending"),
    (Report("completed", "success", "Succeeded", "s"), "success"), (reports.not_created("x"), "failure"),
    (reports.cancelled("closed"), "error"), (Report("completed", "timed_out", "Timed out", "s"), "error"),
])
def test_commit_statuses_map_each_check_state(report: Report, state: str) -> None:
    assert reports.commit_status(report)[0] == state
    assert len(reports.commit_status(Report("queued", None, "x" * 300, "s"))[1]) == 140


def test_a_run_of_a_team_with_checks_is_a_target_and_others_are_not(config: Config) -> None:
    team = config.team("default")
    assert team is not None and team.stack("stack-one") is not None
    run = build_pipelinerun(pr_request(), team, team.stack("stack-one"))  # type: ignore[arg-type]
    target = target_of_run(config, run)
    assert target is not None
    assert (target.repo, target.head_sha, target.stack, target.app) == (REPO, "a" * 40, "stack-one", "demo-fe")
    assert target.installation_id is None
    run["metadata"]["annotations"][pipelines.A_GITHUB_INSTALLATION] = "77"
    assert target_of_run(config, run).installation_id == 77  # type: ignore[union-attr]
    moved = {**run, "metadata": {**run["metadata"], "namespace": "elsewhere"}}
    assert target_of_run(config, moved) is None
    common = {"team": "default", "namespace": NAMESPACE, "pipelinerun": "r", "stack": "s", "app": "a",
              "head_sha": "a" * 40}
    assert target_of(config, repo="someone/else", **common) is None
    assert target_of(config, repo=REPO.upper(), **common) is not None  # GitHub's names are case-insensitive
    assert target_of(config, repo=REPO, **{**common, "team": "commerce"}) is None  # no github.checks


def test_recorded_annotations_are_read_back() -> None:
    run = {"metadata": {"resourceVersion": "7", "annotations": {pipelines.A_CHECK_RUN_ID: "12",
                                                                 pipelines.A_CHECK_STATUS: "in_progress"}}}
    recorded = recorded_of(run)
    assert (recorded.check_run_id, recorded.status, recorded.version) == (12, "in_progress", "7")
    assert recorded_of({"metadata": {"annotations": {pipelines.A_CHECK_RUN_ID: "x"}}}).check_run_id is None
