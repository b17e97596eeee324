"""Builds every component of one stack, in dependency order."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pulumi

from components.cluster import use_stack_cluster
from components.grafana.dashboards import DashboardModel, Dashboards
from components.grafana.grafana import Grafana, operator_url
from components.logs.alloy import Alloy
from components.logs.alloy_config import alloy_config
from components.logs.loki import Loki
from components.logs.loki_config import loki_config
from components.metrics.alertmanager import Alertmanager
from components.metrics.exporters import Exporters
from components.metrics.operator import PrometheusOperator
from components.metrics.operator_crds import after_crds
from components.metrics.prometheus import Prometheus
from components.metrics.pushgateway import Pushgateway
from components.metrics.service_exporters import ServiceExporters
from components.namespace import host_namespace, stack_namespace
from components.rules.all_rules import load_all_rules
from components.rules.causes import inhibit_rules
from components.rules.prometheus_rules import RuleSet, rule_context
from components.settings import Settings
from components.traces.tempo import Tempo
from components.traces.tempo_config import tempo_config
from components.wiring import endpoints, flows
from components.wiring.monitors import Monitors
from components.wiring.network_policies import NetworkPolicies

# Builds the dashboards of one stack (dashboards/registry.py: build_dashboards). Passed in by the program
# (program.py) so that components never import dashboards/, which builds on components.
DashboardSource = Callable[[Settings], Sequence[DashboardModel]]


def build_stack(settings: Settings, dashboards: DashboardSource) -> None:
    """Register every component of the stack; ``dashboards`` builds the dashboard models it provisions."""
    context = settings.context
    # First: every resource after this waits for the cluster identity check and uses the stack's provider.
    use_stack_cluster(settings.kubernetes, context)
    namespace = stack_namespace(context)
    host = host_namespace(context)
    in_namespace = pulumi.ResourceOptions(depends_on=[namespace])
    # Prometheus also has a Role in the host namespace (discovery of node-exporter).
    in_both = pulumi.ResourceOptions(depends_on=[namespace, host])
    if settings.operator.install:
        # Every monitoring.coreos.com object registered from here on waits for the CRDs.
        after_crds(PrometheusOperator(settings.operator, context, in_namespace).crds)
    NetworkPolicies(settings, in_namespace)
    Pushgateway(settings.pushgateway, context, storage_key=settings.storage_key(settings.pushgateway.storage), opts=in_namespace)
    # The config documents read other sections too (data flows, Prometheus replicas, sampling).
    Loki(settings.loki, context, loki_config(settings), storage_key=settings.storage_key(settings.loki.storage), opts=in_namespace)
    Tempo(settings.tempo, context, tempo_config(settings), storage_key=settings.storage_key(settings.tempo.storage), opts=in_namespace)
    Alloy(settings.alloy, context, alloy_config(settings), storage_key=settings.storage_key(settings.alloy.storage), opts=in_namespace)
    retention = {"prometheus": settings.prometheus.retention, "loki": settings.loki.retention, "tempo": settings.tempo.retention}
    grafana_url = operator_url(settings.grafana, context.namespace)
    # Alertmanager mutes the symptoms of each cause the rule set shows (one fault, one page).
    causes = inhibit_rules(load_all_rules(rule_context(settings.rules, context.namespace, retention, grafana_url)))
    alertmanager = Alertmanager(
        settings.alertmanager,
        context,
        alerting=settings.alerting,
        causes=causes,
        storage_key=settings.storage_key(settings.alertmanager.storage),
        opts=in_namespace,
    )
    Prometheus(
        settings.prometheus,
        context,
        storage_key=settings.storage_key(settings.prometheus.storage),
        cluster=settings.cluster,
        kubelet_service=settings.operator.kubelet_service,
        requirements=flows.requirements(settings, endpoints.PROMETHEUS_NAME),
        alertmanager_service=alertmanager.service_name,
        opts=in_both,
    )
    Exporters(
        context,
        node_exporter=settings.node_exporter,
        kube_state_metrics=settings.kube_state_metrics,
        blackbox_exporter=settings.blackbox_exporter,
        opts=in_both,
    )
    ServiceExporters(settings.service_exporters, context, in_namespace)
    Monitors(settings, in_namespace)
    RuleSet(
        settings.rules,
        context,
        retention=retention,
        grafana_url=grafana_url,
        opts=in_namespace,
    )
    # grafana.access (provider and folders) is what dashboards are created through, grafana.scope how they are named.
    models = dashboards(settings)
    grafana = Grafana(
        settings.grafana,
        context,
        models,
        storage_key=settings.storage_key(settings.grafana.storage),
        scrape_interval=settings.prometheus.scrape_interval,
        opts=in_namespace,
    )
    Dashboards(settings.dashboards, context, grafana.scope, models, grafana.access, in_namespace)
    pulumi.export("environment", settings.environment)
    pulumi.export("namespace", settings.namespace)
    pulumi.export("grafanaUrl", grafana.url)
    if grafana.admin_password is not None:
        # Secret: shown only with `pulumi stack output grafanaAdminPassword --show-secrets`.
        pulumi.export("grafanaAdminPassword", grafana.admin_password)
