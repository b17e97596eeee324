"""Counters born non-zero count on the dashboards as in the alerts, shown on Prometheus 3.5.0's own engine (rule-eval).

A labelled counter child is created by its first increment: ``increase()`` never sees it. The panels' queries, with
Grafana's ``$__range`` as the Prometheus data source sends it (seconds), run next to the alert they mirror.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.rules.catalog import load_catalog
from components.wiring.endpoints import PROMETHEUS_UID
from dashboards import lint
from dashboards.common import increase_born
from tests.conftest import RenderStack
from tooling.rule_eval import evaluate

RANGE = "3600s"  # Grafana's $__range for a 1-hour dashboard range (Prometheus data source: whole seconds)


def _panel_expr(render_stack: RenderStack, uid: str, title: str) -> str:
    model = json.loads(render_stack("prod").files[f"dashboards/{uid}.json"])
    panels = [p for p in lint._panels(model["panels"]) if p.get("title") == title]
    assert len(panels) == 1, (uid, title)
    return str(panels[0]["targets"][0]["expr"]).replace("$__range", RANGE)


def _rule_file(render_stack: RenderStack, tmp_path: Path, alert: str) -> str:
    """The rendered rule file holding ``alert``, written for rule-eval."""
    for path, text in render_stack("prod").files.items():
        if path.startswith("rules/") and f"alert: {alert}\n" in text:
            out = tmp_path / Path(path).name
            out.write_text(yaml.safe_dump(yaml.safe_load(text)))
            return str(out)
    raise AssertionError(f"no rendered rule file holds {alert}")


UP = {"series": 'up{job="qmtl-sdk", instance="sdk:9000"}', "values": "1x90"}


def _query(case: dict[str, Any], exprs: list[str], at: str) -> list[float]:
    result = evaluate([case | {"queries": [{"expr": e, "eval_time": at} for e in exprs]}])[0]
    return [sum(v for _, v in q.samples) for q in result.queries]


def test_cross_context_hits_show_while_the_alert_fires(render_stack: RenderStack, tmp_path: Path) -> None:
    # A child born at minute 30 holding its first hit, never incremented again.
    hit = 'cross_context_cache_hit_total{job="qmtl-sdk", instance="sdk:9000", node_id="n1", world_id="w1", execution_domain="live", as_of="a", partition="p"}'
    case = {"rule_files": [_rule_file(render_stack, tmp_path, "CrossContextCacheHit")], "interval": "1m",
            "input_series": [UP, {"series": hit, "values": "_x30 1x60"}], "eval_times": ["60m"]}
    old = "sum(increase(cross_context_cache_hit_total[3600s])) or vector(0)"
    new = _panel_expr(render_stack, "qmtl-dagmanager-gateway", "Cross-context cache hits (until reset)")
    table = _panel_expr(render_stack, "qmtl-dagmanager-gateway", "Cross-context cache hits by context")
    result = evaluate([case | {"queries": [{"expr": e, "eval_time": "60m"} for e in (old, new, table)]}])[0]
    assert [a.name for a in result.firing("60m")] == ["CrossContextCacheHit"]
    assert [sum(v for _, v in q.samples) for q in result.queries] == [0.0, 1.0, 1.0]


def test_range_counts_include_children_born_in_the_range(render_stack: RenderStack, tmp_path: Path) -> None:
    base = 'seamless_conformance_flag_total{job="qmtl-sdk", instance="sdk:9000"'
    case = {"rule_files": [_rule_file(render_stack, tmp_path, "SeamlessConformanceFlagSpike")], "interval": "1m", "input_series": [
        UP,
        {"series": base + ', flag_type="gap"}', "values": "0+1x90"},  # an old child: +60 in the hour
        {"series": base + ', flag_type="dup"}', "values": "_x40 7x50"},  # born at minute 40 holding 7
    ], "eval_times": ["90m"]}
    old = "sum(increase(seamless_conformance_flag_total[3600s]))"
    new = _panel_expr(render_stack, "qmtl-conformance-quality", "Flags in range")
    old_value, new_value = _query(case, [old, new], "90m")
    assert round(old_value) == 60 and round(new_value) == 67


def test_a_target_restart_is_not_a_birth(render_stack: RenderStack, tmp_path: Path) -> None:
    """Children of a target that was down ``window`` ago count by increase(), not with their whole value."""
    series = 'lost_requests_total{job="qmtl-gateway", instance="gw:9000"}'
    # The target is down at minute 20 (an hour before the evaluation) and comes back at minute 25 exposing 100,
    # lost before the range began: no child was born in the range.
    up = {"series": 'up{job="qmtl-gateway", instance="gw:9000"}', "values": "1x19 0x5 1x65"}
    case: dict[str, Any] = {"rule_files": [_rule_file(render_stack, tmp_path, "LostRequests")], "interval": "1m",
            "input_series": [up, {"series": series, "values": "_x25 100+0x65"}], "eval_times": ["80m"]}
    born = f"sum({increase_born('lost_requests_total', '3600s')})"
    without_guard = "sum((lost_requests_total unless lost_requests_total offset 3600s) or increase(lost_requests_total[3600s]))"
    assert _query(case, [born, without_guard], "80m") == [0.0, 100.0]
    case["input_series"] = [{"series": 'up{job="qmtl-gateway", instance="gw:9000"}', "values": "1x90"},
                            {"series": series, "values": "_x50 2+0x40"}]
    assert _query(case, [born], "80m") == [2.0]  # born at minute 50 holding 2, target up all along: 2 lost


def test_the_lint_refuses_a_range_count_of_a_born_non_zero_family() -> None:
    catalog = load_catalog()
    bad = lint.check_promql("sum(increase(seamless_conformance_flag_total[$__range]))", catalog)
    assert any("misses the children born holding their first count" in p and "increase_born" in p for p in bad), bad
    assert lint.check_promql(f"sum({increase_born('seamless_conformance_flag_total', '$__range')})", catalog) == []
    # Per-step graphs ($__rate_interval) and families whose children are created at zero are not range counts of births.
    assert lint.check_promql("sum(increase(seamless_conformance_flag_total[$__rate_interval]))", catalog) == []
    assert lint.check_promql("sum(increase(prometheus_rule_evaluation_failures_total[$__range]))", catalog) == []


def test_the_lint_refuses_an_unused_variable(render_stack: RenderStack) -> None:
    model = json.loads(render_stack("prod").files["dashboards/dvt-operations.json"])
    assert [str(p) for p in lint.lint_dashboard(model, recorded={"slo:error_budget_remaining:ratio"}) if "variable" in str(p)] == []
    model["templating"]["list"].append({"name": "environment", "type": "query", "datasource": {"uid": PROMETHEUS_UID},
                                        "query": "label_values(dvt_runs_in_flight, environmentId)"})
    problems = [str(p) for p in lint.lint_dashboard(model, recorded={"slo:error_budget_remaining:ratio"})]
    assert "dvt-operations: variable $environment: is defined but no panel query, title, link or other variable uses it; " \
           "accepted: use it to filter the panels it is offered for, or remove it" in problems


# ---- graphs of counters the alerts count births of (issue 23 review) -------------------------------------------------

STEP = "60s"  # Grafana's $__rate_interval as Prometheus receives it (any per-step window)
BORN_GRAPHS = [
    # (dashboard, panel, target, alert, a child born at minute 20 holding `held`, the query before the fix, the value the
    # graph reads at minute 20: the count, or the per-second rate over the alert's window (15m: held / 900))
    ("dvt-operations", "StateStore write errors", 0, "StateStoreWriteFailure",
     'dvt_statestore_write_errors_total{job="dvt-engine", instance="d:1", event_type="StepCompleted"}', 40,
     "sum by (event_type) (rate(dvt_statestore_write_errors_total[$__rate_interval]))", 40),
    ("qmtl-dagmanager-gateway", "Node failures", 0, "NodeFailures",
     'node_process_failure_total{job="qmtl-sdk", instance="s:1", node_id="n1"}', 3,
     'sum by (node_id) (rate(node_process_failure_total{node_id=~".*"}[$__rate_interval]))', 3),
    ("qmtl-conformance-quality", "Flags by type", 0, "SeamlessConformanceFlagSpike",
     'seamless_conformance_flag_total{job="qmtl-seamless", instance="s:1", flag_type="schema_drift"}', 80,
     "sum by (flag_type) (increase(seamless_conformance_flag_total[$__rate_interval]))", 80),
    ("platform-stack-health", "Loki lines received", 1, "LokiIngestionErrors",
     'loki_discarded_samples_total{job="loki", instance="l:1", reason="rate_limited", tenant="fake"}', 90,
     "sum by (reason) (rate(loki_discarded_samples_total[$__rate_interval]))", 0.1),
    ("platform-stack-health", "Tempo spans", 1, "TempoIngestionErrors",
     'tempo_receiver_refused_spans{job="tempo", instance="t:1", receiver="otlp/otlp_receiver", transport="grpc"}', 90,
     "sum(rate(tempo_receiver_refused_spans[$__rate_interval]))", 0.1),
    ("platform-stack-health", "Tempo spans", 2, "TempoIngestionErrors",
     'tempo_discarded_spans_total{job="tempo", instance="t:1", reason="trace_too_large", tenant="single-tenant"}', 90,
     "sum by (reason) (rate(tempo_discarded_spans_total[$__rate_interval]))", 0.1),
]


def _target(render_stack: RenderStack, uid: str, title: str, index: int) -> str:
    model = json.loads(render_stack("prod").files[f"dashboards/{uid}.json"])
    (panel,) = [p for p in lint._panels(model["panels"]) if p.get("title") == title]
    return str(panel["targets"][index]["expr"])


def _grafana(expr: str) -> str:
    return expr.replace("$__rate_interval", STEP).replace('=~"$node_id"', '=~".*"')


@pytest.mark.parametrize(("uid", "title", "index", "alert", "series", "held", "old", "shown"), BORN_GRAPHS, ids=[f"{g[0]}:{g[1]}:{g[2]}" for g in BORN_GRAPHS])
def test_graphs_of_counters_the_alerts_count_births_of_show_a_born_child(render_stack: RenderStack, tmp_path: Path, uid: str, title: str,
                                                                       index: int, alert: str, series: str, held: int, old: str,
                                                                       shown: float) -> None:
    """A child born holding ``held`` and never incremented: the alert fires, the graph reads it (the old query read 0)."""
    job, instance = (dict(part.split("=") for part in series.split("{")[1].rstrip("}").replace('"', "").split(", "))[k] for k in ("job", "instance"))
    case = {"rule_files": [_rule_file(render_stack, tmp_path, alert)], "interval": "1m", "input_series": [
        {"series": f'up{{job="{job}", instance="{instance}"}}', "values": "1x40"},
        {"series": series, "values": f"_x20 {held}x20"}], "eval_times": ["23m"]}
    new = _grafana(_target(render_stack, uid, title, index))
    result = evaluate([case | {"queries": [{"expr": e, "eval_time": "20m"} for e in (_grafana(old), new)]}])[0]
    assert alert in [a.name for a in result.firing("23m")]
    assert [round(sum(v for _, v in q.samples), 9) for q in result.queries] == [0.0, shown]


def test_the_lint_refuses_rates_of_families_the_alerts_count_births_of(render_stack: RenderStack) -> None:
    catalog = load_catalog()
    files = render_stack("prod").files
    counted = lint.born_counted([yaml.safe_load(t) for p, t in sorted(files.items()) if p.startswith("rules/")])
    # Alerts counting up read these in the born form; "no progress" (DvtWorkflowStuck) and ratios do not count.
    assert {"dvt_statestore_write_errors_total", "node_process_failure_total", "seamless_conformance_flag_total",
            "loki_discarded_samples_total", "tempo_receiver_refused_spans"} <= counted
    assert "dvt_runs_completed_total" not in counted and "copilot_parsing_failures_total" not in counted
    for func in ("rate", "irate", "increase"):
        bad = lint.check_promql(f"sum by (event_type) ({func}(dvt_statestore_write_errors_total[$__rate_interval]))", catalog, counted=counted)
        assert any(f"{func}() of dvt_statestore_write_errors_total over 17s misses the children born" in p for p in bad), bad
    assert lint.check_promql(f"sum({increase_born('dvt_statestore_write_errors_total', '5m')})", catalog, counted=counted) == []
    # A rate over a range or fixed window of a counted family is refused too; of a family the alerts read with rate()
    # (a ratio: the first count is missing from both sides) it shows what they compare.
    assert lint.check_promql("sum(rate(node_process_failure_total[5m]))", catalog, counted=counted) != []
    assert lint.check_promql("sum(rate(copilot_parsing_failures_total[15m]))", catalog, counted=counted) == []
