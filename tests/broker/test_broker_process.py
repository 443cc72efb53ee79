"""The local Broker as its own process (`python -m tekton_dag.devchain`)."""

from __future__ import annotations

import asyncio
import signal
import sys

from cloudevents.core.bindings.http import to_binary_event

from support.broker import broker_yaml, event, eventually, trigger_yaml, write_manifests
from tekton_dag.testing.recorder import EventRecorder
from tekton_dag.testing.serving import free_port


async def start(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tekton_dag.devchain", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )


async def test_the_broker_process_delivers_and_stops_on_sigterm(tmp_path):
    import httpx

    manifests = write_manifests(
        tmp_path / "k", broker_yaml(), trigger_yaml("t", "s", "filter:\n  attributes: {type: dev.x.v1}\n")
    )
    sub, port = EventRecorder(), free_port()
    with sub.serving() as url:
        broker = await start("--triggers", str(manifests), "--service", f"s={url}", "--port", str(port),
                             "--dead-letter-file", str(tmp_path / "dl.jsonl"))
        banner = (await asyncio.wait_for(broker.stdout.readline(), 20)).decode()
        assert f"ingress http://127.0.0.1:{port}/tekton-dag/tekton-dag, 1 Triggers" in banner
        message = to_binary_event(event("dev.x.v1"))
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"http://127.0.0.1:{port}/tekton-dag/tekton-dag", headers=dict(message.headers), content=message.body
            )
        assert response.status_code == 202
        await eventually(lambda: len(sub.received) == 1)
        broker.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(broker.wait(), 20) == 0


async def test_invalid_manifests_and_unknown_services_stop_it_at_once(tmp_path):
    bad = write_manifests(tmp_path / "k", trigger_yaml("t", "s", "filters:\n- cesql: \"type = 'x'\"\n"))
    process = await start("--triggers", str(bad), "--port", str(free_port()))
    _, err = await process.communicate()
    assert process.returncode == 1 and "eventing.yaml: Trigger t: spec.filters[0].cesql: CESQL" in err.decode()
    good = write_manifests(tmp_path / "g", trigger_yaml("t", "s"))
    process = await start("--triggers", str(good), "--port", str(free_port()))
    _, err = await process.communicate()
    assert process.returncode == 1 and "no URL for Service/s" in err.decode()
