"""Settings: per-environment defaults, overrides, and every kind of bad value named by its key."""

from __future__ import annotations

from decimal import Decimal

import pytest

from components.settings.errors import SettingsError
from components.settings.loader import load_settings
from tooling.stack_config import OverrideError, apply_overrides, read_stack_config

# DESIGN.md's per-environment table.
EXPECTED = {
    "dev": {"retention": "7d", "scrape": "15s", "logs": "3d", "traces": "3d", "sampling": Decimal("1"), "prom_replicas": 1, "am_replicas": 1},
    "staging": {"retention": "30d", "scrape": "15s", "logs": "14d", "traces": "7d", "sampling": Decimal("0.5"), "prom_replicas": 1, "am_replicas": 1},
    "prod": {"retention": "90d", "scrape": "10s", "logs": "30d", "traces": "14d", "sampling": Decimal("0.1"), "prom_replicas": 2, "am_replicas": 3},
}


def _settings(stack: str, *overrides: str):
    config = read_stack_config(stack)
    apply_overrides(config, overrides)
    return load_settings(config.engine_form(), stack, config.secret_keys)


@pytest.mark.parametrize("stack", sorted(EXPECTED))
def test_stack_files_give_the_designed_defaults(stack: str) -> None:
    settings = _settings(stack)
    expected = EXPECTED[stack]
    assert settings.environment == stack
    assert settings.prometheus.retention == expected["retention"]
    assert settings.prometheus.scrape_interval == expected["scrape"]
    assert settings.loki.retention == expected["logs"]
    assert settings.tempo.retention == expected["traces"]
    assert settings.tempo.sampling == expected["sampling"]
    assert settings.prometheus.replicas == expected["prom_replicas"]
    assert settings.alertmanager.replicas == expected["am_replicas"]
    assert settings.protect_stateful is (stack == "prod")


def test_an_override_changes_only_its_key() -> None:
    base = _settings("dev")
    changed = _settings("dev", "prometheus.retention=30d", "pushgateway.storage.size=2Gi")
    assert changed.prometheus.retention == "30d"
    assert changed.pushgateway.storage.size == "2Gi"
    assert changed.prometheus.retention_size == base.prometheus.retention_size
    assert changed.loki == base.loki


def test_structured_values_arrive_as_json_text_from_the_engine() -> None:
    settings = load_settings({"observability:environment": "staging", "observability:prometheus": '{"retention": "45d"}'}, "staging-eu")
    assert settings.prometheus.retention == "45d"
    assert settings.stack == "staging-eu"


def _problems(config: dict, stack: str = "dev", secret_keys: frozenset[str] = frozenset()) -> str:
    with pytest.raises(SettingsError) as error:
        load_settings(config, stack, secret_keys)
    return str(error.value)


@pytest.mark.parametrize(
    ("config", "key", "form"),
    [
        ({"observability:prometheus": {"retention": "7 days"}}, "prometheus.retention", "7d"),
        ({"observability:prometheus": {"scrapeInterval": "15"}}, "prometheus.scrapeInterval", "unit"),
        ({"observability:prometheus": {"storage": {"size": "20GB"}}}, "prometheus.storage.size", "Gi"),
        ({"observability:pushgateway": {"resources": {"limits": {"cpu": "half"}}}}, "pushgateway.resources.limits.cpu", "250m"),
        ({"observability:tempo": {"sampling": "150%"}}, "tempo.sampling", "0 to 100"),
        ({"observability:tempo": {"sampling": "ten"}}, "tempo.sampling", "10%"),
        ({"observability:prometheus": {"retentionSize": "6GB"}}, "prometheus.retentionSize", "85%"),
        ({"observability:prometheus": {"retentionSize": "4Gi"}}, "prometheus.retentionSize", "GB"),
        ({"observability:prometheus": {"retension": "3d"}}, "prometheus.retension", "did you mean 'retention'"),
        ({"observability:nmespace": "x"}, "nmespace", "did you mean 'namespace'"),
        ({"observability:loki": {"resources": {"requests": {"memory": "4Gi"}}}}, "loki.resources.requests.memory", "at most its limit"),
        ({"observability:grafana": {"image": "grafana/grafana:latest"}}, "grafana.image", "not 'latest'"),
        ({"observability:grafana": {"image": "grafana/grafana"}}, "grafana.image", "tag"),
        ({"observability:namespace": "Observability_NS"}, "namespace", "DNS-1123"),
        ({"observability:alertmanager": {"replicas": 0}}, "alertmanager.replicas", "from 1 to 10"),
        ({"observability:environment": "production"}, "environment", "dev, staging, prod"),
        ({"observability:pushgateway": {"replicas": 2}}, "pushgateway.replicas", "accepted form: 1"),
    ],
)
def test_a_bad_value_is_named_with_its_key_value_and_form(config: dict, key: str, form: str) -> None:
    message = _problems(config)
    line = next((line for line in message.splitlines() if f"observability:{key} " in line), None)
    assert line is not None, message
    assert form in line


def test_every_problem_is_reported_at_once() -> None:
    message = _problems({"observability:prometheus": {"retention": "1 week", "scrapeInterval": "often"}, "observability:loki": {"retention": "x"}})
    assert "3 problem(s)" in message
    for key in ("prometheus.retention", "prometheus.scrapeInterval", "loki.retention"):
        assert f"observability:{key} " in message


def test_a_secret_in_plain_text_is_refused_with_the_command_to_fix_it() -> None:
    message = _problems({"observability:slackWebhookUrl": "https://example.invalid/hook"})
    assert "pulumi config set --secret observability:slackWebhookUrl" in message
    assert "example.invalid" not in message
    settings = load_settings({"observability:slackWebhookUrl": "x"}, "dev", frozenset({"observability:slackWebhookUrl"}))
    assert settings.secrets_set == frozenset({"slackWebhookUrl"})


def test_other_namespaces_are_left_alone() -> None:
    load_settings({"kubernetes:context": "kind-dev", "observability:environment": "dev"}, "dev")


@pytest.mark.parametrize("assignment", ["prometheus.retention", "=30d", "environment.x=1"])
def test_a_malformed_override_is_refused(assignment: str) -> None:
    config = read_stack_config("dev")
    with pytest.raises(OverrideError):
        apply_overrides(config, [assignment])


def test_an_unknown_stack_names_the_known_ones() -> None:
    with pytest.raises(FileNotFoundError, match="known stacks: dev, prod, staging"):
        read_stack_config("qa")
