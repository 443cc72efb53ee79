"""Events built by the codec survive binary and structured HTTP mode with every attribute."""

from __future__ import annotations

import pytest
from cloudevents.core.bindings.http import to_binary_event, to_structured_event

from tekton_dag import pipelines
from tekton_dag.events import catalog, codec, schemas
from tekton_dag.events.requests import BootstrapRequest, CancelRequest, PullRequestRef, RunRequest

TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
REQUESTS = [
    (RunRequest("t", "s", pipelines.PR_TEST, "d", app="a", repo="o/r", revision="abc",
                pr=PullRequestRef(3, "abc", "main", "feature")), catalog.RUN_REQUESTED),
    (CancelRequest("t", "s", "a", 3, "closed", "d"), catalog.RUN_CANCEL_REQUESTED),
    (BootstrapRequest("t", "d", apps=("a", "b")), catalog.BOOTSTRAP_REQUESTED),
]


@pytest.mark.parametrize("encode", [to_binary_event, to_structured_event], ids=["binary", "structured"])
@pytest.mark.parametrize(("request_", "event_type"), REQUESTS, ids=lambda v: getattr(v, "__name__", type(v).__name__))
def test_requests_round_trip_in_both_modes(encode, request_, event_type: str) -> None:
    event = codec.request_event(
        request_, catalog.SOURCE_CLI, "id-1", repo="o/r", github_delivery="d", traceparent=TRACE
    )
    message = encode(event)
    decoded = codec.decode(dict(message.headers), message.body)
    assert decoded.get_attributes() == event.get_attributes()
    assert decoded.get_data() == request_.to_data()
    assert type(request_).from_data(decoded.get_data()) == request_
    schemas.check(event_type, decoded.get_data(), AssertionError)
    assert decoded.get_type() == event_type
    for name, value in [("team", "t"), ("partitionkey", "o/r"), ("githubdelivery", "d"), ("traceparent", TRACE)]:
        assert decoded.get_extension(name) == value


def test_optional_attributes_are_left_out_when_empty() -> None:
    event = codec.build(catalog.EVENT_IGNORED, catalog.SOURCE_RESOLVER, "x", {"reason": "r"})
    assert {"subject", "team", "partitionkey", "traceparent"}.isdisjoint(event.get_attributes())


@pytest.mark.parametrize(
    ("headers", "body"),
    [({"content-type": "application/json"}, b'{"message":"Hello World"}'),
     ({"ce-source": "/s", "ce-id": "1", "ce-specversion": "1.0"}, b"{}"),  # binary without a type
     ({"content-type": "application/cloudevents+json"}, b"{not json")],
)
def test_what_is_not_a_cloudevent_is_refused(headers: dict, body: bytes) -> None:
    with pytest.raises(codec.EventDecodeError):
        codec.decode(headers, body)
