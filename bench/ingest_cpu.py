"""webhook-ingest's own CPU per webhook: its handler and its publish, without the HTTP server.

A signed ~25 KB pull_request delivery (``ingest_ack.padded_payload``) is handed to the function's
ASGI ``handle`` directly, one after another, on uvloop as the functions serve; the event goes to
a CloudEvent recorder (the Broker) in another process over loopback. Printed: CPU of this process
per webhook (intake, seal, binary encoding, aiohttp's client, the log line, the reply; not
hypercorn's parsing or writing, see ``event_hop.py``), measured ``--rounds`` times. ``--profile``
adds cProfile's top functions of one more round. Another version of the code (A/B):

    PYTHONPATH=<export>/functions/core .venv/bin/python bench/ingest_cpu.py [--webhooks 3000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import logging
import multiprocessing
import os
import pstats
import tempfile
import time
from pathlib import Path

from allinone_cpu import post
from ingest_ack import _serve_sink, padded_payload

from tekton_dag.functions import loops
from tekton_dag.functions.webhook_ingest import new
from tekton_dag.testing.github import environment, write_teams

WARM_UP = 200


async def measure(webhooks: int, rounds: int, sink: str, teams: Path, profile: cProfile.Profile | None) -> None:
    function = new()
    function.start(environment(teams, K_SINK=sink, TEKTON_DAG_CONFIG_RELOAD_S="0"))
    headers, body = padded_payload()
    raw = [(name.lower().encode(), value.encode()) for name, value in headers.items() if name != "X-GitHub-Delivery"]

    async def one(n: int) -> None:
        status = await post(function, [*raw, (b"x-github-delivery", f"cpu-{n}".encode())], body)
        assert status == 202, status

    for n in range(WARM_UP):
        await one(n)
    for r in range(rounds + (profile is not None)):
        profiling = profile is not None and r == rounds
        if profiling:
            profile.enable()
        start = time.process_time()
        for n in range(webhooks):
            await one((r + 1) * 1_000_000 + n)
        cpu_ms = (time.process_time() - start) * 1000 / webhooks
        if profiling:
            profile.disable()
        else:
            print(f"round {r + 1}: cpu per webhook {cpu_ms:.3f} ms  load {os.getloadavg()[0]:.2f}")
    function.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--webhooks", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--sort", default="tottime", help="cProfile's order (tottime, cumulative)")
    args = parser.parse_args()
    # The per-delivery log line is part of the cost: written as the function writes it, to a file.
    logging.basicConfig(level=logging.INFO, stream=open(os.devnull, "w"), force=True)  # noqa: SIM115
    loops.install({})
    url: multiprocessing.Queue[str] = multiprocessing.Queue()
    sink = multiprocessing.Process(target=_serve_sink, args=(url,), daemon=True)
    sink.start()
    profile = cProfile.Profile() if args.profile else None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            teams = write_teams(Path(tmp) / "teams")
            asyncio.run(measure(args.webhooks, args.rounds, url.get(timeout=10), teams, profile))
    finally:
        sink.terminate()
    if profile is not None:
        pstats.Stats(profile).sort_stats(args.sort).print_stats(30)


if __name__ == "__main__":
    main()
