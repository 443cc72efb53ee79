"""GET /api/runs over HTTP against the fake Kubernetes API (real client): filters become label
selectors, ``limit`` and ``continue`` pass through to the API server's own paging. Every request
carries the API token (the reads need it, tests/ingest/test_public_access.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator

import httpx
import pytest
from kubernetes import client

from support.kube import official_client
from tekton_dag import pipelines
from tekton_dag.testing.kube_api import FakeKubeApi

NAMESPACES = {"platform": "platform-ci", "payments": "payments-ci"}
TOKEN = "api-token-for-tests"


@pytest.fixture
async def ingest(make_ingest: Callable[..., Awaitable[httpx.AsyncClient]]) -> httpx.AsyncClient:
    """webhook-ingest with an API token, and a client that sends it."""
    client = await make_ingest(TEKTON_DAG_API_TOKEN=TOKEN)
    client.headers["Authorization"] = f"Bearer {TOKEN}"
    return client


def make_run(name: str, team: str, stack: str = "web", app: str = "hello", pr: int | None = 2,
             pipeline: str = pipelines.PR_TEST, pending: bool = False) -> dict:
    labels = {pipelines.L_MANAGED_BY: pipelines.MANAGED_BY, pipelines.L_TEAM: team, pipelines.L_STACK: stack,
              pipelines.L_APP: app, pipelines.L_PIPELINE: pipeline}
    if pr is not None:
        labels[pipelines.L_PR] = str(pr)
    spec: dict = {"pipelineRef": {"name": pipeline}}
    if pending:
        spec["status"] = "PipelineRunPending"
    return {"apiVersion": "tekton.dev/v1", "kind": "PipelineRun",
            "metadata": {"name": name, "namespace": NAMESPACES[team], "labels": labels}, "spec": spec}


@pytest.fixture
def cluster(kube_api: FakeKubeApi) -> Iterator[FakeKubeApi]:
    """platform: p0..p5 on stack web (p4 on app other, p5 PR 9, p3 pending); payments: q0, q1;
    a run of another team (payments' label) in platform's namespace; p0 finished, p1 failed."""
    api_client = official_client()
    objects = client.CustomObjectsApi(api_client)
    runs = [make_run(f"p{n}", "platform", app="other" if n == 4 else "hello", pr=9 if n == 5 else 2, pending=n == 3)
            for n in range(6)]
    runs += [make_run("q0", "payments", pipeline=pipelines.MERGE_RELEASE, pr=None), make_run("q1", "payments")]
    intruder = make_run("x-intruder", "payments")
    intruder["metadata"]["namespace"] = "platform-ci"
    for run in [*runs, intruder]:
        objects.create_namespaced_custom_object("tekton.dev", "v1", run["metadata"]["namespace"], "pipelineruns", run)
    kube_api.finish("platform-ci", "p0")
    kube_api.finish("platform-ci", "p1", reason="Failed")
    api_client.close()
    yield kube_api


def names(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [run["name"] for run in response.json()["items"]]


async def test_filters_select_by_label_and_state(ingest: httpx.AsyncClient, cluster: FakeKubeApi) -> None:
    assert sorted(names(await ingest.get("/api/runs?team=platform"))) == ["p0", "p1", "p2", "p3", "p4", "p5"]
    assert sorted(names(await ingest.get("/api/runs?team=platform&app=other"))) == ["p4"]
    assert sorted(names(await ingest.get("/api/runs?pr=9"))) == ["p5"]
    assert sorted(names(await ingest.get("/api/runs?pipeline=stack-merge-release"))) == ["q0"]
    assert sorted(names(await ingest.get("/api/runs?stack=web&state=pending"))) == ["p3"]
    assert sorted(names(await ingest.get("/api/runs?state=failed"))) == ["p1"]
    assert sorted(names(await ingest.get("/api/runs?state=succeeded"))) == ["p0"]
    selectors = [p for m, p, s in cluster.requests if "app%3Dother" in p or "app=other" in p]
    assert selectors, "the app filter is a label selector the API server applies"


async def test_pages_follow_continue_tokens_across_teams(ingest: httpx.AsyncClient, cluster: FakeKubeApi) -> None:
    seen, token, pages = [], "", 0
    while True:
        response = await ingest.get("/api/runs", params={"limit": "3", **({"continue": token} if token else {})})
        page = names(response)
        assert len(page) <= 3
        seen += page
        pages += 1
        token = response.json()["metadata"].get("continue", "")
        if not token:
            break
    assert seen == ["q0", "q1", "p0", "p1", "p2", "p3", "p4", "p5"] and pages == 3  # team by team, in config order
    limits = [p for m, p, s in cluster.requests if m == "GET" and "pipelineruns" in p and "limit=" in p]
    assert limits and all("limit=3" in p or "limit=2" in p or "limit=1" in p for p in limits)  # passed through


async def test_a_state_filter_may_leave_a_page_short_but_never_loses_a_run(
    ingest: httpx.AsyncClient, cluster: FakeKubeApi
) -> None:
    seen, token = [], ""
    while True:
        response = await ingest.get(
            "/api/runs", params={"limit": "2", "state": "running", **({"continue": token} if token else {})}
        )
        seen += names(response)
        token = response.json()["metadata"].get("continue", "")
        if not token:
            break
    assert seen == ["q0", "q1", "p2", "p4", "p5"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=ten", "limit"),
        ("limit=%C2%B2", "limit"),  # "²": str.isdigit takes it, int refuses it
        ("pr=abc", "pr"),
        ("pr=%C2%B9", "pr"),
        ("state=done", "state"),
        ("pipeline=deploy", "pipeline"),
        ("colour=red", "colour"),
        ("continue=garbage", "continue"),
        ("team=nobody", "team"),
    ],
)
async def test_bad_parameters_are_a_400_naming_them(
    ingest: httpx.AsyncClient, cluster: FakeKubeApi, query: str, field: str
) -> None:
    response = await ingest.get(f"/api/runs?{query}")
    assert response.status_code == 400 and response.json()["reason"].startswith(f"{field}:")


async def test_a_token_from_another_query_is_refused(ingest: httpx.AsyncClient, cluster: FakeKubeApi) -> None:
    token = (await ingest.get("/api/runs?limit=1")).json()["metadata"]["continue"]
    response = await ingest.get(f"/api/runs?limit=1&app=other&continue={token}")
    assert response.status_code == 400 and "another query" in response.json()["reason"]


async def test_a_token_the_api_server_expired_is_a_410_so_the_client_starts_again(
    ingest: httpx.AsyncClient, cluster: FakeKubeApi
) -> None:
    token = (await ingest.get("/api/runs?limit=1")).json()["metadata"]["continue"]
    cluster.fail(410, times=1, plural="pipelineruns")  # what kube-apiserver answers after compaction
    response = await ingest.get(f"/api/runs?limit=1&continue={token}")
    assert response.status_code == 410 and "start again" in response.json()["reason"]
    assert (await ingest.get(f"/api/runs?limit=1&team=payments&continue={token}")).status_code == 400  # other teams
