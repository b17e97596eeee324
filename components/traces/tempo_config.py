"""Tempo's configuration file, generated from settings (monolithic mode).

Block retention is per environment. The metrics-generator stays off: Tempo
receives sampled traces, and metrics computed from them are distorted
(grafana/tempo#1515); span metrics and the service graph come from Alloy,
before sampling (components/traces/trace_metrics.py).
"""

from __future__ import annotations

from typing import Any

from components.kit.config_file import ConfigFile
from components.kit.object_storage import s3_endpoint
from components.settings import Settings
from components.settings.units import hours
from components.wiring import endpoints, flows

DATA_DIR = "/var/tempo"
CONFIG = ConfigFile("/etc/tempo", "tempo.yaml")


def _trace_storage(settings: Settings) -> dict[str, Any]:
    trace: dict[str, Any] = {"wal": {"path": f"{DATA_DIR}/wal"}}
    storage = settings.tempo.object_storage
    if storage is None:
        trace["backend"] = "local"
        trace["local"] = {"path": f"{DATA_DIR}/blocks"}
    elif storage.backend == "s3":
        s3: dict[str, Any] = {"bucket": storage.bucket, "endpoint": s3_endpoint(storage), "insecure": storage.insecure}
        if storage.region:
            s3["region"] = storage.region
        if storage.endpoint:
            s3["forcepathstyle"] = True
        trace["backend"] = "s3"
        trace["s3"] = s3
    else:
        trace["backend"] = "gcs"
        trace["gcs"] = {"bucket_name": storage.bucket}
    return trace


def tempo_config(settings: Settings) -> dict[str, Any]:
    tempo = settings.tempo
    config: dict[str, Any] = {
        "server": {
            "http_listen_port": endpoints.TEMPO.port,
            "grpc_listen_port": endpoints.TEMPO_GRPC_PORT,
            "log_level": "info",
        },
        "distributor": {
            "receivers": {
                "otlp": {
                    "protocols": {
                        # gRPC (4317, what Alloy sends to) comes from the data-flow table.
                        "http": {"endpoint": f"0.0.0.0:{endpoints.OTLP_HTTP_PORT}"},
                    }
                }
            }
        },
        "ingester": {"max_block_duration": "5m"},
        "compactor": {"compaction": {"block_retention": hours(tempo.retention)}},
        "storage": {"trace": _trace_storage(settings)},
        "usage_report": {"reporting_enabled": False},
    }
    # No metrics_generator: it would compute span metrics and the service graph from the traces Alloy has
    # already sampled (grafana/tempo#1515); Alloy computes them from every span (components/traces/trace_metrics.py).
    # What the flows into Tempo need (the OTLP listener Alloy sends to and its size limits, HTTP streaming for Grafana).
    return flows.apply(config, flows.requirements(settings, endpoints.TEMPO_NAME))
