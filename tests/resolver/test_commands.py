"""PR commands (checks.commands), and what the resolver decides for commands, Re-run buttons and
merge queues (resolution.resolve with GitHub's example payloads)."""

from __future__ import annotations

from typing import Any

import pytest

from tekton_dag import pipelines, resolution
from tekton_dag.checks.commands import Command, CommandError, parse
from tekton_dag.config.index import ResolverIndex
from tekton_dag.events import github
from tekton_dag.events.requests import CancelRequest, CommandRequest, RunRequest
from tekton_dag.pipelineruns.naming import run_name
from tekton_dag.testing.github import fixture


@pytest.mark.parametrize(("line", "command"), [
    ("/retest", Command("retest")),
    ("  /retest   hello ", Command("retest", app="hello")),
    ("/test web/hello", Command("retest", stack="web", app="hello")),
    ("/cancel", Command("cancel")),
])
def test_commands_parse(line: str, command: Command) -> None:
    assert parse(line) == command


@pytest.mark.parametrize(("line", "reply"), [
    ("/test hello", "`/test` needs one `<stack>/<app>`, got `hello` (to re-run app hello in every stack: "
                    "`/retest hello`)"),
    ("/test", "`/test` needs one `<stack>/<app>`."),
    ("/test a/b/c", "got `a/b/c`"),
    ("/test web/Hello", "`Hello` is not a app name"),
    ("/retest a b", "`/retest` takes at most one app name, got `a b`"),
    ("/cancel now", "`/cancel` takes no arguments, got `now`"),
    ("/retest `x`", "`'x'` is not a app name"),
    ("/retest " + "a" * 300, "longer than 200 characters"),
    ("/deploy", "`/deploy` is not a command"),
])
def test_a_malformed_command_gets_a_precise_reply(line: str, reply: str) -> None:
    with pytest.raises(CommandError) as caught:
        parse(line)
    assert reply in str(caught.value)
    assert str(caught.value).endswith("Commands: `/retest`, `/retest <app>`, `/test <stack>/<app>`, `/cancel`.")


def event(name: str, delivery: str = "d-1", change: Any = None) -> github.GitHubEvent:
    headers, payload = fixture(name)
    if change:
        change(payload)
    return github.parse_payload(headers["X-GitHub-Event"], delivery, payload)


def decide(index: ResolverIndex, name: str, delivery: str = "d-1", change: Any = None,
           signed_for: str = "") -> list[Any]:
    decisions = resolution.resolve(event(name, delivery, change), index, signed_for=signed_for, parse_command=parse)
    return [d.outcome for d in decisions]


def test_retest_asks_status_reporter_per_team(index: ResolverIndex) -> None:
    outcomes = decide(index, "issue_comment.pr-retest")
    assert all(isinstance(o, CommandRequest) for o in outcomes)
    assert {(o.team, o.action, o.pr_number, o.installation_id) for o in outcomes} == {
        ("payments", "retest", 2, 1), ("platform", "retest", 2, 1)}
    assert sorted((t.stack, t.app) for o in outcomes for t in o.targets) == [("pay", "hello"), ("web", "hello")]


def test_test_selects_one_stack(index: ResolverIndex) -> None:
    [outcome] = decide(index, "issue_comment.pr-test")
    assert isinstance(outcome, CommandRequest) and outcome.team == "platform"
    assert [(t.stack, t.app) for t in outcome.targets] == [("web", "hello")]


def test_a_command_selecting_nothing_is_one_reply(index: ResolverIndex) -> None:
    [outcome] = decide(index, "issue_comment.pr-retest", change=lambda p: p["comment"].update(body="/retest api"))
    assert isinstance(outcome, CommandRequest) and outcome.action == "" and not outcome.targets
    assert "selects nothing: repository Codertocat/Hello-World is built as pay/hello, web/hello" in outcome.error


def test_a_malformed_command_carries_its_reply(index: ResolverIndex) -> None:
    [outcome] = decide(index, "issue_comment.pr-malformed")
    assert isinstance(outcome, CommandRequest) and outcome.error.startswith("`/test` needs one `<stack>/<app>`")


def test_a_team_secret_limits_commands_to_its_team(index: ResolverIndex) -> None:
    [outcome] = decide(index, "issue_comment.pr-retest", signed_for="payments")
    assert isinstance(outcome, CommandRequest) and outcome.team == "payments"


def test_merge_group_runs_the_pr_pipeline_on_the_group_head(index: ResolverIndex) -> None:
    outcomes = {o.team: o for o in decide(index, "merge_group.checks_requested")}
    group = fixture("merge_group.checks_requested")[1]["merge_group"]
    for outcome in outcomes.values():
        assert isinstance(outcome, RunRequest) and outcome.pipeline == pipelines.PR_TEST
        assert outcome.revision == outcome.pr.head_sha == group["head_sha"]  # type: ignore[union-attr]
        assert outcome.merge_group == group["head_ref"] and outcome.pr.number == 2  # type: ignore[union-attr]


def test_merge_group_names_a_redelivery_alike_and_a_new_group_anew(index: ResolverIndex) -> None:
    first = decide(index, "merge_group.checks_requested", "d-1")
    again = decide(index, "merge_group.checks_requested", "d-2")  # GitHub asked twice for one group
    newer = decide(index, "merge_group.checks_requested", "d-3",
                   lambda p: p["merge_group"].update(head_sha="1" * 40))
    assert [run_name(r) for r in first] == [run_name(r) for r in again]
    assert not {run_name(r) for r in first} & {run_name(r) for r in newer}
    assert all(run_name(r).startswith(("web-hello-mq2-", "pay-hello-mq2-")) for r in first)


def test_a_destroyed_group_cancels_its_runs(index: ResolverIndex) -> None:
    outcomes = decide(index, "merge_group.destroyed")
    assert all(isinstance(o, CancelRequest) for o in outcomes)
    assert {(o.merge_group, o.reason) for o in outcomes} == {
        (fixture("merge_group.destroyed")[1]["merge_group"]["head_ref"], "merge group dequeued")}


def test_a_merge_group_outside_the_base_branches_is_ignored(index: ResolverIndex) -> None:
    change = lambda p: p["merge_group"].update(base_ref="refs/heads/main")  # noqa: E731
    outcomes = decide(index, "merge_group.checks_requested", change=change)
    assert all(isinstance(o, resolution.Ignored) and "does not match" in o.reason for o in outcomes)


def test_check_run_rerun_reruns_its_target_only_under_a_new_name(index: ResolverIndex) -> None:
    outcomes = {o.team: o for o in decide(index, "check_run.rerequested", "press-1")}
    platform, payments = outcomes["platform"], outcomes["payments"]
    assert isinstance(payments, resolution.Ignored) and "web/hello's" in payments.reason
    assert isinstance(platform, RunRequest) and platform.rerun == "press-1"
    opened = decide(index, "pull_request.opened", "open-1")
    first_run = next(o for o in opened if o.team == "platform")
    again = {o.team: o for o in decide(index, "check_run.rerequested", "press-1")}["platform"]
    second_press = {o.team: o for o in decide(index, "check_run.rerequested", "press-2")}["platform"]
    assert platform.pr and first_run.pr and platform.pr.head_sha == first_run.pr.head_sha  # same PR head
    assert run_name(platform) != run_name(first_run)  # a re-run is a new PipelineRun...
    assert run_name(platform) == run_name(again)  # ...its redelivery is not...
    assert run_name(second_press) != run_name(platform)  # ...and every press is


def test_someone_elses_check_is_not_ours(index: ResolverIndex) -> None:
    outcomes = decide(index, "check_run.rerequested", change=lambda p: p["check_run"].update(name="lint"))
    assert all(isinstance(o, resolution.Ignored) and "not a tekton-dag check" in o.reason for o in outcomes)


def test_check_suite_rerun_reruns_every_target(index: ResolverIndex) -> None:
    outcomes = decide(index, "check_suite.rerequested", "suite-1")
    assert sorted((o.stack, o.rerun) for o in outcomes) == [("pay", "suite-1"), ("web", "suite-1")]


@pytest.mark.parametrize("name", ["check_run.rerequested", "check_suite.rerequested"])
def test_a_rerun_of_an_outdated_head_runs_nothing_and_says_why(index: ResolverIndex, name: str) -> None:
    """Run as its pull request's, the older head would supersede the runs of the real head."""
    event = name.split(".")[0]
    outcomes = decide(index, name, change=lambda p: p[event]["pull_requests"][0]["head"].update(sha="b" * 40))
    assert outcomes and all(isinstance(o, resolution.Ignored) and "is no longer the head of pull request #2 "
                            "(now bbbbbbbbbbbb)" in o.reason for o in outcomes)


def test_a_rerun_naming_no_pull_request_says_so(index: ResolverIndex) -> None:
    outcomes = decide(index, "check_suite.rerequested", change=lambda p: p["check_suite"].update(pull_requests=[]))
    assert all(isinstance(o, resolution.Ignored) and "lists no pull request" in o.reason for o in outcomes)


@pytest.mark.parametrize("name", ["issue_comment.pr-retest", "check_run.rerequested", "check_suite.rerequested",
                                  "merge_group.checks_requested", "merge_group.destroyed"])
def test_a_saved_body_tells_its_event(name: str) -> None:
    headers, payload = fixture(name)
    assert github.infer_event(payload) == headers["X-GitHub-Event"]
