"""A crash of the one-machine chain mid-burst loses no acked webhook and doubles none.

`tekton-dag dev` (and the all-in-one function) is SIGKILLed, with every function process, while
webhooks arrive at 150/s; then it is started again on the same journal and dry-run directory.
Every webhook that was answered 202 must end as exactly one PipelineRun YAML file or a dead
letter; no pull request may get two runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
import time
from pathlib import Path

import httpx
import pytest
from test_all_in_one import SERVE

from support.e2e import REPO, ROOT, TEAMS
from tekton_dag.devchain import samples
from tekton_dag.testing.serving import free_port

pytestmark = pytest.mark.slow

SECRET = "crash-secret"
RATE = 150.0
BURST = 300  # two seconds at 150/s
KILL_AFTER_ACKS = 40  # the crash comes once this many are acked (a one-process chain acks slower)


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (from /proc), children first taken before anyone dies."""
    found = [pid]
    for proc in Path("/proc").iterdir():
        try:
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        if proc.name.isdigit() and int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found += process_tree(int(proc.name))
    return found


async def wait_ready(url: str, process: asyncio.subprocess.Process, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=1) as client:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise AssertionError(f"exited with {process.returncode} before it was ready")
            try:
                if (await client.get(url)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError(f"{url} not ready in {timeout}s")


async def burst_and_kill(url: str, pid: int) -> dict[int, int]:
    """POST ``BURST`` signed pull_request.opened webhooks (PR 1..BURST) at ``RATE``/s; SIGKILL the
    process tree under ``pid`` once ``KILL_AFTER_ACKS`` are acked. Returns PR number → status (0: no answer)."""
    deliveries = [
        samples.build(samples.Sample("pull_request.opened", REPO, number=n), SECRET) for n in range(1, BURST + 1)
    ]
    statuses: dict[int, int] = {}
    tree = process_tree(pid)
    loop = asyncio.get_running_loop()
    async with httpx.AsyncClient(timeout=10, limits=httpx.Limits(max_connections=300)) as client:

        async def post(number: int, delivery: samples.Delivery, due: float) -> None:
            await asyncio.sleep(max(0.0, due - loop.time()))
            try:
                statuses[number] = (await client.post(url, headers=delivery.headers, content=delivery.body)).status_code
            except httpx.HTTPError:
                statuses[number] = 0

        async def kill() -> None:
            deadline = loop.time() + 30  # a loaded machine acks slowly
            while sum(1 for s in statuses.values() if s == 202) < KILL_AFTER_ACKS and loop.time() < deadline:
                await asyncio.sleep(0.005)
            for member in tree:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(member, signal.SIGKILL)

        start = loop.time()
        await asyncio.gather(kill(), *(post(n, d, start + (n - 1) / RATE) for n, d in enumerate(deliveries, 1)))
    return statuses


def runs_per_pr(runs: Path) -> dict[int, int]:
    counts: dict[int, int] = {}
    for path in runs.rglob("*.yaml"):
        match = re.search(r"-pr(\d+)-", path.name)
        if match:
            counts[int(match[1])] = counts.get(int(match[1]), 0) + 1
    return counts


def dead_lettered_prs(file: Path) -> set[int]:
    prs = set()
    if file.exists():
        for line in file.read_text().splitlines():
            data = json.loads(line)["event"].get("data") or {}
            number = (data.get("pull_request") or data.get("pr") or {}).get("number")
            if number:
                prs.add(int(number))
    return prs


async def check_recovery(acked: set[int], runs: Path, dead_letters: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        missing = acked - set(runs_per_pr(runs)) - dead_lettered_prs(dead_letters)
        if not missing:
            break
        await asyncio.sleep(0.25)
    await asyncio.sleep(0.5)  # anything still on its way would show up as a duplicate now
    counts = runs_per_pr(runs)
    missing = acked - set(counts) - dead_lettered_prs(dead_letters)
    assert not missing, f"{len(missing)} of {len(acked)} acked webhooks have neither a PipelineRun nor a dead letter"
    doubled = {pr: n for pr, n in counts.items() if n > 1}
    assert not doubled, f"pull requests with more than one run: {doubled}"


async def stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            for member in process_tree(process.pid):
                os.kill(member, signal.SIGKILL)


async def test_sigkill_of_tekton_dag_dev_mid_burst_loses_no_acked_webhook(tmp_path):
    port, runs, work = free_port(), tmp_path / "runs", tmp_path / "work"
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    env["GITHUB_WEBHOOK_SECRET"] = SECRET
    command = [
        sys.executable,
        "-m",
        "tekton_dag.cli.main",
        "dev",
        "--teams",
        str(TEAMS),
        "--port",
        str(port),
        "--dry-run-dir",
        str(runs),
        "--work-dir",
        str(work),
        "--journal",
        str(tmp_path / "journal.sqlite3"),
    ]
    url = f"http://127.0.0.1:{port}/webhook/github"

    first = await asyncio.create_subprocess_exec(
        *command, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    await wait_ready(f"http://127.0.0.1:{port}/health/readiness", first)
    await asyncio.sleep(1)  # every function up (webhook-ingest is the last thing the banner waits for)
    statuses = await burst_and_kill(url, first.pid)
    await first.wait()
    acked = {pr for pr, status in statuses.items() if status == 202}
    assert 20 <= len(acked) < BURST, (
        f"the crash must come mid-burst ({len(acked)} acked: {sorted(statuses.items())[:40]})"
    )

    second = await asyncio.create_subprocess_exec(
        *command, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        await wait_ready(f"http://127.0.0.1:{port}/health/readiness", second)
        await check_recovery(acked, runs, work / "dead-letters.jsonl")
    finally:
        await stop(second)


async def test_sigkill_of_the_all_in_one_function_mid_burst_loses_no_acked_webhook(tmp_path):
    port, runs = free_port(), tmp_path / "runs"
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "K_SINK")}
    env.update(
        LISTEN_ADDRESS=f"127.0.0.1:{port}",
        TEKTON_DAG_TEAMS_DIR=str(TEAMS),
        GITHUB_WEBHOOK_SECRET=SECRET,
        TEKTON_DAG_DRY_RUN_DIR=str(runs),
        TEKTON_DAG_DEAD_LETTER_FILE=str(tmp_path / "dl.jsonl"),
        TEKTON_DAG_JOURNAL=str(tmp_path / "journal.sqlite3"),
        TEKTON_DAG_RECONCILE_SECONDS="0",
    )
    url = f"http://127.0.0.1:{port}/webhook/github"

    async def start() -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            SERVE,
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await wait_ready(f"http://127.0.0.1:{port}/health/readiness", process)
        return process

    first = await start()
    statuses = await burst_and_kill(url, first.pid)
    await first.wait()
    acked = {pr for pr, status in statuses.items() if status == 202}
    assert 20 <= len(acked) < BURST, (
        f"the crash must come mid-burst ({len(acked)} acked: {sorted(statuses.items())[:40]})"
    )

    second = await start()
    try:
        await check_recovery(acked, runs, tmp_path / "dl.jsonl")
    finally:
        await stop(second)
