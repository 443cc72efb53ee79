"""Fuzz webhook-ingest with hypothesis: any body, any headers, any method -> never a 5xx, and every
4xx says why. Signed and unsigned variants, so the parser behind the HMAC check is fuzzed too."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import func_python.http
import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tekton_dag.functions.lifecycle import Wiring
from tekton_dag.functions.webhook_ingest import new
from tekton_dag.testing.github import SHARED_SECRET, environment, fixture, write_teams
from tekton_dag.testing.recorder import EventRecorder
from tekton_dag.webhooks.signatures import sign

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
header_names = st.sampled_from(["X-GitHub-Event", "X-GitHub-Delivery", "X-Hub-Signature-256", "Content-Type",
                                "Content-Length", "Authorization", "traceparent"])
header_values = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60)
events = st.sampled_from(["pull_request", "push", "ping", "issues", "", "PULL_REQUEST"])
content_types = st.sampled_from(["application/json", "application/x-www-form-urlencoded",
                                 "application/json; charset=utf-8", "text/plain", ""])
paths = st.sampled_from(["/", "/webhook/github", "/api/run", "/api/bootstrap?apps=,,", "/api/runs?team=x", "/nope"])
methods = st.sampled_from(["POST", "POST", "POST", "GET", "PUT", "DELETE", "PATCH"])


@st.composite
def mutated_fixtures(draw: st.DrawFn) -> bytes:
    """A real payload with one field replaced by arbitrary JSON."""
    name = draw(st.sampled_from(["pull_request.opened", "pull_request.closed-merged", "push.branch"]))
    _, payload = fixture(name)
    node: Any = payload
    for _ in range(draw(st.integers(0, 3))):
        if not isinstance(node, dict) or not node:
            break
        key = draw(st.sampled_from(sorted(node)))
        if isinstance(node[key], dict) and draw(st.booleans()):
            node = node[key]
        else:
            node[key] = draw(json_values)
            break
    return json.dumps(payload).encode()


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str, dict[str, str], bytes]:
    api_bodies = st.fixed_dictionaries(
        {"team": st.sampled_from(["platform", "payments", "x"]), "stack": st.sampled_from(["web", "pay", ""])},
        optional={
            "app": json_values | st.sampled_from(["hello", "api"]),
            "pr": json_values,
            "pipeline": json_values,
            "build_apps": json_values,
            "apps": json_values,
            "force_rebuild": json_values,
            "revision": json_values,
        },
    ).map(lambda v: json.dumps(v).encode())
    body = draw(st.one_of(st.just(b""), st.binary(max_size=200), json_values.map(lambda v: json.dumps(v).encode()),
                          mutated_fixtures(), api_bodies))
    headers = {"Content-Type": draw(content_types), "X-GitHub-Event": draw(events),
               "X-GitHub-Delivery": draw(st.sampled_from(["72d3162e-cc78-11e3-81ab-4c9367dc0958", "", "x y"]))}
    headers.update(draw(st.dictionaries(header_names, header_values, max_size=3)))
    headers.pop("Content-Length", None)  # httpx sets the true length; a false one is an HTTP-level error
    if draw(st.booleans()):
        headers["X-Hub-Signature-256"] = sign(SHARED_SECRET, body)
    if draw(st.booleans()):  # past the token check, so the REST API's body validation is fuzzed too
        headers["Authorization"] = "Bearer t"
    return draw(methods), draw(paths), headers, body


def test_no_input_gets_a_5xx_and_every_4xx_has_a_reason(tmp_path_factory) -> None:
    teams = write_teams(tmp_path_factory.mktemp("fuzz") / "teams")
    broker = EventRecorder()
    function = new(Wiring(broker=broker.client()))
    function.start(environment(teams, TEKTON_DAG_API_TOKEN="t"))
    app = func_python.http.ASGIApplication(function)

    async def send(method: str, path: str, headers: dict[str, str], body: bytes) -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ingest.test") as client:
            return await client.request(method, path, headers=headers, content=body)

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(requests())
    def check(request: tuple[str, str, dict[str, str], bytes]) -> None:
        response = asyncio.run(send(*request))
        assert response.status_code < 500, (request, response.text)
        if response.status_code >= 400:
            assert response.json()["reason"], response.text

    check()
