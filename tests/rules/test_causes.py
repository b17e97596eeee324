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

from components.rules import causes, guards
from components.rules.all_rules import load_all_rules
from tooling.rule_eval import evaluate
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


def _rendered_rules(render: Any) -> dict[str, dict[str, Any]]:
    """The rule sets of the prod render, by name (the PrometheusRule specs, onset companions included)."""
    return {m["metadata"]["name"]: m["spec"] for m in render.manifests() if m["kind"] == "PrometheusRule"}


@pytest.fixture(scope="module")
def deployed(render_stack: Any) -> dict[str, dict[str, Any]]:
    return _rendered_rules(render_stack("prod"))


@pytest.fixture(scope="module")
def alerts(deployed: dict[str, dict[str, Any]]) -> list[dict[str, str]]:
    """The static labels of every alert the prod render deploys (a companion, and its onset, carries its job)."""
    out = []
    for _, rule in guards.alert_rules(deployed):
        labels = {"alertname": rule["alert"], **rule["labels"]}
        if rule["alert"] in (guards.COMPANION, causes.onset_name(guards.COMPANION)):
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

    # A dependency mutes only the services that call it (review of issue 23: Ollama down muted all seven).
    ollama = _muted_by(alerts, inhibit_rules, _one(alerts, alertname="CopilotDependencyDown", service="ollama"))
    assert {("CopilotErrorRateHigh", "embedding"), ("CopilotEmbeddingErrorsErrorBudgetBurn", "embedding"),
            ("MetricsSourceAbsent", "copilot-summarization")} <= ollama
    assert not {s for _, s in ollama} & {"ingestion", "parsing", "chunking", "reporting", "copilot-ingestion"}, ollama

    slow = _muted_by(alerts, inhibit_rules, _one(alerts, alertname="RunCompletionSLAViolation"))
    assert ("DvtRunCompletionLatencyErrorBudgetBurn", "dvt") in slow and ("DvtPauseLatencyErrorBudgetBurn", "dvt") not in slow


def test_the_watchdog_is_never_muted(alerts: list[dict[str, str]], inhibit_rules: list[dict[str, Any]]) -> None:
    watchdog = _one(alerts, alertname="Watchdog")
    assert [a["alertname"] for a in alerts if _mutes(inhibit_rules, a, watchdog)] == []


def test_a_dependency_down_mutes_only_the_services_that_use_it(alerts: list[dict[str, str]], inhibit_rules: list[dict[str, Any]]) -> None:
    """Every CopilotDependencyDown (and its onset) mutes Copilot alerts only of services listed as its users
    (causes.DEPENDENCY_USERS, one entry per dependency the rules watch)."""
    copilot = set(causes.DEPENDENCY_USERS["rabbitmq"])
    for source in (a for a in alerts if a["alertname"] in ("CopilotDependencyDown", causes.onset_name("CopilotDependencyDown"))):
        users = set(causes.DEPENDENCY_USERS[source["service"]])
        muted = {s.removeprefix("copilot-") for _, s in _muted_by(alerts, inhibit_rules, source)} & copilot
        assert muted and muted <= users, (source["service"], sorted(muted - users))


def test_a_stack_component_down_pages_once_for_its_outage(alerts: list[dict[str, str]], inhibit_rules: list[dict[str, Any]],
                                                          render_stack: Any) -> None:
    """Every probed component of the stack has its own StackComponentDown (service = the component, reading the
    component's Probe job), which mutes the component's StackReplicasUnavailable and MetricsSourceAbsent and the
    loss Alloy reports while the component refuses its data (review of issue 23: a Loki outage notified four times)."""
    render = render_stack("prod")
    probes = {m["metadata"]["name"]: m for m in render.manifests() if m["kind"] == "Probe" and "jobName" not in m["spec"]}
    down = {r["labels"]["service"]: r for _, r in guards.alert_rules(_rendered_rules(render)) if r["alert"] == causes.COMPONENT_DOWN}
    assert set(probes) == set(down)
    for component, probe in probes.items():
        assert probe["spec"]["targets"]["staticConfig"]["labels"]["component"] == component
        assert f'job="probe/{probe["metadata"]["namespace"]}/{component}"' in down[component]["expr"]
    loss = {"loki": "AlloyLogsDropped", "tempo": "AlloyTraceExportFailing", "prometheus": "AlloyRemoteWriteFailing"}
    for component in probes:
        muted = _muted_by(alerts, inhibit_rules, _one(alerts, alertname=causes.COMPONENT_DOWN, service=component))
        expected = {(name, component) for name in ("StackReplicasUnavailable",) if any(a["alertname"] == name and a["service"] == component for a in alerts)}
        expected |= {("MetricsSourceAbsent", component)} if any(a.get("job") == component for a in alerts) else set()
        expected |= {(loss[component], "alloy")} if component in loss else set()
        assert muted == expected, (component, muted ^ expected)


def _waits(deployed: dict[str, dict[str, Any]]) -> dict[tuple[str, str, str], float]:
    """(alert, service, severity) -> its `for:` in seconds (an alert name and service are unique per severity)."""
    waits: dict[tuple[str, str, str], float] = {}
    for _, r in guards.alert_rules(deployed):
        key = (r["alert"], r["labels"]["service"], r["labels"]["severity"])
        assert key not in waits, key
        waits[key] = causes.seconds(r.get("for", "0s"))
    return waits


def test_every_cause_mutes_its_symptoms_no_later_than_they_could_fire(alerts: list[dict[str, str]], inhibit_rules: list[dict[str, Any]],
                                                                     deployed: dict[str, dict[str, Any]]) -> None:
    """Prometheus sends an alert once its `for:` has passed. For every cause and every symptom its fault can make
    fire (causes.relations: for a vanished scrape job, only the alerts that fire on it), the rendered config must
    mute the symptom by an alert of the cause that waits no longer than the symptom: the cause itself, or its
    onset companion (same expression, no `for:`). Symptom windows only delay a symptom, so the symptom's `for:`
    is the earliest it can fire. Before the onsets: CopilotDependencyDown{ollama} (10m) let CopilotErrorRateHigh
    (5m) page first."""
    waits = _waits(deployed)
    labels = {(a["alertname"], a["service"], a["severity"]): a for a in alerts}
    late, checked = [], 0
    for rel in causes.relations(load_all_rules(TEST_CONTEXT)):
        source = rel.source
        for target in rel.by_fault:
            symptom = (target.name, target.service, target.severity)
            early = [key for key in ((name, source.service, source.severity) for name in (source.name, causes.onset_name(source.name)))
                     if key in labels and waits[key] <= waits[symptom] and _mutes(inhibit_rules, labels[key], labels[symptom])]
            checked += 1
            if not early:
                late.append((source.name, source.service, target.name, target.service, target.severity))
    assert checked > 100 and late == []


def test_an_onset_is_its_cause_without_for_and_notifies_no_one(deployed: dict[str, dict[str, Any]], render_stack: Any) -> None:
    """An onset companion is its cause's expression while the cause is new (causes.onset_expr; what it fires on is
    shown on the real engine in test_an_onset_holds_only_while_its_cause_is_new), copies the cause's labels, has
    no `for:` and is labelled notify=none, which
    the rendered Alertmanager routes, first, to the receiver with no integration."""
    rules = {(r["alert"], r["labels"]["service"]): r for _, r in guards.alert_rules(deployed)}
    onsets = [key for key in rules if key[0].endswith(causes.ONSET_SUFFIX)]
    assert ("CopilotDependencyDownOnset", "ollama") in onsets and ("StackComponentDownOnset", "loki") in onsets
    key, value = causes.INHIBIT_ONLY
    for name, service in onsets:
        onset, cause = rules[(name, service)], rules[(name.removesuffix(causes.ONSET_SUFFIX), service)]
        assert onset["expr"] == causes.onset_expr(cause["expr"], cause["for"]) and "for" not in onset
        assert onset["labels"] == {**cause["labels"], key: value}
    config = yaml.safe_load(render_stack("prod").files["alertmanager.yaml"])
    first = config["route"]["routes"][0]
    assert first["matchers"] == [f'{key}="{value}"'] and "continue" not in first
    (receiver,) = [r for r in config["receivers"] if r["name"] == first["receiver"]]
    assert [k for k in receiver if k.endswith("_configs")] == []


def test_the_prober_gone_mutes_the_scrape_failures_of_every_job_it_probes(alerts: list[dict[str, str]], inhibit_rules: list[dict[str, Any]],
                                                                          render_stack: Any) -> None:
    """Every rendered Probe's job (prometheus-operator v0.85.0 names it spec.jobName, else probe/<namespace>/<name>)
    fails its scrape when the blackbox exporter is gone: MetricsSourceAbsent{blackbox-exporter} mutes its
    ScrapeTargetDown (second review of issue 23: eight of them went to Slack next to the page)."""
    probes = [m for m in render_stack("prod").manifests() if m["kind"] == "Probe"]
    jobs = {m["spec"].get("jobName") or f'probe/{m["metadata"]["namespace"]}/{m["metadata"]["name"]}' for m in probes}
    assert "ollama" in jobs and len(jobs) == len(probes) > 1, jobs
    prober = _one(alerts, alertname="MetricsSourceAbsent", job="blackbox-exporter")
    target = _one(alerts, alertname="ScrapeTargetDown")
    unmuted = sorted(job for job in jobs if not _mutes(inhibit_rules, prober, {**target, "job": job}))
    assert unmuted == []
    # Not a scrape job that does not go through the prober.
    assert not _mutes(inhibit_rules, prober, {**target, "job": "dvt-engine"})


def _minutes(result: Any, alertname: str, end: int) -> list[int]:
    return [m for m in range(end + 1) if result.firing(f"{m}m", alertname)]


def test_an_onset_holds_only_while_its_cause_is_new(tmp_path: Any) -> None:
    """On Prometheus 3.5.0's rule engine (tooling/rule_eval.py), CopilotDependencyDown{ollama} (for: 10m) and its
    onset: an outage from minute 20 fires the onset from 20 to 29 and the cause from 30 on, no minute uncovered
    and none twice; a probe failing 8 minutes and passing 1 (second review of issue 23) never fires the cause,
    and its onset stops after its first 10 minutes instead of muting the symptoms for ever."""
    specs = load_all_rules(TEST_CONTEXT)
    (cause,) = [r for _, r in guards.alert_rules(specs) if r["alert"] == "CopilotDependencyDown" and r["labels"]["service"] == "ollama"]
    (onset,) = [r for g in causes.onset_rules(specs)["groups"] for r in g["rules"]
                if r["alert"] == causes.onset_name(cause["alert"]) and r["labels"]["service"] == "ollama"]
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [
        {k: v for k, v in r.items() if k in ("alert", "expr", "for", "labels")} for r in (cause, onset)]}]}))
    end, series = 60, 'probe_success{job="ollama", instance="http://ollama:11434/"}'
    flap = " ".join(["1"] * 20 + [(["0"] * 8 + ["1"])[m % 9] for m in range(end - 19)])
    cases = [{"name": name, "rule_files": [str(path)], "interval": "1m", "evaluation_interval": "1m",
              "input_series": [{"series": series, "values": values}], "eval_times": [f"{m}m" for m in range(end + 1)]}
             for name, values in (("outage", f"1x19 0x{end - 20}"), ("flapping", flap))]
    outage, flapping = evaluate(cases)
    assert (_minutes(outage, onset["alert"], end), _minutes(outage, cause["alert"], end)) == (list(range(20, 30)), list(range(30, end + 1)))
    assert _minutes(flapping, cause["alert"], end) == []
    assert _minutes(flapping, onset["alert"], end) == [m for m in range(20, 30) if flap.split()[m] == "0"]
