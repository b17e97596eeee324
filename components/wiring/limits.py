"""Size limits of each producer/consumer pair of the data-flow table, each written once.

A consumer refuses a message or batch over its limit whole, and the loss is counted only on the side
that sent it (opentelemetry-collector#12219, grafana/tempo#860): a gRPC receiver answers
ResourceExhausted to a message over its maximum, Tempo's and Loki's rate limiters refuse a batch larger
than their burst, and the sender drops it after its retries. So each consumer's limit is written here
once, rendered into the consumer's config, and the producer's batch is derived from it with headroom
(``HEADROOM``). The alerts on the senders' own loss counters are in rules/observability-stack.yaml
(group stack-delivery).

Pairs (flows.py):

- applications -> Alloy (OTLP gRPC and HTTP): ``APP_OTLP_MAX_REQUEST_MIB`` on both listeners;
- Alloy -> Alloy (load balancing by trace ID, OTLP gRPC): the routed receiver takes ``OTLP_GRPC_MAX_MESSAGE_MIB``,
  at least 1/HEADROOM times what one application request can carry (a routed request is a part of one);
- Alloy's batch -> Tempo (OTLP gRPC): Tempo's receiver takes ``OTLP_GRPC_MAX_MESSAGE_MIB``, its ingestion burst
  is ``TEMPO_INGESTION_BURST_BYTES``; the batch holds at most ``trace_batch_max_spans()`` spans;
- Alloy -> Loki (HTTP push): Loki's HTTP push has no body limit (pkg/loghttp/push/push.go, v3.5.3, reads up to
  MaxInt32), but its ingestion burst (``loki.ingestion.burstMb``, per stream ``perStreamBurstMb``) refuses a
  larger batch whole; Alloy's ``batch_size`` is derived from both (``loki_batch_bytes``);
- Alloy -> Prometheus (remote write): Prometheus 3.5 sets no request size limit; Alloy's queue defaults
  (2000 samples a request) stay, and the loss counters are alerted.
"""

from __future__ import annotations

from decimal import Decimal

from components.settings import Settings

MIB = 1024 * 1024
MB = 1000 * 1000
# A producer fills at most this share of its consumer's limit.
HEADROOM = Decimal("0.5")
# Largest OTLP request an application may send to Alloy (gRPC message, HTTP body). Alloy's defaults were
# 4 MiB (gRPC) and 20 MiB (HTTP): an HTTP request above what the routed hop takes was lost after the
# load-balancing exporter split it. OpenTelemetry SDKs export 512 spans a request by default.
APP_OTLP_MAX_REQUEST_MIB = 8
# Every OTLP gRPC receiver of the stack past the applications: Alloy's routed receiver and Tempo's
# distributor (both default to 4 MiB, configgrpc).
OTLP_GRPC_MAX_MESSAGE_MIB = 16
# An upper estimate of one span on the wire (attributes, events): what bounds a batch counted in spans.
# The batch processor counts spans, not bytes (Alloy otelcol.processor.batch send_batch_max_size).
SPAN_BYTES_BOUND = 4 * 1024
# Tempo's per-tenant ingestion burst (overrides.defaults.ingestion.burst_size_bytes; Tempo 2.8.2's
# default, written down so the batch is checked against it).
TEMPO_INGESTION_BURST_BYTES = 20 * MB
# Alloy's loki.write default batch (1 MiB): kept where Loki's bursts allow it.
LOKI_BATCH_DEFAULT_BYTES = 1 * MIB
# Loki's longest line (limits_config.max_line_size, its default 256 KB); longer lines are truncated, not
# discarded (max_line_size_truncate), so a runaway line loses its tail instead of the whole entry.
LOKI_MAX_LINE_BYTES = 256 * 1000


def trace_batch_max_spans() -> int:
    """Spans in one batch Alloy sends to Tempo: HEADROOM of the smaller of Tempo's gRPC message limit and
    its ingestion burst, at SPAN_BYTES_BOUND a span."""
    consumer = min(OTLP_GRPC_MAX_MESSAGE_MIB * MIB, TEMPO_INGESTION_BURST_BYTES)
    return int(consumer * HEADROOM) // SPAN_BYTES_BOUND


def trace_batch_spans() -> int:
    """The size that sends a batch before its timeout: half the maximum (the batch processor sends at this
    count and splits anything above the maximum)."""
    return trace_batch_max_spans() // 2


def loki_batch_bytes(settings: Settings) -> int:
    """Bytes of one Alloy push to Loki: HEADROOM of the smaller of Loki's tenant and per-stream bursts, at
    most Alloy's default batch."""
    ingestion = settings.loki.ingestion
    burst = min(ingestion.burst_mb, ingestion.per_stream_burst_mb) * MB
    return min(LOKI_BATCH_DEFAULT_BYTES, int(burst * HEADROOM))


def mib(size: int) -> str:
    """An Alloy size string for whole MiB (``8MiB``)."""
    return f"{size}MiB"
