"""Loki: retention that is enforced, three stream labels, limits, probes, volume, object storage for prod."""

from __future__ import annotations

import pytest

from components.logs.loki_config import STREAM_LABELS
from components.rules.catalog import FORBIDDEN_LABELS
from components.settings.errors import SettingsError
from tests.support.k8s_objects import config_flag, container, find, has, mounted_file, mounted_yaml, pod
from tooling.render import Render

# DESIGN.md: logs retention 3d, 14d, 30d, written by Loki in hours.
RETENTION_HOURS = {"dev": "72h", "staging": "336h", "prod": "720h"}
# DESIGN.md: Loki 2 CPU / 2 GiB; dev may be smaller.
LIMITS = {"dev": {"cpu": "1", "memory": "1Gi"}, "staging": {"cpu": "2", "memory": "2Gi"}, "prod": {"cpu": "2", "memory": "2Gi"}}
SINCE = "2027-01-04"
S3 = f"loki.objectStorage={{backend: s3, bucket: logs-prod, region: eu-west-1, since: {SINCE}}}"
S3_SECRETS = {"objectStorageAccessKeyId": "AKIAEXAMPLEKEYID", "objectStorageSecretAccessKey": "s3-secret-key-never-in-output"}


def _config(render: Render) -> dict:
    loki = container(render, "StatefulSet", "loki")
    return mounted_yaml(render, "StatefulSet", "loki", config_flag(loki, "-config.file"))


def test_retention_is_the_designed_one_and_enforced(rendered: Render) -> None:
    config = _config(rendered)
    assert config["limits_config"]["retention_period"] == RETENTION_HOURS[rendered.stack]
    compactor = config["compactor"]
    assert compactor["retention_enabled"] is True
    # Without a delete request store Loki 3 refuses retention; it must name the store the chunks live in.
    assert compactor["delete_request_store"] == "filesystem"
    assert compactor["working_directory"].startswith(config["common"]["path_prefix"])


def test_schema_is_tsdb_v13_with_a_24h_index_period(rendered: Render) -> None:
    periods = _config(rendered)["schema_config"]["configs"]
    assert len(periods) == 1
    assert periods[0]["store"] == "tsdb"
    assert periods[0]["schema"] == "v13"
    assert periods[0]["index"]["period"] == "24h"
    assert periods[0]["object_store"] == "filesystem"


def test_only_service_environment_and_level_can_be_stream_labels(rendered: Render) -> None:
    limits = _config(rendered)["limits_config"]
    assert set(STREAM_LABELS) == {"service", "environment", "level"}
    assert not set(STREAM_LABELS) & FORBIDDEN_LABELS
    # Loki would reject a fourth label, and must not invent service_name itself.
    assert limits["max_label_names_per_series"] == 3
    assert limits["discover_service_name"] == []


def test_ingestion_limits_follow_the_settings(rendered: Render) -> None:
    limits = _config(rendered)["limits_config"]
    ingestion = rendered.settings.loki.ingestion
    assert limits["ingestion_rate_mb"] == ingestion.rate_mb
    assert limits["ingestion_burst_size_mb"] == ingestion.burst_mb
    assert limits["per_stream_rate_limit"] == f"{ingestion.per_stream_rate_mb}MB"
    assert limits["per_stream_rate_limit_burst"] == f"{ingestion.per_stream_burst_mb}MB"
    assert limits["max_global_streams_per_user"] == ingestion.max_streams_per_user
    assert limits["reject_old_samples"] is True


def test_no_memcached_and_a_small_cache_on_dev(render_stack) -> None:
    dev = render_stack("dev")
    text = mounted_file(dev, "StatefulSet", "loki", "/etc/loki/loki.yaml")
    assert "memcached" not in text
    cache = _config(dev)["chunk_store_config"]["chunk_cache_config"]["embedded_cache"]
    assert cache["max_size_mb"] <= 64
    assert cache["max_size_mb"] < _config(render_stack("prod"))["chunk_store_config"]["chunk_cache_config"]["embedded_cache"]["max_size_mb"]
    assert not any("memcached" in m["metadata"]["name"] for m in dev.manifests())


def test_probes_ports_and_limits(rendered: Render) -> None:
    loki = container(rendered, "StatefulSet", "loki")
    assert {"name": "http", "containerPort": 3100, "protocol": "TCP"} in loki["ports"]
    for probe in ("readinessProbe", "startupProbe"):
        assert loki[probe]["httpGet"] == {"path": "/ready", "port": "http"}
    assert loki["resources"]["limits"] == LIMITS[rendered.stack]
    assert find(rendered, "Service", "loki")["spec"]["ports"][0]["port"] == 3100


def test_data_lives_on_a_claimed_volume(rendered: Render) -> None:
    statefulset = find(rendered, "StatefulSet", "loki")
    config = _config(rendered)
    mount = next(m for m in container(rendered, "StatefulSet", "loki")["volumeMounts"] if m["mountPath"] == config["common"]["path_prefix"])
    template = next(t for t in statefulset["spec"]["volumeClaimTemplates"] if t["metadata"]["name"] == mount["name"])
    assert template["spec"]["resources"]["requests"]["storage"] == rendered.settings.loki.storage.size
    filesystem = config["common"]["storage"]["filesystem"]
    assert filesystem["chunks_directory"].startswith(mount["mountPath"] + "/")
    assert filesystem["rules_directory"].startswith(mount["mountPath"] + "/")
    for directory in config["storage_config"]["tsdb_shipper"].values():
        assert directory.startswith(mount["mountPath"] + "/")
    assert statefulset["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == "Retain"


def test_prod_statefulset_is_protected(render_stack) -> None:
    record = next(r for r in render_stack("prod").records if r.type == "kubernetes:apps/v1:StatefulSet" and r.name == "loki")
    assert record.protect and record.retain_on_delete


def test_a_config_change_rolls_the_pod(render_stack) -> None:
    def checksum(render: Render) -> str:
        annotations: dict[str, str] = find(render, "StatefulSet", "loki")["spec"]["template"]["metadata"]["annotations"]
        return annotations["checksum/config"]

    assert checksum(render_stack("dev")) != checksum(render_stack("dev", "loki.retention=4d"))
    assert _config(render_stack("dev", "loki.retention=4d"))["limits_config"]["retention_period"] == "96h"


def test_s3_keeps_chunks_index_and_delete_requests_in_the_bucket(render_stack) -> None:
    render = render_stack("prod", S3, secrets=S3_SECRETS)
    config = _config(render)
    assert config["common"]["storage"] == {
        "s3": {"bucketnames": "logs-prod", "region": "eu-west-1", "endpoint": "s3.eu-west-1.amazonaws.com", "insecure": False}
    }
    assert config["schema_config"]["configs"][-1]["object_store"] == "s3"
    assert config["compactor"]["delete_request_store"] == "s3"


def test_s3_credentials_reach_the_pod_only_from_a_secret(render_stack) -> None:
    render = render_stack("prod", S3, secrets=S3_SECRETS)
    secret = find(render, "Secret", "loki-object-storage")
    # The whole of stringData is a Pulumi secret: the render shows only the placeholder.
    assert secret["stringData"] == "[secret]"
    env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container(render, "StatefulSet", "loki")["env"]}
    assert env == {name: {"name": "loki-object-storage", "key": name} for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    for text in render.files.values():
        assert "s3-secret-key-never-in-output" not in text


def test_object_storage_without_its_secrets_is_refused(render_stack) -> None:
    with pytest.raises(SettingsError) as error:
        render_stack("prod", S3)
    assert "observability:loki.objectStorage.credentials" in str(error.value)
    assert "pulumi config set --secret observability:objectStorageSecretAccessKey" in str(error.value)


def test_workload_identity_needs_no_secret(render_stack) -> None:
    render = render_stack(
        "prod",
        f"loki.objectStorage={{backend: gcs, bucket: logs-prod, since: {SINCE}, credentials: workloadIdentity, "
        "serviceAccountAnnotations: {iam.gke.io/gcp-service-account: loki@p.iam}}",
    )
    assert not has(render, "Secret", "loki-object-storage")
    assert _config(render)["common"]["storage"] == {"gcs": {"bucket_name": "logs-prod"}}
    assert find(render, "ServiceAccount", "loki")["metadata"]["annotations"] == {"iam.gke.io/gcp-service-account": "loki@p.iam"}
    assert "env" not in container(render, "StatefulSet", "loki")


def test_gcs_key_is_mounted_from_a_secret(render_stack) -> None:
    render = render_stack(
        "prod",
        f"loki.objectStorage={{backend: gcs, bucket: logs-prod, since: {SINCE}}}",
        secrets={"objectStorageGcsServiceAccountKey": '{"type": "service_account"}'},
    )
    loki = container(render, "StatefulSet", "loki")
    key_path = next(e["value"] for e in loki["env"] if e["name"] == "GOOGLE_APPLICATION_CREDENTIALS")
    mount = next(m for m in loki["volumeMounts"] if key_path.startswith(m["mountPath"] + "/"))
    volume = next(v for v in pod(render, "StatefulSet", "loki")["volumes"] if v["name"] == mount["name"])
    assert volume["secret"]["secretName"] == "loki-object-storage"
    assert find(render, "Secret", "loki-object-storage")["stringData"] == "[secret]"


def test_audit_trail_is_kept_90_days_next_to_the_operational_logs(rendered: Render) -> None:
    """Seed 003: logs 30 days (ops), 90 days (audit trail); Loki's per-stream retention (limits_config.retention_stream)."""
    limits = _config(rendered)["limits_config"]
    assert limits["retention_period"] == RETENTION_HOURS[rendered.stack]
    assert limits["retention_stream"] == [{"selector": '{service="dvt-audit"}', "priority": 1, "period": "2160h"}]


@pytest.mark.parametrize(("override", "key", "accepted"), [
    ("loki.streamRetention=[{selector: '{pod=\"x\"}', period: 90d}]", "loki.streamRetention[0].selector", "stream labels"),
    ("loki.streamRetention=[{selector: 'service=dvt-audit', period: 90d}]", "loki.streamRetention[0].selector", "stream selector"),
    ("loki.streamRetention=[{selector: '{service=\"dvt-audit\"}', period: 36h}]", "loki.streamRetention[0].period", "whole number of days"),
])
def test_a_bad_stream_retention_names_the_key(render_stack, override: str, key: str, accepted: str) -> None:
    with pytest.raises(SettingsError) as error:
        render_stack("dev", override)
    assert key in str(error.value) and accepted in str(error.value)


# --- issue 12: results cache, liveness, schema periods -----------------------------------------


def test_the_sized_results_cache_is_switched_on(rendered: Render) -> None:
    query_range = _config(rendered)["query_range"]
    cache = query_range["results_cache"]["cache"]["embedded_cache"]
    assert cache["enabled"] is True and cache["max_size_mb"] > 0
    # Loki's query_range caches results only with cache_results: true (default false).
    assert query_range["cache_results"] is True


def test_liveness_does_not_restart_a_loki_that_is_only_not_ready(rendered: Render) -> None:
    loki = container(rendered, "StatefulSet", "loki")
    # /ready answers 503 while a module is not ready; liveness asks only whether the HTTP server answers.
    assert loki["livenessProbe"]["httpGet"] == {"path": "/loki/api/v1/status/buildinfo", "port": "http"}
    assert loki["readinessProbe"]["httpGet"]["path"] == "/ready"


def test_moving_to_a_bucket_keeps_the_volume_period_and_starts_a_new_one(render_stack) -> None:
    before = _config(render_stack("prod"))["schema_config"]["configs"]
    config = _config(render_stack("prod", S3, secrets=S3_SECRETS))
    after = config["schema_config"]["configs"]
    # The period the existing logs were written under is unchanged, byte for byte.
    assert after[0] == before[0]
    assert after[1] == {**before[0], "from": SINCE, "object_store": "s3"}
    assert after[0]["from"] < after[1]["from"]
    # The volume's chunks stay readable once common.storage names only the bucket.
    assert config["storage_config"]["filesystem"]["directory"] == _config(render_stack("prod"))["common"]["storage"]["filesystem"]["chunks_directory"]


def test_the_new_period_is_the_recorded_date_in_every_render(render_stack) -> None:
    first = _config(render_stack("prod", S3, secrets=S3_SECRETS))
    again = _config(render_stack("prod", S3, "loki.replicas=1", secrets=S3_SECRETS))
    assert first["schema_config"] == again["schema_config"]
    assert first["schema_config"]["configs"][1]["from"] == SINCE


@pytest.mark.parametrize(
    ("storage", "message"),
    [
        ("{backend: s3, bucket: logs-prod, region: eu-west-1}", "is required with loki.objectStorage"),
        ("{backend: s3, bucket: logs-prod, region: eu-west-1, since: 2024-06-01}", "loki.objectStorage.since = '2024-06-01': is not after"),
        ("{backend: s3, bucket: logs-prod, region: eu-west-1, since: soon}", "not a date"),
    ],
)
def test_a_bucket_without_a_valid_start_day_is_refused(render_stack, storage: str, message: str) -> None:
    with pytest.raises(SettingsError) as error:
        render_stack("prod", f"loki.objectStorage={storage}", secrets=S3_SECRETS)
    assert "observability:loki.objectStorage.since" in str(error.value)
    assert message in str(error.value)
    assert "YYYY-MM-DD" in str(error.value)
