"""NetworkPolicies: deny everything in the stack's namespace, then allow exactly the flows the stack needs.

The flows are the rows of the one table (``components.wiring.flows.table``): who talks to
whom on which port, each with the reason. Policies are generated from them, one per
component, holding both the component's ingress (rows that end at it) and egress (rows that
start at it), so every flow is opened on both sides of the default deny.

Pods are matched by ``app.kubernetes.io/name`` alone: the Prometheus Operator
sets that label on the Prometheus and Alertmanager pods it creates, while it
replaces ``app.kubernetes.io/instance``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.kit.labels import NAME_LABEL, PART_OF, STACK_LABEL
from components.settings import Settings
from components.wiring.flows import TCP, UDP, Cidrs, Flow, Namespaces, Peer, Pods, table

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # set by Kubernetes on every namespace


def flows(settings: Settings) -> list[Flow]:
    """The rows of the table that open something: those whose peers have addresses in this stack."""
    return [flow for flow in table(settings) if _has_addresses(flow.source) and _has_addresses(flow.destination)]


def _has_addresses(peer: Peer) -> bool:
    if isinstance(peer, Namespaces):
        return bool(peer.names)
    if isinstance(peer, Cidrs):
        return bool(peer.cidrs)
    return True


def _peers(peer: Peer) -> list[dict[str, Any]]:
    if isinstance(peer, Pods):
        return [{"podSelector": {"matchLabels": {NAME_LABEL: peer.name}}}]
    if isinstance(peer, Namespaces):
        return [{"namespaceSelector": {"matchExpressions": [{"key": NAMESPACE_NAME_LABEL, "operator": "In", "values": sorted(peer.names)}]}}]
    return [{"ipBlock": {"cidr": cidr}} for cidr in peer.cidrs]


def _rule(direction: str, peer: Peer, ports: Sequence[tuple[int, str]]) -> dict[str, Any]:
    rule: dict[str, Any] = {direction: _peers(peer)}
    if ports:
        rule["ports"] = [{"port": port, "protocol": protocol} for port, protocol in ports]
    return rule


def _dns_rules(settings: Settings) -> list[dict[str, Any]]:
    """Egress on ``network.dnsPorts``, UDP and TCP, to the resolvers' pods (any pod of ``network.dnsNamespaces``: no
    add-on label is assumed) and to ``network.dnsCidrs``, for resolvers that are not pods there (NodeLocal DNSCache
    on the host network). The ports are the resolver pods' own: a policy sees the packet after the Service's DNAT."""
    network = settings.network
    dns = [(port, protocol) for port in network.dns_ports for protocol in (UDP, TCP)]
    rules = []
    if network.dns_namespaces:
        rules.append(_rule("to", Namespaces(network.dns_namespaces), dns))
    if network.dns_cidrs:
        rules.append(_rule("to", Cidrs(network.dns_cidrs, "DNS resolvers"), dns))
    return rules


def policy_specs(settings: Settings) -> dict[str, dict[str, Any]]:
    """metadata.name -> NetworkPolicy spec, for every policy of the stack."""
    everything: dict[str, Any] = {"podSelector": {}}
    specs: dict[str, dict[str, Any]] = {
        "default-deny": {**everything, "policyTypes": ["Ingress", "Egress"]},
        "allow-dns": {**everything, "policyTypes": ["Egress"], "egress": _dns_rules(settings)},
    }
    all_flows = flows(settings)
    components = sorted({peer.name for flow in all_flows for peer in (flow.source, flow.destination) if isinstance(peer, Pods)})
    for component in components:
        ingress = [_rule("from", f.source, f.ports) for f in all_flows if f.destination == Pods(component)]
        egress = [_rule("to", f.destination, f.ports) for f in all_flows if f.source == Pods(component)]
        spec: dict[str, Any] = {"podSelector": {"matchLabels": {NAME_LABEL: component}}, "policyTypes": []}
        if ingress:
            spec["policyTypes"].append("Ingress")
            spec["ingress"] = _dedupe(ingress)
        if egress:
            spec["policyTypes"].append("Egress")
            spec["egress"] = _dedupe(egress)
        specs[component] = spec
    return specs


def _dedupe(rules: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    # Flows that differ only in their reason open the same rule once.
    seen: list[dict[str, Any]] = []
    for rule in rules:
        if rule not in seen:
            seen.append(rule)
    return seen


class NetworkPolicies(pulumi.ComponentResource):
    def __init__(self, settings: Settings, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("observability:security:NetworkPolicies", "network-policies", None, opts)
        labels = {
            "app.kubernetes.io/part-of": PART_OF,
            "app.kubernetes.io/managed-by": "pulumi",
            "app.kubernetes.io/component": "network-policy",
            "environment": settings.environment,
            STACK_LABEL: settings.stack,
        }
        if settings.network.policies:
            for name, spec in policy_specs(settings).items():
                k8s.networking.v1.NetworkPolicy(
                    f"netpol-{name}",
                    metadata={"name": name, "namespace": settings.namespace, "labels": labels},
                    spec=spec,
                    opts=pulumi.ResourceOptions(parent=self),
                )
        self.register_outputs({})
