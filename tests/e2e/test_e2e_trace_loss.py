"""Where the trace pipeline loses spans, on the real OpenTelemetry Collector (`make tools`: otelcol), and that the
counter that moves is the one a stack-delivery alert reads.

The collector exports its own instruments under Alloy v1.10.1's names here (tests/support/otelcol.py
ALLOY_NAMING), so a sample scraped from it is matched against the rule's selector as written:

(a) the tail sampler, with the rendered policies, decision_wait and num_traces, given more new traces within
    one decision wait than its buffer holds, drops the oldest undecided, error traces included, and counts
    them in ..._sampling_trace_dropped_too_early (AlloyTracesDroppedUndecided);
(b) an exporter whose receiver is down fills its sending queue and then refuses batches: enqueue_failed moves,
    send_failed does not (it still retries), and AlloyTraceExportFailing reads both;
(c) an application's request above the receiver's rendered limit is refused before the receiver counts a
    span (otelcol_receiver_refused_spans stays 0): HTTP answers 400, gRPC RESOURCE_EXHAUSTED (8); only the
    receiver's server metrics move, which AlloyTraceRequestsRefused reads. This collector's gRPC server metric
    has a later name than Alloy v1.10.1's (see COLLECTOR_GRPC_CALLS); the call it records is mapped to Alloy's.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

import pytest

from components.wiring import limits
from tests.support.alloy_parser import Block
from tests.support.alloy_render import alloy_blocks, one
from tests.support.otelcol import Sample, collector_config, ports, post_spans, read_by, running, scrape, span, total
from tooling.local_cluster import wait_for
from tooling.render import Render

CALLS = "traces_span_metrics_calls_total"
REQUEST = 500  # spans per OTLP/HTTP request
ERROR_EVERY = 20
# The gRPC server's call metric of this collector release (a later otelgrpc than Alloy v1.10.1's v0.61.0, which
# names it rpc.server.duration in ms with a numeric rpc.grpc.status_code), and the codes it writes by name.
COLLECTOR_GRPC_CALLS = "rpc_server_call_duration_seconds_count"
GRPC_CODES = {"OK": "0", "INVALID_ARGUMENT": "3", "RESOURCE_EXHAUSTED": "8", "UNAVAILABLE": "14"}


def _moved(samples: list[Sample], name: str) -> list[Sample]:
    return [s for s in samples if s.name == name and s.value > 0]


def _seconds(duration: str) -> float:
    assert duration.endswith("s") and duration[:-1].isdigit(), duration
    return float(duration[:-1])


def _mib(size: str) -> int:
    assert size.endswith("MiB"), size
    return int(size[:-3])


def _policies(sampler: Block) -> list[dict[str, Any]]:
    out = []
    for policy in sampler.children("policy"):
        kind = policy.attributes["type"]
        out.append({"name": policy.attributes["name"], "type": kind, kind: dict(policy.child(kind).attributes)})
    return out


# --- (a) the sampler's buffer overflows -------------------------------------------------------------


def _sampler_run(render: Render, tmp: Path, traces: int) -> tuple[list[Sample], list[Sample], int]:
    """``traces`` one-span traces (every ERROR_EVERY-th an error) sent as fast as one client can, through the
    rendered sampler; (its own metrics, span metrics after it, errors sent) after every decision is due."""
    sampler = one(alloy_blocks(render), "otelcol.processor.tail_sampling")
    wait = _seconds(sampler.attributes["decision_wait"])
    otlp, own, metrics_port = ports(3)
    config = collector_config(
        {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{otlp}"}}}},
        {"traces": {"receivers": ["otlp"], "processors": ["tail_sampling"], "exporters": ["span_metrics"]},
         "metrics": {"receivers": ["span_metrics"], "exporters": ["prometheus"]}},
        telemetry_port=own, alloy_names=True,
        processors={"tail_sampling": {"decision_wait": sampler.attributes["decision_wait"], "num_traces": sampler.attributes["num_traces"],
                                      "policies": _policies(sampler)}},
        connectors={"span_metrics": {"metrics_flush_interval": "1s"}},
        exporters={"prometheus": {"endpoint": f"127.0.0.1:{metrics_port}"}},
    )
    with running(config, tmp) as collector:
        errors, batch, started = 0, [], time.monotonic()
        for index in range(traces):
            error = index % ERROR_EVERY == 0
            errors += error
            batch.append(span(secrets.token_hex(16), secrets.token_hex(8), error=error))
            if len(batch) == REQUEST or index == traces - 1:
                assert post_spans(otlp, batch) == 200
                batch = []
        sent_in = time.monotonic() - started
        # Every trace was sent within one decision wait: that is what the buffer has to hold.
        assert sent_in < wait, f"sending took {sent_in:.1f}s, longer than the decision wait {wait}s; the run does not test the buffer"
        time.sleep(wait + 3)
        return collector.own_metrics(), scrape(metrics_port), errors


def test_an_overflowing_sampler_drops_traces_undecided_and_the_alert_reads_the_counter(prod_render: Render, tmp_path: Path) -> None:
    num_traces = one(alloy_blocks(prod_render), "otelcol.processor.tail_sampling").attributes["num_traces"]
    own, after, errors = _sampler_run(prod_render, tmp_path, 2 * num_traces)
    dropped = _moved(own, "otelcol_processor_tail_sampling_sampling_trace_dropped_too_early_total")
    assert dropped, "the sampler counted no trace dropped before its decision"
    assert sum(s.value for s in dropped) >= num_traces / 2
    # Error traces among them: fewer error spans leave the sampler than were sent.
    kept_errors = total(after, CALLS, status_code="STATUS_CODE_ERROR")
    assert kept_errors < errors, f"{kept_errors} of {errors} error spans kept; none was dropped"
    assert all(read_by("AlloyTracesDroppedUndecided", s) for s in dropped)


def test_within_its_capacity_the_sampler_drops_nothing(prod_render: Render, tmp_path: Path) -> None:
    num_traces = one(alloy_blocks(prod_render), "otelcol.processor.tail_sampling").attributes["num_traces"]
    own, after, errors = _sampler_run(prod_render, tmp_path, num_traces // 2)
    assert total(own, "otelcol_processor_tail_sampling_sampling_trace_dropped_too_early_total") == 0
    assert total(after, CALLS, status_code="STATUS_CODE_ERROR") == errors


# --- (b) a full sending queue --------------------------------------------------------------------------


def test_a_dead_receiver_fills_the_queue_and_the_alert_counts_the_refusals(prod_render: Render, tmp_path: Path) -> None:
    batch = one(alloy_blocks(prod_render), "otelcol.processor.batch").attributes
    otlp, own, dead = ports(3)
    config = collector_config(
        {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{otlp}"}}}},
        {"traces": {"receivers": ["otlp"], "processors": ["batch"], "exporters": ["otlp_grpc"]}},
        telemetry_port=own, alloy_names=True,
        processors={"batch": {"send_batch_size": batch["send_batch_size"], "send_batch_max_size": batch["send_batch_max_size"], "timeout": "200ms"}},
        # Retries on (the default, as rendered); the queue scaled down from the default 1000 batches so it
        # fills in seconds: the order of events is the same.
        exporters={"otlp_grpc": {"endpoint": f"127.0.0.1:{dead}", "tls": {"insecure": True}, "sending_queue": {"queue_size": 20}}},
    )
    with running(config, tmp_path) as collector:
        for _ in range(40):
            assert post_spans(otlp, [span(secrets.token_hex(16), secrets.token_hex(8)) for _ in range(200)]) == 200
            time.sleep(0.25)

        def refused() -> list[Sample] | None:
            samples = collector.own_metrics()
            return samples if _moved(samples, "otelcol_exporter_enqueue_failed_spans_total") else None

        samples = wait_for(refused, 30, 0.5)
        assert samples is not None, "the exporter refused nothing with its queue full"
    assert total(samples, "otelcol_exporter_send_failed_spans_total") == 0
    enqueue_failed = _moved(samples, "otelcol_exporter_enqueue_failed_spans_total")
    assert all(read_by("AlloyTraceExportFailing", s) for s in enqueue_failed)
    # The rule still reads the other loss, the one the oversize-batch test moves.
    assert read_by("AlloyTraceExportFailing", Sample("otelcol_exporter_send_failed_spans_total", {}, 1.0))


# --- (c) an application's request above the receiver's limit ------------------------------------------


def _receiver(render: Render, transport: str) -> dict[str, Any]:
    receivers = [b for b in alloy_blocks(render) if b.name == "otelcol.receiver.otlp" and b.label == "apps"]
    return dict(one(receivers, "otelcol.receiver.otlp").child(transport).attributes)


def test_an_oversize_http_request_is_refused_uncounted_but_the_alert_sees_it(prod_render: Render, tmp_path: Path) -> None:
    limit = _mib(_receiver(prod_render, "http")["max_request_body_size"])
    otlp, own = ports(2)
    config = collector_config(
        {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{otlp}", "max_request_body_size": limit * 1024 * 1024}}}},
        {"traces": {"receivers": ["otlp"], "exporters": ["debug"]}},
        telemetry_port=own, alloy_names=True, exporters={"debug": {"verbosity": "basic"}},
    )
    # An SDK's default export batch (512 spans) with a 20 KiB attribute each: above the limit.
    payload = 20 * 1024
    assert 512 * payload > limit * 1024 * 1024
    with running(config, tmp_path) as collector:
        assert post_spans(otlp, [span(secrets.token_hex(16), secrets.token_hex(8)) for _ in range(10)]) == 200
        assert post_spans(otlp, [span(secrets.token_hex(16), secrets.token_hex(8), payload_bytes=payload, error=(i == 0)) for i in range(512)]) == 400
        time.sleep(1)
        samples = collector.own_metrics()
    assert total(samples, "otelcol_receiver_accepted_spans_total") == 10
    assert total(samples, "otelcol_receiver_refused_spans_total") == 0, "the receiver counted the refused spans"
    requests = [s for s in samples if s.name == "http_server_request_duration_seconds_count"]
    refused = [s for s in requests if s.labels.get("http_response_status_code") == "400"]
    assert [s.value for s in refused] == [1]
    assert read_by("AlloyTraceRequestsRefused", refused[0])
    assert not any(read_by("AlloyTraceRequestsRefused", s) for s in requests if s.labels.get("http_response_status_code") == "200")


def test_an_oversize_grpc_message_is_refused_uncounted_but_the_alert_sees_it(prod_render: Render, tmp_path: Path) -> None:
    limit = _mib(_receiver(prod_render, "grpc")["max_recv_msg_size"])
    receiver_otlp, receiver_own, sender_otlp, sender_own = ports(4)
    receiver = collector_config(
        {"otlp": {"protocols": {"grpc": {"endpoint": f"127.0.0.1:{receiver_otlp}", "max_recv_msg_size_mib": limit}}}},
        {"traces": {"receivers": ["otlp"], "exporters": ["debug"]}},
        telemetry_port=receiver_own, alloy_names=True, exporters={"debug": {"verbosity": "basic"}},
    )
    # An application's exporter sending one message above the limit (no retries: it is refused for good).
    spans = 2 * limit * 1024 * 1024 // limits.SPAN_BYTES_BOUND
    sender = collector_config(
        {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{sender_otlp}"}}}},
        {"traces": {"receivers": ["otlp"], "processors": ["batch"], "exporters": ["otlp_grpc"]}},
        telemetry_port=sender_own,
        processors={"batch": {"send_batch_size": spans, "timeout": "1s"}},
        exporters={"otlp_grpc": {"endpoint": f"127.0.0.1:{receiver_otlp}", "tls": {"insecure": True},
                                 "retry_on_failure": {"enabled": False}, "sending_queue": {"enabled": False}}},
    )
    with running(receiver, tmp_path / "receiver") as consumer, running(sender, tmp_path / "sender"):
        for start in range(0, spans, REQUEST):
            chunk = min(REQUEST, spans - start)
            assert post_spans(sender_otlp, [span(secrets.token_hex(16), secrets.token_hex(8), payload_bytes=limits.SPAN_BYTES_BOUND)
                                            for _ in range(chunk)]) == 200

        def refused() -> list[Sample] | None:
            samples = consumer.own_metrics()
            return samples if _moved(samples, COLLECTOR_GRPC_CALLS) else None

        samples = wait_for(refused, 30, 0.5)
        assert samples is not None, f"the receiver's gRPC server recorded no call:\n{sorted({s.name for s in consumer.own_metrics()})}"
    assert total(samples, "otelcol_receiver_accepted_spans_total") == 0
    assert total(samples, "otelcol_receiver_refused_spans_total") == 0, "the receiver counted the refused spans"
    calls = _moved(samples, COLLECTOR_GRPC_CALLS)
    assert {s.labels.get("rpc_response_status_code") for s in calls} == {"RESOURCE_EXHAUSTED"}, calls
    # The same call as Alloy v1.10.1's otelgrpc v0.61.0 records it (rpc.server.duration in ms, the numeric
    # rpc.grpc.status_code; stats_handler.go): the series the alert reads.
    for call in calls:
        code = GRPC_CODES[call.labels["rpc_response_status_code"]]
        alloy_series = Sample("rpc_server_duration_milliseconds_count", {"rpc_grpc_status_code": code}, call.value)
        assert read_by("AlloyTraceRequestsRefused", alloy_series)


@pytest.mark.parametrize("code", ["0", "14"])
def test_the_alert_leaves_accepted_calls_and_memory_refusals_alone(code: str) -> None:
    """OK, and UNAVAILABLE (the memory limiter's refusal, counted in otelcol_receiver_refused_spans)."""
    assert not read_by("AlloyTraceRequestsRefused", Sample("rpc_server_duration_milliseconds_count", {"rpc_grpc_status_code": code}, 1.0))
