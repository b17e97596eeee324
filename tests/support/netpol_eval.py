"""A small evaluator of Kubernetes NetworkPolicy semantics over rendered manifests.

A connection is allowed when the source's egress and the destination's ingress
both allow it. A pod selected by no policy of a direction is open in that
direction; a selected pod accepts only what one of its policies' rules allows.
ipBlock peers match addresses outside the pod network (hosts, the Internet),
which is what this stack uses them for.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


@dataclass(frozen=True)
class Pod:
    namespace: str
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Host:
    """An address outside the pod network: a node (host-network pods), the API server, the Internet."""

    ip: str


Endpoint = Pod | Host


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """LabelSelector semantics: an empty selector matches everything."""
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def _namespace_labels(name: str) -> dict[str, str]:
    return {NAMESPACE_NAME_LABEL: name}


def _peer_matches(peer: Mapping[str, Any], policy_namespace: str, other: Endpoint) -> bool:
    if "ipBlock" in peer:
        if not isinstance(other, Host):
            return False
        address = ipaddress.ip_address(other.ip)
        block = peer["ipBlock"]
        if address not in ipaddress.ip_network(block["cidr"]):
            return False
        return not any(address in ipaddress.ip_network(excluded) for excluded in block.get("except") or [])
    if not isinstance(other, Pod):
        return False
    if "namespaceSelector" in peer:
        if not selector_matches(peer["namespaceSelector"], _namespace_labels(other.namespace)):
            return False
    elif other.namespace != policy_namespace:
        return False
    return selector_matches(peer.get("podSelector"), other.labels)


def _port_matches(rule_ports: Sequence[Mapping[str, Any]] | None, port: int, protocol: str) -> bool:
    if not rule_ports:
        return True
    for entry in rule_ports:
        if entry.get("protocol", "TCP") != protocol:
            continue
        number = entry.get("port")
        if number is None:
            return True
        if not isinstance(number, int):
            raise AssertionError(f"named port {number!r}: the stack's policies use port numbers")
        if number <= port <= entry.get("endPort", number):
            return True
    return False


def _direction_allows(policies: Sequence[Mapping[str, Any]], pod: Pod, other: Endpoint, port: int, protocol: str, direction: str) -> bool:
    policy_type, rules_key, peers_key = ("Ingress", "ingress", "from") if direction == "ingress" else ("Egress", "egress", "to")
    selecting = [
        p
        for p in policies
        if p["metadata"]["namespace"] == pod.namespace
        and policy_type in p["spec"].get("policyTypes", ["Ingress"])
        and selector_matches(p["spec"].get("podSelector"), pod.labels)
    ]
    if not selecting:
        return True
    for policy in selecting:
        for rule in policy["spec"].get(rules_key) or []:
            peers = rule.get(peers_key)
            peer_ok = not peers or any(_peer_matches(peer, pod.namespace, other) for peer in peers)
            if peer_ok and _port_matches(rule.get("ports"), port, protocol):
                return True
    return False


def allowed(policies: Sequence[Mapping[str, Any]], source: Endpoint, destination: Endpoint, port: int, protocol: str = "TCP") -> bool:
    """Whether ``source`` may open a connection to ``destination`` on ``port``."""
    if isinstance(source, Pod) and not _direction_allows(policies, source, destination, port, protocol, "egress"):
        return False
    return not isinstance(destination, Pod) or _direction_allows(policies, destination, source, port, protocol, "ingress")
