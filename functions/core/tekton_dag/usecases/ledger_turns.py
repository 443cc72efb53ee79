"""Turns at a team's ledger for the all-in-one's workers: one writes at a time, and wakes the next.

Ledger hints (``usecases.ledger_hints``) let a worker start from the other's last write, which
serves workers that take turns. Under load they write at the same moment from the same note, and
one loses: a refused write, a read, and the write again. At 400 webhooks/s over two workers that
was a fifth to a third of all ledger writes (docs/performance.md, tenth round).

A turn is an exclusive ``flock`` on a file per ledger beside the hints, taken without blocking, so
the kernel frees it when its holder dies. A worker that finds it taken tells the others ("want")
and waits on its event loop, with no thread, at most ``WAKE_S`` before it tries again and at most
``WAIT_S`` in all; after that it writes without a turn. A holder that was wanted lets go and
sends "over" to the workers that asked (it is yours; give it back after one write), and its own
next write waits for the turn to come back: else it would take the turn back before the waiter
woke, every time. A worker that gets "over" and no longer waits answers "done" at once, as does
a holder that gets a "want" after it let go. Messages go only to workers that wait: a message
wakes a process, which costs a CPU. Changes that arrive meanwhile join the next write (group
commit), so under load the writes grow fewer and larger rather than refused.

A turn only saves refused writes. It never decides admission: every write stays conditional on
the Lease's version, so a lost message, a dead holder or a worker without turns costs at most the
wait and what a 409 cost before.

Messages are datagrams on Linux abstract Unix sockets (no file to leave behind), one per worker,
named from the directory and the worker's pid; a worker makes itself known by a ``<pid>-<n>.peer``
file in the directory. A "want" is answered to the address it came from; any process in the pod's
network namespace can send one, which can only delay a write (a hand-over of at most ``WAKE_S``).
Elsewhere, or when a socket cannot be made, turns are off and writes go as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import itertools
import logging
import os
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

log = logging.getLogger(__name__)

WAKE_S = 0.05  # longest wait for a "done" before trying the turn again (a message may be lost)
WAIT_S = 0.5  # longest wait for a turn in all; then the write goes without one (still conditional)
PEERS_EVERY_S = 1.0  # how often the list of other workers is read again (workers come and go)
MAX_WANTING = 64  # workers remembered as waiting for one ledger (a bound, whoever sends)
_made = itertools.count()  # tells apart the Turns of one process (a worker has one; tests have several)


class Turns:
    """This worker's side of the turns at every ledger it writes (module docstring)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        digest = hashlib.sha256(str(directory.resolve()).encode()).hexdigest()[:16]
        self._prefix = f"\0tekton-dag-turns-{digest}-".encode()
        self._name = f"{os.getpid()}-{next(_made)}"  # this worker's: its socket and its ``.peer`` file
        self._files: dict[str, int] = {}  # ledger → its lock file, kept open
        self._done: dict[str, asyncio.Event] = {}  # ledger → set when a "done" for it arrives
        self._holding: set[str] = set()
        self._wanted: dict[str, set[bytes]] = {}  # held ledger → the workers that asked for it
        self._handing_over: set[str] = set()  # ledgers whose next turn first waits for it to come back
        self._waiting: set[str] = set()  # ledgers this worker is waiting to take
        self._returning: dict[str, set[bytes]] = {}  # ledger → the workers that handed it over here
        self._socket: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._peers: list[str] = []  # the other workers' names
        self._peers_read = -PEERS_EVERY_S
        self.off = False

    def _address(self, name: str) -> bytes:
        return self._prefix + name.encode()

    # --- taking and giving a turn -----------------------------------------------------------
    @contextlib.asynccontextmanager
    async def turn(self, ledger: str) -> AsyncIterator[bool]:
        """Hold the turn at ``ledger`` for the block (yields whether it is held: after
        ``WAIT_S``, or with turns off, the block runs without one)."""
        held = await self._take(ledger)
        try:
            yield held
        finally:
            if held:
                self._give(ledger)

    async def _take(self, ledger: str) -> bool:
        if not self._listening():
            return False
        done = self._done.setdefault(ledger, asyncio.Event())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT_S
        self._waiting.add(ledger)
        try:
            if ledger in self._handing_over:
                self._handing_over.discard(ledger)
                await _wait(done, WAKE_S)  # until the worker it went "over" to gives it back
            while True:
                done.clear()  # before trying: a message from here on wakes the wait below
                try:
                    fcntl.flock(self._file(ledger), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    pass
                except OSError as exc:
                    log.warning("no turns at the admission ledger (%s): writing without them", exc)
                    self.off = True
                    return False
                else:
                    self._holding.add(ledger)
                    returning = self._returning.pop(ledger, set())
                    if returning:  # it was handed over: give it back after this write
                        self._wanted.setdefault(ledger, set()).update(returning)
                    return True
                left = deadline - loop.time()
                if left <= 0:
                    return False
                self._send(b"want " + ledger.encode())
                await _wait(done, min(WAKE_S, left))
        finally:
            self._waiting.discard(ledger)
            self._returning.pop(ledger, None)  # whoever handed over here stops waiting by itself

    def _give(self, ledger: str) -> None:
        self._holding.discard(ledger)
        done = self._done.get(ledger)
        if done is not None:
            done.clear()  # the hand-over waits for a message after this one
        with contextlib.suppress(OSError):
            fcntl.flock(self._files[ledger], fcntl.LOCK_UN)
        wanting = self._wanted.pop(ledger, None)
        if wanting:  # only then: waking a worker that does not wait costs it a CPU
            self._handing_over.add(ledger)
            self._reply(b"over " + ledger.encode(), wanting)  # "it is yours; give it back after"

    def _file(self, ledger: str) -> int:
        descriptor = self._files.get(ledger)
        if descriptor is None:
            descriptor = os.open(self.directory / f"{ledger}.turn", os.O_RDWR | os.O_CREAT, 0o600)
            self._files[ledger] = descriptor
        return descriptor

    # --- messages ---------------------------------------------------------------------------
    def _listening(self) -> bool:
        """Bind this worker's socket on the running loop (once per loop); False: turns are off."""
        loop = asyncio.get_running_loop()
        if self.off:
            return False
        if self._loop is loop:
            return True
        self.close()
        try:
            sock = _bound(self._address(self._name))
            (self.directory / f"{self._name}.peer").touch(mode=0o600)
        except (OSError, AttributeError) as exc:  # not Linux (no abstract sockets), or a full table
            log.warning("no turns at the admission ledger (%s): writing without them", exc)
            self.off = True
            return False
        loop.add_reader(sock.fileno(), self._received)
        self._socket, self._loop, self._done = sock, loop, {}
        return True

    def _received(self) -> None:
        assert self._socket is not None
        while True:
            try:
                message, sender = self._socket.recvfrom(512)
            except OSError:  # nothing more to read (BlockingIOError among them)
                return
            kind, _, ledger = message.decode("utf-8", "replace").partition(" ")
            if kind == "done" and ledger in self._done:
                self._done[ledger].set()
            elif kind not in ("want", "over") or not isinstance(sender, bytes) or not sender.startswith(self._prefix):
                continue  # not from a worker of this directory
            elif kind == "over" and ledger in self._waiting:
                self._done[ledger].set()
                _bounded_add(self._returning.setdefault(ledger, set()), sender)
            elif kind == "want" and ledger in self._holding:
                _bounded_add(self._wanted.setdefault(ledger, set()), sender)
            else:  # a "want" after this worker let go, or an "over" it no longer waits for: take it
                if kind == "over":  # it is back: a hand-over of ours, if any, is over too
                    self._handing_over.discard(ledger)
                self._reply(b"done " + ledger.encode(), {sender})

    def _send(self, message: bytes) -> None:
        """Send ``message`` to every other worker (those with a ``.peer`` file: the directory is
        owner-only, so only this user's processes are listed, and only their names are unlinked)."""
        now = time.monotonic()
        if now - self._peers_read >= PEERS_EVERY_S:
            self._peers_read, self._peers = now, self._read_peers()
        for name in list(self._peers):
            if not self._sent(message, self._address(name)):  # gone: forget it, and its file
                self._peers.remove(name)
                with contextlib.suppress(OSError):
                    (self.directory / f"{name}.peer").unlink()

    def _reply(self, message: bytes, to: set[bytes]) -> None:
        """Send ``message`` to the workers that asked (by the address they sent from)."""
        for address in to:
            self._sent(message, address)

    def _sent(self, message: bytes, address: bytes) -> bool:
        """Whether ``address`` may still be there (False: nobody is bound to it any more)."""
        assert self._socket is not None
        try:
            self._socket.sendto(message, address)
        except BlockingIOError:  # its queue is full: it is busy, and its waits end by themselves
            return True
        except OSError:  # connection refused: gone
            return False
        return True

    def _read_peers(self) -> list[str]:
        peers = []
        with contextlib.suppress(OSError):
            for entry in os.scandir(self.directory):
                name = entry.name.removesuffix(".peer")
                if entry.name.endswith(".peer") and name != self._name:
                    peers.append(name)
        return peers

    def close(self) -> None:
        """Stop listening (the lock files stay open: a turn held is let go by its block)."""
        if self._socket is not None:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(self._socket.fileno())
            self._socket.close()
            with contextlib.suppress(OSError):
                (self.directory / f"{self._name}.peer").unlink()
        self._socket, self._loop = None, None


def _bounded_add(workers: set[bytes], worker: bytes) -> None:
    if len(workers) < MAX_WANTING:
        workers.add(worker)


def _bound(address: bytes) -> socket.socket:
    """A non-blocking datagram socket bound to ``address`` (abstract: Linux only)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


async def _wait(event: asyncio.Event, timeout: float) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            await event.wait()
