"""Crash recovery: from restart to every journalled event delivered, for 1,000 pending events.

The chain is `tekton-dag dev`'s (bench/chain_throughput.py has the set-up) with the Broker's
journal on. First, with resolver down, 1,000 signed pull_request.opened webhooks (each its own
PR) are acked: each is journalled and waits for resolver, retried with the Broker's backoff.
Then the chain stops with them still pending (a stop with a journal keeps what is unfinished,
as a SIGKILL would: tests/e2e/test_crash_recovery.py checks the SIGKILL itself), and a new
chain starts on the same journal. Measured: restart → every function ready (the journal is
read before they start), and restart → the 1,000th PipelineRun exists (run.created or
run.queued seen at the Broker), against the fake Kubernetes API.

    .venv/bin/python bench/crash_recovery.py [--pending 1000] [--journal NORMAL|FULL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from chain_throughput import FAKE_API, REPO, ROOT, SECRET, Clock

from tekton_dag.devchain.chain import Chain, ChainSettings


async def main(pending: int, sync: str) -> None:
    fake = subprocess.Popen([sys.executable, "-c", FAKE_API, "on"], cwd=ROOT, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    _, kubeconfigs = json.loads(fake.stdout.readline())  # type: ignore[union-attr]  # each function's own
    work = Path(tempfile.mkdtemp(prefix="tekton-dag-recovery-"))
    key = secrets.token_hex(32)  # both chains seal with one team key, as a restarted dev does: else resolver 403s


    def settings() -> ChainSettings:
        return ChainSettings(teams_dir=ROOT / "teams", work_dir=work, secret=SECRET, kubeconfigs=kubeconfigs,
                             extra_env={"TEKTON_DAG_RECONCILE_SECONDS": "0"}, broker_capacity=pending * 2,
                             event_key=key, journal=work / "journal.sqlite3", journal_sync=sync)  # type: ignore[arg-type]

    try:
        first = Chain(settings())
        await first.start()
        first.kill("resolver")
        generator = await asyncio.create_subprocess_exec(
            sys.executable, str(Path(__file__).with_name("loadgen.py")), first.webhook_url, SECRET, REPO,
            "200", str(pending), "1", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
        out, _ = await generator.communicate()
        acked = out.decode().count('"status": 202')
        assert first.broker is not None
        left = first.broker.in_flight
        await first.stop(grace=0)
        print(f"{acked} webhooks acked with resolver down; {left} deliveries pending in the journal "
              f"(journal synchronous={sync}; load average {os.getloadavg()[0]:.1f})", flush=True)

        clock = Clock()
        second = Chain(settings(), observers=(clock,))
        restarted = time.perf_counter()
        await second.start()
        ready = time.perf_counter() - restarted
        deadline = time.perf_counter() + 300
        while len(clock.done) < acked and time.perf_counter() < deadline:
            await asyncio.sleep(0.01)
        delivered = time.perf_counter() - restarted
        print(f"restart → chain ready (journal read, {second.recovered} resumed): {ready:.2f} s", flush=True)
        print(f"restart → all {len(clock.done)} of {acked} PipelineRuns created: {delivered:.2f} s "
              f"({len(clock.done) / max(delivered - ready, 1e-9):.0f} runs/s after ready)", flush=True)
        await second.stop(grace=1)
    finally:
        fake.stdin.close()  # type: ignore[union-attr]
        fake.wait(10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pending", type=int, default=1000)
    parser.add_argument("--journal", choices=("NORMAL", "FULL"), default="NORMAL")
    args = parser.parse_args()
    asyncio.run(main(args.pending, args.journal))
