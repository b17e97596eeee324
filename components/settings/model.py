"""The typed model of one stack: environment, namespace and one section per component.

The sections live with the signal they configure (metrics, logs, traces, grafana, rules,
platform); each module's cross-field rules sit beside it in ``<signal>_checks`` and run
in the order ``checks`` lists them. Every section rejects unknown keys, so a typo in a
stack file fails the run instead of being silently ignored.
"""

from __future__ import annotations

from pydantic import Field

from components.kit.context import StackContext
from components.settings.errors import NAMESPACE
from components.settings.grafana import DashboardSettings, GrafanaSettings
from components.settings.logs import AlloySettings, LokiSettings
from components.settings.metrics import (
    AlertingSettings,
    AlertmanagerSettings,
    ExporterSettings,
    NodeExporterSettings,
    OperatorSettings,
    PrometheusSettings,
    PushgatewaySettings,
    ServiceExportersSettings,
)
from components.settings.platform import AvailabilitySettings, Environment, KubernetesSettings, NetworkSettings, StackNamespace
from components.settings.rules import RulesSettings
from components.settings.traces import TempoSettings
from components.settings.types import DnsLabel, Section, Storage


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


__all__ = ["Settings"]
