"""Per-function footprint: cold start to ready, and idle RSS, of `tekton-dag serve NAME`.

Each function is started alone (nothing else competing for the 2 cores), as `tekton-dag dev` and
a Knative pod start it: a fresh Python process running func-python on hypercorn. Cold start is
spawn → first 200 from /health/readiness; idle RSS is VmRSS after 2 s without traffic.
Targets: RSS ≤ 70 MB each; ready ≤ 300 ms (webhook-ingest, status-reporter), ≤ 600 ms (the others).
CPU to ready (user + system of the process) is printed too: unlike wall time, other load barely moves it;
and the CPU after the idle time, which adds the work a function leaves until after ready (the
background warm-ups of ``tekton_dag.warming``: aiohttp, the JWT library, the Kubernetes client,
prometheus_client with the metrics listener, dateutil's parser).

Each start is a new pod's: the metrics listener on (``METRICS_PORT``, as the chart sets it), and no
configuration snapshot yet (``config.snapshots``: a pod's cache directory is new with its
container, so its first load parses and validates the files; each start gets an empty one).
``--warm-config`` lets every start read the snapshot the first one wrote, as the figures before
2026-12-01 13:00 did (a restarted process in the same container, or ``tekton-dag dev``).

    .venv/bin/python bench/chain_footprint.py [--rounds 5] [--only NAME] [--warm-config]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tekton_dag.functions.serving import FUNCTIONS
from tekton_dag.testing.serving import free_port

ROOT = Path(__file__).resolve().parents[1]
TARGET_READY_MS = {"webhook-ingest": 300, "status-reporter": 300}
DEFAULT_READY_MS = 600
TARGET_RSS_MB = 70
# `tekton-dag serve NAME` as the image runs it. This venv also has click and rich (import-linter's,
# test extra only), and httpx imports its command line with them when they are there: ~60 ms and
# ~8 MB an image does not pay. Hidden here so the figures are the image's.
AS_IMAGE = ("import sys; sys.modules.update(click=None, rich=None); "
            "from tekton_dag.cli.main import main; sys.exit(main())")


def app_key(directory: Path) -> Path:
    """A GitHub App private key (PEM) as status-reporter reads it."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = directory / "github-app.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return path


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def cpu_ms_of(pid: int) -> float:
    """CPU (user + system) the process has used: the part of a cold start that other load cannot inflate."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def one_start(name: str, env: dict[str, str], idle_s: float,
              warm_config: bool = False) -> tuple[float, float, float, float]:
    port = free_port()
    env = {**env, "LISTEN_ADDRESS": f"127.0.0.1:{port}", "METRICS_PORT": str(free_port())}
    if not warm_config:  # a new pod: no snapshot of the configuration yet
        env["TEKTON_DAG_CONFIG_CACHE"] = tempfile.mkdtemp(prefix="tekton-dag-footprint-cache-")
    url = f"http://127.0.0.1:{port}/health/readiness"
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", AS_IMAGE, "serve", name], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with httpx.Client(timeout=0.5) as client:
            while True:
                try:
                    if client.get(url).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if process.poll() is not None or time.perf_counter() - started > 30:
                    raise RuntimeError(f"{name} did not become ready")
                time.sleep(0.005)
        ready_ms = (time.perf_counter() - started) * 1000
        cpu_ms = cpu_ms_of(process.pid)
        time.sleep(idle_s)
        return ready_ms, rss_mb(process.pid), cpu_ms, cpu_ms_of(process.pid)
    finally:
        process.terminate()
        process.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--idle", type=float, default=2.0)
    parser.add_argument("--only", metavar="NAME", help="one function (e.g. status-reporter)")
    parser.add_argument("--warm-config", action="store_true",
                        help="every start reads the configuration snapshot the first wrote (not a new pod's start)")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="tekton-dag-footprint-"))
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    env.update(K_SINK=f"http://127.0.0.1:{free_port()}/", TEKTON_DAG_TEAMS_DIR=str(ROOT / "teams"),
               GITHUB_WEBHOOK_SECRET="bench", TEKTON_DAG_DRY_RUN_DIR=str(scratch / "runs"),
               TEKTON_DAG_RECONCILE_SECONDS="0", TEKTON_DAG_EVENT_KEY="bench-" + "k" * 58,
               # status-reporter as a GitHub App (its client is built at start; no call is made before ready)
               GITHUB_API_URL=f"http://127.0.0.1:{free_port()}", GITHUB_APP_ID="424242",
               GITHUB_APP_PRIVATE_KEY_FILE=str(app_key(scratch)))
    print(
        f"{'function':<18} {'ready p50 ms':>12} {'ready max ms':>12} {'CPU p50 ms':>10} {'idle CPU':>8} {'target':>7} "
        f"{'idle RSS MB':>11} {'target':>7}  verdict"
    )
    for name in [args.only] if args.only else FUNCTIONS:
        one_start(name, env, 0, args.warm_config)  # warm the page cache: we measure process start, not disk
        samples = [one_start(name, env, args.idle, args.warm_config) for _ in range(args.rounds)]
        ready = [s[0] for s in samples]
        rss = max(s[1] for s in samples)
        target_ms = TARGET_READY_MS.get(name, DEFAULT_READY_MS)
        ok = statistics.median(ready) <= target_ms and rss <= TARGET_RSS_MB
        cpu = statistics.median(s[2] for s in samples)
        idle_cpu = statistics.median(s[3] for s in samples)
        print(f"{name:<18} {statistics.median(ready):>12.0f} {max(ready):>12.0f} {cpu:>10.0f} {idle_cpu:>8.0f}"
              f" {target_ms:>7}"
              f" {rss:>11.1f} {TARGET_RSS_MB:>7}  {'met' if ok else 'MISSED'}")
    print(f"configuration: {'a warm snapshot' if args.warm_config else 'no snapshot (a new pod)'}; "
          f"load average (uptime): {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
