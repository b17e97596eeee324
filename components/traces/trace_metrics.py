"""Span metrics and the service graph, computed in Alloy from every span, before tail sampling.

Tempo's metrics-generator sees only the traces Alloy keeps (every error, the environment's share of the
rest), so its rates came out about 1/share too low and its error ratios about 1/share too high
(grafana/tempo#1515). Alloy computes both where every span still passes: in the routed pipeline, after
the load-balancing hop has brought every span of a trace (so both sides of a call) to one instance, in
parallel with the sampler. The series keep the names and labels that Tempo's generator wrote, which
Grafana's Tempo datasource (service map, traces to metrics) reads:

- ``traces_spanmetrics_calls_total``, ``traces_spanmetrics_latency_{bucket,sum,count}`` (seconds) with
  ``service``, ``span_name``, ``span_kind``, ``status_code``, ``deployment_environment``;
- ``traces_service_graph_request_total``, ``..._failed_total``, ``..._server_seconds_*``,
  ``..._client_seconds_*`` with ``client``, ``server``, ``connection_type`` and the environment dimension of
  each side (``client_deployment_environment``, ``server_deployment_environment``: the connector prefixes
  every dimension with its side).

Each Alloy instance writes its own share of every series, told apart by ``COLLECTOR_LABEL`` (its pod
name): queries sum over it, as they did over nothing before.
"""

from __future__ import annotations

from components.logs.alloy_syntax import Block, Expr, export
from components.metrics import cardinality
from components.settings import Settings
from components.wiring import endpoints, flows

# The environment dimension Tempo's generator had (label deployment_environment); Alloy fills it on every
# trace from deployment.environment.name when only that is set (components/logs/alloy_config.py).
ENVIRONMENT_DIMENSION = "deployment.environment"
# The otelcol spanmetrics connector names its metrics <namespace>.calls and <namespace>.duration; this
# namespace makes the Prometheus names traces_spanmetrics_calls_total and traces_spanmetrics_duration_seconds.
SPANMETRICS_NAMESPACE = "traces.spanmetrics"
# Tempo's generator calls the histogram ..._latency (seconds); renamed on the way to Prometheus.
DURATION_HISTOGRAM = "traces_spanmetrics_duration_seconds"
LATENCY_HISTOGRAM = "traces_spanmetrics_latency"
CALLS_COUNTER = "traces_spanmetrics_calls_total"
SERVICE_GRAPH_REQUESTS = "traces_service_graph_request_total"
# Tempo's default span-metrics buckets (seconds), so every `le` a panel used before still exists.
LATENCY_BUCKETS_SECONDS = (0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192, 16.384)
# Resource attributes that key a service's series: without this every pod (service.instance.id, host
# name) would get series of its own, which Tempo's generator never had.
RESOURCE_KEY_ATTRIBUTES = ("service.name", "deployment.environment", "deployment.environment.name")
# The Alloy pod a series comes from: two instances each see a share of every service's spans. The pod's
# name comes from the downward API (HOSTNAME is only the pod's name while the pod spec sets no hostname).
COLLECTOR_LABEL = "collector"
POD_NAME_ENV = endpoints.ALLOY_POD_NAME_ENV
# What the remote-written series carry besides their own labels (Tempo's generator wrote source="tempo").
SOURCE = "alloy"
LABEL = "all_spans"
# How long the service graph keeps one side of a call waiting for the other (store.ttl). The two spans of a
# call come from two services' SDKs, each exporting on its own timer: the batch span processor's default
# schedule delay is 5 s (OpenTelemetry specification, OTEL_BSP_SCHEDULE_DELAY=5000 ms), so the client span
# can reach Alloy 5 s plus the call's duration after the server span. Alloy v1.10.1's default of 2 s
# (connector/servicegraph/servicegraph.go, StoreConfig.SetToDefault) expires such pairs unmatched; 10 s is
# what Tempo 2.8.2's generator waited (servicegraphs.Config.Wait), so the service map counts what it did.
SERVICE_GRAPH_WAIT = "10s"
# How often both connectors hand their counts to the exporter (metrics_flush_interval). Alloy v1.10.1's
# default is 60 s (connector/spanmetrics/spanmetrics.go, connector/servicegraph/servicegraph.go), and
# neither connector flushes on shutdown, so a restarted or rolled Alloy pod loses up to one interval of
# span and call counts (docs/logs-and-traces.md). 15 s is how often Tempo 2.8.2's generator wrote the same
# series (registry collection_interval, modules/generator/registry/config.go), so the loss and the
# freshness of the panels are what they were.
METRICS_FLUSH_INTERVAL = "15s"


def _duration(seconds: float) -> str:
    """An Alloy duration for a bucket bound, in milliseconds so every bound is exact (0.002 -> "2ms")."""
    milliseconds = round(seconds * 1000)
    return f"{milliseconds}ms"


def trace_metric_blocks(settings: Settings, service_graph_edges: int) -> tuple[list[Block], list[Expr]]:
    """(the components, the trace consumers to add to the routed pipeline's fan-out).

    ``service_graph_edges``: how many unpaired call edges the service graph may hold (store.max_items), a
    share of Alloy's memory (components/logs/alloy_config.py, sampling_memory). Empty when
    ``tempo.metricsGenerator.enabled`` is off (then nothing is written to Prometheus)."""
    if not settings.tempo.metrics_generator.enabled:
        return [], []
    write = Block(
        "prometheus.remote_write",
        LABEL,
        {"external_labels": {"source": SOURCE, "environment": settings.environment, COLLECTOR_LABEL: Expr(f'sys.env("{POD_NAME_ENV}")')}},
        # Every replica gets every series: an HA pair must not split span metrics between them.
        [
            Block("endpoint", attributes={"url": url + flows.REMOTE_WRITE_PATH, "send_exemplars": True})
            for url in endpoints.prometheus_replica_urls(settings.namespace, settings.prometheus.replicas)
        ],
    )
    relabel = Block(
        "prometheus.relabel",
        LABEL,
        {"forward_to": [export(write, "receiver")]},
        [
            Block("rule", attributes={
                "source_labels": ["__name__"], "regex": f"{DURATION_HISTOGRAM}_(bucket|sum|count)",
                "target_label": "__name__", "replacement": f"{LATENCY_HISTOGRAM}_$1",
            }),
            # An overflow data point (past aggregation_cardinality_limit) has no attributes but
            # otel.metric.overflow, so no service_name; its service is only in `job`, which Alloy v1.10.1's
            # otelcol.exporter.prometheus fills from the resource: <service.namespace>/<service.name>, or
            # <service.name> without a namespace (internal/component/otelcol/exporter/prometheus/internal/
            # convert/convert.go). Taken first, so the overflow series of two services stay two series.
            Block("rule", attributes={"source_labels": ["job"], "regex": "(.+)", "target_label": "service", "replacement": "$1"}),
            # Tempo's label for service.name is `service` (Grafana's traces-to-metrics tag maps to it); it
            # replaces the job's value on every named series (job may carry a namespace prefix).
            Block("rule", attributes={"source_labels": ["service_name"], "regex": "(.+)", "target_label": "service", "replacement": "$1"}),
            # job/instance come from the resource (service.name, service.instance.id): the first is in
            # `service` now, the second would split series per application pod.
            Block("rule", attributes={"action": "labeldrop", "regex": "service_name|job|instance"}),
        ],
    )
    exporter = Block(
        "otelcol.exporter.prometheus",
        LABEL,
        {"include_target_info": False, "forward_to": [export(relabel, "receiver")]},
    )
    metrics_out = [Block("output", attributes={"metrics": [export(exporter, "input")]})]
    spanmetrics = Block(
        "otelcol.connector.spanmetrics",
        LABEL,
        {
            "namespace": SPANMETRICS_NAMESPACE,
            "resource_metrics_key_attributes": list(RESOURCE_KEY_ATTRIBUTES),
            # A span name with an ID in it would otherwise grow the series without bound (components/metrics/cardinality.py).
            "aggregation_cardinality_limit": cardinality.SPAN_METRICS_KEYS_PER_SERVICE,
            "metrics_expiration": cardinality.SPAN_METRICS_EXPIRATION,
            "metrics_flush_interval": METRICS_FLUSH_INTERVAL,
        },
        [
            Block("dimension", attributes={"name": ENVIRONMENT_DIMENSION}),
            Block("histogram", attributes={"unit": "s"},
                  blocks=[Block("explicit", attributes={"buckets": [_duration(b) for b in LATENCY_BUCKETS_SECONDS]})]),
            Block("exemplars", attributes={"enabled": True}),
            *metrics_out,
        ],
    )
    servicegraph = Block(
        "otelcol.connector.servicegraph",
        LABEL,
        {"dimensions": [ENVIRONMENT_DIMENSION], "metrics_flush_interval": METRICS_FLUSH_INTERVAL},
        [
            # Beyond max_items a new edge's span is dropped (otelcol_connector_servicegraph_dropped_spans,
            # alert ServiceGraphSpansDropped); an edge unpaired after ttl expires uncounted.
            Block("store", attributes={"ttl": SERVICE_GRAPH_WAIT, "max_items": service_graph_edges}),
            *metrics_out,
        ],
    )
    return [spanmetrics, servicegraph, exporter, relabel, write], [export(spanmetrics, "input"), export(servicegraph, "input")]
