"""The HTTP server's own CPU per request: hypercorn (func-python's) against granian, as served.

A function that answers 202 at once is served the way every function is (func-python's
``http.serve`` with ``limits.install`` and ``loops.install``: ``Bounded``, uvloop) in a child
process, once per server (``TEKTON_DAG_HTTP_SERVER``). A plain-socket client POSTs a 25 KB body
(``--body-bytes``: 3000 is an event's size between functions; granian's read buffer is 16 KiB)
``--requests`` times, one after another, on one kept-alive connection, then on a new connection
per request; printed: the server process's CPU per request (/proc, user + system) and the
client's round trip p50 / p99. Rounds alternate the servers.

    .venv/bin/python bench/http_server.py [--requests 3000] [--rounds 3] [--servers hypercorn,granian]
        [--body-bytes 25000]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

CHILD = """
import sys
from tekton_dag.functions import limits, loops
limits.install()
loops.install()
import func_python.http

class Accept:
    async def handle(self, scope, receive, send):
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 202,
                    "headers": [(b"content-type", b"text/plain"), (b"content-length", b"8")]})
        await send({"type": "http.response.body", "body": b"accepted"})

def new():
    return Accept()

func_python.http.serve(new)
"""
BODY_BYTES = 25_000  # --body-bytes: a webhook's size


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def request(port: int, close: bool, body: bytes) -> bytes:
    head = (f"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n" + ("Connection: close\r\n" if close else "") + "\r\n")
    return head.encode() + body


def read_answer(sock: socket.socket) -> bool:
    """Whether the answer came (False: the server had closed the kept-alive connection)."""
    data = b""
    while b"accepted" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            if data:
                raise RuntimeError(f"closed in the answer: {data[:80]!r}")
            return False
        data += chunk
    if not data.startswith(b"HTTP/1.1 202"):
        raise RuntimeError(data[:80])
    return True


def run(port: int, count: int, keep_alive: bool, body: bytes) -> list[float]:
    times = []
    sock = socket.create_connection(("127.0.0.1", port)) if keep_alive else None
    payload = request(port, not keep_alive, body)
    for _ in range(count):
        started = time.perf_counter()
        if keep_alive:  # hypercorn closes a connection after 1,000 answers (keep_alive_max_requests): reopen
            assert sock is not None
            sock.sendall(payload)
            if not read_answer(sock):
                sock.close()
                sock = socket.create_connection(("127.0.0.1", port))
                sock.sendall(payload)
                read_answer(sock)
        else:
            with socket.create_connection(("127.0.0.1", port)) as fresh:
                fresh.sendall(payload)
                read_answer(fresh)
        times.append((time.perf_counter() - started) * 1000)
    if sock is not None:
        sock.close()
    return times


def measure(server: str, port: int, count: int, body: bytes) -> dict[str, tuple[float, float, float]]:
    env = {**os.environ, "TEKTON_DAG_HTTP_SERVER": server, "LISTEN_ADDRESS": f"127.0.0.1:{port}"}
    child = subprocess.Popen([sys.executable, "-c", CHILD], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        run(port, 300, True, body)  # warm-up
        found = {}
        for keep_alive in (True, False):
            before = cpu_seconds(child.pid)
            times = run(port, count, keep_alive, body)
            per_request = (cpu_seconds(child.pid) - before) / count * 1e6
            ordered = sorted(times)
            found["keep-alive" if keep_alive else "new connection"] = (
                per_request, statistics.median(times), ordered[int(0.99 * (len(ordered) - 1))])
        return found
    finally:
        child.terminate()
        child.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--servers", default="hypercorn,granian")
    parser.add_argument("--port", type=int, default=18231)
    parser.add_argument("--body-bytes", type=int, default=BODY_BYTES, help="the size of each request's body")
    args = parser.parse_args()
    if args.body_bytes < 0:
        parser.error(f"--body-bytes {args.body_bytes}: must be 0 or more")
    body = b"x" * args.body_bytes
    for round_ in range(1, args.rounds + 1):
        for server in args.servers.split(","):
            load = os.getloadavg()[0]
            for mode, (cpu, p50, p99) in measure(server, args.port, args.requests, body).items():
                print(f"round {round_} {server:<9} {mode:<14} body {len(body)} B  server CPU {cpu:6.0f} µs/request  "
                      f"round trip p50 {p50:.3f} p99 {p99:.3f} ms  load {load:.1f}", flush=True)


if __name__ == "__main__":
    main()
