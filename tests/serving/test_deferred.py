"""Modules a served function needs late or never load when first used (tekton_dag.functions.deferred):
hypercorn's HTTP/2 and WebSocket stacks (a served function still answers h2, prior knowledge and
the h2c upgrade, and WebSocket upgrades exactly as hypercorn does), and dateutil's parser under the
CloudEvents SDK (loaded after ready; an event's time is read as before)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from cloudevents.core.bindings.http import to_binary_event
from cloudevents.core.v1.event import CloudEvent

from tekton_dag.functions import deferred
from tekton_dag.testing.github import environment, write_teams
from tekton_dag.testing.serving import Served, served_function

PROBE = """
import json, sys
from tekton_dag.functions import deferred, limits
deferred.defer(deferred.CLOUDEVENTS)  # as tekton-dag serve does (cli.serve), then the function's module
import tekton_dag.functions.status_reporter
limits.install()
import func_python.cloudevent, func_python.http  # what tekton-dag serve imports next (functions.serving)
late = ("h2.connection", "h2.settings", "hpack", "hyperframe", "wsproto", "dateutil.tz", "dateutil.parser._parser")
seen = {"deferred": [deferred.defer(deferred.HYPERCORN), deferred.defer(deferred.CLOUDEVENTS)],
        "loaded": sorted(m for m in sys.modules if m.startswith(late)),
        "stand_ins": sorted(m for m, v in sys.modules.items() if isinstance(v, deferred.StandIn))}
deferred.warm_up()  # the functions' background warm-up: only what events need
seen["after_warm_up"] = sorted(m for m, v in sys.modules.items() if isinstance(v, deferred.StandIn))
print(json.dumps(seen))
"""


@pytest.mark.parametrize("deferral", [deferred.HYPERCORN, deferred.CLOUDEVENTS], ids=lambda d: d.package)
def test_the_installed_library_is_the_one_the_deferral_was_checked_against(deferral: deferred.Deferral) -> None:
    # Fails after an upgrade: read deferral.files again (where the names of deferral.modules are
    # imported and used: still only called?), then update their digests.
    assert deferred.verified(deferral)


def test_serving_leaves_the_h2_and_websocket_stacks_and_dateutil_unloaded() -> None:
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen == {"deferred": [True, True], "loaded": [],
                    "stand_ins": ["dateutil.parser", "h2.events", "hypercorn.protocol.h2",
                                  "hypercorn.protocol.ws_stream"],
                    "after_warm_up": ["h2.events", "hypercorn.protocol.h2", "hypercorn.protocol.ws_stream"]}


def test_too_late_nothing_is_stood_in() -> None:
    import cloudevents.core.bindings.http  # noqa: F401 - imported: dateutil's parser with it

    assert not deferred.defer(deferred.CLOUDEVENTS)
    assert not isinstance(sys.modules["dateutil.parser"], deferred.StandIn)


def test_a_stand_in_loads_nothing_for_tools_probing_modules() -> None:
    stand_in = deferred.StandIn("json", ())
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
    # hypercorn chosen (granian, the default, serves HTTP/1.1 only: tests/serving/test_http_server.py)
    env = {**environment(write_teams(tmp_path / "teams")), "TEKTON_DAG_HTTP_SERVER": "hypercorn"}
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


def test_an_event_time_is_read_as_the_sdk_reads_it(tmp_path: Path) -> None:
    # func-python decodes the event (its time through isoparse) before status-reporter answers 202 (no team here)
    env = {"TEKTON_DAG_TEAMS_DIR": str(tmp_path / "teams"), "TEKTON_DAG_DRY_RUN_DIR": str(tmp_path / "runs"),
           "GITHUB_API_URL": "http://127.0.0.1:9", "GITHUB_TOKEN_FILE": str(tmp_path / "no-token")}
    (tmp_path / "teams").mkdir()
    event = CloudEvent({"type": "dev.tekton.event.pipelinerun.started.v1", "source": "/tekton", "id": "e-1",
                        "time": datetime(2026, 12, 1, 12, 0, 0, 123456, tzinfo=UTC)}, {"pipelineRun": {}})
    message = to_binary_event(event)
    assert message.headers["ce-time"] == "2026-12-01T12:00:00.123456Z"
    with served_function("status-reporter", env, tmp_path) as served:
        answer = httpx.post(served.url, headers=dict(message.headers), content=message.body, timeout=10)
        malformed = httpx.post(served.url, headers={**message.headers, "ce-time": "yesterday"}, content=message.body,
                               timeout=10)
    assert answer.status_code == 202, answer.text  # decoded (its time parsed), then handled: no check wanted here
    assert malformed.status_code == 400 and "CloudEvent" in malformed.text  # func-python's: the time is no time
