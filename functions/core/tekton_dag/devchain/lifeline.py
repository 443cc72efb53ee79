"""Function processes of ``tekton-dag dev`` die with it, even when it is SIGKILLed.

The chosen mechanism is Linux's parent-death signal: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``
(man 2 PR_SET_PDEATHSIG: "the signal that the calling process will get when its parent dies"),
called through ctypes on libc by the child itself, first thing in ``tekton-dag serve``, when
``TEKTON_DAG_PARENT_PID`` is set. Why not a ``preexec_fn``: Python documents it as unsafe when the
parent has threads (``dev`` has: asyncio's worker threads), it can deadlock the child before exec.
Why not a pipe the child watches: it needs a thread or a task in every function for what the
kernel does for free. The race is closed as the man page advises: after ``prctl`` the child
compares ``getppid()`` with the pid it was given, and exits if its parent is already gone.

Caveats (man page): the signal follows the death of the parent *thread* that forked, so
``Chain.spawn`` must run on the event loop's thread (it does); elsewhere than Linux nothing
happens and ``dev``'s own shutdown is all there is.
"""

from __future__ import annotations

import os
import signal
import sys

from tekton_dag.syntax import ascii_digits

PARENT_PID_ENV = "TEKTON_DAG_PARENT_PID"
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(env: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    """Ask the kernel for SIGKILL when the parent named in ``env`` dies; exit now if it has.
    True when the signal is set (Linux), False when there is nothing to do or no way to."""
    wanted = env.get(PARENT_PID_ENV, "")
    if not ascii_digits(wanted) or not sys.platform.startswith("linux"):
        return False
    import ctypes  # here: `tekton-dag serve` imports this module, only dev's children need ctypes
    import ctypes.util

    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        return False
    if os.getppid() != int(wanted):  # the parent died before prctl: nobody would signal us
        os._exit(1)
    return True
