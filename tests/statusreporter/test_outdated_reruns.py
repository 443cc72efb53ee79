"""status-reporter and a Re-run of an outdated head (``usecases.declining``), through its CloudEvent
interface: webhook-ingest's sealed ``github.check_run`` event in, the GitHub API double's check runs
out. The whole path from the webhook is tests/commands/test_end_to_end.py."""

from __future__ import annotations

from cloudevents.core.bindings.http import to_binary_event

from statusreporter.conftest import DEADLINE_S, REPO, Served
from support.githubapi import INSTALLATION, environment
from tekton_dag.events import codec
from tekton_dag.events.github import CHECK_RUN, GitHubEvent, Rerun
from tekton_dag.events.sealing import KEY_ENV
from tekton_dag.github.port import CheckOutput, Repo
from tekton_dag.testing.sealing import TEST_EVENT_KEY, sealed

OLD, NEW = "1" * 40, "2" * 40
CHECK = "tekton-dag / stack-one (demo-fe)"


async def old_check(served: Served) -> tuple[int, int]:
    """A failed check run of ours on OLD, as an earlier run left it: (its id, its suite)."""
    assert served.function.reporter is not None
    run_id = await served.function.reporter.github.create_check_run(
        Repo(*REPO.split("/"), installation_id=INSTALLATION), name=CHECK, head_sha=OLD, external_id="old",
        status="completed", conclusion="failure", output=CheckOutput("Failed", "Task build failed"))
    return run_id, served.github.check_runs[run_id]["check_suite_id"]


async def press(served: Served, run_id: int, suite: int, *, seal: bool = True, installation: int = INSTALLATION):
    rerun = Rerun(OLD, 42, "main", run_id, CHECK, "old", suite, NEW)
    event = codec.github_event(GitHubEvent(CHECK_RUN, "press-1", REPO, "octocat", rerun=rerun,
                                           installation_id=installation))
    message = to_binary_event(sealed(event) if seal else event)
    return await served.client.post("/", headers=dict(message.headers), content=message.body)


def with_key(served: Served, tmp_path, **options) -> None:  # type: ignore[no-untyped-def]
    served.restart({**environment(served.github, tmp_path, deadline_s=DEADLINE_S, **options),
                    KEY_ENV: TEST_EVENT_KEY})


async def test_the_pressed_check_is_completed_again_with_its_conclusion_and_why(served: Served, tmp_path) -> None:
    with_key(served, tmp_path)
    run_id, suite = await old_check(served)
    served.github.set_pull(REPO, 42, NEW, "main")  # the pull request moved on
    assert (await press(served, run_id, suite, seal=False)).status_code == 401  # unsealed: nothing written
    assert served.github.check_runs[run_id]["output"]["title"] == "Failed"
    assert (await press(served, run_id, suite)).status_code == 202
    settled = served.github.check_runs[run_id]
    assert (settled["status"], settled["conclusion"]) == ("completed", "failure")
    assert settled["output"]["title"] == f"Not re-run: {OLD[:12]} is no longer the head of #42"
    assert NEW in settled["output"]["summary"]


async def test_pressing_one_check_lists_only_the_check_runs_of_its_name(served: Served, tmp_path) -> None:
    """GitHub's ``check_name`` filter on the suite's listing: one pressed check reads one check run back,
    not every check of the head (a stack of 40 apps: 40 check runs)."""
    with_key(served, tmp_path)
    run_id, suite = await old_check(served)
    repo = Repo(*REPO.split("/"), installation_id=INSTALLATION)
    assert served.function.reporter is not None
    others = [await served.function.reporter.github.create_check_run(
        repo, name=f"tekton-dag / stack-one (app-{n})", head_sha=OLD, external_id=f"other-{n}", status="completed",
        conclusion="success", output=CheckOutput("Passed", "")) for n in range(3)]
    served.github.set_pull(REPO, 42, NEW, "main")
    assert (await press(served, run_id, suite)).status_code == 202
    listed = served.github.calls_to("checks/list-for-suite")
    assert [c.answer["check_runs"][0]["id"] for c in listed] == [run_id]
    assert [c.answer["total_count"] for c in listed] == [1]  # was 4: the whole suite
    assert [c.path for c in served.github.calls_to("checks/update")] == [f"/repos/{REPO}/check-runs/{run_id}"]
    assert all(served.github.check_runs[other]["output"]["title"] == "Passed" for other in others)


async def test_nothing_is_written_when_github_says_the_head_is_current_again(served: Served, tmp_path) -> None:
    with_key(served, tmp_path)
    run_id, suite = await old_check(served)
    served.github.set_pull(REPO, 42, OLD, "main")  # force-pushed back: the event's newer head is stale
    assert (await press(served, run_id, suite)).status_code == 202
    assert served.github.check_runs[run_id]["output"]["title"] == "Failed"
    assert served.github.calls_to("checks/update") == []


async def test_without_an_app_installation_nothing_is_written(served: Served, tmp_path) -> None:
    """A plain token may not write check runs (GitHub's 403): a repository webhook's re-run is left alone."""
    with_key(served, tmp_path)
    run_id, suite = await old_check(served)
    served.github.plain_tokens.add("ghp_plain")
    with_key(served, tmp_path, token="ghp_plain")
    served.github.set_pull(REPO, 42, NEW, "main")
    assert (await press(served, run_id, suite, installation=0)).status_code == 202
    assert served.github.calls_to("checks/update") == [] and served.github.calls_to("pulls/get") == []
