"""The ``job`` label of the series the stack's own scrapes produce, written once.

The monitors (``components.wiring.monitors``, ``components.metrics.service_exporters``) set these
labels; the metric catalog (``catalog/metrics.yaml``) names a family's exporter with ``scrape:
<exporter>`` and reads its job from here, so the job an absence guard watches
(``components/rules/guards.py``, ``up{job=...}``) is the job the render gives the series.
``tests/components/wiring/test_scrape_jobs.py`` holds this module, the rendered monitors and the
catalog together.
"""

from __future__ import annotations

from components.wiring import endpoints

# The kubelet serves two scrapes: its own metrics (/metrics) and cAdvisor's container metrics (/metrics/cadvisor).
CADVISOR = "cadvisor"
KUBELET_ENDPOINTS = {endpoints.KUBELET_NAME: "/metrics", CADVISOR: "/metrics/cadvisor"}

# Components whose pods a PodMonitor scrapes (the scrape rows of components/wiring/flows.py); job = the name.
POD_MONITORED = frozenset({
    endpoints.PROMETHEUS_NAME,
    endpoints.ALERTMANAGER_NAME,
    endpoints.PUSHGATEWAY_NAME,
    endpoints.OPERATOR_NAME,
    endpoints.KUBE_STATE_METRICS_NAME,
    endpoints.BLACKBOX_EXPORTER_NAME,
    endpoints.GRAFANA_NAME,
    endpoints.LOKI_NAME,
    endpoints.TEMPO_NAME,
    endpoints.ALLOY_NAME,
    endpoints.NODE_EXPORTER_NAME,
})
# The service exporters' ScrapeConfigs and Probes name the job after the target's kind (settings ServiceKind).
SERVICE_KINDS = frozenset({"mongodb", "rabbitmq", "qdrant", "ollama"})

EXPORTERS = POD_MONITORED | frozenset(KUBELET_ENDPOINTS) | SERVICE_KINDS


class UnknownExporterError(KeyError):
    """An exporter no monitor of the stack scrapes."""


def job(exporter: str) -> str:
    """The job label of the series scraped from ``exporter`` (a component name, ``kubelet``, ``cadvisor`` or a
    service kind). Raises UnknownExporterError naming the accepted names."""
    if exporter not in EXPORTERS:
        raise UnknownExporterError(f"{exporter!r} is not scraped by the stack; accepted: {sorted(EXPORTERS)}")
    # Every monitor relabels job to the exporter's name (not the operator's "<namespace>/<monitor>").
    return exporter
