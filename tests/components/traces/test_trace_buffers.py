"""The trace pipeline's in-memory buffers: sized for what they hold, inside Alloy's memory, and their losses alerted.

Producer: the rendered Alloy config (the service graph's store, the tail sampler's buffer, the memory limiter,
the container's limit). Consumers: the rules of the stack-delivery group, which must read the counters the
components really export, under the names Alloy v1.10.1 gives them. The real-collector evidence of the
sampler's overflow and the exporter's full queue is tests/e2e/test_e2e_trace_loss.py.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import yaml

from components.logs import alloy_config
from components.paths import DOCS_DIR, RULES_DIR
from components.settings.units import quantity_bytes
from components.wiring import endpoints
from tests.support.alloy_render import alloy_blocks, one
from tests.support.k8s_objects import container
from tooling.render import Render

SERVICE_GRAPH = "otelcol.connector.servicegraph"
SAMPLER = "otelcol.processor.tail_sampling"
LIMITER = "otelcol.processor.memory_limiter"
# The batch span processor of the OpenTelemetry SDKs exports every 5 s by default (specification,
# OTEL_BSP_SCHEDULE_DELAY = 5000 ms): the client and server span of one call, from two services, can reach
# Alloy that far apart plus the call's own duration.
SDK_EXPORT_DELAY_SECONDS = 5
# Tempo 2.8.2's generator (modules/generator/processor/servicegraphs/config.go): what the service map had.
TEMPO_GENERATOR_WAIT_SECONDS = 10
TEMPO_GENERATOR_MAX_ITEMS = 10_000
_DURATION = re.compile(r"^(\d+)(ms|s|m)$")
# go.opentelemetry.io/otel/exporters/prometheus v0.58.0 (Alloy v1.10.1's component registries): a unit in its
# table becomes a name suffix, then a counter gets _total; an annotation unit like {spans} adds nothing.
_UNIT_SUFFIXES = {"1": "ratio", "s": "seconds", "ms": "milliseconds", "By": "bytes"}


def alloy_name(otel_name: str, unit: str, kind: str) -> str:
    """The Prometheus name Alloy v1.10.1 exports an OpenTelemetry instrument under (``kind``: counter or
    histogram; a histogram's _count series)."""
    name = otel_name.replace(".", "_")
    if unit in _UNIT_SUFFIXES:
        name += "_" + _UNIT_SUFFIXES[unit]
    return name + ("_total" if kind == "counter" else "_count")


# (alert, instrument as the component's metadata declares it, unit, kind): contrib servicegraphconnector and
# tailsamplingprocessor v0.128.0, collector exporterhelper v0.128.0, otelhttp / otelgrpc v0.61.0.
LOSS_COUNTERS = [
    ("AlloyServiceGraphSpansDropped", "otelcol_connector_servicegraph_dropped_spans", "1", "counter"),
    ("AlloyTracesDroppedUndecided", "otelcol_processor_tail_sampling_sampling_trace_dropped_too_early", "{traces}", "counter"),
    ("AlloyTraceExportFailing", "otelcol_exporter_send_failed_spans", "{spans}", "counter"),
    ("AlloyTraceExportFailing", "otelcol_exporter_enqueue_failed_spans", "{spans}", "counter"),
    ("AlloyTraceRequestsRefused", "http.server.request.duration", "s", "histogram"),
    ("AlloyTraceRequestsRefused", "rpc.server.duration", "ms", "histogram"),
]


def _seconds(duration: str) -> float:
    match = _DURATION.match(duration)
    assert match, duration
    value, unit = int(match[1]), match[2]
    return value * {"ms": 0.001, "s": 1, "m": 60}[unit]


def _mib_bytes(text: str) -> int:
    assert text.endswith("MiB"), text
    return int(text[:-3]) * 1024 * 1024


def _alerts() -> dict[str, dict[str, Any]]:
    groups = yaml.safe_load((RULES_DIR / "observability-stack.yaml").read_text(encoding="utf-8"))["groups"]
    return {r["alert"]: r for g in groups if g["name"] == "stack-delivery" for r in g["rules"] if "alert" in r}


def test_the_service_graph_waits_for_both_sides_of_a_call(rendered: Render) -> None:
    """Alloy's default store (ttl 2s, 1000 edges) expires a call whose two spans come from two SDKs' exports."""
    connector = one(alloy_blocks(rendered), SERVICE_GRAPH)
    store = connector.child("store").attributes
    ttl = _seconds(store["ttl"])
    assert ttl > SDK_EXPORT_DELAY_SECONDS, f"store ttl {store['ttl']} is shorter than one SDK export interval"
    assert ttl >= TEMPO_GENERATOR_WAIT_SECONDS
    assert isinstance(store["max_items"], int) and store["max_items"] > 0


def test_prod_s_service_graph_holds_at_least_what_tempo_s_generator_held(render_stack) -> None:
    store = one(alloy_blocks(render_stack("prod")), SERVICE_GRAPH).child("store").attributes
    assert store["max_items"] >= TEMPO_GENERATOR_MAX_ITEMS


def test_the_trace_buffers_fit_below_the_memory_limiter(rendered: Render) -> None:
    """The sampler's buffer and the service graph's store together stay below the limiter's soft limit (hard
    limit - spike), where it starts refusing spans: neither buffer can push Alloy into its OOM kill."""
    blocks = alloy_blocks(rendered)
    limiter = one(blocks, LIMITER).attributes
    soft = _mib_bytes(limiter["limit"]) - _mib_bytes(limiter["spike_limit"])
    traces = one(blocks, SAMPLER).attributes["num_traces"]
    edges = one(blocks, SERVICE_GRAPH).child("store").attributes["max_items"]
    buffers = traces * alloy_config.TRACE_BYTES + edges * alloy_config.EDGE_BYTES
    limit = quantity_bytes(container(rendered, "StatefulSet", endpoints.ALLOY_NAME)["resources"]["limits"]["memory"])
    assert soft < limit
    assert buffers <= soft, f"{traces} traces and {edges} edges need {buffers} bytes, above the limiter's soft limit {soft}"


def test_the_service_graph_store_follows_the_container(render_stack) -> None:
    def edges(*overrides: str) -> int:
        return int(one(alloy_blocks(render_stack("dev", *overrides)), SERVICE_GRAPH).child("store").attributes["max_items"])

    large = edges("alloy.resources={requests: {cpu: 100m, memory: 128Mi}, limits: {cpu: 500m, memory: 1Gi}}")
    assert large == 4 * edges()


def test_each_loss_counter_is_read_by_its_alert_under_alloy_s_name() -> None:
    alerts = _alerts()
    for alert, instrument, unit, kind in LOSS_COUNTERS:
        assert alert in alerts, f"no {alert} in the stack-delivery group"
        name = alloy_name(instrument, unit, kind)
        assert re.search(rf"\b{name}\{{", alerts[alert]["expr"]), f"{alert} does not read {name}"


def test_alloy_s_naming_of_the_collector_s_counters_matches_the_existing_alerts() -> None:
    """The naming rule above gives the names Alloy v1.10.1 documents for its otelcol components
    (otelcol.receiver.otlp.md: otelcol_receiver_refused_spans_total; its CHANGELOG: a unit-"1" counter
    exporter_sent_spans was exported as ..._ratio_total before the collector changed its unit)."""
    assert alloy_name("otelcol_receiver_refused_spans", "{spans}", "counter") == "otelcol_receiver_refused_spans_total"
    assert alloy_name("exporter_sent_spans", "1", "counter") == "exporter_sent_spans_ratio_total"


def test_the_sampler_s_capacity_is_documented_from_its_settings(render_stack) -> None:
    """docs/logs-and-traces.md states prod's capacity: num_traces / decision_wait new traces per second per replica."""
    sampler = one(alloy_blocks(render_stack("prod")), SAMPLER).attributes
    capacity = Decimal(sampler["num_traces"]) / Decimal(str(_seconds(sampler["decision_wait"])))
    docs = (DOCS_DIR / "logs-and-traces.md").read_text(encoding="utf-8")
    assert f"{int(capacity)} new traces/s" in docs, f"docs/logs-and-traces.md does not state the capacity {int(capacity)} new traces/s"
