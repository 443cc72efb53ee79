"""knative/ (used by the local Broker) and the chart describe the same eventing.

Compared: the Broker (name, class, retries, backoff, dead-letter sink), the SinkBindings (subject,
sink), the Knative Services (names, images, min-scale, ServiceAccounts, config directory and its
ConfigMap, health probes). Not compared: the Triggers, which both are generated from one table
(tekton_dag/bus/routing.py) by scripts/generate, whose --check tests/generate runs. Deliberate
differences, not compared: namespaces (the chart uses the team's), labels, how the webhook secret
is passed (the chart mounts a file; knative/ reads an env var).
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from support.helm import REPO, find, render

KNATIVE = REPO / "knative"


def knative_docs() -> list[dict[str, Any]]:
    if not KNATIVE.is_dir():
        pytest.fail("knative/ is missing: the chart has nothing to agree with")
    return [d for p in sorted(KNATIVE.glob("*.yaml")) for d in yaml.safe_load_all(p.read_text()) if d]


def by_name(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in find(docs, kind)}


def container(ksvc: dict[str, Any]) -> dict[str, Any]:
    return ksvc["spec"]["template"]["spec"]["containers"][0]


def service_facts(ksvc: dict[str, Any]) -> dict[str, Any]:
    spec = ksvc["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in container(ksvc).get("env", [])}
    teams_dir = env.get("TEKTON_DAG_TEAMS_DIR")
    mounts = {m["mountPath"]: m["name"] for m in container(ksvc).get("volumeMounts", [])}
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    config_map = volumes[mounts[teams_dir]]["configMap"]["name"] if teams_dir else None
    return {
        "image": container(ksvc)["image"],
        "visibility": ksvc["metadata"].get("labels", {}).get("networking.knative.dev/visibility"),
        "min_scale": ksvc["spec"]["template"].get("metadata", {}).get("annotations", {}).get(
            "autoscaling.knative.dev/min-scale"),
        "service_account": spec.get("serviceAccountName"),
        "teams_dir": teams_dir,
        "config_map": config_map,
        "probes": (container(ksvc).get("livenessProbe", {}).get("httpGet", {}).get("path"),
                   container(ksvc).get("readinessProbe", {}).get("httpGet", {}).get("path")),
    }


def test_same_broker() -> None:
    ours, theirs = render(), knative_docs()
    (broker,) = find(ours, "Broker")
    (hand,) = find(theirs, "Broker")
    assert broker["metadata"]["name"] == hand["metadata"]["name"]
    assert broker["metadata"]["annotations"]["eventing.knative.dev/broker.class"] == \
        hand["metadata"]["annotations"]["eventing.knative.dev/broker.class"]
    keys = ("retry", "backoffPolicy", "backoffDelay", "deadLetterSink")
    assert {k: broker["spec"]["delivery"].get(k) for k in keys} == {k: hand["spec"]["delivery"].get(k) for k in keys}


def test_same_sinkbindings() -> None:
    ours, theirs = by_name(render(), "SinkBinding"), by_name(knative_docs(), "SinkBinding")
    assert sorted(ours) == sorted(theirs)
    for name, binding in ours.items():
        assert binding["spec"] == theirs[name]["spec"], name


def test_same_services() -> None:
    ours, theirs = by_name(render(), "Service"), by_name(knative_docs(), "Service")
    assert sorted(ours) == sorted(theirs)
    for name in ours:
        if name == "dead-letters":  # the chart pins its event_display image; knative/ does not
            continue
        assert service_facts(ours[name]) == service_facts(theirs[name]), name


def test_webhook_ingest_min_scale_agrees() -> None:
    key = "autoscaling.knative.dev/min-scale"
    ours, theirs = by_name(render(), "Service"), by_name(knative_docs(), "Service")
    assert ours["webhook-ingest"]["spec"]["template"]["metadata"]["annotations"][key] == \
        theirs["webhook-ingest"]["spec"]["template"]["metadata"]["annotations"][key] == "1"
