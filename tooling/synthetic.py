"""Synthetic series for the metric catalog: label values, buckets and healthy values.

Shared by the load generator (every catalog family, healthy) and the SLA
violation injector (the Seamless families, unhealthy). Values are chosen to
sit well inside every alert threshold, so a stack under synthetic load is
quiet until something is injected; failure-like series exist (so panels and
ratios have data) but do not grow.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary

from components.rules.catalog import ANY_JOB, Catalog, Metric
from components.wiring import endpoints, scrape_jobs

# Families the local stack's own Prometheus and Alertmanager export (or
# Prometheus writes itself: ALERTS, scrape_*); the generator leaves them to the real binaries. A family of
# the same name that another exporter serves (Alloy's prometheus.remote_write writes
# prometheus_remote_storage_*) is generated: the local Prometheus remote-writes nowhere.
LIVE_PREFIXES = ("prometheus_", "alertmanager_")
LIVE_JOBS = (scrape_jobs.job(endpoints.PROMETHEUS_NAME), scrape_jobs.job(endpoints.ALERTMANAGER_NAME))
LIVE_SYSTEMS = ("prometheus-synthetic",)
# Systems instrumented with a Prometheus client library, which appends _total
# to counter names; exporters and upstream components (Tempo's
# tempo_receiver_refused_spans, say) expose counters under the name as written.
CLIENT_LIBRARY_SYSTEMS = ("qmtl-seamless", "qmtl-core", "dvt", "copilot")
# kube-state-metrics and cAdvisor series carry the pod's own namespace, pod and container.
POD_SCOPED_PREFIXES = ("kube_pod_", "container_")
# Of those, the families about a pod rather than one of its containers (no container label).
POD_LEVEL_FAMILIES = ("kube_pod_status_phase",)
CONTAINERS = ("parsing", "embedding")
DEFAULT_JOB = "synthetic-load"

# Label values, per label; (family, label) entries win. Values the seeds name.
LABEL_VALUES: dict[str, tuple[str, ...]] = {
    "phase": ("storage_wait", "backfill_wait", "live_wait", "total"),
    "node_id": ("seam-node-1", "seam-node-2"),
    "interval": ("60",),
    "world_id": ("world-main",),
    "lease_key": ("lease-A", "lease-B"),
    "flag_type": ("gap", "duplicate", "schema_drift"),
    "reason": ("coverage", "staleness"),
    "scope": ("total", "node"),
    "topic": ("diff-requests",),
    "execution_domain": ("live", "backtest"),
    "as_of": ("__unset__",),
    "partition": ("__unset__",),
    "run_id": ("run-1",),
    "stage": ("apply",),
    "status": ("success", "failure"),
    "upstream_id": ("binance",),
    "planId": ("plan-a",),
    "planVersion": ("1",),
    "environmentId": ("env-main",),
    "adapter": ("temporal",),
    "error_code": ("none",),
    "stepId": ("step-1", "step-2"),
    "cause": ("timeout", "transient_error", "resource_exhausted"),
    "event_type": ("RunStarted", "StepCompleted"),
    "plugin_type": ("transform",),
    "tenantId": ("tenant-a",),
    "signal_type": ("PAUSE", "RESUME", "CANCEL"),
    "domain": ("default",),
    "endpoint": ("/v1/runs",),
    "status_code": ("200", "500"),
    "method": ("StartWorkflow",),
    "error_type": ("timeout", "validation"),
    "queue": ("parsing", "chunking", "embedding", "summarization"),
    "dependency": ("mongodb", "rabbitmq", "qdrant"),
    "conn_type": ("current", "available"),
    "legacy_op_type": ("query", "insert", "update"),
    "op_type": ("reads", "writes", "commands"),
    "resource": ("cpu", "memory"),
    "interface": ("eth0",),
    "device": ("/dev/vda1",),
    "node": ("node-1",),
    "collection": ("messages",),
    "vector": ("default",),
    "vhost": ("/",),
    "name": ("parsing",),
    "image": ("copilot/parsing:1.0",),
    "id": ("/kubepods/pod-parsing",),
    "cpu": ("total",),
    "rule_group": ("synthetic",),
    "integration": ("webhook",),
    "state": ("active",),
    "tenant": ("fake",),
    "route": ("loki_api_v1_push", "loki_api_v1_query_range"),
    "ws": ("false",),
    "receiver": ("otlp",),
    "transport": ("grpc",),
    "persistentvolumeclaim": ("prometheus-db", "alertmanager-db", "pushgateway-data", "loki-data", "tempo-data", "grafana-data"),
}
FAMILY_LABEL_VALUES: dict[tuple[str, str], tuple[str, ...]] = {
    ("controlbus_apply_ack_total", "phase"): ("freeze", "unfreeze"),
    # The synthetic pods run; the Succeeded series exists at 0, as kube-state-metrics writes it.
    ("kube_pod_status_phase", "phase"): ("Running", "Succeeded"),
    ("controlbus_apply_ack_latency_ms", "phase"): ("freeze", "unfreeze"),
    ("dvt_runs_completed_total", "status"): ("success", "failed", "cancelled"),
    ("dvt_run_completion_duration_seconds", "status"): ("success", "failed"),
    ("dvt_step_duration_seconds", "status"): ("success", "failed"),
    ("dvt_plugin_invocations_total", "status"): ("success", "timeout", "permission_denied", "isolated_failure"),
    ("dvt_signals_received_total", "status"): ("accepted", "rejected", "deferred"),
    ("world_apply_run_total", "status"): ("success", "failure"),
    ("loki_discarded_samples_total", "reason"): ("rate_limited",),
    ("rest_responses_total", "endpoint"): ("/collections/{name}/points/search", "/collections/{name}/points/query"),
    ("rest_responses_fail_total", "endpoint"): ("/collections/{name}/points/search",),
    ("rest_responses_avg_duration_seconds", "endpoint"): ("/collections/{name}/points/search",),
    ("rest_responses_max_duration_seconds", "endpoint"): ("/collections/{name}/points/search",),
    ("tempo_discarded_spans_total", "reason"): ("trace_too_large",),
}
# A series carrying one of these values is a failure: it exists, at zero.
FAILURE_VALUES = frozenset(
    {"failure", "failed", "cancelled", "timeout", "permission_denied", "isolated_failure", "rejected", "deferred", "500"}
)
# `up` per scrape job and blackbox probes per target, as the cluster would have them.
UP_JOBS = ("dvt-engine", "qdrant", "rabbitmq", "mongodb", "qmtl-gateway", "qmtl-dagmanager")
# Probe target -> its job: Ollama's Probe sets job="ollama" (components/metrics/service_availability.py); None: the component probes' job.
PROBE_TARGETS: dict[str, str | None] = {"http://ollama:11434/": "ollama", "http://reporting:8080/health": None, "http://ingestion:8000/health": None}

BUCKETS_MS = (1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 30000.0, 60000.0)
BUCKETS_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
BUCKETS_COUNT = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0)

# Typical healthy observation per histogram family (jitter is applied around it).
TYPICAL_OBSERVATION: dict[str, float] = {
    "seamless_sla_deadline_seconds": 20.0,
    "dvt_run_completion_duration_seconds": 2.0,
    "dvt_step_duration_seconds": 0.4,
    "copilot_summarization_processing_duration_seconds": 4.0,
    "copilot_embedding_processing_duration_seconds": 1.5,
    "gap_repair_latency_ms": 800.0,
}
# Healthy gauge levels, per family; the rest follow the name heuristics in gauge_level().
GAUGE_LEVELS: dict[str, float] = {
    "backfill_completion_ratio": 0.97,
    "coverage_ratio": 0.99,
    "world_allocation_snapshot_stale_ratio": 0.01,
    "live_staleness_seconds": 3.0,
    "seamless_rl_tokens_available": 80.0,
    "diff_duration_ms_p95": 80.0,
    "gateway_e2e_latency_p95": 60.0,
    "nodecache_resident_bytes": 1.5e9,
    "sentinel_gap_count": 0.0,
    "orphan_queue_total": 2.0,
    "queue_lag_seconds": 2.0,
    "queue_lag_threshold_seconds": 30.0,
    "dagclient_breaker_open_total": 0.0,
    "kafka_breaker_open_total": 0.0,
    "backfill_jobs_in_progress": 2.0,
    "dvt_runs_in_flight": 4.0,
    "dvt_projection_lag_events": 3.0,
    "dvt_plugin_sandbox_memory_bytes": 6.4e7,
    "dvt_deferred_signals_queue_length": 2.0,
    "dvt_workers_available": 5.0,
    "rabbitmq_queue_message_age_seconds": 12.0,
    "rabbitmq_queue_messages_ready": 3.0,
    "rabbitmq_queue_consumers": 2.0,
    "container_memory_usage_bytes": 2.5e8,
    "probe_duration_seconds": 0.04,
    "kubelet_volume_stats_capacity_bytes": 10 * 2**30,
    "kubelet_volume_stats_used_bytes": 2 * 2**30,
    "kubelet_volume_stats_available_bytes": 8 * 2**30,
}
# Counter growth per second for healthy series (failures stay at zero). Events
# grow fast: with time compressed, a throughput rule's rate() over [10m]
# divides the few seconds of data there are by the whole window, and must
# still clear its minimum.
EVENTS_PER_SECOND = 200.0
COUNTER_RATES: dict[str, float] = {
    "artifact_bytes_written": 2.0e5,
    "dvt_step_artifacts_written_bytes_total": 5.0e4,
    "container_cpu_usage_seconds_total": 0.05,
}
# Counters that measure something wrong: they exist and stay flat under healthy load.
BAD_COUNTER_WORDS = (
    "fail",
    "error",
    "lost",
    "dropped",
    "collision",
    "gaps",
    "cross_context",
    "retries",
    "retry",
    "holds",
    "returns",
    "flag",
    "warning",
    "refused",
    "discarded",
    "exceeded",
    "limited",
    # A container restart (kube_pod_container_status_restarts_total) is a crash under healthy load.
    "restarts",
)

Labels = dict[str, str]


def buckets_for(metric: Metric) -> tuple[float, ...]:
    """The catalog's buckets, else a layout for the unit in the name."""
    if metric.buckets:
        return metric.buckets
    if metric.name.endswith("_ms"):
        return BUCKETS_MS
    if metric.name.endswith("_seconds"):
        return BUCKETS_SECONDS
    return BUCKETS_COUNT


def copilot_service(metric: Metric) -> str | None:
    """The service a per-service copilot family belongs to (copilot_<service>_...)."""
    parts = metric.name.split("_")
    return parts[1] if metric.name.startswith("copilot_") and len(parts) > 2 else None


def label_values(metric: Metric, label: str, environment: str) -> tuple[str, ...]:
    if label == "environment":
        return (environment,)
    if label == "service":
        return (copilot_service(metric) or "copilot",)
    if label == "queue" and metric.name.startswith("copilot_") and (svc := copilot_service(metric)) in LABEL_VALUES["queue"]:
        return (svc,)
    if label == "queue" and metric.name.startswith("rabbitmq_"):
        # Each service queue, and a dead-letter queue (<queue>.failed) as the Failed Queues dashboard reads them.
        return (*LABEL_VALUES["queue"], "parsing.failed")
    return FAMILY_LABEL_VALUES.get((metric.name, label)) or LABEL_VALUES.get(label) or (f"{label}-1",)


def label_sets(metric: Metric, environment: str, namespace: str = "observability") -> list[Labels]:
    """Every label combination the generator emits for a family (small on purpose)."""
    names = sorted(metric.labels)
    choices = [label_values(metric, name, environment) for name in names]
    combos = [dict(zip(names, combo, strict=True)) for combo in itertools.product(*choices)]
    if metric.name.startswith(POD_SCOPED_PREFIXES):
        pods = [{"namespace": namespace, "container": c, "pod": f"{c}-5d8f9c7b6-x2k4p"} for c in CONTAINERS]
        if metric.name in POD_LEVEL_FAMILIES:
            pods = [{k: v for k, v in p.items() if k != "container"} for p in pods]
        combos = [{**combo, **pod} for combo in combos for pod in pods]
    return combos


def is_failure(labels: Labels) -> bool:
    return any(value in FAILURE_VALUES for value in labels.values())


def is_bad_counter(metric: Metric) -> bool:
    return any(word in metric.name for word in BAD_COUNTER_WORDS)


def gauge_level(metric: Metric, labels: Labels, now: float) -> float:
    """A healthy value for a gauge series."""
    name = metric.name
    if name in GAUGE_LEVELS:
        level = GAUGE_LEVELS[name]
        return level / 5 if name == "nodecache_resident_bytes" and labels.get("scope") != "total" else level
    if name in POD_LEVEL_FAMILIES:
        return 1.0 if labels.get("phase") == "Running" else 0.0
    if name.startswith("kube_pod_container_resource_"):
        return 1.0 if labels.get("resource") == "cpu" else 1.0e9
    if "timestamp" in name or name.endswith("_last_heartbeat_seconds"):
        return now - 5.0
    if name in {"up", "probe_success", "mongodb_up"} or name.endswith("_up"):
        return 1.0
    if name.endswith("_ratio"):
        return 0.95
    if name.endswith("_bytes"):
        return 1.0e8
    if name.endswith("_seconds"):
        return 1.0
    return 3.0


def groups_for(metric: Metric, namespace: str) -> list[Labels]:
    """Pushgateway grouping keys a family is pushed under (job, instance)."""
    if metric.name == "up":
        return [{"job": job} for job in UP_JOBS]
    if metric.name.startswith("probe_"):
        return [{"job": job or f"probe/{namespace}/blackbox", "instance": target} for target, job in PROBE_TARGETS.items()]
    return [{"job": DEFAULT_JOB}]


def group_id(group: Labels) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(group.items()))


MetricObject = Counter | Gauge | Histogram | Summary


def make_metric(metric: Metric, registry: CollectorRegistry, buckets: Iterable[float] | None = None, namespace: str | None = None) -> MetricObject:
    """A prometheus-client object for a catalog family, registered in ``registry``."""
    pod_labels = {"namespace", "pod"} if metric.name in POD_LEVEL_FAMILIES else {"namespace", "container", "pod"}
    labels = sorted(metric.labels | (pod_labels if namespace and metric.name.startswith(POD_SCOPED_PREFIXES) else set()))
    doc = metric.help or metric.name
    if metric.type == "counter" and (metric.system in CLIENT_LIBRARY_SYSTEMS or metric.name.endswith("_total")):
        return Counter(metric.name, doc, labels, registry=registry)
    if metric.type == "counter":
        # Exposed under the name as written (no _total appended); only ever incremented.
        return Gauge(metric.name, doc, labels, registry=registry)
    if metric.type == "gauge":
        return Gauge(metric.name, doc, labels, registry=registry)
    if metric.type == "histogram":
        return Histogram(metric.name, doc, labels, registry=registry, buckets=tuple(buckets or buckets_for(metric)))
    return Summary(metric.name, doc, labels, registry=registry)


def presence_series(metric: Metric) -> str:
    """The series name that shows a family is exposed: _count of a histogram/summary, a counter as its emitter names it."""
    if metric.type in ("histogram", "summary"):
        return f"{metric.name}_count"
    if metric.type == "counter" and metric.system in CLIENT_LIBRARY_SYSTEMS and not metric.name.endswith("_total"):
        return f"{metric.name}_total"
    return metric.name


def child(obj: MetricObject, labels: Labels) -> MetricObject:
    return obj.labels(**labels) if labels else obj


@dataclass
class _Series:
    metric: Metric
    obj: MetricObject
    labels: Labels
    healthy: bool


@dataclass
class LoadGenerator:
    """Healthy values for catalog families, grouped by Pushgateway grouping key."""

    families: list[Metric]
    environment: str = "dev"
    namespace: str = "observability"
    seed: int = 7
    registries: dict[tuple[tuple[str, str], ...], CollectorRegistry] = field(default_factory=dict)
    _series: list[_Series] = field(default_factory=list)
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]
        self._rng = random.Random(self.seed)
        for metric in self.families:
            for group in groups_for(metric, self.namespace):
                registry = self.registries.setdefault(group_id(group), CollectorRegistry(auto_describe=True))
                obj = make_metric(metric, registry, namespace=self.namespace)
                for labels in label_sets(metric, self.environment, self.namespace):
                    # .labels() creates the series at zero, so failure series exist too.
                    self._series.append(_Series(metric, child(obj, labels), labels, not is_failure(labels)))

    def groups(self) -> list[tuple[Labels, CollectorRegistry]]:
        return [(dict(key), registry) for key, registry in sorted(self.registries.items())]

    def tick(self, seconds: float, now: float) -> None:
        """Advance every series by ``seconds`` of healthy traffic."""
        jitter: Callable[[], float] = lambda: self._rng.uniform(0.7, 1.3)  # noqa: E731
        for s in self._series:
            m = s.metric
            if m.type == "gauge":
                # Steady levels: a jittering gauge would trip delta()/deriv() alerts (e.g. OrphanQueuesGrowing).
                s.obj.set(gauge_level(m, s.labels, now))  # type: ignore[union-attr]
            elif m.type == "counter":
                if s.healthy and not is_bad_counter(m):
                    s.obj.inc(COUNTER_RATES.get(m.name, EVENTS_PER_SECOND) * seconds * jitter())  # type: ignore[union-attr]
            elif s.healthy:
                typical = TYPICAL_OBSERVATION.get(m.name) or _typical(m)
                for _ in range(max(1, round(2 * seconds))):
                    s.obj.observe(typical * jitter())  # type: ignore[union-attr]


def _typical(metric: Metric) -> float:
    if metric.name.endswith("_ms"):
        return 20.0
    if metric.name.endswith("_seconds"):
        return 0.05
    return 8.0


def is_live(metric: Metric) -> bool:
    """A family the real Prometheus or Alertmanager of the local stack serves itself."""
    return metric.name.startswith(LIVE_PREFIXES) and metric.job in (*LIVE_JOBS, ANY_JOB)


def catalog_families(catalog: Catalog, *, include_live: bool = False, systems: Iterable[str] | None = None) -> list[Metric]:
    """Catalog families to generate: all but the live ones, optionally only some systems."""
    wanted = set(systems) if systems is not None else None
    return [
        catalog.metrics[name]
        for name in catalog.names()
        if (include_live or not (is_live(catalog.metrics[name]) or catalog.metrics[name].system in LIVE_SYSTEMS))
        and (wanted is None or catalog.metrics[name].system in wanted)
    ]
