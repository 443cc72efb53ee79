"""GitHub payloads → one normalised event → slim data → back (what the resolver reads)."""

from __future__ import annotations

import json

import pytest

from tekton_dag.events import catalog, github, schemas
from tekton_dag.testing.github import FIXTURES, fixture

HANDLED = sorted(p.stem for p in FIXTURES.glob("*.json") if p.stem.split(".")[0] in ("pull_request", "push")
                 and not p.stem.endswith("labeled"))


@pytest.mark.parametrize("name", HANDLED)
def test_slim_data_matches_its_schema_and_reads_back_equal(name: str) -> None:
    headers, payload = fixture(name)
    event = github.parse_payload(headers["X-GitHub-Event"], headers["X-GitHub-Delivery"], payload)
    data = event.to_data()
    schemas.check(event.cloudevent_type, data, AssertionError)
    assert len(json.dumps(data)) < 1024
    assert github.GitHubEvent.from_data(event.cloudevent_type, event.delivery, json.loads(json.dumps(data))) == event


def test_pull_request_fields_come_from_their_real_places() -> None:
    _, payload = fixture("pull_request.synchronize")
    pr = github.parse_payload("pull_request", "d", payload).pull_request
    assert pr is not None
    raw = payload["pull_request"]
    assert (pr.action, pr.number, pr.draft, pr.merged) == ("synchronize", raw["number"], raw["draft"], raw["merged"])
    assert (pr.base_ref, pr.base_repo) == (raw["base"]["ref"], raw["base"]["repo"]["full_name"])
    assert (pr.head_sha, pr.head_ref, pr.head_repo) == (
        raw["head"]["sha"],
        raw["head"]["ref"],
        raw["head"]["repo"]["full_name"],
    )
    assert not pr.fork


def test_a_pr_from_a_deleted_fork_has_no_head_repo_and_is_a_fork() -> None:
    _, payload = fixture("pull_request.opened")
    payload["pull_request"]["head"]["repo"] = None
    pr = github.parse_payload("pull_request", "d", payload).pull_request
    assert pr is not None and pr.head_repo == "" and pr.fork


def test_push_branch_and_tag() -> None:
    branch = github.parse_payload("push", "d", fixture("push.branch")[1]).push
    tag = github.parse_payload("push", "d", fixture("push.tag")[1]).push
    assert branch is not None and branch.branch == "master"
    assert tag is not None and tag.branch is None


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda p: p.pop("repository"), "repository: missing"),
        (lambda p: p["repository"].update(full_name=7), "repository.full_name: must be a string"),
        (lambda p: p["pull_request"].update(number=True), "pull_request.number: must be an integer"),
        (lambda p: p["pull_request"]["head"].pop("sha"), "pull_request.head.sha: missing"),
        (lambda p: p["pull_request"].update(base="main"), "pull_request.base: must be an object"),
        (lambda p: p["pull_request"].update(merged="yes"), "pull_request.merged: must be true or false"),
    ],
)
def test_payload_errors_name_the_field(mutate, message: str) -> None:
    _, payload = fixture("pull_request.opened")
    mutate(payload)
    with pytest.raises(github.PayloadError, match=message.replace(".", r"\.")):
        github.parse_payload("pull_request", "d", payload)


@pytest.mark.parametrize("sample", ["pull_request.opened", "push.branch"])
def test_an_installation_id_beyond_int64_is_refused(sample: str) -> None:
    """GitHub's ids are int64: a larger one is no GitHub's (each schema once declared the field twice,
    and the copy that counted had no maximum)."""
    name, payload = sample.split(".")[0], fixture(sample)[1]
    payload["installation"] = {"id": 2**63}
    with pytest.raises(github.PayloadError, match=r"installation\.id: must be"):
        github.parse_payload(name, "d", payload)
    payload["installation"] = {"id": 2**63 - 1}
    assert github.parse_payload(name, "d", payload).installation_id == 2**63 - 1


def test_slim_data_errors_name_the_field() -> None:
    with pytest.raises(github.PayloadError, match=r"pull_request\.number"):
        github.GitHubEvent.from_data(catalog.GITHUB_PULL_REQUEST, "d", {
            "repo": "a/b", "sender": "s", "pull_request": {**github.parse_payload(
                "pull_request", "d", fixture("pull_request.opened")[1]).to_data()["pull_request"], "number": 0}})
    with pytest.raises(github.PayloadError, match="not a GitHub event type"):
        github.GitHubEvent.from_data(catalog.RUN_REQUESTED, "d", {})


def test_a_newer_producers_extra_fields_are_ignored() -> None:
    event = github.parse_payload("pull_request", "d", fixture("pull_request.opened")[1])
    data = event.to_data()
    data["labels"] = ["x"]
    data["pull_request"]["title"] = "added in a later version"
    assert github.GitHubEvent.from_data(catalog.GITHUB_PULL_REQUEST, "d", data) == event


ALL_KINDS = sorted(p.stem for p in FIXTURES.glob("*.json"))


@pytest.mark.parametrize("name", ALL_KINDS)
def test_slim_parts_are_what_dataclasses_asdict_gives(name: str) -> None:
    """``to_data`` copies each part's fields shallowly (no deep copy: it was a twentieth of
    webhook-ingest's time); that is only right while every field is a plain value."""
    import dataclasses

    headers, payload = fixture(name)
    try:
        event = github.parse_payload(headers["X-GitHub-Event"], headers["X-GitHub-Delivery"], payload)
    except github.PayloadError:
        pytest.skip("not an event we act on")
    data = event.to_data()
    for part in ("pull_request", "push", "comment", "rerun", "merge_group"):
        value = getattr(event, part)
        if value is not None:
            expected = dataclasses.asdict(value)
            if part == "pull_request" and not value.before:
                del expected["before"]
            assert data[part] == expected
            assert all(isinstance(v, str | int | bool) for v in data[part].values())
