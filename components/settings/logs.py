"""Settings of the logs signal: Loki and Grafana Alloy, and the Loki facts its config generator shares with the checks."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field

from components.settings.storage_backend import LokiObjectStorage
from components.settings.types import MAX_COUNT, QUALIFIED_KEY_RE, Count, Duration, Section, Storage, Workload, decimal_number, matching, whole_number

# The first day of the volume's schema period (components/logs/loki_config.py); a bucket period starts after it.
FIRST_SCHEMA_DAY = date(2025, 1, 1)


def results_cache_mb(chunk_cache_mb: int) -> int:
    """Size in MiB of Loki's in-process results cache: half the chunk cache, beside it in the same memory."""
    return chunk_cache_mb // 2


PositiveNumber = Annotated[Decimal, BeforeValidator(decimal_number(Decimal(0), Decimal(MAX_COUNT)))]
LABEL_NAME_FORM = "a Kubernetes label key such as app.kubernetes.io/name or app"
LabelKey = Annotated[str, AfterValidator(matching(QUALIFIED_KEY_RE, "a label key", LABEL_NAME_FORM))]


class LokiIngestion(Section):
    """Per-tenant ingestion limits (limits_config); one noisy service cannot starve the others."""

    rate_mb: PositiveNumber
    burst_mb: PositiveNumber
    per_stream_rate_mb: PositiveNumber
    per_stream_burst_mb: PositiveNumber
    max_streams_per_user: Count


class StreamRetention(Section):
    # A LogQL stream selector over the stream labels, e.g. '{service="dvt-audit"}' (checked in logs_checks).
    selector: str
    # A whole number of days, like loki.retention.
    period: Duration


class LokiSettings(Workload):
    # A whole number of days: Loki deletes by 24h index period (logs_checks.py).
    retention: Duration
    storage: Storage
    ingestion: LokiIngestion
    # In-process chunk cache; a memcached tier only pays off in distributed mode (docs/loki-distributed.md).
    chunk_cache_mb: Annotated[int, BeforeValidator(whole_number(0, MAX_COUNT))]
    object_storage: LokiObjectStorage | None = None
    # Streams kept longer (or shorter) than `retention`: Loki's per-stream retention.
    stream_retention: tuple[StreamRetention, ...] = ()


class AlloySettings(Workload):
    """Alloy: ``replicas`` share the cluster's log targets (each tails its own share, components/logs/alloy_config.py),
    ``storage`` is each replica's volume for its storage path (its log read positions, docs/logs-and-traces.md)."""

    # Pod labels whose first present value becomes the log stream's `service` label.
    service_labels: Annotated[tuple[LabelKey, ...], Field(min_length=1)]
    storage: Storage
