"""Ports and health paths of every component: the one source for probes, Services, monitors and blackbox targets."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Endpoint:
    port: int
    port_name: str
    ready_path: str
    healthy_path: str
    metrics_path: str = "/metrics"
    # What liveness checks, when the healthy path also fails on a process that is only not ready.
    live_path: str | None = None

    @property
    def liveness_path(self) -> str:
        return self.live_path or self.healthy_path


# From DESIGN.md's health table and the upstream defaults.
PROMETHEUS = Endpoint(9090, "web", "/-/ready", "/-/healthy")
ALERTMANAGER = Endpoint(9093, "web", "/-/ready", "/-/healthy")
PUSHGATEWAY = Endpoint(9091, "http", "/-/ready", "/-/healthy")
GRAFANA = Endpoint(3000, "http", "/api/health", "/api/health")
# Loki's and Tempo's /ready answer 503 while any module is not ready (ring joins, WAL replay):
# a restart would not help, so liveness asks the HTTP server alone (build info is served
# from start to stop; Loki pkg/loki/modules.go, Tempo cmd/tempo/app/modules.go PathBuildInfo).
LOKI = Endpoint(3100, "http", "/ready", "/ready", live_path="/loki/api/v1/status/buildinfo")
TEMPO = Endpoint(3200, "http", "/ready", "/ready", live_path="/api/status/buildinfo")
# Alloy's /-/healthy fails while any pipeline component is unhealthy (e.g. Loki is down);
# restarting Alloy would not fix that, so liveness uses /-/ready as well.
ALLOY = Endpoint(12345, "http", "/-/ready", "/-/ready")
# Upstream's default port; a stack sets its own with nodeExporter.port (use node_exporter()).
NODE_EXPORTER = Endpoint(9100, "metrics", "/metrics", "/metrics")
# kube-state-metrics answers /livez on its metrics port and /readyz on its telemetry port.
KUBE_STATE_METRICS = Endpoint(8080, "http", "/livez", "/livez")
KUBE_STATE_METRICS_TELEMETRY = Endpoint(8081, "telemetry", "/readyz", "/metrics")
BLACKBOX_EXPORTER = Endpoint(9115, "http", "/-/ready", "/-/healthy")
OPERATOR = Endpoint(8080, "http", "/healthz", "/healthz")
# The exporter serves its metrics on /metrics and a landing page on /.
MONGODB_EXPORTER = Endpoint(9216, "metrics", "/metrics", "/metrics")
# RabbitMQ's built-in plugin: /metrics aggregates every queue into one series; /metrics/per-object
# serves the same metrics per queue (labels queue, vhost), which the Copilot queue panels and
# alerts need (docs/metrics.md: RabbitMQ per-queue data).
RABBITMQ_PROMETHEUS = Endpoint(15692, "prometheus", "/metrics", "/metrics", metrics_path="/metrics/per-object")
QDRANT = Endpoint(6333, "http", "/readyz", "/livez")
# Ollama's API root answers 200 "Ollama is running" (its only health endpoint).
OLLAMA = Endpoint(11434, "http", "/", "/")

OTLP_GRPC_PORT = 4317
OTLP_HTTP_PORT = 4318

# Ports outside the stack's own components, for NetworkPolicies.
ALERTMANAGER_CLUSTER_PORT = 9094  # gossip between Alertmanager replicas, TCP and UDP
KUBELET_PORT = 10250
# The API server: 443 on the kubernetes Service; policies see the endpoint after
# DNAT, which is 6443 on most distributions.
API_SERVER_PORTS = (443, 6443)
DNS_PORT = 53
HTTPS_PORT = 443  # Slack and PagerDuty receivers
SMTP_SUBMISSION_PORT = 587  # e-mail receiver (STARTTLS)

# Internal gRPC port of Loki and Tempo (querier and ingester traffic inside the pod).
LOKI_GRPC_PORT = 9095
TEMPO_GRPC_PORT = 9095

# Service names other components address. The operator makes `prometheus-operated` and
# `alertmanager-operated` for the Prometheus and Alertmanager resources of the stack.
PROMETHEUS_SERVICE = "prometheus-operated"
ALERTMANAGER_SERVICE = "alertmanager-operated"
LOKI_SERVICE = "loki"
TEMPO_SERVICE = "tempo"
ALLOY_SERVICE = "alloy"
GRAFANA_SERVICE = "grafana"

# The stream labels Alloy puts on every log line, and the only ones (seed 004): what Loki's limits
# must admit (components/wiring/flows.py) and what a stream selector in settings may name.
STREAM_LABELS = ("service", "environment", "level")


def service_url(service: str, namespace: str, port: int) -> str:
    """In-cluster HTTP base URL of a Service in the stack's namespace."""
    return f"http://{service}.{namespace}.svc:{port}"


def prometheus_url(namespace: str) -> str:
    return service_url(PROMETHEUS_SERVICE, namespace, PROMETHEUS.port)


# The Prometheus custom resource's name; the operator names its pods prometheus-<name>-<ordinal>.
PROMETHEUS_RESOURCE = "prometheus"


def prometheus_replica_urls(namespace: str, replicas: int) -> list[str]:
    """One URL per Prometheus replica, so a remote writer feeds every replica of an HA pair."""
    return [f"http://prometheus-{PROMETHEUS_RESOURCE}-{ordinal}.{PROMETHEUS_SERVICE}.{namespace}.svc:{PROMETHEUS.port}" for ordinal in range(replicas)]


def alertmanager_url(namespace: str) -> str:
    return service_url(ALERTMANAGER_SERVICE, namespace, ALERTMANAGER.port)


def loki_url(namespace: str) -> str:
    return service_url(LOKI_SERVICE, namespace, LOKI.port)


def tempo_url(namespace: str) -> str:
    return service_url(TEMPO_SERVICE, namespace, TEMPO.port)


def node_exporter(port: int) -> Endpoint:
    """node-exporter's endpoint on the stack's port (settings.node_exporter.port): it shares the node's network."""
    return replace(NODE_EXPORTER, port=port)
