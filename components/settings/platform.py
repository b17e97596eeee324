"""Settings of the platform the stack runs on: environment, namespace, cluster, availability and network."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from components.settings.types import DNS_LABEL_FORM, Count, DnsLabel, Section, matching, whole_number

Environment = Literal["dev", "staging", "prod"]

# Namespaces the cluster's own components live in: the stack's default-deny policies would cut them off.
PROTECTED_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")


def _own_namespace(value: str) -> str:
    if value in PROTECTED_NAMESPACES:
        raise ValueError(
            f"belongs to the cluster itself (its default-deny NetworkPolicies would cut off the cluster's own components); "
            f"accepted form: {DNS_LABEL_FORM}, not one of {', '.join(PROTECTED_NAMESPACES)}"
        )
    return value


StackNamespace = Annotated[DnsLabel, AfterValidator(_own_namespace)]

CIDR_FORM = "an IPv4 or IPv6 network in CIDR notation, e.g. 10.0.0.0/8 or 0.0.0.0/0"


def _cidr(value: str) -> str:
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError:
        raise ValueError(f"not a network; accepted form: {CIDR_FORM}") from None
    return str(network)


Cidr = Annotated[str, AfterValidator(_cidr)]
NetworkPort = Annotated[int, BeforeValidator(whole_number(1, 65535))]
# required: never two replicas of a component in one domain (pods stay Pending
# rather than share); preferred: spread when the scheduler can; off: no rule.
SpreadMode = Annotated[
    Literal["required", "preferred", "off"],
    # YAML 1.1 reads a bare `off` as false; take it as the word that was meant.
    BeforeValidator(lambda value: "off" if value is False else value),
]

CLUSTER_ID_FORM = (
    "a UUID: the UID of the cluster's kube-system namespace "
    "(kubectl --context CONTEXT get namespace kube-system -o jsonpath='{.metadata.uid}')"
)
_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


_cluster_id = matching(_UUID_RE, "a cluster ID", CLUSTER_ID_FORM)


class KubernetesSettings(Section):
    """The cluster this stack belongs to; components/cluster.py refuses any other before a change."""

    # kubeconfig context of the stack's explicit provider; unset: the kubeconfig's current context.
    context: Annotated[str, Field(min_length=1)] | None = None
    # The kube-system namespace's UID: the cluster's identity (a context name is only a local alias).
    cluster_id: Annotated[str, AfterValidator(_cluster_id)] | None = None
    # Only for a control plane with no nodes (the deploy test's local API server, docs/deploy-test.md):
    # annotate every object `pulumi.com/skipAwait: "true"` so pulumi-kubernetes does not wait for pods,
    # endpoints or bound claims that such a cluster never produces. Refused in prod.
    skip_readiness_waits: bool = False


class AvailabilitySettings(Section):
    """Disruption budgets and spreading of every component that runs more than one replica."""

    # Voluntary disruptions (node drains) may take down at most this many pods of one component.
    max_unavailable: Count
    node_spread: SpreadMode
    zone_spread: SpreadMode


# network.dnsNamespace (one namespace) before issue 22; read as dnsNamespaces: [its value], so a stack file
# written for an earlier release keeps its meaning.
LEGACY_DNS_NAMESPACE = "dnsNamespace"
DEFAULT_DNS_NAMESPACES = ["kube-system"]


class NetworkSettings(Section):
    """NetworkPolicies: default deny in the stack's namespace, then only the flows the stack needs."""

    @model_validator(mode="before")
    @classmethod
    def _legacy_dns_namespace(cls, data: Any) -> Any:
        if not isinstance(data, dict) or LEGACY_DNS_NAMESPACE not in data:
            return data
        data = dict(data)
        legacy = data.pop(LEGACY_DNS_NAMESPACE)
        current = data.get("dnsNamespaces", DEFAULT_DNS_NAMESPACES)
        if list(current or []) not in (DEFAULT_DNS_NAMESPACES, [legacy]):
            raise ValueError(
                f"network.{LEGACY_DNS_NAMESPACE} ({legacy!r}) and network.dnsNamespaces ({list(current)!r}) are both set; "
                f"accepted form: only dnsNamespaces, a list of namespace names (dnsNamespace is its earlier, single-valued name)"
            )
        data["dnsNamespaces"] = [legacy]
        return data

    policies: bool
    # Namespaces whose workloads send OTLP to Alloy, push to the Pushgateway and are scraped.
    monitored_namespaces: tuple[DnsLabel, ...]
    # Namespaces of the ingress controller(s) that expose Grafana.
    ingress_namespaces: tuple[DnsLabel, ...]
    # Where Grafana's users come from when the ingress controller is not a pod of ingress_namespaces: a
    # controller on the host network, or a cloud load balancer that sends to pod IPs. Empty (default): none.
    ingress_cidrs: tuple[Cidr, ...] = ()
    # Namespaces whose pods answer DNS queries (kube-system's CoreDNS; openshift-dns on OpenShift).
    dns_namespaces: tuple[DnsLabel, ...]
    # The ports the resolvers listen on: policies see the port after the DNS Service's DNAT, i.e. the
    # resolver pods' own port (53 with CoreDNS as most distributions run it; 5353 for OpenShift's
    # dns-default; 1053 for a CoreDNS run as non-root). docs/operators-guide.md says how to read it.
    dns_ports: tuple[NetworkPort, ...]
    # Where pods send DNS queries when the resolver is not a pod of dns_namespaces: NodeLocal DNSCache
    # listens on a link-local address on each node's host network (169.254.20.10 by default), which
    # a namespace selector never matches. Empty (default): only dns_namespaces. docs/security.md.
    dns_cidrs: tuple[Cidr, ...] = ()
    # Where the API server, the nodes (kubelet, node-exporter) and the alert receivers
    # (Slack, PagerDuty, SMTP) live; narrow them per cluster where the ranges are known.
    api_server_cidrs: tuple[Cidr, ...]
    # The API server's own port: policies see it after the kubernetes Service's DNAT (6443 with kubeadm,
    # k3s and kind; 443 on the large managed platforms; 8443 with minikube).
    api_server_ports: tuple[NetworkPort, ...]
    node_cidrs: tuple[Cidr, ...]
    receiver_cidrs: tuple[Cidr, ...]
    # Where Loki's and Tempo's object store is, when they use one.
    object_storage_cidrs: tuple[Cidr, ...]
