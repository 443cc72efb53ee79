"""Webhook → PipelineRun latency through all four functions and the local Broker, against the fake API.

The chain is `tekton-dag dev`'s (four `tekton-dag serve` processes + the local Broker in this
process); Kubernetes is the fake API server (tekton_dag.testing.kube_api) in its own process. Each
webhook is a distinct signed pull_request.opened (its own PR number, so nothing is superseded);
latency is from just before the POST to webhook-ingest (sent by a separate load-generator
process) until run-creator's outcome event (run.created or run.queued: the PipelineRun exists)
re-enters the Broker. Load is open-loop at a steady rate. Targets at 100 webhooks/s: p50 ≤ 15 ms, p99 ≤ 60 ms. Then the rate steps up until p99
exceeds 250 ms; the last rate that stayed under is the maximum sustained rate. Each steady run also
reports the CPU time per webhook of the four function processes and of the Broker (this process),
from /proc: what instrumentation such as the metrics costs (``--steps ""`` skips the stepping).

    .venv/bin/python bench/chain_throughput.py [--rate 100] [--seconds 10] [--steps 25,50,75,100,150,200,300]

The load generator (`loadgen.py`) stands in for GitHub in its own process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tekton_dag.devchain.chain import Chain, ChainSettings
from tekton_dag.events import catalog

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-secret"
REPO = "jmjava/tekton-dag-vue-fe"
# The fake API in its own process (it sets TCP_NODELAY itself, as a real kube-apiserver does).
# Without its cyclic garbage collector: what it stores is parsed JSON, which has no reference
# cycles, and a full collection over a thousand stored PipelineRuns stops every answer for tens of
# milliseconds, which a kube-apiserver (Go, concurrent collector) does not do.
FAKE_API = (
    "import gc, sys; gc.disable(); import tekton_dag.testing.kube_api as fake\n"
    "api = fake.FakeKubeApi().start(); print(api.kubeconfig, flush=True); sys.stdin.read(); api.stop()\n"
)


class Clock:
    """Send times by delivery id, and when each stage's event reached the Broker (its observer):
    the GitHub event (webhook-ingest done), run.requested (resolver done), the outcome (run-creator done)."""

    def __init__(self) -> None:
        self.sent: dict[str, float] = {}
        self.done: dict[str, float] = {}
        self.ingested: dict[str, float] = {}
        self.resolved: dict[str, float] = {}

    def __call__(self, event: Any) -> None:
        now, kind = time.perf_counter(), event.get_type()
        data = event.get_data()
        delivery = event.get_extension(catalog.EXT_GITHUB_DELIVERY) or (
            data.get("delivery") if isinstance(data, dict) else None) or event.get_id()
        if kind in (catalog.GITHUB_PULL_REQUEST, catalog.GITHUB_PUSH):
            self.ingested.setdefault(event.get_id(), now)
        elif kind == catalog.RUN_REQUESTED:
            self.resolved.setdefault(delivery, now)
        elif kind in (catalog.RUN_CREATED, catalog.RUN_QUEUED, catalog.RUN_FAILED):
            self.done.setdefault(delivery, now)

    def stages(self, ids: list[str]) -> str:
        """p50 / p99 of each hop, in ms, for the deliveries that went all the way."""
        full = [i for i in ids if i in self.ingested and i in self.resolved and i in self.done]
        hops = {
            "ingest": [self.ingested[i] - self.sent[i] for i in full],
            "resolver": [self.resolved[i] - self.ingested[i] for i in full],
            "run-creator": [self.done[i] - self.resolved[i] for i in full],
        }
        return "  ".join(f"{name} {statistics.median(v) * 1000:.1f}/{percentile(v, 99) * 1000:.1f}"
                         for name, v in hops.items() if v)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def chain_cpu(chain: Chain) -> tuple[float, float]:
    """CPU seconds so far of the function processes, and of this process (the Broker)."""
    functions = sum(cpu_seconds(fn.process.pid) for fn in chain.functions.values() if fn.process is not None)
    return functions, time.process_time()


async def run_rate(chain: Chain, clock: Clock, rate: float, seconds: float, first_pr: int) -> dict[str, Any]:
    count = int(rate * seconds)
    cpu_before = chain_cpu(chain)
    generator = await asyncio.create_subprocess_exec(
        sys.executable, str(Path(__file__).with_name("loadgen.py")), chain.webhook_url, SECRET, REPO,
        str(rate), str(count), str(first_pr),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await generator.communicate()
    records = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    for record in records:
        clock.sent[record["id"]] = record["sent"]
    refused = sum(1 for r in records if r["status"] != 202)
    ids = [r["id"] for r in records]
    deadline = time.perf_counter() + 30
    while any(i not in clock.done for i in ids) and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    latencies = [(clock.done[i] - clock.sent[i]) * 1000 for i in ids if i in clock.done]
    functions, broker = (after - before for after, before in zip(chain_cpu(chain), cpu_before))
    return {
        "cpu_functions_ms": functions * 1000 / max(count, 1), "cpu_broker_ms": broker * 1000 / max(count, 1),
        "rate": rate, "sent": count, "refused": refused, "completed": len(latencies),
        "p50": statistics.median(latencies) if latencies else float("nan"),
        "p99": percentile(latencies, 99) if latencies else float("nan"),
        "max": max(latencies) if latencies else float("nan"),
        "stages": clock.stages(ids),
    }


def show(result: dict[str, Any]) -> None:
    print(f"{result['rate']:>6.0f}/s  sent {result['sent']:>5.0f}  refused {result['refused']:>3.0f}  "
          f"completed {result['completed']:>5.0f}  p50 {result['p50']:>7.1f} ms  p99 {result['p99']:>7.1f} ms  "
          f"max {result['max']:>7.1f} ms", flush=True)
    print(f"          per hop p50/p99 ms: {result['stages']}", flush=True)
    print(f"          CPU per webhook: functions {result['cpu_functions_ms']:.2f} ms + Broker "
          f"{result['cpu_broker_ms']:.2f} ms", flush=True)


async def measure(rate: float, seconds: float) -> dict[str, Any]:
    """One measurement on a fresh chain and a fresh fake API (no backlog or stored runs carried over)."""
    fake = subprocess.Popen([sys.executable, "-c", FAKE_API], cwd=ROOT, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    kubeconfig = fake.stdout.readline().strip()
    clock = Clock()
    work = Path(tempfile.mkdtemp(prefix="tekton-dag-bench-"))
    chain = Chain(ChainSettings(teams_dir=ROOT / "teams", work_dir=work, secret=SECRET, kubeconfig=kubeconfig,
                                extra_env={"TEKTON_DAG_RECONCILE_SECONDS": "0"}), observers=(clock,))
    await chain.start()
    try:
        await run_rate(chain, clock, 20, 1, first_pr=100000)  # warm-up: connections, caches
        return await run_rate(chain, clock, rate, seconds, first_pr=1)
    finally:
        await chain.stop(grace=1)
        fake.stdin.close()
        fake.wait(10)


async def main(steady: float, seconds: float, steps: list[float]) -> None:
    print(f"steady {steady:.0f} webhooks/s for {seconds:.0f} s (targets: p50 ≤ 15 ms, p99 ≤ 60 ms)")
    result = await measure(steady, seconds)
    show(result)
    print(f"targets {'met' if result['p50'] <= 15 and result['p99'] <= 60 else 'MISSED'}")
    if not steps:
        return
    print(f"stepping up until p99 > 250 ms ({seconds:.0f} s each, fresh chain each):")
    sustained = 0.0
    for rate in steps:
        result = await measure(rate, seconds)
        show(result)
        if result["p99"] > 250 or result["completed"] < result["sent"] or result["refused"]:
            break
        sustained = rate
    print(f"maximum sustained rate with p99 ≤ 250 ms: {sustained:.0f} webhooks/s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rate", type=float, default=100, help="the steady rate (webhooks/s)")
    parser.add_argument("--steps", default="25,50,75,100,150,200,300", help="rates tried in turn for the maximum")
    args = parser.parse_args()
    asyncio.run(main(args.rate, args.seconds, [float(s) for s in args.steps.split(",") if s]))
