"""The typed model of one stack: environment, namespace and one section per component.

Every section rejects unknown keys, so a typo in a stack file fails the run
instead of being silently ignored. Cross-field rules that need numbers from
several fields live in ``checks``.
"""

from __future__ import annotations

import ipaddress
import re
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field

from components.kit.context import StackContext
from components.rules.catalog import FORBIDDEN_LABELS
from components.settings.errors import NAMESPACE
from components.settings.storage_backend import LokiObjectStorage, ObjectStorage
from components.settings.types import (
    MAX_COUNT,
    ByteSize,
    Count,
    Duration,
    Image,
    ObjectName,
    Percent,
    Resources,
    Section,
    Storage,
    Workload,
    ZeroOrDuration,
    decimal_number,
    whole_number,
)
from components.wiring.endpoints import KUBELET_PORT, NODE_EXPORTER

Environment = Literal["dev", "staging", "prod"]
DNS_LABEL_FORM = "a DNS-1123 label: lower-case letters, digits and '-', starting with a letter, at most 63 characters"
_DNS_LABEL_RE = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?\Z", re.ASCII)


def _dns_label(value: str) -> str:
    if not _DNS_LABEL_RE.match(value):
        raise ValueError(f"not a valid name; accepted form: {DNS_LABEL_FORM}")
    return value


DnsLabel = Annotated[str, AfterValidator(_dns_label)]

# Namespaces the cluster's own components live in: the stack's default-deny policies would cut them off.
PROTECTED_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")


def _own_namespace(value: str) -> str:
    if value in PROTECTED_NAMESPACES:
        raise ValueError(
            f"belongs to the cluster itself (its default-deny NetworkPolicies would cut off the cluster's own components); "
            f"accepted form: {DNS_LABEL_FORM}, not one of {', '.join(PROTECTED_NAMESPACES)}"
        )
    return value


StackNamespace = Annotated[str, AfterValidator(_dns_label), AfterValidator(_own_namespace)]

METRIC_LABEL_FORM = "a Prometheus label name: letters, digits and '_', not starting with a digit"
_METRIC_LABEL_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z", re.ASCII)
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+\Z", re.ASCII)
_HOST_PORT_RE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?:(\d{1,5})\Z", re.ASCII)
_ADDRESS_RE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?(:\d{1,5})?\Z", re.ASCII)


def _metric_label(value: str) -> str:
    if not _METRIC_LABEL_RE.match(value):
        raise ValueError(f"not a label name; accepted form: {METRIC_LABEL_FORM}")
    if value in FORBIDDEN_LABELS:
        forbidden = ", ".join(sorted(FORBIDDEN_LABELS))
        raise ValueError(f"is a forbidden high-cardinality label (seed 004); accepted form: {METRIC_LABEL_FORM}, not one of {forbidden}")
    return value


def _slack_channel(value: str) -> str:
    if not re.match(r"^#[a-z0-9][a-z0-9._-]{0,79}\Z", value):
        raise ValueError("not a Slack channel; accepted form: '#' then lower-case letters, digits, '.', '_' or '-' (e.g. '#monitoring')")
    return value


def _email(value: str) -> str:
    if not _EMAIL_RE.match(value):
        raise ValueError("not an e-mail address; accepted form: name@domain (e.g. oncall@example.org)")
    return value


def _host_port(value: str) -> str:
    match = _HOST_PORT_RE.match(value)
    if not match or not 0 < int(match.group(2)) < 65536:
        raise ValueError("not host:port; accepted form: a host name and a port (e.g. smtp.example.org:587)")
    return value


def _host_optional_port(value: str) -> str:
    if not _ADDRESS_RE.match(value) or (":" in value and not 0 < int(value.rsplit(":", 1)[1]) < 65536):
        raise ValueError("not an address; accepted form: host or host:port (e.g. rabbitmq.messaging.svc:15692)")
    return value


def _namespaced_name(value: str) -> str:
    namespace, _, name = value.partition("/")
    if not (_DNS_LABEL_RE.match(namespace) and _DNS_LABEL_RE.match(name)):
        raise ValueError("not namespace/name; accepted form: two DNS-1123 labels joined by '/' (e.g. kube-system/kubelet)")
    return value


MetricLabel = Annotated[str, AfterValidator(_metric_label)]
PositiveInt = Count


class ScrapeLimits(Section):
    """Cardinality bounds Prometheus enforces on every scrape (enforced*: monitors cannot raise them)."""

    sample_limit: PositiveInt
    target_limit: PositiveInt
    label_limit: PositiveInt
    label_name_length_limit: PositiveInt
    label_value_length_limit: PositiveInt


CIDR_FORM = "an IPv4 or IPv6 network in CIDR notation, e.g. 10.0.0.0/8 or 0.0.0.0/0"


def _cidr(value: str) -> str:
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError:
        raise ValueError(f"not a network; accepted form: {CIDR_FORM}") from None
    return str(network)


Cidr = Annotated[str, AfterValidator(_cidr)]
# required: never two replicas of a component in one domain (pods stay Pending
# rather than share); preferred: spread when the scheduler can; off: no rule.
SpreadMode = Annotated[
    Literal["required", "preferred", "off"],
    # YAML 1.1 reads a bare `off` as false; take it as the word that was meant.
    BeforeValidator(lambda value: "off" if value is False else value),
]


class PrometheusSettings(Workload):
    retention: Duration
    retention_size: ByteSize
    storage: Storage
    scrape_interval: Duration
    evaluation_interval: Duration
    wal_compression: bool
    scrape_limits: ScrapeLimits


class AlertmanagerSettings(Workload):
    retention: Duration
    storage: Storage


class SlackSettings(Section):
    channel: Annotated[str, AfterValidator(_slack_channel)]


class EmailSettings(Section):
    to: Annotated[str, AfterValidator(_email)]
    sender: Annotated[str, AfterValidator(_email)] = Field(alias="from")
    smarthost: Annotated[str, AfterValidator(_host_port)]
    # When set, smtpPassword (a Pulumi secret) is required.
    auth_username: str | None = None
    require_tls: bool = True


class AlertingSettings(Section):
    """Alertmanager routing: severities to receivers (DESIGN.md), grouping and timing."""

    group_by: tuple[MetricLabel, ...]
    # 0s sends a group's first notification at once; Alertmanager refuses a zero
    # group_interval or repeat_interval (config.go), so those stay above zero.
    group_wait: ZeroOrDuration
    group_interval: Duration
    repeat_interval: Duration
    # critical and emergency page through PagerDuty; never in dev (checks.py).
    paging: bool
    slack: SlackSettings | None = None
    email: EmailSettings | None = None


class PushgatewaySettings(Workload):
    storage: Storage
    persistence_interval: Duration


class OperatorSettings(Workload):
    # False: use a Prometheus Operator (and its CRDs) already running in the cluster.
    install: bool
    config_reloader_image: Image
    config_reloader_resources: Resources
    # namespace/name of the Service the operator keeps pointing at every kubelet.
    kubelet_service: Annotated[str, AfterValidator(_namespaced_name)]


ServiceKind = Literal["mongodb", "rabbitmq", "qdrant", "ollama"]


class ServiceTarget(Section):
    """One monitored service: MongoDB through an exporter, RabbitMQ and Qdrant on their own metrics endpoints,
    Ollama (which exports no metrics) through a blackbox probe of its API."""

    name: DnsLabel
    kind: ServiceKind
    # host or host:port; the port defaults to the kind's (components/wiring/endpoints.py).
    address: Annotated[str, AfterValidator(_host_optional_port)]


class ServiceExportersSettings(Section):
    # The MongoDB exporter deployed per mongodb target (seed 004: 0.25 CPU / 256 MiB).
    mongodb_exporter: Workload
    # When set, mongodbExporterPassword (a Pulumi secret) is required.
    mongodb_username: str | None = None
    targets: tuple[ServiceTarget, ...] = ()


class ExporterSettings(Workload):
    pass


# Ports below 1024 need a capability the hardened containers drop; the kubelet owns 10250 on every node.
NODE_PORT_FORM = "a port from 1024 to 65535 that is free on every node, not the kubelet's 10250"


def _node_port(value: int) -> int:
    if value == KUBELET_PORT:
        raise ValueError(f"is the kubelet's port; accepted form: {NODE_PORT_FORM}")
    return value


class NodeExporterSettings(ExporterSettings):
    # node-exporter listens on the node's network (hostNetwork): where 9100 is taken, pick another.
    port: Annotated[int, BeforeValidator(whole_number(1024, 65535, ", free on every node")), AfterValidator(_node_port)] = NODE_EXPORTER.port


PositiveNumber = Annotated[Decimal, BeforeValidator(decimal_number(Decimal(0), Decimal(MAX_COUNT)))]
LABEL_NAME_FORM = "a Kubernetes label key such as app.kubernetes.io/name or app"
_LABEL_KEY_RE = re.compile(r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?\Z", re.ASCII)
URL_FORM = "an absolute http(s) URL such as https://grafana.example.com or https://myorg.grafana.net"
_URL_RE = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?(/[^\s]*)?\Z", re.ASCII)
HOST_FORM = "a DNS host name such as grafana.example.com"
_HOST_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\Z", re.ASCII)


def _label_key(value: str) -> str:
    if not _LABEL_KEY_RE.match(value):
        raise ValueError(f"not a label key; accepted form: {LABEL_NAME_FORM}")
    return value


def _url(value: str) -> str:
    if not _URL_RE.match(value):
        raise ValueError(f"not a URL; accepted form: {URL_FORM}")
    return value.rstrip("/")


def _host(value: str) -> str:
    if not _HOST_RE.match(value):
        raise ValueError(f"not a host name; accepted form: {HOST_FORM}")
    return value


LabelKey = Annotated[str, AfterValidator(_label_key)]
Url = Annotated[str, AfterValidator(_url)]
Host = Annotated[str, AfterValidator(_host)]


class LokiIngestion(Section):
    """Per-tenant ingestion limits (limits_config); one noisy service cannot starve the others."""

    rate_mb: PositiveNumber
    burst_mb: PositiveNumber
    per_stream_rate_mb: PositiveNumber
    per_stream_burst_mb: PositiveNumber
    max_streams_per_user: Count


class StreamRetention(Section):
    # A LogQL stream selector over the stream labels, e.g. '{service="dvt-audit"}' (checked in logs_checks).
    selector: str
    # A whole number of days, like loki.retention.
    period: Duration


class LokiSettings(Workload):
    # A whole number of days: Loki deletes by 24h index period (checks.py).
    retention: Duration
    storage: Storage
    ingestion: LokiIngestion
    # In-process chunk cache; a memcached tier only pays off in distributed mode (docs/loki-distributed.md).
    chunk_cache_mb: Annotated[int, BeforeValidator(whole_number(0, MAX_COUNT))]
    object_storage: LokiObjectStorage | None = None
    # Streams kept longer (or shorter) than `retention`: Loki's per-stream retention.
    stream_retention: tuple[StreamRetention, ...] = ()


class AlloySettings(Workload):
    # Pod labels whose first present value becomes the log stream's `service` label.
    service_labels: Annotated[tuple[LabelKey, ...], Field(min_length=1)]


class TempoMetricsGenerator(Section):
    # Service graphs and span metrics, remote-written to the stack's Prometheus.
    enabled: bool


class TempoSettings(Workload):
    retention: Duration
    storage: Storage
    sampling: Percent
    metrics_generator: TempoMetricsGenerator
    object_storage: ObjectStorage | None = None


class GrafanaIngress(Section):
    enabled: bool = False
    host: Host | None = None
    class_name: ObjectName | None = None
    # A kubernetes.io/tls Secret for the host; None serves plain HTTP behind the ingress.
    tls_secret_name: ObjectName | None = None


class ExternalGrafana(Section):
    """A Grafana the stack does not run (Grafana Cloud included): only its objects are managed."""

    url: Url
    # Grafana Cloud reaches in-cluster datasources through Private Data Source Connect.
    private_data_source_connect_network_id: str | None = None


class GrafanaSettings(Workload):
    storage: Storage
    ingress: GrafanaIngress = GrafanaIngress()
    external: ExternalGrafana | None = None
    # Set: datasources, folders and dashboards go through the API at this URL, which must answer
    # where `pulumi up` runs (an ingress host). Unset (default): Grafana provisions them from ConfigMaps.
    api_url: Url | None = None


CLUSTER_ID_FORM = (
    "a UUID: the UID of the cluster's kube-system namespace "
    "(kubectl --context CONTEXT get namespace kube-system -o jsonpath='{.metadata.uid}')"
)
_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _cluster_id(value: str) -> str:
    if not _UUID_RE.match(value):
        raise ValueError(f"not a cluster ID; accepted form: {CLUSTER_ID_FORM}")
    return value


class KubernetesSettings(Section):
    """The cluster this stack belongs to; components/cluster.py refuses any other before a change."""

    # kubeconfig context of the stack's explicit provider; unset: the kubeconfig's current context.
    context: Annotated[str, Field(min_length=1)] | None = None
    # The kube-system namespace's UID: the cluster's identity (a context name is only a local alias).
    cluster_id: Annotated[str, AfterValidator(_cluster_id)] | None = None


class AvailabilitySettings(Section):
    """Disruption budgets and spreading of every component that runs more than one replica."""

    # Voluntary disruptions (node drains) may take down at most this many pods of one component.
    max_unavailable: Count
    node_spread: SpreadMode
    zone_spread: SpreadMode


class NetworkSettings(Section):
    """NetworkPolicies: default deny in the stack's namespace, then only the flows the stack needs."""

    policies: bool
    # Namespaces whose workloads send OTLP to Alloy, push to the Pushgateway and are scraped.
    monitored_namespaces: tuple[DnsLabel, ...]
    # Namespaces of the ingress controller(s) that expose Grafana.
    ingress_namespaces: tuple[DnsLabel, ...]
    dns_namespace: DnsLabel
    # Where the API server, the nodes (kubelet, node-exporter) and the alert receivers
    # (Slack, PagerDuty, SMTP) live; narrow them per cluster where the ranges are known.
    api_server_cidrs: tuple[Cidr, ...]
    node_cidrs: tuple[Cidr, ...]
    receiver_cidrs: tuple[Cidr, ...]
    # Where Loki's and Tempo's object store is, when they use one.
    object_storage_cidrs: tuple[Cidr, ...]


class DashboardSettings(Section):
    # Also write every dashboard as a ConfigMap labelled grafana_dashboard: "1", for a
    # Grafana whose dashboard sidecar watches ConfigMaps and whose API `pulumi up` cannot reach.
    config_maps: bool = False


_URL_RE = re.compile(r"^https?://[^\s/]+(/\S*)?\Z", re.ASCII)


def _http_url(value: str) -> str:
    if not _URL_RE.match(value):
        raise ValueError("not a URL; accepted form: http(s)://host/path, e.g. https://github.com/org/repo/blob/main")
    return value.rstrip("/")


class RulesSettings(Section):
    # Runbook links are <runbookBaseUrl>/docs/runbooks/<alert>.md: point it at
    # where this repository is browsable (a fork sets its own).
    runbook_base_url: Annotated[str, AfterValidator(_http_url)]


class Settings(Section):
    """Everything one stack deploys, validated before any resource is registered."""

    stack: str
    environment: Environment
    # An explicit, named exception to "the stack's name says its environment": the stack's
    # own name, so a stack file copied to another stack does not carry it along (loader.py).
    environment_override: str | None = None
    namespace: StackNamespace
    cluster: DnsLabel
    # Protect volumes and stateful custom resources from deletion (prod).
    protect_stateful: bool
    prometheus: PrometheusSettings
    alertmanager: AlertmanagerSettings
    pushgateway: PushgatewaySettings
    operator: OperatorSettings
    alerting: AlertingSettings
    service_exporters: ServiceExportersSettings
    node_exporter: NodeExporterSettings
    kube_state_metrics: ExporterSettings
    blackbox_exporter: ExporterSettings
    loki: LokiSettings
    alloy: AlloySettings
    tempo: TempoSettings
    grafana: GrafanaSettings
    kubernetes: KubernetesSettings = KubernetesSettings()
    availability: AvailabilitySettings
    network: NetworkSettings
    dashboards: DashboardSettings
    rules: RulesSettings
    # Names of the secret config keys that are set (values never live here).
    secrets_set: frozenset[str] = Field(default=frozenset())

    @property
    def context(self) -> StackContext:
        """The stack-wide facts every component receives beside its own section."""
        return StackContext(self.stack, self.environment, self.namespace, self.protect_stateful, self.availability)

    def storage_key(self, storage: Storage) -> str:
        """The config key of ``storage``, e.g. observability:prometheus.storage (named in refusals)."""
        for name, field in type(self).model_fields.items():
            if getattr(getattr(self, name), "storage", None) is storage:
                return f"{NAMESPACE}:{field.alias or name}.storage"
        return f"{NAMESPACE}:storage"


__all__ = ["ByteSize", "Environment", "Image", "Resources", "Settings", "Storage"]
