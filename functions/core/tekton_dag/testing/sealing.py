"""Plays the team's own producers: the event key the tests' functions share, and sealing with it.

Every function a test starts (in process through ``start(cfg)``, or as a process inheriting the
environment) gets ``TEST_EVENT_KEY``; a test that plays a producer seals its events with ``sealed``.
Tests of forgery use another key, or none.
"""

from __future__ import annotations

from cloudevents.core.v1.event import CloudEvent

from tekton_dag.events import codec
from tekton_dag.events.sealing import KEY_ENV, EventKeys

TEST_EVENT_KEY = "tests-event-key-0123456789abcdef0123456789abcdef"
KEYS = EventKeys({KEY_ENV: TEST_EVENT_KEY})


def sealed(event: CloudEvent, key: str = TEST_EVENT_KEY) -> CloudEvent:
    """``event`` as a producer holding ``key`` would send it."""
    keys = KEYS if key == TEST_EVENT_KEY else EventKeys({KEY_ENV: key})
    return keys.seal(event, codec.data(event))
