"""The chart's monitoring objects: alerting rules checked and unit-tested by the real promtool
(input series per alert in alerts_test.yaml), the PrometheusRule carrying exactly those rules,
the PodMonitor and dashboard opt-in, and every function told its METRICS_PORT."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from support.helm import CHART, one, render

RULES = CHART / "files" / "metrics" / "alerts.yaml"
UNIT_TESTS = Path(__file__).with_name("alerts_test.yaml")
ALL_ON = ["metrics.podMonitor.enabled=true", "metrics.prometheusRule.enabled=true", "metrics.dashboard.enabled=true"]
# The one list of the distributed mode's functions (generated from tekton_dag/bus/routing.py).
FUNCTIONS = set(yaml.safe_load((CHART / "files" / "routing.yaml").read_text()))


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "promtool not found: run scripts/install-tools (Debian's prometheus package ships it)"
    return subprocess.run([binary, *map(str, args)], capture_output=True, text=True, cwd=UNIT_TESTS.parent, timeout=120)


def test_promtool_accepts_the_rules() -> None:
    result = promtool("check", "rules", RULES)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 7 rules found" in result.stdout


def test_every_alert_fires_on_its_series_and_only_then() -> None:
    result = promtool("test", "rules", UNIT_TESTS.name)
    assert result.returncode == 0, result.stdout + result.stderr
    tested = {case["alertname"] for test in yaml.safe_load(UNIT_TESTS.read_text())["tests"]
              for case in test["alert_rule_test"] if case["exp_alerts"]}
    alerts = {rule["alert"] for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]}
    assert tested == alerts, "every alert needs a firing case"


def test_nothing_to_scrape_or_alert_is_rendered_unless_asked() -> None:
    kinds = {d["kind"] for d in render()}
    assert not kinds & {"PodMonitor", "PrometheusRule"}
    assert not [d for d in render() if d["kind"] == "ConfigMap" and "grafana_dashboard" in d["metadata"]["labels"]]


def test_the_prometheus_rule_carries_the_rule_file_unchanged() -> None:
    rule = one(render(sets=ALL_ON), "PrometheusRule", "tekton-dag")
    assert rule["spec"]["groups"] == yaml.safe_load(RULES.read_text())["groups"]


def metrics_pods(docs: list[dict]) -> set[str]:
    """The component label of every pod template (Knative Service, CronJob) whose container is told
    a METRICS_PORT: the pods there is something to scrape on."""
    found = set()
    for doc in docs:
        spec = doc.get("spec") or {}
        template = spec.get("template") or ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template")
        if not template:
            continue
        env = [e["name"] for c in template["spec"]["containers"] for e in c.get("env", [])]
        if "METRICS_PORT" in env:
            found.add(template["metadata"]["labels"]["app.kubernetes.io/component"])
    return found


def test_the_pod_monitor_selects_every_pod_that_serves_metrics_and_nothing_else() -> None:
    """Derived from what the chart renders (both modes, every optional function on), not from a
    list kept by hand: a function added to routing.py is scraped or this fails."""
    everything = [*ALL_ON, "eventing.deadLetter.enabled=true", "redeliver.enabled=true", "github.appId=424242"]
    distributed, all_in_one = render(sets=everything), render(sets=[*everything, "mode=all-in-one"])
    (selected,) = one(distributed, "PodMonitor", "tekton-dag")["spec"]["selector"]["matchExpressions"]
    assert selected["key"] == "app.kubernetes.io/component" and selected["operator"] == "In"
    assert set(selected["values"]) == metrics_pods(distributed) | metrics_pods(all_in_one)
    assert metrics_pods(distributed) >= FUNCTIONS, "every function of routing.yaml serves metrics"


def test_the_pod_monitor_scrapes_each_function_on_its_metrics_port() -> None:
    docs = render(sets=[*ALL_ON, "metrics.port=9100", "metrics.podMonitor.labels.release=prom"])
    monitor = one(docs, "PodMonitor", "tekton-dag")
    assert monitor["metadata"]["labels"]["release"] == "prom"
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] == "user-port" and endpoint["path"] == "/metrics"
    assert endpoint["relabelings"][0]["replacement"] == "$1:9100"
    for ksvc in (d for d in docs if d["kind"] == "Service" and d["apiVersion"].startswith("serving.knative.dev")):
        component = ksvc["metadata"]["labels"]["app.kubernetes.io/component"]
        if component not in FUNCTIONS | {"dead-letter"}:
            continue
        (container,) = ksvc["spec"]["template"]["spec"]["containers"]
        assert {"name": "METRICS_PORT", "value": "9100"} in container["env"], component


def test_a_pod_monitor_without_a_metrics_port_is_refused() -> None:
    from support.helm import render_error

    assert "metrics.podMonitor.enabled needs metrics.port" in render_error(
        sets=["metrics.podMonitor.enabled=true", "metrics.port=0"])


# 8080: the function's own port (Knative's user port when the container declares none, knative/serving
# k8s_validation.go validateContainersPorts); 8008: queue-proxy's profiling port, opened when
# config-observability enables profiling (pkg/reconciler/revision/resources/queue.go profilingPort).
@pytest.mark.parametrize("port", [8012, 9090, 9091, 8080, 8008])
def test_a_port_of_knatives_queue_proxy_is_refused(port: int) -> None:
    from support.helm import render_error

    assert "metrics.port" in render_error(sets=[f"metrics.port={port}"])


def test_the_dashboard_is_a_grafana_sidecar_configmap_over_exported_metrics() -> None:
    configmap = one(render(sets=ALL_ON), "ConfigMap", "tekton-dag-dashboard")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(configmap["data"]["tekton-dag.json"])
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    queried = {re.sub(r"_(total|bucket|count|sum)$", "", name) for name in re.findall(r"tektondag_[a-z_]+", exprs)}
    assert queried == exported_families(), "the dashboard queries every metric, and only exported ones"


def test_every_alert_queries_exported_metrics() -> None:
    exprs = " ".join(rule["expr"] for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"])
    queried = {re.sub(r"_(total|bucket|count|sum)$", "", name) for name in re.findall(r"tektondag_[a-z_]+", exprs)}
    assert queried <= exported_families()


def exported_families() -> set[str]:
    """The metric families tekton_dag.observability.metrics registers (counters without _total)."""
    from prometheus_client import REGISTRY

    from tekton_dag.observability import metrics

    metrics.make()  # made on first use (the module docstring)
    return {family.name for family in REGISTRY.collect() if family.name.startswith("tektondag_")}
