"""bootstrap-batcher as a real process: `serving.serve` (func-python on granian, the default server),
lifespan start, real HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
from cloudevents.core.bindings.http import HTTPMessage, from_http_event, to_binary_event
from cloudevents.core.v1.event import CloudEvent

from tekton_dag.events import catalog
from tekton_dag.testing.registry import Registry
from tekton_dag.testing.sealing import sealed
from tekton_dag.testing.serving import free_port


def test_served_function_plans_and_publishes(registry: Registry, teams_for, sink, tag: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    teams, _ = teams_for(registry.host)
    registry.push_images(["tax-api"], tag)
    address = f"127.0.0.1:{free_port()}"
    env = {**os.environ, "LISTEN_ADDRESS": address, "K_SINK": sink.url, "TEKTON_DAG_TEAMS_DIR": str(teams),
           "HOME": str(tmp_path)}
    with (tmp_path / "server.log").open("wb") as log:  # the child keeps its own copy of the file
        server = subprocess.Popen(
            [sys.executable, "-c", "from tekton_dag.functions.serving import serve; serve('bootstrap-batcher')"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://{address}"
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            try:
                if httpx.get(f"{base}/health/readiness", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "server.log").read_text()
            time.sleep(0.1)
        event = sealed(
            CloudEvent(
                attributes={
                    "id": "served-1",
                    "source": catalog.SOURCE_CLI,
                    "type": catalog.BOOTSTRAP_REQUESTED,
                    "datacontenttype": "application/json",
                },
                data={
                    "team": "commerce",
                    "stack": "shop",
                    "apps": ["tax-api", "invoice-api"],
                    "image_tag": tag,
                    "delivery": "served-1",
                },
            )
        )
        message = to_binary_event(event)
        response = httpx.post(base, headers=dict(message.headers), content=message.body, timeout=30)
        reply = from_http_event(HTTPMessage(headers=dict(response.headers), body=response.content))
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert response.status_code == 200
    assert reply.get_type() == catalog.BOOTSTRAP_PLANNED
    assert reply.get_data()["stacks"][0]["build_apps"] == ["invoice-api"]
    assert [s["app"] for s in reply.get_data()["stacks"][0]["skipped"]] == ["tax-api"]
    [published] = sink.received
    assert published.get_data()["build_apps"] == ["invoice-api"]
    assert "HTTP Request: HEAD" not in (tmp_path / "server.log").read_text()  # no per-request log noise
