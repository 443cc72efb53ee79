"""The event loop every function serves on: uvloop's, unless ``TEKTON_DAG_EVENT_LOOP=asyncio``.

func-python serves with ``asyncio.run`` and offers no way to choose the loop (func_python/http.py
and cloudevent.py ``ASGIApplication.serve``, func-python 0.8.1), and ``asyncio.run`` makes its loop
through the event loop policy. So ``install()`` sets uvloop's policy
(https://uvloop.readthedocs.io/user/index.html, "Using uvloop") before func-python serves: every
``function/func.py`` (what ``func build`` runs) calls it on import, as ``tekton-dag serve`` and
``tekton-dag dev`` (whose process runs the local Broker) do before they start.

Why: socket reads and writes, timers and callbacks are libuv's, under hypercorn, aiohttp and
the Broker alike: hypercorn took 0.30-0.32 ms of CPU per request on it against 0.34-0.46 ms
(``bench/event_hop.py``), and the chain a few percent less CPU per webhook with a shorter tail
(``bench/chain_throughput.py``; figures in docs/performance.md). ``asyncio`` stays one
setting away, should a platform lack uvloop's wheels or a problem be suspected in it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping

EVENT_LOOP_ENV = "TEKTON_DAG_EVENT_LOOP"
CHOICES = ("uvloop", "asyncio")


def install(env: Mapping[str, str] | None = None) -> str:
    """Make ``asyncio.run`` use the chosen loop from now on; returns the choice."""
    choice = (os.environ if env is None else env).get(EVENT_LOOP_ENV) or CHOICES[0]
    if choice not in CHOICES:
        raise SystemExit(f"{EVENT_LOOP_ENV}={choice!r}: must be one of {', '.join(CHOICES)}")
    if choice == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return choice
