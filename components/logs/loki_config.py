"""Loki's configuration file, generated from settings (monolithic mode, TSDB, retention enforced).

Retention in Loki needs four pieces together, and a missing one silently keeps
logs forever: ``limits_config.retention_period``, ``compactor.retention_enabled``,
``compactor.delete_request_store`` and a schema whose index period is 24h.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from components.kit.config_file import ConfigFile
from components.kit.object_storage import s3_endpoint
from components.settings import Settings
from components.settings.logs import FIRST_SCHEMA_DAY, results_cache_mb
from components.settings.units import hours
from components.wiring import endpoints, flows
from components.wiring.limits import LOKI_MAX_LINE_BYTES

DATA_DIR = "/var/loki"
CONFIG = ConfigFile("/etc/loki", "loki.yaml")
# The first day of the volume's schema period. Never change it: data written under a period
# is read back with that period's settings. Moving to a bucket adds a second period from
# loki.objectStorage.since and keeps this one (see _schema_periods).
SCHEMA_FROM = FIRST_SCHEMA_DAY.isoformat()
INDEX_PERIOD = "24h"
# Only these become stream labels (seed 004); everything else stays in the line. Written with
# the Alloy -> Loki flow (components/wiring/endpoints.py, flows.py), which also sets Loki's label-name limit.
STREAM_LABELS = endpoints.STREAM_LABELS
# Loki 3.5.3's default, written out because half of it bounds what a stream still takes: an entry older
# than the stream's newest minus max_chunk_age/2 is refused "too far behind" (pkg/ingester/stream.go). An
# Alloy replica back from downtime sends its backlog into streams the other replicas kept current, so this
# bounds how long a replica may be away without losing lines (docs/logs-and-traces.md, StackReplicasUnavailable).
MAX_CHUNK_AGE = "2h"


def _object_store(settings: Settings) -> str:
    storage = settings.loki.object_storage
    return "filesystem" if storage is None else storage.backend


def _common_storage(settings: Settings) -> dict[str, Any]:
    """Where chunks and rules live. Set once in ``common`` so every module (ruler included) uses it."""
    storage = settings.loki.object_storage
    if storage is None:
        return {"filesystem": {"chunks_directory": f"{DATA_DIR}/chunks", "rules_directory": f"{DATA_DIR}/rules"}}
    if storage.backend == "gcs":
        return {"gcs": {"bucket_name": storage.bucket}}
    s3: dict[str, Any] = {"bucketnames": storage.bucket, "endpoint": s3_endpoint(storage), "insecure": storage.insecure}
    if storage.region:
        s3["region"] = storage.region
    if storage.endpoint:
        # S3-compatible stores (MinIO, Ceph) address buckets by path.
        s3["s3forcepathstyle"] = True
    return {"s3": s3}


def _period(since: str, object_store: str) -> dict[str, Any]:
    return {"from": since, "store": "tsdb", "object_store": object_store, "schema": "v13", "index": {"prefix": "index_", "period": INDEX_PERIOD}}


def _schema_periods(settings: Settings) -> list[dict[str, Any]]:
    """The volume's period, then the bucket's from loki.objectStorage.since when there is one.

    Upstream (Loki "Storage schema": changing the schema): a new period starts on a future
    date and the old one stays, or every log written under it becomes unreadable and
    retention never deletes it. ``since`` is a recorded setting, not the render's date,
    so every render of the same config writes the same periods.
    """
    periods = [_period(SCHEMA_FROM, "filesystem")]
    storage = settings.loki.object_storage
    if storage is not None:
        if storage.since is None:  # refused by settings validation; kept for a direct caller
            raise ValueError("loki.objectStorage.since is required with loki.objectStorage")
        periods.append(_period(storage.since.isoformat(), storage.backend))
    return periods


def _storage_config(settings: Settings) -> dict[str, Any]:
    config: dict[str, Any] = {
        "tsdb_shipper": {
            "active_index_directory": f"{DATA_DIR}/tsdb-index",
            "cache_location": f"{DATA_DIR}/tsdb-cache",
        },
    }
    if settings.loki.object_storage is not None:
        # The volume's period stays readable: its chunks are still in the volume's directory
        # (common.storage now names the bucket only).
        config["filesystem"] = {"directory": f"{DATA_DIR}/chunks"}
    return config


def _mb(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def loki_config(settings: Settings) -> dict[str, Any]:
    loki = settings.loki
    limits = loki.ingestion
    store = _object_store(settings)
    config: dict[str, Any] = {
        "auth_enabled": False,
        "server": {
            "http_listen_port": endpoints.LOKI.port,
            "grpc_listen_port": endpoints.LOKI_GRPC_PORT,
            "log_level": "info",
        },
        "common": {
            "path_prefix": DATA_DIR,
            "replication_factor": 1,
            "ring": {"kvstore": {"store": "inmemory"}, "instance_addr": "127.0.0.1"},
            "storage": _common_storage(settings),
        },
        "ingester": {"max_chunk_age": MAX_CHUNK_AGE},
        "schema_config": {"configs": _schema_periods(settings)},
        "storage_config": _storage_config(settings),
        "compactor": {
            "working_directory": f"{DATA_DIR}/compactor",
            "compaction_interval": "10m",
            "retention_enabled": True,
            "retention_delete_delay": "2h",
            "retention_delete_worker_count": 150,
            "delete_request_store": store,
        },
        "limits_config": {
            "retention_period": hours(loki.retention),
            # Per-stream retention (seed 003: audit trail 90d next to the operational logs);
            # priority follows the list order, the first entry highest.
            **({"retention_stream": [
                {"selector": r.selector, "priority": len(loki.stream_retention) - i, "period": hours(r.period)}
                for i, r in enumerate(loki.stream_retention)
            ]} if loki.stream_retention else {}),
            "ingestion_rate_mb": _mb(limits.rate_mb),
            "ingestion_burst_size_mb": _mb(limits.burst_mb),
            "per_stream_rate_limit": f"{_mb(limits.per_stream_rate_mb)}MB",
            "per_stream_rate_limit_burst": f"{_mb(limits.per_stream_burst_mb)}MB",
            "max_global_streams_per_user": limits.max_streams_per_user,
            # Written once with Alloy's push size (components/wiring/limits.py): a longer line loses its tail
            # instead of the whole entry (discarded lines count only in loki_discarded_samples_total).
            "max_line_size": LOKI_MAX_LINE_BYTES,
            "max_line_size_truncate": True,
            "reject_old_samples": True,
            "reject_old_samples_max_age": "168h",
            "allow_structured_metadata": True,
            # Loki 3 would otherwise add a fourth stream label, service_name.
            "discover_service_name": [],
            "volume_enabled": True,
        },
        # In-process caches sized per environment; no memcached in monolithic mode.
        "chunk_store_config": {
            "chunk_cache_config": {"embedded_cache": {"enabled": loki.chunk_cache_mb > 0, "max_size_mb": loki.chunk_cache_mb}},
        },
        "query_range": {
            # Sizing the results cache alone does nothing: query_range caches results only with cache_results.
            "cache_results": loki.chunk_cache_mb > 0,
            "results_cache": {
                "cache": {"embedded_cache": {"enabled": loki.chunk_cache_mb > 0, "max_size_mb": results_cache_mb(loki.chunk_cache_mb)}},
            },
        },
        "analytics": {"reporting_enabled": False},
    }
    # What the flows into Loki need (the label-name limit for Alloy's stream labels).
    return flows.apply(config, flows.requirements(settings, endpoints.LOKI_NAME))
