"""Real processes on real sockets (as kopf.testing.KopfRunner runs an operator): ``tekton-dag serve NAME``
on a free loopback port until it is ready.

Its Broker is usually a ``tekton_dag.testing.recorder.EventRecorder`` serving on loopback.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port(host: str = "127.0.0.1") -> int:
    return free_ports(1, host)[0]


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` different free ports: all bound at once, so the kernel cannot hand out one twice
    (one at a time, a port just released may come back: a function once got another's metrics port)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind((host, 0))
        return [int(sock.getsockname()[1]) for sock in socks]


@dataclass
class Served:
    url: str
    output: str = ""  # everything the process printed, once it stopped


@contextlib.contextmanager
def served_function(name: str, env: dict[str, str], scratch: Path, ready_path: str = "/health/readiness",
                    command: list[str] | None = None) -> Iterator[Served]:
    """``tekton-dag serve NAME`` on a free loopback port, until the block ends; waits until ready.

    ``command`` replaces that command line (e.g. an image's entry point, with NAME in ``env``).
    """
    port = free_port()
    # never a real cluster: a fake API's kubeconfig when ``env`` names one, else none at all
    full_env = {**os.environ, **env, "LISTEN_ADDRESS": f"127.0.0.1:{port}",
                "KUBECONFIG": env.get("KUBECONFIG", str(scratch / "no-kubeconfig"))}
    full_env.pop("KUBERNETES_SERVICE_HOST", None)
    argv = command or [sys.executable, "-m", "tekton_dag.cli.main", "serve", name]
    process = subprocess.Popen(argv, env=full_env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    served = Served(f"http://127.0.0.1:{port}")
    try:
        _wait_ready(process, served.url + ready_path)
        yield served
    finally:
        process.terminate()
        served.output = process.communicate(timeout=10)[0]


def _wait_ready(process: subprocess.Popen[str], url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited {process.returncode}:\n{process.communicate()[0]}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"server not ready at {url} after {timeout} s")
