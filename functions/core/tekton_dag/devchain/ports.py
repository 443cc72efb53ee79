"""Is a TCP port free on loopback, and if not, which process holds it (best effort, Linux /proc)?

``tekton-dag dev`` asks before it starts anything: a port held by a leftover function would
otherwise answer the readiness probe and ``dev`` would say "ready" about a process it does not own.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from tekton_dag.syntax import ascii_digits

LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp's "st" column (include/net/tcp_states.h)


def port_in_use(host: str, port: int) -> bool:
    """Whether binding ``host:port`` fails, with the same SO_REUSEADDR the servers use (so a
    socket in TIME_WAIT from an earlier session does not count; a listener does)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def listener_inodes(port: int, proc: Path = Path("/proc")) -> set[str]:
    """Socket inodes listening on ``port`` (any address), from /proc/net/tcp and tcp6.
    Columns (Documentation/networking/proc_net_tcp.rst): sl local_address rem_address st ... inode."""
    inodes = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (proc / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def holders(port: int, proc: Path = Path("/proc")) -> list[tuple[int, str]]:
    """(pid, command line) of every process with a listening socket on ``port`` that we may inspect."""
    targets = {f"socket:[{inode}]" for inode in listener_inodes(port, proc)}
    found: list[tuple[int, str]] = []
    if not targets:
        return found
    for entry in proc.iterdir():
        if not ascii_digits(entry.name):
            continue
        try:
            links = {os.readlink(fd) for fd in (entry / "fd").iterdir()}
            if links & targets:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
                found.append((int(entry.name), command))
        except OSError:  # gone, or another user's: best effort
            continue
    return found


def describe_holder(port: int) -> str:
    """``held by pid 123 (python -m ... serve resolver)``, or a hint when /proc does not tell."""
    found = holders(port)
    if not found:
        return "held by a process this user cannot see (try `ss -ltnp`)"
    return ", ".join(f"held by pid {pid} ({command or '?'})" for pid, command in found)
