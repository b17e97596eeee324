"""The typed model of one stack: environment, namespace and one section per component.

Every section rejects unknown keys, so a typo in a stack file fails the run
instead of being silently ignored. Cross-field rules that need numbers from
several fields live in ``checks``.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from components.catalog import FORBIDDEN_LABELS
from components.settings.types import (
    ByteSize,
    Duration,
    Image,
    Percent,
    Resources,
    Section,
    Storage,
    Workload,
)

Environment = Literal["dev", "staging", "prod"]
DNS_LABEL_FORM = "a DNS-1123 label: lower-case letters, digits and '-', starting with a letter, at most 63 characters"
_DNS_LABEL_RE = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")


def _dns_label(value: str) -> str:
    if not _DNS_LABEL_RE.match(value):
        raise ValueError(f"not a valid name; accepted form: {DNS_LABEL_FORM}")
    return value


DnsLabel = Annotated[str, AfterValidator(_dns_label)]

LABEL_NAME_FORM = "a Prometheus label name: letters, digits and '_', not starting with a digit"
_LABEL_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_HOST_PORT_RE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?:(\d{1,5})$")
_HOST_RE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?(:\d{1,5})?$")


def _label_name(value: str) -> str:
    if not _LABEL_NAME_RE.match(value):
        raise ValueError(f"not a label name; accepted form: {LABEL_NAME_FORM}")
    if value in FORBIDDEN_LABELS:
        forbidden = ", ".join(sorted(FORBIDDEN_LABELS))
        raise ValueError(f"is a forbidden high-cardinality label (seed 004); accepted form: {LABEL_NAME_FORM}, not one of {forbidden}")
    return value


def _slack_channel(value: str) -> str:
    if not re.match(r"^#[a-z0-9][a-z0-9._-]{0,79}$", value):
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
    if not _HOST_RE.match(value) or (":" in value and not 0 < int(value.rsplit(":", 1)[1]) < 65536):
        raise ValueError("not an address; accepted form: host or host:port (e.g. rabbitmq.messaging.svc:15692)")
    return value


def _namespaced_name(value: str) -> str:
    namespace, _, name = value.partition("/")
    if not (_DNS_LABEL_RE.match(namespace) and _DNS_LABEL_RE.match(name)):
        raise ValueError("not namespace/name; accepted form: two DNS-1123 labels joined by '/' (e.g. kube-system/kubelet)")
    return value


LabelName = Annotated[str, AfterValidator(_label_name)]
PositiveInt = Annotated[int, Field(gt=0)]


class ScrapeLimits(Section):
    """Cardinality bounds Prometheus enforces on every scrape (enforced*: monitors cannot raise them)."""

    sample_limit: PositiveInt
    target_limit: PositiveInt
    label_limit: PositiveInt
    label_name_length_limit: PositiveInt
    label_value_length_limit: PositiveInt


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

    group_by: tuple[LabelName, ...]
    group_wait: Duration
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


ServiceKind = Literal["mongodb", "rabbitmq", "qdrant"]


class ServiceTarget(Section):
    """One monitored service: MongoDB through an exporter, RabbitMQ and Qdrant on their own metrics endpoints."""

    name: DnsLabel
    kind: ServiceKind
    # host or host:port; the port defaults to the kind's (components/endpoints.py).
    address: Annotated[str, AfterValidator(_host_optional_port)]


class ServiceExportersSettings(Section):
    # The MongoDB exporter deployed per mongodb target (seed 004: 0.25 CPU / 256 MiB).
    mongodb_exporter: Workload
    # When set, mongodbExporterPassword (a Pulumi secret) is required.
    mongodb_username: str | None = None
    targets: tuple[ServiceTarget, ...] = ()


class ExporterSettings(Workload):
    pass


class LokiSettings(Workload):
    retention: Duration
    storage: Storage


class AlloySettings(Workload):
    pass


class TempoSettings(Workload):
    retention: Duration
    storage: Storage
    sampling: Percent


class GrafanaSettings(Workload):
    storage: Storage


class Settings(Section):
    """Everything one stack deploys, validated before any resource is registered."""

    stack: str
    environment: Environment
    namespace: DnsLabel
    cluster: DnsLabel
    # Protect volumes and stateful custom resources from deletion (prod).
    protect_stateful: bool
    prometheus: PrometheusSettings
    alertmanager: AlertmanagerSettings
    pushgateway: PushgatewaySettings
    operator: OperatorSettings
    alerting: AlertingSettings
    service_exporters: ServiceExportersSettings
    node_exporter: ExporterSettings
    kube_state_metrics: ExporterSettings
    blackbox_exporter: ExporterSettings
    loki: LokiSettings
    alloy: AlloySettings
    tempo: TempoSettings
    grafana: GrafanaSettings
    # Names of the secret config keys that are set (values never live here).
    secrets_set: frozenset[str] = Field(default=frozenset())


__all__ = ["ByteSize", "Environment", "Image", "Resources", "Settings", "Storage"]
