"""`tekton-dag serve --listen` / ``LISTEN_ADDRESS`` and `dev --port`: an address the server cannot
use is said before anything starts, never func-python's ``Exception('failed to bind any sockets')``
or a ValueError out of its parser (func_python/sock.py: ``rsplit(":", 1)``, ``ipaddress.ip_address``)."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import pytest

from support.clirun import run_cli
from tekton_dag.cli.serve import listen_problem


@pytest.mark.parametrize(("listen", "said"), [
    ("garbage", "'garbage' is not host:port"),
    (":99999", "':99999' is not host:port with a port from 1 to 65535"),
    ("localhost:8080", "'localhost:8080': the host must be an IP address"),
    ("127.0.0.1:8080,nope", "'nope' is not host:port"),
])
def test_serve_refuses_an_address_func_python_cannot_parse(listen: str, said: str) -> None:
    given = run_cli("serve", "resolver", "--listen", listen)
    from_env = run_cli("serve", "resolver", env={"LISTEN_ADDRESS": listen})
    for result, option in ((given, "--listen"), (from_env, "LISTEN_ADDRESS")):
        assert result.returncode == 1 and f"{option} {listen}: {said}" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


@contextlib.contextmanager
def held_port() -> Iterator[int]:
    """A loopback port some other socket is listening on, for as long as the block runs."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_serve_names_the_holder_of_a_port_it_cannot_bind() -> None:
    with held_port() as port:
        result = run_cli("serve", "resolver", "--listen", f"127.0.0.1:{port}")
        assert listen_problem(f"127.0.0.1:{port}") is not None
    assert result.returncode == 1 and f"cannot listen: in use: 127.0.0.1:{port} (held by pid" in result.stderr
    assert "Traceback" not in result.stderr


def test_one_free_address_of_several_is_enough_as_for_func_python() -> None:
    with held_port() as port:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            free = probe.getsockname()[1]
        assert listen_problem(f"127.0.0.1:{port},127.0.0.1:{free}") is None


@pytest.mark.parametrize("port", ["99999", "0", "http"])
def test_dev_refuses_a_port_out_of_range(port: str) -> None:
    result = run_cli("dev", "--port", port)
    assert result.returncode == 2 and "--port" in result.stderr and "Traceback" not in result.stderr
