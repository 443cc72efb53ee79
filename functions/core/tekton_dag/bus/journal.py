"""The local Broker's durable journal: every accepted delivery is on disk before the ingress acks.

One SQLite database in WAL mode (``bench/journal_append.py`` measured it against an append-only
file with fsync; docs/local-dev.md has the figures and the choice). One row per delivery (an
event on its way to one Trigger): the event as structured-mode JSON, its TTL, its partition key,
how many attempts it has had and whether it is pending, delivered or dead-lettered.

- ``accept`` writes the rows of one admitted event in one transaction (and, for a reply, marks
  the delivery that produced it delivered in the same transaction: a crash can never keep the
  reply and lose the parent's completion, or the reverse).
- ``attempted`` records a failed attempt's number, so a resumed delivery keeps its retry budget.
- ``finish`` marks a delivery delivered or dead-lettered; finished rows are purged in batches, so
  the file stays small.
- ``pending`` lists what was accepted but never finished, oldest first: the Broker resumes it
  on start, in order per partition key.

``synchronous=NORMAL`` (the default): a commit is a ``write`` into the WAL, so an acked event
survives a killed process (the page cache has it) but not a power cut or kernel crash; ``FULL``
fsyncs the WAL on every commit and survives those too, for an fsync per write (0.1 ms on a quiet
disk here, 4-12 ms on a busy one: bench/journal_append.py). Checkpoints (copying the WAL into
the database, with an fsync) run in a background thread every second instead of inside a commit,
so no ack waits for one. A lock file (``flock``, released by the kernel when the process dies)
keeps a second Broker from sharing, and double-delivering, one journal.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

JOURNAL_ENV = "TEKTON_DAG_JOURNAL"
SYNC_ENV = "TEKTON_DAG_JOURNAL_SYNC"
PENDING, DELIVERED, DEAD_LETTERED = 0, 1, 2
PURGE_EVERY = 1000  # finished rows kept before one DELETE sweeps them
CHECKPOINT_EVERY_S = 1.0

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


class Journal:
    """The journal file at ``path``; ``open()`` before use, ``close()`` after."""

    def __init__(self, path: Path, synchronous: Synchronous = "NORMAL"):
        if synchronous not in ("FULL", "NORMAL"):
            raise JournalError(f"{SYNC_ENV}: must be FULL or NORMAL, got {synchronous!r}")
        self.path = path
        self.synchronous = synchronous
        self._db: sqlite3.Connection | None = None
        self._finished = 0
        self._lock_fd: int | None = None
        self._stop = threading.Event()
        self._checkpointer: threading.Thread | None = None

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
            db.execute(f"PRAGMA synchronous={self.synchronous}")
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
        self._checkpointer = threading.Thread(target=self._checkpoint_loop, name="journal-checkpoint", daemon=True)
        self._checkpointer.start()
        return rows

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=5.0, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        return db

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

    def accept(self, deliveries: Iterable[NewDelivery], completes: int | None = None) -> list[int]:
        """Store new deliveries (and mark ``completes`` delivered) in one transaction; their ids."""
        db = self._require()
        ids = []
        with _transaction(db):
            for d in deliveries:
                cursor = db.execute(
                    "INSERT INTO deliveries (trigger, partition_key, ttl, event) VALUES (?, ?, ?, ?)",
                    (d.trigger, d.partition_key, d.ttl, d.event))
                ids.append(int(cursor.lastrowid or 0))
            if completes is not None:
                db.execute("UPDATE deliveries SET state = ? WHERE id = ?", (DELIVERED, completes))
        if completes is not None:
            self._count_finished()
        return ids

    def attempted(self, delivery_id: int, attempts: int) -> None:
        """``attempts`` tries of the delivery have failed so far."""
        with _transaction(self._require()) as db:
            db.execute("UPDATE deliveries SET attempts = ? WHERE id = ?", (attempts, delivery_id))

    def finish(self, delivery_id: int, state: int) -> None:
        """The delivery was delivered (``DELIVERED``) or dead-lettered (``DEAD_LETTERED``)."""
        with _transaction(self._require()) as db:
            db.execute("UPDATE deliveries SET state = ? WHERE id = ?", (state, delivery_id))
        self._count_finished()

    def pending_count(self) -> int:
        return int(self._require().execute("SELECT count(*) FROM deliveries WHERE state = ?", (PENDING,)).fetchone()[0])

    def close(self) -> None:
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

    def _count_finished(self) -> None:
        self._finished += 1
        if self._finished >= PURGE_EVERY:
            self._finished = 0
            with _transaction(self._require()) as db:
                db.execute("DELETE FROM deliveries WHERE state != ?", (PENDING,))

    def _require(self) -> sqlite3.Connection:
        if self._db is None:
            raise JournalError(f"journal {self.path} is not open")
        return self._db


class _transaction:
    """``BEGIN`` ... ``COMMIT`` (``ROLLBACK`` on error), errors as ``JournalError``."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN")
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
            raise JournalError(f"journal write failed: {error}") from None
