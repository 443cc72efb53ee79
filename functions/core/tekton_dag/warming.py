"""Start-up work kept off a function's path to ready, then a frozen heap.

While a served function starts (``tekton-dag serve``), the cyclic garbage collector is held
(``hold_collections``): imports and the first configuration make objects that live as long as the
process, and the collections they set off (a full one scans everything made so far) were ~8% of
the CPU to ready (docs/performance.md), freeing next to nothing. Collections resume at the first
frozen heap below, or after ``HOLD_S`` at the latest; reference counting frees as always meanwhile.

A function answers its readiness probe about 0.3 s after it starts. Libraries it needs only for
its work (aiohttp for publishing, the Kubernetes client, prometheus_client and the ``METRICS_PORT``
listener) are imported in a background thread, and then everything allocated so far is frozen
(``gc.freeze``): modules, classes and the loaded configuration live as long as the process, and
without freezing every full collection walks them again. In the chain at 100 webhooks/s those
collections paused a function for 15-100 ms, which was most of the latency's tail.
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
HOLD_S = 2.0  # at most this long without cyclic collections after start (hold_collections)


def freeze_heap() -> None:
    """Collect start-up garbage, then keep the survivors out of all later collections. Once per
    process: the first warm-up to finish does it (later ones add little), and a test process
    with many functions does not freeze its own garbage again and again. Collections held at
    start resume here."""
    if not _frozen.is_set():
        _frozen.set()
        gc.collect()
        gc.freeze()
    gc.enable()


def hold_collections(seconds: float = HOLD_S) -> None:
    """No cyclic collections until the first ``freeze_heap``, ``seconds`` at the latest: for a
    process's start (module docstring)."""
    gc.disable()
    in_background(lambda: None, "start-up collections", seconds)  # then freeze_heap, which resumes them
