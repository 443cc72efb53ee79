"""Real processes on real sockets: ``tekton-dag serve NAME`` and a loopback Broker sink."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from cloudevents.core.v1.event import CloudEvent

from tekton_dag.events import codec


@dataclass
class RecordingSink:
    """A Broker ingress on loopback: decodes each CloudEvent POSTed to it and answers ``status``."""

    url: str = ""
    received: list[CloudEvent] = field(default_factory=list)
    status: int = 202  # set to a 5xx to play a failing Broker

    def events_of(self, kind: str) -> list[CloudEvent]:
        return [event for event in self.received if event.get_type() == kind]


@contextlib.contextmanager
def recording_sink() -> Iterator[RecordingSink]:
    sink = RecordingSink()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            sink.received.append(codec.decode(dict(self.headers.items()), body))
            self.send_response(sink.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sink.url = f"http://127.0.0.1:{server.server_port}/"
    try:
        yield sink
    finally:
        server.shutdown()
        server.server_close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Served:
    url: str
    output: str = ""  # everything the process printed, once it stopped


@contextlib.contextmanager
def served_function(name: str, env: dict[str, str], scratch: Path, ready_path: str = "/health/readiness") -> Iterator[Served]:
    """``tekton-dag serve NAME`` on a free loopback port, until the block ends; waits until ready."""
    port = free_port()
    full_env = {**os.environ, **env, "LISTEN_ADDRESS": f"127.0.0.1:{port}",
                "KUBECONFIG": str(scratch / "no-kubeconfig")}  # never a real cluster
    full_env.pop("KUBERNETES_SERVICE_HOST", None)
    process = subprocess.Popen([sys.executable, "-m", "tekton_dag.cli.main", "serve", name], env=full_env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    served = Served(f"http://127.0.0.1:{port}")
    try:
        _wait_ready(process, served.url + ready_path)
        yield served
    finally:
        process.terminate()
        served.output = process.communicate(timeout=10)[0]


def _wait_ready(process: subprocess.Popen[str], url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited {process.returncode}:\n{process.communicate()[0]}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"server not ready at {url} after {timeout} s")
