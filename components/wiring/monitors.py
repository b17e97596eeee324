"""What Prometheus scrapes and probes: a PodMonitor per scrape row of the flow table, the kubelet and
cAdvisor, and a blackbox Probe per probe row (a component's health endpoint).

Derived from components/wiring/flows.py, so a component's monitor exists even before the
component lands; pods are selected by `app.kubernetes.io/name` alone (the operator replaces
`app.kubernetes.io/instance` on the pods it makes). PodMonitors rather than ServiceMonitors:
several components have a second, headless Service with the same labels, which would scrape
every pod twice.
"""

from __future__ import annotations

from typing import Any, TypeVar

import pulumi
import pulumi_kubernetes as k8s

from components.kit.labels import NAME_LABEL, stack_selector, standard_labels
from components.metrics import cardinality
from components.metrics.exporters import HTTP_MODULE
from components.settings import Settings
from components.wiring import endpoints, scrape_jobs
from components.wiring.flows import HealthProbe, Scrape, table

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
# The order monitors are registered in. The table is in NetworkPolicy rule order; the render's
# resource list (resources.json) follows registration order, kept here as it was before the table.
# A target not named here follows these, in table order.
REGISTRATION_ORDER = (
    endpoints.PROMETHEUS_NAME,
    endpoints.ALERTMANAGER_NAME,
    endpoints.PUSHGATEWAY_NAME,
    endpoints.LOKI_NAME,
    endpoints.TEMPO_NAME,
    endpoints.ALLOY_NAME,
    endpoints.NODE_EXPORTER_NAME,
    endpoints.KUBE_STATE_METRICS_NAME,
    endpoints.BLACKBOX_EXPORTER_NAME,
    endpoints.GRAFANA_NAME,
    endpoints.OPERATOR_NAME,
)

Monitor = TypeVar("Monitor", Scrape, HealthProbe)


def runs(settings: Settings, component: str) -> bool:
    """Whether this stack runs ``component``: not an external Grafana, nor an operator it does not install."""
    if component == endpoints.GRAFANA_NAME:
        return settings.grafana.external is None
    if component == endpoints.OPERATOR_NAME:
        return settings.operator.install
    return True


def _monitored(settings: Settings, kind: type[Monitor]) -> list[Monitor]:
    """The table's monitors of one kind whose component this stack runs, in registration order."""
    found = [flow.monitor for flow in table(settings) if isinstance(flow.monitor, kind) and runs(settings, flow.monitor.target)]
    return sorted(found, key=lambda monitor: _rank(monitor.target))


def _rank(target: str) -> int:
    return REGISTRATION_ORDER.index(target) if target in REGISTRATION_ORDER else len(REGISTRATION_ORDER)


def scraped(settings: Settings) -> list[Scrape]:
    """Every target a PodMonitor scrapes: the table's scrape rows of components the stack runs."""
    return _monitored(settings, Scrape)


def health_targets(settings: Settings) -> dict[str, str]:
    """Component -> the URL of its health endpoint, through its Service: the table's probe rows of components the stack runs."""
    return {probe.target: probe.url(settings.namespace) for probe in _monitored(settings, HealthProbe)}


def _job(exporter: str) -> list[dict[str, Any]]:
    # job="<component>" rather than the operator's "<namespace>/<monitor>" (components/wiring/scrape_jobs.py).
    return [{"action": "replace", "targetLabel": "job", "replacement": scrape_jobs.job(exporter)}]


def pod_monitor_spec(item: Scrape) -> dict[str, Any]:
    return {
        **({"namespaceSelector": {"matchNames": [item.namespace]}} if item.namespace else {}),
        "selector": {"matchLabels": {NAME_LABEL: item.target}},
        "podMetricsEndpoints": [
            {"port": e.port_name, "path": e.metrics_path, "honorLabels": item.honor_labels, "relabelings": _job(item.target)}
            for e in item.endpoints
        ],
    }


def kubelet_monitor_spec(settings: Settings) -> dict[str, Any]:
    """The kubelet's own metrics and cAdvisor's container metrics, through the Service the operator keeps."""
    namespace, _ = settings.operator.kubelet_service.split("/", 1)
    common = {
        "port": "https-metrics",
        "scheme": "https",
        "bearerTokenFile": f"{SERVICE_ACCOUNT_DIR}/token",
        # Kubelet serving certificates are commonly self-signed per node.
        "tlsConfig": {"caFile": f"{SERVICE_ACCOUNT_DIR}/ca.crt", "insecureSkipVerify": True},
        "honorLabels": True,
    }
    kubelet, cadvisor = endpoints.KUBELET_NAME, scrape_jobs.CADVISOR
    return {
        "namespaceSelector": {"matchNames": [namespace]},
        "selector": {"matchLabels": {NAME_LABEL: endpoints.KUBELET_NAME}},
        "jobLabel": NAME_LABEL,
        "endpoints": [
            {**common, "path": scrape_jobs.KUBELET_ENDPOINTS[kubelet], "relabelings": _job(kubelet),
             "metricRelabelings": cardinality.kubelet_metric_relabelings()},
            {
                **common,
                "path": scrape_jobs.KUBELET_ENDPOINTS[cadvisor],
                "relabelings": _job(cadvisor),
                "metricRelabelings": cardinality.cadvisor_metric_relabelings(),
                # cAdvisor stamps its samples with the time it measured them. Prometheus marks a series stale
                # when it leaves a scrape only if the samples carry no timestamp, so a dead container's series
                # would stay for the 5-minute lookback (kube-prometheus#695: memory alerts firing after an OOM
                # restart, dashboards counting old and new container). Keep the timestamps (their spacing is
                # what rate() needs) and track staleness anyway (Prometheus >= 2.48, track_timestamps_staleness).
                "honorTimestamps": True,
                "trackTimestampsStaleness": True,
            },
        ],
    }


def probe_spec(settings: Settings, component: str, url: str) -> dict[str, Any]:
    return {
        "prober": {"url": f"{endpoints.BLACKBOX_EXPORTER_NAME}.{settings.namespace}.svc:{endpoints.BLACKBOX_EXPORTER.port}", "path": "/probe"},
        "module": HTTP_MODULE,
        "targets": {"staticConfig": {"static": [url], "labels": {"component": component}}},
    }


class Monitors(pulumi.ComponentResource):
    def __init__(self, settings: Settings, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("observability:metrics:Monitors", "monitors", None, opts)
        child = pulumi.ResourceOptions(parent=self)

        def monitor(kind: str, name: str, spec: dict[str, Any]) -> None:
            """One monitoring.coreos.com/v1 object, named <kind>-<target> (e.g. podmonitor-loki)."""
            labels = {**standard_labels(name, settings.context, role="monitor"), **stack_selector(settings.context)}
            k8s.apiextensions.CustomResource(
                f"{kind.lower()}-{name}",
                api_version="monitoring.coreos.com/v1",
                kind=kind,
                metadata={"name": name, "namespace": settings.namespace, "labels": labels},
                spec=spec,
                opts=child,
            )

        for item in scraped(settings):
            monitor("PodMonitor", item.target, pod_monitor_spec(item))
        monitor("ServiceMonitor", endpoints.KUBELET_NAME, kubelet_monitor_spec(settings))
        for component, url in health_targets(settings).items():
            monitor("Probe", component, probe_spec(settings, component, url))
        self.register_outputs({})
