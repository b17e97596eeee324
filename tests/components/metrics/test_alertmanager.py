"""Alertmanager: the generated config passes amtool, routes each severity as DESIGN.md says, inhibits, holds no secret."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from components.metrics.alertmanager_config import RECEIVERS_SECRET, SEVERITIES, alertmanager_config, credential_keys
from components.settings.metrics_checks import RECEIVER_SECRET_KEYS, required_secrets
from tests.support.served import alertmanager_argv, answer, program, ready
from tests.support.tools import tool
from tooling.local_cluster import free_port
from tooling.render import Render

# Severity -> receiver, per stack with its committed config (DESIGN.md routing; dev pages nobody).
ROUTES = {
    "dev": dict.fromkeys(SEVERITIES, "null"),
    "staging": {"info": "slack", "warning": "slack", "error": "slack-email", "critical": "slack-email", "emergency": "slack-email"},
    "prod": {"info": "slack", "warning": "slack", "error": "slack-email", "critical": "pagerduty", "emergency": "pagerduty-escalation"},
}
PAGER_KEYS = ("pagerduty_configs", "opsgenie_configs", "victorops_configs")


def _write_config(render: Render, directory: Path) -> Path:
    path = directory / f"{render.stack}-alertmanager.yaml"
    path.write_text(render.files["alertmanager.yaml"])
    return path


def _routed_to(config: Path, **labels: str) -> list[str]:
    result = subprocess.run(
        [tool("amtool"), "config", "routes", "test", f"--config.file={config}", *(f"{k}={v}" for k, v in labels.items())],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().split(",")


def _pages(render: Render, receiver: str) -> bool:
    config = yaml.safe_load(render.files["alertmanager.yaml"])
    (found,) = [r for r in config["receivers"] if r["name"] == receiver]
    return any(found.get(key) for key in PAGER_KEYS)


def test_amtool_accepts_the_rendered_config(rendered: Render, tmp_path: Path) -> None:
    result = subprocess.run([tool("amtool"), "check-config", str(_write_config(rendered, tmp_path))], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize("severity", SEVERITIES)
def test_each_severity_reaches_its_receiver(rendered: Render, tmp_path: Path, severity: str) -> None:
    config = _write_config(rendered, tmp_path)
    assert _routed_to(config, alertname="Example", service="parsing", severity=severity) == [ROUTES[rendered.stack][severity]]


def test_a_warning_pages_nobody_and_dev_pages_nobody_at_all(rendered: Render, tmp_path: Path) -> None:
    config = _write_config(rendered, tmp_path)
    for severity in SEVERITIES:
        receivers = _routed_to(config, alertname="Example", service="parsing", severity=severity)
        pages = any(_pages(rendered, receiver) for receiver in receivers)
        if severity in ("info", "warning", "error") or rendered.settings.environment == "dev":
            assert not pages, f"{severity} pages in {rendered.stack}"
        else:
            assert pages == (rendered.settings.environment == "prod"), f"{severity} in {rendered.stack}"


def test_dev_with_a_slack_channel_sends_everything_there_and_still_pages_nobody(render_stack, tmp_path: Path) -> None:
    render = render_stack("dev", "alerting.slack.channel='#team-dev'")
    config = _write_config(render, tmp_path)
    for severity in SEVERITIES:
        assert _routed_to(config, severity=severity) == ["slack"]
    assert render.placeholder_secrets == ("slackWebhookUrl",)


def test_an_alert_without_a_severity_is_not_lost(rendered: Render, tmp_path: Path) -> None:
    config = _write_config(rendered, tmp_path)
    assert _routed_to(config, alertname="Unlabelled") == [ROUTES[rendered.stack]["error"]]


def test_grouping_and_emergency_escalation(render_stack) -> None:
    config = yaml.safe_load(render_stack("prod").files["alertmanager.yaml"])
    assert config["route"]["group_by"] == ["alertname", "service"]
    (escalation,) = [r for r in config["receivers"] if r["name"] == "pagerduty-escalation"]
    keys = [c["routing_key_file"].rsplit("/", 1)[1] for c in escalation["pagerduty_configs"]]
    assert keys == ["pagerdutyRoutingKey", "pagerdutyEscalationRoutingKey"]


def test_credentials_are_read_from_the_mounted_receivers_secret(render_stack) -> None:
    render = render_stack("prod")
    resource = next(m for m in render.manifests() if m["kind"] == "Alertmanager")
    secret = next(m for m in render.manifests() if m["kind"] == "Secret" and m["metadata"]["name"] == "alertmanager-receivers")
    assert secret["metadata"]["name"] in resource["spec"]["secrets"]
    text = render.files["alertmanager.yaml"]
    mount = f"/etc/alertmanager/secrets/{secret['metadata']['name']}/"
    config = yaml.safe_load(text)
    integrations = [c for r in config["receivers"] for key, configs in r.items() if key.endswith("_configs") for c in configs]
    files = [value for c in integrations for key, value in c.items() if key.endswith("_file")]
    assert files and all(path.startswith(mount) for path in files)
    assert {path.rsplit("/", 1)[1] for path in files} == set(render.placeholder_secrets)
    assert secret["stringData"] == "[secret]"


def test_the_receivers_secret_holds_what_the_config_reads_and_the_settings_require(rendered: Render) -> None:
    # The Secret's keys come from the config's *_file fields; the settings ask for the same secrets.
    settings = rendered.settings
    required = set(required_secrets(settings)) & set(RECEIVER_SECRET_KEYS)
    assert credential_keys(alertmanager_config(settings.alerting, [])) == sorted(required)


def test_a_canary_credential_reaches_only_the_secret(render_stack) -> None:
    canary = "https://hooks.slack.invalid/canary-5d1f"
    render = render_stack("prod", secrets={"slackWebhookUrl": canary, "pagerdutyRoutingKey": "canary-pd-77aa"})
    assert all(canary not in text and "canary-pd-77aa" not in text for text in render.files.values())
    record = next(r for r in render.records if r.type == "kubernetes:core/v1:Secret" and r.name == "alertmanager-receivers")
    assert "slackWebhookUrl" in json.dumps(record.inputs, default=str)


def test_replicas_and_storage_follow_the_environment(rendered: Render) -> None:
    spec = next(m for m in rendered.manifests() if m["kind"] == "Alertmanager")["spec"]
    assert spec["replicas"] == {"dev": 1, "staging": 1, "prod": 3}[rendered.stack]
    assert spec["configSecret"] == "alertmanager-config"
    assert spec["storage"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"] == rendered.settings.alertmanager.storage.size


# The real Alertmanager: a critical alert silences the warning of the same alertname and service.


@pytest.fixture
def running_alertmanager(render_stack, tmp_path: Path) -> Iterator[str]:
    config = _write_config(render_stack("prod"), tmp_path)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with program(alertmanager_argv(config, tmp_path / "data", port)) as process:
        answer(process, lambda: ready(url), "alertmanager ready")
        yield url


def _post(url: str, alerts: list[dict]) -> None:
    response = httpx.post(f"{url}/api/v2/alerts", content=json.dumps(alerts).encode(), headers={"Content-Type": "application/json"}, timeout=5)
    assert response.status_code == 200


def _states(url: str) -> dict[tuple[str, str], str]:
    response = httpx.get(f"{url}/api/v2/alerts", timeout=5)
    response.raise_for_status()
    return {(a["labels"]["service"], a["labels"]["severity"]): a["status"]["state"] for a in response.json()}


def test_a_critical_alert_silences_the_warning_of_the_same_alert_and_service(running_alertmanager: str) -> None:
    def alert(service: str, severity: str) -> dict:
        return {"labels": {"alertname": "QueueLagHigh", "service": service, "severity": severity}}

    _post(running_alertmanager, [alert("parsing", "critical"), alert("parsing", "warning"), alert("chunking", "warning")])
    deadline = time.monotonic() + 20
    while True:
        states = _states(running_alertmanager)
        if states.get(("parsing", "warning")) == "suppressed" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert states == {("parsing", "critical"): "active", ("parsing", "warning"): "suppressed", ("chunking", "warning"): "active"}


def test_the_receivers_secret_has_no_empty_string_data(render_stack: Any) -> None:
    """An empty stringData is dropped by the API server, and pulumi-kubernetes then planned a replacement of
    the Secret on every preview (found by the deploy test on dev, which sets no receiver credential)."""
    dev = next(o for o in render_stack("dev").manifests() if o["kind"] == "Secret" and o["metadata"]["name"] == RECEIVERS_SECRET)
    assert "stringData" not in dev and "data" not in dev
    prod = next(o for o in render_stack("prod").manifests() if o["kind"] == "Secret" and o["metadata"]["name"] == RECEIVERS_SECRET)
    assert prod["stringData"] == "[secret]"


# Routes that do not follow the severity (issue 23): the heartbeat and a failing integration.


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_the_watchdog_goes_to_the_heartbeat_receiver_or_nowhere_never_to_people(render_stack: Any, tmp_path: Path, stack: str) -> None:
    render = render_stack(stack)
    config = _write_config(render, tmp_path)
    heartbeat = render.settings.alerting.heartbeat
    assert _routed_to(config, alertname="Watchdog", severity="info", service="observability-stack") == ["heartbeat" if heartbeat else "null"]
    assert (heartbeat is not None) == (stack == "prod")
    if heartbeat is not None:
        parsed = yaml.safe_load(render.files["alertmanager.yaml"])
        (route,) = [r for r in parsed["route"]["routes"] if r.get("receiver") == "heartbeat"]
        assert route["repeat_interval"] == heartbeat.interval
        (receiver,) = [r for r in parsed["receivers"] if r["name"] == "heartbeat"]
        assert list(receiver) == ["name", "webhook_configs"]
        assert receiver["webhook_configs"][0]["url_file"].endswith("/heartbeatUrl") and not _pages(render, "heartbeat")
        assert "heartbeatUrl" in render.placeholder_secrets


@pytest.mark.parametrize("integration", ["pagerduty", "slack", "email"])
def test_a_failing_integration_is_reported_through_another(render_stack: Any, tmp_path: Path, integration: str) -> None:
    render = render_stack("prod")
    config = _write_config(render, tmp_path)
    (receiver,) = _routed_to(config, alertname="AlertmanagerNotificationsFailing", integration=integration, severity="critical",
                             service="alertmanager")
    (found,) = [r for r in yaml.safe_load(render.files["alertmanager.yaml"])["receivers"] if r["name"] == receiver]
    assert f"{integration}_configs" not in found, f"{integration} failures are sent through {receiver}"
    # Not through PagerDuty: the most serious receiver left, else still a page.
    assert receiver == ("slack-email" if integration == "pagerduty" else "pagerduty")


def test_an_emergency_mutes_the_critical_and_a_critical_never_mutes_an_emergency(render_stack: Any) -> None:
    rules = yaml.safe_load(render_stack("prod").files["alertmanager.yaml"])["inhibit_rules"]
    for rule in rules:
        source = next((m for m in rule["source_matchers"] if m.startswith("severity=")), 'severity="emergency"')
        target = next((m for m in rule["target_matchers"] if m.startswith("severity")), None)
        if target is not None and source != 'severity="emergency"':
            assert "emergency" not in target, rule
        if source == 'severity="emergency"' and "alertname" not in " ".join(rule["source_matchers"]):
            assert "critical" in (target or ""), rule
