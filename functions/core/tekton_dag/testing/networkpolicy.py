"""Kubernetes NetworkPolicy ingress, evaluated for one TCP connection as the API defines it.

Rules, from kubernetes.io/docs/concepts/services-networking/network-policies ("Behavior of to and
from selectors") and the field docs of k8s.io/api networking/v1 types.go:

- LabelSelector: every matchLabels pair and every matchExpressions requirement holds; an empty
  selector selects everything (kubernetes.io/docs/concepts/overview/working-with-objects/labels).
- NetworkPolicyIngressRule: "The traffic must match both ports and from". ``from``: peers are
  ORed; "If this field is empty or missing, this rule matches all sources". ``ports``: ORed; "If
  this field is empty or missing, this rule matches all ports".
- NetworkPolicyPeer: namespaceSelector and podSelector in the SAME peer are ANDed; a podSelector
  alone means the policy's own namespace.
- NetworkPolicyPort: protocol defaults to TCP; no ``port`` matches every port; ``endPort`` makes
  ``port``..``endPort`` a range.

Not modelled (an assertion says so rather than guessing): ipBlock peers and named ports. Egress,
other policies selecting the same pod (they only add), and any CNI's enforcement are out of scope.
"""

from __future__ import annotations

from typing import Any


def selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
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


def _source_matches(rule: dict[str, Any], namespace: str, source_ns: str, ns_labels: dict[str, str],
                    pod_labels: dict[str, str]) -> bool:
    peers = rule.get("from")
    if not peers:
        return True
    for peer in peers:
        assert "ipBlock" not in peer, "ipBlock peers are not modelled"
        # A podSelector alone means the policy's own namespace.
        ns_ok = selects(peer["namespaceSelector"], ns_labels) if "namespaceSelector" in peer else source_ns == namespace
        if ns_ok and selects(peer.get("podSelector"), pod_labels):
            return True
    return False


def _port_matches(rule: dict[str, Any], port: int) -> bool:
    ports = rule.get("ports")
    if not ports:
        return True
    for entry in ports:
        if entry.get("protocol", "TCP") != "TCP":
            continue
        if "port" not in entry:
            return True
        assert isinstance(entry["port"], int), "named ports are not modelled"
        if entry["port"] <= port <= entry.get("endPort", entry["port"]):
            return True
    return False


def admits(policy: dict[str, Any], source_ns: str, ns_labels: dict[str, str], pod_labels: dict[str, str],
           port: int) -> bool:
    """Whether an ingress rule of ``policy`` admits a TCP connection to ``port`` of a selected pod
    from a pod with ``pod_labels`` in namespace ``source_ns`` (labelled ``ns_labels``)."""
    namespace = policy["metadata"]["namespace"]
    return any(
        _source_matches(rule, namespace, source_ns, ns_labels, pod_labels) and _port_matches(rule, port)
        for rule in policy["spec"].get("ingress") or []
    )
