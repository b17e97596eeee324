"""Ports and health paths of every component: the one source for probes, Services, monitors and blackbox targets."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Endpoint:
    port: int
    port_name: str
    ready_path: str
    healthy_path: str
    metrics_path: str = "/metrics"


# From DESIGN.md's health table and the upstream defaults.
PROMETHEUS = Endpoint(9090, "web", "/-/ready", "/-/healthy")
ALERTMANAGER = Endpoint(9093, "web", "/-/ready", "/-/healthy")
PUSHGATEWAY = Endpoint(9091, "http", "/-/ready", "/-/healthy")
GRAFANA = Endpoint(3000, "http", "/api/health", "/api/health")
LOKI = Endpoint(3100, "http", "/ready", "/ready")
TEMPO = Endpoint(3200, "http", "/ready", "/ready")
ALLOY = Endpoint(12345, "http", "/-/ready", "/-/healthy")
NODE_EXPORTER = Endpoint(9100, "metrics", "/metrics", "/metrics")
KUBE_STATE_METRICS = Endpoint(8080, "http", "/readyz", "/livez")
KUBE_STATE_METRICS_TELEMETRY = Endpoint(8081, "telemetry", "/metrics", "/metrics")
BLACKBOX_EXPORTER = Endpoint(9115, "http", "/-/ready", "/-/healthy")
OPERATOR = Endpoint(8080, "http", "/healthz", "/healthz")
MONGODB_EXPORTER = Endpoint(9216, "metrics", "/metrics", "/metrics")
RABBITMQ_PROMETHEUS = Endpoint(15692, "prometheus", "/metrics", "/metrics")
QDRANT = Endpoint(6333, "http", "/readyz", "/livez")

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
