"""Validation of the logs and traces settings: every new key named with its value and accepted form."""

from __future__ import annotations

import pytest

from components.settings.errors import SettingsError
from components.settings.loader import load_settings


def _problem_line(config: dict, key: str, secret_keys: frozenset[str] = frozenset()) -> str:
    with pytest.raises(SettingsError) as error:
        load_settings(config, "prod", secret_keys)
    message = str(error.value)
    line = next((line for line in message.splitlines() if f"observability:{key} " in line), None)
    assert line is not None, message
    return line


@pytest.mark.parametrize(
    ("config", "key", "form"),
    [
        ({"observability:loki": {"retention": "36h"}}, "loki.retention", "whole number of days"),
        ({"observability:loki": {"retention": "12h"}}, "loki.retention", "24h"),
        ({"observability:loki": {"ingestion": {"rateMb": 8, "burstMb": 4}}}, "loki.ingestion.burstMb", "at least the rate"),
        ({"observability:loki": {"ingestion": {"perStreamRateMb": 10}}}, "loki.ingestion.perStreamRateMb", "at most the tenant's rate"),
        ({"observability:loki": {"ingestion": {"perStreamBurstMb": 1}}}, "loki.ingestion.perStreamBurstMb", "at least the rate"),
        ({"observability:loki": {"ingestion": {"rateMb": 0}}}, "loki.ingestion.rateMb", "above 0"),
        ({"observability:loki": {"ingestion": {"maxStreams": 10}}}, "loki.ingestion.maxStreams", "did you mean 'maxStreamsPerUser'"),
        ({"observability:loki": {"chunkCacheMb": 1024}}, "loki.chunkCacheMb", "at most 682"),
        ({"observability:loki": {"replicas": 3}}, "loki.replicas", "loki-distributed.md"),
        ({"observability:tempo": {"replicas": 2}}, "tempo.replicas", "accepted form: 1"),
        ({"observability:grafana": {"replicas": 2}}, "grafana.replicas", "SQLite"),
        ({"observability:loki": {"objectStorage": {"backend": "azure", "bucket": "logs"}}}, "loki.objectStorage.backend", "'s3' or 'gcs'"),
        ({"observability:loki": {"objectStorage": {"backend": "s3", "bucket": "Logs_Bucket!"}}}, "loki.objectStorage.bucket", "bucket name"),
        (
            {"observability:tempo": {"objectStorage": {"backend": "s3", "bucket": "traces", "credentials": "workloadIdentity"}}},
            "tempo.objectStorage.region",
            "eu-west-1",
        ),
        (
            {"observability:tempo": {"objectStorage": {"backend": "s3", "bucket": "traces", "endpoint": "http://minio:9000"}}},
            "tempo.objectStorage.endpoint",
            "without a scheme",
        ),
        (
            {"observability:tempo": {"objectStorage": {"backend": "gcs", "bucket": "traces"}}},
            "tempo.objectStorage.credentials",
            "objectStorageGcsServiceAccountKey",
        ),
        ({"observability:tempo": {"metricsGenerator": {"enabled": "sometimes"}}}, "tempo.metricsGenerator.enabled", "true or false"),
        ({"observability:alloy": {"serviceLabels": []}}, "alloy.serviceLabels", "at least 1 of them"),
        ({"observability:alloy": {"serviceLabels": ["app name"]}}, "alloy.serviceLabels.0", "label key"),
        ({"observability:grafana": {"ingress": {"enabled": True}}}, "grafana.ingress.host", "required"),
        ({"observability:grafana": {"ingress": {"enabled": True, "host": "Grafana_Host"}}}, "grafana.ingress.host", "DNS host name"),
        ({"observability:grafana": {"external": {"url": "grafana.example.com"}}}, "grafana.external.url", "absolute http(s) URL"),
        ({"observability:grafana": {"external": {"url": "https://org.grafana.net"}}}, "grafana.external.url", "observability:grafanaAuth"),
        ({"observability:grafana": {"apiUrl": "localhost:3000"}}, "grafana.apiUrl", "absolute http(s) URL"),
    ],
)
def test_a_bad_logs_or_traces_value_is_named(config: dict, key: str, form: str) -> None:
    assert form in _problem_line(config, key)


def test_object_storage_is_accepted_with_its_secrets() -> None:
    secrets = {"observability:objectStorageAccessKeyId", "observability:objectStorageSecretAccessKey"}
    config = {
        "observability:loki": {"objectStorage": {"backend": "s3", "bucket": "logs-prod", "region": "eu-west-1", "since": "2027-01-04"}},
        **{key: "value" for key in secrets},
    }
    settings = load_settings(config, "prod", frozenset(secrets))
    assert settings.loki.object_storage is not None
    assert settings.loki.object_storage.bucket == "logs-prod"
    assert settings.loki.object_storage.credentials == "secret"


def test_external_grafana_is_accepted_with_its_token() -> None:
    config = {"observability:grafana": {"external": {"url": "https://org.grafana.net/"}}, "observability:grafanaAuth": "token"}
    settings = load_settings(config, "prod", frozenset({"observability:grafanaAuth"}))
    assert settings.grafana.external is not None
    assert settings.grafana.external.url == "https://org.grafana.net"
