"""Network closure: the functions only the Broker calls are cluster-local Knative Services, and a
NetworkPolicy admits to their pods nothing but Knative's data plane.

The policy is checked by evaluating it the way Kubernetes does (rules below, cited), against the
pods the chart's Knative Services start (a revision's pods carry its template labels) and pods of
the platforms around them (labels from the upstream manifests named in values.yaml)."""

from __future__ import annotations

from typing import Any

import pytest

from support.helm import find, one, render

INTERNAL = {"resolver", "run-creator", "bootstrap-batcher", "status-reporter", "dead-letters"}
VISIBILITY = "networking.knative.dev/visibility"
TEAM_NS = "tekton-pipelines"


def selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """A LabelSelector: every matchLabels pair and every matchExpressions requirement holds; an
    empty selector selects everything (kubernetes.io/docs/concepts/overview/working-with-objects/labels)."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def admits(policy: dict[str, Any], source_ns: str, ns_labels: dict[str, str], pod_labels: dict[str, str]) -> bool:
    """Whether an ingress rule of ``policy`` admits a pod. Per kubernetes.io/docs/concepts/services-
    networking/network-policies ("Behavior of to and from selectors"): peers of one `from` are ORed;
    namespaceSelector and podSelector in the SAME peer are ANDed; a podSelector alone means the
    policy's own namespace; a missing `from` admits everyone. ipBlock peers are not modelled."""
    for rule in policy["spec"].get("ingress", []):
        peers = rule.get("from")
        if peers is None:
            return True
        for peer in peers:
            assert "ipBlock" not in peer, "ipBlock peers are not modelled"
            if "namespaceSelector" in peer:
                ns_ok = selects(peer["namespaceSelector"], ns_labels)
            else:
                ns_ok = source_ns == policy["metadata"]["namespace"]
            if ns_ok and selects(peer.get("podSelector"), pod_labels):
                return True
    return False


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


@pytest.mark.parametrize("source", SOURCES)
def test_only_knatives_data_plane_reaches_them(source: str) -> None:
    namespace, labels, expected = SOURCES[source]
    policy = one(render(), "NetworkPolicy", "tekton-dag-internal-functions")
    assert admits(policy, namespace, namespace_labels(namespace), labels) is expected


def test_no_policy_in_all_in_one_mode_or_when_disabled() -> None:
    assert find(render(sets=["mode=all-in-one"]), "NetworkPolicy") == []
    assert find(render(sets=["networkPolicy.enabled=false"]), "NetworkPolicy") == []


def test_an_empty_peer_is_refused_by_the_schema(tmp_path) -> None:
    """An empty peer `{}` would admit every pod of every namespace: each peer needs a selector."""
    from support.helm import render_error

    values = tmp_path / "open.yaml"
    values.write_text("networkPolicy:\n  dataPlane: [{}]\n")
    assert "networkPolicy.dataPlane.0" in render_error([values])


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
