"""Webhook → PipelineRun latency through all five functions and the local Broker, against the fake API.

The chain is `tekton-dag dev`'s (five `tekton-dag serve` processes + the local Broker in this
process); Kubernetes is the fake API server (tekton_dag.testing.kube_api) in its own process. Each
webhook is a distinct signed pull_request.opened (its own PR number, so nothing is superseded);
latency is from just before the POST to webhook-ingest (sent by a separate load-generator
process) until run-creator's outcome event (run.created or run.queued: the PipelineRun exists)
re-enters the Broker. Load is open-loop at a steady rate. Targets at 100 webhooks/s: p50 ≤ 15 ms,
p99 ≤ 60 ms. Then the rate steps up until p99 exceeds 250 ms; the last rate that stayed under is
the maximum sustained rate.

Each function calls the fake API as its own ServiceAccount (team default's), authorized against
the Helm chart's RBAC as in a cluster; ``--rbac off`` lets every request through unchecked, to
compare. Each measurement also prints the fake API's CPU per request.

    .venv/bin/python bench/chain_throughput.py [--rate 100] [--seconds 10]
        [--steps 25,50,75,100,150,200,300] [--rbac off] [--journal none|FULL|NORMAL[,...]] [--rounds N]
        [--steady-only] [--after-ack-nice N] [--payload sample|octokit]

``--journal`` runs the local Broker with its durable journal (SQLite WAL, ``synchronous`` FULL or
NORMAL; default none: in memory, as before the journal). The steady run also reports the ack
latency (POST → 202 read by the load generator, which then reads answers as they arrive) and
the chain's CPU per webhook (the five function processes and this one, which runs the Broker,
from /proc; the fake API and the load generator are not counted), in all and per process.

The ack is also split into stages (POST → webhook-ingest's handler → the Broker's ingress →
admitted → 202 read), and each process's event loop's wait for a CPU per webhook is printed
(schedstat's run_delay of its main thread): where an ack's wall time goes. ``--after-ack-nice``
sets the niceness of the functions after the ack (default: ``tekton-dag dev``'s, 10; 0: all alike).

The journal's cost: ``--journal none,NORMAL --rounds 3 --steady-only`` measures each journal
setting in turn, alternating, ``rounds`` times (a fresh chain each), and ends with a table of
every round: the machine is shared, so only side-by-side rounds compare.

The load generator (`loadgen.py`) stands in for GitHub in its own process. It sends ``tekton-dag
send``'s 5.5 KB sample by default, as every round before 2026-12-04's twenty-seventh did;
``--payload octokit`` sends GitHub's whole ``pull_request.opened`` (octokit's example, ~24 KB),
the payload ``compare_upstream.py`` sends by default.
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
from datetime import datetime
from pathlib import Path
from typing import Any

from loadgen import PAYLOAD_FLAGS

from tekton_dag.bus.journal import Synchronous
from tekton_dag.devchain.chain import Chain, ChainSettings
from tekton_dag.events import catalog
from tekton_dag.functions import loops

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-secret"
REPO = "jmjava/tekton-dag-vue-fe"
# The fake API in its own process (it sets TCP_NODELAY itself, as a real kube-apiserver does).
# Without its cyclic garbage collector: what it stores is parsed JSON, which has no reference
# cycles, and a full collection over a thousand stored PipelineRuns stops every answer for tens of
# milliseconds, which a kube-apiserver (Go, concurrent collector) does not do.
# It prints its CPU time once started and each function's kubeconfig (its ServiceAccount's token),
# and at the end its CPU time and the number of requests it answered. It runs in a session of its
# own, as the load generator does: with autogrouping (devchain.priority) a session is a scheduler
# group, and in this process's group the fake API's ~1 ms of CPU per webhook would take turns with
# the Broker's loop, which neither a kube-apiserver (another machine, or kind's container) nor
# GitHub does to `tekton-dag dev`.
FAKE_API = (
    "import gc, json, sys, time; gc.disable(); import tekton_dag.testing.kube_api as fake\n"
    "from tekton_dag.functions.serving import FUNCTIONS\n"
    "api = fake.FakeKubeApi(enforce_rbac=sys.argv[1] == 'on').start()\n"
    "print(json.dumps([time.process_time(), {f: str(api.kubeconfig_for('tekton-dag-default', 'tekton-dag-' + f))\n"
    "                                        for f in FUNCTIONS}]), flush=True)\n"
    "sys.stdin.read(); print(json.dumps([time.process_time(), len(api.requests)]), flush=True); api.stop()\n"
)
RBAC = "on"
PAYLOAD = "sample"  # --payload: tekton-dag send's sample (~5.5 KB), or octokit's whole example (loadgen.PAYLOAD_FLAGS)


class Clock:
    """Send times by delivery id, and when each stage's event reached the Broker (its observer):
    the GitHub event (webhook-ingest done), run.requested (resolver done), the outcome (run-creator done)."""

    def __init__(self) -> None:
        self.sent: dict[str, float] = {}
        self.done: dict[str, float] = {}
        self.ingested: dict[str, float] = {}
        self.resolved: dict[str, float] = {}
        self.admits: list[float] = []  # ms each webhook's event spent in the Broker's admit (journal included)
        # The ack's stages, by event id: webhook-ingest's handler started (its ``tektondagreceived``,
        # wall clock, moved onto perf_counter's), the Broker's ingress handler started, admit ended.
        self.handled: dict[str, float] = {}
        self.arrived: dict[str, float] = {}
        self.admitted: dict[str, float] = {}
        self._wall_offset = time.time() - time.perf_counter()

    def time_admits(self, broker: Any) -> None:
        """Time ``broker.admit`` for the GitHub events (the Broker's share of the webhook's ack), and
        note when the ingress began each request and when admit ended (the ack's stages)."""
        admit, answer = broker.admit, broker.answer

        async def timed(event: Any, **kwargs: Any) -> int:
            started = time.perf_counter()
            status: int = await admit(event, **kwargs)
            if event.get_type() in (catalog.GITHUB_PULL_REQUEST, catalog.GITHUB_PUSH):
                ended = time.perf_counter()
                self.admits.append((ended - started) * 1000)
                self.admitted[event.get_id()] = ended
                received = event.get_extension(catalog.EXT_RECEIVED)
                if received:
                    self.handled[event.get_id()] = datetime.fromisoformat(received).timestamp() - self._wall_offset
            return status

        async def arriving(method: str, path: str, headers: Any, body: bytes) -> tuple[int, bytes]:
            if headers.get("ce-type", "") in (catalog.GITHUB_PULL_REQUEST, catalog.GITHUB_PUSH):
                self.arrived[headers.get("ce-id", "")] = time.perf_counter()
            result: tuple[int, bytes] = await answer(method, path, headers, body)
            return result

        broker.admit, broker.answer = timed, arriving

    def ack_stages(self, records: list[dict[str, Any]]) -> str:
        """p50 / p99 of each stage of the ack, in ms: POST → webhook-ingest's handler, handler →
        the Broker's ingress, ingress → admitted, admitted → 202 read by the load generator."""
        stages: dict[str, list[float]] = {"to-handler": [], "handler→broker": [], "broker": [], "back": []}
        for r in records:
            i = r["id"]
            if r["status"] != 202 or not (i in self.handled and i in self.arrived and i in self.admitted):
                continue
            stages["to-handler"].append(self.handled[i] - r["sent"])
            stages["handler→broker"].append(self.arrived[i] - self.handled[i])
            stages["broker"].append(self.admitted[i] - self.arrived[i])
            stages["back"].append(r["acked"] - self.admitted[i])
        return "  ".join(f"{name} {statistics.median(v) * 1000:.2f}/{percentile(v, 99) * 1000:.2f}"
                         for name, v in stages.items() if v)

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
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def run_delay(pid: int | None = None) -> tuple[float, int]:
    """Seconds the main thread of process ``pid`` (default: this one) has spent runnable but waiting
    for a CPU, and how many times it was put on one (Linux schedstat's run_delay and pcount; the
    event loop runs on that thread)."""
    _, delay, runs = Path(f"/proc/{pid or os.getpid()}/schedstat").read_text().split()
    return int(delay) / 1e9, int(runs)


def chain_waits(chain: Chain) -> dict[str, tuple[float, int]]:
    """Seconds each function's and the Broker's event loop has waited for a CPU so far, and its runs."""
    waited = {name: run_delay(fn.process.pid) for name, fn in chain.functions.items() if fn.process is not None}
    waited["broker"] = run_delay()
    return waited


def chain_cpu(chain: Chain) -> dict[str, float]:
    """CPU seconds used so far by each function process and by this process (the Broker)."""
    used = {name: cpu_seconds(fn.process.pid) for name, fn in chain.functions.items() if fn.process is not None}
    used["broker"] = sum(os.times()[:2])
    return used


async def run_rate(chain: Chain, clock: Clock, rate: float, seconds: float, first_pr: int) -> dict[str, Any]:
    count = int(rate * seconds)
    clock.admits.clear()
    cpu, waits = chain_cpu(chain), chain_waits(chain)
    generator = await asyncio.create_subprocess_exec(
        sys.executable, str(Path(__file__).with_name("loadgen.py")), chain.webhook_url, SECRET, REPO,
        str(rate), str(count), str(first_pr), "--watch", *PAYLOAD_FLAGS[PAYLOAD],
        stdout=asyncio.subprocess.PIPE, start_new_session=True,  # not in the Broker's autogroup (FAKE_API)
    )
    out, _ = await generator.communicate()
    records = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    acks = [(r["acked"] - r["sent"]) * 1000 for r in records if r["status"] == 202]
    for record in records:
        clock.sent[record["id"]] = record["sent"]
    refused = sum(1 for r in records if r["status"] != 202)
    ids = [r["id"] for r in records]
    deadline = time.perf_counter() + 30
    while any(i not in clock.done for i in ids) and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    latencies = [(clock.done[i] - clock.sent[i]) * 1000 for i in ids if i in clock.done]
    cpu = {name: (used - cpu[name]) / max(count, 1) * 1000 for name, used in chain_cpu(chain).items()}
    waits = {name: ((w - waits[name][0]) / max(count, 1) * 1000, (n - waits[name][1]) / max(count, 1))
             for name, (w, n) in chain_waits(chain).items()}
    return {
        "ack_p50": statistics.median(acks) if acks else float("nan"),
        "ack_p99": percentile(acks, 99) if acks else float("nan"),
        "admit_p50": statistics.median(clock.admits) if clock.admits else float("nan"),
        "admit_p99": percentile(clock.admits, 99) if clock.admits else float("nan"),
        "cpu_ms": sum(cpu.values()), "cpu_by_process": cpu, "waits": waits, "load": os.getloadavg()[0],
        "rate": rate, "sent": count, "refused": refused, "completed": len(latencies),
        "p50": statistics.median(latencies) if latencies else float("nan"),
        "p99": percentile(latencies, 99) if latencies else float("nan"),
        "max": max(latencies) if latencies else float("nan"),
        "stages": clock.stages(ids),
        "ack_stages": clock.ack_stages(records),
    }


def show(result: dict[str, Any]) -> None:
    print(f"{result['rate']:>6.0f}/s  sent {result['sent']:>5.0f}  refused {result['refused']:>3.0f}  "
          f"completed {result['completed']:>5.0f}  p50 {result['p50']:>7.1f} ms  p99 {result['p99']:>7.1f} ms  "
          f"max {result['max']:>7.1f} ms", flush=True)
    print(f"          per hop p50/p99 ms: {result['stages']}", flush=True)
    print(f"          ack stages p50/p99 ms: {result['ack_stages']}", flush=True)
    print(f"          ack p50 {result['ack_p50']:.2f} ms  p99 {result['ack_p99']:.2f} ms (of which the Broker's "
          f"admit p50 {result['admit_p50']:.2f} ms  p99 {result['admit_p99']:.2f} ms)  "
          f"chain CPU {result['cpu_ms']:.2f} ms per webhook (load average {result['load']:.1f})", flush=True)
    each = "  ".join(f"{name} {ms:.2f}" for name, ms in result["cpu_by_process"].items())
    print(f"          CPU ms per webhook: {each}", flush=True)
    waits = "  ".join(f"{name} {ms:.2f} ({runs:.1f})" for name, (ms, runs) in result["waits"].items())
    print(f"          ms per webhook each event loop waited for a CPU (times it ran): {waits}", flush=True)


AFTER_ACK_NICE: int | None = None  # --after-ack-nice: None keeps the chain's default


async def measure(rate: float, seconds: float, journal: str = "none") -> dict[str, Any]:
    """One measurement on a fresh chain and a fresh fake API (no backlog or stored runs carried over)."""
    fake = subprocess.Popen([sys.executable, "-c", FAKE_API, RBAC], cwd=ROOT, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    started_cpu, kubeconfigs = json.loads(fake.stdout.readline())
    clock = Clock()
    work = Path(tempfile.mkdtemp(prefix="tekton-dag-bench-"))
    sync: Synchronous = "FULL" if journal == "FULL" else "NORMAL"
    settings = ChainSettings(teams_dir=ROOT / "teams", work_dir=work, secret=SECRET, kubeconfigs=kubeconfigs,
                             extra_env={"TEKTON_DAG_RECONCILE_SECONDS": "0"},
                             journal=None if journal == "none" else work / "journal.sqlite3", journal_sync=sync)
    if AFTER_ACK_NICE is not None:
        settings.after_ack_nice = AFTER_ACK_NICE
    chain = Chain(settings, observers=(clock,))
    await chain.start()
    assert chain.broker is not None
    clock.time_admits(chain.broker)
    try:
        await run_rate(chain, clock, 20, 1, first_pr=100000)  # warm-up: connections, caches
        return await run_rate(chain, clock, rate, seconds, first_pr=1)
    finally:
        await chain.stop(grace=1)
        fake.stdin.close()
        cpu, requests = json.loads(fake.stdout.readline())
        fake.wait(10)
        print(f"          fake API (RBAC {RBAC}): {requests} requests, "
              f"{(cpu - started_cpu) * 1000 / max(requests, 1):.3f} ms CPU each", flush=True)


async def main(steady: float, seconds: float, steps: list[float], journals: list[str], rounds: int,
               steady_only: bool) -> None:
    print(f"steady {steady:.0f} webhooks/s for {seconds:.0f} s, payload {PAYLOAD}, journal {' / '.join(journals)}, "
          f"{rounds} round(s) "
          "(targets: p50 ≤ 15 ms, p99 ≤ 60 ms; ack p99 ≤ 5 ms)")
    results = []
    for _ in range(rounds):
        for journal in journals:
            print(f"journal {journal}:", flush=True)
            result = await measure(steady, seconds, journal)
            show(result)
            met = result["p50"] <= 15 and result["p99"] <= 60 and result["ack_p99"] <= 5
            print(f"targets {'met' if met else 'MISSED'}", flush=True)
            results.append((journal, result))
    if len(results) > 1:
        print("\n| journal | created p50 | created p99 | ack p50 | ack p99 | Broker admit p50 / p99 "
              "| chain CPU per webhook | Broker CPU | load |")
        print("|---|---|---|---|---|---|---|---|---|")
        for journal, r in results:
            print(f"| {journal} | {r['p50']:.1f} ms | {r['p99']:.1f} ms | {r['ack_p50']:.2f} ms | "
                  f"{r['ack_p99']:.2f} ms | {r['admit_p50']:.2f} / {r['admit_p99']:.2f} ms | {r['cpu_ms']:.2f} ms | "
                  f"{r['cpu_by_process']['broker']:.2f} ms | {r['load']:.1f} |")
    if steady_only:
        return
    print(f"stepping up until p99 > 250 ms ({seconds:.0f} s each, fresh chain each, journal {journals[0]}):")
    sustained = 0.0
    for rate in steps:
        result = await measure(rate, seconds, journals[0])
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
    parser.add_argument("--rbac", choices=["on", "off"], default="on", help="authorize the functions' API calls")
    parser.add_argument("--journal", default="none",
                        help="the Broker's durable journal and its synchronous mode: none, NORMAL or FULL, or "
                             "several separated by commas, measured in turn (default: none)")
    parser.add_argument("--rounds", type=int, default=1, help="how many times each journal setting is measured")
    parser.add_argument("--steady-only", action="store_true", help="only the steady rate, no stepping up")
    parser.add_argument("--after-ack-nice", type=int, default=None,
                        help="niceness of the functions after the ack (default: the chain's, as `tekton-dag dev`)")
    parser.add_argument("--payload", choices=tuple(PAYLOAD_FLAGS), default="sample",
                        help="the webhook sent: tekton-dag send's sample (~5.5 KB, every figure before 2026-12-04's "
                             "twenty-seventh round) or GitHub's whole pull_request.opened, octokit's example (~24 KB)")
    args = parser.parse_args()
    RBAC, AFTER_ACK_NICE, PAYLOAD = args.rbac, args.after_ack_nice, args.payload
    journals = args.journal.split(",")
    if not set(journals) <= {"none", "NORMAL", "FULL"}:
        parser.error(f"--journal {args.journal}: each must be none, NORMAL or FULL")
    loops.install()  # as `tekton-dag dev` runs the Broker (TEKTON_DAG_EVENT_LOOP=asyncio: the standard loop)
    asyncio.run(main(args.rate, args.seconds, [float(s) for s in args.steps.split(",")], journals, args.rounds,
                     args.steady_only))
