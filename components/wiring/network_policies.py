"""NetworkPolicies: deny everything in the stack's namespace, then allow exactly the flows the stack needs.

The flows are data (``flows``): who talks to whom on which port, each with the
reason. Policies are generated from them, one per component, holding both the
component's ingress (flows that end at it) and egress (flows that start at it),
so every flow is opened on both sides of the default deny.

Pods are matched by ``app.kubernetes.io/name`` alone: the Prometheus Operator
sets that label on the Prometheus and Alertmanager pods it creates, while it
replaces ``app.kubernetes.io/instance``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.kit.labels import PART_OF, STACK_LABEL
from components.logs.alloy_config import SAMPLING_PORT as ALLOY_SAMPLING_PORT
from components.settings import Settings
from components.wiring import endpoints
from components.wiring import flows as data_flows

NAME_LABEL = "app.kubernetes.io/name"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # set by Kubernetes on every namespace

# The app.kubernetes.io/name of each component's pods.
PROMETHEUS = "prometheus"
ALERTMANAGER = "alertmanager"
PUSHGATEWAY = "pushgateway"
OPERATOR = "prometheus-operator"
KUBE_STATE_METRICS = "kube-state-metrics"
MONGODB_EXPORTER = "mongodb-exporter"
BLACKBOX_EXPORTER = "blackbox-exporter"
GRAFANA = "grafana"
LOKI = "loki"
TEMPO = "tempo"
ALLOY = "alloy"

TCP = "TCP"
UDP = "UDP"


@dataclass(frozen=True)
class Pods:
    """Pods of one component of this stack, in the stack's namespace."""

    name: str


@dataclass(frozen=True)
class Namespaces:
    """Every pod in the named namespaces."""

    names: tuple[str, ...]


@dataclass(frozen=True)
class Cidrs:
    """Addresses outside the pod network: nodes, the API server, the Internet."""

    cidrs: tuple[str, ...]
    label: str  # what the addresses are, for the flow's description


Peer = Pods | Namespaces | Cidrs


@dataclass(frozen=True)
class Flow:
    source: Peer
    destination: Peer
    ports: tuple[tuple[int, str], ...]  # (port, protocol); empty: every port
    why: str


def _tcp(*ports: int) -> tuple[tuple[int, str], ...]:
    return tuple((port, TCP) for port in ports)


# What Prometheus scrapes inside the namespace, and on which ports.
SCRAPED_IN_NAMESPACE: dict[str, tuple[int, ...]] = {
    PROMETHEUS: (endpoints.PROMETHEUS.port,),
    ALERTMANAGER: (endpoints.ALERTMANAGER.port,),
    PUSHGATEWAY: (endpoints.PUSHGATEWAY.port,),
    OPERATOR: (endpoints.OPERATOR.port,),
    KUBE_STATE_METRICS: (endpoints.KUBE_STATE_METRICS.port, endpoints.KUBE_STATE_METRICS_TELEMETRY.port),
    BLACKBOX_EXPORTER: (endpoints.BLACKBOX_EXPORTER.port,),
    MONGODB_EXPORTER: (endpoints.MONGODB_EXPORTER.port,),
    GRAFANA: (endpoints.GRAFANA.port,),
    LOKI: (endpoints.LOKI.port,),
    TEMPO: (endpoints.TEMPO.port,),
    ALLOY: (endpoints.ALLOY.port,),
}

# Health endpoints the blackbox exporter probes from outside each component.
PROBED_IN_NAMESPACE: dict[str, int] = {
    PROMETHEUS: endpoints.PROMETHEUS.port,
    ALERTMANAGER: endpoints.ALERTMANAGER.port,
    PUSHGATEWAY: endpoints.PUSHGATEWAY.port,
    GRAFANA: endpoints.GRAFANA.port,
    LOKI: endpoints.LOKI.port,
    TEMPO: endpoints.TEMPO.port,
    ALLOY: endpoints.ALLOY.port,
}

# Components that call the Kubernetes API (discovery, state, reconciling).
API_CLIENTS = (PROMETHEUS, OPERATOR, KUBE_STATE_METRICS, ALLOY)


def flows(settings: Settings) -> list[Flow]:
    """Every flow the stack needs, beyond DNS (which every pod gets)."""
    network = settings.network
    api_server = Cidrs(network.api_server_cidrs, "the API server")
    nodes = Cidrs(network.node_cidrs, "the nodes")
    receivers = Cidrs(network.receiver_cidrs, "alert receivers")
    monitored = Namespaces(network.monitored_namespaces)
    ingress = Namespaces(network.ingress_namespaces)
    otlp = _tcp(endpoints.OTLP_GRPC_PORT, endpoints.OTLP_HTTP_PORT)

    result = [
        Flow(Pods(PROMETHEUS), Pods(target), _tcp(*ports), f"Prometheus scrapes {target}")
        for target, ports in SCRAPED_IN_NAMESPACE.items()
    ]
    result += [
        Flow(Pods(PROMETHEUS), nodes, _tcp(settings.node_exporter.port), "Prometheus scrapes node-exporter on the host network"),
        Flow(Pods(PROMETHEUS), nodes, _tcp(endpoints.KUBELET_PORT), "Prometheus scrapes the kubelet and cAdvisor"),
        Flow(Pods(PROMETHEUS), monitored, (), "Prometheus scrapes the monitored systems and their exporters on their own ports"),
        Flow(Pods(BLACKBOX_EXPORTER), monitored, (), "the blackbox exporter probes the monitored systems"),
        Flow(Pods(MONGODB_EXPORTER), monitored, (), "the MongoDB exporters read the monitored MongoDB servers"),
        Flow(monitored, Pods(ALLOY), otlp, "the monitored systems send traces over OTLP"),
        Flow(monitored, Pods(PUSHGATEWAY), _tcp(endpoints.PUSHGATEWAY.port), "batch jobs push their metrics"),
        Flow(Pods(ALLOY), Pods(ALLOY), _tcp(ALLOY_SAMPLING_PORT), "Alloy routes each trace's spans to one instance for tail sampling"),
        Flow(ingress, Pods(GRAFANA), _tcp(endpoints.GRAFANA.port), "users reach Grafana through the ingress controller"),
        Flow(Pods(ALERTMANAGER), Pods(ALERTMANAGER), ((endpoints.ALERTMANAGER_CLUSTER_PORT, TCP), (endpoints.ALERTMANAGER_CLUSTER_PORT, UDP)),
             "Alertmanager replicas gossip silences and notification state"),
        Flow(Pods(ALERTMANAGER), receivers, _tcp(endpoints.HTTPS_PORT, endpoints.SMTP_SUBMISSION_PORT), "Alertmanager notifies Slack, PagerDuty and e-mail"),
    ]
    result += [
        Flow(Pods(BLACKBOX_EXPORTER), Pods(target), _tcp(port), f"the blackbox exporter probes {target}'s health endpoint")
        for target, port in PROBED_IN_NAMESPACE.items()
    ]
    # The data flows between the stack's components, from their one table.
    result += [Flow(Pods(f.producer), Pods(f.consumer), _tcp(f.port), f"{f.name}: {f.why}") for f in data_flows.flows(settings)]
    result += _object_storage_flows(settings)
    result += [Flow(Pods(client), api_server, _tcp(*endpoints.API_SERVER_PORTS), f"{client} calls the Kubernetes API") for client in API_CLIENTS]
    return [flow for flow in result if _has_addresses(flow.source) and _has_addresses(flow.destination)]


def _object_storage_flows(settings: Settings) -> list[Flow]:
    """Loki and Tempo reach their bucket (and, with workload identity, the cloud's token service) over HTTPS."""
    result = []
    store = Cidrs(settings.network.object_storage_cidrs, "the object store")
    for component, storage in ((LOKI, settings.loki.object_storage), (TEMPO, settings.tempo.object_storage)):
        if storage is None:
            continue
        ports = {endpoints.HTTPS_PORT}
        if storage.endpoint and ":" in storage.endpoint:
            ports.add(int(storage.endpoint.rsplit(":", 1)[1]))
        elif storage.insecure:
            ports.add(80)
        result.append(Flow(Pods(component), store, _tcp(*sorted(ports)), f"{component} reads and writes its bucket"))
    return result


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


def policy_specs(settings: Settings) -> dict[str, dict[str, Any]]:
    """metadata.name -> NetworkPolicy spec, for every policy of the stack."""
    everything: dict[str, Any] = {"podSelector": {}}
    dns = [(endpoints.DNS_PORT, UDP), (endpoints.DNS_PORT, TCP)]
    specs: dict[str, dict[str, Any]] = {
        "default-deny": {**everything, "policyTypes": ["Ingress", "Egress"]},
        "allow-dns": {**everything, "policyTypes": ["Egress"], "egress": [_rule("to", Namespaces((settings.network.dns_namespace,)), dns)]},
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
