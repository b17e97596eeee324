"""Settings of the metrics signal: Prometheus, Alertmanager and its alerting, the Pushgateway, the operator and the exporters."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field

from components.rules.catalog import FORBIDDEN_LABELS
from components.settings.types import (
    DNS_LABEL_RE,
    ByteSize,
    Count,
    DnsLabel,
    Duration,
    Image,
    Resources,
    Section,
    Storage,
    Workload,
    ZeroOrDuration,
    matching,
    whole_number,
)
from components.wiring.endpoints import KUBELET_PORT, NODE_EXPORTER

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


_slack_channel = matching(
    re.compile(r"^#[a-z0-9][a-z0-9._-]{0,79}\Z"), "a Slack channel", "'#' then lower-case letters, digits, '.', '_' or '-' (e.g. '#monitoring')"
)
_email = matching(_EMAIL_RE, "an e-mail address", "name@domain (e.g. oncall@example.org)")


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
    if not (DNS_LABEL_RE.match(namespace) and DNS_LABEL_RE.match(name)):
        raise ValueError("not namespace/name; accepted form: two DNS-1123 labels joined by '/' (e.g. kube-system/kubelet)")
    return value


MetricLabel = Annotated[str, AfterValidator(_metric_label)]


class ScrapeLimits(Section):
    """Cardinality bounds Prometheus enforces on every scrape (enforced*: monitors cannot raise them)."""

    sample_limit: Count
    target_limit: Count
    label_limit: Count
    label_name_length_limit: Count
    label_value_length_limit: Count


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


class HeartbeatSettings(Section):
    """The dead-man's switch: Alertmanager sends the always-firing Watchdog alert to an external service
    (its URL is the Pulumi secret heartbeatUrl) every ``interval``; the service pages when it stops."""

    # How often the heartbeat is re-sent (the Watchdog route's repeat_interval); at least
    # metrics_checks.HEARTBEAT_MIN_SECONDS.
    interval: Duration


class AlertingSettings(Section):
    """Alertmanager routing: severities to receivers (DESIGN.md), grouping and timing."""

    group_by: tuple[MetricLabel, ...]
    # 0s sends a group's first notification at once; Alertmanager refuses a zero
    # group_interval or repeat_interval (config.go), so those stay above zero.
    group_wait: ZeroOrDuration
    group_interval: Duration
    repeat_interval: Duration
    # critical and emergency page through PagerDuty; never in dev (metrics_checks.py).
    paging: bool
    slack: SlackSettings | None = None
    email: EmailSettings | None = None
    # null: no dead-man's switch (the Watchdog alert goes nowhere). Off in dev by default.
    heartbeat: HeartbeatSettings | None = None


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
