"""``tekton-dag dev`` runs the functions that work after the ack at a lower CPU priority.

A webhook is acked once webhook-ingest has published its event and the local Broker (in ``dev``'s
own process) has journalled it; everything after that -- resolver, run-creator, status-reporter,
bootstrap-batcher -- is work the journal already holds. On one machine those functions share the
cores with the ack path: at 100 webhooks/s they need about a core between them, in bursts, and a
webhook arriving during a burst waited for a CPU behind them (docs/performance.md, "The ack's
tail"). So ``dev`` starts them with ``TEKTON_DAG_NICE`` (default 10: Linux CFS/EEVDF weight 110
against 1024 for nice 0), and a waking webhook-ingest or Broker runs first. Nothing is starved:
the ack path needs a fraction of one core, and an idle core goes to whoever is runnable. On a
machine busy with other work the consumers yield to that work too: runs are created later, while
acks stay fast (figures in docs/performance.md; ``--after-ack-nice 0`` keeps everything alike).

In a cluster each function is its own pod, and the same intent is expressed with CPU requests:
the kubelet sets each pod's cgroup ``cpu.weight`` from its request, so under contention on a node
webhook-ingest and the Broker's ingress get CPU in proportion to what they request
(docs/performance.md says what the chart requests). Niceness is per thread on Linux and inherited
by threads made later, so the function lowers its own priority first thing in
``tekton-dag serve``, before any thread starts (as it sets its parent-death signal,
``devchain.lifeline``; a ``preexec_fn`` in ``dev`` would be unsafe with ``dev``'s threads).

Autogrouping (man 7 sched, "The autogroup feature"; on by default in most distributions' kernels):
every session is a scheduler task group of its own, the groups share the CPU equally, and "the
nice value has effect only relative to other threads in the same autogroup". ``dev`` starts each
function in a session of its own (``start_new_session``), so a function's niceness alone changes
nothing against the other functions; it also sets its autogroup's nice (``/proc/self/autogroup``),
but only when it leads its session, so it never lowers a terminal's whole session. Inside a CPU
cgroup (a container, a pod) autogrouping does not apply and the process's niceness does.

The same functions also run under ``SCHED_BATCH`` (man 7 sched: "the scheduler will apply a small
scheduling penalty with respect to wakeup behavior"; any process may choose it for itself). A
batch task that wakes never preempts the task on the CPU (kernel/sched/fair.c,
``check_preempt_wakeup_fair``: "BATCH and IDLE tasks do not preempt others", Linux commit
faa42d29419d; before it "Batch and idle tasks do not preempt non-idle tasks"): a delivery reaching
resolver no longer takes the CPU from webhook-ingest or the Broker in the middle of an ack; it
runs at the next tick or when a CPU is free. Niceness sets the share of a busy CPU, the batch
policy who goes first on a wake-up; the ack path needs both (docs/performance.md, "ack17").
Threads made later inherit the policy, as they inherit niceness.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from collections.abc import Mapping
from pathlib import Path

from tekton_dag.syntax import ascii_digits

NICE_ENV = "TEKTON_DAG_NICE"
AFTER_ACK_NICE = 10  # ``tekton-dag dev --after-ack-nice``'s default
MAX_NICE = 19  # the lowest priority there is (man 2 nice)
AUTOGROUP = Path("/proc/self/autogroup")
# Without CAP_SYS_ADMIN the kernel takes one autogroup change per 100 ms, system-wide
# (kernel/sched/autogroup.c, proc_sched_autogroup_set_nice: EAGAIN): functions starting together retry.
AUTOGROUP_TRIES, AUTOGROUP_RETRY_S = 10, 0.1


def parse_nice(raw: str) -> int:
    """A niceness increment from 0 to 19; ValueError says what is wrong."""
    if not ascii_digits(raw.strip()) or int(raw) > MAX_NICE:
        raise ValueError(f"{raw!r}: must be a whole number from 0 to {MAX_NICE}")
    return int(raw)


def lower_priority(env: Mapping[str, str] = os.environ) -> int:
    """Add ``TEKTON_DAG_NICE`` to this process's niceness (call before starting threads);
    returns the increment applied (0 when unset). ``SystemExit`` names a bad value."""
    raw = env.get(NICE_ENV, "")
    if not raw:
        return 0
    try:
        increment = parse_nice(raw)
    except ValueError as exc:
        raise SystemExit(f"{NICE_ENV}={exc}") from None
    if increment:
        _lower_autogroup(os.nice(increment))
        _as_batch()
    return increment


def _as_batch() -> None:
    """Run this process under ``SCHED_BATCH`` (module docstring); where there is none, as before."""
    batch = getattr(os, "SCHED_BATCH", None)  # Linux only
    if batch is None:
        return
    with contextlib.suppress(OSError):  # e.g. a seccomp profile that refuses it: nice alone still applies
        os.sched_setscheduler(0, batch, os.sched_param(0))


def _lower_autogroup(niceness: int) -> None:
    """Give this process's autogroup ``niceness`` when the process leads its session (so the group
    is its own); nothing where there are no autogroups or it may not (its niceness still counts)."""
    if os.getsid(0) != os.getpid() or not AUTOGROUP.exists():
        return
    for _ in range(AUTOGROUP_TRIES):
        try:
            AUTOGROUP.write_text(str(niceness))
            return
        except OSError as exc:
            if exc.errno != errno.EAGAIN:
                return
            time.sleep(AUTOGROUP_RETRY_S)
