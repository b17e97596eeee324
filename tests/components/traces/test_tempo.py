"""Tempo: OTLP receivers, block retention per environment, no metrics-generator, probes, volume."""

from __future__ import annotations

from components.wiring import endpoints, flows, limits
from tests.support.k8s_objects import config_flag, container, find, has, mounted_yaml
from tooling.render import Render

# DESIGN.md: traces retention 3d, 7d, 14d.
BLOCK_RETENTION = {"dev": "72h", "staging": "168h", "prod": "336h"}


def _config(render: Render) -> dict:
    tempo = container(render, "StatefulSet", endpoints.TEMPO_NAME)
    return mounted_yaml(render, "StatefulSet", endpoints.TEMPO_NAME, config_flag(tempo, "-config.file"))


def test_block_retention_is_the_designed_one(rendered: Render) -> None:
    assert _config(rendered)["compactor"]["compaction"]["block_retention"] == BLOCK_RETENTION[rendered.stack]


def test_otlp_receivers_listen_on_4317_and_4318(rendered: Render) -> None:
    protocols = _config(rendered)["distributor"]["receivers"]["otlp"]["protocols"]
    assert protocols == {
        "grpc": {"endpoint": "0.0.0.0:4317", "max_recv_msg_size_mib": limits.OTLP_GRPC_MAX_MESSAGE_MIB},
        "http": {"endpoint": "0.0.0.0:4318"},
    }
    ports = {p["name"]: p["port"] for p in find(rendered, "Service", endpoints.TEMPO_SERVICE)["spec"]["ports"]}
    assert ports == {"http": 3200, "grpc": 9095, "otlp-grpc": 4317, "otlp-http": 4318}


def test_tempo_computes_no_metrics_from_sampled_traces(rendered: Render) -> None:
    """Tempo receives traces Alloy has already sampled: a generator there would rate them ~1/share too low
    (grafana/tempo#1515). Span metrics and the service graph come from Alloy (tests/components/traces/test_trace_metrics.py)."""
    config = _config(rendered)
    assert "metrics_generator" not in config
    assert "metrics_generator" not in config.get("overrides", {}).get("defaults", {})
    assert not any(f.producer == endpoints.TEMPO_NAME for f in flows.data_flows(rendered.settings))


def test_blocks_and_wal_live_on_the_claimed_volume(rendered: Render) -> None:
    trace = _config(rendered)["storage"]["trace"]
    assert trace["backend"] == "local"
    mount = next(m for m in container(rendered, "StatefulSet", endpoints.TEMPO_NAME)["volumeMounts"] if m["name"] == "data")
    assert trace["local"]["path"].startswith(mount["mountPath"] + "/")
    assert trace["wal"]["path"].startswith(mount["mountPath"] + "/")
    template = find(rendered, "StatefulSet", endpoints.TEMPO_NAME)["spec"]["volumeClaimTemplates"][0]
    assert template["metadata"]["name"] == "data"
    assert template["spec"]["resources"]["requests"]["storage"] == rendered.settings.tempo.storage.size


def test_probes_and_limits(rendered: Render) -> None:
    tempo = container(rendered, "StatefulSet", endpoints.TEMPO_NAME)
    assert {"name": "http", "containerPort": 3200, "protocol": "TCP"} in tempo["ports"]
    for probe in ("readinessProbe", "startupProbe"):
        assert tempo[probe]["httpGet"] == {"path": "/ready", "port": "http"}
    # /ready fails while the ingester is not ready; a restart would not help (same fault kind as Loki's).
    assert tempo["livenessProbe"]["httpGet"] == {"path": "/api/status/buildinfo", "port": "http"}
    assert tempo["resources"]["limits"] == {"cpu": "1", "memory": "2Gi"}


def test_no_dead_generator_settings(rendered: Render) -> None:
    config = _config(rendered)
    generator = config.get("metrics_generator", {})
    processors = config.get("overrides", {}).get("defaults", {}).get("metrics_generator", {}).get("processors", [])
    # traces_storage is read only by the local-blocks processor (Tempo modules/generator/config.go).
    if "traces_storage" in generator:
        assert "local-blocks" in processors
    # Every configured processor block belongs to an enabled processor.
    names = {"service_graphs": "service-graphs", "span_metrics": "span-metrics", "local_blocks": "local-blocks"}
    for block in generator.get("processor", {}):
        assert names[block] in processors, f"metrics_generator.processor.{block} is set but {names[block]} is not enabled"


def test_s3_for_prod_with_an_s3_compatible_endpoint(render_stack) -> None:
    render = render_stack(
        "prod",
        "tempo.objectStorage={backend: s3, bucket: traces-prod, endpoint: 'minio.storage:9000', insecure: true}",
        secrets={"objectStorageAccessKeyId": "AKIAEXAMPLEKEYID", "objectStorageSecretAccessKey": "tempo-secret-never-in-output"},
    )
    trace = _config(render)["storage"]["trace"]
    assert trace["backend"] == "s3"
    assert trace["s3"] == {"bucket": "traces-prod", "endpoint": "minio.storage:9000", "insecure": True, "forcepathstyle": True}
    assert find(render, "Secret", "tempo-object-storage")["stringData"] == "[secret]"
    names = {e["name"] for e in container(render, "StatefulSet", endpoints.TEMPO_NAME)["env"]}
    assert names == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    assert not has(render, "Secret", "loki-object-storage")
