"""Side by side: the earlier system's Flask orchestrator, the all-in-one and the chain, same load.

    .venv/bin/python bench/compare_upstream.py [--upstream SRC] [--upstream-python PY]
        [--systems earlier,all-in-one,chain] [--workers 2] [--rate 100] [--seconds 10] [--rounds 1]
        [--steps 50,100,...] [--steady-only] [--payload octokit|sample]

Every system gets the same load generator (``loadgen.py``: open-loop, signed ``pull_request.opened``
webhooks, each its own PR number; ``--payload octokit``, the default, sends GitHub's whole payload
as issue 18 names it, octokit's example of 24 KB; ``--payload sample`` the 5.5 KB one of
``tekton-dag send``, which every round before the twenty-sixth used) and the same fake Kubernetes
API (``tekton_dag.testing.kube_api``, in its own process). Latency is measured the same way for
all: from just before the POST (load generator) to the moment the fake API stored that PR's
PipelineRun (both CLOCK_MONOTONIC, shared by processes on Linux), so a system that acks before
the run exists gets no credit for it. CPU per webhook is the system's whole process tree (the
fake API and the load generator are not counted; for the chain, this process runs its Broker and
is counted). Each round also prints the API requests per webhook, the admission-ledger writes
the fake API refused with 409 (two writers of one Lease), and the request bytes sent to the API
and the fake API's CPU, per webhook, and the system's wake-ups per webhook (voluntary context
switches of all its threads: each is a thread that slept and was woken). Each measurement starts
a fresh system and a fresh fake API.

- **earlier** (needs ``--upstream SRC``): the jmjava/tekton-dag checkout at SRC (not vendored; see
  docs/performance.md), ``SRC/orchestrator`` under ``gunicorn -w 2`` run by ``--upstream-python``
  (an interpreter with flask, gunicorn, kubernetes, pyyaml and neo4j), its stacks from
  ``SRC/stacks``, calling the fake API as its admin. One hop, no HMAC, no admission, one write.
- **all-in-one**: ``tekton-dag serve all-in-one --workers N`` with its journal (SQLite, NORMAL),
  as team default's ServiceAccount under the chart's ``mode=all-in-one`` RBAC.
- **chain**: the five functions as processes and the local Broker with its journal (devchain).

At the steady rate each system is measured ``--rounds`` times, alternating (the round with the
median p50 is reported: the machine is shared, so only side-by-side rounds compare; and the ratio
of each of our rounds to the earlier system's round of the same turn, with their median); then the
rate steps up (fresh system each) until p99 > 250 ms or a webhook is lost, for the maximum
sustained rate. Without ``--upstream``
only ours are measured, and the output says so. Ratios are ours ÷ earlier.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chain_throughput import cpu_seconds, percentile
from loadgen import PAYLOAD_FLAGS

from tekton_dag.devchain.chain import Chain, ChainSettings
from tekton_dag.functions import loops
from tekton_dag.testing.serving import free_port

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-secret"
WARM_UP = 20  # webhooks sent before each measurement
REPO = "jmjava/tekton-dag-vue-fe"  # demo-fe of stack-one: team default here, stack-one upstream
NAMESPACE = "tekton-dag-default"
# The fake API in its own process, without its cyclic GC (see chain_throughput.py), noting when
# each PR's first PipelineRun was stored. argv: "all-in-one" or "distributed" (the chart's RBAC), namespace.
FAKE_API = """
import gc, json, sys, time; gc.disable()
import tekton_dag.testing.kube_api as fake
from tekton_dag.testing import rbac
from tekton_dag.functions.serving import FUNCTIONS
created = {}
class Timed(fake.FakeKubeApi):
    def _put(self, key, obj):
        if key[1] == "pipelineruns" and key not in self._store:
            for p in obj.get("spec", {}).get("params", []):
                if p.get("name") == "pr-number":
                    created.setdefault(str(p.get("value")), time.perf_counter())
        super()._put(key, obj)
sets = ["mode=all-in-one"] if sys.argv[1] == "all-in-one" else []
api = Timed(rbac_documents=rbac.chart_documents(sets=sets)).start()
accounts = {f: str(api.kubeconfig_for(sys.argv[2], "tekton-dag-" + f))
            for f in (["all-in-one"] if sys.argv[1] == "all-in-one" else FUNCTIONS)}
print(json.dumps([time.process_time(), str(api.kubeconfig), accounts]), flush=True)
sys.stdin.read()
conflicts = sum(1 for _, path, status in api.requests if status == 409 and "/leases" in path)
print(json.dumps([time.process_time(), len(api.requests), created, conflicts, sum(api.body_bytes)]), flush=True)
api.stop()
"""


def tree(root: int) -> list[int]:
    """``root`` and every process descended from it (Linux /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += parents.get(pid, [])
    return found


def wakeups(pid: int) -> int:
    """Voluntary context switches of all threads of process ``pid`` so far (Linux /proc): how
    often one of them went to sleep to be woken again."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):  # the thread has just ended
            for line in (task / "status").read_text().splitlines():
                if line.startswith("voluntary_ctxt_switches:"):
                    total += int(line.split()[1])
    return total


def tree_wakeups(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):  # it has just exited
            total += wakeups(pid)
    return total


def tree_cpu(root: int) -> dict[int, float]:
    used = {}
    for pid in tree(root):
        with contextlib.suppress(OSError):  # it has just exited
            used[pid] = cpu_seconds(pid)
    return used


@dataclass
class Running:
    url: str
    cpu: Any  # () -> seconds used so far by the system
    stop: Any  # async () -> None
    by_process: Any = dict  # () -> {pid: seconds used so far}, for how the work was shared
    wakeups: Any = int  # () -> the system's voluntary context switches so far


class Fake:
    def __init__(self, mode: str) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", FAKE_API, mode, NAMESPACE], cwd=ROOT,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        self.started_cpu, self.admin, self.accounts = json.loads(self.process.stdout.readline())

    def finish(self) -> tuple[float, int, dict[str, float], int, int]:
        """(CPU s, API requests, PR → when its run was stored, ledger writes refused with 409,
        request body bytes sent to the API)."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.close()
        cpu, requests, created, conflicts, sent = json.loads(self.process.stdout.readline())
        self.process.wait(10)
        return cpu - self.started_cpu, requests, created, conflicts, sent


async def ready(url: str, process: asyncio.subprocess.Process | None = None, timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if process is not None and process.returncode is not None:
                raise RuntimeError(f"{url}: the server exited ({process.returncode})")
            try:
                if (await client.get(url)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} not ready within {timeout} s")


async def subprocess_system(command: list[str], env: dict[str, str], health: str, webhook: str, port: int,
                            cwd: Path) -> Running:
    log = open(Path(tempfile.mkdtemp(prefix="tekton-dag-compare-")) / "server.log", "wb")  # noqa: SIM115
    process = await asyncio.create_subprocess_exec(*command, env=env, cwd=cwd, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    await ready(base + health, process)
    cpu_by_pid: dict[int, float] = {}

    def cpu() -> float:
        cpu_by_pid.update(tree_cpu(process.pid))  # keeps the last figure of a process that has gone
        return sum(cpu_by_pid.values())

    async def stop() -> None:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 15)
        except TimeoutError:
            process.kill()
        log.close()

    return Running(base + webhook, cpu, stop, lambda: dict(cpu_by_pid), lambda: tree_wakeups(tree(process.pid)))


async def start(system: str, fake: Fake, args: argparse.Namespace, work: Path) -> Running:
    port = free_port()
    if system == "earlier":
        env = {**os.environ, "NAMESPACE": NAMESPACE, "STACKS_DIR": str(args.upstream / "stacks"),
               "TEAMS_DIR": str(args.upstream / "teams"), "KUBECONFIG": fake.admin}
        command = [args.upstream_python, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}", "app:create_app()"]
        where = args.upstream / "orchestrator"
        return await subprocess_system(command, env, "/healthz", "/webhook/github", port, where)
    if system == "all-in-one":
        env = {**os.environ, "LISTEN_ADDRESS": f"127.0.0.1:{port}", "TEKTON_DAG_TEAMS_DIR": str(ROOT / "teams"),
               "GITHUB_WEBHOOK_SECRET": SECRET, "KUBECONFIG": fake.accounts["all-in-one"],
               "TEKTON_DAG_RECONCILE_SECONDS": "0", "TEKTON_DAG_DEAD_LETTER_FILE": str(work / "dl.jsonl"),
               "TEKTON_DAG_JOURNAL": str(work / "journal.sqlite3")}
        env.pop("K_SINK", None)
        command = [sys.executable, "-m", "tekton_dag.cli.main", "serve", "all-in-one", "--workers", str(args.workers),
                   "--teams", str(ROOT / "teams")]
        return await subprocess_system(command, env, "/health/readiness", "/webhook/github", port, ROOT)
    chain = Chain(ChainSettings(teams_dir=ROOT / "teams", work_dir=work, secret=SECRET, kubeconfigs=fake.accounts,
                                extra_env={"TEKTON_DAG_RECONCILE_SECONDS": "0"}, journal=work / "journal.sqlite3"))
    await chain.start()

    def functions() -> list[int]:
        return [f.process.pid for f in chain.functions.values() if f.process is not None]

    def cpu() -> float:
        return sum(os.times()[:2]) + sum(cpu_seconds(pid) for pid in functions())  # this process: the Broker

    async def stop() -> None:
        await chain.stop(grace=1)

    def woken() -> int:
        return tree_wakeups([os.getpid(), *functions()])

    return Running(chain.webhook_url, cpu, stop, wakeups=woken)


async def load(url: str, rate: float, count: int, first_pr: int, payload: str) -> list[dict[str, Any]]:
    generator = await asyncio.create_subprocess_exec(
        sys.executable, str(Path(__file__).with_name("loadgen.py")), url, SECRET, REPO, str(rate), str(count),
        str(first_pr), *PAYLOAD_FLAGS[payload], stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    out, _ = await generator.communicate()
    return [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]


async def measure(system: str, rate: float, args: argparse.Namespace) -> dict[str, Any]:
    """One measurement of ``system`` at ``rate``: a fresh fake API and system, a warm-up, the load."""
    fake = Fake("all-in-one" if system == "all-in-one" else "distributed")
    work = Path(tempfile.mkdtemp(prefix="tekton-dag-compare-"))
    running = None
    try:
        running = await start(system, fake, args, work)
        await load(running.url, 20, WARM_UP, 100000, args.payload)  # warm-up: connections, caches
        await asyncio.sleep(0.5)
        count = int(rate * args.seconds)
        before, split_before, woken_before = running.cpu(), running.by_process(), running.wakeups()
        records = await load(running.url, rate, count, 1, args.payload)
        await asyncio.sleep(1.0)  # what is still in flight (the outcome is read from the fake API below)
        used, woken = running.cpu() - before, running.wakeups() - woken_before
        split = sorted((s - split_before.get(pid, 0.0) for pid, s in running.by_process().items()), reverse=True)
    finally:
        if running is not None:
            await running.stop()
        fake_cpu, requests, created, conflicts, sent = fake.finish()
        shutil.rmtree(work, ignore_errors=True)
    latencies = [(created[str(r["pr"])] - r["sent"]) * 1000 for r in records if str(r["pr"]) in created]
    refused = sum(1 for r in records if r["status"] not in (200, 201, 202))
    webhooks = count + WARM_UP  # what the fake API saw: the warm-up's webhooks too
    return {"system": system, "rate": rate, "sent": count, "completed": len(latencies), "refused": refused,
            "p50": statistics.median(latencies) if latencies else float("nan"),
            "p99": percentile(latencies, 99) if latencies else float("nan"),
            "cpu_ms": used / max(count, 1) * 1000, "wakeups": woken / max(count, 1),
            "api_requests": requests / webhooks, "conflicts": conflicts, "load": os.getloadavg()[0],
            "api_kb": sent / webhooks / 1000, "api_cpu_ms": fake_cpu / webhooks * 1000,
            "split": [round(s, 2) for s in split if s >= 0.01],
            "sends": [r["sent"] for r in records]}  # for path_split.py


def show(r: dict[str, Any]) -> None:
    print(f"  {r['system']:>10} {r['rate']:>6.0f}/s  sent {r['sent']:>5}  created {r['completed']:>5}  "
          f"refused {r['refused']:>3}  p50 {r['p50']:>7.1f} ms  p99 {r['p99']:>7.1f} ms  "
          f"CPU {r['cpu_ms']:.2f} ms/webhook  {r['wakeups']:.1f} wake-ups/webhook  "
          f"API {r['api_requests']:.2f} req/webhook "
          f"({r['conflicts']} ledger 409s), {r['api_kb']:.1f} KB sent and "
          f"{r['api_cpu_ms']:.2f} ms of its CPU per webhook  "
          f"(load average {r['load']:.1f})"
          + (f"  CPU s by process {r['split']}" if len(r["split"]) > 1 else ""), flush=True)


def median_round(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The round with the median p50 (the machine is shared: whole rounds, not mixed figures)."""
    return sorted(results, key=lambda r: r["p50"])[len(results) // 2]


def ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.2f}x" if theirs else "n/a"


async def main(args: argparse.Namespace) -> None:
    systems = args.systems.split(",")
    if args.upstream is None:
        systems = [s for s in systems if s != "earlier"]
        print("the earlier system is not available (no --upstream SRC): measuring ours alone, no ratios")
    print(f"uptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    rounds: dict[str, list[dict[str, Any]]] = {system: [] for system in systems}
    print(f"steady {args.rate:.0f} webhooks/s for {args.seconds:.0f} s, {args.rounds} round(s), systems alternating, "
          f"payload {args.payload}:")
    for _ in range(args.rounds):
        for system in systems:
            rounds[system].append(await measure(system, args.rate, args))
            show(rounds[system][-1])
    steady = {system: median_round(results) for system, results in rounds.items()}
    sustained: dict[str, float] = {}
    if not args.steady_only:
        for system in systems:
            print(f"{system}: stepping up until p99 > 250 ms ({args.seconds:.0f} s each, fresh system each):")
            sustained[system] = 0.0
            for rate in [float(s) for s in args.steps.split(",")]:
                result = await measure(system, rate, args)
                show(result)
                if result["p99"] > 250 or result["completed"] < result["sent"] or result["refused"]:
                    break
                sustained[system] = rate
    print(f"uptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    print("\n| system | created p50 | created p99 | CPU per webhook | max sustained (p99 ≤ 250 ms) | load |")
    print("|---|---|---|---|---|---|")
    for system, r in steady.items():
        top = f"{sustained[system]:.0f}/s" if system in sustained else "not measured"
        print(f"| {system} | {r['p50']:.1f} ms | {r['p99']:.1f} ms | {r['cpu_ms']:.2f} ms | {top} | {r['load']:.1f} |")
    if "earlier" in steady:
        base = steady["earlier"]
        print("\n| ours ÷ earlier | p50 | p99 | CPU per webhook | max sustained |")
        print("|---|---|---|---|---|")
        for system, r in steady.items():
            if system != "earlier":
                top = ratio(sustained[system], sustained["earlier"]) if system in sustained else "n/a"
                print(f"| {system} | {ratio(r['p50'], base['p50'])} | {ratio(r['p99'], base['p99'])} | "
                      f"{ratio(r['cpu_ms'], base['cpu_ms'])} | {top} |")
        print("\nPaired by round (each round of ours against the earlier system's round run just before it;")
        print("on a VM whose speed drifts these compare better than the median rounds above):")
        for system, results in rounds.items():
            if system != "earlier":
                pairs = list(zip(results, rounds["earlier"], strict=True))
                for figure, key in (("p50", "p50"), ("CPU per webhook", "cpu_ms")):
                    ratios = [ours[key] / theirs[key] for ours, theirs in pairs if theirs[key]]
                    if ratios:
                        listed = ", ".join(f"{x:.2f}x" for x in ratios)
                        print(f"  {system} {figure}: {listed} (median {statistics.median(ratios):.2f}x)")


def measured_arguments(parser: argparse.ArgumentParser) -> Callable[[], argparse.Namespace]:
    """Add what ``measure`` reads (the systems, the load, the payload) to ``parser``; the returned
    function parses and checks the command line (path_split.py measures the same way)."""
    parser.add_argument("--upstream", type=Path, help="a checkout of jmjava/tekton-dag (the earlier system)")
    parser.add_argument("--upstream-python", default=sys.executable,
                        help="the interpreter that runs it (flask, gunicorn, kubernetes, pyyaml, neo4j installed)")
    parser.add_argument("--systems", default="earlier,all-in-one,chain")
    parser.add_argument("--workers", type=int, default=2, help="all-in-one worker processes")
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--payload", choices=tuple(PAYLOAD_FLAGS), default="octokit",
                        help="GitHub's whole pull_request.opened (24 KB) or tekton-dag send's (5.5 KB)")

    def parsed() -> argparse.Namespace:
        arguments = parser.parse_args()
        if arguments.upstream is not None and not (arguments.upstream / "orchestrator" / "app.py").is_file():
            parser.error(f"--upstream {arguments.upstream}: no orchestrator/app.py there "
                         "(a jmjava/tekton-dag checkout?)")
        unknown = set(arguments.systems.split(",")) - {"earlier", "all-in-one", "chain"}
        if unknown:
            parser.error(f"--systems: unknown {', '.join(sorted(unknown))} (earlier, all-in-one, chain)")
        return arguments

    return parsed


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parse = measured_arguments(parser)
    parser.add_argument("--rounds", type=int, default=1, help="steady measurements per system (median round kept)")
    parser.add_argument("--steps", default="50,100,150,200,300,400,600,800,1000,1200")
    parser.add_argument("--steady-only", action="store_true")
    arguments = parse()
    loops.install()  # the chain's Broker runs in this process: on the loop `tekton-dag dev` runs it on
    asyncio.run(main(arguments))
