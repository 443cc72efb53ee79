"""The journal's cost in the local Broker itself: ingress ack latency and CPU per event.

The Broker (the real ``LocalBroker`` with the Triggers of ``knative/``) runs in this process;
events come through its ASGI app and its deliveries go to an in-process subscriber that answers
202 (``httpx.ASGITransport`` both ways), so nothing but the Broker's own work is measured: decode,
filter, journal write, 202, then the delivery and the journal's mark. Each event is a slim
github.pull_request CloudEvent (one delivery, to resolver), sent every 2 ms; latency is the POST
until its 202, CPU is this process's per event. A webhook through the whole chain is three such
events (the GitHub event, run.requested, run.created), so the chain's extra cost is about three
times the difference between the rows. chain_throughput.py measures the whole chain.

    .venv/bin/python bench/broker_ack.py [--events 2000] [--journal none,NORMAL,FULL] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from cloudevents.core.bindings.http import to_binary_event
from cloudevents.core.v1.event import CloudEvent

from tekton_dag.bus.broker import LocalBroker
from tekton_dag.bus.journal import Journal
from tekton_dag.bus.triggers import load_topology
from tekton_dag.events import catalog
from tekton_dag.functions.serving import FUNCTIONS

ROOT = Path(__file__).resolve().parents[1]
DATA = {"repo": "jmjava/tekton-dag-vue-fe", "sender": "octocat", "pull_request": {
    "action": "opened", "number": 7, "draft": False, "merged": False, "base_ref": "main",
    "base_repo": "jmjava/tekton-dag-vue-fe", "head_sha": "a" * 40, "head_ref": "feature/x",
    "head_repo": "jmjava/tekton-dag-vue-fe", "merge_commit_sha": ""}}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def accepting(scope: dict, receive, send) -> None:  # type: ignore[no-untyped-def]
    """A subscriber that answers every delivery 202."""
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 202, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def run(mode: str, events: int, scratch: Path) -> None:
    journal = None if mode == "none" else Journal(scratch / f"journal-{mode}.sqlite3", mode)  # type: ignore[arg-type]
    services = {name: f"http://{name}.bench/" for name in FUNCTIONS}
    broker = LocalBroker(load_topology(ROOT / "knative"), services, scratch / "dl.jsonl", journal=journal)
    subscriber = httpx.ASGITransport(app=accepting)  # type: ignore[arg-type]
    broker.start({f"all://{name}.bench": subscriber for name in FUNCTIONS})
    latencies: list[float] = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=broker), base_url="http://broker") as client:  # type: ignore[arg-type]
        async def post(i: int) -> None:
            event = CloudEvent({"type": catalog.GITHUB_PULL_REQUEST, "source": "/bench", "id": f"e-{mode}-{i}",
                                "subject": DATA["repo"], catalog.EXT_PARTITION_KEY: DATA["repo"]}, DATA)
            message = to_binary_event(event)
            started = time.perf_counter()
            response = await client.post("/tekton-dag/tekton-dag", headers=dict(message.headers), content=message.body)
            latencies.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 202, response.status_code

        for i in range(200):  # warm-up
            await post(i)
        await broker.drained(10)
        latencies.clear()
        cpu = time.process_time()
        tasks = []
        for i in range(events):
            tasks.append(asyncio.create_task(post(1000 + i)))
            await asyncio.sleep(0.002)
        await asyncio.gather(*tasks)
        await broker.drained(30)
        cpu = time.process_time() - cpu
    await broker.close(0)
    print(f"journal {mode:<7} ack p50 {statistics.median(latencies):6.3f} ms  p99 {percentile(latencies, 99):6.3f} ms  "
          f"CPU {cpu / events * 1000:6.3f} ms per event (ingress + delivery)", flush=True)


async def main(events: int, modes: list[str], rounds: int) -> None:
    print(f"{events} events, one every 2 ms; load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(dir=ROOT, prefix=".broker-ack-") as scratch:
        for mode in modes * rounds:
            await run(mode, events, Path(scratch))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--journal", default="none,NORMAL,FULL", help="journal settings measured in turn")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    asyncio.run(main(args.events, args.journal.split(","), args.rounds))
