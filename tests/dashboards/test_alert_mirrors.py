"""Panels agree with the alerts: the thresholds of a panel that shows an alert's quantity are the alert's (read off the
rendered rule files, not the dashboards' own path to them), and every dashboard an alert links shows what it is sent for."""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.rules import causes, slo
from components.rules.catalog import load_catalog
from dashboards.alerts import (
    Bound,
    MirrorError,
    applies,
    bounds_of,
    bucket_ratio,
    comparison,
    grafana_to_promql,
    panel_problems,
    reads,
    signature,
    steps_of,
)
from dashboards.common import context
from dashboards.registry import build_dashboards
from tests.conftest import STACKS, RenderStack
from tests.support.panel_queries import interpolate
from tooling.rule_eval import evaluate


def _panels(model: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in model["panels"]:
        yield panel
        yield from panel.get("panels", [])


def _rules(render_stack: RenderStack, stack: str) -> list[dict[str, Any]]:
    """The rendered rule files, without the causes' onset companions (copies of their causes that notify no one
    and link no dashboard of their own: components/rules/causes.py)."""
    files = render_stack(stack).files
    return [yaml.safe_load(text) for path, text in sorted(files.items())
            if path.startswith("rules/") and path != f"rules/{causes.ONSET_SET}.yaml"]


def _models(render_stack: RenderStack, stack: str) -> dict[str, dict[str, Any]]:
    return {d.uid: d.model() for d in build_dashboards(render_stack(stack).settings)}


def _panel(model: dict[str, Any], title: str) -> dict[str, Any]:
    found = [p for p in _panels(model) if p.get("title") == title]
    assert len(found) == 1, (model["uid"], title)
    return found[0]


SERIES = load_catalog().series_names()


@pytest.mark.parametrize("stack", STACKS)
def test_every_panel_of_an_alerts_family_carries_the_alerts_thresholds(render_stack: RenderStack, stack: str) -> None:
    found = bounds_of(_rules(render_stack, stack))
    assert len(found) >= 60  # every hand-written alert comparing with a number
    problems, pairs = [], set()
    for uid, model in _models(render_stack, stack).items():
        for panel in _panels(model):
            problems += [f"{uid}: {p}" for p in panel_problems(panel, found, SERIES)]
            exprs = [grafana_to_promql(t["expr"]) for t in panel.get("targets", []) if t.get("datasource", {}).get("type") == "prometheus"]
            pairs |= {(uid, panel["title"], b.alert) for b in found for e in exprs if applies(b, e, SERIES) or reads(b, e, SERIES)}
    assert problems == []
    # The check is not vacuous: it covers the issue's examples and most alerts.
    assert {("qmtl-seamless-sla", "SLA deadline p99 (total)", "SeamlessSla99thDegraded"),
            ("copilot-service-metrics", "Error rate by service", "CopilotErrorRateHigh"),
            ("copilot-resource-usage", "Memory against limit", "MemoryExhaustion"),
            ("qmtl-dagmanager-gateway", "Cross-context cache hits (until reset)", "CrossContextCacheHit")} <= pairs
    assert len({alert for _, _, alert in pairs}) >= 35, sorted({alert for _, _, alert in pairs})


def test_the_issues_examples_read_the_alerts_numbers(render_stack: RenderStack) -> None:
    models = _models(render_stack, "prod")
    # SeamlessSla99thDegraded (warning: yellow) counts the requests above 180 s, the bucket bound below 80% of the
    # 240 s budget: more than 1% above 180 s is a p99 above 180 s. A Grafana step colours values >= its value, so the
    # next float after 180 (not the ratio 0.01: seconds on a panel in seconds).
    for title in ("SLA deadline p99 (total)", "SLA deadline p99 by phase"):
        steps = _panel(models["qmtl-seamless-sla"], title)["fieldConfig"]["defaults"]["thresholds"]["steps"]
        assert steps == [{"color": "green", "value": None}, {"color": "yellow", "value": math.nextafter(180.0, math.inf)}], title
    assert "above 180s, the bucket bound it measures: more than 1% of requests slower than 180s" in \
        _panel(models["qmtl-seamless-sla"], "SLA deadline p99 (total)")["description"]
    # CopilotLatencyHigh: chunking and reporting at the bound they measure (2.5 s, 0.5 s), the others at their targets.
    targets = {"ingestion": 0.5, "parsing": 5.0, "chunking": 2.5, "embedding": 10.0, "summarization": 30.0, "reporting": 0.5}
    for uid, title in (("copilot-service-metrics", "Latency p95 by service"), ("copilot-document-processing", "Processing duration p95 by stage")):
        overrides = _panel(models[uid], title)["fieldConfig"]["overrides"]
        shown = {o["matcher"]["options"]: o["properties"][0]["value"]["steps"] for o in overrides}
        assert shown == {s: [{"color": "green", "value": None}, {"color": "yellow", "value": math.nextafter(v, math.inf)}]
                         for s, v in targets.items() if s in shown} and len(shown) >= 5, (title, shown)
    for service, value in targets.items():
        stat = _panel(models["copilot-service-metrics"], f"{service} p95")["fieldConfig"]["defaults"]["thresholds"]["steps"]
        assert [s["value"] for s in stat] == [None, math.nextafter(value, math.inf)], service
    overrides = _panel(models["copilot-service-metrics"], "Error rate by service")["fieldConfig"]["overrides"]
    by_name = {o["matcher"]["options"]: o["properties"][0]["value"]["steps"][1]["value"] for o in overrides}
    assert by_name["ingestion"] == math.nextafter(0.01, 1) and by_name["parsing"] == math.nextafter(0.05, 1)
    memory = _panel(models["copilot-resource-usage"], "Memory against limit")["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [s["value"] for s in memory] == [None, math.nextafter(0.9, 1)]


def _with_steps(panel: dict[str, Any], levels: list[tuple[float, str]]) -> dict[str, Any]:
    changed = copy.deepcopy(panel)
    changed["fieldConfig"]["defaults"]["thresholds"] = {"mode": "absolute", "steps": [{"color": "green", "value": None},
                                                                                     *({"color": c, "value": v} for v, c in levels)]}
    changed["fieldConfig"]["overrides"] = []
    return changed


@pytest.mark.parametrize(
    ("uid", "title", "levels", "message"),
    [
        # The hand-typed numbers the issue found (today's dashboards before this change).
        ("qmtl-seamless-sla", "SLA deadline p99 (total)", [(240.0, "red")], "SeamlessSla99thDegraded"),
        ("copilot-resource-usage", "Memory against limit", [(0.8, "yellow"), (0.95, "red")], "MemoryExhaustion"),
        ("copilot-service-metrics", "Error rate by service", [(0.05, "red")], "has no threshold at > 0.01"),
        ("copilot-document-processing", "Failure rate by stage", [(0.05, "red")], "'service': 'ingestion'"),
        ("copilot-queue-status", "Oldest message age", [], "has no threshold at > 1800"),
        ("dvt-operations", "Projection lag (events)", [(100.0, "red")], "give ('green', [(100.00000000000001, 'yellow')])"),
    ],
)
def test_a_hand_typed_threshold_fails_the_drift_check(render_stack: RenderStack, uid: str, title: str, levels: list[tuple[float, str]],
                                                       message: str) -> None:
    found = bounds_of(_rules(render_stack, "prod"))
    panel = _panel(_models(render_stack, "prod")[uid], title)
    assert panel_problems(panel, found, SERIES) == []
    problems = panel_problems(_with_steps(panel, levels), found, SERIES)
    assert any(message in p for p in problems), problems


def _moved(rules: list[dict[str, Any]], alert: str, old: str, new: str, **labels: str) -> list[dict[str, Any]]:
    """The rule files with ``old`` replaced by ``new`` in the expression of ``alert``'s rules carrying ``labels``."""
    moved = copy.deepcopy(rules)
    edited = 0
    for spec in moved:
        for rule in (r for g in spec["groups"] for r in g["rules"] if r.get("alert") == alert):
            if all(rule["labels"].get(k) == v for k, v in labels.items()) and old in rule["expr"]:
                rule["expr"], edited = rule["expr"].replace(old, new), edited + 1
    assert edited == 1, (alert, labels, old)
    return moved


@pytest.mark.parametrize(
    ("uid", "title", "alert", "labels", "old", "new", "message"),
    [
        # The bucket the alert measures moves (180 s -> 240 s): the panel's step must follow, in seconds.
        ("qmtl-seamless-sla", "SLA deadline p99 (total)", "SeamlessSla99thDegraded", {}, 'le="180.0"', 'le="240.0"',
         "SeamlessSla99thDegraded', '>', 240.0"),
        ("copilot-service-metrics", "chunking p95", "CopilotLatencyHigh", {"service": "chunking"}, 'le="2.5"', 'le="5.0"',
         "CopilotLatencyHigh', '>', 5.0"),
        ("copilot-service-metrics", "Latency p95 by service", "CopilotLatencyHigh", {"service": "reporting"}, 'le="0.5"', 'le="1.0"',
         "has no threshold at > 1"),
        # The share moves (1% -> 5%): the alert now watches the p95, and a p99 panel stepped at 180 s is another quantity.
        ("qmtl-seamless-sla", "SLA deadline p99 (total)", "SeamlessSla99thDegraded", {}, "> 0.01", "> 0.05",
         "shows the 0.99-quantile of ['seamless_sla_deadline_seconds_bucket'] with thresholds, but SeamlessSla99thDegraded"),
        # A quantile alert's number (no bucket-ratio form) moves as before.
        ("copilot-service-metrics", "parsing p95", "CopilotLatencyHigh", {"service": "parsing"}, "> 5", "> 10",
         "CopilotLatencyHigh', '>', 10.0"),
    ],
)
def test_a_drifting_rule_fails_the_drift_check(render_stack: RenderStack, uid: str, title: str, alert: str, labels: dict[str, str],
                                               old: str, new: str, message: str) -> None:
    """The other side: the rule's number moves, the dashboards built before it do not."""
    rules = _rules(render_stack, "prod")
    panel = _panel(_models(render_stack, "prod")[uid], title)
    assert panel_problems(panel, bounds_of(rules), SERIES) == []
    problems = panel_problems(panel, bounds_of(_moved(rules, alert, old, new, **labels)), SERIES)
    assert message in " ".join(problems), problems


def test_the_bucket_ratio_form_reads_as_its_quantile_or_fails_naming_the_form() -> None:
    ratio = ('1 - (sum by (phase) (rate(seamless_sla_deadline_seconds_bucket{phase="total", le="180.0"}[5m]))'
             ' / sum by (phase) (rate(seamless_sla_deadline_seconds_bucket{phase="total", le="+Inf"}[5m])))')
    quantile, bound, q = bucket_ratio(ratio, ">", 0.01) or ("", 0.0, 0.0)
    assert (bound, q) == (180.0, 0.99)
    assert signature(quantile) == signature(grafana_to_promql(
        'histogram_quantile(0.99, sum by (le, phase) (rate(seamless_sla_deadline_seconds_bucket{phase="total"}[$__rate_interval])))'))
    assert bucket_ratio("histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m])))", ">", 180.0) is None
    assert bucket_ratio("sum(rate(x_total[5m]))", ">", 0.01) is None
    for bad in (ratio.replace('le="+Inf"', 'le="240.0"'), ratio.replace("[5m])) /", "[15m])) /"), ratio.replace("1 - (", "2 - (")):
        with pytest.raises(MirrorError, match=r"no panel can show as a quantile; accepted: 1 - sum"):
            bucket_ratio(bad, ">", 0.01)
    with pytest.raises(MirrorError, match="no panel can show"):
        bucket_ratio(ratio, ">=", 0.01)  # at a tie the quantile is at B, not above: only > is exact
    # A quantile in the +Inf bucket reads the highest finite bound, never above it: that bound cannot be B.
    with pytest.raises(MirrorError, match=r"le=600 of seamless_sla_deadline_seconds_bucket must be a bucket bound below its highest 600"):
        bucket_ratio(ratio.replace("180.0", "600.0"), ">", 0.01)
    with pytest.raises(MirrorError, match=r"le=200 .* must be a bucket bound"):
        bucket_ratio(ratio.replace("180.0", "200.0"), ">", 0.01)


def test_comparisons_are_read_with_their_arithmetic_and_direction() -> None:
    assert comparison('histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m]))) > 0.8 * 240')[1:] == (">", 192.0)  # type: ignore[index]
    assert comparison("5 < sum(rate(x[5m]))")[1:] == (">", 5.0)  # type: ignore[index]
    assert comparison("sum(rate(x[5m])) * 60 < 0.6")[1:] == ("<", 0.6)  # type: ignore[index]
    assert comparison("max(a) > on (t) max(b)") is None  # a series, not a number
    assert comparison("x > 0 and y") is None
    assert comparison("x == 0") is None
    low = Bound("A", {"severity": "error"}, "x", "<", 1.0)
    assert steps_of([low]).model()["steps"] == [{"color": "orange", "value": None}, {"color": "green", "value": 1.0}]
    high = Bound("B", {"severity": "critical"}, "x", ">", 0.0)
    assert steps_of([high]).model()["steps"][1] == {"color": "red", "value": math.nextafter(0.0, 1)}
    with pytest.raises(MirrorError, match="both directions"):
        steps_of([low, high])


def test_a_panel_naming_an_alert_without_a_constant_comparison_fails_with_what_exists(render_stack: RenderStack) -> None:
    ctx = context(render_stack("dev").settings)
    with pytest.raises(MirrorError, match=r"'QueueLagHigh'.*accepted: an alert of rules/\*\.yaml of the form"):
        ctx.alert_steps("QueueLagHigh")
    with pytest.raises(MirrorError, match="compare with different numbers"):
        ctx.alert_steps("CopilotLatencyHigh")


# ---- dashboards the alerts send people to --------------------------------------------------------------------------


def _alerts(render_stack: RenderStack, stack: str) -> Iterator[dict[str, Any]]:
    for spec in _rules(render_stack, stack):
        for group in spec["groups"]:
            yield from (r for r in group["rules"] if "alert" in r)


def _metrics(expr: str) -> set[str]:
    return set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*(?=\s*[{\[)])", expr)) - {"sum", "max", "min", "rate", "increase", "by", "on"}


@pytest.mark.parametrize("stack", STACKS)
def test_every_dashboard_an_alert_links_exists_and_shows_what_it_is_sent_for(render_stack: RenderStack, stack: str) -> None:
    models = _models(render_stack, stack)
    missing = []
    for rule in _alerts(render_stack, stack):
        uid = rule["annotations"]["dashboard_url"].rsplit("/d/", 1)[1]
        assert uid in models, (rule["alert"], uid)
        model = models[uid]
        texts = [t.get("expr", "") for p in _panels(model) for t in p.get("targets", [])]
        links = {link["title"] for p in _panels(model) for link in p.get("links", [])}
        name = rule["labels"].get("slo")
        if name is not None:
            # An SLO alert: its SLO is on the page by name (not only behind a variable).
            shown = any(f'slo="{name}"' in t for t in texts)
        else:
            shown = f"Runbook: {rule['alert']}" in links or any(m in t for m in _metrics(rule["expr"]) - {"up"} for t in texts)
        if not shown:
            missing.append((rule["alert"], rule["labels"].get("service"), uid))
    assert missing == [], "\n".join(map(str, missing))


def test_the_slo_dashboard_shows_every_slo_of_the_specs(render_stack: RenderStack) -> None:
    model = _models(render_stack, "prod")["copilot-slo"]
    texts = " ".join(t.get("expr", "") for p in _panels(model) for t in p.get("targets", []))
    names = [s.name for path in slo.spec_files() for s in slo.load_slos(path)]
    assert {n.split("-")[0] for n in names} >= {"dvt", "seamless", "copilot"}
    assert [n for n in names if f'slo="{n}"' not in texts] == []
    variables = {v["name"]: v for v in model["templating"]["list"]}
    assert "copilot" not in variables["slo"]["query"] and "copilot" not in variables["service"]["query"]
    # Each SLO's gauge links the runbook of its burn-rate alert.
    links = {link["title"] for p in _panels(model) for link in p.get("links", [])}
    assert {f"Runbook: {s.alert}" for path in slo.spec_files() for s in slo.load_slos(path)} <= links


# ---- a panel that mirrors an alert aggregates as the alert does (issue 23 review) ----------------------------------

def _with_expr(panel: dict[str, Any], expr: str, levels: list[tuple[float, str]] | None = None) -> dict[str, Any]:
    changed = copy.deepcopy(panel)
    changed["targets"][0]["expr"] = expr
    if levels is not None:
        changed = _with_steps(changed, levels)
    return changed


_WS = 'container_memory_working_set_bytes{container=~"$service", container!="", container!="POD", namespace=~"$namespace"}'
_LIMITS = ('kube_pod_container_resource_limits{resource="memory", container=~"$service", container!="", container!="POD", '
           'namespace=~"$namespace"}')


@pytest.mark.parametrize(
    ("uid", "title", "old", "alert"),
    [
        # The panels before this change: summed where the alert takes the max per pod, or over all plugin types /
        # worlds where the alert compares each.
        ("copilot-resource-usage", "Memory against limit",
         f"sum by (container) ({_WS}) / sum by (container) ({_LIMITS} and on (namespace, pod, container) {_WS})", "MemoryExhaustion"),
        ("dvt-operations", "Plugin permission denials",
         'sum(rate(dvt_plugin_invocations_total{status="permission_denied"}[5m])) / sum(rate(dvt_plugin_invocations_total[5m]))',
         "PluginRejectRate"),
        ("qmtl-dagmanager-gateway", "Apply failure rate",
         'sum(rate(instance_world:world_apply_failures:sum{world_id=~"$world_id"}[$__rate_interval]))'
         ' / sum(rate(instance_world:world_apply_runs:sum{world_id=~"$world_id"}[$__rate_interval]))', "WorldApplyFailureRateHigh"),
        ("qmtl-dagmanager-gateway", "Freeze ACK latency p95",
         'histogram_quantile(0.95, sum by (le) (rate(instance_world_phase:controlbus_apply_ack_latency_ms_bucket:sum{phase="freeze"}'
         '[$__rate_interval])))', "ControlBusApplyAckLatencyHigh"),
    ],
)
def test_a_panel_aggregating_otherwise_than_its_alert_fails_the_drift_check(render_stack: RenderStack, uid: str, title: str, old: str,
                                                                            alert: str) -> None:
    found = bounds_of(_rules(render_stack, "prod"))
    panel = _panel(_models(render_stack, "prod")[uid], title)
    assert panel_problems(panel, found, SERIES) == []
    problems = panel_problems(_with_expr(panel, old), found, SERIES)
    assert any("aggregates" in p and f"but {alert} compares" in p for p in problems), problems


def test_a_breakdown_carries_no_line_of_the_alert_it_splits(render_stack: RenderStack) -> None:
    """Errors by plan under an overall ratio: one plan's share is not the alert's number."""
    found = bounds_of(_rules(render_stack, "prod"))
    panel = _panel(_models(render_stack, "prod")["dvt-operations"], "Error rate by plan")
    assert panel_problems(panel, found, SERIES) == []
    problems = panel_problems(_with_steps(panel, [(math.nextafter(0.05, 1), "yellow")]), found, SERIES)
    assert any("aggregates ['sum by (planId)', 'sum by (planId)'] but HighErrorRate compares ['sum', 'sum']" in p for p in problems), problems


def test_memory_against_limit_reads_what_memory_exhaustion_compares(render_stack: RenderStack, tmp_path: Path) -> None:
    """Two pods of one container at 95% and 50% of their limits: MemoryExhaustion fires for the first; the summed
    panel read 0.725 under its 0.9 line, the panel now shows each pod, one bar above the line."""
    (rule_file,) = [path for path, text in render_stack("prod").files.items() if path.startswith("rules/") and "alert: MemoryExhaustion\n" in text]
    out = tmp_path / "copilot.yaml"
    out.write_text(yaml.safe_dump(yaml.safe_load(render_stack("prod").files[rule_file])))
    series = []
    for pod, used in (("parsing-a", 0.95e9), ("parsing-b", 0.5e9)):
        series.append({"series": f'container_memory_working_set_bytes{{namespace="copilot", pod="{pod}", container="parsing", job="kubelet"}}',
                       "values": f"{used:g}x20"})
        series.append({"series": f'kube_pod_container_resource_limits{{namespace="copilot", pod="{pod}", container="parsing", '
                                 'resource="memory", unit="byte", job="kube-state-metrics"}', "values": "1e9x20"})
    values = {"service": "(parsing)", "namespace": "(copilot)"}
    panel = _panel(_models(render_stack, "prod")["copilot-resource-usage"], "Memory against limit")
    new = interpolate(panel["targets"][0]["expr"], values)
    old = interpolate(f"sum by (container) ({_WS}) / sum by (container) ({_LIMITS} and on (namespace, pod, container) {_WS})", values)
    (result,) = evaluate([{"rule_files": [str(out)], "interval": "1m", "input_series": series, "eval_times": ["10m"],
                           "queries": [{"expr": e, "eval_time": "10m"} for e in (old, new)]}])
    assert [(a.name, a.labels["pod"]) for a in result.firing("10m") if a.name == "MemoryExhaustion"] == [("MemoryExhaustion", "parsing-a")]
    line = float(panel["fieldConfig"]["defaults"]["thresholds"]["steps"][1]["value"])
    (before,), after = [v for _, v in result.queries[0].samples], sorted(v for _, v in result.queries[1].samples)
    assert round(before, 3) == 0.725 < line
    assert after == [0.5, 0.95] and after[-1] > line


def test_the_failed_queue_panels_read_the_queues_and_window_of_failed_queue_growing(render_stack: RenderStack, tmp_path: Path) -> None:
    """One source: the panels read the alert's queue matcher and window off its rule. A dead-letter queue grows by 2 a
    minute; a queue whose name only contains "failed" grows too. The alert fires for the queues the panels show, and the
    growth stat is the alert's value (the panels read 1h and ".+[.]failed" while the alert read 30m and ".*failed.*")."""
    (rule_file,) = [p for p, t in render_stack("prod").files.items() if p.startswith("rules/") and "alert: FailedQueueGrowing\n" in t]
    out = tmp_path / "copilot.yaml"
    out.write_text(yaml.safe_dump(yaml.safe_load(render_stack("prod").files[rule_file])))
    model = _models(render_stack, "prod")["copilot-failed-queues"]
    (growth,) = [p for p in _panels(model) if str(p.get("title", "")).startswith("Failed queue growth")]
    by_queue = _panel(model, "Failed messages by queue")
    series = [{"series": f'rabbitmq_queue_messages_ready{{queue="{q}", vhost="/"}}', "values": "0+2x60"} for q in ("parsing.failed", "failedjobs")]
    queries = [growth["targets"][0]["expr"], by_queue["targets"][0]["expr"]]
    (result,) = evaluate([{"rule_files": [str(out)], "interval": "1m", "input_series": series, "eval_times": ["45m"],
                           "queries": [{"expr": e, "eval_time": "45m"} for e in queries]}])
    fired = {a.labels["queue"]: a.value for a in result.firing("45m") if a.name == "FailedQueueGrowing"}
    shown = {labels["queue"] for labels, _ in result.queries[1].samples}
    assert set(fired) == shown == {"parsing.failed"}, (fired, shown)
    ((_, value),) = result.queries[0].samples
    assert value == fired["parsing.failed"] and growth["title"] == "Failed queue growth (30m)"


def test_a_panel_carrying_an_alerts_line_over_another_window_fails_the_drift_check(render_stack: RenderStack) -> None:
    """Review round 2: "Errors (24h)" carried HighErrorRate's 1%/5% lines over a 24h share of failed runs, while the
    alerts compare 10 minutes (24 hours of healthy runs then 30 minutes at 50% read 1%, under the line, as both fire).
    The stat with the alerts' lines now reads their own 10-minute ratio; the 24h figure carries none."""
    found = bounds_of(_rules(render_stack, "prod"))
    model = _models(render_stack, "prod")["dvt-platform-health"]
    shown = _panel(model, "Error rate (10m)")
    assert panel_problems(shown, found, SERIES) == []
    assert "thresholds" not in _panel(model, "Errors (24h)")["fieldConfig"]["defaults"]
    old = copy.deepcopy(shown)
    old["targets"][0]["expr"] = ('sum(increase(dvt_runs_completed_total{status="failed"}[24h]))'
                                 " / sum(increase(dvt_runs_completed_total[24h]))")
    problems = panel_problems(old, found, SERIES)
    assert any("reads its series over ['24h'], where the alert reads ['10m']" in p for p in problems), problems
