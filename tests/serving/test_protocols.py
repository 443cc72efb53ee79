"""hypercorn's HTTP/2 and WebSocket stacks load when a connection first uses them
(tekton_dag.functions.protocols): a served function starts without them and still answers h2
(prior knowledge and the h2c upgrade) and WebSocket upgrades exactly as hypercorn does."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tekton_dag.functions import protocols
from tekton_dag.testing.github import environment, write_teams
from tekton_dag.testing.serving import Served, served_function

PROBE = """
import json, sys
from tekton_dag.functions import limits
limits.install()
import func_python.cloudevent, func_python.http  # what tekton-dag serve imports next (functions.serving)
from tekton_dag.functions import protocols
stacks = ("h2.connection", "h2.settings", "hpack", "hyperframe", "wsproto")
print(json.dumps({"deferred": protocols.defer(),
                  "loaded": sorted(m for m in sys.modules if m.startswith(stacks)),
                  "stand_ins": sorted(m for m, v in sys.modules.items() if isinstance(v, protocols.StandIn))}))
"""


def test_the_installed_hypercorn_is_the_one_the_deferral_was_checked_against() -> None:
    # Fails after a hypercorn upgrade: read its protocol/__init__.py, protocol/h11.py, protocol/h2.py and
    # typing.py again (where H2Protocol, WSStream and h2.events are used), then update protocols.VERIFIED.
    assert protocols.verified()


def test_serving_leaves_the_h2_and_websocket_stacks_unloaded() -> None:
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen == {"deferred": True, "loaded": [],
                    "stand_ins": ["h2.events", "hypercorn.protocol.h2", "hypercorn.protocol.ws_stream"]}


def test_a_stand_in_loads_nothing_for_tools_probing_modules() -> None:
    stand_in = protocols.StandIn("json", ())
    assert getattr(stand_in, "__file__", None) is None and getattr(stand_in, "__path__", None) is None
    assert stand_in.dumps({}) == "{}"  # a public name: the real module


def raw(served: Served, request: bytes) -> bytes:
    """What the server sends within 1 s of ``request`` on a fresh connection."""
    host, port = served.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(request)
        sock.settimeout(1)
        data, deadline = b"", time.monotonic() + 1
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            data += chunk
        return data


def test_h2_h2c_and_websocket_are_answered_as_hypercorn_answers_them(tmp_path: Path) -> None:
    env = environment(write_teams(tmp_path / "teams"))
    with served_function("webhook-ingest", env, tmp_path, ready_path="/readyz") as served:
        with httpx.Client(http1=False, http2=True) as client:  # HTTP/2 with prior knowledge
            answer = client.get(f"{served.url}/readyz")
        assert (answer.http_version, answer.status_code) == ("HTTP/2", 200)
        upgraded = raw(served, b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                               b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n")
        assert upgraded.startswith(b"HTTP/1.1 101 ") and b"upgrade: h2c" in upgraded
        # func-python serves no WebSocket: its answer to the scope fails in hypercorn's WSStream, hence 500
        websocket = raw(served, b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        assert websocket.startswith(b"HTTP/1.1 500 ")
        assert httpx.get(f"{served.url}/readyz").status_code == 200
    assert "given the state ASGIWebsocketState.HANDSHAKE" in served.output  # hypercorn's real WSStream ran
