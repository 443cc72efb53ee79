"""webhook-ingest's REST API: bearer-token writes that publish requests, bearer-token reads, health."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from unittest import mock
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
import yaml

from support.trees import MountedVolume
from tekton_dag import pipelines
from tekton_dag.events import catalog, schemas
from tekton_dag.testing.recorder import EventRecorder

MakeClient = Callable[..., Awaitable[httpx.AsyncClient]]
TOKEN = "api-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def api(make_ingest: MakeClient) -> httpx.AsyncClient:
    return await make_ingest(TEKTON_DAG_API_TOKEN=TOKEN)


async def test_post_run_publishes_a_run_request(api: httpx.AsyncClient, broker: EventRecorder) -> None:
    body = {"team": "payments", "stack": "pay", "app": "hello", "revision": "main"}
    response = await api.post("/api/run", headers=AUTH, json=body)
    assert response.status_code == 202, response.text
    [event] = broker.events
    assert event.get_type() == catalog.RUN_REQUESTED
    assert event.get_id() == response.json()["id"]
    assert event.get_extension("team") == "payments"
    assert event.get_subject() == "Codertocat/Hello-World"
    data = event.get_data()
    schemas.check(catalog.RUN_REQUESTED, data, AssertionError)
    assert data["pipeline"] == pipelines.MERGE_RELEASE and data["requested_by"] == "api"
    assert data["repo"] == "Codertocat/Hello-World" and data["delivery"] == event.get_id()


async def test_post_run_with_a_pr_defaults_to_the_pr_pipeline(api: httpx.AsyncClient, broker: EventRecorder) -> None:
    body = {"team": "platform", "stack": "web", "app": "hello", "pr": {"number": 3, "head_sha": "a" * 40}}
    assert (await api.post("/api/run", headers=AUTH, json=body)).status_code == 202
    assert broker.events[0].get_data()["pipeline"] == pipelines.PR_TEST


async def test_post_bootstrap_takes_apps_from_the_query(api: httpx.AsyncClient, broker: EventRecorder) -> None:
    response = await api.post("/api/bootstrap?apps=hello,api", headers=AUTH, json={"team": "platform", "stack": "web"})
    assert response.status_code == 202, response.text
    [event] = broker.events
    assert event.get_type() == catalog.BOOTSTRAP_REQUESTED
    assert event.get_data()["apps"] == ["hello", "api"]
    schemas.check(catalog.BOOTSTRAP_REQUESTED, event.get_data(), AssertionError)


@pytest.mark.parametrize(
    ("path", "body", "reason"),
    [
        ("/api/run", b"{nope", "not valid JSON"),
        ("/api/run", b"[]", "JSON object"),
        ("/api/run", json.dumps({"stack": "web"}).encode(), "team: required"),
        ("/api/run", json.dumps({"team": "nobody", "stack": "web"}).encode(), "'nobody' is not configured"),
        ("/api/run", json.dumps({"team": "platform", "stack": "nope"}).encode(), "no stack 'nope'"),
        ("/api/run", json.dumps({"team": "platform", "stack": "web", "app": "x"}).encode(), "no app 'x'"),
        (
            "/api/run",
            json.dumps({"team": "platform", "stack": "web", "pipeline": "deploy"}).encode(),
            "pipeline: must be one of",
        ),
        (
            "/api/run",
            json.dumps({"team": "platform", "stack": "web", "colour": "red"}).encode(),
            "colour: unknown field",
        ),
        (
            "/api/run",
            json.dumps({"team": "platform", "stack": "web", "pr": {"number": 0, "head_sha": "a"}}).encode(),
            "pr.number",
        ),
        ("/api/bootstrap?apps=ghost", json.dumps({"team": "platform"}).encode(), "'ghost' is not an app"),
        ("/api/bootstrap", json.dumps({"team": "platform", "force_rebuild": "yes"}).encode(), "force_rebuild"),
        ("/api/bootstrap?apps=ghost,hello,spook", json.dumps({"team": "platform"}).encode(),
         "apps: 'ghost', 'spook' are not apps of team platform"),
        ("/api/bootstrap", json.dumps({"team": "platform", "image_tag": "../../etc"}).encode(),
         "image_tag: '../../etc' is not a valid tag"),
        ("/api/run", json.dumps({"team": "platform", "stack": "web", "image_tag": "has space"}).encode(),
         "image_tag: 'has space' is not a valid tag"),
    ],
)
async def test_bad_request_bodies_get_a_400_naming_the_field(
    api: httpx.AsyncClient, broker: EventRecorder, path: str, body: bytes, reason: str
) -> None:
    response = await api.post(path, headers=AUTH, content=body)
    assert response.status_code == 400, response.text
    assert reason in response.json()["reason"]
    assert broker.headers == []


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}, {"Authorization": TOKEN}]
)
async def test_writes_need_the_bearer_token(api: httpx.AsyncClient, broker: EventRecorder, headers: dict) -> None:
    response = await api.post("/api/run", headers=headers, json={"team": "platform", "stack": "web"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert broker.headers == []


async def test_the_token_can_come_from_a_mounted_file(
    make_ingest: MakeClient, broker: EventRecorder, tmp_path: Path
) -> None:
    (tmp_path / "token").write_text(TOKEN + "\n")
    client = await make_ingest(TEKTON_DAG_API_TOKEN_FILE=str(tmp_path / "token"))
    response = await client.post("/api/run", headers=AUTH, json={"team": "platform", "stack": "web"})
    assert response.status_code == 202


def api_token_secret(directory: Path, token: str) -> MountedVolume:
    """The token as Kubernetes mounts the Secret's key ``token``: ``publish`` again rotates it."""
    volume = MountedVolume(directory, visible="token")
    volume.publish({"token": token + "\n"})
    return volume


async def test_the_token_file_is_read_once_not_on_every_request(make_ingest: MakeClient, tmp_path: Path) -> None:
    path = api_token_secret(tmp_path / "api-token", TOKEN).root
    client = await make_ingest(TEKTON_DAG_API_TOKEN_FILE=str(path))
    with mock.patch.object(Path, "read_text", autospec=True, side_effect=Path.read_text) as read_text:
        for _ in range(3):
            assert (await client.get("/api/teams", headers=AUTH)).status_code == 200
            assert (await client.get("/api/teams", headers={"Authorization": "Bearer wrong"})).status_code == 401
    reads = [call.args[0] for call in read_text.call_args_list].count(path)
    assert reads <= 1, f"the unchanged token file was read {reads} times for 6 requests"


@pytest.mark.parametrize("rotate", ["the kubelet swaps ..data", "someone rewrites the file"])
async def test_a_rotated_token_takes_effect_and_the_old_one_is_refused(
    make_ingest: MakeClient, tmp_path: Path, rotate: str
) -> None:
    volume = api_token_secret(tmp_path / "api-token", TOKEN)
    client = await make_ingest(TEKTON_DAG_API_TOKEN_FILE=str(volume.root))
    assert (await client.get("/api/teams", headers=AUTH)).status_code == 200
    rotated = "rotated-api-token"  # another length: a rewrite in the same mtime tick still shows
    if rotate == "the kubelet swaps ..data":
        volume.publish({"token": rotated + "\n"})
    else:
        (volume.mount / "..data" / "token").write_text(rotated + "\n")
    assert (await client.get("/api/teams", headers={"Authorization": f"Bearer {rotated}"})).status_code == 200
    old = await client.get("/api/teams", headers=AUTH)
    assert old.status_code == 401 and old.json()["reason"] == "missing or wrong bearer token"
    write = await client.post("/api/run", headers=AUTH, json={"team": "platform", "stack": "web"})
    assert write.status_code == 401


async def test_writes_are_disabled_without_a_token(ingest: httpx.AsyncClient, broker: EventRecorder) -> None:
    response = await ingest.post("/api/run", headers=AUTH, json={"team": "platform", "stack": "web"})
    assert response.status_code == 403
    assert "TEKTON_DAG_API_TOKEN" in response.json()["reason"]


async def test_a_broker_failure_is_a_503(api: httpx.AsyncClient, broker: EventRecorder) -> None:
    broker.status = 500
    response = await api.post("/api/run", headers=AUTH, json={"team": "platform", "stack": "web"})
    assert response.status_code == 503


async def test_get_teams_and_stacks(api: httpx.AsyncClient) -> None:
    teams = (await api.get("/api/teams", headers=AUTH)).json()
    assert [t["name"] for t in teams] == ["payments", "platform"]
    assert teams[0]["namespace"] == "payments-ci" and teams[0]["stacks"] == ["pay"]
    stacks = (await api.get("/api/stacks", headers=AUTH)).json()
    assert {(s["team"], s["name"]) for s in stacks} == {("payments", "pay"), ("platform", "web")}
    assert stacks[0]["apps"][0] == {"name": "hello", "repo": "Codertocat/Hello-World", "downstream": ["api"]}


async def test_health_and_readiness(make_ingest: MakeClient, tmp_path: Path) -> None:
    ready = await make_ingest()
    assert (await ready.get("/healthz")).status_code == 200
    assert (await ready.get("/readyz")).json() == {"status": "ready"}
    assert (await ready.get("/health/readiness")).status_code == 200  # func-python's own probe
    no_sink = await make_ingest(K_SINK="")
    response = await no_sink.get("/readyz")
    assert response.status_code == 503 and "K_SINK" in response.json()["reason"]
    no_config = await make_ingest(TEKTON_DAG_TEAMS_DIR=str(tmp_path / "missing"))
    response = await no_config.get("/readyz")
    assert response.status_code == 503 and "configuration not loaded" in response.json()["reason"]


async def test_get_runs_without_a_cluster_is_a_clear_503(api: httpx.AsyncClient) -> None:
    response = await api.get("/api/runs", headers=AUTH)
    assert response.status_code == 503
    assert "no Kubernetes cluster configured" in response.json()["reason"]


class _PipelineRunsAPI(BaseHTTPRequestHandler):
    """The one Kubernetes API call GET /api/runs makes: list pipelineruns, by label selector."""

    runs: ClassVar[dict[str, list[dict]]] = {}
    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        url = urlparse(self.path)
        self.seen.append(self.path)
        parts = url.path.strip("/").split("/")
        if parts[:3] != ["apis", "tekton.dev", "v1"] or parts[3] != "namespaces" or parts[5] != "pipelineruns":
            self._answer(404, {"kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404})
            return
        wanted = dict(term.split("=") for term in parse_qs(url.query)["labelSelector"][0].split(","))
        items = [r for r in self.runs.get(parts[4], []) if wanted.items() <= r["metadata"]["labels"].items()]
        self._answer(200, {"apiVersion": "tekton.dev/v1", "kind": "PipelineRunList", "items": items,
                           "metadata": {"resourceVersion": "1"}})

    def _answer(self, status: int, body: dict) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args: object) -> None:
        pass


def _run(name: str, namespace: str, team: str, created: str, reason: str) -> dict:
    labels = {pipelines.L_MANAGED_BY: pipelines.MANAGED_BY, pipelines.L_TEAM: team, pipelines.L_STACK: "web",
              pipelines.L_APP: "hello", pipelines.L_PIPELINE: pipelines.PR_TEST, pipelines.L_PR: "2"}
    return {"metadata": {"name": name, "namespace": namespace, "labels": labels, "creationTimestamp": created},
            "status": {"conditions": [{"type": "Succeeded", "status": "True", "reason": reason}]}}


@pytest.fixture
def kube_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_PipelineRunsAPI]]:
    _PipelineRunsAPI.runs = {
        "platform-ci": [_run("old", "platform-ci", "platform", "2026-01-01T00:00:00Z", "Succeeded"),
                        _run("new", "platform-ci", "platform", "2026-01-02T00:00:00Z", "Running"),
                        _run("intruder", "platform-ci", "payments", "2026-01-03T00:00:00Z", "Running")],
        "payments-ci": [],
    }
    _PipelineRunsAPI.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _PipelineRunsAPI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    kubeconfig = {
        "apiVersion": "v1", "kind": "Config", "current-context": "test",
        "clusters": [{"name": "test", "cluster": {"server": f"http://127.0.0.1:{server.server_port}"}}],
        "users": [{"name": "test", "user": {"token": "kube-token"}}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test"}}],
    }
    (tmp_path / "kubeconfig").write_text(yaml.safe_dump(kubeconfig))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))
    yield _PipelineRunsAPI
    server.shutdown()
    server.server_close()


async def test_get_runs_lists_each_teams_pipelineruns_newest_first(api: httpx.AsyncClient, kube_api) -> None:
    response = await api.get("/api/runs", headers=AUTH)
    assert response.status_code == 200, response.text
    runs = response.json()["items"]
    assert [(r["name"], r["status"]) for r in runs] == [("new", "Running"), ("old", "Succeeded")]
    assert runs[0]["team"] == "platform" and runs[0]["pr"] == "2"
    assert len(kube_api.seen) == 2  # one list call per team namespace


async def test_get_runs_of_one_team(api: httpx.AsyncClient, kube_api) -> None:
    assert (await api.get("/api/runs?team=payments", headers=AUTH)).json() == {"items": [], "metadata": {}}
    assert (await api.get("/api/runs?team=nobody", headers=AUTH)).status_code == 400


async def test_config_changes_are_picked_up_and_a_bad_edit_keeps_the_last_good(
    make_ingest: MakeClient, teams: Path
) -> None:
    client = await make_ingest(TEKTON_DAG_CONFIG_RELOAD_S="0.05", TEKTON_DAG_API_TOKEN=TOKEN)
    team_yaml = teams / "platform" / "team.yaml"
    team_yaml.write_text(team_yaml.read_text().replace("namespace: platform-ci", "namespace: platform-ci-2"))
    assert await _eventually(client, lambda teams_: teams_[1]["namespace"] == "platform-ci-2")
    team_yaml.write_text("name: platform\nnamespace: [not, a, string]\n")
    await asyncio.sleep(0.3)
    assert (await client.get("/api/teams", headers=AUTH)).json()[1]["namespace"] == "platform-ci-2"
    assert (await client.get("/readyz")).status_code == 200


async def _eventually(client: httpx.AsyncClient, check, timeout: float = 5.0) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if check((await client.get("/api/teams", headers=AUTH)).json()):
            return True
        await asyncio.sleep(0.05)
    return False
