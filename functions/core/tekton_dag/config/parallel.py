"""Reading many teams on several cores: forked children parse and check some teams while this
process does the others.

A cold load of 1,000 teams is CPU-bound Python and Rust that holds the GIL (YAML, schemas,
checks), and teams are independent until the checks across teams, so they split cleanly. A
forked child starts in a few milliseconds with every module already imported; it sends back
each team's problems and validated documents as ``marshal`` data (plain values only, read
without running code), and this process builds the model from them (docs/performance.md).

Forking is only done where it is safe and worth it:
- the process has one thread (``/proc/self/task``): a fork copies only the calling thread, and
  a lock another thread held at that moment (logging, an executor's queue) would stay locked
  forever in the child; a function that loads from a worker thread loads alone;
- more than one CPU is usable (affinity and a cgroup v2 ``cpu.max`` quota, as in a pod);
- there are at least ``MIN_TEAMS`` teams per process: below that a fork costs more than it saves.

``TEKTON_DAG_CONFIG_PROCESSES`` caps the processes (``1``: never fork). Whatever goes wrong in a
child (a crash, a value ``marshal`` cannot hold such as a YAML date, no answer within
``TIMEOUT_S``), this process reads those teams itself: the result is always the one a single
process gives.
"""

from __future__ import annotations

import contextlib
import logging
import marshal
import os
import select
import signal
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from tekton_dag.syntax import ascii_digits

PROCESSES_ENV = "TEKTON_DAG_CONFIG_PROCESSES"
CPU_MAX = "/sys/fs/cgroup/cpu.max"  # cgroup v2: "<quota> <period>" or "max <period>"
MAX_PROCESSES = 4
MIN_TEAMS = 100
TIMEOUT_S = 120.0
PIPE_SIZE = 1 << 20  # what a child may send ahead of this process reading it (Linux's default maximum)
BATCH = 25  # teams per message from a child: this process builds the first while it parses the next
# This process builds every team's model and reads the children's answers besides its own
# share, so it parses fewer teams than a child (weights measured with bench/config_load.py).
OWN_WEIGHT = 0.55

Item = TypeVar("Item")
log = logging.getLogger(__name__)
# Read ends of the pipes of this process's children still open. A later child closes them at once:
# holding an earlier child's read end, it would keep that pipe from breaking, so a child this process
# stopped reading (a load ending early) would wait on its full pipe forever, and ``close`` with it.
_READ_ENDS: set[int] = set()
_STOPPING = {signal.SIGINT, signal.SIGTERM}
_warned: set[str] = set()  # bad PROCESSES_ENV values already logged: once per process, not per load


def processes(teams: int, env: Mapping[str, str] | None = None) -> int:
    """How many processes should read ``teams`` teams (1: this one alone)."""
    env = os.environ if env is None else env
    cap = _cap(env.get(PROCESSES_ENV, ""))
    wanted = min(cap, usable_cpus(), teams // MIN_TEAMS)
    return wanted if wanted > 1 and single_threaded() else 1


def _cap(raw: str) -> int:
    """``PROCESSES_ENV``'s cap; a value that is not a whole number ≥ 1 is logged (once) and means
    one process: when the operator's intent is unclear, the configuration is read without forking."""
    if not raw.strip():
        return MAX_PROCESSES
    if ascii_digits(raw.strip()) and int(raw) >= 1:
        return int(raw)
    if raw not in _warned:
        _warned.add(raw)
        log.warning("%s=%r: must be a whole number of processes, 1 or more (1: never fork); "
                    "reading the configuration in this process alone", PROCESSES_ENV, raw)
    return 1


def usable_cpus() -> int:
    """CPUs this process may run on: its affinity, within a cgroup v2 quota (a pod's CPU limit)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return 1
    try:
        with open(CPU_MAX, encoding="ascii") as file:
            quota, period = file.read().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, int(quota) // int(period)))
    except (OSError, ValueError):
        pass  # no cgroup v2 limit visible
    return cpus


def single_threaded() -> bool:
    """Whether this process has one thread (what a fork copies); ``False`` where it cannot tell."""
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:  # not Linux: no fork
        return False


def shares(items: Sequence[Item], count: int) -> list[Sequence[Item]]:
    """``items`` in ``count`` consecutive slices, the first (this process's) smaller."""
    weights = [OWN_WEIGHT] + [1.0] * (count - 1)
    total = sum(weights)
    slices: list[Sequence[Item]] = []
    start = 0
    for i, weight in enumerate(weights):
        end = len(items) if i == count - 1 else start + round(len(items) * weight / total)
        slices.append(items[start:end])
        start = end
    return slices


class Child:
    """A forked child computing ``work(item)`` for each item; ``answers()`` yields them in order.

    The child sends its answers in batches as it goes, so this process can use the first ones
    while the child computes the rest. ``work`` must return plain data; an answer ``marshal``
    cannot hold comes back as ``None``, as does every answer the child did not send (it
    failed): the caller then does that work itself.
    """

    def __init__(self, work: Callable[[Item], Any], items: Sequence[Item]) -> None:
        self.count = len(items)
        self.pid = 0
        self.fd = -1
        self.received = bytearray()
        self.ended = False
        read_end, write_end = os.pipe()
        # Ctrl-C and SIGTERM wait until the child has its own handlers: one arriving just after the
        # fork would raise KeyboardInterrupt in the child before ``_run_child``'s ``try``, and the
        # child would unwind into this process's code (its finally blocks, exit handlers, output).
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPPING)
        try:
            self.pid = os.fork()
        except OSError:  # no process to spare: everything is done here
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            os.close(read_end)
            os.close(write_end)
            return
        if self.pid == 0:
            _run_child(work, items, write_end, read_end, blocked)  # never returns
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        os.close(write_end)
        _READ_ENDS.add(read_end)
        os.set_blocking(read_end, False)
        with contextlib.suppress(OSError, AttributeError):  # Linux: fewer stalls between drains
            import fcntl  # POSIX only, as is fork

            fcntl.fcntl(read_end, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
        self.fd = read_end

    def drain(self) -> None:
        """Take what the child has sent so far, without waiting. Call it often while busy: a
        child whose pipe is full (64 KiB by default; a batch is ~100 KiB) waits until it is read."""
        while self.fd >= 0 and not self.ended:
            try:
                data = os.read(self.fd, 1 << 20)
            except BlockingIOError:
                return
            if not data:
                self.ended = True
                return
            self.received += data

    def answers(self) -> Iterator[Any]:
        """Each item's answer, ``None`` where the child gave none; waits for the child."""
        given = 0
        if self.fd >= 0:
            try:
                for batch in self._batches():
                    for chunk in batch:
                        given += 1
                        yield None if chunk is None else marshal.loads(chunk)
            finally:
                self.close()
        for _ in range(given, self.count):
            yield None

    def close(self) -> None:
        """Stop reading and reap the child (a child still working ends on its broken pipe)."""
        if self.fd >= 0:
            _READ_ENDS.discard(self.fd)
            os.close(self.fd)
            self.fd = -1
            os.waitpid(self.pid, 0)

    def _batches(self) -> Iterator[list[bytes | None]]:
        """The child's batches until it ends; stops early (the rest unanswered) if it fails."""
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            while len(self.received) >= 8:
                size = int.from_bytes(self.received[:8], "little")
                if len(self.received) < 8 + size:
                    break
                try:
                    batch = marshal.loads(self.received[8:8 + size])
                except (EOFError, ValueError, TypeError):
                    return
                del self.received[:8 + size]
                yield batch
            if self.ended:
                return  # an incomplete batch left means the child failed: not used
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self.fd], [], [], remaining)[0]:
                os.kill(self.pid, signal.SIGKILL)  # stuck: this process does the rest itself
                return
            self.drain()


def _run_child(work: Callable[[Item], Any], items: Sequence[Item], write_end: int, read_end: int,
               mask: set[int | signal.Signals]) -> None:
    """The child's whole life: work, write, exit without running the parent's exit handlers."""
    status = 1
    try:
        # A Ctrl-C or SIGTERM ends the child at once; it must not touch the parent's event loop
        # (asyncio's signal wake-up descriptor is inherited).
        signal.set_wakeup_fd(-1)  # the one thread is the main thread (``single_threaded``)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # one that came meanwhile ends the child now
        os.close(read_end)
        for fd in _READ_ENDS:  # its siblings' pipes (module comment)
            with contextlib.suppress(OSError):
                os.close(fd)
        for start in range(0, len(items), BATCH):
            packed: list[bytes | None] = []
            for item in items[start:start + BATCH]:
                try:
                    packed.append(marshal.dumps(work(item)))
                except ValueError:  # not plain data (a YAML date): the parent does this one
                    packed.append(None)
            batch = marshal.dumps(packed)
            data = memoryview(len(batch).to_bytes(8, "little") + batch)
            while data:
                data = data[os.write(write_end, data):]
        status = 0
    finally:
        os._exit(status)
