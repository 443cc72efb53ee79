"""Network closure: the functions only the Broker calls are cluster-local Knative Services, and a
NetworkPolicy admits to their pods nothing but Knative's data plane, plus Prometheus on the
metrics port while the PodMonitor is on.

The policy is checked by evaluating it the way Kubernetes does (tekton_dag.testing.networkpolicy,
rules cited there), against the pods the chart's Knative Services start (a revision's pods carry
its template labels) and pods of the platforms around them (labels from the upstream manifests
named in values.yaml)."""

from __future__ import annotations

import re
import textwrap
from typing import Any

import pytest
import yaml

from support.helm import REPO, find, one, render, render_error
from tekton_dag.pipelines import INSECURE_REGISTRIES_ENV, insecure_registry_host, listed_insecure_hosts
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
    values = tmp_path / "open.yaml"
    values.write_text(f"networkPolicy:\n  {key}: [{{}}]\n")
    assert f"networkPolicy.{key}.0" in render_error([values])


def peers_values(tmp_path, key: str, peers: list[dict[str, Any]]) -> Any:
    values = tmp_path / "peers.yaml"
    values.write_text(yaml.safe_dump({"networkPolicy": {key: peers}}))
    return values


# Peers whose namespaceSelector has no requirement that names namespaces: it selects every namespace
# (an empty selector selects everything), or every one but those it names, including any created
# later; kubernetes.io/metadata.name is on every namespace (the API server sets it). Pod labels are
# chosen by whoever creates the pod, so a podSelector beside such a namespaceSelector still admits
# any namespace's pod that copies them ("another namespace's pod labelled activator" above).
ALL_NAMESPACES = {
    "empty namespaceSelector": {"namespaceSelector": {}},
    "empty namespaceSelector with a podSelector": {"namespaceSelector": {},
                                                   "podSelector": {"matchLabels": {"app": "activator"}}},
    "empty matchLabels": {"namespaceSelector": {"matchLabels": {}, "matchExpressions": []}},
    "only NotIn": {"namespaceSelector": {"matchExpressions": [
        {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["default"]}]}},
    "only DoesNotExist": {"namespaceSelector": {"matchExpressions": [{"key": "quarantined",
                                                                      "operator": "DoesNotExist"}]}},
    "Exists on the name every namespace has": {"namespaceSelector": {"matchExpressions": [
        {"key": "kubernetes.io/metadata.name", "operator": "Exists"}]}},
}


@pytest.mark.parametrize("key", ["dataPlane", "metricsFrom"])
@pytest.mark.parametrize("peer", ALL_NAMESPACES.values(), ids=ALL_NAMESPACES.keys())
def test_a_peer_that_selects_every_namespace_is_refused(tmp_path, key: str, peer: dict[str, Any]) -> None:
    error = render_error([peers_values(tmp_path, key, [peer])], sets=SCRAPING)
    assert f"networkPolicy.{key}[0].namespaceSelector selects every namespace" in error, error


def test_what_the_namespace_guard_prevents() -> None:
    """The evaluator admits an intruder through each of those peers."""
    policy = one(render(), "NetworkPolicy", "tekton-dag-internal-functions")
    for peer in ALL_NAMESPACES.values():
        opened = {**policy, "spec": {**policy["spec"], "ingress": [{"from": [peer]}]}}
        assert admits(opened, "intruder", namespace_labels("intruder"), {"app": "activator"}, USER_PORT)


NAMED_NAMESPACES = {
    "matchLabels": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "istio-system"}},
                    "podSelector": {"matchLabels": {"app": "istio-ingressgateway"}}},
    "In": {"namespaceSelector": {"matchExpressions": [
        {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["istio-system"]}]}},
    "Exists on a label an admin sets": {"namespaceSelector": {"matchExpressions": [
        {"key": "mesh-gateway", "operator": "Exists"},
        {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["default"]}]}},
}


@pytest.mark.parametrize("peer", NAMED_NAMESPACES.values(), ids=NAMED_NAMESPACES.keys())
def test_a_peer_that_names_its_namespaces_renders(tmp_path, peer: dict[str, Any]) -> None:
    policy = one(render([peers_values(tmp_path, "dataPlane", [peer])]), "NetworkPolicy",
                 "tekton-dag-internal-functions")
    assert policy["spec"]["ingress"][0]["from"] == [peer]


# ipBlock: a CIDR, and `except` CIDRs strictly inside it (kubernetes pkg/apis/networking/validation/
# validation.go ValidateIPBlock, ValidateNetworkPolicyPeer; strict CIDR syntax: pkg/apis/core/validation
# parseCIDR). A /0 admits the whole address family: refused as "from anywhere".
BAD_IP_BLOCKS = {
    "IPv4 anywhere": ({"cidr": "0.0.0.0/0"}, "admits every address (from anywhere)"),
    "IPv6 anywhere": ({"cidr": "::/0", "except": ["fd00::/8"]}, "admits every address (from anywhere)"),
    "not a CIDR": ({"cidr": "10.0.0.0"}, 'ipBlock.cidr "10.0.0.0" is not a valid CIDR'),
    "prefix too long": ({"cidr": "10.0.0.0/33"}, 'ipBlock.cidr "10.0.0.0/33" is not a valid CIDR'),
    "octet with a leading zero": ({"cidr": "010.0.0.0/8"}, 'ipBlock.cidr "010.0.0.0/8" is not a valid CIDR'),
    "IPv6 with two ::": ({"cidr": "fd00::1::/64"}, 'ipBlock.cidr "fd00::1::/64" is not a valid CIDR'),
    "bits beyond the prefix": ({"cidr": "10.0.0.1/8"}, "has bits set beyond the prefix length"),
    "except outside": ({"cidr": "10.0.0.0/8", "except": ["192.168.0.0/16"]},
                       'ipBlock.except[0] "192.168.0.0/16" must be a strict subset of cidr "10.0.0.0/8"'),
    "except equal": ({"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16", "10.0.0.0/8"]},
                     'ipBlock.except[1] "10.0.0.0/8" must be a strict subset of cidr "10.0.0.0/8"'),
    "except of the other family": ({"cidr": "fd00::/8", "except": ["10.0.0.0/16"]},
                                   'ipBlock.except[0] "10.0.0.0/16" must be a strict subset of cidr "fd00::/8"'),
    "except outside, IPv6": ({"cidr": "fd00::/16", "except": ["fd01::/32"]},
                             'ipBlock.except[0] "fd01::/32" must be a strict subset of cidr "fd00::/16"'),
}


@pytest.mark.parametrize("key", ["dataPlane", "metricsFrom"])
@pytest.mark.parametrize("block,message", BAD_IP_BLOCKS.values(), ids=BAD_IP_BLOCKS.keys())
def test_a_bad_ip_block_is_refused_naming_it(tmp_path, key: str, block: dict[str, Any], message: str) -> None:
    error = render_error([peers_values(tmp_path, key, [{"ipBlock": block}])], sets=SCRAPING)
    assert f"networkPolicy.{key}[0]" in error and message in error, error


def test_an_ip_block_needs_a_cidr_and_nothing_else(tmp_path) -> None:
    for peer in ({"ipBlock": {}}, {"ipBlock": {"cidr": "10.0.0.0/8", "ports": [80]}}):
        assert "networkPolicy.dataPlane.0.ipBlock" in render_error([peers_values(tmp_path, "dataPlane", [peer])])
    both = {"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {"matchLabels": {"app": "x"}}}
    error = render_error([peers_values(tmp_path, "dataPlane", [both])])
    assert "networkPolicy.dataPlane[0]: ipBlock may not be combined with another selector" in error, error


def test_an_ip_block_admits_its_cidr_but_not_its_exceptions(tmp_path) -> None:
    peers = [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}},
             {"ipBlock": {"cidr": "fd00:ab::/32", "except": ["fd00:ab:1::/48"]}}]
    policy = one(render([peers_values(tmp_path, "dataPlane", peers)]), "NetworkPolicy",
                 "tekton-dag-internal-functions")
    assert policy["spec"]["ingress"][0]["from"] == peers

    def from_ip(ip: str) -> bool:  # labels and namespace do not matter to an ipBlock
        return admits(policy, "intruder", namespace_labels("intruder"), {}, USER_PORT, source_ip=ip)

    assert [ip for ip in ("10.2.3.4", "10.255.0.1", "fd00:ab::5", "fd00:ab:2::1") if not from_ip(ip)] == []
    assert [ip for ip in ("10.1.2.3", "192.168.1.1", "11.0.0.1", "fd00:ab:1::5", "fd00:ac::1", "::ffff:10.2.3.4")
            if from_ip(ip)] == []


def prometheus_admitted_named(policy: dict[str, Any], port: int, name: str | None) -> bool:
    return admits(policy, "monitoring", namespace_labels("monitoring"), PROMETHEUS, port, port_name=name)


def test_a_named_port_matches_the_container_port_of_that_name() -> None:
    """NetworkPolicyPort.port may name a container port of the selected pod; the name decides, not
    the number (so the scrape rule could name `metrics` wherever metrics.port puts it)."""
    policy = one(render(sets=SCRAPING), "NetworkPolicy", "tekton-dag-internal-functions")
    named = {**policy, "spec": {**policy["spec"], "ingress": [
        {**policy["spec"]["ingress"][1], "ports": [{"protocol": "TCP", "port": "metrics"}]}]}}
    assert prometheus_admitted_named(named, METRICS, "metrics")
    assert prometheus_admitted_named(named, 9100, "metrics")  # the same name on another number
    assert not prometheus_admitted_named(named, METRICS, None)  # an unnamed port of that number
    assert not prometheus_admitted_named(named, USER_PORT, "http1")
    udp = {**named, "spec": {**named["spec"], "ingress": [
        {**named["spec"]["ingress"][0], "ports": [{"protocol": "UDP", "port": "metrics"}]}]}}
    assert not prometheus_admitted_named(udp, METRICS, "metrics")



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


def test_the_insecure_registries_reach_every_function_that_speaks_to_a_registry_or_builds_runs() -> None:
    """`registries.insecure` is one list (TEKTON_DAG_INSECURE_REGISTRIES, the name the code reads) for
    bootstrap-batcher's registry client and run-creator's `insecure-registry`, in both modes; no
    other function gets it, and nobody gets it while the list is empty."""
    hosts = ["registry.lab.example:5000", "other.example"]
    sets = ["registries.insecure={" + ",".join(hosts) + "}"]
    for mode, names in (("distributed", {"run-creator", "bootstrap-batcher"}), ("all-in-one", {"tekton-dag"})):
        services = [d for d in render(sets=[f"mode={mode}", *sets]) if d and d.get("kind") == "Service"
                    and d["apiVersion"].startswith("serving.knative.dev/")]
        given = {s["metadata"]["name"]: env_of(s)[INSECURE_REGISTRIES_ENV]
                 for s in services if INSECURE_REGISTRIES_ENV in env_of(s)}
        assert set(given) == names, mode
        for value in given.values():
            assert listed_insecure_hosts(value) == set(hosts)
            assert insecure_registry_host("registry.lab.example:5000", listed_insecure_hosts(value))
        unset = render(sets=[f"mode={mode}"])
        assert not any(INSECURE_REGISTRIES_ENV in env_of(d) for d in unset if d and d.get("kind") == "Service"
                       and d["apiVersion"].startswith("serving.knative.dev/"))


def test_the_documented_broker_ingress_policy_admits_every_sender_the_chart_renders() -> None:
    """docs/helm.md's example for a cluster admin (applied in knative-eventing, not by the chart):
    each function pod of the teams named there must get through, and a look-alike pod of another
    namespace must not. (It selected on app.kubernetes.io/part-of, which only the Services carry:
    copied as written, it blocked every tekton-dag function.)"""
    text = (REPO / "docs" / "helm.md").read_text()
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if "broker-ingress-tekton-dag-only" in b)
    policy = yaml.safe_load(textwrap.dedent(block))
    senders = [pod_labels(s) for s in find(render(), "Service") if s["apiVersion"].startswith("serving.knative.dev/")]
    assert len(senders) == 6  # five functions and the dead-letter sink
    for labels in senders:
        namespace = {"kubernetes.io/metadata.name": "tekton-dag-default"}
        assert admits(policy, "tekton-dag-default", namespace, labels, 8080), labels
        assert not admits(policy, "other", {"kubernetes.io/metadata.name": "other"}, labels, 8080), labels
