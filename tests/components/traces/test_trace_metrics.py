"""Span metrics and the service graph come from every span (before tail sampling), under the names their readers use.

Producer: the rendered Alloy pipeline. Consumers: Grafana's Tempo datasource (traces to metrics, service map)
and the stack's rules and dashboards. grafana/tempo#1515: a generator fed sampled traces rates them about
1/share too low; the real-collector evidence is tests/e2e/test_e2e_trace_pipeline.py.
"""

from __future__ import annotations

import json
import re

from components.logs.alloy_config import ENVIRONMENT_ATTRIBUTES
from components.traces import trace_metrics
from components.wiring import endpoints
from tests.support import relabel
from tests.support.alloy_parser import Block, Call, references
from tests.support.alloy_render import alloy_blocks, one
from tests.support.k8s_objects import container, mounted_yaml
from tooling.render import Render

SAMPLER = "otelcol.processor.tail_sampling"
METRIC_CONNECTORS = ("otelcol.connector.spanmetrics", "otelcol.connector.servicegraph")


def _downstream(blocks: list[Block], start: str) -> set[str]:
    """Every component reachable from ``start`` (``name.label``) through output blocks and forward_to."""
    by_id = {f"{b.name}.{b.label}": b for b in blocks}
    seen: set[str] = set()
    todo = [start]
    while todo:
        block = by_id[todo.pop()]
        targets = [r for child in block.children("output") for value in child.attributes.values() for r in references(value)]
        targets += references(block.attributes.get("forward_to", []))
        for target in (t.rsplit(".", 1)[0] for t in targets):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def test_every_span_the_sampler_sees_reaches_the_metric_connectors(rendered: Render) -> None:
    blocks = alloy_blocks(rendered)
    sampler = one(blocks, SAMPLER)
    feeders = [b for b in blocks if any(f"{SAMPLER}.{sampler.label}.input" in references(v) for c in b.children("output") for v in c.attributes.values())]
    assert len(feeders) == 1, "one component feeds the sampler"
    fan_out = references(feeders[0].child("output").attributes["traces"])
    for connector in METRIC_CONNECTORS:
        assert f"{connector}.{one(blocks, connector).label}.input" in fan_out, f"{connector} does not take what the sampler takes"


def test_nothing_downstream_of_the_sampler_computes_metrics(rendered: Render) -> None:
    """The kind: no aggregation after a non-uniform sampler, in Alloy or in Tempo."""
    blocks = alloy_blocks(rendered)
    after = _downstream(blocks, f"{SAMPLER}.{one(blocks, SAMPLER).label}")
    assert not any(component.startswith(("otelcol.connector.", "otelcol.exporter.prometheus", "prometheus.")) for component in after), after
    tempo = mounted_yaml(rendered, "StatefulSet", endpoints.TEMPO_NAME, "/etc/tempo/tempo.yaml")
    assert "metrics_generator" not in tempo, "Tempo receives sampled traces: its metrics-generator would rate them too low"


def test_both_sides_of_a_call_meet_in_one_service_graph(rendered: Render) -> None:
    """The service graph pairs a client span with its server span: it sits behind the load-balancing hop,
    which sends every span of a trace to one Alloy."""
    blocks = alloy_blocks(rendered)
    balancer = one(blocks, "otelcol.exporter.loadbalancing")
    assert balancer.attributes["routing_key"] == "traceID"
    graph = f"otelcol.connector.servicegraph.{one(blocks, 'otelcol.connector.servicegraph').label}"
    assert graph in _downstream(blocks, f"otelcol.receiver.otlp.{one(blocks, 'otelcol.receiver.otlp', 'routed').label}")
    # Before the hop an instance holds a random part of each trace: no connector there.
    before_hop = _downstream(blocks, f"otelcol.receiver.otlp.{one(blocks, 'otelcol.receiver.otlp', 'apps').label}")
    assert f"otelcol.exporter.loadbalancing.{balancer.label}" in before_hop
    assert not any(c.startswith("otelcol.connector.") for c in before_hop)


def test_the_series_reach_every_prometheus_replica_under_tempo_s_names(rendered: Render) -> None:
    blocks = alloy_blocks(rendered)
    connector = one(blocks, "otelcol.connector.spanmetrics")
    # <namespace>.calls -> traces_spanmetrics_calls_total, <namespace>.duration (unit s) -> ..._duration_seconds
    prefix = connector.attributes["namespace"].replace(".", "_")
    assert f"{prefix}_calls_total" == trace_metrics.CALLS_COUNTER
    assert connector.child("histogram").attributes["unit"] == "s" and f"{prefix}_duration_seconds" == trace_metrics.DURATION_HISTOGRAM
    rules = one(blocks, "prometheus.relabel").children("rule")
    rename = next(r for r in rules if r.attributes.get("target_label") == "__name__")
    assert re.fullmatch(rename.attributes["regex"], f"{trace_metrics.DURATION_HISTOGRAM}_bucket")
    assert rename.attributes["replacement"].replace("$1", "bucket") == f"{trace_metrics.LATENCY_HISTOGRAM}_bucket"
    assert any(r.attributes.get("source_labels") == ["service_name"] and r.attributes.get("target_label") == "service" for r in rules)
    write = one(blocks, "prometheus.remote_write")
    urls = [e.attributes["url"] for e in write.children("endpoint")]
    assert len(urls) == rendered.settings.prometheus.replicas
    assert trace_metrics.COLLECTOR_LABEL in write.attributes["external_labels"], "two Alloy pods would write the same series"


def test_grafana_reads_the_series_alloy_writes(rendered: Render) -> None:
    """Consumer side: the Tempo datasource's traces-to-metrics query and tag, and its service map source."""
    datasource = json.loads(rendered.files["grafana/datasource-tempo.json"])["jsonDataEncoded"]
    metrics = datasource["tracesToMetrics"]
    assert {"key": "service.name", "value": "service"} in metrics["tags"]
    names = {name for query in metrics["queries"] for name in re.findall(r"[a-z_]+(?=\{)", query["query"])}
    assert names == {trace_metrics.CALLS_COUNTER}
    assert datasource["serviceMap"]["datasourceUid"].endswith(endpoints.PROMETHEUS_UID)


def test_without_trace_metrics_nothing_is_written(render_stack) -> None:
    blocks = alloy_blocks(render_stack("dev", "tempo.metricsGenerator.enabled=false"))
    assert not [b for b in blocks if b.name in (*METRIC_CONNECTORS, "prometheus.remote_write")]


def test_the_environment_dimension_is_one_alloy_fills_on_every_trace(rendered: Render) -> None:
    """Alloy fills whichever environment attribute a trace lacks (components/logs/alloy_config.py) before the hop."""
    blocks = alloy_blocks(rendered)
    span_dimensions = {d.attributes["name"] for d in one(blocks, "otelcol.connector.spanmetrics").children("dimension")}
    graph_dimensions = set(one(blocks, "otelcol.connector.servicegraph").attributes["dimensions"])
    assert span_dimensions and graph_dimensions
    assert span_dimensions | graph_dimensions <= set(ENVIRONMENT_ATTRIBUTES)


def _env_reads(value: object) -> list[str]:
    """The variable names of every ``sys.env(...)`` call inside an attribute value."""
    if isinstance(value, Call):
        own = [value.args[0]] if value.name == "sys.env" else []
        return own + [n for a in value.args for n in _env_reads(a)]
    if isinstance(value, dict):
        return [n for v in value.values() for n in _env_reads(v)]
    if isinstance(value, (list, tuple)):
        return [n for v in value for n in _env_reads(v)]
    return []


def _all_env_reads(blocks: list[Block]) -> list[str]:
    return [n for b in blocks for v in b.attributes.values() for n in _env_reads(v)] + [n for b in blocks for n in _all_env_reads(b.blocks)]


def test_every_pod_name_alloy_reads_comes_from_the_downward_api(rendered: Render) -> None:
    """The ``collector`` label and the log share read the pod's name from the container's environment:
    the variable must be one the container gets from metadata.name (HOSTNAME is the pod's name only while
    the pod spec sets no hostname, and it is not written in the container spec)."""
    blocks = alloy_blocks(rendered)
    collector = one(blocks, "prometheus.remote_write").attributes["external_labels"][trace_metrics.COLLECTOR_LABEL]
    assert _env_reads(collector), "the collector label must be the pod's name"
    env = {e["name"]: e for e in container(rendered, "StatefulSet", endpoints.ALLOY_NAME)["env"]}
    reads = set(_all_env_reads(blocks))
    assert reads, "the share and the collector label read the pod's name"
    for name in reads:
        assert name in env, f"Alloy reads sys.env({name!r}); the container does not set it"
        assert env[name]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name", env[name]


def _written(rendered: Render, series: dict[str, str]) -> dict[str, str] | None:
    """The labels one series from otelcol.exporter.prometheus has after the rendered prometheus.relabel."""
    rules = one(alloy_blocks(rendered), "prometheus.relabel").children("rule")
    return relabel.apply(rules, series, {})


def test_overflow_series_of_two_services_stay_two_series_with_their_service(rendered: Render) -> None:
    """Past aggregation_cardinality_limit the connector counts a service's new keys in one data point with
    only otel.metric.overflow=true: no service_name. Alloy v1.10.1's otelcol.exporter.prometheus writes the
    resource's service into `job` (``<service.namespace>/<service.name>`` or ``<service.name>``). Dropping
    `job` without keeping it would give every service's overflow series the same labels: duplicate samples
    in one remote-write request, and SpanMetricsSeriesLimited would count one service."""
    overflow = [
        {"__name__": trace_metrics.CALLS_COUNTER, "job": "checkout", "otel_metric_overflow": "true"},
        {"__name__": trace_metrics.CALLS_COUNTER, "job": "shop/cart", "otel_metric_overflow": "true"},
    ]
    written = [_written(rendered, series) for series in overflow]
    assert written[0] != written[1], f"two services' overflow series collide: {written}"
    assert [w and w.get("service") for w in written] == ["checkout", "shop/cart"]
    assert all(w and "job" not in w and "service_name" not in w for w in written), written


def test_named_series_keep_service_name_as_their_service(rendered: Render) -> None:
    """A named series' `service` is service.name alone, as Tempo's generator wrote it, even when the
    resource has a service.namespace (then `job` is ``<namespace>/<name>``)."""
    series = {
        "__name__": trace_metrics.CALLS_COUNTER, "job": "shop/cart", "instance": "cart-7d9f-abc",
        "service_name": "cart", "span_name": "GET /items", "span_kind": "SPAN_KIND_SERVER", "status_code": "STATUS_CODE_UNSET",
    }
    written = _written(rendered, series)
    assert written == {
        "__name__": trace_metrics.CALLS_COUNTER, "service": "cart",
        "span_name": "GET /items", "span_kind": "SPAN_KIND_SERVER", "status_code": "STATUS_CODE_UNSET",
    }


def test_both_connectors_flush_as_often_as_tempo_s_generator_collected(rendered: Render) -> None:
    """Neither connector flushes on shutdown, so a restarted Alloy pod loses up to one flush interval of
    counts; unset, Alloy v1.10.1 flushes every 60 s. Tempo 2.8.2's generator collected every 15 s
    (modules/generator/registry/config.go, collection_interval): the series keep that resolution."""
    blocks = alloy_blocks(rendered)
    intervals = {connector: one(blocks, connector).attributes.get("metrics_flush_interval") for connector in METRIC_CONNECTORS}
    assert intervals == dict.fromkeys(METRIC_CONNECTORS, trace_metrics.METRICS_FLUSH_INTERVAL), intervals
    assert trace_metrics.METRICS_FLUSH_INTERVAL == "15s"


def test_service_graph_series_get_no_service_label(rendered: Render) -> None:
    """The servicegraph connector (v0.128.0, the version Alloy v1.10.1 wraps) writes its metrics under an
    empty resource, so the exporter's `job` is empty and the overflow rule adds nothing: the edges keep
    only client and server."""
    series = {"__name__": trace_metrics.SERVICE_GRAPH_REQUESTS, "client": "frontend", "server": "checkout", "client_deployment_environment": "prod"}
    assert _written(rendered, series) == series
