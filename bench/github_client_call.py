"""Benchmark: CPU per GitHub API call of status-reporter's client (``tekton_dag.github.client``).

Run: ``.venv/bin/python bench/github_client_call.py [--calls 3000]``.

The client updates a check run (token auth, a 500-character summary) against a minimal HTTP/1.1
server in a process of its own that answers every request at once with GitHub's headers, so the
figure is the client alone: building the URL and headers, the request and the answer over loopback,
decoding and the retry decision. Sequential calls, then 8 at a time. docs/performance.md has the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time

from tekton_dag.github.client import Client
from tekton_dag.github.port import CheckOutput, Repo
from tekton_dag.github.settings import Settings

SERVER = r"""
import asyncio
BODY = b'{"id": 1, "status": "completed"}'
ANSWER = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json; charset=utf-8\r\nx-ratelimit-remaining: 4999\r\n"
          b"x-ratelimit-reset: 1999999999\r\ncontent-length: %d\r\n\r\n" % len(BODY)) + BODY
async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = [int(line.split(b":")[1]) for line in head.lower().split(b"\r\n")
                      if line.startswith(b"content-length:")]
            if length:
                await reader.readexactly(length[0])
            writer.write(ANSWER)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()
asyncio.run(main())
"""


async def main(calls: int) -> None:
    server = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    port = int(server.stdout.readline())
    client = Client(Settings(api_url=f"http://127.0.0.1:{port}", token="ghp_bench"))
    repo, output = Repo("o", "r"), CheckOutput("Succeeded", "y" * 500, "https://dashboard.example/run")

    async def one() -> None:
        await client.update_check_run(repo, 1, status="completed", conclusion="success", output=output)

    try:
        for _ in range(50):  # the session and its first connection
            await one()
        for concurrency in (1, 8):
            started = time.process_time()
            for _ in range(calls // concurrency):
                await asyncio.gather(*(one() for _ in range(concurrency)))
            cpu_ms = (time.process_time() - started) * 1000 / (calls // concurrency * concurrency)
            print(f"{concurrency} at a time: {cpu_ms:.3f} ms CPU per call")
    finally:
        await client.aclose()
        server.kill()
    print(f"load average (uptime): {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    asyncio.run(main(parser.parse_args().calls))
