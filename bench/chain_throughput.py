"""Webhook → PipelineRun latency through all four functions and the local Broker, against the fake API.

The chain is `tekton-dag dev`'s (four `tekton-dag serve` processes + the local Broker in this
process); Kubernetes is the fake API server (tests/support/kube_api.py) in its own process. Each
webhook is a distinct signed pull_request.opened (its own PR number, so nothing is superseded);
latency is from just before the POST to webhook-ingest until run-creator's outcome event
(run.created or run.queued: the PipelineRun exists) re-enters the Broker. Load is open-loop at a
steady rate. Targets at 100 webhooks/s: p50 ≤ 15 ms, p99 ≤ 60 ms. Then the rate steps up until p99
exceeds 250 ms; the last rate that stayed under is the maximum sustained rate.

    .venv/bin/python bench/chain_throughput.py [--seconds 10] [--steps 100,150,200,300,400]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from tekton_dag import github_samples
from tekton_dag.eventing.chain import Chain, ChainSettings
from tekton_dag.events import catalog

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-secret"
REPO = "jmjava/tekton-dag-vue-fe"
# The fake API in its own process. TCP_NODELAY on its responses, as a real kube-apiserver (Go's
# net/http) has: without it, http.server's separate header and body writes meet delayed ACKs and
# every call costs ~40 ms, which would measure the fake, not the chain.
FAKE_API = (
    "import sys; sys.path.insert(0, 'tests'); import support.kube_api as fake\n"
    "fake._Handler.disable_nagle_algorithm = True\n"
    "api = fake.FakeKubeApi().start(); print(api.kubeconfig, flush=True); sys.stdin.read(); api.stop()\n"
)


class Clock:
    """Send times by delivery id, and outcome times recorded by the Broker observer."""

    def __init__(self) -> None:
        self.sent: dict[str, float] = {}
        self.done: dict[str, float] = {}

    def __call__(self, event: Any) -> None:
        if event.get_type() in (catalog.RUN_CREATED, catalog.RUN_QUEUED, catalog.RUN_FAILED):
            data = event.get_data()
            if isinstance(data, dict) and data.get("delivery") in self.sent:
                self.done.setdefault(data["delivery"], time.perf_counter())


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def run_rate(chain: Chain, clock: Clock, client: httpx.AsyncClient, rate: float, seconds: float,
                   first_pr: int) -> dict[str, float]:
    count = int(rate * seconds)
    deliveries = [github_samples.build(github_samples.Sample("pull_request.opened", REPO, number=first_pr + i), SECRET)
                  for i in range(count)]
    refused = 0

    async def post(delivery: github_samples.Delivery) -> None:
        nonlocal refused
        clock.sent[delivery.delivery_id] = time.perf_counter()
        response = await client.post(chain.webhook_url, headers=delivery.headers, content=delivery.body)
        if response.status_code != 202:
            refused += 1

    start = time.perf_counter()
    tasks = []
    for i, delivery in enumerate(deliveries):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(post(delivery)))
    await asyncio.gather(*tasks)
    ids = [d.delivery_id for d in deliveries]
    deadline = time.perf_counter() + 30
    while any(i not in clock.done for i in ids) and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    latencies = [(clock.done[i] - clock.sent[i]) * 1000 for i in ids if i in clock.done]
    return {
        "rate": rate, "sent": count, "refused": refused, "completed": len(latencies),
        "p50": statistics.median(latencies) if latencies else float("nan"),
        "p99": percentile(latencies, 99) if latencies else float("nan"),
        "max": max(latencies) if latencies else float("nan"),
    }


def show(result: dict[str, float]) -> None:
    print(f"{result['rate']:>6.0f}/s  sent {result['sent']:>5.0f}  refused {result['refused']:>3.0f}  "
          f"completed {result['completed']:>5.0f}  p50 {result['p50']:>7.1f} ms  p99 {result['p99']:>7.1f} ms  "
          f"max {result['max']:>7.1f} ms", flush=True)


async def main(seconds: float, steps: list[float]) -> None:
    fake = subprocess.Popen([sys.executable, "-c", FAKE_API], cwd=ROOT, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    kubeconfig = fake.stdout.readline().strip()
    clock = Clock()
    work = Path(tempfile.mkdtemp(prefix="tekton-dag-bench-"))
    chain = Chain(ChainSettings(teams_dir=ROOT / "teams", work_dir=work, secret=SECRET, kubeconfig=kubeconfig,
                                extra_env={"TEKTON_DAG_RECONCILE_SECONDS": "0"}), observers=(clock,))
    await chain.start()
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=100)
    try:
        async with httpx.AsyncClient(limits=limits, timeout=30) as client:
            await run_rate(chain, clock, client, 20, 1, first_pr=1)  # warm-up: connections, caches
            pr = 1000
            print(f"steady {steps[0]:.0f} webhooks/s for {seconds:.0f} s (targets: p50 ≤ 15 ms, p99 ≤ 60 ms)")
            result = await run_rate(chain, clock, client, steps[0], seconds, pr)
            show(result)
            verdict = "met" if result["p50"] <= 15 and result["p99"] <= 60 else "MISSED"
            print(f"targets {verdict}")
            print("stepping up until p99 > 250 ms:")
            sustained = 0.0
            for rate in steps:
                pr += 100000
                result = await run_rate(chain, clock, client, rate, max(3.0, seconds / 2), pr)
                show(result)
                if result["p99"] > 250 or result["completed"] < result["sent"] or result["refused"]:
                    break
                sustained = rate
            print(f"maximum sustained rate with p99 ≤ 250 ms: {sustained:.0f} webhooks/s")
            print(f"broker: {chain.broker.stats if chain.broker else {}}")
    finally:
        await chain.stop()
        fake.stdin.close()
        fake.wait(10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--steps", default="100,150,200,300,400,600")
    args = parser.parse_args()
    asyncio.run(main(args.seconds, [float(s) for s in args.steps.split(",")]))
