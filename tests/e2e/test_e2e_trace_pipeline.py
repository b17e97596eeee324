"""The trace pipeline's semantics on the real OpenTelemetry Collector components Alloy wraps (`make tools`: otelcol).

(a) Span metrics beside the tail sampler, where the rendered Alloy config puts them, count every span; the
same connector after the sampler (where Tempo's metrics-generator sat: it received sampled traces) counts
about the sampled share, and its error ratio is inflated (grafana/tempo#1515).

(b) An OTLP gRPC receiver at the 4 MiB default (Tempo's before the fix) refuses a batch above it whole;
the sender counts the loss (otelcol_exporter_send_failed_spans) and the receiver gets nothing. With the
receiver limit and the batch bounds the stack renders, every span arrives.

The tail-sampling policies, the span-metric connector's settings and the size limits are read from the
rendered configs (prod), so a change there changes what runs here.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.metrics import cardinality
from components.paths import RULES_DIR
from components.traces import trace_metrics
from components.wiring import endpoints, limits
from tests.support.alloy_parser import Block, references
from tests.support.alloy_render import alloy_blocks
from tests.support.k8s_objects import mounted_yaml
from tests.support.otelcol import Sample, collector_config, ports, post_spans, running, scrape, span, total
from tooling.local_cluster import wait_for
from tooling.render import Render

TRACES = 2000
ERROR_EVERY = 20  # 5% of traces end in an error
DECISION_WAIT = "1s"  # the render waits 10s; the order of events is the same
FLUSH = "1s"  # the render flushes every trace_metrics.METRICS_FLUSH_INTERVAL; a second brings the counts out sooner
CALLS = trace_metrics.CALLS_COUNTER
SPAN_PAYLOAD = limits.SPAN_BYTES_BOUND
# The collector's own counters. This release's telemetry writes them without `_total`; Alloy v1.10.1's registry
# writes otelcol_exporter_send_failed_spans_total, which the AlloyTraceExportFailing alert reads.
SEND_FAILED = "otelcol_exporter_send_failed_spans"
ACCEPTED = "otelcol_receiver_accepted_spans"


def _one(blocks: list[Block], name: str) -> Block:
    (found,) = [b for b in blocks if b.name == name]
    return found


def _sampling_policies(sampler: Block) -> list[dict[str, Any]]:
    """The rendered tail-sampling policies, as the collector's tail_sampling processor takes them."""
    policies = []
    for policy in sampler.children("policy"):
        kind = policy.attributes["type"]
        settings = policy.child(kind).attributes
        policies.append({"name": policy.attributes["name"], "type": kind, kind: dict(settings)})
    return policies


def _spanmetrics(connector: Block) -> dict[str, Any]:
    """The rendered otelcol.connector.spanmetrics arguments as the collector's span_metrics connector takes them."""
    histogram = connector.child("histogram")
    return {
        "namespace": connector.attributes["namespace"],
        "resource_metrics_key_attributes": connector.attributes["resource_metrics_key_attributes"],
        "dimensions": [{"name": d.attributes["name"]} for d in connector.children("dimension")],
        "histogram": {"unit": histogram.attributes["unit"], "explicit": {"buckets": histogram.child("explicit").attributes["buckets"]}},
        "exemplars": {"enabled": connector.child("exemplars").attributes["enabled"]},
        "aggregation_cardinality_limit": connector.attributes["aggregation_cardinality_limit"],
        "metrics_expiration": connector.attributes["metrics_expiration"],
        "metrics_flush_interval": FLUSH,
    }


def _send_traces(port: int) -> tuple[int, int]:
    """TRACES one-span traces, every ERROR_EVERY-th an error, in requests of 200; (spans, errors) sent."""
    errors = 0
    batch: list[dict[str, Any]] = []
    for index in range(TRACES):
        error = index % ERROR_EVERY == 0
        errors += error
        batch.append(span(secrets.token_hex(16), secrets.token_hex(8), error=error))
        if len(batch) == 200:
            assert post_spans(port, batch) == 200
            batch = []
    return TRACES, errors


def _calls(samples: list[Sample], **labels: str) -> float:
    return total(samples, CALLS, **labels)


@pytest.fixture(scope="module")
def span_metrics_runs(prod_render: Render, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Sample]]:
    """One collector: every span reaches the connector placed as the render places it ("rendered") and a
    connector after the sampler ("after sampling"); both publish on prometheus exporters of their own."""
    blocks = alloy_blocks(prod_render)
    limiter, sampler = _one(blocks, "otelcol.processor.memory_limiter"), _one(blocks, "otelcol.processor.tail_sampling")
    connector = _one(blocks, "otelcol.connector.spanmetrics")
    fan_out = references(limiter.child("output").attributes["traces"])
    # The render feeds the connector what it feeds the sampler: the same fan-out, not the sampler's output.
    assert f"otelcol.connector.spanmetrics.{connector.label}.input" in fan_out
    assert f"otelcol.processor.tail_sampling.{sampler.label}.input" in fan_out
    otlp, own, rendered_port, after_port = ports(4)
    config = collector_config(
        {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{otlp}"}}}},
        {
            "traces/all": {"receivers": ["otlp"], "exporters": ["span_metrics/rendered"]},
            "traces/sampled": {"receivers": ["otlp"], "processors": ["tail_sampling"], "exporters": ["span_metrics/after_sampling"]},
            "metrics/rendered": {"receivers": ["span_metrics/rendered"], "exporters": ["prometheus/rendered"]},
            "metrics/after_sampling": {"receivers": ["span_metrics/after_sampling"], "exporters": ["prometheus/after_sampling"]},
        },
        telemetry_port=own,
        processors={"tail_sampling": {"decision_wait": DECISION_WAIT, "num_traces": 50000, "policies": _sampling_policies(sampler)}},
        connectors={"span_metrics/rendered": _spanmetrics(connector), "span_metrics/after_sampling": _spanmetrics(connector)},
        exporters={
            "prometheus/rendered": {"endpoint": f"127.0.0.1:{rendered_port}"},
            "prometheus/after_sampling": {"endpoint": f"127.0.0.1:{after_port}"},
        },
    )
    with running(config, tmp_path_factory.mktemp("spanmetrics")):
        sent, errors = _send_traces(otlp)

        def settled() -> dict[str, list[Sample]] | None:
            out = {"rendered": scrape(rendered_port), "after sampling": scrape(after_port)}
            # Every span counted before the sampler, and the sampler's decisions made and counted after it.
            done = _calls(out["rendered"]) == sent and _calls(out["after sampling"], status_code="STATUS_CODE_ERROR") == errors
            return out if done else None

        time.sleep(2)
        out: dict[str, list[Sample]] | None = wait_for(settled, 60, 1.0)
        assert out is not None, f"span metrics did not settle: {_calls(scrape(rendered_port))} of {sent} spans before the sampler"
        return out


def test_span_metrics_where_the_render_puts_them_count_every_span(span_metrics_runs: dict[str, list[Sample]]) -> None:
    rendered = span_metrics_runs["rendered"]
    assert _calls(rendered) == TRACES
    errors = _calls(rendered, status_code="STATUS_CODE_ERROR")
    assert errors == TRACES / ERROR_EVERY
    assert errors / _calls(rendered) == pytest.approx(1 / ERROR_EVERY)


def test_span_metrics_after_the_sampler_are_distorted_as_tempo_s_were(span_metrics_runs: dict[str, list[Sample]], prod_render: Render) -> None:
    share = float(prod_render.settings.tempo.sampling)
    after = span_metrics_runs["after sampling"]
    errors = TRACES / ERROR_EVERY
    # Errors always kept, the environment's share (10% in prod) of the rest: about 5x too low a rate here,
    # ~10x for error-free traffic, and an error ratio about 7x too high.
    expected = errors + share * (TRACES - errors)
    assert _calls(after) == pytest.approx(expected, rel=0.35)
    assert _calls(after) < TRACES / 3
    assert _calls(after, status_code="STATUS_CODE_ERROR") / _calls(after) > 4 * (1 / ERROR_EVERY)


def test_the_rendered_relabelling_matches_the_connector_s_real_names(span_metrics_runs: dict[str, list[Sample]], prod_render: Render) -> None:
    """The names and labels the render's prometheus.relabel rewrites are the ones the connector really writes."""
    samples = span_metrics_runs["rendered"]
    names = {s.name for s in samples}
    assert CALLS in names
    assert {f"{trace_metrics.DURATION_HISTOGRAM}_bucket", f"{trace_metrics.DURATION_HISTOGRAM}_sum", f"{trace_metrics.DURATION_HISTOGRAM}_count"} <= names
    call = next(s for s in samples if s.name == CALLS)
    # The labels Grafana's Tempo datasource and the traces-to-metrics query read, after the relabelling.
    assert call.labels["service_name"] == "checkout" and call.labels["span_name"] == "GET /cart"
    assert call.labels["span_kind"] == "SPAN_KIND_SERVER"
    assert call.labels["deployment_environment"] == "prod"
    rules = _one(alloy_blocks(prod_render), "prometheus.relabel").children("rule")
    renamed = next(r for r in rules if r.attributes.get("target_label") == "__name__")
    assert renamed.attributes["regex"] == f"{trace_metrics.DURATION_HISTOGRAM}_(bucket|sum|count)"
    les = {s.labels["le"] for s in samples if s.name.endswith("_bucket")}
    assert {"0.002", "16.384", "+Inf"} <= les


def test_span_names_past_the_rendered_limit_land_in_the_series_the_alert_reads(prod_render: Render, tmp_path: Path) -> None:
    """A span name with an ID in it: past the rendered key limit, the real connector counts new operations in one
    overflow series, under the label SpanMetricsSeriesLimited selects (components/metrics/cardinality.py)."""
    connector = _one(alloy_blocks(prod_render), "otelcol.connector.spanmetrics")
    limit = connector.attributes["aggregation_cardinality_limit"]
    assert limit == cardinality.SPAN_METRICS_KEYS_PER_SERVICE
    beyond = 25
    otlp, own, metrics_port = ports(3)
    config = collector_config(
        {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{otlp}"}}}},
        {
            "traces/all": {"receivers": ["otlp"], "exporters": ["span_metrics"]},
            "metrics/all": {"receivers": ["span_metrics"], "exporters": ["prometheus"]},
        },
        telemetry_port=own,
        connectors={"span_metrics": _spanmetrics(connector)},
        exporters={"prometheus": {"endpoint": f"127.0.0.1:{metrics_port}"}},
    )
    names = [f"GET /orders/{index}" for index in range(limit + beyond)]
    with running(config, tmp_path):
        for start in range(0, len(names), 200):
            chunk = names[start:start + 200]
            assert post_spans(otlp, [span(secrets.token_hex(16), secrets.token_hex(8), name=name) for name in chunk]) == 200

        def counted() -> list[Sample] | None:
            samples = scrape(metrics_port)
            return samples if _calls(samples) == len(names) else None

        samples = wait_for(counted, 60, 1.0)
        assert samples is not None, f"{_calls(scrape(metrics_port))} of {len(names)} spans counted"
    calls = [s for s in samples if s.name == CALLS]
    overflow = [s for s in calls if s.labels.get(cardinality.SPAN_METRICS_OVERFLOW_LABEL) == "true"]
    named = [s for s in calls if "span_name" in s.labels]
    assert len(named) == limit, f"{len(named)} operations kept their own series; the limit is {limit}"
    assert len(overflow) == 1 and overflow[0].value == beyond
    # The alert's selector is the overflow label as the connector writes it.
    (rule,) = [r for g in _stack_rule_groups() for r in g["rules"] if r.get("alert") == "SpanMetricsSeriesLimited"]
    assert f'{CALLS}{{{cardinality.SPAN_METRICS_OVERFLOW_LABEL}="true"}}' in rule["expr"]


# --- (b) batch size against the consumer's gRPC message limit ------------------------------------


def _tempo_grpc(render: Render) -> dict[str, Any]:
    tempo = mounted_yaml(render, "StatefulSet", endpoints.TEMPO_NAME, "/etc/tempo/tempo.yaml")
    grpc: dict[str, Any] = tempo["distributor"]["receivers"]["otlp"]["protocols"]["grpc"]
    return grpc


def _deliver(tmp: Path, *, receiver_mib: int | None, batch: dict[str, Any], spans: int) -> tuple[float, float]:
    """Send ``spans`` spans of SPAN_PAYLOAD bytes through a batch processor to a receiving collector whose
    gRPC limit is ``receiver_mib`` (None: its default); (spans the receiver accepted, spans the sender lost)."""
    receiver_otlp, receiver_own, sender_otlp, sender_own = ports(4)
    grpc: dict[str, Any] = {"endpoint": f"127.0.0.1:{receiver_otlp}"}
    if receiver_mib is not None:
        grpc["max_recv_msg_size_mib"] = receiver_mib
    receiver = collector_config(
        {"otlp": {"protocols": {"grpc": grpc}}},
        {"traces": {"receivers": ["otlp"], "exporters": ["debug"]}},
        telemetry_port=receiver_own, exporters={"debug": {"verbosity": "basic"}},
    )
    sender = collector_config(
        {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{sender_otlp}"}}}},
        {"traces": {"receivers": ["otlp"], "processors": ["batch"], "exporters": ["otlp_grpc"]}},
        telemetry_port=sender_own,
        processors={"batch": {"timeout": "1s", **batch}},
        # No retries and no queue: what the exporter cannot send counts at once (the deployed Alloy retries,
        # then counts the same loss).
        exporters={"otlp_grpc": {"endpoint": f"127.0.0.1:{receiver_otlp}", "tls": {"insecure": True},
                                 "retry_on_failure": {"enabled": False}, "sending_queue": {"enabled": False}}},
    )
    with running(receiver, tmp / "receiver") as consumer, running(sender, tmp / "sender") as producer:
        for start in range(0, spans, 500):
            assert post_spans(sender_otlp, [span(secrets.token_hex(16), secrets.token_hex(8), payload_bytes=SPAN_PAYLOAD)
                                            for _ in range(min(500, spans - start))]) == 200

        def counted() -> tuple[float, float] | None:
            accepted = total(consumer.own_metrics(), ACCEPTED)
            lost = total(producer.own_metrics(), SEND_FAILED)
            return (accepted, lost) if accepted + lost >= spans else None

        result: tuple[float, float] | None = wait_for(counted, 60, 0.5)
        assert result is not None, f"not every span was accounted for:\n{(tmp / 'sender' / 'collector.log').read_text()[-2000:]}"
        return result


def test_an_oversize_batch_is_lost_whole_and_only_the_sender_counts_it(tmp_path: Path) -> None:
    """Today's render: no send_batch_max_size, Tempo's receiver at its 4 MiB default."""
    accepted, lost = _deliver(tmp_path, receiver_mib=None, batch={}, spans=1500)
    assert (accepted, lost) == (0, 1500)
    # The counter that moved is the one the stack alerts on (Alloy's registry adds `_total`).
    expressions = [rule["expr"] for group in _stack_rule_groups() for rule in group["rules"] if rule.get("alert") == "AlloyTraceExportFailing"]
    assert len(expressions) == 1 and f"{SEND_FAILED}_total" in expressions[0]


def _stack_rule_groups() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = yaml.safe_load((RULES_DIR / "observability-stack.yaml").read_text(encoding="utf-8"))["groups"]
    return groups


def test_the_rendered_limits_deliver_every_span(tmp_path: Path, prod_render: Render) -> None:
    batch = _one(alloy_blocks(prod_render), "otelcol.processor.batch").attributes
    bounds = {key: batch[key] for key in ("send_batch_size", "send_batch_max_size")}
    accepted, lost = _deliver(tmp_path, receiver_mib=_tempo_grpc(prod_render)["max_recv_msg_size_mib"], batch=bounds, spans=3000)
    assert (accepted, lost) == (3000, 0)

