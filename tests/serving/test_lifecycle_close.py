"""What a handler's ``stop()`` starts closing is awaited by ``lifecycle.closed()``: func-python
calls ``stop()`` without awaiting anything, so before ``closed()`` a loop that ended right after it
cut the closes short (an unclosed client transport under ``-W error``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import Any

from tekton_dag.functions import lifecycle


class Closing(lifecycle.Handler):
    publishes = seals = configured = False

    def __init__(self, close_seconds: float) -> None:
        super().__init__()
        self.close_seconds = close_seconds
        self.closed = False

    def teardown(self) -> list[Coroutine[Any, Any, None]]:
        async def close() -> None:
            await asyncio.sleep(self.close_seconds)  # a client closing its connections: a few loop turns
            self.closed = True

        return [close()]


async def test_closed_waits_for_what_stop_started_closing() -> None:
    handler = Closing(close_seconds=0.05)
    handler.start({})
    handler.stop()
    assert not handler.closed
    await lifecycle.closed()
    assert handler.closed


async def test_closed_waits_no_longer_than_its_bound() -> None:
    stuck = Closing(close_seconds=3600)
    stuck.start({})
    stuck.stop()
    began = time.monotonic()
    await lifecycle.closed(timeout=0.1)
    assert time.monotonic() - began < 1.0 and not stuck.closed  # the loop's end cancels the rest
