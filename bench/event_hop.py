"""What one event hop costs in CPU: the sender's HTTP client and the receiver's HTTP server.

Client side: one loopback POST of a 3 KB binary-mode event, sent one after another to a server in
another process, through httpx's interface over aiohttp's connections (``network_client``, what
the Broker and the publishers used before) and through ``eventing.posting.AiohttpPoster`` (what
they use now); CPU of this process per POST. Server side: the same POSTs, eight at a time, to
hypercorn (what func-python serves every function with) on the standard loop and on uvloop, and
to aiohttp's server on uvloop (what ``tekton-dag dev`` serves the local Broker's ingress with);
CPU of the server's process per request. Each figure is measured ``--rounds`` times, alternating.

    .venv/bin/python bench/event_hop.py [--posts 3000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

from tekton_dag.eventing.posting import AiohttpPoster, HttpxPoster, Poster
from tekton_dag.eventing.publishing import network_client
from tekton_dag.testing.serving import free_port

BODY = b"x" * 3000
HEADERS = {"ce-id": "1", "ce-source": "/bench", "ce-type": "dev.example.v1", "ce-specversion": "1.0",
           "content-type": "application/json", "prefer": "reply"}
# The receiver, in its own process: answers every POST 202 with an empty body, as a function does.
SERVER = r'''
import asyncio, sys
port, kind = int(sys.argv[1]), sys.argv[2]
if kind.endswith("uvloop"):
    import uvloop
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
if kind.startswith("aiohttp"):
    from aiohttp import web
    async def handle(request):
        await request.content.read()
        return web.Response(status=202)
    async def main():
        runner = web.ServerRunner(web.Server(handle, access_log=None))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        await asyncio.Event().wait()
    asyncio.run(main())
else:
    import hypercorn.asyncio, hypercorn.config
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 202, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})
    config = hypercorn.config.Config()
    config.bind, config.accesslog, config.loglevel = [f"127.0.0.1:{port}"], None, "WARNING"
    asyncio.run(hypercorn.asyncio.serve(app, config))
'''


def cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def started(kind: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port), kind])
    url = f"http://127.0.0.1:{port}/"
    probe = AiohttpPoster()
    try:
        for _ in range(200):
            try:
                await probe.post(url, HEADERS, BODY, 1.0)
                return server, url
            except Exception:
                await asyncio.sleep(0.05)
    finally:
        await probe.aclose()
    raise RuntimeError(f"{kind} server did not start")


async def client_ms(poster: Poster, url: str, posts: int) -> float:
    for _ in range(200):  # warm: connections, imports
        await poster.post(url, HEADERS, BODY, 30.0)
    before = time.process_time()
    for _ in range(posts):
        await poster.post(url, HEADERS, BODY, 30.0)
    spent = time.process_time() - before
    await poster.aclose()
    return spent / posts * 1000


async def server_ms(kind: str, posts: int) -> float:
    server, url = await started(kind)
    poster = AiohttpPoster()
    try:
        for _ in range(200):
            await poster.post(url, HEADERS, BODY, 30.0)
        before = cpu_of(server.pid)

        async def lane(n: int) -> None:
            for _ in range(n):
                await poster.post(url, HEADERS, BODY, 30.0)

        await asyncio.gather(*(lane(posts // 8) for _ in range(8)))
        return (cpu_of(server.pid) - before) / (posts // 8 * 8) * 1000
    finally:
        await poster.aclose()
        server.kill()
        server.wait()


async def main(posts: int, rounds: int) -> None:
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    server, url = await started("hypercorn")
    try:
        for _ in range(rounds):
            via_httpx = await client_ms(HttpxPoster(network_client(timeout=None), owned=True), url, posts)
            direct = await client_ms(AiohttpPoster(), url, posts)
            print(f"client CPU per POST: httpx over aiohttp {via_httpx:.3f} ms, aiohttp directly {direct:.3f} ms")
    finally:
        server.kill()
        server.wait()
    for _ in range(rounds):
        figures = {kind: await server_ms(kind, posts) for kind in ("hypercorn", "hypercorn-uvloop", "aiohttp-uvloop")}
        print("server CPU per request: " + ", ".join(f"{kind} {ms:.3f} ms" for kind, ms in figures.items()))
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    asyncio.run(main(args.posts, args.rounds))
