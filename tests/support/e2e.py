"""End-to-end support: the real chain (five function processes + local Broker) against the fake API.

Each function talks to the fake API as its own ServiceAccount of team default's release
(``tekton-dag-<function>`` in ``tekton-dag-default``), with the rights the Helm chart gives it.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tekton_dag.devchain.chain import Chain, ChainSettings
from tekton_dag.functions.serving import FUNCTIONS
from tekton_dag.testing.kube_api import FakeKubeApi

ROOT = Path(__file__).resolve().parents[2]
TEAMS = ROOT / "teams"
KNATIVE = ROOT / "knative"
SECRET = "e2e-webhook-secret"
REPO = "jmjava/tekton-dag-vue-fe"  # demo-fe of stack-one, team default
TEAM_NAMESPACE = "tekton-dag-default"  # team default's namespace: its release's ServiceAccounts live there
FAST_RETRIES = {"retry": 40, "backoffPolicy": "linear", "backoffDelay": "PT0.05S"}


def fast_triggers(directory: Path, delivery: dict[str, Any] = FAST_RETRIES) -> Path:
    """knative/ copied with the Broker's DeliverySpec shortened (same Triggers, quicker retries)."""
    shutil.copytree(KNATIVE, directory)
    path = directory / "broker.yaml"
    docs = list(yaml.safe_load_all(path.read_text()))
    for doc in docs:
        if doc["kind"] == "Broker":
            doc["spec"]["delivery"] = {**doc["spec"]["delivery"], **delivery}
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return directory


@dataclass
class Outcomes:
    """Every event the Broker admitted, as an observer sees it (types in order)."""

    types: list[str] = field(default_factory=list)
    data: list[Any] = field(default_factory=list)

    def __call__(self, event: Any) -> None:
        self.types.append(event.get_type())
        self.data.append(event.get_data())


def service_account_kubeconfigs(api: FakeKubeApi, namespace: str = TEAM_NAMESPACE) -> dict[str, str]:
    """Each function's own kubeconfig: its ServiceAccount's token, as the chart names it."""
    return {name: str(api.kubeconfig_for(namespace, f"tekton-dag-{name}")) for name in FUNCTIONS}


@contextlib.asynccontextmanager
async def running_chain(tmp_path: Path, api: FakeKubeApi, simulate_tekton: bool = False, task_seconds: float = 0.2,
                        teams: Path = TEAMS, env: dict[str, str] | None = None,
                        **delivery: Any) -> AsyncIterator[tuple[Chain, Outcomes]]:
    outcomes = Outcomes()
    settings = ChainSettings(
        teams_dir=teams, work_dir=tmp_path / "work", secret=SECRET,
        triggers_dir=fast_triggers(tmp_path / "knative", {**FAST_RETRIES, **delivery}),
        # each function as its own ServiceAccount; the admin's for what is not a function (simulated Tekton)
        kubeconfig=str(api.kubeconfig), kubeconfigs=service_account_kubeconfigs(api),
        extra_env={"TEKTON_DAG_RECONCILE_SECONDS": "0", **(env or {})},
        simulate_tekton=simulate_tekton, task_seconds=task_seconds,
    )
    chain = Chain(settings, observers=(outcomes,))
    await chain.start()
    try:
        yield chain, outcomes
    finally:
        await chain.stop()


async def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """``tekton-dag ARGS`` as a real process (without blocking the loop the Broker runs on)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tekton_dag.cli.main", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    return process.returncode or 0, out.decode(), err.decode()


async def send(chain: Chain, kind: str = "pull_request.opened", *extra: str, installation: int = 0) -> str:
    """``tekton-dag send`` to the chain; ``installation``: as that GitHub App installation's webhook (the
    dev chain's GitHub API double has installation 1), else as a repository webhook."""
    app = ("--installation", str(installation)) if installation else ()
    code, out, err = await run_cli("send", kind, REPO, "--url", chain.webhook_url, "--secret", SECRET, *app, *extra)
    assert code == 0, out + err
    return out


async def eventually(check: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s")
        await asyncio.sleep(0.05)


def params(run: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["value"] for p in run["spec"]["params"]}


async def wait_ready(base_url: str, what: str, tries: int = 300) -> None:
    """Poll ``base_url``'s readiness probe (func-python's ``/health/readiness``) until it answers 200."""
    import httpx

    async with httpx.AsyncClient() as client:
        for _ in range(tries):
            try:
                if (await client.get(f"{base_url}/health/readiness")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError(f"{what} not ready")


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(url: str) -> Samples:
    """Every sample of a scrape, keyed by name and labels; the parser refuses a malformed exposition.
    A refused connection is tried again for 5 s: a function's ``METRICS_PORT`` listener starts in the
    background half a second after start, after ready (functions.lifecycle, docs/operations.md)."""
    deadline = asyncio.get_running_loop().time() + 5
    async with httpx.AsyncClient() as client:
        while True:
            try:
                response = await client.get(url)
                break
            except httpx.ConnectError:
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.05)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels`` (0 when none)."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)
