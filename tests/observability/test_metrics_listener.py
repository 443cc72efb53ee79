"""The METRICS_PORT listener every function starts (tekton_dag.observability.metrics)."""

from __future__ import annotations

import logging
import socket

import httpx

from tekton_dag.devchain.chain import free_port
from tekton_dag.observability import metrics


def test_the_listener_serves_the_exposition_once_per_port() -> None:
    port = free_port()
    env = {metrics.METRICS_PORT_ENV: str(port), metrics.METRICS_ADDRESS_ENV: "127.0.0.1"}
    assert metrics.serve_from_env(env) == port
    assert metrics.serve_from_env(env) == port  # a second handler in the process (all-in-one) reuses it
    response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    assert response.status_code == 200 and "tektondag_webhooks_total" in response.text


def test_no_port_no_listener_and_a_bad_one_is_said_not_fatal(caplog) -> None:
    assert metrics.serve_from_env({}) is None
    with caplog.at_level(logging.WARNING, logger=metrics.__name__):
        assert metrics.serve_from_env({metrics.METRICS_PORT_ENV: "http"}) is None
    assert "METRICS_PORT='http' is not a port number" in caplog.text


def test_a_port_already_taken_leaves_the_function_running(caplog) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with caplog.at_level(logging.ERROR, logger=metrics.__name__):
            assert (
                metrics.serve_from_env({metrics.METRICS_PORT_ENV: str(port), metrics.METRICS_ADDRESS_ENV: "127.0.0.1"})
                is None
            )
    assert f"metrics listener not started on port {port}" in caplog.text
