"""Network closure: the functions only the Broker calls are cluster-local Knative Services, and a
NetworkPolicy admits to their pods nothing but Knative's data plane, plus Prometheus on the
metrics port while the PodMonitor is on.

The policy is checked by evaluating it the way Kubernetes does (tekton_dag.testing.networkpolicy,
rules cited there), against the pods the chart's Knative Services start (a revision's pods carry
its template labels) and pods of the platforms around them (labels from the upstream manifests
named in values.yaml)."""

from __future__ import annotations

from typing import Any

import pytest

from support.helm import find, one, render
from tekton_dag.testing.networkpolicy import admits, selects

INTERNAL = {"resolver", "run-creator", "bootstrap-batcher", "status-reporter", "dead-letters"}
VISIBILITY = "networking.knative.dev/visibility"
TEAM_NS = "tekton-pipelines"
# Ports of a function's pod: Knative's queue-proxy (8012 HTTP, 8022 h2c admin, 9091 its metrics),
# the function (8080, user-port) and its METRICS_PORT (metrics.port, default 9095).
QUEUE_PROXY, USER_PORT, METRICS = 8012, 8080, 9095
POD_PORTS = [QUEUE_PROXY, 8022, USER_PORT, 9091, METRICS]
SCRAPING = ["metrics.podMonitor.enabled=true"]


def namespace_labels(name: str) -> dict[str, str]:
    return {"kubernetes.io/metadata.name": name}  # set by the API server on every namespace (1.22+)


def pod_labels(ksvc: dict[str, Any]) -> dict[str, str]:
    """A revision's pods carry the template's labels (plus Knative's own, which no selector here uses)."""
    return {**ksvc["spec"]["template"]["metadata"]["labels"], "serving.knative.dev/service": ksvc["metadata"]["name"]}


def test_only_webhook_ingest_is_publicly_routable() -> None:
    services = {s["metadata"]["name"]: s for s in find(render(), "Service")}
    public = {name for name, s in services.items() if s["metadata"]["labels"].get(VISIBILITY) != "cluster-local"}
    assert public == {"webhook-ingest"}
    assert set(services) - public == INTERNAL
    aio = one(render(sets=["mode=all-in-one"]), "Service", "tekton-dag")
    assert VISIBILITY not in aio["metadata"]["labels"]  # it takes GitHub's webhooks


def test_the_policy_selects_exactly_the_internal_functions_pods() -> None:
    docs = render()
    policy = one(docs, "NetworkPolicy", "tekton-dag-internal-functions")
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    selected = {
        s["metadata"]["name"] for s in find(docs, "Service") if selects(policy["spec"]["podSelector"], pod_labels(s))
    }
    assert selected == INTERNAL


SOURCES = {
    # (namespace, pod labels) → admitted?
    "activator": ("knative-serving", {"app": "activator", "role": "activator"}, True),
    "autoscaler": ("knative-serving", {"app": "autoscaler"}, True),
    "kourier gateway": ("kourier-system", {"app": "3scale-kourier-gateway"}, True),
    "broker filter": ("knative-eventing", {"eventing.knative.dev/brokerRole": "filter"}, True),
    "broker ingress": ("knative-eventing", {"eventing.knative.dev/brokerRole": "ingress"}, False),
    "Knative webhook": ("knative-serving", {"app": "webhook"}, False),
    "a PipelineRun pod (PR code)": (
        TEAM_NS,
        {"tekton.dev/pipelineRun": "pr-1", "app.kubernetes.io/managed-by": "tekton-pipelines"},
        False,
    ),
    "webhook-ingest": (
        TEAM_NS,
        {"app.kubernetes.io/name": "tekton-dag", "app.kubernetes.io/component": "webhook-ingest"},
        False,
    ),
    "another namespace's pod labelled activator": ("intruder", {"app": "activator"}, False),
    "the Tekton controller": ("tekton-pipelines-system", {"app.kubernetes.io/name": "controller"}, False),
}


@pytest.mark.parametrize("sets", [[], SCRAPING], ids=["no scraping", "scraping"])
@pytest.mark.parametrize("source", SOURCES)
def test_only_knatives_data_plane_reaches_them(source: str, sets: list[str]) -> None:
    """On every port, with or without the scrape rule: it opens nothing to these sources."""
    namespace, labels, expected = SOURCES[source]
    policy = one(render(sets=sets), "NetworkPolicy", "tekton-dag-internal-functions")
    for port in POD_PORTS:
        assert admits(policy, namespace, namespace_labels(namespace), labels, port) is expected, port


PROMETHEUS = {"app.kubernetes.io/name": "prometheus", "app.kubernetes.io/managed-by": "prometheus-operator",
              "prometheus": "k8s"}  # as prometheus-operator labels its pods (values.yaml cites it)


def prometheus_admitted(policy: dict[str, Any], port: int, namespace: str = "monitoring",
                        labels: dict[str, str] = PROMETHEUS) -> bool:
    return admits(policy, namespace, namespace_labels(namespace), labels, port)


def test_prometheus_scrapes_the_metrics_port_and_nothing_else_when_the_pod_monitor_is_on() -> None:
    policy = one(render(sets=SCRAPING), "NetworkPolicy", "tekton-dag-internal-functions")
    assert prometheus_admitted(policy, METRICS)
    assert [p for p in POD_PORTS if p != METRICS and prometheus_admitted(policy, p)] == []
    assert not prometheus_admitted(policy, METRICS, labels={"app.kubernetes.io/name": "grafana"})
    assert not prometheus_admitted(policy, METRICS, namespace="intruder")  # its labels, another namespace
    moved = one(render(sets=[*SCRAPING, "metrics.port=9100"]), "NetworkPolicy", "tekton-dag-internal-functions")
    assert prometheus_admitted(moved, 9100) and not prometheus_admitted(moved, METRICS)


def test_no_scrape_rule_without_the_pod_monitor() -> None:
    """Closed by default: the rule exists only while the chart asks Prometheus to scrape."""
    for sets in ([], ["metrics.port=9100", "metrics.prometheusRule.enabled=true"]):
        policy = one(render(sets=sets), "NetworkPolicy", "tekton-dag-internal-functions")
        assert len(policy["spec"]["ingress"]) == 1
        assert not any(prometheus_admitted(policy, p) for p in POD_PORTS)


def test_a_configured_scraper_replaces_the_default(tmp_path) -> None:
    values = tmp_path / "scraper.yaml"
    values.write_text("networkPolicy:\n  metricsFrom:\n"
                      "    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: observability}}\n"
                      "      podSelector: {matchLabels: {app: otel-collector}}\n")
    policy = one(render([values], sets=SCRAPING), "NetworkPolicy", "tekton-dag-internal-functions")
    assert prometheus_admitted(policy, METRICS, namespace="observability", labels={"app": "otel-collector"})
    assert not prometheus_admitted(policy, METRICS)


def test_an_empty_metrics_from_adds_no_rule(tmp_path) -> None:
    """A rule whose `from` is empty admits every source, so empty means no scrape rule at all."""
    values = tmp_path / "none.yaml"
    values.write_text("networkPolicy:\n  metricsFrom: []\n")
    policy = one(render([values], sets=SCRAPING), "NetworkPolicy", "tekton-dag-internal-functions")
    assert len(policy["spec"]["ingress"]) == 1
    assert not admits(policy, "intruder", namespace_labels("intruder"), {}, METRICS)
    # what the guard prevents: the evaluator admits anyone through a rule with an empty `from`
    open_rule = {**policy, "spec": {"ingress": [{"from": [], "ports": [{"port": METRICS}]}]}}
    assert admits(open_rule, "intruder", namespace_labels("intruder"), {}, METRICS)


def test_no_policy_in_all_in_one_mode_or_when_disabled() -> None:
    assert find(render(sets=["mode=all-in-one"]), "NetworkPolicy") == []
    assert find(render(sets=["networkPolicy.enabled=false"]), "NetworkPolicy") == []


@pytest.mark.parametrize("key", ["dataPlane", "metricsFrom"])
def test_an_empty_peer_is_refused_by_the_schema(tmp_path, key: str) -> None:
    """An empty peer `{}` would admit every pod of every namespace: each peer needs a selector."""
    from support.helm import render_error

    values = tmp_path / "open.yaml"
    values.write_text(f"networkPolicy:\n  {key}: [{{}}]\n")
    assert f"networkPolicy.{key}.0" in render_error([values])


def env_of(service: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in service["spec"]["template"]["spec"]["containers"][0]["env"]}


@pytest.mark.parametrize(("mode", "name"), [("distributed", "webhook-ingest"), ("all-in-one", "tekton-dag")])
def test_the_public_function_keeps_its_reads_and_metrics_closed_unless_opened(mode: str, name: str) -> None:
    """By default the REST API's reads need the token (no TEKTON_DAG_API_PUBLIC_READS) and METRICS_PORT
    is set, so the public port answers 404 for /metrics; `api.publicReads` opens the reads only."""
    closed = env_of(one(render(sets=[f"mode={mode}"]), "Service", name))
    assert "TEKTON_DAG_API_PUBLIC_READS" not in closed and closed["METRICS_PORT"] == "9095"
    opened = env_of(one(render(sets=[f"mode={mode}", "api.publicReads=true"]), "Service", name))
    assert opened["TEKTON_DAG_API_PUBLIC_READS"] == "true"
    if mode == "all-in-one":  # merged with the GitHub settings, not instead of them
        both = env_of(one(render(sets=[f"mode={mode}", "api.publicReads=true", "github.appId=7",
                                       "github.appSecret.name=app"]), "Service", name))
        assert both["TEKTON_DAG_API_PUBLIC_READS"] == "true" and both["GITHUB_APP_ID"] == "7"
