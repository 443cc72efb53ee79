"""Listings are read to the end: the client follows GitHub's ``Link`` rel="next" (``Client.pages``),
bounded by pages and by the call's deadline, and the double pages as GitHub does
(https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api)."""

from __future__ import annotations

import httpx
import pytest

from support.githubapi import PLAIN_TOKEN, REPO, app_client
from tekton_dag.github import client as github_client
from tekton_dag.github.port import GitHubError
from tekton_dag.testing.github_api import GitHubApiDouble

SHA = "c" * 40
SUITE = 900_000  # far from the ids the double hands out


def suite_of(github: GitHubApiDouble, count: int) -> None:
    """``count`` completed check runs of distinct names in one suite of REPO, put in the double's state."""
    github.check_suites[(REPO.full_name.lower(), SHA)] = SUITE
    for n in range(count):
        github.check_runs[800_000 + n] = {
            "repo": REPO.full_name, "check_suite_id": SUITE, "name": f"tekton-dag / s{n} (app)", "head_sha": SHA,
            "external_id": f"s{n}", "status": "completed", "conclusion": "failure",
            "output": {"title": f"Failed {n}", "summary": "Task build failed"}}


def listings(github: GitHubApiDouble) -> list[int]:
    return [c.status for c in github.calls_to("checks/list-for-suite")]


async def test_a_suites_check_runs_are_read_across_pages(github: GitHubApiDouble) -> None:
    suite_of(github, 150)
    runs = await app_client(github).suite_check_runs(REPO, SUITE)
    assert sorted(run.name for run in runs) == sorted(f"tekton-dag / s{n} (app)" for n in range(150))
    assert {run.title for run in runs} == {f"Failed {n}" for n in range(150)}
    assert listings(github) == [200, 200]  # 100 + 50, by the Link header's rel="next"


async def test_the_listing_is_within_one_deadline_not_one_per_page(github: GitHubApiDouble) -> None:
    """Two pages of 0.6 s each: either fits a 1 s deadline, both do not."""
    suite_of(github, 101)
    github.fail("slow", times=2, match="/check-runs", seconds=0.6)
    with pytest.raises(GitHubError, match="deadline") as caught:
        await app_client(github, deadline_s=1.0).suite_check_runs(REPO, SUITE)
    assert caught.value.retryable


async def test_more_pages_than_the_bound_is_an_error_not_a_short_list(
        github: GitHubApiDouble, monkeypatch: pytest.MonkeyPatch) -> None:
    suite_of(github, 3)
    monkeypatch.setattr(github_client, "PER_PAGE", 1)
    monkeypatch.setattr(github_client, "MAX_PAGES", 2)
    with pytest.raises(GitHubError, match="more than 2 pages of 1") as caught:
        await app_client(github).suite_check_runs(REPO, SUITE)
    assert not caught.value.retryable
    assert listings(github) == [200, 200]


async def test_a_next_page_off_the_api_url_is_not_followed(
        github: GitHubApiDouble, monkeypatch: pytest.MonkeyPatch) -> None:
    """The installation's token would go with it."""
    suite_of(github, 3)
    monkeypatch.setattr(github_client, "PER_PAGE", 1)
    monkeypatch.setattr(github, "_numbered_page", lambda items, query, path: (
        items[:1], {"link": '<https://elsewhere.example/steal?page=2>; rel="next"'}))
    with pytest.raises(GitHubError, match=r"elsewhere\.example"):
        await app_client(github).suite_check_runs(REPO, SUITE)
    assert listings(github) == [200]


def test_the_double_pages_a_suite_as_github_does(github: GitHubApiDouble) -> None:
    suite_of(github, 250)
    path = f"/repos/{REPO.full_name}/check-suites/{SUITE}/check-runs"
    headers = {"authorization": f"token {PLAIN_TOKEN}", "accept": "application/vnd.github+json"}

    def get(query: str) -> httpx.Response:
        answer = httpx.get(f"{github.url}{path}{query}", headers=headers)
        assert answer.status_code == 200, answer.text
        return answer

    first = get("")  # GitHub's default: 30 a page
    assert len(first.json()["check_runs"]) == 30 and first.json()["total_count"] == 250
    assert first.links["next"]["url"] == f"{github.url}{path}?per_page=30&page=2"
    assert first.links["last"]["url"] == f"{github.url}{path}?per_page=30&page=9"
    assert "prev" not in first.links and "first" not in first.links
    most = get("?per_page=500&filter=latest")  # "max 100"
    assert len(most.json()["check_runs"]) == 100
    assert most.links["next"]["url"] == f"{github.url}{path}?filter=latest&per_page=100&page=2"
    last = get("?per_page=100&page=3")
    assert len(last.json()["check_runs"]) == 50
    assert set(last.links) == {"prev", "first"} and last.links["prev"]["url"].endswith("per_page=100&page=2")
    seen = [run["id"] for page in (1, 2, 3) for run in get(f"?per_page=100&page={page}").json()["check_runs"]]
    assert len(set(seen)) == 250  # every run once, none twice
    assert get("?per_page=10").headers.get("link", "").count('rel="') == 2
