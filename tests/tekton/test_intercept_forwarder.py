"""The intercept forwarder as a real process between a client and a local upstream server."""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import ClassVar

import pytest

from tekton_dag.testing.serving import free_port

FORWARDER = Path(__file__).resolve().parents[2] / "tasks" / "scripts" / "intercept_forwarder.py"


class Upstream(http.server.BaseHTTPRequestHandler):
    seen: ClassVar[list] = []

    def do_GET(self) -> None:  # noqa: N802
        Upstream.seen.append((self.path, self.headers.get("x-dev-session")))
        body = b"served by the PR build"
        self.send_response(418)
        self.send_header("X-Build", "pr-7")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def forwarder():
    Upstream.seen = []
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    port = free_port()
    env = {**os.environ, "LISTEN_PORT": str(port), "TARGET_URL": f"http://127.0.0.1:{upstream.server_address[1]}"}
    proc = subprocess.Popen([sys.executable, str(FORWARDER)], env=env, stdout=subprocess.PIPE, text=True)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.05)
    yield port, proc
    proc.terminate()
    proc.wait(timeout=5)
    assert proc.stdout is not None
    proc.stdout.close()
    upstream.shutdown()
    upstream.server_close()


def test_forwards_unchanged_and_logs_each_request(forwarder):
    port, proc = forwarder
    request = urllib.request.Request(f"http://127.0.0.1:{port}/orders?id=3", headers={"x-dev-session": "pr-7"})
    with pytest.raises(urllib.error.HTTPError) as answer:  # 418 from upstream comes back as is
        urllib.request.urlopen(request, timeout=5)
    assert answer.value.code == 418 and answer.value.headers["X-Build"] == "pr-7"
    assert answer.value.read() == b"served by the PR build"
    assert Upstream.seen == [("/orders?id=3", "pr-7")]
    proc.terminate()
    out = proc.stdout.read()
    assert "forwarded GET /orders?id=3 -> 418" in out
