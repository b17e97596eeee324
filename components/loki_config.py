"""Loki's configuration file, generated from settings (monolithic mode, TSDB, retention enforced).

Retention in Loki needs four pieces together, and a missing one silently keeps
logs forever: ``limits_config.retention_period``, ``compactor.retention_enabled``,
``compactor.delete_request_store`` and a schema whose index period is 24h.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from components import endpoints
from components.object_storage import s3_endpoint
from components.settings import Settings
from components.settings.logs_checks import results_cache_mb
from components.settings.units import duration_seconds, go_duration

DATA_DIR = "/var/loki"
CONFIG_DIR = "/etc/loki"
CONFIG_FILE = "loki.yaml"
# The first day of the only schema period. Never change it: data written
# under a period is read back with that period's settings. A new schema or
# store is added as a new period starting on a future date.
SCHEMA_FROM = "2025-01-01"
INDEX_PERIOD = "24h"
# Only these become stream labels (seed 004); everything else stays in the line.
STREAM_LABELS = ("service", "environment", "level")


def hours(duration: str) -> str:
    """A settings duration written in whole hours, the form Loki and Tempo print back."""
    seconds = duration_seconds(duration)
    # Otherwise the exact Go form (1h500ms): both read durations with time.ParseDuration or its superset.
    return f"{int(seconds // 3600)}h" if seconds % 3600 == 0 else go_duration(duration)


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


def _storage_config() -> dict[str, Any]:
    return {
        "tsdb_shipper": {
            "active_index_directory": f"{DATA_DIR}/tsdb-index",
            "cache_location": f"{DATA_DIR}/tsdb-cache",
        },
    }


def _mb(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def loki_config(settings: Settings) -> dict[str, Any]:
    loki = settings.loki
    limits = loki.ingestion
    store = _object_store(settings)
    return {
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
        "schema_config": {
            "configs": [
                {
                    "from": SCHEMA_FROM,
                    "store": "tsdb",
                    "object_store": store,
                    "schema": "v13",
                    "index": {"prefix": "index_", "period": INDEX_PERIOD},
                }
            ]
        },
        "storage_config": _storage_config(),
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
            "ingestion_rate_mb": _mb(limits.rate_mb),
            "ingestion_burst_size_mb": _mb(limits.burst_mb),
            "per_stream_rate_limit": f"{_mb(limits.per_stream_rate_mb)}MB",
            "per_stream_rate_limit_burst": f"{_mb(limits.per_stream_burst_mb)}MB",
            "max_global_streams_per_user": limits.max_streams_per_user,
            "max_label_names_per_series": len(STREAM_LABELS),
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
            "results_cache": {
                "cache": {"embedded_cache": {"enabled": loki.chunk_cache_mb > 0, "max_size_mb": results_cache_mb(loki.chunk_cache_mb)}},
            },
        },
        "analytics": {"reporting_enabled": False},
    }
