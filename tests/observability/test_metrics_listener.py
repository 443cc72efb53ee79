"""The METRICS_PORT listener every function starts (tekton_dag.observability.metrics)."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys

import httpx
import pytest

from tekton_dag.observability import metrics
from tekton_dag.testing.serving import free_port


def test_the_listener_serves_the_exposition_once_per_port() -> None:
    port = free_port()
    env = {metrics.METRICS_PORT_ENV: str(port), metrics.METRICS_ADDRESS_ENV: "127.0.0.1"}
    assert metrics.serve_from_env(env) == port
    assert metrics.serve_from_env(env) == port  # a second handler in the process (all-in-one) reuses it
    response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    assert response.status_code == 200 and "tektondag_webhooks_total" in response.text


def test_no_port_no_listener_and_a_bad_one_is_said_not_fatal(caplog) -> None:
    assert metrics.serve_from_env({}) is None
    for off in ("", " ", "0"):  # 0 as the chart's metrics.port: off, not an ephemeral port
        assert metrics.serve_from_env({metrics.METRICS_PORT_ENV: off}) is None
        assert not metrics.listener_configured({metrics.METRICS_PORT_ENV: off})
    assert metrics.listener_configured({metrics.METRICS_PORT_ENV: "http"})  # asked for: webhook-ingest stays closed
    with caplog.at_level(logging.WARNING, logger=metrics.__name__):
        assert metrics.serve_from_env({metrics.METRICS_PORT_ENV: "http"}) is None
    assert "METRICS_PORT='http' is not a port number" in caplog.text
    for odd in ("+9100", "9_100", "\u0669\u0661\u0660\u0660", "65536"):  # int() took the first three
        with caplog.at_level(logging.WARNING, logger=metrics.__name__):
            assert metrics.serve_from_env({metrics.METRICS_PORT_ENV: odd}) is None
        assert f"METRICS_PORT={odd!r} is not a port number" in caplog.text


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


MADE_LATER = """
import json, sys
from tekton_dag.observability import metrics
metrics.record(lambda: metrics.CONFIG_RELOADS.labels("ok").inc())
metrics.record(lambda: metrics.CONFIG_LAST_RELOAD_OK.set(1))
imported_before = "prometheus_client" in sys.modules
text = metrics.exposition()[0].decode()
print(json.dumps({"imported_before": imported_before,
                  "kept": [line for line in text.splitlines() if line.startswith(("tektondag_config_reloads_total",
                                                                                   "tektondag_config_last_reload_"))]}))
"""


def test_updates_before_the_metrics_are_made_are_applied_when_they_are() -> None:
    # A function's start records (its configuration's load) without importing prometheus_client (~25 ms).
    result = subprocess.run([sys.executable, "-c", MADE_LATER], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"imported_before": False, "kept": [
        'tektondag_config_reloads_total{result="ok"} 1.0', "tektondag_config_last_reload_successful 1.0"]}


def test_a_metric_is_made_on_first_use_and_a_wrong_name_is_an_attribute_error() -> None:
    assert metrics.CHECK_REPORTS.describe()[0].name == "tektondag_check_reports"
    with pytest.raises(AttributeError, match="has no attribute 'CHECK_REPORT'"):
        metrics.CHECK_REPORT  # noqa: B018 - the read is the test


def test_all_in_one_workers_get_a_port_each_and_none_when_it_is_off(tmp_path) -> None:
    from tekton_dag.cli import workers

    base = {"TEKTON_DAG_JOURNAL": str(tmp_path / "journal.sqlite3")}
    assert workers.worker_env({**base, metrics.METRICS_PORT_ENV: "9095"}, 2)[metrics.METRICS_PORT_ENV] == "9097"
    assert workers.worker_env({**base, metrics.METRICS_PORT_ENV: "0"}, 2)[metrics.METRICS_PORT_ENV] == "0"
