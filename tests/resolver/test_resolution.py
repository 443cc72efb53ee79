"""resolution.resolve: which pipeline, cancel or ignore, per target, with reasons (no I/O)."""

from __future__ import annotations

import dataclasses

import pytest

from tekton_dag import pipelines, resolution
from tekton_dag.config.index import ResolverIndex
from tekton_dag.events import github
from tekton_dag.events.requests import CancelRequest, RunRequest
from tekton_dag.testing.github import fixture

DELIVERY = "d-1"


def event(name: str, **pr_changes: object) -> github.GitHubEvent:
    headers, payload = fixture(name)
    parsed = github.parse_payload(headers["X-GitHub-Event"], DELIVERY, payload)
    if pr_changes:
        assert parsed.pull_request is not None
        parsed = dataclasses.replace(parsed, pull_request=dataclasses.replace(parsed.pull_request, **pr_changes))
    return parsed


def outcomes(decisions: tuple[resolution.Decision, ...]) -> dict[str, object]:
    """team -> its outcome (the test teams have one stack each with the repo in it)."""
    return {(d.outcome.team if hasattr(d.outcome, "team") else ""): d.outcome for d in decisions}


@pytest.mark.parametrize("name", ["pull_request.opened", "pull_request.synchronize",
                                  "pull_request.reopened", "pull_request.ready_for_review"])
def test_pr_activity_requests_the_pr_test_pipeline_for_every_team(index: ResolverIndex, name: str) -> None:
    decisions = resolution.resolve(event(name), index)
    assert [d.event_id for d in decisions] == ["d-1/payments/pay/hello", "d-1/platform/web/hello"]
    for decision in decisions:
        request = decision.outcome
        assert isinstance(request, RunRequest)
        assert request.pipeline == pipelines.PR_TEST
        assert request.revision == "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
        assert request.pr is not None and request.pr.number == 2 and request.pr.base_ref == "master"
        assert (request.app, request.repo, request.delivery) == ("hello", "Codertocat/Hello-World", DELIVERY)


def test_a_merge_requests_merge_release_at_the_merge_commit(index: ResolverIndex) -> None:
    for decision in resolution.resolve(event("pull_request.closed-merged"), index):
        assert isinstance(decision.outcome, RunRequest)
        assert decision.outcome.pipeline == pipelines.MERGE_RELEASE
        assert decision.outcome.revision == "c4295bd74fb0f4fda03689c3df3f2803b658fd85"


def test_closing_unmerged_cancels_that_prs_runs(index: ResolverIndex) -> None:
    by_team = outcomes(resolution.resolve(event("pull_request.closed"), index))
    assert by_team["platform"] == CancelRequest("platform", "web", "hello", 2, "closed", DELIVERY)


def test_drafts_are_skipped_but_a_closed_draft_still_cancels(index: ResolverIndex) -> None:
    for decision in resolution.resolve(event("pull_request.opened", draft=True), index):
        assert isinstance(decision.outcome, resolution.Ignored) and "draft" in decision.outcome.reason
    closed = resolution.resolve(event("pull_request.closed", draft=True), index)
    assert all(isinstance(d.outcome, CancelRequest) for d in closed)


def test_fork_policy_is_per_team(index: ResolverIndex) -> None:
    by_team = outcomes(resolution.resolve(event("pull_request.opened", head_repo="evil/Hello-World"), index))
    assert isinstance(by_team["payments"], RunRequest)  # forks: allow
    assert isinstance(by_team["platform"], resolution.Ignored)  # forks: skip
    assert "fork evil/Hello-World" in by_team["platform"].reason


def test_a_deleted_fork_counts_as_a_fork(index: ResolverIndex) -> None:
    by_team = outcomes(resolution.resolve(event("pull_request.opened", head_repo=""), index))
    assert isinstance(by_team["platform"], resolution.Ignored)


def test_a_merged_fork_pr_still_releases(index: ResolverIndex) -> None:
    by_team = outcomes(resolution.resolve(event("pull_request.closed-merged", head_repo="evil/x"), index))
    assert isinstance(by_team["platform"], RunRequest)


@pytest.mark.parametrize(("base", "platform", "payments"), [
    ("master", True, True), ("release/1.2", True, False), ("develop", False, False), ("release", False, False),
])
def test_base_branch_globs(index: ResolverIndex, base: str, platform: bool, payments: bool) -> None:
    by_team = outcomes(resolution.resolve(event("pull_request.opened", base_ref=base), index))
    assert isinstance(by_team["platform"], RunRequest) is platform
    assert isinstance(by_team["payments"], RunRequest) is payments
    if not platform:
        assert f"base branch {base} does not match" in by_team["platform"].reason


def test_push_follows_each_teams_push_policy(index: ResolverIndex) -> None:
    by_team = outcomes(resolution.resolve(event("push.branch"), index))
    assert isinstance(by_team["payments"], RunRequest)  # push: merge-release
    assert by_team["payments"].pipeline == pipelines.MERGE_RELEASE
    assert by_team["payments"].revision == "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
    assert by_team["platform"].reason == "team platform's push policy is ignore"


def test_tag_pushes_and_branch_deletions_release_nothing(index: ResolverIndex) -> None:
    assert "not a branch" in outcomes(resolution.resolve(event("push.tag"), index))["payments"].reason
    deleted = event("push.branch")
    deleted = dataclasses.replace(deleted, push=dataclasses.replace(deleted.push, deleted=True, after="0" * 40))
    assert "deleted" in outcomes(resolution.resolve(deleted, index))["payments"].reason


def test_a_push_to_a_merge_queue_branch_releases_nothing(index: ResolverIndex) -> None:
    """The merge queue pushes each group to gh-readonly-queue/<base>/pr-<n>-<sha>: not merged yet
    (its merge_group event tests it). With every branch a base branch (the default), it was released."""
    pushed = event("push.branch")
    ref = "refs/heads/gh-readonly-queue/main/pr-7-" + "a" * 40
    pushed = dataclasses.replace(pushed, push=dataclasses.replace(pushed.push, ref=ref))
    decision = outcomes(resolution.resolve(pushed, index))["payments"]
    assert "merge queue's temporary branch" in decision.reason


def test_an_unknown_repository_is_one_ignored_decision(index: ResolverIndex) -> None:
    unknown = dataclasses.replace(event("pull_request.opened"), repo="someone/else")
    [decision] = resolution.resolve(unknown, index)
    assert decision.event_id == "d-1/ignored"
    assert decision.outcome == resolution.Ignored("repository someone/else is not an app of any stack")


def test_a_team_signed_delivery_reaches_only_that_team(index: ResolverIndex) -> None:
    by_team = outcomes(resolution.resolve(event("pull_request.opened"), index, signed_for="payments"))
    assert isinstance(by_team["payments"], RunRequest)
    assert (
        by_team["platform"].reason
        == "delivery was signed with the webhook secret of team payments, not of team platform"
    )


def test_the_same_delivery_always_gives_the_same_ids(index: ResolverIndex) -> None:
    first = resolution.resolve(event("pull_request.opened"), index)
    assert first == resolution.resolve(event("pull_request.opened"), index)


@pytest.mark.parametrize(("name", "before"), [("pull_request.synchronize", "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"),
                                              ("pull_request.opened", "")])
def test_a_synchronize_carries_the_head_it_replaced_to_run_creator(
    index: ResolverIndex, name: str, before: str
) -> None:
    """GitHub sends ``before``/``after`` at the top level of a synchronize (octokit's example
    payload in tests/fixtures/github); run-creator uses ``before`` to order heads."""
    for decision in resolution.resolve(event(name), index):
        assert isinstance(decision.outcome, RunRequest) and decision.outcome.pr is not None
        assert decision.outcome.pr.before_sha == before
        assert RunRequest.from_data(decision.outcome.to_data()) == decision.outcome
