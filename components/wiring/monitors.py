"""What Prometheus scrapes and probes: a PodMonitor per component, the kubelet and cAdvisor, and a
blackbox Probe of every component's health endpoint.

Keyed off components/wiring/endpoints.py, so a component's monitor exists even before
the component lands; pods are selected by `app.kubernetes.io/name` alone (the
operator replaces `app.kubernetes.io/instance` on the pods it makes). PodMonitors
rather than ServiceMonitors: several components have a second, headless Service
with the same labels, which would scrape every pod twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.kit.labels import stack_selector, standard_labels
from components.metrics.alertmanager import SERVICE as ALERTMANAGER_SERVICE
from components.metrics.exporters import BLACKBOX_EXPORTER, HTTP_MODULE, KUBE_STATE_METRICS, NODE_EXPORTER
from components.metrics.operator import NAME as OPERATOR
from components.metrics.prometheus import SERVICE as PROMETHEUS_SERVICE
from components.metrics.pushgateway import NAME as PUSHGATEWAY
from components.settings import Settings
from components.wiring import endpoints

NAME_LABEL = "app.kubernetes.io/name"
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


@dataclass(frozen=True)
class Scraped:
    component: str  # app.kubernetes.io/name of its pods; also the job label
    endpoints: tuple[endpoints.Endpoint, ...]
    # Pushed series carry their own job and instance: keep them (Pushgateway).
    honor_labels: bool = False


def scraped(settings: Settings) -> list[Scraped]:
    found = [
        Scraped("prometheus", (endpoints.PROMETHEUS,)),
        Scraped("alertmanager", (endpoints.ALERTMANAGER,)),
        Scraped(PUSHGATEWAY, (endpoints.PUSHGATEWAY,), honor_labels=True),
        Scraped("loki", (endpoints.LOKI,)),
        Scraped("tempo", (endpoints.TEMPO,)),
        Scraped("alloy", (endpoints.ALLOY,)),
        Scraped(NODE_EXPORTER, (endpoints.node_exporter(settings.node_exporter.port),)),
        Scraped(KUBE_STATE_METRICS, (endpoints.KUBE_STATE_METRICS, endpoints.KUBE_STATE_METRICS_TELEMETRY)),
        Scraped(BLACKBOX_EXPORTER, (endpoints.BLACKBOX_EXPORTER,)),
    ]
    if settings.grafana.external is None:
        found.append(Scraped("grafana", (endpoints.GRAFANA,)))
    if settings.operator.install:
        found.append(Scraped(OPERATOR, (endpoints.OPERATOR,)))
    return found


def health_targets(settings: Settings) -> dict[str, str]:
    """Component -> the URL of its health endpoint, through its Service."""
    services = {
        "prometheus": (PROMETHEUS_SERVICE, endpoints.PROMETHEUS),
        "alertmanager": (ALERTMANAGER_SERVICE, endpoints.ALERTMANAGER),
        PUSHGATEWAY: (PUSHGATEWAY, endpoints.PUSHGATEWAY),
        "loki": (endpoints.LOKI_SERVICE, endpoints.LOKI),
        "tempo": (endpoints.TEMPO_SERVICE, endpoints.TEMPO),
        "alloy": (endpoints.ALLOY_SERVICE, endpoints.ALLOY),
    }
    if settings.grafana.external is None:
        services["grafana"] = (endpoints.GRAFANA_SERVICE, endpoints.GRAFANA)
    return {
        component: f"http://{service}.{settings.namespace}.svc:{endpoint.port}{endpoint.healthy_path}"
        for component, (service, endpoint) in services.items()
    }


def _job(name: str) -> list[dict[str, Any]]:
    # job="<component>" rather than the operator's "<namespace>/<monitor>".
    return [{"action": "replace", "targetLabel": "job", "replacement": name}]


def pod_monitor_spec(item: Scraped) -> dict[str, Any]:
    return {
        "selector": {"matchLabels": {NAME_LABEL: item.component}},
        "podMetricsEndpoints": [
            {"port": e.port_name, "path": e.metrics_path, "honorLabels": item.honor_labels, "relabelings": _job(item.component)}
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
    return {
        "namespaceSelector": {"matchNames": [namespace]},
        "selector": {"matchLabels": {NAME_LABEL: "kubelet"}},
        "jobLabel": NAME_LABEL,
        "endpoints": [
            {**common, "path": "/metrics", "relabelings": _job("kubelet")},
            {**common, "path": "/metrics/cadvisor", "relabelings": _job("cadvisor")},
        ],
    }


def probe_spec(settings: Settings, component: str, url: str) -> dict[str, Any]:
    return {
        "prober": {"url": f"{BLACKBOX_EXPORTER}.{settings.namespace}.svc:{endpoints.BLACKBOX_EXPORTER.port}", "path": "/probe"},
        "module": HTTP_MODULE,
        "targets": {"staticConfig": {"static": [url], "labels": {"component": component}}},
    }


class Monitors(pulumi.ComponentResource):
    def __init__(self, settings: Settings, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("observability:metrics:Monitors", "monitors", None, opts)
        child = pulumi.ResourceOptions(parent=self)

        def metadata(name: str) -> dict[str, Any]:
            labels = {**standard_labels(name, settings.context, role="monitor"), **stack_selector(settings.context)}
            return {"name": name, "namespace": settings.namespace, "labels": labels}

        for item in scraped(settings):
            k8s.apiextensions.CustomResource(
                f"podmonitor-{item.component}",
                api_version="monitoring.coreos.com/v1",
                kind="PodMonitor",
                metadata=metadata(item.component),
                spec=pod_monitor_spec(item),
                opts=child,
            )
        k8s.apiextensions.CustomResource(
            "servicemonitor-kubelet",
            api_version="monitoring.coreos.com/v1",
            kind="ServiceMonitor",
            metadata=metadata("kubelet"),
            spec=kubelet_monitor_spec(settings),
            opts=child,
        )
        for component, url in health_targets(settings).items():
            k8s.apiextensions.CustomResource(
                f"probe-{component}",
                api_version="monitoring.coreos.com/v1",
                kind="Probe",
                metadata=metadata(component),
                spec=probe_spec(settings, component, url),
                opts=child,
            )
        self.register_outputs({})
