"""The monitored services' availability signal, per kind of service target (settings.serviceExporters.targets).

One source for the series that says a dependency is up: the ScrapeConfigs and
Probes of components/metrics/service_exporters.py produce it, the CopilotDependencyDown
alerts (rules/copilot.yaml) fire on it and the System Health panels
(dashboards/copilot.py) show it. tests/components/wiring/test_wiring.py holds the three together.
"""

from __future__ import annotations

# Kinds checked by a blackbox probe rather than scraped (Ollama exports no metrics); the
# probe's job label is the kind.
PROBED_KINDS = ("ollama",)

AVAILABILITY_SERIES = {
    "mongodb": "mongodb_up",  # the exporter's own view of its MongoDB
    "rabbitmq": 'up{job="rabbitmq"}',
    "qdrant": 'up{job="qdrant"}',
    "ollama": 'probe_success{job="ollama"}',
}
