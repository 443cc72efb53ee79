"""The local Broker's durable journal: every accepted delivery is on disk before the ingress acks
(except one tried in the sender's task and delivered before the ack: bus.broker).

One SQLite database in WAL mode (``bench/journal_append.py`` measured it against an append-only
file with fsync: docs/performance.md has the figures and the choice). One row per
delivery (an event on its way to one Trigger): the event as structured-mode JSON, its TTL, its
partition key, how many attempts it has had and whether it is pending, delivered or dead-lettered.

Every write commits at once on the caller's thread (the Broker's event loop), into the WAL with
``synchronous=NORMAL``: a ``write`` into the page cache, tens of microseconds. A writer thread
doing the SQL was built and measured first and made acks *slower*: each batch needed an OS
wake-up and several GIL hand-offs (up to the 5 ms switch interval each while the loop is busy);
through the chain at 100/s on the loaded machine the Broker's admit took p50 3-12 ms / p99
195-227 ms that way, against 0.14-0.19 / 7-14 ms on the loop (docs/performance.md, "The local
Broker's journal").

``FULL`` adds what SQLite's own ``FULL`` does in WAL mode, an fsync of the WAL after the commit
(<https://www.sqlite.org/pragma.html#pragma_synchronous>), but as a **group commit** off the
loop: one thread runs ``fsync`` (which holds no GIL while it waits for the disk); the accepts
committed while one fsync runs wait for the next, which covers them all; each ack waits for the
fsync that followed its commit. Marks never wait for an fsync (the next one covers them too).

- ``submit`` queues the rows of one admitted event (and, for a reply, the mark of the delivery
  that produced it: one transaction, so a crash never keeps the reply and loses the parent's
  completion, or the reverse) and returns a future that resolves with their ids once the
  transaction that holds them has committed (with ``FULL``: and been fsynced) -- only then may
  the ingress ack. ``accept`` is the
  same, waiting in the calling thread.
- ``attempted`` (a failed attempt's number, so a resumed delivery keeps its retry budget) and
  ``finish`` (delivered or dead-lettered) are marks: queued without waiting, and a batch of only
  marks waits up to ``MARK_DELAY_S`` for an accept to share its commit. A mark lost in a crash
  leaves its delivery pending, so the next start delivers it again (at least once, never lost):
  the chain absorbs that repeat (docs/local-dev.md, "Journal"). Finished rows are purged in
  batches, so the file stays small.
- ``open`` returns what was accepted but never finished, oldest first: the Broker resumes it on
  start, in order per partition key.

``synchronous=NORMAL`` (the default): a commit is a ``write`` into the WAL, so an acked event
survives a killed process (the page cache has it) but not a power cut or kernel crash; ``FULL``
fsyncs the WAL before an accept is acked and survives those too. Checkpoints (copying the WAL into the
database, with an fsync) run in a background thread every second instead of inside a commit, so
no ack waits for one. A lock file (``flock``, released by the kernel when the process dies) keeps
a second Broker from sharing, and double-delivering, one journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

JOURNAL_ENV = "TEKTON_DAG_JOURNAL"
SYNC_ENV = "TEKTON_DAG_JOURNAL_SYNC"
PENDING, DELIVERED, DEAD_LETTERED = 0, 1, 2
PURGE_EVERY = 1000  # finished rows kept before one DELETE sweeps them
CHECKPOINT_EVERY_S = 1.0
MARK_DELAY_S = 0.05  # how long marks alone wait for an accept to share their commit
MAX_MARKS = 1000  # marks waiting at most before they are committed on their own
BUSY_TIMEOUT_S = 5.0  # how long a write waits for a lock held by another connection

log = logging.getLogger("tekton_dag.broker")

Synchronous = Literal["FULL", "NORMAL"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    trigger TEXT NOT NULL,
    partition_key TEXT NOT NULL,
    ttl INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    state INTEGER NOT NULL DEFAULT 0,
    event BLOB NOT NULL
)
"""


class JournalError(RuntimeError):
    """The journal cannot be opened or written (the message names the file and why)."""


@dataclass(frozen=True)
class Row:
    """A delivery accepted but not finished when the journal was opened."""

    id: int
    trigger: str
    partition_key: str
    ttl: int
    attempts: int
    event: bytes


@dataclass(frozen=True)
class NewDelivery:
    trigger: str
    partition_key: str
    ttl: int
    event: bytes  # structured-mode JSON
    attempts: int = 0  # tries already spent (a first try in the sender's task: bus.broker)


@dataclass(eq=False)
class _Write:
    """One queued write: new rows (with a future: an accept), or a mark on one row."""

    deliveries: tuple[NewDelivery, ...] = ()
    mark: tuple[int, str, int] | None = None  # (row id, column, value)
    done: Future[list[int]] | None = None  # resolved once durable (accepts and flushes)
    ids: list[int] = field(default_factory=list)


_INSERT = "INSERT INTO deliveries (trigger, partition_key, ttl, event, attempts) VALUES (?, ?, ?, ?, ?)"
_MARKS = {"state": "UPDATE deliveries SET state = ? WHERE id = ?",
          "attempts": "UPDATE deliveries SET attempts = ? WHERE id = ?"}


@dataclass
class JournalStats:
    """What the journal did: transactions committed, writes in them, fsyncs (FULL)."""

    commits: int = 0
    writes: int = 0
    fsyncs: int = 0


class Journal:
    """The journal file at ``path``; ``open()`` before use, ``close()`` after."""

    def __init__(self, path: Path, synchronous: Synchronous = "NORMAL", busy_timeout: float = BUSY_TIMEOUT_S,
                 fsync: Callable[[int], None] = os.fsync):
        if synchronous not in ("FULL", "NORMAL"):
            raise JournalError(f"{SYNC_ENV}: must be FULL or NORMAL, got {synchronous!r}")
        self.path = path
        self.synchronous = synchronous
        self.busy_timeout = busy_timeout
        self.stats = JournalStats()
        self._db: sqlite3.Connection | None = None
        self._finished = 0
        self._lock_fd: int | None = None
        self._stop = threading.Event()
        self._checkpointer: threading.Thread | None = None
        self._fsync = fsync  # a parameter so that tests can make the disk slow or fail
        self._wal_fd: int | None = None  # FULL: what the fsync thread syncs
        self._syncer: ThreadPoolExecutor | None = None
        self._unsynced: list[_Write] = []  # FULL: committed accepts waiting for the next fsync
        self._syncing = False
        self._marks: list[_Write] = []  # marks waiting for the next commit
        self._mark_timer: asyncio.TimerHandle | None = None
        self._closing = False

    def open(self) -> list[Row]:
        """Open (creating it if new), lock, and return the deliveries still pending, oldest first."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(self._lock_fd)
                self._lock_fd = None
                raise JournalError(f"journal {self.path}: used by another running Broker") from None
            db = self._connect()
            db.execute("PRAGMA synchronous=NORMAL")  # FULL's fsync is ours, off the loop
            db.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer thread does it
            db.execute(_SCHEMA)
            db.execute("DELETE FROM deliveries WHERE state != ?", (PENDING,))
            rows = [Row(*r) for r in db.execute(
                "SELECT id, trigger, partition_key, ttl, attempts, event FROM deliveries ORDER BY id")]
        except (sqlite3.Error, OSError) as exc:
            self.close()
            raise JournalError(f"journal {self.path}: {exc}") from None
        self._db = db
        self._stop.clear()
        self._closing = False
        if self.synchronous == "FULL":
            try:
                self._wal_fd = os.open(f"{self.path}-wal", os.O_RDONLY | os.O_CREAT, 0o600)
                directory = os.open(self.path.parent, os.O_RDONLY)
                try:
                    os.fsync(directory)  # the WAL's own name is durable too
                finally:
                    os.close(directory)
            except OSError as exc:
                self.close()
                raise JournalError(f"journal {self.path}: {exc}") from None
            self._syncer = ThreadPoolExecutor(1, thread_name_prefix="journal-fsync")
        self._checkpointer = threading.Thread(target=self._checkpoint_loop, name="journal-checkpoint", daemon=True)
        self._checkpointer.start()
        return rows

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        return db

    # -- writes (from the thread that owns the journal: the Broker's event loop) -----------------
    def submit(self, deliveries: Iterable[NewDelivery], completes: int | None = None) -> Future[list[int]]:
        """Queue new deliveries (and mark ``completes`` delivered, in the same transaction); the
        future gives their ids once that transaction has committed, or raises ``JournalError``.
        With ``NORMAL`` it is already resolved on return; with ``FULL`` once fsynced."""
        done: Future[list[int]] = Future()
        mark = (completes, "state", DELIVERED) if completes is not None else None
        self._queue(_Write(tuple(deliveries), mark, done))
        return done

    def accept(self, deliveries: Iterable[NewDelivery], completes: int | None = None) -> list[int]:
        """``submit`` and wait for the commit (for callers outside an event loop)."""
        return self.submit(deliveries, completes).result()

    def attempted(self, delivery_id: int, attempts: int) -> None:
        """``attempts`` tries of the delivery have failed so far (a mark: not waited for)."""
        self._queue(_Write(mark=(delivery_id, "attempts", attempts)))

    def finish(self, delivery_id: int, state: int) -> None:
        """The delivery was delivered (``DELIVERED``) or dead-lettered (``DEAD_LETTERED``) (a mark)."""
        self._queue(_Write(mark=(delivery_id, "state", state)))

    def flush(self) -> None:
        """Wait until everything queued so far is committed."""
        self.accept(())

    def _queue(self, write: _Write) -> None:
        self._require()
        if write.done is not None or len(self._marks) >= MAX_MARKS:
            self._commit_marks_and(write)
            return
        self._marks.append(write)
        if self._mark_timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop to come back later: now
                self._commit_marks_and(None)
                return
            self._mark_timer = loop.call_later(MARK_DELAY_S, self._commit_marks_and, None)

    def _commit_marks_and(self, write: _Write | None) -> None:
        """Commit the waiting marks (and ``write``) now, in one transaction."""
        if self._mark_timer is not None:
            self._mark_timer.cancel()
            self._mark_timer = None
        batch, self._marks = self._marks, []
        if write is not None:
            batch.append(write)
        if batch and self._db is not None:
            self._commit(self._db, batch)

    def _commit(self, db: sqlite3.Connection, batch: list[_Write]) -> None:
        """Write ``batch`` in one transaction; then its waiters are durable (NORMAL) or wait for
        the next fsync (FULL). All of them fail if the transaction does."""
        finished = self._finished
        try:
            with _transaction(db):
                for write in batch:
                    inserts = [(d.trigger, d.partition_key, d.ttl, d.event, d.attempts) for d in write.deliveries]
                    write.ids = [int(db.execute(_INSERT, values).lastrowid or 0) for values in inserts]
                    if write.mark is not None:
                        row, column, value = write.mark
                        db.execute(_MARKS[column], (value, row))
                        finished += column == "state"
                if finished >= PURGE_EVERY:
                    db.execute("DELETE FROM deliveries WHERE state != ?", (PENDING,))
                    finished = 0
        except Exception as exc:  # JournalError, or a value SQLite cannot hold: the same for the waiters
            # Accepts are refused (the sender retries); lost marks leave rows pending (redelivered).
            log.error("journal %s: %d writes not committed: %s", self.path, len(batch), exc)
            _settle([w for w in batch if w.done is not None], JournalError(f"journal {self.path}: {exc}"))
            return
        self._finished = finished
        self.stats.commits += 1
        self.stats.writes += len(batch)
        waiting = [w for w in batch if w.done is not None]
        if self._syncer is None:
            _settle(waiting)
        elif waiting:
            self._unsynced += waiting
            self._sync_next()

    def _sync_next(self) -> None:
        """FULL: start an fsync for every accept committed so far, unless one is running (its end
        starts the next: accepts committed meanwhile share it)."""
        if self._syncing or not self._unsynced or self._syncer is None:
            return
        batch, self._unsynced = self._unsynced, []
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a plain caller, or close()): here and now
            _settle(batch, self._sync_now())
            return
        self._syncing = True
        running = loop.run_in_executor(self._syncer, self._sync_now)

        def synced(result: asyncio.Future[JournalError | None]) -> None:
            self._syncing = False
            _settle(batch, result.result())
            self._sync_next()

        running.add_done_callback(synced)

    def _sync_now(self) -> JournalError | None:
        """fsync the WAL (what every commit so far wrote); the error, if it failed."""
        assert self._wal_fd is not None
        try:
            self._fsync(self._wal_fd)
        except OSError as exc:
            log.error("journal %s: fsync failed: %s", self.path, exc)
            return JournalError(f"journal {self.path}: fsync failed: {exc}")
        self.stats.fsyncs += 1
        return None

    def _checkpoint_loop(self) -> None:
        """Copy the WAL into the database now and then, off the event loop (PASSIVE: never
        blocks a writer; sqlite3 releases the GIL while it works)."""
        try:
            db = self._connect()
        except sqlite3.Error as exc:
            log.error("journal %s: no checkpoints: %s", self.path, exc)
            return
        try:
            while not self._stop.wait(CHECKPOINT_EVERY_S):
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as exc:
                    log.warning("journal %s: checkpoint failed: %s", self.path, exc)
        finally:
            db.close()

    def close(self) -> None:
        """Commit and sync what is waiting, then stop the threads and release the file."""
        self._commit_marks_and(None)
        if self._syncer is not None:
            self._syncer.shutdown(wait=True)  # the fsync under way ends
            self._syncing = False
            self._sync_next_here()
            self._syncer = None
        self._closing = True
        if self._wal_fd is not None:
            os.close(self._wal_fd)
            self._wal_fd = None
        self._stop.set()
        if self._checkpointer is not None:
            self._checkpointer.join(5)
            self._checkpointer = None
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.close()
            self._db = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    def _sync_next_here(self) -> None:
        """On close: sync the accepts still waiting, in this thread."""
        if self._unsynced:
            batch, self._unsynced = self._unsynced, []
            _settle(batch, self._sync_now())

    def _require(self) -> None:
        if self._db is None or self._closing:
            raise JournalError(f"journal {self.path} is not open")


def _settle(writes: list[_Write], error: JournalError | None = None) -> None:
    """Resolve the waiters of ``writes``: their ids, or ``error``."""
    for write in writes:
        if write.done is None or write.done.done():
            continue
        if error is None:
            write.done.set_result(write.ids)
        else:
            write.done.set_exception(error)


class _transaction:
    """``BEGIN`` ... ``COMMIT`` (``ROLLBACK`` on error), errors as ``JournalError``."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise JournalError(f"write failed: {exc}") from None
        return self.db

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        if error is None:
            try:
                self.db.execute("COMMIT")
                return
            except sqlite3.Error as exc:
                error = exc
        with contextlib.suppress(sqlite3.Error):
            self.db.execute("ROLLBACK")
        if isinstance(error, sqlite3.Error):
            raise JournalError(f"write failed: {error}") from None
