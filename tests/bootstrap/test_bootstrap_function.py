"""bootstrap-batcher through func-python's real ASGI middleware (httpx.ASGITransport), with a real
registry and a recording Broker sink on loopback."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from cloudevents.core.bindings.http import HTTPMessage, from_http_event, to_binary_event, to_structured_event
from cloudevents.core.v1.event import CloudEvent
from func_python.cloudevent import ASGIApplication

from tekton_dag import pipelines
from tekton_dag.events import catalog
from tekton_dag.functions import lifecycle
from tekton_dag.functions.bootstrap_batcher import new
from tekton_dag.testing.registry import Registry, unreachable_host
from tekton_dag.testing.sealing import TEST_EVENT_KEY, sealed

TEAM, STACK = "commerce", "shop"


def bootstrap_event(data: Any, event_id: str = "req-1", kind: str = catalog.BOOTSTRAP_REQUESTED) -> CloudEvent:
    """A request as the CLI or webhook-ingest sends it: sealed with the team's event key."""
    plain = CloudEvent(attributes={
        "id": event_id, "source": catalog.SOURCE_CLI, "type": kind, "datacontenttype": "application/json",
        catalog.EXT_TRACEPARENT: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    }, data=data)
    return sealed(plain) if isinstance(data, dict) else plain  # other data is refused before the seal is read


@pytest.fixture
async def invoke(sink, teams_for) -> AsyncIterator[Callable[..., Any]]:  # type: ignore[no-untyped-def]
    """``invoke(registry_host, event, structured=False) -> (status, reply CloudEvent | None)``."""
    functions = []

    async def call(registry_host: str, event: CloudEvent, structured: bool = False, env: dict | None = None):  # type: ignore[no-untyped-def]
        teams, _ = teams_for(registry_host)
        function = new()
        function.start({"TEKTON_DAG_EVENT_KEY": TEST_EVENT_KEY, "TEKTON_DAG_TEAMS_DIR": str(teams), "K_SINK": sink.url,
                        "TEKTON_DAG_REGISTRY_TIMEOUT": "2", **(env or {})})
        functions.append(function)
        message = (to_structured_event if structured else to_binary_event)(event)
        transport = httpx.ASGITransport(app=ASGIApplication(function))
        async with httpx.AsyncClient(transport=transport, base_url="http://bootstrap-batcher") as client:
            response = await client.post("/", headers=dict(message.headers), content=message.body)
        reply = None
        if response.content:
            reply = from_http_event(HTTPMessage(headers=dict(response.headers), body=response.content))
        return response.status_code, reply

    yield call
    for function in functions:
        function.stop()
    await lifecycle.closed()


async def test_a_plan_publishes_one_run_request_and_replies_planned(invoke, sink, registry: Registry, tag: str) -> None:  # type: ignore[no-untyped-def]
    registry.push_images(["payment-api"], tag)
    data = {"team": TEAM, "stack": STACK, "apps": ["storefront-web", "checkout-api", "payment-api"],
            "image_tag": tag, "delivery": "req-1"}
    status, reply = await invoke(registry.host, bootstrap_event(data))
    assert status == 200
    assert reply.get_type() == catalog.BOOTSTRAP_PLANNED
    assert reply.get_source() == catalog.SOURCE_BOOTSTRAP_BATCHER
    assert reply.get_extension(catalog.EXT_TEAM) == TEAM
    planned = reply.get_data()
    [shop] = planned["stacks"]
    assert shop["build_apps"] == ["checkout-api", "storefront-web"]
    assert [(s["app"], s["reason"]) for s in shop["skipped"]] == [("payment-api", "image exists")]
    assert planned["runs"] == ["req-1/shop"]
    [published] = sink.received
    assert published.get_type() == catalog.RUN_REQUESTED
    assert published.get_id() == "req-1/commerce/shop"
    assert published.get_extension("traceparent").startswith("00-0af7651916cd43dd")
    assert published.get_data() == {
        "team": TEAM, "stack": STACK, "pipeline": pipelines.BOOTSTRAP, "delivery": "req-1/shop", "app": "",
        "repo": "", "revision": "", "pr": None, "build_apps": ["checkout-api", "storefront-web"],
        "image_tag": tag, "requested_by": "bootstrap-batcher",
    }


async def test_everything_present_replies_skipped_and_publishes_nothing(
    invoke, sink, registry: Registry, tag: str
) -> None:  # type: ignore[no-untyped-def]
    registry.push_images(["cart-api", "tax-api"], tag)
    data = {"team": TEAM, "stack": STACK, "apps": ["cart-api", "tax-api"], "image_tag": tag, "delivery": "req-2"}
    status, reply = await invoke(registry.host, bootstrap_event(data, "req-2"), structured=True)
    assert (status, reply.get_type()) == (200, catalog.BOOTSTRAP_SKIPPED)
    found = reply.get_data()["stacks"][0]["skipped"]
    assert [(s["app"], s["image"]) for s in found] == [
        ("cart-api", f"{registry.host}/cart-api:{tag}"), ("tax-api", f"{registry.host}/tax-api:{tag}")]
    assert all(s["detail"].startswith("found (sha256:") for s in found)
    assert sink.received == []


async def test_registry_down_plans_every_app_and_says_so(invoke, sink, tag: str) -> None:  # type: ignore[no-untyped-def]
    data = {"team": TEAM, "image_tag": tag, "delivery": "req-3"}
    status, reply = await invoke(unreachable_host(), bootstrap_event(data, "req-3"))
    assert (status, reply.get_type()) == (200, catalog.BOOTSTRAP_PLANNED)
    built = reply.get_data()["stacks"][0]["built"]
    assert len(built) == 40
    assert all(b["reason"] == "registry check failed" and "unreachable" in b["detail"] for b in built)
    assert len(sink.events_of(catalog.RUN_REQUESTED)[0].get_data()["build_apps"]) == 40


async def test_unknown_app_replies_rejected_and_starts_nothing(invoke, sink, registry: Registry) -> None:  # type: ignore[no-untyped-def]
    data = {"team": TEAM, "stack": STACK, "apps": ["checkout-api", "no-such-app"], "delivery": "req-4"}
    status, reply = await invoke(registry.host, bootstrap_event(data, "req-4"))
    assert (status, reply.get_type()) == (200, catalog.RUN_FAILED)
    assert reply.get_data()["reason"] == "rejected"
    assert "'no-such-app'" in reply.get_data()["message"]
    assert reply.get_data()["delivery"] == "req-4"
    assert sink.received == []


@pytest.mark.parametrize(("data", "kind", "message"), [
    ({"stack": STACK, "delivery": "x"}, catalog.BOOTSTRAP_REQUESTED, "team: required"),
    ({"team": TEAM, "delivery": "x", "apps": "checkout-api"}, catalog.BOOTSTRAP_REQUESTED, "apps: must be a list"),
    ({"team": TEAM, "delivery": "x", "force_rebuild": "yes"}, catalog.BOOTSTRAP_REQUESTED, "force_rebuild"),
    ({"message": "Hello World"}, "boson.fn", "type: expected dev.tektondag.bootstrap.requested.v1"),
    (["commerce"], catalog.BOOTSTRAP_REQUESTED, "data must be a JSON object"),
], ids=["no team", "apps not a list", "force_rebuild not a bool", "kn func invoke default type", "not an object"])
async def test_bad_data_is_a_400_with_a_cloudevent_saying_why(
    invoke, sink, registry: Registry, data, kind, message
) -> None:  # type: ignore[no-untyped-def]
    status, reply = await invoke(registry.host, bootstrap_event(data, kind=kind))
    assert status == 400
    assert reply.get_type() == catalog.RUN_FAILED
    assert reply.get_data()["reason"] == "invalid"
    assert message in reply.get_data()["message"]
    assert sink.received == []


async def test_a_broker_refusing_the_run_request_is_a_502_to_retry(invoke, sink, registry: Registry, tag: str) -> None:  # type: ignore[no-untyped-def]
    sink.status = 503
    data = {"team": TEAM, "stack": STACK, "apps": ["payment-api"], "image_tag": tag, "delivery": "req-5"}
    status, reply = await invoke(registry.host, bootstrap_event(data, "req-5"))
    assert status == 502
    assert reply.get_data()["reason"] == "publish-failed"
    assert "answered 503" in reply.get_data()["message"]
    assert len(sink.received) == 1  # it was tried


@pytest.mark.parametrize(("variable", "value"), [
    ("TEKTON_DAG_REGISTRY_TIMEOUT", "nan"), ("TEKTON_DAG_REGISTRY_TIMEOUT", "0"),
    ("TEKTON_DAG_REGISTRY_TIMEOUT", "-1"), ("TEKTON_DAG_REGISTRY_TIMEOUT", "inf"),
    ("TEKTON_DAG_REGISTRY_CONCURRENCY", "0"), ("TEKTON_DAG_REGISTRY_CONCURRENCY", "2.5"),
])
async def test_registry_settings_that_cannot_work_keep_it_unready_saying_which(
        teams_for, sink, registry: Registry, variable: str, value: str) -> None:  # type: ignore[no-untyped-def]
    teams, _ = teams_for(registry.host)
    function = new()
    function.start({"TEKTON_DAG_EVENT_KEY": TEST_EVENT_KEY, "TEKTON_DAG_TEAMS_DIR": str(teams), "K_SINK": sink.url,
                    variable: value})
    ready, message = function.ready()
    function.stop()
    assert not ready and f"registry settings: {variable}={value!r}: expected" in message


async def test_not_ready_without_a_sink(teams_for, registry: Registry) -> None:  # type: ignore[no-untyped-def]
    teams, _ = teams_for(registry.host)
    function = new()
    function.start({"TEKTON_DAG_EVENT_KEY": TEST_EVENT_KEY, "TEKTON_DAG_TEAMS_DIR": str(teams)})
    ready, message = function.ready()
    assert not ready and "K_SINK is not set" in message
    transport = httpx.ASGITransport(app=ASGIApplication(function))
    async with httpx.AsyncClient(transport=transport, base_url="http://f") as client:
        readiness = await client.get("/health/readiness")
        message_ = to_binary_event(bootstrap_event({"team": TEAM, "delivery": "x"}))
        answer = await client.post("/", headers=dict(message_.headers), content=message_.body)
    assert readiness.status_code == 500
    assert answer.status_code == 503
    function.stop()


async def test_an_invalid_configuration_is_not_ready(tmp_path, sink) -> None:  # type: ignore[no-untyped-def]
    function = new()
    function.start(
        {"TEKTON_DAG_EVENT_KEY": TEST_EVENT_KEY, "TEKTON_DAG_TEAMS_DIR": str(tmp_path / "missing"), "K_SINK": sink.url}
    )
    ready, message = function.ready()
    assert not ready and message.startswith("configuration not loaded:")
    function.stop()


def test_the_func_project_re_exports_the_core_handler() -> None:
    import importlib.util
    from pathlib import Path

    import yaml

    project = Path(__file__).resolve().parents[2] / "functions" / "bootstrap-batcher"
    spec = importlib.util.spec_from_file_location("bootstrap_batcher_func", project / "function" / "func.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.new is new
    func_yaml = yaml.safe_load((project / "func.yaml").read_text())
    assert (func_yaml["specVersion"], func_yaml["runtime"], func_yaml["invoke"]) == ("0.36.0", "python", "cloudevent")
    assert func_yaml["name"] == "bootstrap-batcher" and func_yaml["created"] and func_yaml["deploy"]["namespace"]
    sample = json.loads((project / "sample-bootstrap.json").read_text())
    from tekton_dag.events.requests import BootstrapRequest
    assert BootstrapRequest.from_data(sample).team == TEAM


async def test_configuration_changes_are_followed(teams_for, sink, registry: Registry, tag: str) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    import yaml

    teams, _ = teams_for(registry.host)
    function = new()
    function.start(
        {
            "TEKTON_DAG_EVENT_KEY": TEST_EVENT_KEY,
            "TEKTON_DAG_TEAMS_DIR": str(teams),
            "K_SINK": sink.url,
            "TEKTON_DAG_CONFIG_RELOAD_S": "0.05",
        }
    )
    app = ASGIApplication(function)

    async def image_of_payment_api() -> str:
        message = to_binary_event(bootstrap_event(
            {"team": TEAM, "apps": ["payment-api"], "image_tag": tag, "delivery": "r", "force_rebuild": True}))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://f") as client:
            response = await client.post("/", headers=dict(message.headers), content=message.body)
        reply = from_http_event(HTTPMessage(headers=dict(response.headers), body=response.content))
        return reply.get_data()["stacks"][0]["built"][0]["image"]

    try:
        assert await image_of_payment_api() == f"{registry.host}/payment-api:{tag}"
        team_file = teams / TEAM / "team.yaml"
        document = yaml.safe_load(team_file.read_text())
        document["imageRegistry"] = "registry.moved.example/commerce"
        team_file.write_text(yaml.safe_dump(document, sort_keys=False))
        for _ in range(100):
            await asyncio.sleep(0.05)
            if function.configs.current().team(TEAM).image_registry != registry.host:
                break
        assert await image_of_payment_api() == f"registry.moved.example/commerce/payment-api:{tag}"
        team_file.write_text("name: [broken")  # a bad edit keeps the last good configuration
        await asyncio.sleep(0.3)
        assert function.ready() == (True, "OK")
        assert await image_of_payment_api() == f"registry.moved.example/commerce/payment-api:{tag}"
    finally:
        function.stop()
