"""Kubernetes NetworkPolicy ingress, evaluated for one TCP connection as the API defines it.

Rules, from kubernetes.io/docs/concepts/services-networking/network-policies ("Behavior of to and
from selectors", "Targeting a range of ports") and the field docs of k8s.io/api networking/v1
types.go:

- LabelSelector: every matchLabels pair and every matchExpressions requirement holds; an empty
  selector selects everything (kubernetes.io/docs/concepts/overview/working-with-objects/labels).
- NetworkPolicyIngressRule: "The traffic must match both ports and from". ``from``: peers are
  ORed; "If this field is empty or missing, this rule matches all sources". ``ports``: ORed; "If
  this field is empty or missing, this rule matches all ports".
- NetworkPolicyPeer: namespaceSelector and podSelector in the SAME peer are ANDed; a podSelector
  alone means the policy's own namespace. An ``ipBlock`` peer (never with a selector: the API
  server refuses "may not specify both ipBlock and another peer", pkg/apis/networking/validation
  ValidateNetworkPolicyPeer) matches by the source's IP, not its labels: IPBlock "describes a
  particular CIDR ... that is allowed to the pods matched by a NetworkPolicySpec's podSelector";
  ``except`` "is a slice of CIDRs that should not be included within an IPBlock" (types.go IPBlock).
- NetworkPolicyPort: protocol defaults to TCP; no ``port`` matches every port; ``endPort`` makes
  ``port``..``endPort`` a range. ``port`` "can either be a numerical or named port on a pod"
  (types.go NetworkPolicyPort): a name matches a connection to the selected pod's container port of
  that name (``ContainerPort.name``), whatever its number; ``endPort`` never goes with a name
  (ValidateNetworkPolicyPort).

The source IP is the one the policy sees: the docs warn that ipBlock is for cluster-external IPs
and that ingress paths may rewrite source IPs ("Behavior of to and from selectors"); the model takes
the IP the caller gives, and asserts rather than guesses when an ipBlock must be evaluated without
one. Egress, other policies selecting the same pod (they only add), and any CNI's enforcement are
out of scope.
"""

from __future__ import annotations

import ipaddress
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


def in_ip_block(block: dict[str, Any], ip: str) -> bool:
    """Whether ``ip`` is inside ``block.cidr`` and outside each of ``block.except``; an address of
    the other family is in neither."""
    address = ipaddress.ip_address(ip)

    def holds(cidr: str) -> bool:
        network = ipaddress.ip_network(cidr)
        return address.version == network.version and address in network

    return holds(block["cidr"]) and not any(holds(cidr) for cidr in block.get("except") or [])


def _source_matches(rule: dict[str, Any], namespace: str, source_ns: str, ns_labels: dict[str, str],
                    pod_labels: dict[str, str], source_ip: str | None) -> bool:
    peers = rule.get("from")
    if not peers:
        return True
    for peer in peers:
        if "ipBlock" in peer:
            assert source_ip is not None, "an ipBlock peer needs the source's IP (source_ip)"
            if in_ip_block(peer["ipBlock"], source_ip):
                return True
            continue
        # A podSelector alone means the policy's own namespace.
        ns_ok = selects(peer["namespaceSelector"], ns_labels) if "namespaceSelector" in peer else source_ns == namespace
        if ns_ok and selects(peer.get("podSelector"), pod_labels):
            return True
    return False


def _port_matches(rule: dict[str, Any], port: int, port_name: str | None) -> bool:
    ports = rule.get("ports")
    if not ports:
        return True
    for entry in ports:
        if entry.get("protocol", "TCP") != "TCP":
            continue
        if "port" not in entry:
            return True
        if isinstance(entry["port"], str):  # a named port: the name of the container port reached
            if entry["port"] == port_name:
                return True
        elif entry["port"] <= port <= entry.get("endPort", entry["port"]):
            return True
    return False


def admits(policy: dict[str, Any], source_ns: str, ns_labels: dict[str, str], pod_labels: dict[str, str],
           port: int, *, port_name: str | None = None, source_ip: str | None = None) -> bool:
    """Whether an ingress rule of ``policy`` admits a TCP connection to ``port`` of a selected pod
    (``port_name``: the name of that container port, if it has one) from a pod with ``pod_labels``
    in namespace ``source_ns`` (labelled ``ns_labels``) whose IP is ``source_ip``."""
    namespace = policy["metadata"]["namespace"]
    return any(
        _source_matches(rule, namespace, source_ns, ns_labels, pod_labels, source_ip)
        and _port_matches(rule, port, port_name)
        for rule in policy["spec"].get("ingress") or []
    )
