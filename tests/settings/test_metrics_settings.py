"""Validation of the metrics settings: alerting, receivers' credentials, scrape limits, operator, service exporters."""

from __future__ import annotations

import pytest

from components.settings.errors import SettingsError
from components.settings.loader import load_settings
from tooling.mock_runtime import run_program

EMAIL = {"to": "a@example.org", "from": "b@example.org", "smarthost": "smtp.example.org:587"}
PROD_SECRETS = {
    "observability:slackWebhookUrl": "x",
    "observability:pagerdutyRoutingKey": "x",
    "observability:pagerdutyEscalationRoutingKey": "x",
    "observability:heartbeatUrl": "x",
}


QDRANT = {"name": "q", "kind": "qdrant", "address": "a"}


def _targets(*targets: dict, username: str | None = None) -> dict:
    return {"observability:serviceExporters": {"targets": list(targets), "mongodbUsername": username}}


def _message(config: dict, stack: str = "dev", secrets: dict | None = None) -> str:
    secrets = secrets or {}
    with pytest.raises(SettingsError) as error:
        load_settings({**config, **secrets}, stack, frozenset(secrets), require_secrets=True)
    return str(error.value)


def _line(message: str, key: str) -> str:
    line = next((line for line in message.splitlines() if f"observability:{key} " in line), None)
    assert line is not None, message
    return line


def test_prod_without_a_pager_credential_says_how_to_set_it() -> None:
    secrets = {k: v for k, v in PROD_SECRETS.items() if not k.endswith("pagerdutyRoutingKey")}
    line = _line(_message({"observability:environment": "prod"}, "prod", secrets), "pagerdutyRoutingKey")
    assert "pulumi config set --secret observability:pagerdutyRoutingKey" in line


def test_prod_with_every_credential_is_accepted() -> None:
    settings = load_settings({"observability:environment": "prod", **PROD_SECRETS}, "prod", frozenset(PROD_SECRETS), require_secrets=True)
    assert settings.alerting.paging is True


@pytest.mark.parametrize(
    ("stack", "config", "key", "form"),
    [
        ("dev", {"observability:alerting": {"paging": True}}, "alerting.paging", "dev pages nobody"),
        ("prod", {"observability:alerting": {"paging": False}}, "alerting.paging", "must page"),
        ("staging", {}, "slackWebhookUrl", "pulumi config set --secret observability:slackWebhookUrl"),
        ("dev", {"observability:alerting": {"email": {**EMAIL, "authUsername": "am"}}},
         "smtpPassword", "pulumi config set --secret observability:smtpPassword"),
        ("dev", {"observability:alerting": {"email": {**EMAIL, "to": "nobody"}}}, "alerting.email.to", "name@domain"),
        ("dev", {"observability:alerting": {"email": {**EMAIL, "smarthost": "smtp.example.org"}}},
         "alerting.email.smarthost", "host:port"),
        ("dev", {"observability:alerting": {"slack": {"channel": "monitoring"}}}, "alerting.slack.channel", "'#'"),
        ("dev", {"observability:alerting": {"groupBy": ["alertname", "request_id"]}}, "alerting.groupBy.1", "forbidden"),
        ("dev", {"observability:alerting": {"groupBy": ["alert-name"]}}, "alerting.groupBy.0", "label name"),
        ("dev", {"observability:alerting": {"repeatInterval": "4 hours"}}, "alerting.repeatInterval", "duration"),
        ("dev", {"observability:alerting": {"pagin": True}}, "alerting.pagin", "did you mean 'paging'"),
        ("dev", {"observability:prometheus": {"scrapeLimits": {"sampleLimit": 0}}}, "prometheus.scrapeLimits.sampleLimit", "from 1 to"),
        ("dev", {"observability:prometheus": {"walCompression": "sometimes"}}, "prometheus.walCompression", "true or false"),
        ("dev", {"observability:operator": {"kubeletService": "kubelet"}}, "operator.kubeletService", "kube-system/kubelet"),
        ("dev", {"observability:operator": {"configReloaderImage": "quay.io/x/reloader"}}, "operator.configReloaderImage", "tag"),
        ("dev", _targets({"name": "db", "kind": "postgres", "address": "db:5432"}), "serviceExporters.targets.0.kind", "mongodb"),
        ("dev", _targets({"name": "db", "kind": "mongodb", "address": "db:99999"}), "serviceExporters.targets.0.address", "host:port"),
        ("dev", _targets({"name": "Db", "kind": "mongodb", "address": "db"}), "serviceExporters.targets.0.name", "DNS-1123"),
        ("dev", _targets(QDRANT, QDRANT), "serviceExporters.targets", "distinct"),
        ("dev", _targets({"name": "db", "kind": "mongodb", "address": "db"}, username="exporter"), "mongodbExporterPassword", "--secret"),
    ],
)
def test_a_bad_metrics_value_is_named_with_its_key_and_form(stack: str, config: dict, key: str, form: str) -> None:
    secrets = PROD_SECRETS if stack == "prod" else None
    message = _message({"observability:environment": stack, **config}, stack, secrets)
    assert form in _line(message, key)


def test_dev_needs_no_credential_by_default() -> None:
    settings = load_settings({"observability:environment": "dev"}, "dev", require_secrets=True)
    assert settings.alerting.slack is None and settings.alerting.paging is False


def test_offline_tools_may_read_settings_without_the_credentials() -> None:
    settings = load_settings({"observability:environment": "prod"}, "prod")
    assert settings.alerting.paging is True


def test_the_pulumi_program_refuses_prod_without_its_pager_credential() -> None:
    # The path `pulumi up` takes: config from the engine, then settings_from_pulumi, before any resource.
    secrets = {k: v for k, v in PROD_SECRETS.items() if not k.endswith("pagerdutyRoutingKey")}
    with pytest.raises(SettingsError) as error:
        run_program("prod", {"observability:environment": "prod", **secrets}, set(secrets))
    assert "pulumi config set --secret observability:pagerdutyRoutingKey" in _line(str(error.value), "pagerdutyRoutingKey")


def test_prod_without_a_heartbeat_url_says_how_to_set_it() -> None:
    secrets = {k: v for k, v in PROD_SECRETS.items() if not k.endswith("heartbeatUrl")}
    line = _line(_message({"observability:environment": "prod"}, "prod", secrets), "heartbeatUrl")
    assert "alerting.heartbeat" in line and "pulumi config set --secret observability:heartbeatUrl" in line


def test_dev_has_no_heartbeat_and_a_heartbeat_needs_no_url_there_until_it_is_on() -> None:
    assert load_settings({}, "dev").alerting.heartbeat is None
    on = {"observability:alerting": {"heartbeat": {"interval": "1m"}}}
    assert "heartbeatUrl" in _line(_message(on, "dev"), "heartbeatUrl")


def test_a_heartbeat_more_often_than_alertmanager_can_send_is_refused() -> None:
    config = {"observability:alerting": {"heartbeat": {"interval": "20s"}}}
    line = _line(_message(config, "dev", {"observability:heartbeatUrl": "x"}), "alerting.heartbeat.interval")
    assert "20s" in line and "at least 60s" in line
