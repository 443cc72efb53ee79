"""Start-up work kept off a function's path to ready, then a frozen heap.

A function answers its readiness probe about 0.3 s after it starts. Libraries it needs only for
its work (aiohttp for publishing, the Kubernetes client, prometheus_client and the ``METRICS_PORT``
listener) are imported in a background thread,
and then everything allocated so far is frozen (``gc.freeze``): modules, classes and the loaded
configuration live as long as the process, and without freezing every full collection walks
them again. In the chain at 100 webhooks/s those collections paused a function for 15-100 ms,
which was most of the latency's tail.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


def in_background(step: Callable[[], object], name: str, delay: float = 0.0, freeze: bool = True) -> threading.Thread:
    """Run ``step`` in a daemon thread after ``delay`` seconds, then freeze the heap (unless
    ``freeze`` is False: a small step that should not freeze before the big ones). A failing
    step is logged; whoever needs its result later meets the failure again and reports it."""

    def run() -> None:
        try:
            step()
        except Exception as exc:
            log.warning("%s failed: %s", name, exc)
        if freeze:
            freeze_heap()

    thread = threading.Timer(delay, run) if delay > 0 else threading.Thread(target=run)
    thread.name, thread.daemon = name, True
    thread.start()
    return thread


_frozen = threading.Event()


def freeze_heap() -> None:
    """Collect start-up garbage, then keep the survivors out of all later collections. Once per
    process: the first warm-up to finish does it (later ones add little), and a test process
    with many functions does not freeze its own garbage again and again."""
    if _frozen.is_set():
        return
    _frozen.set()
    gc.collect()
    gc.freeze()
