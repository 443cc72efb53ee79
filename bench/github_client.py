"""CPU per GitHub API call of tekton-dag's client, against the loopback GitHub API double.

Measures the client process only (``time.process_time``; the double serves from its own threads,
whose CPU is counted too, so figures are an upper bound): ``create_check_run`` through
``tekton_dag.github.client.Client`` (App auth, token cached) and the same request with bare httpx,
so the difference is what the client adds (URL templates, headers, answer decoding, metrics).
Also: GitHub API calls per run from queued to completed (create + update, token amortised).

    .venv/bin/python bench/github_client.py [--calls 300]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import httpx

from tekton_dag.github.client import Client
from tekton_dag.github.port import CheckOutput, Repo
from tekton_dag.github.settings import AppCredentials, Settings
from tekton_dag.testing.github_api import GitHubApiDouble

REPO = Repo("Codertocat", "Hello-World", installation_id=1001)
OUTPUT = CheckOutput("Queued", "waiting for a slot")
BODY = {"name": "tekton-dag / web (hello)", "head_sha": "a" * 40, "external_id": "x", "status": "queued",
        "output": {"title": "Queued", "summary": "waiting for a slot"}}


async def measure(calls: int) -> None:
    with GitHubApiDouble(validate_answers=False) as github:
        client = Client(Settings(api_url=github.url, app=AppCredentials(github.app_id, github.private_key_pem)))

        async def through_client() -> None:
            await client.create_check_run(REPO, name=BODY["name"], head_sha=BODY["head_sha"], external_id="x",
                                          status="queued", conclusion=None, output=OUTPUT)

        await through_client()  # token fetched and cached
        token = next(iter(github.tokens))
        raw = httpx.AsyncClient(headers={"authorization": f"token {token}"})

        async def bare() -> None:
            (await raw.post(f"{github.url}/repos/Codertocat/Hello-World/check-runs", json=BODY)).json()

        for name, call in (("httpx alone", bare), ("tekton-dag client", through_client)):
            for _ in range(20):
                await call()
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(calls):
                await call()
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            print(f"{name:18s} CPU {1000 * cpu / calls:.2f} ms/call  wall {1000 * wall / calls:.2f} ms/call")
        before = len(github.calls)
        run_id = await client.create_check_run(REPO, name="n", head_sha="b" * 40, external_id="y", status="queued",
                                               conclusion=None, output=OUTPUT)
        await client.update_check_run(REPO, run_id, status="in_progress", conclusion=None, output=OUTPUT)
        await client.update_check_run(REPO, run_id, status="completed", conclusion="success", output=OUTPUT)
        print(f"API calls for one run queued → started → completed: {len(github.calls) - before}")
        await raw.aclose()
        await client.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    asyncio.run(measure(parser.parse_args().calls))
