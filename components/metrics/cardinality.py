"""Series the stack's exporters would produce per pod, per device or per bucket and nobody reads: cut where they are made.

Prometheus (2 GiB in prod) keeps every series it has seen in the last two hours in memory, so a label
whose values follow pod turnover grows it with churn, not with the cluster. Each exporter is cut at the
producer where it has a flag (node-exporter), else by a metric-relabelling drop in its scrape (the
kubelet's own metrics and cAdvisor, which the stack does not run). The families dropped here are read by
no rule, panel or catalog entry (tests/components/metrics/test_cardinality.py). Every scrape also keeps
the Prometheus resource's enforced sample and label limits (settings prometheus.scrapeLimits), and
``ScrapeSampleLimitApproaching`` / ``PrometheusScrapeLimitsExceeded`` say when one nears or hits them.
"""

from __future__ import annotations

from typing import Any

# The host-side ends of pod network interfaces, one per pod, named by the CNI: veth pairs (bridge, ptp,
# flannel, kindnet, Weave, GKE's veth), Calico (cali<hash>), Cilium (lxc<hash>; lxc_health is the node's
# own and stays), the AWS VPC CNI (eni<hash>), Azure CNI (azv<hash>), GKE dataplane (gke<hash>).
# node-exporter on the host network reports each one (prometheus/node_exporter#1446), and cAdvisor
# reports the host's interfaces for every host-network pod.
POD_INTERFACES = r"^(veth.*|cali[0-9a-f]+|lxc[0-9a-f]+|eni[0-9a-f]+|azv[0-9a-f]+|gke[0-9a-f]+)$"

# Mount points node-exporter must not report (relative to --path.rootfs): its default
# (/dev, /proc, /sys, /run/credentials, Docker's and CRI-O's storage) plus every pod volume, secret and
# projected token the kubelet mounts and the container runtimes' per-container mounts (containerd,
# k3s/RKE2's containerd, per-pod network namespaces): one filesystem series set per pod otherwise.
NODE_MOUNT_POINTS_EXCLUDE = (
    r"^/(dev|proc|sys|run/credentials/.+|var/lib/docker/.+|var/lib/containers/storage/.+"
    r"|run/containerd/.+|run/k3s/containerd/.+|var/lib/kubelet/.+|run/netns/.+)($|/)"
)

# cAdvisor families nobody reads that are per container and per device, state or failure type:
# tasks by state (5 per container, zero on cgroup v2), memory failures (4 per container), block I/O per
# device and operation, the per-device I/O details of container_fs_*, the load average (off in the kubelet),
# ulimits and the spec copies kube-state-metrics already gives.
CADVISOR_DROPPED = (
    r"container_(tasks_state|memory_failures_total|blkio_device_usage_total|cpu_load_average_10s|ulimits_soft"
    r"|fs_(io_current|io_time_seconds_total|io_time_weighted_seconds_total|reads_merged_total|writes_merged_total"
    r"|sector_reads_total|sector_writes_total|read_seconds_total|write_seconds_total)"
    r"|spec_(cpu_period|cpu_quota|cpu_shares|memory_limit_bytes|memory_reservation_limit_bytes|memory_swap_limit_bytes))"
)

# The kubelet's histograms per operation, plugin, URL or verb (tens of buckets each): the kubelet's own
# client and runtime latencies. Their _sum and _count stay.
KUBELET_DROPPED_BUCKETS = (
    r"(apiserver_client_certificate_expiration_seconds|rest_client_request_duration_seconds|rest_client_rate_limiter_duration_seconds"
    r"|rest_client_request_size_bytes|rest_client_response_size_bytes|kubelet_runtime_operations_duration_seconds"
    r"|kubelet_cgroup_manager_duration_seconds|kubelet_pod_worker_duration_seconds|kubelet_pleg_relist_duration_seconds"
    r"|kubelet_http_requests_duration_seconds|storage_operation_duration_seconds|csi_operations_seconds)_bucket"
)


# Span metrics (components/traces/trace_metrics.py) reach Prometheus by remote write from Alloy, so no scrape
# limit bounds them. Alloy's spanmetrics connector keeps at most this many series keys (span name, kind, status,
# environment) per service and metric (aggregation_cardinality_limit, Alloy v1.10.1; 0 = unbounded upstream);
# past it, new keys are counted in one series labelled otel_metric_overflow="true" (opentelemetry-collector-contrib
# connector/spanmetricsconnector/internal/metrics), which SpanMetricsSeriesLimited reads. About 18 Prometheus
# series per key with the default latency buckets.
SPAN_METRICS_KEYS_PER_SERVICE = 1_000
# What the connector's overflow series carries (the attribute otel.metric.overflow as a Prometheus label).
SPAN_METRICS_OVERFLOW_LABEL = "otel_metric_overflow"
# A key not updated for this long is forgotten, so the limit counts what is in use (Tempo's generator dropped
# stale series after 15 minutes: metrics_generator.registry.stale_duration, Tempo 2.8.2).
SPAN_METRICS_EXPIRATION = "15m"


def drop_metrics(regex: str) -> dict[str, Any]:
    """A metricRelabelings entry dropping the series whose name matches ``regex`` (anchored, as Prometheus does)."""
    return {"action": "drop", "sourceLabels": ["__name__"], "regex": regex}


def cadvisor_metric_relabelings() -> list[dict[str, Any]]:
    """The cAdvisor scrape's drops: the unread families, and every pod interface seen from a host-network pod."""
    return [
        drop_metrics(CADVISOR_DROPPED),
        {"action": "drop", "sourceLabels": ["__name__", "interface"], "separator": ";",
         "regex": r"container_network_.+;" + POD_INTERFACES.removeprefix("^")},
    ]


def kubelet_metric_relabelings() -> list[dict[str, Any]]:
    """The kubelet scrape's drops: the bucket series of its per-operation histograms."""
    return [drop_metrics(KUBELET_DROPPED_BUCKETS)]
