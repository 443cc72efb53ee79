"""The one answer every handler gives to an event refused for good (``lifecycle.refuse``): run-creator
and status-reporter answered these with identical blocks of their own, now with this helper."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from cloudevents.core.v1.event import CloudEvent

from tekton_dag.events import catalog, codec, sealing
from tekton_dag.events.requests import RequestError
from tekton_dag.functions.lifecycle import REFUSED, refuse

EVENT = CloudEvent(attributes={"type": catalog.RUN_REQUESTED, "source": "/test", "id": "e-1"}, data={})


class Recorded:
    """func-python's ``send``: the ASGI messages given to ``send.http``."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def http(self, message: dict[str, Any]) -> None:
        self.messages.append(message)


@pytest.mark.parametrize(("error", "status", "body"), [
    (RequestError("team: required"), 400, f"{catalog.RUN_REQUESTED}: team: required"),
    (codec.EventDecodeError("not a CloudEvent"), 400, f"{catalog.RUN_REQUESTED}: not a CloudEvent"),
    (sealing.SealError(401, "event is not sealed"), 401, "event is not sealed"),
    (sealing.SealError(403, "seal does not match"), 403, "seal does not match"),
    (sealing.KeyMissing(), 503, sealing.KeyMissing().reason),
])
async def test_each_refusal_gets_its_status_and_says_why(error: Exception, status: int, body: str,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    assert isinstance(error, REFUSED)
    send = Recorded()
    log = logging.getLogger("tekton_dag.functions.some_function")
    with caplog.at_level(logging.WARNING):
        await refuse(send, EVENT, error, log)
    assert send.messages == [
        {"type": "http.response.start", "status": status, "headers": [[b"content-type", b"text/plain"]]},
        {"type": "http.response.body", "body": body.encode()},
    ]
    sealed = isinstance(error, sealing.SealError)
    assert [(r.name, r.getMessage()) for r in caplog.records] == (
        [("tekton_dag.functions.some_function", f"event e-1 refused: {body}")] if sealed else [])
