"""The Broker's decoding of binary-mode events (tekton_dag.eventing.wire.decode_event) reads what
the CloudEvents SDK's ``from_http_event`` reads: the SDK is the reference, the short path in
``wire`` must give the same attributes and data, and refuse what it refuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from cloudevents.core.bindings.http import HTTPMessage, from_http_event, to_binary_event, to_structured_event
from cloudevents.core.v1.event import CloudEvent

from tekton_dag.eventing import wire
from tekton_dag.events import catalog, codec
from tekton_dag.events.requests import RunRequest
from tekton_dag.testing.sealing import sealed

REQUEST = RunRequest(team="default", stack="stack-one", pipeline="stack-merge-release", delivery="d-1",
                     app="demo-fe", repo="jmjava/tekton-dag-vue-fe", revision="a" * 40)
HEADERS = {"ce-specversion": "1.0", "ce-type": "dev.tekton-dag.test.v1", "ce-source": "/test", "ce-id": "1",
           "ce-time": "2026-12-01T15:00:00.25Z"}  # without one, each decoding stamps its own


def same_as_sdk(headers: dict[str, str], body: bytes) -> CloudEvent:
    ours = wire.decode_event(headers, body)
    reference = from_http_event(HTTPMessage({k.lower(): v for k, v in headers.items()}, body))
    assert ours.get_attributes() == reference.get_attributes()
    assert ours.get_data() == reference.get_data()
    assert to_structured_event(ours).body == to_structured_event(reference).body  # what the journal stores
    return ours


def test_a_sealed_event_as_the_chain_sends_it_reads_as_the_sdk_reads_it():
    event = sealed(codec.request_event(REQUEST, catalog.SOURCE_RESOLVER, "e-1", repo=REQUEST.repo,
                                       traceparent="00-" + "1" * 32 + "-" + "2" * 16 + "-01"))
    message = to_binary_event(event)
    decoded = same_as_sdk(message.headers, message.body)
    assert decoded.get_attributes() == event.get_attributes()
    assert decoded.get_data() == event.get_data()


@pytest.mark.parametrize("time", [
    "2026-12-01T15:00:00Z", "2026-12-01T15:00:00.1Z", "2026-12-01T15:00:00.123456Z",
    "2026-12-01T15:00:00+02:00", "2026-12-01T15:00:00.5-05:30",
    # not the RFC 3339 the chain writes: the SDK's own parser reads these
    "20261201T150000Z", "2026-12-01T24:00:00Z", "2026-12-01T15:00:00.1234567Z", "2026-12-01t15:00:00z",
])
def test_a_time_reads_as_the_sdk_reads_it(time):
    decoded = same_as_sdk({**HEADERS, "ce-time": time}, b"")
    assert isinstance(decoded.get_time(), datetime)


@pytest.mark.parametrize("time", ["2026-02-30T15:00:00Z", "2026-12-01T15:00:60Z", "yesterday", "2026-12-01T15:00:00",
                                  "2026-12-01"])
def test_a_time_the_sdk_refuses_is_refused(time):
    with pytest.raises(Exception):  # noqa: B017 -- the SDK raises several types
        from_http_event(HTTPMessage({**HEADERS, "ce-time": time}, b""))
    with pytest.raises(ValueError, match="not a CloudEvent"):
        wire.decode_event({**HEADERS, "ce-time": time}, b"")


def test_the_time_is_the_same_instant_in_every_offset():
    for tz in (UTC, timezone(timedelta(hours=-7))):
        value = datetime(2026, 12, 1, 15, 0, 0, 250000, tzinfo=tz)
        message = to_binary_event(CloudEvent({"type": "t", "source": "/s", "id": "1", "time": value}, None))
        assert same_as_sdk(message.headers, message.body).get_time() == value


@pytest.mark.parametrize(("extra", "body"), [
    ({"content-type": "application/json"}, b'{"a": [1, 2.5, null, true], "text": "caf\\u00e9"}'),
    ({"content-type": "application/json; charset=utf-8"}, b'{"a": 1}'),
    ({"content-type": "application/json"}, b"not json"),
    ({"content-type": "text/plain"}, "café".encode()),
    ({"content-type": "application/octet-stream"}, b"\xff\x00raw"),
    ({}, b'{"no": "content type"}'),
    ({}, b""),
    ({"ce-subject": "with%20space%25%22quote%22%C3%A9", "ce-tektondagnote": "100%25"}, b""),
    ({"CE-Type": "dev.tekton-dag.upper.v1", "Content-Type": "application/json"}, b"{}"),
])
def test_headers_and_data_read_as_the_sdk_reads_them(extra, body):
    same_as_sdk({**HEADERS, **extra}, body)


@pytest.mark.parametrize("missing", ["ce-type", "ce-source"])
def test_an_event_without_a_required_attribute_is_refused(missing):
    headers = {k: v for k, v in HEADERS.items() if k != missing}
    with pytest.raises(ValueError, match="not a CloudEvent"):
        wire.decode_event(headers, b"")


def test_structured_mode_and_other_spec_versions_still_go_to_the_sdk():
    event = CloudEvent({"type": "t", "source": "/s", "id": "1", "datacontenttype": "application/json"}, {"k": "v"})
    structured = to_structured_event(event)
    assert wire.decode_event(structured.headers, structured.body).get_data() == {"k": "v"}
    with pytest.raises(ValueError, match="not a CloudEvent"):
        wire.decode_event({**HEADERS, "ce-specversion": "0.3"}, b"")
