"""status-reporter through its CloudEvent interface: run outcomes and Tekton's events in, GitHub calls
out (through the real client to the GitHub API double), the check run id on the PipelineRun in the
fake API, as status-reporter's own ServiceAccount under the chart's RBAC."""

from __future__ import annotations

import asyncio
import copy
import logging
import shutil
from typing import Any

from runcreator.conftest import NAMESPACE, TEAMS
from statusreporter.conftest import DEADLINE_S, REPO, Served, started
from support.githubapi import environment
from tekton_dag import pipelines
from tekton_dag.events import catalog
from tekton_dag.observability import metrics
from tekton_dag.testing import tekton_events


def tekton(run: dict[str, Any], status: str, reason: str, message: str = "",
           children: tuple[str, ...] = ()) -> tuple[str, dict[str, Any]]:
    """Tekton's event type and data for ``run`` with this Succeeded condition (as Tekton builds them)."""
    run = copy.deepcopy(run)
    run["status"] = {"conditions": [{"type": "Succeeded", "status": status, "reason": reason, "message": message}],
                     "childReferences": [{"apiVersion": "tekton.dev/v1", "kind": "TaskRun",
                                          "name": f"{run['metadata']['name']}-{task}", "pipelineTaskName": task}
                                         for task in children]}
    event = tekton_events.cloud_event(run)
    return event.get_type(), event.get_data()  # type: ignore[return-value]


def outcome(run: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """run-creator's outcome data for ``run`` (functions/run_creator.py ``_outcome_data``)."""
    return {"team": "default", "stack": "stack-one", "app": "demo-fe", "pipeline": "stack-pr-test",
            "delivery": run["metadata"]["annotations"][pipelines.A_DELIVERY], "namespace": NAMESPACE,
            "pipelinerun": run["metadata"]["name"], "repo": REPO,
            "head_sha": run["metadata"]["annotations"][pipelines.A_HEAD_SHA], "pr": 42, **extra}


def calls(served: Served) -> list[tuple[str, str, str | None]]:
    return [(c["call"], c["status"], c["conclusion"]) for c in served.calls()]


async def test_a_queued_run_gets_a_queued_check_with_its_place_and_the_team_limit(served: Served) -> None:
    run = await served.create_run()
    response = await served.post(catalog.RUN_QUEUED, outcome(run, position=2, limit=3))
    assert response.status_code == 202
    [create] = served.calls()
    name = run["metadata"]["name"]
    assert create["call"] == "create_check_run" and create["status"] == "queued" and create["conclusion"] is None
    assert create["name"] == "tekton-dag / stack-one (demo-fe)" and create["external_id"] == name
    assert create["head_sha"] == "a" * 40 and create["repo"] == REPO
    assert "number 2 in the team's queue" in create["summary"] and "3 runs at a time" in create["summary"]
    assert create["details_url"] == f"https://dashboard.example/#/namespaces/{NAMESPACE}/pipelineruns/{name}"
    annotations = (await served.run(name))["metadata"]["annotations"]
    assert annotations[pipelines.A_CHECK_RUN_ID] == str(create["id"])
    assert annotations[pipelines.A_CHECK_STATUS] == "queued"


async def test_tekton_pending_before_run_queued_leaves_the_queue_place_to_run_queued(served: Served) -> None:
    """Tekton's ``unknown`` / PipelineRunPending can overtake run-creator's ``run.queued`` (both follow
    the same create); it used to make the check's one ``queued`` call, without the place or the limit,
    and ``run.queued`` then changed nothing. An admitted run is created Pending too: no "waiting"."""
    run = await served.create_run()
    assert (await served.post(*tekton(run, "Unknown", "PipelineRunPending"), id="p1")).status_code == 202
    assert served.calls() == []
    assert (await served.post(catalog.RUN_QUEUED, outcome(run, position=1, limit=3), id="q1")).status_code == 202
    [create] = served.calls()
    assert "number 1 in the team's queue" in create["summary"] and "3 runs at a time" in create["summary"]


async def test_created_started_succeeded_is_three_calls_with_the_tasks_in_the_summary(served: Served) -> None:
    run = await served.create_run()
    await served.post(catalog.RUN_CREATED, outcome(run), id="e1")
    await served.post(*tekton(run, "Unknown", "Started"), id="e2")
    await served.post(*tekton(run, "Unknown", "Running", "Tasks Completed: 1", ("resolve-stack",)), id="e3")
    done = tekton(run, "True", "Succeeded", "Tasks Completed: 2 (Failed: 0, Cancelled 0), Skipped: 0",
                  ("resolve-stack", "post-result"))
    await served.post(*done, id="e4")
    assert calls(served) == [("create_check_run", "queued", None), ("update_check_run", "in_progress", None),
                             ("update_check_run", "completed", "success")]
    last = served.calls()[-1]
    assert last["title"] == "Succeeded"
    assert "| resolve-stack |" in last["summary"] and "| post-result |" in last["summary"]
    assert {c.get("id") for c in served.calls()} == {served.calls()[0]["id"]}


async def test_late_and_redelivered_events_change_nothing(served: Served) -> None:
    run = await served.create_run()
    await served.post(*tekton(run, "False", "Failed", "Tasks Completed: 1 (Failed: 1, Cancelled 0)"), id="f")
    for kind, data, event_id in [(catalog.RUN_QUEUED, outcome(run, position=1, limit=3), "q"),
                                 (*tekton(run, "Unknown", "Started"), "s"),
                                 (*tekton(run, "True", "Succeeded"), "late-success"),
                                 (*tekton(run, "False", "Failed"), "f")]:
        assert (await served.post(kind, data, id=event_id)).status_code == 202
    assert calls(served) == [("create_check_run", "completed", "failure")]


async def test_a_forged_tekton_event_cannot_complete_a_check(served: Served) -> None:
    """Tekton's events are not sealed: anyone who can reach the Broker can send one. The check
    follows the run as the API has it, so a forged "successful" for a run still going reports
    nothing, and the run's real failure is what the check shows. Before, the event's own
    pipelineRun decided: the check passed, and the real failure changed nothing after it."""
    run = await served.create_run()
    await served.post(catalog.RUN_CREATED, outcome(run), id="c")
    forged = await served.post(*tekton(run, "True", "Succeeded"), id="forged", forged=True)
    assert forged.status_code == 202
    assert calls(served) == [("create_check_run", "queued", None)]
    await served.post(*tekton(run, "False", "Failed", "Tasks Completed: 1 (Failed: 1, Cancelled 0)"), id="f")
    assert calls(served)[-1] == ("update_check_run", "completed", "failure")


async def test_two_events_at_once_create_one_check_run(served: Served) -> None:
    served.github.fail("slow", match="/check-runs", seconds=0.1)  # the first create is in flight when b arrives
    run = await served.create_run()
    await asyncio.gather(served.post(catalog.RUN_CREATED, outcome(run), id="a"),
                         served.post(*tekton(run, "Unknown", "Started"), id="b"))
    assert [c["call"] for c in served.calls()].count("create_check_run") == 1


async def test_timeouts_and_cancellations_get_their_conclusions(served: Served) -> None:
    timed_out = await served.create_run(number=1)
    await served.post(*tekton(timed_out, "False", "PipelineRunTimeout", "timed out after 1h0m0s"), id="t")
    cancelled = await served.create_run(number=2)
    await served.post(*tekton(cancelled, "False", "Cancelled", "was cancelled"), id="c")
    assert [c["conclusion"] for c in served.calls()] == ["timed_out", "cancelled"]


async def test_a_superseded_run_says_by_which_head(served: Served) -> None:
    old = await served.create_run(sha="a" * 40)
    await served.post(catalog.RUN_CREATED, outcome(old), id="old")
    new = await served.create_run(sha="b" * 40)
    await served.post(catalog.RUN_CREATED, outcome(new, superseded=[old["metadata"]["name"]]), id="new")
    old_calls = [c for c in served.calls() if c.get("id") == served.calls()[0]["id"]]
    assert [(c["status"], c["conclusion"]) for c in old_calls] == [("queued", None), ("completed", "cancelled")]
    assert "b" * 40 in old_calls[-1]["summary"] and old_calls[-1]["title"] == f"Superseded by {'b' * 12}"


async def test_a_closed_pull_request_cancels_its_checks(served: Served) -> None:
    run = await served.create_run()
    await served.post(catalog.RUN_CREATED, outcome(run), id="c1")
    cancel = {"team": "default", "stack": "stack-one", "app": "demo-fe", "pr_number": 42, "reason": "closed",
              "delivery": "d", "pipelineruns": [run["metadata"]["name"]]}
    await served.post(catalog.RUN_CANCELLED, cancel, id="c2")
    assert calls(served)[-1] == ("update_check_run", "completed", "cancelled")
    assert "closed" in served.calls()[-1]["summary"]


async def test_a_run_that_could_not_be_created_gets_one_failed_check_with_the_reason(served: Served) -> None:
    failed = {"team": "default", "stack": "stack-one", "app": "demo-fe", "pipeline": "stack-pr-test",
              "delivery": "d-9", "namespace": NAMESPACE, "pipelinerun": "stack-one-demo-fe-pr9-0123456789",
              "repo": REPO, "head_sha": "c" * 40, "pr": 9, "reason": "admission webhook denied the request",
              "installation_id": 1001}  # run-creator's outcome names the App installation of the webhook
    for _ in range(2):  # the Broker redelivers
        assert (await served.post(catalog.RUN_FAILED, failed, id="f-9")).status_code == 202
    [check] = served.calls()
    assert (check["status"], check["conclusion"], check["head_sha"]) == ("completed", "failure", "c" * 40)
    assert "admission webhook denied the request" in check["summary"]


async def test_namespaces_of_teams_without_checks_cost_no_api_call(served: Served, tekton_free_api) -> None:
    data = {"team": "commerce", "namespace": "commerce-ci", "pipelinerun": "shop-x-pr1-abc", "head_sha": "e" * 40}
    assert (await served.post(catalog.RUN_CREATED, data, id="n1")).status_code == 202
    assert (await served.post(catalog.RUN_STARTED, {**data, "pipelineruns": ["a"]}, id="n2")).status_code == 202
    assert "system:serviceaccount:tekton-dag-default:tekton-dag-status-reporter" not in tekton_free_api.callers
    assert served.calls() == []


async def test_repositories_and_teams_without_checks_get_nothing(served: Served) -> None:
    unknown = {"team": "default", "stack": "stack-one", "app": "x", "pipeline": "stack-pr-test", "delivery": "d",
               "namespace": NAMESPACE, "pipelinerun": "", "repo": "someone/else", "head_sha": "d" * 40,
               "reason": "no"}
    await served.post(catalog.RUN_FAILED, unknown, id="u1")
    await served.post(catalog.RUN_FAILED, {**unknown, "team": "commerce", "repo": REPO}, id="u2")
    await served.post(catalog.RUN_FAILED, {**unknown, "team": "nobody", "repo": REPO}, id="u3")
    assert served.calls() == []


async def test_github_unavailable_is_retried_and_github_refusing_is_acked(served: Served) -> None:
    run = await served.create_run()
    before = metrics.CHECK_REPORTS.labels("default", "refused")._value.get()
    served.github.down_for(DEADLINE_S + 0.5)  # longer than the client's deadline: it gives up, retryable
    assert (await served.post(catalog.RUN_CREATED, outcome(run), id="r")).status_code == 503
    assert pipelines.A_CHECK_RUN_ID not in (await served.run(run["metadata"]["name"]))["metadata"]["annotations"]
    while served.github.down:  # the client gives up as soon as its next try would pass the deadline,
        await asyncio.sleep(0.05)  # which may be before the outage ends; the Broker retries later
    assert (await served.post(catalog.RUN_CREATED, outcome(run), id="r")).status_code == 202  # the Broker's retry
    assert calls(served) == [("create_check_run", "queued", None)]
    served.github.installations[1001] = {"someone/else"}  # the App lost access to the repository: 404
    assert (await served.post(*tekton(run, "Unknown", "Started"), id="s")).status_code == 202
    assert metrics.CHECK_REPORTS.labels("default", "refused")._value.get() == before + 1


async def test_commit_statuses_with_a_token(served: Served, tmp_path) -> None:
    served.github.plain_tokens.add("ghp_plain")
    served.restart(environment(served.github, tmp_path, app=False, token="ghp_plain"))
    run = await served.create_run()
    await served.post(catalog.RUN_QUEUED, outcome(run, position=1, limit=3), id="q")
    await served.post(*tekton(run, "True", "Succeeded"), id="s")
    assert [(c["call"], c["state"], c["context"]) for c in served.calls()] == [
        ("set_commit_status", "pending", "tekton-dag / stack-one (demo-fe)"),
        ("set_commit_status", "success", "tekton-dag / stack-one (demo-fe)")]
    assert len(served.calls()[0]["description"]) <= 140
    assert (await served.run(run["metadata"]["name"]))["metadata"]["annotations"][pipelines.A_CHECK_STATUS] == \
        "completed"


async def test_with_an_app_and_a_token_a_run_without_an_installation_gets_commit_statuses(
        served: Served, tmp_path) -> None:
    """docs/github.md: with both, the App acts for webhooks that carry an installation and the token
    for the others (repository webhooks). Check runs are only for GitHub Apps (a token gets GitHub's
    403 "You must authenticate via a GitHub App."): the token's runs get commit statuses."""
    served.github.plain_tokens.add("ghp_plain")
    served.restart(environment(served.github, tmp_path, app=True, token="ghp_plain"))
    through_app = await served.create_run()
    through_token = await served.create_run(number=43, sha="b" * 40)  # a repository webhook's: no installation
    await served.admin.patch_run(NAMESPACE, through_token["metadata"]["name"],
                                 {"metadata": {"annotations": {pipelines.A_GITHUB_INSTALLATION: None}}})
    for run, key in ((through_app, "a"), (through_token, "t")):
        queued = await served.post(catalog.RUN_QUEUED, outcome(run, position=1, limit=3), id=f"q{key}")
        assert queued.status_code == 202
        assert (await served.post(*tekton(run, "True", "Succeeded"), id=f"s{key}")).status_code == 202
    assert [(c["call"], c["repo"], c.get("head_sha") or c.get("sha"), c.get("status") or c.get("state"))
            for c in served.calls()] == [
        ("create_check_run", REPO, "a" * 40, "queued"), ("update_check_run", REPO, None, "completed"),
        ("set_commit_status", REPO, None, "pending"), ("set_commit_status", REPO, None, "success")]
    assert [(c.operation, c.status) for c in served.github.calls if c.status >= 400] == []
    assert [c.credential for c in served.github.calls if c.operation == "repos/create-commit-status"] == ["token"] * 2


async def test_malformed_events_are_refused_for_good(served: Served) -> None:
    assert (await served.post(catalog.TEKTON_PIPELINERUN_STARTED, {"pipelineRun": {}})).status_code == 400
    assert (await served.post(catalog.RUN_STARTED, {"namespace": NAMESPACE, "pipelineruns": "x"})).status_code == 400


async def test_tekton_events_of_any_shape_are_answered_not_crashed_on(served: Served) -> None:
    # Tekton's events are unsealed: whoever reaches the Broker writes their shape.
    odd_metadata = await served.post(catalog.TEKTON_PIPELINERUN_STARTED, {"pipelineRun": {"metadata": "x"}},
                                     forged=True)
    assert odd_metadata.status_code == 400 and "metadata" in odd_metadata.text
    odd_labels = {"pipelineRun": {"metadata": {"name": "a", "namespace": NAMESPACE, "labels": ["x"]}}}
    assert (await served.post(catalog.TEKTON_PIPELINERUN_STARTED, odd_labels, forged=True)).status_code < 500


async def test_digits_int_refuses_are_not_numbers_here(served: Served) -> None:
    """``str.isdigit`` takes "²" and "¹", which ``int`` refuses: an installation id or a check run
    id annotation like that is no number, not a crash."""
    run = await served.create_run()
    failed = {**outcome(run), "installation_id": "\u00b2", "reason": "x"}
    assert (await served.post(catalog.RUN_FAILED, failed, id="f-sup")).status_code == 202
    other = await served.create_run(number=43, sha="d" * 40)
    name = other["metadata"]["name"]
    await served.admin.patch_run(NAMESPACE, name, {"metadata": {"annotations": {pipelines.A_CHECK_RUN_ID: "\u00b9"}}})
    assert (await served.post(catalog.RUN_STARTED, {"namespace": NAMESPACE, "pipelineruns": [name]},
                              id="s-sup")).status_code == 202


async def test_a_summary_longer_than_github_takes_is_cut_by_its_bytes_and_the_check_completes(
        served: Served) -> None:
    """GitHub's 65535 limit on ``output.summary`` counts UTF-8 bytes (the double refuses more with
    GitHub's 422, github/docs#35252); a run failing with a long message must still complete its check."""
    run = await served.create_run()
    assert (await served.post(*tekton(run, "Unknown", "Running"), id="t-run")).status_code == 202
    assert (await served.post(*tekton(run, "False", "Failed", "é" * 40000), id="t-fail")).status_code == 202
    assert calls(served)[-1] == ("update_check_run", "completed", "failure")
    summary = served.calls()[-1]["summary"]
    assert len(summary.encode()) <= 65535 and summary.endswith("…")
    failed = {**outcome(run, pipelinerun="never-made", head_sha="e" * 40), "reason": "ж" * 40000,
              "installation_id": 1001}
    assert (await served.post(catalog.RUN_FAILED, failed, id="f-long")).status_code == 202
    assert calls(served)[-1] == ("create_check_run", "completed", "failure")
    assert len(served.calls()[-1]["summary"].encode()) <= 65535
    assert not served.github.violations


async def test_without_a_github_client_it_is_not_ready_while_a_team_wants_checks(
    reporter_store, teams, tmp_path, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="tekton_dag.functions.status_reporter")  # whatever earlier tests set
    function = started(reporter_store, {}, teams)
    ok, why = function.ready()
    assert not ok and "GITHUB_APP_ID" in why and "github.appId" in why and "github.tokenSecret" in why
    assert [r.levelname for r in caplog.records if "no GitHub access" in r.getMessage()] == ["ERROR"]
    function.stop()
    caplog.clear()
    plain = tmp_path / "plain-teams"
    shutil.copytree(TEAMS, plain)
    function = started(reporter_store, {}, plain)
    assert function.ready() == (True, "OK")  # nobody asks for checks: nothing to reach
    # ... so nothing is wrong either: no error in the log at every start
    assert [r.levelname for r in caplog.records if "no GitHub access" in r.getMessage()] == ["INFO"]
    function.stop()


async def test_a_misconfigured_github_says_which_variable(reporter_store, teams, tmp_path) -> None:
    function = started(reporter_store, {"GITHUB_APP_ID": "1", "GITHUB_APP_PRIVATE_KEY_FILE": str(tmp_path / "no")},
                       teams)
    ok, why = function.ready()
    assert not ok and "GITHUB_APP_PRIVATE_KEY_FILE" in why and "cannot read" in why
    function.stop()


async def test_the_client_made_from_the_environment_acts_as_the_app(served: Served) -> None:
    """One installation token for many calls; every call validated against GitHub's OpenAPI description."""
    for number in (1, 2):
        run = await served.create_run(number=number)
        await served.post(catalog.RUN_CREATED, outcome(run), id=f"c{number}")
        await served.post(*tekton(run, "True", "Succeeded"), id=f"s{number}")
    operations = [c.operation for c in served.github.calls]
    assert operations.count("apps/create-installation-access-token") == 1
    assert operations.count("checks/create") == 2 and operations.count("checks/update") == 2
    assert {c.credential for c in served.github.calls if c.operation.startswith("checks/")} == {"installation"}


async def test_github_access_that_arrives_after_the_start_needs_no_new_pod(
        served: Served, github_env: dict[str, str], monkeypatch, caplog) -> None:
    """The chart mounts the App's key as an optional Secret, so a release is Ready before it exists;
    once it is created (the kubelet puts the file in place) status-reporter reports without a restart,
    trying at most every GITHUB_RETRY_S (was: not ready until a new pod started)."""
    from pathlib import Path

    from tekton_dag.functions import status_reporter

    caplog.set_level(logging.INFO, logger="tekton_dag.functions.status_reporter")
    key = Path(github_env["GITHUB_APP_PRIVATE_KEY_FILE"])
    pem = key.read_text()
    key.unlink()
    served.restart(github_env)
    ok, why = served.function.ready()
    assert not ok and "GITHUB_APP_PRIVATE_KEY_FILE" in why and "cannot read" in why
    run = await served.create_run()
    assert (await served.post(catalog.RUN_CREATED, outcome(run), id="early")).status_code == 503  # the Broker retries
    monkeypatch.setattr(status_reporter, "GITHUB_RETRY_S", 0.0)
    assert not served.function.ready()[0] and not served.function.ready()[0]  # tried again: still no key
    monkeypatch.setattr(status_reporter, "GITHUB_RETRY_S", 10.0)
    key.write_text(pem)
    assert not served.function.ready()[0]  # tried again only once GITHUB_RETRY_S has passed
    monkeypatch.setattr(status_reporter, "GITHUB_RETRY_S", 0.0)
    assert served.function.ready() == (True, "OK")
    assert (await served.post(catalog.RUN_CREATED, outcome(run), id="early")).status_code == 202
    assert calls(served) == [("create_check_run", "queued", None)]
    said = [r.getMessage() for r in caplog.records if "GitHub access" in r.getMessage()]
    assert said[-1] == "GitHub access configured (checks): reporting from now on"
    assert sum("cannot read" in m for m in said) == 1  # the failure said once, not at every retry


async def test_a_stopped_status_reporter_makes_no_github_client(
        reporter_store, teams, github_env: dict[str, str], monkeypatch) -> None:
    """After stop, nothing would close a client made by a late probe or event: none is made."""
    from pathlib import Path

    from tekton_dag.functions import status_reporter

    key = Path(github_env["GITHUB_APP_PRIVATE_KEY_FILE"])
    pem = key.read_text()
    key.unlink()
    function = started(reporter_store, github_env, teams)
    assert not function.ready()[0]
    function.stop()
    key.write_text(pem)
    monkeypatch.setattr(status_reporter, "GITHUB_RETRY_S", 0.0)
    assert not function.ready()[0] and function.reporter is None
