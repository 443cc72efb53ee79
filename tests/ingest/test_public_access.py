"""What webhook-ingest, the one function with a public route, gives away without a token: nothing
but webhooks, probes and (only where no METRICS_PORT listener exists) /metrics. The reads of the
REST API need the writes' bearer token unless TEKTON_DAG_API_PUBLIC_READS=true opens them."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import func_python.http
import httpx
import pytest

from tekton_dag.functions import all_in_one
from tekton_dag.testing.github import environment, write_teams
from tekton_dag.testing.kube_api import FakeKubeApi
from tekton_dag.testing.serving import free_port, served_function

MakeClient = Callable[..., Awaitable[httpx.AsyncClient]]
TOKEN = "api-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
READS = ["/api/teams", "/api/stacks", "/api/runs"]
REFUSED = [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}, {"Authorization": TOKEN},
           {"Authorization": f"Bearer {TOKEN}x"}]


@pytest.fixture(scope="module")
def fake_cluster() -> Iterator[FakeKubeApi]:
    with FakeKubeApi() as api:  # one for the module: each stop takes half a second
        yield api


@pytest.fixture(autouse=True)
def cluster(fake_cluster: FakeKubeApi, monkeypatch: pytest.MonkeyPatch) -> FakeKubeApi:
    """A (fake) cluster, so that an authorized ``GET /api/runs`` is a 200 like the other reads."""
    monkeypatch.setenv("KUBECONFIG", str(fake_cluster.kubeconfig))
    return fake_cluster


@pytest.mark.parametrize("path", READS)
@pytest.mark.parametrize("headers", REFUSED)
async def test_reads_without_the_right_bearer_token_are_401(
    make_ingest: MakeClient, path: str, headers: dict[str, str]
) -> None:
    client = await make_ingest(TEKTON_DAG_API_TOKEN=TOKEN)
    response = await client.get(path, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"status": "rejected", "reason": "missing or wrong bearer token"}


@pytest.mark.parametrize("path", READS)
async def test_reads_with_the_token_are_answered(make_ingest: MakeClient, path: str, tmp_path: Path) -> None:
    client = await make_ingest(TEKTON_DAG_API_TOKEN=TOKEN)
    response = await client.get(path, headers=AUTH)
    assert response.status_code == 200, response.text
    (tmp_path / "token").write_text(TOKEN + "\n")  # the mounted file, as the chart gives it, wins
    from_file = await make_ingest(TEKTON_DAG_API_TOKEN="other", TEKTON_DAG_API_TOKEN_FILE=str(tmp_path / "token"))
    assert (await from_file.get(path, headers=AUTH)).status_code == 200
    assert (await from_file.get(path, headers={"Authorization": "Bearer other"})).status_code == 401


@pytest.mark.parametrize("path", READS)
async def test_reads_are_refused_403_when_no_token_is_configured(ingest: httpx.AsyncClient, path: str) -> None:
    response = await ingest.get(path, headers=AUTH)
    assert response.status_code == 403
    reason = response.json()["reason"]
    assert "TEKTON_DAG_API_TOKEN" in reason and "TEKTON_DAG_API_PUBLIC_READS=true" in reason


@pytest.mark.parametrize("path", READS)
@pytest.mark.parametrize("value", ["true", "TRUE", " True "])
async def test_public_reads_open_the_reads_and_only_them(make_ingest: MakeClient, path: str, value: str) -> None:
    without_token = await make_ingest(TEKTON_DAG_API_PUBLIC_READS=value)
    assert (await without_token.get(path)).status_code == 200
    with_token = await make_ingest(TEKTON_DAG_API_PUBLIC_READS=value, TEKTON_DAG_API_TOKEN=TOKEN)
    assert (await with_token.get(path)).status_code == 200
    # the writes stay closed
    assert (await with_token.post("/api/run", json={"team": "platform", "stack": "web"})).status_code == 401
    assert (await without_token.post("/api/run", json={"team": "platform", "stack": "web"})).status_code == 403


async def test_public_reads_false_is_the_default(make_ingest: MakeClient) -> None:
    client = await make_ingest(TEKTON_DAG_API_PUBLIC_READS="false", TEKTON_DAG_API_TOKEN=TOKEN)
    assert (await client.get("/api/teams")).status_code == 401
    assert (await client.get("/readyz")).status_code == 200


@pytest.mark.parametrize("value", ["yes", "1", "on", "maybe"])
async def test_a_malformed_public_reads_keeps_reads_closed_and_the_function_not_ready(
    make_ingest: MakeClient, value: str
) -> None:
    client = await make_ingest(TEKTON_DAG_API_PUBLIC_READS=value, TEKTON_DAG_API_TOKEN=TOKEN)
    assert (await client.get("/api/teams")).status_code == 401
    ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["reason"] == f"TEKTON_DAG_API_PUBLIC_READS={value!r} is not true or false"


async def test_metrics_are_not_on_the_public_port_when_a_metrics_port_is_configured(make_ingest: MakeClient) -> None:
    client = await make_ingest(METRICS_PORT=str(free_port()), METRICS_ADDRESS="127.0.0.1")
    response = await client.get("/metrics")
    assert response.status_code == 404
    assert "metrics port" in response.json()["reason"]


@pytest.mark.parametrize("env", [{}, {"METRICS_PORT": "0"}, {"METRICS_PORT": " "}])
async def test_metrics_stay_on_the_public_port_without_a_metrics_listener(
    make_ingest: MakeClient, env: dict[str, str]
) -> None:
    client = await make_ingest(**env)
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    assert "tektondag_webhooks_total" in response.text


@pytest.fixture
async def make_all_in_one(tmp_path: Path) -> AsyncIterator[MakeClient]:
    """The all-in-one in process (func-python's ASGI app), which answers with webhook-ingest's routes."""
    functions: list[all_in_one.AllInOne] = []
    clients: list[httpx.AsyncClient] = []
    teams = write_teams(tmp_path / "teams")

    async def make(**env: str) -> httpx.AsyncClient:
        function = all_in_one.new()
        state = tmp_path / f"state-{len(functions)}"
        function.start({k: v for k, v in environment(
            teams, K_SINK="", TEKTON_DAG_RECONCILE_SECONDS="0", TEKTON_DAG_CONFIG_RELOAD_S="0",
            TEKTON_DAG_JOURNAL=str(state / "journal.sqlite3"),
            TEKTON_DAG_DEAD_LETTER_FILE=str(state / "dead-letters.jsonl"), **env,
        ).items() if v != ""})
        functions.append(function)
        app = func_python.http.ASGIApplication(function)
        clients.append(httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://tekton-dag.test"))
        return clients[-1]

    yield make
    for client in clients:
        await client.aclose()
    for function in functions:
        function.stop()


async def test_the_all_in_one_guards_its_public_routes_alike(make_all_in_one: MakeClient) -> None:
    closed = await make_all_in_one(TEKTON_DAG_API_TOKEN=TOKEN, METRICS_PORT=str(free_port()),
                                   METRICS_ADDRESS="127.0.0.1")
    assert (await closed.get("/readyz")).status_code == 200
    for path in READS:
        assert (await closed.get(path)).status_code == 401, path
        assert (await closed.get(path, headers=AUTH)).status_code == 200, path
    assert (await closed.get("/metrics")).status_code == 404
    no_token = await make_all_in_one()
    assert (await no_token.get("/api/teams", headers=AUTH)).status_code == 403
    assert (await no_token.get("/metrics")).status_code == 200  # no METRICS_PORT: local use
    opened = await make_all_in_one(TEKTON_DAG_API_PUBLIC_READS="true")
    assert (await opened.get("/api/stacks")).status_code == 200


def test_a_served_webhook_ingest_keeps_metrics_on_the_metrics_port(tmp_path: Path) -> None:
    """A real process on real sockets, as the chart runs it: METRICS_PORT set, the public port closed."""
    metrics_port = free_port()
    env = environment(write_teams(tmp_path / "teams"), K_SINK="http://127.0.0.1:9", TEKTON_DAG_API_TOKEN=TOKEN,
                      METRICS_PORT=str(metrics_port), METRICS_ADDRESS="127.0.0.1")
    with served_function("webhook-ingest", env, tmp_path, ready_path="/readyz") as served:
        public = httpx.get(f"{served.url}/metrics", timeout=5)
        assert public.status_code == 404, public.text
        assert httpx.get(f"{served.url}/api/teams", timeout=5).status_code == 401
        assert httpx.get(f"{served.url}/api/teams", headers=AUTH, timeout=5).status_code == 200
        deadline = time.monotonic() + 5  # the listener starts half a second after start (functions.lifecycle)
        while True:
            try:
                scrape = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "no metrics listener"
                time.sleep(0.05)
        assert scrape.status_code == 200
        assert "tektondag_webhooks_total" in scrape.text
