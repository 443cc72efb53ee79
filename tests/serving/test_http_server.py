"""Which HTTP server serves func-python's application (tekton_dag.functions.limits.server): granian
by default (tekton_dag.functions.granian_server), hypercorn when TEKTON_DAG_HTTP_SERVER says so; an
unknown name stops the function before it serves. Under granian func-python still binds the
sockets and runs the function's lifecycle, once for all of its sockets. The slow-client limits
under both: tests/ingest/test_slow_clients.py."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import typing
from pathlib import Path
from typing import Any

import httpx
import pytest

from tekton_dag.functions import serving
from tekton_dag.testing.github import environment, write_teams
from tekton_dag.testing.serving import free_port, served_function


@pytest.mark.parametrize(("chosen", "server"), [(None, "granian"), ("granian", "granian"),
                                                ("hypercorn", "hypercorn-h11")])
def test_a_function_is_served_by_granian_unless_hypercorn_is_chosen(tmp_path: Path, chosen: str | None,
                                                                     server: str) -> None:
    env = environment(write_teams(tmp_path / "teams"))
    if chosen:
        env["TEKTON_DAG_HTTP_SERVER"] = chosen
    with served_function("webhook-ingest", env, tmp_path, ready_path="/readyz") as served:
        answer = httpx.get(f"{served.url}/readyz")
    assert (answer.status_code, answer.headers.get("server")) == (200, server)


def run_serve(env: dict[str, str], listen: str) -> subprocess.Popen[str]:
    full = {**os.environ, **env}
    full.pop("KUBERNETES_SERVICE_HOST", None)
    argv = [sys.executable, "-m", "tekton_dag.cli.main", "serve", "webhook-ingest", "--listen", listen]
    return subprocess.Popen(argv, env=full, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_an_unknown_server_stops_the_function_before_it_serves_naming_the_variable(tmp_path: Path) -> None:
    env = {**environment(write_teams(tmp_path / "teams")), "TEKTON_DAG_HTTP_SERVER": "nginx",
           "KUBECONFIG": str(tmp_path / "none")}
    process = run_serve(env, f"127.0.0.1:{free_port()}")
    output = process.communicate(timeout=20)[0]
    assert process.returncode == 1
    assert "TEKTON_DAG_HTTP_SERVER='nginx': must be one of granian, hypercorn" in output
    assert "Traceback" not in output


def test_granian_serves_every_socket_func_python_binds_and_starts_and_stops_the_function_once(
        tmp_path: Path) -> None:
    env = {**environment(write_teams(tmp_path / "teams")), "KUBECONFIG": str(tmp_path / "none")}
    urls = [f"http://127.0.0.1:{free_port()}", f"http://127.0.0.2:{free_port()}"]  # two binds: two sockets
    process = run_serve(env, ",".join(url.removeprefix("http://") for url in urls))
    try:
        answers = [wait_ready(process, url) for url in urls]
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=20)[0]
    assert [(a.status_code, a.headers["server"]) for a in answers] == [(200, "granian")] * 2
    assert process.returncode == 0, output
    assert output.count("configuration under") == 1, output  # the function's start: once, not per socket
    assert "experimental" not in output, output  # granian's notice on every start, filtered out


def wait_ready(process: subprocess.Popen[str], url: str) -> httpx.Response:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and process.poll() is None:
        try:
            answer = httpx.get(f"{url}/readyz", timeout=1)
            if answer.status_code == 200:
                return answer
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} not ready")


def test_granian_serves_http1_only_an_http2_client_is_closed_on(tmp_path: Path) -> None:
    """HTTP/2 is not served under granian (``HTTPModes.http1``): Knative's queue-proxy and the
    Broker speak HTTP/1.1 to a function; hypercorn answered h2c (tests/serving/test_deferred.py)."""
    with served_function("webhook-ingest", environment(write_teams(tmp_path / "teams")), tmp_path,
                         ready_path="/readyz") as served:
        with httpx.Client(http1=False, http2=True) as client, pytest.raises(httpx.RemoteProtocolError):
            client.get(f"{served.url}/readyz")  # HTTP/2 with prior knowledge
        assert httpx.get(f"{served.url}/readyz").status_code == 200


async def test_granian_stops_when_the_shutdown_trigger_returns_after_one_lifespan(tmp_path: Path) -> None:
    """As ``hypercorn.asyncio.serve(app, config, shutdown_trigger=...)``, which the installed wrapper
    also stands for (devchain.hosting.serve passes a trigger): served until it returns, then the
    lifespan's shutdown, once."""
    from tekton_dag.devchain import hosting
    from tekton_dag.functions import granian_server

    seen: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                seen.append(message["type"])
                await send({"type": "lifespan.startup.complete"})
            seen.append(message["type"])
            await send({"type": "lifespan.shutdown.complete"})
            return
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    sock = hosting.listen()
    shutdown = asyncio.Event()
    serving = asyncio.create_task(granian_server.serve(
        app, [f"fd://{sock.fileno()}"], header_timeout=5, max_header_bytes=16384, backlog=128,
        shutdown_trigger=shutdown.wait))
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(100):
                with contextlib.suppress(httpx.TransportError):
                    answer = await client.get(hosting.url_of(sock))
                    break
                await asyncio.sleep(0.05)
        assert answer.status_code == 204 and answer.headers["server"] == "granian"
        assert logging.getLogger("_granian").isEnabledFor(logging.WARNING), "granian's own warnings are kept"
        shutdown.set()
        await asyncio.wait_for(serving, 10)
    finally:
        serving.cancel()
        sock.detach()  # the server owns the descriptor it was given, and closed it (as hypercorn does)
    assert seen == ["lifespan.startup", "lifespan.shutdown"]


async def test_once_granian_has_stopped_no_thread_of_its_own_is_left() -> None:
    """serve() returns only when granian's Rust threads have ended: one of them resolves the stop
    from inside Python and could still be there when the process finalized, which aborted the
    process (exit 134) in about 1 stop in 10 (granian_server._granian_threads_ended)."""
    from tekton_dag.devchain import hosting
    from tekton_dag.functions import granian_server

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})

    for _ in range(8):
        before = set(os.listdir("/proc/self/task"))
        sock = hosting.listen()
        shutdown = asyncio.Event()
        serving = asyncio.create_task(granian_server.serve(
            app, [f"fd://{sock.fileno()}"], header_timeout=5, max_header_bytes=16384, backlog=128,
            shutdown_trigger=shutdown.wait))
        await asyncio.sleep(0.2)
        assert len(os.listdir("/proc/self/task")) > len(before), "granian serves on threads of its own"
        shutdown.set()
        await asyncio.wait_for(serving, 10)
        sock.detach()
        python = {str(t.native_id) for t in threading.enumerate()}
        assert set(os.listdir("/proc/self/task")) - before - python == set()


@pytest.mark.parametrize("chosen", ["granian", "hypercorn"])
def test_a_request_in_flight_when_sigterm_comes_is_still_answered(tmp_path: Path, chosen: str) -> None:
    """A graceful stop on both servers: a request whose body is still coming when SIGTERM arrives
    gets its answer (here webhook-ingest's 400 for an unsigned body) before the process exits 0.
    In Knative the queue-proxy drains first, but a webhook cut off here would not be redelivered."""
    env = {**environment(write_teams(tmp_path / "teams")), "KUBECONFIG": str(tmp_path / "none"),
           "TEKTON_DAG_HTTP_SERVER": chosen}
    url = f"http://127.0.0.1:{free_port()}"
    process = run_serve(env, url.removeprefix("http://"))
    signalled = False
    try:
        wait_ready(process, url)
        body = b'{"zen": "Keep it logically awesome."}'
        with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=10) as sock:
            sock.sendall(b"POST /webhook/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(body) + body[:10])
            time.sleep(0.3)  # the request is in the handler, reading its body
            process.send_signal(signal.SIGTERM)
            signalled = True
            time.sleep(0.5)
            sock.sendall(body[10:])
            answer = sock.recv(200)
    finally:
        # One SIGTERM, as Kubernetes sends: a second one that came once the function's loop had
        # closed would kill it (-15) on its way out, whichever server.
        if process.poll() is None and not signalled:
            process.send_signal(signal.SIGTERM)
        try:
            output = process.communicate(timeout=20)[0]
        except subprocess.TimeoutExpired:
            process.kill()
            output = process.communicate()[0]
    assert answer.startswith(b"HTTP/1.1 400"), (answer, output[-500:])
    assert process.returncode == 0, output[-500:]


STOP_AFTER_A_DNS_LOOKUP = """
import asyncio, json, logging, os, socket, time
import uvloop
from tekton_dag.devchain import hosting
from tekton_dag.functions import granian_server

warnings = []
class Kept(logging.Handler):
    def emit(self, record):
        warnings.append(record.getMessage())
logging.getLogger().addHandler(Kept())

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await asyncio.get_running_loop().getaddrinfo("localhost", 80)  # on libuv's thread pool, as aiohttp's lookups
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})

def ask(port):
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
                client.sendall(b"GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
                return client.recv(100)
        except OSError:
            time.sleep(0.05)

async def main():
    sock = hosting.listen()
    shutdown = asyncio.Event()
    serving = asyncio.ensure_future(granian_server.serve(
        app, [f"fd://{sock.fileno()}"], header_timeout=5, max_header_bytes=16384, backlog=128,
        shutdown_trigger=shutdown.wait))
    answer = await asyncio.to_thread(ask, sock.getsockname()[1])
    shutdown.set()
    started = time.monotonic()
    await asyncio.wait_for(serving, 10)
    sock.detach()
    pool = sum(1 for t in os.listdir("/proc/self/task")
               if open(f"/proc/self/task/{t}/comm").read().strip() == "libuv-worker")
    print(json.dumps([answer.decode("latin-1")[:12], time.monotonic() - started, warnings, pool]))

with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
    runner.run(main())
"""


def test_a_stop_waits_for_granians_threads_not_for_the_loops_thread_pool() -> None:
    """uvloop runs DNS look-ups (aiohttp's, for the Kubernetes API) on libuv's thread pool, whose
    threads start on first use and live as long as the process: they are not granian's. The stop
    waited its whole 2 s for them and warned that granian's threads were still running."""
    done = subprocess.run([sys.executable, "-c", STOP_AFTER_A_DNS_LOOKUP], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    status, stopping, warnings, pool = json.loads(done.stdout.strip().splitlines()[-1])
    assert status == "HTTP/1.1 204"
    assert pool > 0, "the look-up started libuv's pool (else this test shows nothing)"
    assert stopping < 1.0 and not [w for w in warnings if "still running" in w], (stopping, warnings)


SIGTERM_WHILE_STARTING = """
import asyncio, os, signal, time
from tekton_dag.functions import limits, loops
limits.install()
loops.install()
import func_python.http, hypercorn.config
from tekton_dag.devchain import hosting

class Function:
    def start(self, cfg):  # a SIGTERM while the function starts, as during a large configuration's first load
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.3)
        print("started", flush=True)
    def stop(self):
        print("stopped", flush=True)
    async def handle(self, scope, receive, send):
        raise AssertionError("served after a SIGTERM")

sock = hosting.listen()
config = hypercorn.config.Config()
config.bind = [f"fd://{sock.fileno()}"]
asyncio.run(func_python.http.ASGIApplication(Function())._serve(config))
print("returned", flush=True)
"""


@pytest.mark.parametrize("chosen", ["granian", "hypercorn"])
def test_a_sigterm_while_the_function_starts_stops_it(chosen: str) -> None:
    """func-python's own SIGTERM handler only sets an event that nothing waits for; under granian a
    SIGTERM that came during the function's start (a first load of 1,000 teams takes seconds) was
    lost, and the function served on until SIGKILL. Now it stops the function once started."""
    env = {**os.environ, "TEKTON_DAG_HTTP_SERVER": chosen}
    process = subprocess.Popen([sys.executable, "-c", SIGTERM_WHILE_STARTING], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        output = process.communicate(timeout=20)[0]
    except subprocess.TimeoutExpired:
        process.kill()
        output = process.communicate()[0]
        raise AssertionError(f"still serving 20 s after a SIGTERM during its start:\n{output[-1000:]}") from None
    assert process.returncode == 0, output[-1000:]
    said = [line for line in output.splitlines() if line in ("started", "stopped", "returned")]
    assert said == ["started", "stopped", "returned"], output[-1000:]


@pytest.mark.parametrize("name", sorted(serving.SERVABLE))
def test_serve_loads_the_configuration_first_exactly_for_the_functions_that_read_it(name: str) -> None:
    """``FunctionSpec.configured`` (whether ``tekton-dag serve`` loads the teams before serving) is
    the function's own ``Handler.configured``: the dead-letter sink must not wait for a load."""
    spec = serving.SERVABLE[name]
    handler = typing.get_type_hints(importlib.import_module(spec.module).new)["return"]
    assert spec.configured is handler.configured
