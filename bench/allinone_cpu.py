"""The all-in-one's CPU per webhook in one process, without its HTTP server: an A/B yardstick.

    .venv/bin/python bench/allinone_cpu.py [--rate 0] [--webhooks 400] [--profile OUT.prof]
    PYTHONPATH=<export>/functions/core .venv/bin/python bench/allinone_cpu.py ...   # another version

``compare_upstream.py`` measures the whole served system, but on a shared machine its CPU per
webhook moves with the load: the busier the process, the more the group commit batches ledger
writes. This measures only the code: the fake Kubernetes API in its own process (as there), the
all-in-one (``functions.all_in_one``, journal on) started in this process, and each signed
``pull_request.opened`` webhook handed to its ASGI ``handle`` directly (no hypercorn). With
``--rate 0`` (the default) webhooks go one at a time, each waiting until the bus is idle, so
every webhook costs the same API requests (its create and one ledger write): this process's CPU
time per webhook then compares versions run back to back. ``--rate R`` sends open-loop at R/s
instead; ``--profile`` writes a cProfile (timer: process time) of the measured part.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from compare_upstream import FAKE_API, NAMESPACE, REPO, SECRET

from tekton_dag.devchain import samples

ROOT = Path(__file__).resolve().parents[1]
Message = dict[str, Any]


def deliveries(first: int, count: int) -> list[tuple[list[tuple[bytes, bytes]], bytes]]:
    signed = [samples.build(samples.Sample("pull_request.opened", REPO, number=first + i), SECRET)
              for i in range(count)]
    return [([(k.lower().encode(), v.encode()) for k, v in d.headers.items()], d.body) for d in signed]


async def post(app: Any, headers: list[tuple[bytes, bytes]], body: bytes) -> int:
    scope = {"type": "http", "method": "POST", "path": "/webhook/github", "headers": headers, "query_string": b""}
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    status: list[int] = []

    async def receive() -> Message:
        return messages.pop() if messages else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app.handle(scope, receive, send)
    return status[0]


async def started() -> Any:
    """The all-in-one started in this process (``run`` set its environment), ready and warmed up:
    the client, caches and the team's ledger."""
    from tekton_dag.functions import all_in_one

    app = all_in_one.new()
    app.start(dict(os.environ))
    while not app.ready()[0]:
        await asyncio.sleep(0.05)
    for headers, body in deliveries(100000, 20):
        await post(app, headers, body)
    await asyncio.sleep(1.0)
    return app


async def stopped(app: Any, fake: subprocess.Popen[str]) -> tuple[float, int, dict[str, float]]:
    """Stop ``app``, then the fake API: its CPU s, its requests, PR → when its run was stored."""
    app.stop()
    await asyncio.sleep(0.2)
    assert fake.stdin is not None and fake.stdout is not None
    fake.stdin.close()
    api_cpu, requests, created, *_ = json.loads(fake.stdout.readline())
    return api_cpu, requests, created


async def measure(args: argparse.Namespace, fake: subprocess.Popen[str]) -> None:
    app = await started()
    todo = deliveries(1, args.webhooks)
    gc.collect()
    profile = cProfile.Profile(time.process_time) if args.profile else None
    started_cpu = time.process_time()
    if profile:
        profile.enable()
    loop = asyncio.get_running_loop()
    start, sent, statuses = loop.time(), [], []
    for i, (headers, body) in enumerate(todo):
        if args.rate <= 0:
            statuses.append(await post(app, headers, body))
            await app.broker.drained(30)
            continue
        delay = start + i / args.rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        sent.append(asyncio.ensure_future(post(app, headers, body)))
    statuses += await asyncio.gather(*sent)
    await app.broker.drained(30)
    if profile:
        profile.disable()
        profile.dump_stats(args.profile)
    used = time.process_time() - started_cpu
    api_cpu, requests, created = await stopped(app, fake)
    print(f"{'sequential' if args.rate <= 0 else f'{args.rate:.0f}/s'}, {args.webhooks} webhooks: "
          f"CPU {used / args.webhooks * 1000:.3f} ms per webhook, API {requests / (args.webhooks + 20):.2f} "
          f"requests per webhook ({api_cpu / max(requests, 1) * 1000:.2f} ms API CPU each), "
          f"runs {len(created)}, answers {sorted(set(statuses))}, load average {os.getloadavg()[0]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=0, help="webhooks/s open-loop; 0: one at a time")
    parser.add_argument("--webhooks", type=int, default=400)
    parser.add_argument("--profile", help="write a cProfile of the measured part here")
    run(measure(parser.parse_args(), start_fake_api("allinone-cpu")))


def start_fake_api(name: str) -> subprocess.Popen[str]:
    """The fake API in its own process, and this process's environment set for an all-in-one
    that calls it as its ServiceAccount, with its journal and logs in a new work directory."""
    fake = subprocess.Popen([sys.executable, "-c", FAKE_API, "all-in-one", NAMESPACE], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert fake.stdout is not None
    _, _, accounts = json.loads(fake.stdout.readline())
    work = Path(tempfile.mkdtemp(prefix=f"tekton-dag-{name}-"))
    os.environ.update({"TEKTON_DAG_TEAMS_DIR": str(ROOT / "teams"), "GITHUB_WEBHOOK_SECRET": SECRET,
                       "KUBECONFIG": accounts["all-in-one"], "TEKTON_DAG_RECONCILE_SECONDS": "0",
                       "TEKTON_DAG_DEAD_LETTER_FILE": str(work / "dead-letters.jsonl"),
                       "TEKTON_DAG_JOURNAL": str(work / "journal.sqlite3")})
    os.environ.pop("K_SINK", None)
    logging.basicConfig(level=logging.INFO, filename=work / "log")  # the functions' lines, off the terminal
    return fake


def run(measurement: Coroutine[Any, Any, None]) -> None:
    """``measurement`` on the loop the functions serve on (uvloop)."""
    from tekton_dag.functions import loops

    loops.install()
    asyncio.run(measurement)


if __name__ == "__main__":
    main()
