"""A webhook's ack time while slow clients hold connections to webhook-ingest.

`tekton-dag serve webhook-ingest` (func-python on hypercorn, with tekton_dag.functions.limits)
publishing to a loopback sink. A signed pull_request.opened webhook is POSTed on a new
connection every 20 ms, first alone, then while ``--slow`` clients hold on: half stuck in
their request head (one byte sent now and then), half in their body (head complete, 1 byte of
1,000). Heads are cut off after 5 s, so the measurement lasts 4 s after the slow clients are in.

    .venv/bin/python bench/slow_clients.py [--slow 1000]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import tempfile
import time
from pathlib import Path

from tekton_dag.testing.github import delivery, environment, write_teams
from tekton_dag.testing.recorder import EventRecorder
from tekton_dag.testing.serving import served_function

HEAD = b"POST /webhook/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def acks(url: str, seconds: float) -> list[float]:
    """Ack times of signed webhooks, each on a new connection (as GitHub sends them) from a plain
    socket: connect, send, read until the status line (an HTTP client's own set-up, such as
    httpx loading its CA bundle for every ``httpx.post``, would be measured otherwise)."""
    headers, body = delivery("pull_request.opened")
    host, port = url.removeprefix("http://").split(":")
    head = "".join(f"{k}: {v}\r\n" for k, v in {**headers, "Host": host, "Content-Length": str(len(body))}.items())
    request = f"POST /webhook/github HTTP/1.1\r\n{head}\r\n".encode() + body
    times = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(request)
            answer = sock.recv(65536)
        times.append((time.perf_counter() - started) * 1000)
        assert answer.startswith(b"HTTP/1.1 202 "), answer[:40]
        time.sleep(0.02)
    return times


def show(what: str, times: list[float]) -> None:
    print(f"{what:<34} {len(times):>4} webhooks  ack p50 {statistics.median(times):6.2f} ms  "
          f"p99 {percentile(times, 99):6.2f} ms  max {max(times):6.2f} ms", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slow", type=int, default=1000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="tekton-dag-slow-"))
    print(f"load average {os.getloadavg()[0]:.1f}")
    sink = EventRecorder()
    with sink.serving(), served_function(
            "webhook-ingest", {**environment(write_teams(root / "teams")), "K_SINK": sink.url}, root,
            ready_path="/readyz") as server:
        acks(server.url, 1)  # warm-up
        show("alone", acks(server.url, 4))
        host, port = server.url.removeprefix("http://").split(":")
        slow = [socket.create_connection((host, int(port))) for _ in range(args.slow)]
        for i, sock in enumerate(slow):
            sock.sendall(HEAD + b"{" if i % 2 else HEAD[:20])
        show(f"with {args.slow} slow clients", acks(server.url, 4))
        for sock in slow:
            sock.close()


if __name__ == "__main__":
    main()
