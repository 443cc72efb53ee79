"""Sealed events (tekton_dag.events.sealing): what a seal covers, rotation, and what is refused."""

from __future__ import annotations

import time

import pytest
from cloudevents.core.bindings.http import HTTPMessage, from_http_event, to_binary_event, to_structured_event

from tekton_dag.events import catalog, codec, sealing
from tekton_dag.events.requests import RunRequest
from tekton_dag.testing.sealing import TEST_EVENT_KEY, sealed

REQUEST = RunRequest(team="default", stack="stack-one", pipeline="stack-merge-release", delivery="d-1",
                     app="demo-fe", repo="jmjava/tekton-dag-vue-fe", revision="a" * 40)
OTHER_KEY = "another-teams-event-key-0123456789abcdef0123"


def event():
    return codec.request_event(
        REQUEST,
        catalog.SOURCE_RESOLVER,
        "e-1",
        repo=REQUEST.repo,
        traceparent="00-" + "1" * 32 + "-" + "2" * 16 + "-01",
    )


def keys(*values: str) -> sealing.EventKeys:
    return sealing.EventKeys({sealing.KEY_ENV: ",".join(values)})


def received(ce, mode):
    """``ce`` after the wire (and a Broker that adds its own extension)."""
    message = (to_binary_event if mode == "binary" else to_structured_event)(ce)
    decoded = from_http_event(HTTPMessage(headers=dict(message.headers), body=message.body))
    return type(decoded)({**decoded.get_attributes(), catalog.EXT_BROKER_TTL: 254}, decoded.get_data())


@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_a_sealed_event_passes_after_any_encoding_and_a_broker_s_extensions(mode):
    arrived = received(sealed(event()), mode)
    keys(TEST_EVENT_KEY).check(arrived, codec.data(arrived))


def test_no_seal_is_401_and_names_the_extension():
    with pytest.raises(sealing.SealError) as refused:
        keys(TEST_EVENT_KEY).check(event(), event().get_data())
    assert refused.value.status == 401 and catalog.EXT_SEAL in refused.value.reason


@pytest.mark.parametrize("tamper", ["data", "team", "type", "id"])
def test_a_changed_event_or_another_key_is_403(tamper):
    ce = sealed(event())
    attributes, data = dict(ce.get_attributes()), dict(ce.get_data())
    if tamper == "data":
        data["pipeline"] = "stack-bootstrap"
    elif tamper == "team":
        attributes[catalog.EXT_TEAM] = "payments"
    elif tamper == "type":
        attributes["type"] = catalog.RUN_CANCEL_REQUESTED
    else:
        attributes["id"] = "e-2"
    changed = type(ce)(attributes, data)
    with pytest.raises(sealing.SealError) as refused:
        keys(TEST_EVENT_KEY).check(changed, data)
    assert refused.value.status == 403
    with pytest.raises(sealing.SealError):
        keys(TEST_EVENT_KEY).check(sealed(event(), key=OTHER_KEY), event().get_data())


def test_while_rotating_both_keys_are_accepted_and_the_first_seals():
    rotating = keys(OTHER_KEY, TEST_EVENT_KEY)
    rotating.check(sealed(event()), event().get_data())  # sealed with the old key
    keys(OTHER_KEY).check(rotating.seal(event(), event().get_data()), event().get_data())


def test_keys_too_short_do_not_count_and_without_a_key_nothing_is_sealed_or_accepted():
    short = keys("short")
    assert short.current() == ()
    with pytest.raises(sealing.KeyMissing):
        short.seal(event(), event().get_data())
    with pytest.raises(sealing.SealError) as refused:
        short.check(sealed(event()), event().get_data())
    assert refused.value.status == 503


def test_events_that_change_nothing_are_not_sealed():
    outcome = codec.build(catalog.RUN_CREATED, catalog.SOURCE_RUN_CREATOR, "x", {"team": "default"})
    assert keys(TEST_EVENT_KEY).seal(outcome, outcome.get_data()) is outcome
    keys(TEST_EVENT_KEY).check(outcome, outcome.get_data())


def test_a_rotated_key_file_is_read_again(tmp_path, monkeypatch):
    path = tmp_path / "key"
    path.write_text(OTHER_KEY + "\n")
    from_file = sealing.EventKeys({sealing.KEY_FILE_ENV: str(path)})
    assert from_file.current() == (OTHER_KEY,)
    path.write_text(TEST_EVENT_KEY)
    later = time.monotonic() + sealing.REFRESH_S + 1
    monkeypatch.setattr(sealing.time, "monotonic", lambda: later)
    assert from_file.current() == (TEST_EVENT_KEY,)
