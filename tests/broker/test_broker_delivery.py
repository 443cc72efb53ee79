"""Delivery semantics of the local Broker, over real HTTP to real subscribers."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from pathlib import Path

import httpx
import pytest
from cloudevents.core.v1.event import CloudEvent

from support.broker import broker_yaml, event, eventually, served, trigger_yaml, write_manifests
from tekton_dag.bus.broker import LocalBroker
from tekton_dag.bus.triggers import load_topology
from tekton_dag.testing.recorder import EventRecorder

TYPE_A = "dev.example.a.v1"
TYPE_B = "dev.example.b.v1"
ONLY_A = f"filter:\n  attributes:\n    type: {TYPE_A}\n"
ONLY_B = f"filter:\n  attributes:\n    type: {TYPE_B}\n"


@pytest.mark.parametrize("structured", [False, True], ids=["binary", "structured"])
async def test_ingress_accepts_both_modes_and_delivers_to_matching_triggers_only(start_broker, structured):
    a, b = EventRecorder(), EventRecorder()
    with a.serving() as a_url, b.serving() as b_url:
        docs = [broker_yaml(), trigger_yaml("a-t", "a", ONLY_A), trigger_yaml("b-t", "b", ONLY_B)]
        async with start_broker(docs, {"a": a_url, "b": b_url}) as running:
            response = await running.post(event(TYPE_A, subject="jmjava/x"), structured=structured)
            assert response.status_code == 202
            await eventually(lambda: running.broker.stats["delivered"] == 1)
    assert a.types() == [TYPE_A] and b.received == []
    assert a.received[0].get_subject() == "jmjava/x"
    assert a.headers[0]["prefer"] == "reply"
    assert "ce-knativebrokerttl" not in a.headers[0]  # stripped before the subscriber sees it


async def test_several_attributes_in_one_exact_map_are_anded_as_knative_does(start_broker):
    """Knative ANDs the attributes of one ``exact`` (``prefix``, ``suffix``) map (pkg/eventfilter/
    subscriptionsapi/exact_filter.go) and its webhook admits several (knative/eventing#6477); the
    local Broker refused such a Trigger. An empty ``filters`` list leaves ``filter`` in force
    (pkg/broker/filter/filter_handler.go filterEvent)."""
    both, legacy = EventRecorder(), EventRecorder()
    docs = [broker_yaml(), trigger_yaml("both", "both", f"filters:\n- exact: {{type: {TYPE_A}, subject: jmjava/x}}\n"),
            trigger_yaml("legacy", "legacy", ONLY_B + "filters: []\n")]
    with both.serving() as both_url, legacy.serving() as legacy_url:
        async with start_broker(docs, {"both": both_url, "legacy": legacy_url}) as running:
            for sent in (event(TYPE_A, subject="jmjava/x"), event(TYPE_A, subject="jmjava/y"), event(TYPE_A),
                         event(TYPE_B, subject="jmjava/x")):
                assert (await running.post(sent)).status_code == 202
            await eventually(lambda: running.broker.stats["delivered"] == 2)
            await asyncio.sleep(0.05)
    assert [(e.get_type(), e.get_subject()) for e in both.received] == [(TYPE_A, "jmjava/x")]
    assert [(e.get_type(), e.get_subject()) for e in legacy.received] == [(TYPE_B, "jmjava/x")]


async def test_ingress_refuses_a_request_that_is_not_a_cloudevent(start_broker):
    async with start_broker([broker_yaml()], {}) as running:
        async with httpx.AsyncClient() as client:
            response = await client.post(running.url, json={"message": "Hello World"})
    assert response.status_code == 400
    assert "not a CloudEvent" in response.text


class _Raw(EventRecorder):
    """Records what arrives as HTTP (any spec version) and answers ``reply``: (headers, body)."""

    def __init__(self, reply: tuple[dict[str, str], bytes] = ({}, b"")):
        super().__init__()
        self.raw: list[tuple[dict[str, str], bytes]] = []
        self.raw_reply = reply

    def answer(self, headers, body):
        self.raw.append(({k.lower(): v for k, v in headers.items()}, body))
        return 200, *self.raw_reply


async def test_a_cloudevents_0_3_event_is_taken_and_forwarded_as_0_3(start_broker):
    """sdk-go reads 0.3 as well as 1.0 (v2/binding/spec/spec.go ``VS``) and writes an event in its
    own version (v2/binding/event_message.go), so Knative's ingress takes a 0.3 event (202) and
    its filter delivers it as 0.3; a 0.3 reply re-enters the same way. The local Broker answered 400."""
    reply = json.dumps({"specversion": "0.3", "type": TYPE_B, "source": "/a", "id": "r-1",
                        "schemaurl": "http://schemas/b", "datacontenttype": "application/json", "data": {"m": 2}})
    first = _Raw(({"content-type": "application/cloudevents+json"}, reply.encode()))
    second = _Raw()
    headers = {"ce-specversion": "0.3", "ce-type": TYPE_A, "ce-source": "/s", "ce-id": "e-03",
               "ce-schemaurl": "http://schemas/a", "content-type": "application/json"}
    docs = [broker_yaml(), trigger_yaml("a", "first", ONLY_A), trigger_yaml("b", "second", ONLY_B)]
    with first.serving() as first_url, second.serving() as second_url:
        async with start_broker(docs, {"first": first_url, "second": second_url}) as running:
            async with httpx.AsyncClient() as client:
                response = await client.post(running.url, headers=headers, content=b'{"n": 1}')
            assert response.status_code == 202, response.text
            await eventually(lambda: running.broker.stats["delivered"] == 2)
    (got, body), = first.raw
    assert (got["ce-specversion"], got["ce-id"], got["ce-type"], got["ce-schemaurl"]) == ("0.3", "e-03", TYPE_A,
                                                                                         "http://schemas/a")
    assert json.loads(body) == {"n": 1}
    (got, body), = second.raw
    assert (got["ce-specversion"], got["ce-id"], got["ce-schemaurl"]) == ("0.3", "r-1", "http://schemas/b")
    assert json.loads(body) == {"m": 2}


async def test_ingress_refuses_a_spec_version_sdk_go_does_not_read_with_400_not_500(start_broker):
    # sdk-go knows 0.3 and 1.0 only: binding.ToEvent fails ("unrecognized event version"), the
    # ingress answers 400 (it was a 500 here once).
    headers = {"ce-specversion": "2.0", "ce-type": TYPE_A, "ce-source": "/s", "ce-id": "1"}
    async with start_broker([broker_yaml()], {}) as running:
        async with httpx.AsyncClient() as client:
            response = await client.post(running.url, headers=headers, content=b"")
    assert response.status_code == 400
    assert "not a CloudEvent" in response.text and "specversion" in response.text


BINARY = {"ce-specversion": "1.0", "ce-type": TYPE_A, "ce-source": "/s", "ce-id": "e-1",
          "content-type": "application/json"}
STRUCTURED = {"specversion": "1.0", "type": TYPE_A, "source": "/s", "id": "e-1", "data": {"n": 1}}


# Knative's ingress reads the Broker from the path (knative/eventing pkg/broker/ingress/ingress_handler.go
# ServeHTTP): a sink with a wrong path must fail here as in a cluster, not be taken.
@pytest.mark.parametrize(("method", "path", "status"), [
    ("POST", "/", 404),
    ("POST", "/tekton-dag", 400),
    ("POST", "/tekton-dag/tekton-dag/extra", 400),
    ("POST", "/default/tekton-dag", 404),
    ("POST", "/tekton-dag/other", 404),
    ("GET", "/tekton-dag/tekton-dag", 405),
    ("OPTIONS", "/tekton-dag/tekton-dag", 200),
    ("POST", "/tekton-dag/tekton-dag/", 202),
    # Knative splits Go's RequestURI, query string included: it ends up in the Broker's name.
    ("POST", "/tekton-dag/tekton-dag?team=a", 404),
    ("POST", "/tekton-dag/tekton-dag/?team=a", 400),
    ("POST", "/?team=a", 400),
    # ... and not percent-decoded: tekton%2Ddag names no Broker.
    ("POST", "/tekton-dag/tekton%2Ddag", 404),
], ids=["root", "one segment", "four segments", "other namespace", "other broker", "get", "options",
        "trailing slash", "query string", "query string after a slash", "query string at the root",
        "percent-encoded"])
async def test_ingress_reads_the_broker_from_the_path_as_knative_does(start_broker, method, path, status):
    recorder = EventRecorder()
    with recorder.serving() as url:
        async with start_broker([broker_yaml(), trigger_yaml("a-t", "a", ONLY_A)], {"a": url}) as running:
            async with httpx.AsyncClient() as client:
                response = await client.request(method, running.url.removesuffix("/tekton-dag/tekton-dag") + path,
                                                 headers=BINARY, content=b'{"n": 1}')
            assert response.status_code == status, response.text
            if status == 202:
                await eventually(lambda: running.broker.stats["delivered"] == 1)
            else:
                await asyncio.sleep(0.05)
                assert running.broker.stats["delivered"] == 0
    if status in (400, 404):
        assert "/tekton-dag/tekton-dag" in response.text  # names the address to use


@contextlib.asynccontextmanager
async def _ingress(server: str, start_broker, tmp_path: Path, docs: list[str], services: dict[str, str]):
    """The Broker's address served by aiohttp (``tekton-dag dev``) or as the ASGI app under hypercorn."""
    if server == "aiohttp":
        async with start_broker(docs, services) as running:
            yield running.url
        return
    broker = LocalBroker(load_topology(write_manifests(tmp_path / "k", *docs)), services, tmp_path / "dl.jsonl")
    async with served(broker) as url:
        yield url.rstrip("/") + broker.topology.ingress_path


@pytest.mark.parametrize("server", ["aiohttp", "hypercorn"])
async def test_ingress_answers_headers_and_methods_as_knatives(start_broker, tmp_path, server):
    """knative/eventing pkg/broker/ingress/ingress_handler.go ``ServeHTTP``: ``Allow: POST, OPTIONS``
    on every answer; OPTIONS is the CloudEvents webhook handshake (http-webhook.md 4.1), any origin
    at any rate, whatever origin asks; any other method 405."""
    async with _ingress(server, start_broker, tmp_path, [broker_yaml()], {}) as url, httpx.AsyncClient() as client:
        options = await client.options(url, headers={"WebHook-Request-Origin": "github.com",
                                                     "WebHook-Request-Rate": "120"})
        others = {m: await client.request(m, url) for m in ("GET", "PUT", "DELETE", "PATCH", "HEAD")}
        accepted = await client.post(url, headers=BINARY, content=b'{"n": 1}')
        refused = await client.post(url, json={"not": "an event"})
        elsewhere = await client.post(url.removesuffix("/tekton-dag") + "/other", headers=BINARY, content=b"{}")
        queried = await client.post(url + "?team=a", headers=BINARY, content=b"{}")  # in the Broker's name
    assert options.status_code == 200 and options.content == b""
    assert options.headers["allow"] == "POST, OPTIONS"
    assert options.headers["webhook-allowed-origin"] == "*" and options.headers["webhook-allowed-rate"] == "*"
    assert {m: r.status_code for m, r in others.items()} == dict.fromkeys(others, 405)
    for response in (*others.values(), accepted, refused, elsewhere, queried):
        assert response.headers["allow"] == "POST, OPTIONS"
        assert "webhook-allowed-origin" not in response.headers
    assert [r.status_code for r in (accepted, refused, elsewhere, queried)] == [202, 400, 404, 404]


async def test_ingress_reads_the_event_before_the_broker_it_is_addressed_to(start_broker):
    """Knative's ingress decodes and validates the event before it looks the Broker up: a request
    that is no event is 400 even at another Broker's address (which is 404 for an event)."""
    async with start_broker([broker_yaml()], {}) as running, httpx.AsyncClient() as client:
        other = running.url.removesuffix("/tekton-dag") + "/other"
        no_event = await client.post(other, json={"message": "Hello World"})
        an_event = await client.post(other, headers=BINARY, content=b'{"n": 1}')
    assert (no_event.status_code, an_event.status_code) == (400, 404)
    assert "not a CloudEvent" in no_event.text


def _without(mapping: dict, key: str) -> dict:
    return {k: v for k, v in mapping.items() if k != key}


@pytest.mark.parametrize(
    ("headers", "body", "named"),
    [
        # Binary mode only with ce-specversion: sdk-go (v2/protocol/http/message.go NewMessage,
        # ReadEncoding) finds no encoding without it, and Knative's ingress answers 400.
        (_without(BINARY, "ce-specversion"), b'{"n": 1}', "ce-specversion"),
        # Required attributes must be sent, not made up (the Python SDK invents an id): Knative's
        # ingress runs event.Validate() (pkg/broker/ingress/ingress_handler.go) -> 400.
        (_without(BINARY, "ce-id"), b'{"n": 1}', "id"),
        ({"content-type": "application/cloudevents+json"}, json.dumps(_without(STRUCTURED, "id")).encode(), "id"),
        # Batched mode (http-protocol-binding.md section 3.3): sdk-go's binding.ToEvent cannot read
        # a batch, so the ingress answers 400; ours said "'list' object has no attribute 'get'".
        ({"content-type": "application/cloudevents-batch+json"}, json.dumps([STRUCTURED]).encode(), "batch"),
    ],
    ids=["binary without ce-specversion", "binary without ce-id", "structured without id", "batch"],
)
async def test_ingress_refuses_what_knatives_ingress_refuses_naming_why(start_broker, headers, body, named):
    sub = EventRecorder()
    with sub.serving() as url:
        async with start_broker([broker_yaml(), trigger_yaml("t", "s", ONLY_A)], {"s": url}) as running:
            async with httpx.AsyncClient() as client:
                response = await client.post(running.url, headers=headers, content=body)
            assert running.broker.stats["accepted"] == 0
    assert response.status_code == 400
    assert "not a CloudEvent" in response.text and named in response.text, response.text
    assert sub.received == []


async def test_structured_mode_is_chosen_by_content_type_whatever_ce_headers_come_along(start_broker):
    """http-protocol-binding.md section 3: a Content-Type prefixed application/cloudevents is structured
    mode; sdk-go reads it so (NewMessage looks the format up before any ce- header). The Python SDK
    took any ce- header to mean binary mode and refused the event."""
    sub = EventRecorder()
    headers = {"content-type": "application/cloudevents+json; charset=utf-8", "ce-note": "a proxy's"}
    with sub.serving() as url:
        async with start_broker([broker_yaml(), trigger_yaml("t", "s", ONLY_A)], {"s": url}) as running:
            async with httpx.AsyncClient() as client:
                response = await client.post(running.url, headers=headers, content=json.dumps(STRUCTURED).encode())
            assert response.status_code == 202, response.text
            await eventually(lambda: running.broker.stats["delivered"] == 1)
    assert [e.get_id() for e in sub.received] == ["e-1"] and sub.received[0].get_extension("note") is None


@pytest.mark.parametrize("status", [200, 202])
async def test_a_cloudevent_reply_reenters_the_broker_with_a_lower_ttl(start_broker, status):
    """Knative reads the body of every 2xx alike: the dispatcher checks only for a failure status
    (knative/eventing pkg/kncloudevents/event_dispatcher.go ``executeRequest``, ``isFailure``) and the
    MT broker's filter forwards a CloudEvent body, whatever the 2xx (pkg/broker/filter/filter_handler.go
    ``writeResponse``). Ours dropped the reply of a 202."""
    reply = CloudEvent({"type": TYPE_B, "source": "/a"}, {"from": "a"})
    a, b = EventRecorder(status=status, reply=reply), EventRecorder()
    with a.serving() as a_url, b.serving() as b_url:
        docs = [broker_yaml(), trigger_yaml("a-t", "a", ONLY_A), trigger_yaml("b-t", "b", ONLY_B)]
        async with start_broker(docs, {"a": a_url, "b": b_url}) as running:
            await running.post(event(TYPE_A))
            await eventually(lambda: len(b.received) == 1)
            assert running.broker.stats["replies"] == 1
    assert b.received[0].get_data() == {"from": "a"}


async def test_ttl_stops_a_reply_loop(start_broker):
    """Knative's ingress takes one off every TTL it is sent (knative/eventing pkg/broker/ttl.go
    ``TTLDefaulter``) and answers 400 at 0 (pkg/broker/ingress/ingress_handler.go ``receive``); the
    filter gives a reply its parent's TTL (filter_handler.go ``writeResponse``), which goes back
    through the ingress. So a sender's TTL 3 is delivered at 2 and 1, and the reply that would
    reach 0 is refused: the delivery that made it fails for good (400 is not retried) and its
    event goes to the dead letters (event_dispatcher.go ``send``, "failed to forward reply")."""
    echo = EventRecorder(status=200, reply=CloudEvent({"type": TYPE_A, "source": "/echo"}, {}))
    with echo.serving() as url:
        async with start_broker([broker_yaml(), trigger_yaml("echo", "echo", ONLY_A)], {"echo": url}) as running:
            await running.post(event(TYPE_A, knativebrokerttl="3"))
            await eventually(lambda: running.broker.stats["dead_lettered"] == 1)
            await asyncio.sleep(0.05)
            assert running.broker.stats["ttl_dropped"] == 1
            letters = running.dead_letters()
    assert len(echo.received) == 2  # ttl 2, then 1; the reply at 0 refused
    assert [(letter["status"], letter["attempts"]) for letter in letters] == [(400, 1)]
    assert letters[0]["event"]["source"] == "/echo" and "knativebrokerttl" in letters[0]["reason"]


@pytest.mark.parametrize(
    ("ttl", "status"),
    [("1", 400), ("0", 400), ("-4", 400), ("2", 202), ("many", 202), ("4294967296", 202),
     ("\u0661", 202)],  # an Arabic-Indic 1: no number to Go's strconv, so the default (Python's float read 1)
)
async def test_the_ingress_takes_one_off_a_senders_ttl_and_refuses_it_at_0(start_broker, ttl, status):
    """knative/eventing pkg/broker/ttl.go ``TTLDefaulter``: a TTL that is no int32 (cloudevents/sdk-go
    v2/types ``ToInteger``) becomes the default 255, any other loses one; at 0 or below the ingress
    answers 400 (pkg/broker/ingress/ingress_handler.go ``receive``). Ours accepted 1 and 0 (202) and
    refused "many" (400)."""
    sub = EventRecorder()
    with sub.serving() as url:
        async with start_broker([broker_yaml(), trigger_yaml("t", "s", ONLY_A)], {"s": url}) as running:
            response = await running.post(event(TYPE_A, knativebrokerttl=ttl))
            if status == 202:
                await eventually(lambda: running.broker.stats["delivered"] == 1)
    assert response.status_code == status, response.text
    assert len(sub.received) == (1 if status == 202 else 0)
    if status == 400:
        assert "knativebrokerttl" in response.text


@pytest.mark.parametrize("status", [404, 408, 409, 429, 500, 503])
async def test_retryable_answers_are_retried_until_success(start_broker, status):
    sub = EventRecorder(answers=[(status, b"busy"), (status, b"busy")])
    with sub.serving() as url:
        async with start_broker([broker_yaml(), trigger_yaml("t", "s", ONLY_A)], {"s": url}) as running:
            await running.post(event(TYPE_A))
            await eventually(lambda: running.broker.stats["delivered"] == 1)
            assert running.dead_letters() == []
    assert len(sub.received) == 3


class Timed(EventRecorder):
    """A subscriber that notes when each attempt reached it."""

    def __init__(self, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(**kwargs)
        self.times: list[float] = []

    def answer(self, headers, body):  # type: ignore[no-untyped-def]
        self.times.append(time.monotonic())
        return super().answer(headers, body)


@pytest.mark.parametrize(
    ("delivery", "waits"),
    [
        # Knative waits Backoff(i) before retry i+1, i counted from 0 (go-retryablehttp Client.Do
        # passes its loop index; knative/eventing pkg/kncloudevents/retries.go RetryConfigFromDeliverySpec):
        # exponential delay x 2^i -> 0.5 s, 1 s; linear delay x i -> at once, then 1 s.
        ("retry: 2\nbackoffPolicy: exponential\nbackoffDelay: PT0.5S\n", [0.5, 1.0]),
        ("retry: 2\nbackoffPolicy: linear\nbackoffDelay: PT1S\n", [0.0, 1.0]),
    ],
    ids=["exponential", "linear"],
)
async def test_retries_wait_as_knatives_dispatcher_does(start_broker, delivery, waits):
    sub = Timed(answers=[(500, b"busy"), (500, b"busy")])
    with sub.serving() as url:
        async with start_broker([broker_yaml(delivery), trigger_yaml("t", "s", ONLY_A)], {"s": url}) as running:
            await running.post(event(TYPE_A))
            await eventually(lambda: running.broker.stats["delivered"] == 1, timeout=10)
    gaps = [later - earlier for earlier, later in zip(sub.times, sub.times[1:], strict=False)]
    assert len(gaps) == 2
    for gap, wait in zip(gaps, waits, strict=True):
        assert wait <= gap < wait + 0.4, (gaps, waits)


@pytest.mark.parametrize("status", [400, 403, 410, 422, 301])
async def test_other_answers_are_final_and_dead_lettered_at_once(start_broker, status):
    sub = EventRecorder(status=status, reply=b"no")
    with sub.serving() as url:
        async with start_broker([broker_yaml(), trigger_yaml("t", "s", ONLY_A)], {"s": url}) as running:
            await running.post(event(TYPE_A))
            await eventually(lambda: running.broker.stats["dead_lettered"] == 1)
            letters = running.dead_letters()
    assert len(sub.received) == 1
    assert letters[0]["status"] == status and letters[0]["attempts"] == 1 and letters[0]["trigger"] == "t"
    assert letters[0]["event"]["type"] == TYPE_A


async def test_dead_letter_listeners_hear_of_each_final_failure(start_broker):
    sub = EventRecorder(status=422, reply=b"no")
    heard = []
    with sub.serving() as url:
        async with start_broker([broker_yaml(), trigger_yaml("t", "s", ONLY_A)], {"s": url}) as running:
            running.broker.dead_letter_listeners.append(lambda e, where, why: heard.append((e.get_type(), where, why)))
            running.broker.dead_letter_listeners.insert(0, lambda *_: 1 / 0)  # a broken one harms nobody
            await running.post(event(TYPE_A))
            await eventually(lambda: len(heard) == 1)
    assert heard == [(TYPE_A, url, heard[0][2])] and "422" in heard[0][2] and "after 1 tries" in heard[0][2]


async def test_exhausted_retries_go_to_the_dead_letter_sink_with_error_extensions(start_broker):
    sub, sink = EventRecorder(status=500, reply=b"boom"), EventRecorder()
    delivery = "retry: 1\nbackoffDelay: PT0.01S\ndeadLetterSink:\n  ref: {kind: Service, name: dls}\n"
    with sub.serving() as url, sink.serving() as dls_url:
        docs = [broker_yaml(delivery), trigger_yaml("t", "s", ONLY_A)]
        async with start_broker(docs, {"s": url, "dls": dls_url}) as running:
            await running.post(event(TYPE_A))
            await eventually(lambda: len(sink.received) == 1)
            assert running.dead_letters() == []
    assert len(sub.received) == 2
    dead = sink.received[0]
    assert dead.get_type() == TYPE_A
    assert dead.get_extension("knativeerrorcode") == "500"
    assert dead.get_extension("knativeerrordest") == url
    assert base64.b64decode(dead.get_extension("knativeerrordata")).endswith(b"boom")


DLS = "retry: 0\ndeadLetterSink:\n  ref: {kind: Service, name: dls}\n"


@pytest.mark.parametrize("body", [b"boom", bytes(range(256)) * 8], ids=["short", "2 KiB"])
async def test_knativeerrordata_is_the_failed_answers_body_in_base64_cut_at_1024_characters(start_broker, body):
    """knative/eventing pkg/kncloudevents/event_dispatcher.go ``dispatchExecutionInfoTransformers``:
    the response body (``ErrResponseBody`` as the MT broker's filter passes it on), standard base64,
    cut at ``KnativeErrorDataExtensionMaxLength`` (1024, pkg/kncloudevents/attributes/knative_error.go)."""
    sub, sink = EventRecorder(status=422, reply=body), EventRecorder()
    with sub.serving() as url, sink.serving() as dls_url:
        docs = [broker_yaml(DLS), trigger_yaml("t", "s", ONLY_A)]
        async with start_broker(docs, {"s": url, "dls": dls_url}) as running:
            await running.post(event(TYPE_A))
            await eventually(lambda: len(sink.received) == 1)
    dead = sink.received[0]
    assert dead.get_extension("knativeerrorcode") == "422"
    assert dead.get_extension("knativeerrordata") == base64.b64encode(body).decode()[:1024]


async def test_an_unreachable_subscriber_is_dead_lettered_with_code_500_and_the_dispatch_error(start_broker):
    """A request that got no answer is ``ResponseCode`` 500 with the body ``dispatch error: <error>``
    (knative/eventing pkg/kncloudevents/event_dispatcher.go ``executeRequest``)."""
    sink = EventRecorder()
    with EventRecorder().serving() as url:
        pass  # the port is closed now: every attempt is refused
    with sink.serving() as dls_url:
        docs = [broker_yaml(DLS), trigger_yaml("t", "s", ONLY_A)]
        async with start_broker(docs, {"s": url, "dls": dls_url}) as running:
            await running.post(event(TYPE_A))
            await eventually(lambda: len(sink.received) == 1)
    dead = sink.received[0]
    assert dead.get_extension("knativeerrorcode") == "500"
    assert dead.get_extension("knativeerrordest") == url
    assert base64.b64decode(dead.get_extension("knativeerrordata")).startswith(b"dispatch error: ")


async def test_network_errors_are_retried_then_written_to_the_dead_letter_file(start_broker):
    with EventRecorder().serving() as url:
        pass  # the port is closed now: every attempt is refused
    async with start_broker([broker_yaml(), trigger_yaml("t", "s", ONLY_A)], {"s": url}) as running:
        await running.post(event(TYPE_A))
        await eventually(lambda: running.broker.stats["dead_lettered"] == 1)
        letters = running.dead_letters()
    assert letters[0]["attempts"] == 3 and f"{url} unreachable: " in letters[0]["reason"]
    assert "Cannot connect to host" in letters[0]["reason"]


async def test_a_reply_body_that_is_not_a_cloudevent_is_a_failed_delivery(start_broker):
    sub = EventRecorder(status=200, reply=b"<html>ok</html>")
    with sub.serving() as url:
        async with start_broker([broker_yaml(), trigger_yaml("t", "s", ONLY_A)], {"s": url}) as running:
            await running.post(event(TYPE_A))
            await eventually(lambda: running.broker.stats["dead_lettered"] == 1)
    assert len(sub.received) == 3


async def test_a_202_with_a_body_that_is_not_a_cloudevent_is_a_failed_delivery(start_broker):
    """The filter answers a non-empty body that is no CloudEvent with 502, whatever the 2xx
    (pkg/broker/filter/filter_handler.go ``writeResponse``): retried, then dead-lettered."""
    sub = EventRecorder(status=202, reply=b"accepted")
    with sub.serving() as url:
        async with start_broker([broker_yaml(), trigger_yaml("t", "s", ONLY_A)], {"s": url}) as running:
            await running.post(event(TYPE_A))
            await eventually(lambda: running.broker.stats["dead_lettered"] == 1)
            letters = running.dead_letters()
    assert len(sub.received) == 3 and letters[0]["status"] == 502


class _BrokenStructured(EventRecorder):
    """Replies 200 with a structured-mode Content-Type over a body that is no JSON."""

    def answer(self, headers, body):
        status, _, _ = super().answer(headers, body)
        return status, {"content-type": "application/cloudevents+json"}, b"not json"


# No CloudEvent encoding (``EncodingUnknown``) and a non-empty body; or a CloudEvent encoding that
# binding.ToEvent cannot read: both are the filter's empty 502.
@pytest.mark.parametrize("sub", [EventRecorder(status=200, reply=b"<html>ok</html>"), _BrokenStructured(status=200)],
                         ids=["html", "broken structured event"])
async def test_a_non_cloudevent_reply_is_dead_lettered_without_error_extensions(start_broker, sub):
    """The MT broker's filter answers the channel an empty 502 (pkg/broker/filter/filter_handler.go
    ``writeResponse``), where the channel expects ``ErrExtensionInfo`` JSON: it cannot read it and
    sends the dead letter with no ``knativeerror*`` extension at all (pkg/kncloudevents/
    event_dispatcher.go ``dispatchExecutionInfoTransformers``). A failed answer still carries them
    (test_exhausted_retries_go_to_the_dead_letter_sink_with_error_extensions)."""
    sink = EventRecorder()
    with sub.serving() as url, sink.serving() as dls_url:
        docs = [broker_yaml("retry: 1\nbackoffDelay: PT0.01S\ndeadLetterSink:\n  ref: {kind: Service, name: dls}\n"),
                trigger_yaml("t", "s", ONLY_A)]
        async with start_broker(docs, {"s": url, "dls": dls_url}) as running:
            await running.post(event(TYPE_A, subject="kept"))
            await eventually(lambda: len(sink.received) == 1)
    assert len(sub.received) == 2  # the 502 is retried
    dead = sink.received[0]
    assert dead.get_type() == TYPE_A and dead.get_subject() == "kept"
    assert not [name for name in dead.get_attributes() if name.startswith("knativeerror")], dead.get_attributes()


async def test_trigger_delivery_overrides_the_broker_default(start_broker):
    sub = EventRecorder(status=500, reply=b"")
    with sub.serving() as url:
        docs = [broker_yaml(), trigger_yaml("t", "s", ONLY_A, "delivery:\n  retry: 0\n")]
        async with start_broker(docs, {"s": url}) as running:
            await running.post(event(TYPE_A))
            await eventually(lambda: running.broker.stats["dead_lettered"] == 1)
    assert len(sub.received) == 1


async def test_a_full_broker_answers_503_so_the_sender_retries(start_broker):
    slow = EventRecorder(delay=0.5)
    with slow.serving() as url:
        docs = [broker_yaml(), trigger_yaml("t", "s", ONLY_A)]
        async with start_broker(docs, {"s": url}, capacity=2) as running:
            statuses = [(await running.post(event(TYPE_A))).status_code for _ in range(3)]
            assert statuses == [202, 202, 503]
            await eventually(lambda: running.broker.stats["delivered"] == 2)
            assert (await running.post(event(TYPE_A))).status_code == 202


async def test_shutdown_dead_letters_what_it_could_not_finish(start_broker):
    with EventRecorder().serving() as url:
        pass
    delivery = "retry: 5\nbackoffPolicy: exponential\nbackoffDelay: PT10S\n"  # 10 s before the first retry
    async with start_broker([broker_yaml(delivery), trigger_yaml("t", "s", ONLY_A)], {"s": url}) as running:
        await running.post(event(TYPE_A))
        await eventually(lambda: running.broker.stats["retried"] == 1)
        await running.broker.close(grace=0.1)
        letters = running.dead_letters()
    assert [letter["reason"] for letter in letters] == ["broker shut down before the delivery finished"]


async def test_shutdown_lets_accepted_deliveries_finish(start_broker):
    slow = EventRecorder(delay=0.3)
    with slow.serving() as url:
        async with start_broker([broker_yaml(), trigger_yaml("t", "s", ONLY_A)], {"s": url}) as running:
            await running.post(event(TYPE_A))
            await running.broker.close(grace=5)
            assert running.broker.stats["delivered"] == 1 and running.dead_letters() == []
            assert (await running.post(event(TYPE_A))).status_code == 503


async def test_abandon_dead_letters_everything_in_flight_at_once(start_broker):
    with EventRecorder().serving() as url:
        pass
    delivery = "retry: 5\nbackoffPolicy: exponential\nbackoffDelay: PT10S\n"  # 10 s before the first retry
    async with start_broker([broker_yaml(delivery), trigger_yaml("t", "s", ONLY_A)], {"s": url}) as running:
        for _ in range(3):
            await running.post(event(TYPE_A))
        await eventually(lambda: running.broker.stats["retried"] == 3)
        assert running.broker.abandon() == 3
        assert running.broker.in_flight == 0 and len(running.dead_letters()) == 3
        assert (await running.post(event(TYPE_A))).status_code == 503


async def test_deliveries_retries_and_dead_letters_are_counted_per_trigger(start_broker):
    """The Broker's metrics (docs/operations.md): what a scrape of the all-in-one would show."""
    from prometheus_client import REGISTRY

    def count(name: str, trigger: str | None = None) -> float:
        return REGISTRY.get_sample_value(name, {"trigger": trigger} if trigger else {}) or 0.0

    names = ("tektondag_broker_events_delivered_total", "tektondag_broker_delivery_retries_total",
             "tektondag_broker_events_dead_lettered_total")
    before = {(n, t): count(n, t) for n in names for t in ("flaky", "broken")}
    accepted = count("tektondag_broker_events_accepted_total")
    flaky, broken = EventRecorder(answers=[(503, b"busy")]), EventRecorder(status=400, reply=b"no")
    with flaky.serving() as flaky_url, broken.serving() as broken_url:
        docs = [broker_yaml(), trigger_yaml("flaky", "f", ONLY_A), trigger_yaml("broken", "b", ONLY_A)]
        async with start_broker(docs, {"f": flaky_url, "b": broken_url}) as running:
            await running.post(event(TYPE_A))
            stats = running.broker.stats
            await eventually(lambda: stats["delivered"] == 1 and stats["dead_lettered"] == 1)
    moved = {key: count(*key) - value for key, value in before.items() if count(*key) != value}
    assert moved == {
        ("tektondag_broker_events_delivered_total", "flaky"): 1,
        ("tektondag_broker_delivery_retries_total", "flaky"): 1,
        ("tektondag_broker_events_dead_lettered_total", "broken"): 1,  # 400 is final: no retry
    }
    assert count("tektondag_broker_events_accepted_total") == accepted + 1


class CookieSetter(EventRecorder):
    """A subscriber whose every answer sets a cookie (as a proxy or framework might)."""

    def answer(self, headers, body):  # type: ignore[no-untyped-def]
        status, answer_headers, content = super().answer(headers, body)
        return status, {**answer_headers, "Set-Cookie": "session=of-subscriber-a; Path=/"}, content


async def test_no_cookie_from_one_subscriber_reaches_another(start_broker):
    """Events carry no cookies: the Broker keeps none (a cookie jar would hand subscriber a's
    cookie to every subscriber on the same host, whatever its port, RFC 6265 section 8.5)."""
    a, b = CookieSetter(), EventRecorder()
    with a.serving() as a_url, b.serving() as b_url:
        docs = [broker_yaml(), trigger_yaml("a-t", "a", ONLY_A), trigger_yaml("b-t", "b", ONLY_B)]
        async with start_broker(docs, {"a": a_url, "b": b_url}) as running:
            await running.post(event(TYPE_A))
            await eventually(lambda: running.broker.stats["delivered"] == 1)
            await running.post(event(TYPE_B))
            await running.post(event(TYPE_A))
            await eventually(lambda: running.broker.stats["delivered"] == 3)
    assert [h.get("cookie") for h in a.headers + b.headers] == [None, None, None]
