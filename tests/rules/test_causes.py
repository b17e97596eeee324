"""The inhibitions derived from the rules (components/rules/causes.py), read on the rendered prod Alertmanager config
against every alert of the rule set: no two alerts mute each other, nothing mutes a more severe alert, and a cause
mutes only its own symptoms (issue 23: one fault, one page; the outage scenarios are in
tests/components/metrics/test_outage_pages.py)."""

from __future__ import annotations

import re
from itertools import product
from typing import Any

import pytest
import yaml

from components.rules import guards
from components.rules.all_rules import load_all_rules
from tooling.rules.build import TEST_CONTEXT

SEVERITIES = guards.SEVERITY_ORDER
_MATCHER = re.compile(r'^(?P<name>\w+)(?P<op>=~|!=|=)"(?P<value>.*)"$')


def _matches(matchers: list[str], labels: dict[str, str]) -> bool:
    for text in matchers:
        m = _MATCHER.match(text)
        assert m, text
        value = labels.get(m["name"], "")
        if (m["op"] == "=" and value != m["value"]) or (m["op"] == "!=" and value == m["value"]):
            return False
        if m["op"] == "=~" and not re.fullmatch(m["value"], value):
            return False
    return True


def _mutes(rules: list[dict[str, Any]], source: dict[str, str], target: dict[str, str]) -> list[dict[str, Any]]:
    return [r for r in rules if _matches(r["source_matchers"], source) and _matches(r["target_matchers"], target)
            and all(source.get(label, "") == target.get(label, "") for label in r.get("equal", []))]


@pytest.fixture(scope="module")
def alerts() -> list[dict[str, str]]:
    """The static labels of every alert of the rule set (a companion carries its job)."""
    out = []
    for _, rule in guards.alert_rules(load_all_rules(TEST_CONTEXT)):
        labels = {"alertname": rule["alert"], **rule["labels"]}
        if rule["alert"] == guards.COMPANION:
            labels["job"] = labels["service"]
        out.append(labels)
    return out


@pytest.fixture(scope="module")
def inhibit_rules(render_stack: Any) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = yaml.safe_load(render_stack("prod").files["alertmanager.yaml"])["inhibit_rules"]
    return rules


def test_no_two_alerts_mute_each_other_and_none_mutes_a_more_severe_one(alerts: list[dict[str, str]], inhibit_rules: list[dict[str, Any]]) -> None:
    mutual, upward = [], []
    for a, b in product(alerts, alerts):
        if a is b or not _mutes(inhibit_rules, a, b):
            continue
        if _mutes(inhibit_rules, b, a):
            mutual.append((a["alertname"], a["service"], b["alertname"], b["service"]))
        if SEVERITIES.index(b["severity"]) > SEVERITIES.index(a["severity"]):
            upward.append((a["alertname"], a["severity"], b["alertname"], b["severity"]))
    assert mutual == [] and upward == []


def _muted_by(alerts: list[dict[str, str]], rules: list[dict[str, Any]], source: dict[str, str]) -> set[tuple[str, str]]:
    return {(b["alertname"], b["service"]) for b in alerts if b is not source and _mutes(rules, source, b)}


def _one(alerts: list[dict[str, str]], **labels: str) -> dict[str, str]:
    (found,) = [a for a in alerts if all(a.get(k) == v for k, v in labels.items())]
    return found


def test_a_cause_mutes_its_own_symptoms_and_no_other_services(alerts: list[dict[str, str]], inhibit_rules: list[dict[str, Any]]) -> None:
    dvt = _muted_by(alerts, inhibit_rules, _one(alerts, alertname="MetricsSourceAbsent", job="dvt-engine"))
    assert {("AdapterHeartbeatLost", "dvt"), ("DvtAvailabilityErrorBudgetBurn", "dvt"), ("RunCompletionSLAViolation", "dvt")} <= dvt
    assert {service for _, service in dvt} == {"dvt"}

    rabbitmq = _muted_by(alerts, inhibit_rules, _one(alerts, alertname="CopilotDependencyDown", service="rabbitmq"))
    assert {("MetricsSourceAbsent", "rabbitmq"), ("CopilotErrorRateHigh", "parsing"), ("CopilotParsingErrorsErrorBudgetBurn", "parsing")} <= rabbitmq
    # Not another dependency's outage, nor another system's alerts.
    assert not {("MetricsSourceAbsent", "mongodb"), ("CopilotDependencyDown", "mongodb"), ("DatabaseConnectionFailures", "mongodb")} & rabbitmq
    assert all(service in {"rabbitmq", "ingestion", "parsing", "chunking", "embedding", "summarization", "reporting", "orchestrator"}
               or service.startswith("copilot-") for _, service in rabbitmq)

    slow = _muted_by(alerts, inhibit_rules, _one(alerts, alertname="RunCompletionSLAViolation"))
    assert ("DvtRunCompletionLatencyErrorBudgetBurn", "dvt") in slow and ("DvtPauseLatencyErrorBudgetBurn", "dvt") not in slow


def test_the_watchdog_is_never_muted(alerts: list[dict[str, str]], inhibit_rules: list[dict[str, Any]]) -> None:
    watchdog = _one(alerts, alertname="Watchdog")
    assert [a["alertname"] for a in alerts if _mutes(inhibit_rules, a, watchdog)] == []
