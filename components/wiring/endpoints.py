"""Ports, health paths and names of every component, and the Grafana datasource UIDs.

The one place these are written: probes, Services, workloads, monitors, NetworkPolicies,
datasources and the tests all read them from here.
"""

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
# Alloy instances route each trace's spans to one of them over OTLP gRPC on this port (tail sampling).
ALLOY_SAMPLING_PORT = 4319
# The environment variable the Alloy container gets its pod's name in (downward API, metadata.name):
# the log share it keeps and the `collector` label of the series it writes are keyed on it.
ALLOY_POD_NAME_ENV = "POD_NAME"

# Ports outside the stack's own components, for NetworkPolicies.
ALERTMANAGER_CLUSTER_PORT = 9094  # gossip between Alertmanager replicas, TCP and UDP
KUBELET_PORT = 10250
# The API server's ports (network.apiServerPorts) and the DNS resolvers' (network.dnsPorts) are settings:
# they differ by distribution.
HTTPS_PORT = 443  # Slack and PagerDuty receivers

# Internal gRPC port of Loki and Tempo (querier and ingester traffic inside the pod).
LOKI_GRPC_PORT = 9095
TEMPO_GRPC_PORT = 9095

# The app.kubernetes.io/name of each component's pods: NetworkPolicies and monitors select on it,
# and it is the job label of the component's metrics. The component's workload, ServiceAccount
# and own Service carry it too. The operator sets prometheus and alertmanager on the pods of
# every Prometheus and Alertmanager resource.
PROMETHEUS_NAME = "prometheus"
ALERTMANAGER_NAME = "alertmanager"
PUSHGATEWAY_NAME = "pushgateway"
OPERATOR_NAME = "prometheus-operator"
NODE_EXPORTER_NAME = "node-exporter"
KUBE_STATE_METRICS_NAME = "kube-state-metrics"
BLACKBOX_EXPORTER_NAME = "blackbox-exporter"
MONGODB_EXPORTER_NAME = "mongodb-exporter"
GRAFANA_NAME = "grafana"
LOKI_NAME = "loki"
TEMPO_NAME = "tempo"
ALLOY_NAME = "alloy"
# The kubelet's Service, which the operator keeps (--kubelet-service), carries this app.kubernetes.io/name.
KUBELET_NAME = "kubelet"

# The Prometheus and Alertmanager resources are named after their component; the operator names
# the StatefulSet of each <kind>-<name> and its pods <statefulset>-<ordinal>.
PROMETHEUS_RESOURCE = PROMETHEUS_NAME
ALERTMANAGER_RESOURCE = ALERTMANAGER_NAME
PROMETHEUS_STATEFULSET = f"prometheus-{PROMETHEUS_RESOURCE}"
ALERTMANAGER_STATEFULSET = f"alertmanager-{ALERTMANAGER_RESOURCE}"
# Every StatefulSet of the stack, by component: the stack's own (Loki, Tempo, Alloy) and the operator's.
# The rules' {{statefulset:<component>}} reads it (rules/observability-stack.yaml StackReplicasUnavailable).
STATEFULSETS = {
    ALLOY_NAME: ALLOY_NAME,
    LOKI_NAME: LOKI_NAME,
    TEMPO_NAME: TEMPO_NAME,
    PROMETHEUS_NAME: PROMETHEUS_STATEFULSET,
    ALERTMANAGER_NAME: ALERTMANAGER_STATEFULSET,
}

# Service names other components address. The operator makes `prometheus-operated` and
# `alertmanager-operated` (headless: one DNS name per replica) for the Prometheus and Alertmanager
# resources of the stack; every other component's Service carries the component's name.
PROMETHEUS_SERVICE = "prometheus-operated"
ALERTMANAGER_SERVICE = "alertmanager-operated"
# Readers (Grafana's datasources) use the stack's own Service of each resource, sticky to one replica
# (components/kit/operated.py): through the headless one, each query meets either replica.
PROMETHEUS_READ_SERVICE = PROMETHEUS_RESOURCE
ALERTMANAGER_READ_SERVICE = ALERTMANAGER_RESOURCE
LOKI_SERVICE = LOKI_NAME
TEMPO_SERVICE = TEMPO_NAME
ALLOY_SERVICE = ALLOY_NAME
GRAFANA_SERVICE = GRAFANA_NAME

# Grafana datasource UIDs: datasources, dashboard targets and the links between datasources use
# them (on a shared Grafana each carries the stack's name: components/grafana/access.py).
PROMETHEUS_UID = "prometheus"
LOKI_UID = "loki"
TEMPO_UID = "tempo"
ALERTMANAGER_UID = "alertmanager"
DATASOURCE_UIDS = (PROMETHEUS_UID, LOKI_UID, TEMPO_UID, ALERTMANAGER_UID)

# The stream labels Alloy puts on every log line, and the only ones (seed 004): what Loki's limits
# must admit (components/wiring/flows.py) and what a stream selector in settings may name.
STREAM_LABELS = ("service", "environment", "level")


def service_url(service: str, namespace: str, port: int) -> str:
    """In-cluster HTTP base URL of a Service in the stack's namespace."""
    return f"http://{service}.{namespace}.svc:{port}"


def prometheus_url(namespace: str) -> str:
    """Where readers query Prometheus: one replica per client, another when that one is not ready."""
    return service_url(PROMETHEUS_READ_SERVICE, namespace, PROMETHEUS.port)


def prometheus_replica_urls(namespace: str, replicas: int) -> list[str]:
    """One URL per Prometheus replica, so a remote writer feeds every replica of an HA pair."""
    return [f"http://{PROMETHEUS_STATEFULSET}-{ordinal}.{PROMETHEUS_SERVICE}.{namespace}.svc:{PROMETHEUS.port}" for ordinal in range(replicas)]


def alertmanager_url(namespace: str) -> str:
    """Where readers (and silence writers) reach Alertmanager: one replica per client, as for Prometheus."""
    return service_url(ALERTMANAGER_READ_SERVICE, namespace, ALERTMANAGER.port)


def loki_url(namespace: str) -> str:
    return service_url(LOKI_SERVICE, namespace, LOKI.port)


def tempo_url(namespace: str) -> str:
    return service_url(TEMPO_SERVICE, namespace, TEMPO.port)


def node_exporter(port: int) -> Endpoint:
    """node-exporter's endpoint on the stack's port (settings.node_exporter.port): it shares the node's network."""
    return replace(NODE_EXPORTER, port=port)
