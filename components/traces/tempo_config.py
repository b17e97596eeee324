"""Tempo's configuration file, generated from settings (monolithic mode).

Block retention is per environment; the optional metrics-generator writes
service-graph and span metrics to the stack's Prometheus, which the Tempo
datasource's service map reads back.
"""

from __future__ import annotations

from typing import Any

from components.kit.config_file import ConfigFile
from components.kit.object_storage import s3_endpoint
from components.metrics import cardinality
from components.settings import Settings
from components.settings.units import hours
from components.wiring import endpoints, flows

DATA_DIR = "/var/tempo"
CONFIG = ConfigFile("/etc/tempo", "tempo.yaml")
GENERATOR_PROCESSORS = ("service-graphs", "span-metrics")
REMOTE_WRITE_PATH = flows.REMOTE_WRITE_PATH


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


def _metrics_generator(settings: Settings) -> dict[str, Any]:
    return {
        "registry": {"external_labels": {"source": "tempo", "environment": settings.environment}},
        "storage": {
            "path": f"{DATA_DIR}/generator/wal",
            # Every replica gets every series: an HA pair must not split span metrics between them.
            "remote_write": [
                {"url": url + REMOTE_WRITE_PATH, "send_exemplars": True}
                for url in endpoints.prometheus_replica_urls(settings.namespace, settings.prometheus.replicas)
            ],
        },
        "processor": {
            "service_graphs": {"dimensions": ["deployment.environment"]},
            "span_metrics": {"dimensions": ["deployment.environment"]},
        },
    }


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
    if tempo.metrics_generator.enabled:
        # No traces_storage: only the local-blocks processor (not enabled here) reads it.
        config["metrics_generator"] = _metrics_generator(settings)
        # max_active_series: the generator's span metrics reach Prometheus by remote write, past every scrape
        # limit; a span name with an ID in it would grow them without bound (components/metrics/cardinality.py).
        config["overrides"] = {"defaults": {"metrics_generator": {
            "processors": list(GENERATOR_PROCESSORS), "max_active_series": cardinality.SPAN_METRICS_MAX_ACTIVE_SERIES}}}
    # What the flows into Tempo need (the OTLP listener Alloy sends to, HTTP streaming for Grafana).
    return flows.apply(config, flows.requirements(settings, endpoints.TEMPO_NAME))
