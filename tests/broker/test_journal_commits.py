"""The Broker's journal: an ack only once its event is durable; group commit keeps order per key.

Two stand-ins for a slow or failing disk: a second SQLite connection holding the write lock
(``BEGIN IMMEDIATE``), for which the commit waits (up to its busy timeout) and then fails; and,
with ``FULL``, an fsync that waits for the test to release it, or fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
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


class SlowDisk:
    """An fsync that waits until ``release`` is set, then fails if ``fail`` is set."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.fail = False
        self.calls = 0

    def __call__(self, fd: int) -> None:
        self.calls += 1
        self.release.wait(10)
        if self.fail:
            raise OSError(5, "Input/output error")
        os.fsync(fd)


async def test_with_full_the_ack_waits_for_the_fsync_and_the_loop_keeps_serving_meanwhile(start_broker, tmp_path):
    disk = SlowDisk()
    sub = EventRecorder()
    with sub.serving() as url:
        journal = Journal(tmp_path / "journal.sqlite3", "FULL", fsync=disk)
        async with start_broker(DOCS, {"s": url}, journal=journal, close_grace=0.2) as running:
            waiting = asyncio.create_task(running.post(event(TYPE_A, id="e-1")))
            await eventually(lambda: disk.calls == 1)
            started = time.monotonic()
            async with httpx.AsyncClient() as client:
                health = await client.get(httpx.URL(running.url).copy_with(path="/healthz"), timeout=2)
            answered_in = time.monotonic() - started
            assert health.status_code == 200
            assert answered_in < 0.5, f"the loop was blocked by the fsync for {answered_in:.2f} s"
            await asyncio.sleep(0.1)
            assert not waiting.done(), "acked before the fsync"
            assert sub.received == [], "delivered before it was durable"
            disk.release.set()
            assert (await waiting).status_code == 202
            await eventually(lambda: len(sub.received) == 1)


async def test_with_full_a_failed_fsync_refuses_the_event(start_broker, tmp_path):
    disk = SlowDisk()
    disk.fail = True
    disk.release.set()
    sub = EventRecorder()
    with sub.serving() as url:
        journal = Journal(tmp_path / "journal.sqlite3", "FULL", fsync=disk)
        async with start_broker(DOCS, {"s": url}, journal=journal, close_grace=0.2) as running:
            assert (await running.post(event(TYPE_A, id="e-1"))).status_code == 503
            await asyncio.sleep(0.1)
            assert sub.received == []


async def test_with_full_accepts_committed_during_an_fsync_share_the_next_one_in_queue_order(tmp_path):
    disk = SlowDisk()
    journal = Journal(tmp_path / "journal.sqlite3", "FULL", fsync=disk)
    journal.open()
    try:
        keys = ["a", "b"] * 10
        first = journal.submit([NewDelivery("t", "a", 255, b"{}")])
        await eventually(lambda: disk.calls == 1)
        futures = [journal.submit([NewDelivery("t", key, 255, b"{}")]) for key in keys]
        await asyncio.sleep(0.1)
        assert not first.done() and not any(f.done() for f in futures), "acked before its fsync"
        disk.release.set()
        ids = [(await asyncio.wrap_future(f))[0] for f in futures]
        await asyncio.wrap_future(first)
        assert ids == sorted(ids), "ids (the resume order) follow the order of submission"
        assert disk.calls == 2, "the 20 accepts committed during the first fsync share the second"
    finally:
        journal.close()
    for key in ("a", "b"):
        mine = [i for i, k in zip(ids, keys, strict=True) if k == key]
        assert [i for i, k in pending_ids(journal.path) if k == key and i in mine] == mine


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


def test_a_value_sqlite_cannot_hold_fails_the_accept_with_a_journal_error(tmp_path):
    """A write SQLite refuses with something other than its own error (an integer beyond 64 bits)
    fails its waiters as a JournalError (the ingress answers 503, the sender retries), like any
    failed commit; it escaped as OverflowError before, dropping the marks of the same batch unlogged."""
    from tekton_dag.bus.journal import JournalError

    journal = Journal(tmp_path / "journal.sqlite3", "NORMAL")
    journal.open()
    try:
        refused = journal.submit([NewDelivery("t", "a", 10**20, b"{}")])
        with pytest.raises(JournalError, match="journal"):
            refused.result(timeout=5)
        accepted = journal.submit([NewDelivery("t", "a", 255, b"{}")])
        assert len(accepted.result(timeout=5)) == 1, "the journal goes on"
    finally:
        journal.close()
