"""Panels agree with the alerts: the thresholds of a panel that shows an alert's quantity are the alert's (read off the
rendered rule files, not the dashboards' own path to them), and every dashboard an alert links shows what it is sent for."""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from components.rules import slo
from components.rules.catalog import load_catalog
from dashboards.alerts import Bound, MirrorError, applies, bounds_of, comparison, grafana_to_promql, panel_problems, reads, steps_of
from dashboards.common import context
from dashboards.registry import build_dashboards
from tests.conftest import STACKS, RenderStack


def _panels(model: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in model["panels"]:
        yield panel
        yield from panel.get("panels", [])


def _rules(render_stack: RenderStack, stack: str) -> list[dict[str, Any]]:
    files = render_stack(stack).files
    return [yaml.safe_load(text) for path, text in sorted(files.items()) if path.startswith("rules/")]


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
    steps = _panel(models["qmtl-seamless-sla"], "SLA deadline p99 (total)")["fieldConfig"]["defaults"]["thresholds"]["steps"]
    # SeamlessSla99thDegraded: p99 > 0.8 * 240 s; a Grafana step colours values >= its value, so the next float after 192.
    assert steps == [{"color": "green", "value": None}, {"color": "yellow", "value": math.nextafter(192.0, math.inf)}]
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


def test_a_drifting_rule_fails_the_drift_check(render_stack: RenderStack) -> None:
    """The other side: the rule's number moves, the dashboards built before it do not."""
    rules = _rules(render_stack, "prod")
    moved = yaml.safe_load(yaml.safe_dump(rules).replace("> 0.8 * 240", "> 0.75 * 240"))
    panel = _panel(_models(render_stack, "prod")["qmtl-seamless-sla"], "SLA deadline p99 (total)")
    assert panel_problems(panel, bounds_of(rules), SERIES) == []
    assert "SeamlessSla99thDegraded', '>', 180.0" in " ".join(panel_problems(panel, bounds_of(moved), SERIES))


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
