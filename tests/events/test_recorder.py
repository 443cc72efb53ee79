"""The CloudEvent recorder (tekton_dag.testing.recorder) keeps the rules every test relies on."""

from __future__ import annotations

import httpx
import pytest
from cloudevents.core.bindings.http import HTTPMessage, from_http_event, to_binary_event, to_structured_event
from cloudevents.core.v1.event import CloudEvent

from tekton_dag.testing.recorder import EventRecorder


def event(n: int = 1) -> CloudEvent:
    return CloudEvent({"type": "dev.example.thing.v1", "source": "/tests", "id": f"e-{n}"}, {"n": n})


@pytest.mark.parametrize("encode", [to_binary_event, to_structured_event], ids=["binary", "structured"])
def test_both_modes_are_decoded_over_loopback(encode) -> None:
    recorder = EventRecorder()
    message = encode(event())
    with recorder.serving() as url:
        response = httpx.post(url, headers=dict(message.headers), content=message.body)
    assert response.status_code == 202
    [received] = recorder.received
    assert received.get_id() == "e-1" and received.get_data() == {"n": 1}
    assert recorder.events == recorder.received and recorder.types() == ["dev.example.thing.v1"]


@pytest.mark.parametrize("body", [b'{"message": "Hello World"}', b"not json"])
async def test_what_is_no_cloudevent_gets_400_and_is_not_recorded(body: bytes) -> None:
    recorder = EventRecorder()
    async with recorder.client() as client:
        response = await client.post("http://broker.test/", headers={"content-type": "application/json"}, content=body)
    assert response.status_code == 400 and b"not a CloudEvent" in response.content
    assert recorder.received == [] and len(recorder.headers) == 1


BINARY = {"ce-specversion": "1.0", "ce-type": "dev.example.thing.v1", "ce-source": "/s", "ce-id": "e-1",
          "content-type": "application/json"}


@pytest.mark.parametrize(
    "headers",
    [{k: v for k, v in BINARY.items() if k != "ce-specversion"}, {k: v for k, v in BINARY.items() if k != "ce-id"},
     {"content-type": "application/cloudevents-batch+json"}],
    ids=["no ce-specversion", "no ce-id", "batch"],
)
async def test_what_knatives_ingress_refuses_gets_400_although_the_sdk_would_fill_it_in(headers) -> None:
    """sdk-go finds no encoding without ce-specversion or in a batch (v2/protocol/http/message.go
    ReadEncoding, v2/binding/to_event.go), and event.Validate() refuses a missing id: Knative's
    ingress answers 400 (pkg/broker/ingress/ingress_handler.go). The Python SDK made them up."""
    recorder = EventRecorder()
    async with recorder.client() as client:
        response = await client.post("http://broker.test/", headers=headers, content=b"[]")
    assert response.status_code == 400 and b"not a CloudEvent" in response.content
    assert recorder.received == []


def test_answers_follow_the_script_then_the_default_and_a_reply_is_structured() -> None:
    reply = CloudEvent({"type": "dev.example.reply.v1", "source": "/echo"}, {"ok": True})
    recorder = EventRecorder(answers=[(503, b"busy")], status=200, reply=reply)
    with recorder.serving() as url, httpx.Client() as client:
        statuses = []
        for n in (1, 2):
            message = to_binary_event(event(n))
            response = client.post(url, headers=dict(message.headers), content=message.body)
            statuses.append(response.status_code)
        others = {method: client.request(method, url).status_code for method in ("GET", "HEAD", "OPTIONS", "PUT")}
    assert statuses == [503, 200]
    assert others == {"GET": 405, "HEAD": 405, "OPTIONS": 405, "PUT": 405}  # anything but POST
    assert response.headers["content-type"].startswith("application/cloudevents+json")
    assert from_http_event(HTTPMessage(dict(response.headers), response.content)).get_type() == "dev.example.reply.v1"
    assert [e.get_id() for e in recorder.received] == ["e-1", "e-2"]
    assert [e.get_id() for e in recorder.events] == ["e-2"]  # the refused one was not accepted


async def test_fail_after_and_timeout_in_process() -> None:
    recorder = EventRecorder(fail_after=1)
    async with recorder.client() as client:
        answers = []
        for n in (1, 2):
            message = to_binary_event(event(n))
            answers.append((await client.post("http://broker.test/", headers=dict(message.headers),
                                              content=message.body)).status_code)
        recorder.timeout = True
        with pytest.raises(httpx.ReadTimeout):
            await client.post("http://broker.test/", headers=dict(message.headers), content=message.body)
    assert answers == [202, 500]
    assert len(recorder.events) == 1 and len(recorder.received) == 2 and len(recorder.headers) == 3
