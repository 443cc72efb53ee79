"""Group commit in the Broker's journal: an ack only after its event's commit, order per key kept.

A second SQLite connection holding the write lock (``BEGIN IMMEDIATE``) stands in for a slow or
failing disk: the journal's commit waits for it (up to its busy timeout), then fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support.broker import broker_yaml, event, eventually, trigger_yaml
from tekton_dag.bus.journal import DELIVERED, Journal, NewDelivery
from tekton_dag.testing.recorder import EventRecorder

TYPE_A = "dev.example.a.v1"
DOCS = [broker_yaml(), trigger_yaml("t", "s", f"filter:\n  attributes:\n    type: {TYPE_A}\n")]


@contextlib.contextmanager
def write_lock(path: Path) -> Iterator[threading.Event]:
    """Hold the journal's SQLite write lock (another connection's open write transaction) until
    the yielded event is set or the block ends."""
    release = threading.Event()
    held = threading.Event()

    def hold() -> None:
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("BEGIN IMMEDIATE")
        held.set()
        release.wait(10)
        db.execute("ROLLBACK")
        db.close()

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(5)
    try:
        yield release
    finally:
        release.set()
        holder.join()


def pending_ids(path: Path) -> list[tuple[int, str]]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return list(db.execute("SELECT id, partition_key FROM deliveries WHERE state = 0 ORDER BY id"))


@pytest.mark.parametrize("sync", ["NORMAL", "FULL"])
async def test_the_ack_comes_only_after_the_events_commit(start_broker, tmp_path, sync):
    path = tmp_path / "journal.sqlite3"
    sub = EventRecorder()
    with sub.serving() as url:
        async with start_broker(DOCS, {"s": url}, journal=Journal(path, sync), close_grace=0.2) as running:
            with write_lock(path) as release:
                released_at = 0.0

                def release_later() -> None:
                    nonlocal released_at
                    time.sleep(0.3)
                    released_at = time.monotonic()
                    release.set()

                threading.Thread(target=release_later).start()
                response = await running.post(event(TYPE_A, id="e-1"))
                acked_at = time.monotonic()
            assert response.status_code == 202
            assert released_at and acked_at >= released_at, "acked while its commit was still waiting"
            await eventually(lambda: len(sub.received) == 1)


@pytest.mark.parametrize("sync", ["NORMAL", "FULL"])
async def test_an_event_whose_commit_fails_is_refused_and_never_delivered(start_broker, tmp_path, sync):
    path = tmp_path / "journal.sqlite3"
    sub = EventRecorder()
    with sub.serving() as url:
        journal = Journal(path, sync, busy_timeout=0.2)
        async with start_broker(DOCS, {"s": url}, journal=journal, close_grace=0.2) as running:
            with write_lock(path):
                response = await running.post(event(TYPE_A, id="e-1"))
            assert response.status_code == 503, "not on disk: the sender must retry"
            assert (await running.post(event(TYPE_A, id="e-2"))).status_code == 202  # the disk is back
            await eventually(lambda: len(sub.received) == 1)
            await asyncio.sleep(0.1)
    assert [e.get_id() for e in sub.received] == ["e-2"]


async def test_with_full_the_event_loop_keeps_serving_while_a_commit_waits_for_the_disk(start_broker, tmp_path):
    path = tmp_path / "journal.sqlite3"
    sub = EventRecorder()
    with sub.serving() as url:
        async with start_broker(DOCS, {"s": url}, journal=Journal(path, "FULL"), close_grace=0.2) as running:
            with write_lock(path) as release:
                waiting = asyncio.create_task(running.post(event(TYPE_A, id="e-1")))
                await asyncio.sleep(0.1)
                started = time.monotonic()
                async with httpx.AsyncClient() as client:
                    health = await client.get(running.url.rstrip("/") + "/healthz", timeout=2)
                answered_in = time.monotonic() - started
                assert health.status_code == 200
                assert answered_in < 0.5, f"the loop was blocked by the commit for {answered_in:.2f} s"
                assert not waiting.done(), "acked before the commit"
                release.set()
                assert (await waiting).status_code == 202
            await eventually(lambda: len(sub.received) == 1)


def test_group_commit_writes_what_waited_in_one_transaction_in_the_order_it_was_queued(tmp_path):
    path = tmp_path / "journal.sqlite3"
    journal = Journal(path, "FULL")
    journal.open()
    try:
        keys = ["a", "b"] * 10
        with write_lock(path) as release:
            futures = [journal.submit([NewDelivery("t", key, 255, b"{}")]) for key in keys]
            time.sleep(0.1)
            assert not any(f.done() for f in futures), "committed while the disk was held"
            release.set()
            ids = [f.result(timeout=5)[0] for f in futures]
        assert ids == sorted(ids), "ids (the resume order) follow the order of submission"
        assert journal.stats.commits <= 2, "what waited was not grouped"  # the first may go alone
        assert journal.stats.writes == 20
    finally:
        journal.close()
    for key in ("a", "b"):
        assert [i for i, k in pending_ids(path) if k == key] == [i for i, k in zip(ids, keys, strict=True) if k == key]


async def test_marks_wait_to_share_the_next_accepts_commit(tmp_path):
    journal = Journal(tmp_path / "journal.sqlite3", "NORMAL")
    journal.open()
    try:
        ids = journal.accept([NewDelivery("t", "k", 255, b"{}") for _ in range(5)])
        commits = journal.stats.commits
        for delivery_id in ids:
            journal.finish(delivery_id, DELIVERED)  # inside a running loop: not written yet
        assert journal.stats.commits == commits
        journal.accept([NewDelivery("t", "k", 255, b"{}")])
        assert journal.stats.commits == commits + 1, "the marks rode along with the accept"
        assert len(pending_ids(journal.path)) == 1
        journal.finish(ids[0] + 5, DELIVERED)
        await eventually(lambda: journal.stats.commits == commits + 2, timeout=1)  # alone, after a while
    finally:
        journal.close()
    assert pending_ids(journal.path) == []
