"""`tekton-dag serve` as a real process on a real socket, publishing to a real loopback sink."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from support.webhooks import environment, delivery, write_teams

from tekton_dag.events import catalog, codec


class _RecordingSink(BaseHTTPRequestHandler):
    """A Broker ingress on loopback: records each CloudEvent POSTed to it and answers 202."""

    received: list = []

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.received.append(codec.decode(dict(self.headers.items()), body))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def sink() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RecordingSink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    server.server_close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(autouse=True)
def _fresh_sink() -> None:
    _RecordingSink.received = []


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, sink: str) -> Iterator[str]:
    """One server for the module: starting Python + hypercorn takes a second or two."""
    root = tmp_path_factory.mktemp("serve")
    teams = write_teams(root / "teams")
    port = free_port()
    env = {**os.environ, **environment(teams), "K_SINK": sink, "LISTEN_ADDRESS": f"127.0.0.1:{port}",
           "KUBECONFIG": str(root / "no-kubeconfig")}  # module scope: the conftest's isolation is not on yet
    env.pop("KUBERNETES_SERVICE_HOST", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "tekton_dag.cli.main", "serve", "webhook-ingest"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                output = process.communicate()[0] if process.poll() is not None else ""
                pytest.fail(f"webhook-ingest did not become ready:\n{output}")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0]
        assert "shared-secret-for-tests" not in output  # secrets never reach the log
        assert "sha256=" not in output  # nor signatures


def test_a_signed_delivery_over_a_real_socket_reaches_the_sink(served: str) -> None:
    headers, body = delivery("pull_request.opened")
    response = httpx.post(f"{served}/webhook/github", headers=headers, content=body, timeout=5)
    assert response.status_code == 202, response.text
    [event] = _RecordingSink.received
    assert event.get_type() == catalog.GITHUB_PULL_REQUEST
    assert event.get_id() == headers["X-GitHub-Delivery"]


def test_a_bad_signature_over_a_real_socket_is_401(served: str) -> None:
    headers, body = delivery("pull_request.opened", secret="not-the-secret")
    response = httpx.post(served, headers=headers, content=body, timeout=5)
    assert response.status_code == 401
    assert json.loads(response.text)["reason"]
    assert _RecordingSink.received == []


def test_serve_refuses_an_unknown_function() -> None:
    result = subprocess.run([sys.executable, "-m", "tekton_dag.cli.main", "serve", "nope"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "webhook-ingest" in result.stderr
