"""The typed model of one stack: environment, namespace and one section per component.

Every section rejects unknown keys, so a typo in a stack file fails the run
instead of being silently ignored. Cross-field rules that need numbers from
several fields live in ``checks``.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

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


class PrometheusSettings(Workload):
    retention: Duration
    retention_size: ByteSize
    storage: Storage
    scrape_interval: Duration
    evaluation_interval: Duration


class AlertmanagerSettings(Workload):
    retention: Duration
    storage: Storage


class PushgatewaySettings(Workload):
    storage: Storage
    persistence_interval: Duration


class OperatorSettings(Workload):
    # False: use a Prometheus Operator already running in the cluster.
    install: bool


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


_URL_RE = re.compile(r"^https?://[^\s/]+(/\S*)?$")


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
    namespace: DnsLabel
    cluster: DnsLabel
    # Protect volumes and stateful custom resources from deletion (prod).
    protect_stateful: bool
    prometheus: PrometheusSettings
    alertmanager: AlertmanagerSettings
    pushgateway: PushgatewaySettings
    operator: OperatorSettings
    node_exporter: ExporterSettings
    kube_state_metrics: ExporterSettings
    blackbox_exporter: ExporterSettings
    loki: LokiSettings
    alloy: AlloySettings
    tempo: TempoSettings
    grafana: GrafanaSettings
    rules: RulesSettings
    # Names of the secret config keys that are set (values never live here).
    secrets_set: frozenset[str] = Field(default=frozenset())


__all__ = ["ByteSize", "Environment", "Image", "Resources", "Settings", "Storage"]
