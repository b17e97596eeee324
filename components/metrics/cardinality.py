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

# The host-side ends of pod network interfaces, one per pod (or per pod and network), named by the CNI.
# node-exporter on the host network reports each one (prometheus/node_exporter#1446), and cAdvisor reports the
# host's interfaces for every host-network pod. Each naming scheme as its CNI's source writes it:
_POD_INTERFACE_SCHEMES = (
    # veth pairs named by the CNI plugins' default (bridge, ptp: flannel, kindnet, kube-router), Weave (vethwe*)
    # and Kube-OVN before 1.9 (veth<11 chars>_h).
    r"veth.*",
    # Calico (and Canal): cali + 11 hex of the workload's hash.
    r"cali[0-9a-f]+",
    # Cilium (GKE Dataplane V2, Azure CNI powered by Cilium): lxc + hex; lxc_health is the node's own and stays.
    r"lxc[0-9a-f]+",
    # AWS VPC CNI: its vethPrefix (eni by default) + 11 hex of sha1(namespace.pod); with security groups for pods in
    # strict mode the prefix is vlan, and each pod's branch ENI gets its own VLAN link vlan.eth.<vlan id>
    # (amazon-vpc-cni-k8s pkg/networkutils GeneratePodHostVethName, pkg/sgpp, routed-eni-cni-plugin driver).
    r"eni[0-9a-f]+",
    r"vlan[0-9a-f]{11}",
    r"vlan\.eth\.[0-9]+",
    # Azure CNI (azv<hash>) and GKE's own dataplane (gke<hash>).
    r"azv[0-9a-f]+",
    r"gke[0-9a-f]+",
    # Kube-OVN: the first 12 chars of the sandbox ID + _h, or for another interface of the pod fewer chars +
    # _<ifname>_h (kube-ovn pkg/daemon generateNicName).
    r"[0-9a-f]{1,12}(_[0-9A-Za-z.-]+)?_h",
    # OVN-Kubernetes (OpenShift's default CNI): the first 15 chars of the sandbox ID; for a secondary network
    # fewer chars + _<ifindex> (ovn-kubernetes go-controller/pkg/cni helper_linux.go setupInterface).
    r"[0-9a-f]{15}",
    r"[0-9a-f]{1,14}_[0-9]+",
    # Antrea: the pod name's first 8 chars (at most), -, 6 hex of sha1(sandbox ID) (antrea pkg/agent/util/net.go
    # GenerateContainerInterfaceName). Docker's br-<12 hex> bridges do not fit (12 hex, not 6).
    r"[a-z0-9][a-z0-9.-]{0,7}-[0-9a-f]{6}",
    # Kata Containers: its tap, bridged to the pod's veth by a TC filter inside the pod's network namespace
    # (kata-containers docs/design/architecture/networking.md), so only cAdvisor sees it, as a second interface per pod.
    r"tap[0-9]+_kata",
)
POD_INTERFACES = "^(" + "|".join(_POD_INTERFACE_SCHEMES) + ")$"

# Mount points node-exporter must not report (relative to --path.rootfs): its default
# (/dev, /proc, /sys, /run/credentials, Docker's storage) plus every mount that exists per pod or per container,
# whatever root the distribution gives the kubelet and the runtime:
# - the kubelet's pod volumes, secrets, projected tokens and CSI staging mounts: anything below a directory named
#   kubelet (/var/lib/kubelet, MicroK8s' /var/snap/microk8s/common/var/lib/kubelet, k0s' /var/lib/k0s/kubelet), and,
#   for any other --root-dir, the kubelet's own layout pods/<pod UID>/ and plugins/kubernetes.io/;
# - containerd's per-sandbox shm and per-task rootfs: anything below a directory named containerd (/run/containerd,
#   k3s/RKE2's /run/k3s/containerd, k0s' /run/k0s/containerd, MicroK8s' .../common/run/containerd);
# - CRI-O and Podman's containers/storage (graph root /var/lib/containers/storage, run root
#   /run/containers/storage with overlay-containers/<id>/userdata/shm);
# - Kata Containers' per-sandbox shares (/run/kata-containers) and the per-pod network namespaces.
# The directories themselves stay (a dedicated disk for /var/lib/kubelet or /var/lib/containerd is the node's own).
_POD_UID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
NODE_MOUNT_POINTS_EXCLUDE = (
    r"^/(dev|proc|sys|run/credentials/.+|var/lib/docker/.+"
    r"|(.+/)?kubelet/.+|.+/pods/" + _POD_UID + r"/.+|.+/plugins/kubernetes\.io/.+"
    r"|(.+/)?containerd/.+|(.+/)?containers/storage/.+|run/kata-containers/.+|run/(docker/)?netns/.+)($|/)"
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
