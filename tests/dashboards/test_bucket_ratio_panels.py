"""A quantile panel stepped at an alert's bucket bound turns colour exactly when the alert in bucket-ratio form holds.

Issue 23 item 2 moved three latency alerts whose threshold fell between two buckets to the exact form
``1 - sum(rate(x_bucket{le="B"})) / sum(rate(x_bucket{le="+Inf"})) > 1 - q``. Their panels still show the
interpolated ``histogram_quantile(q, ...)`` (seconds); dashboards/alerts.py steps them at ``B``. Here the rendered
panel queries and the rendered rules run side by side on Prometheus 3.5.0's own engine (tooling/rule_eval.py), on
traffic mixes either side of the line: the panel's value is above ``B`` exactly when the alert's ratio is above
``1 - q``, and the alert fires exactly then.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.rules.catalog import load_catalog, stored_bound
from dashboards import lint
from dashboards.alerts import comparison
from tests.conftest import RenderStack
from tests.dashboards.test_born_non_zero import _rule_file
from tooling.rule_eval import FiringAlert, evaluate

ENVIRONMENT = "prod"
MACROS = {"$__rate_interval": "5m", "$environment": ENVIRONMENT, "$service": ".*"}  # the alerts' window; any service
MINUTES = 40  # constant traffic: past every alert's `for`
AT = "35m"

# (alert, its labels, the histogram's labels, dashboards and panels showing its quantile)
CASES = {
    "seamless": ("SeamlessSla99thDegraded", {}, {"job": "qmtl-seamless", "instance": "s:9000", "phase": "total"},
                 [("qmtl-seamless-sla", "SLA deadline p99 (total)"), ("qmtl-seamless-sla", "SLA deadline p99 by phase")]),
    "chunking": ("CopilotLatencyHigh", {"service": "chunking"},
                 {"job": "copilot-chunking", "instance": "c:9000", "service": "chunking", "environment": ENVIRONMENT},
                 [("copilot-service-metrics", "chunking p95"), ("copilot-service-metrics", "Latency p95 by service"),
                  ("copilot-document-processing", "Processing duration p95 by stage")]),
    "reporting": ("CopilotLatencyHigh", {"service": "reporting"},
                  {"job": "copilot-reporting", "instance": "r:9000", "service": "reporting", "environment": ENVIRONMENT},
                  [("copilot-service-metrics", "reporting p95"), ("copilot-service-metrics", "Latency p95 by service")]),
}

# Observations per minute {seconds: count} and whether the alert must fire. The examples first.
MIXES = [
    ("seamless", {181: 100}, True),  # the issue: all at 181 s fired the 192 s alert; p99 reads 239.4
    ("seamless", {240: 100}, True),  # the seed's validation, requests of exactly the budget
    ("seamless", {180: 100}, False),  # at the bound: p99 reads 179.4, inside (120, 180]
    ("seamless", {100: 98, 200: 2}, True),  # 2% above 180 s
    ("seamless", {100: 199, 200: 1}, False),  # 0.5% above
    ("seamless", {100: 990, 500: 11}, True),  # 1.1% above, far above: p99 in (300, 600]
    # Exactly 1% above, a tie a p99 allows: the engine's rates leave the share a hair above 0.01 (0.01000000000000012)
    # and the p99 a hair above 180 s (180.0000000000008); the panel and the alert round the same way.
    ("seamless", {100: 99, 200: 1}, True),
    ("chunking", {1.1: 100}, False),  # the issue: every request at 1.1 s read 2.425 s
    ("chunking", {2.4: 100}, False),
    ("chunking", {0.3: 90, 3: 10}, True),  # 10% above 2.5 s
    ("chunking", {0.3: 97, 3: 3}, False),  # 3% above
    ("reporting", {0.11: 100}, False),  # the issue: every request at 0.11 s read 480 ms
    ("reporting", {0.3: 94, 0.7: 6}, True),  # 6% above 0.5 s
    ("reporting", {0.3: 96, 0.7: 4}, False),
]


def _rules(render_stack: RenderStack) -> list[dict[str, Any]]:
    return [yaml.safe_load(text) for path, text in sorted(render_stack("prod").files.items()) if path.startswith("rules/")]


def _series(name: str, labels: dict[str, str], per_minute: dict[float, int]) -> list[dict[str, str]]:
    """Cumulative bucket counters (every catalog bound and +Inf, le as Prometheus 3 stores it) of a constant traffic."""
    bounds = (*load_catalog().family(name).buckets, math.inf)
    out = []
    for bound in bounds:
        count = sum(n for seconds, n in per_minute.items() if seconds <= bound)
        text = ", ".join(f'{k}="{v}"' for k, v in {**labels, "le": stored_bound(bound)}.items())
        out.append({"series": f"{name}{{{text}}}", "values": f"0+{count}x{MINUTES}"})
    return out


def _panel(render_stack: RenderStack, uid: str, title: str, service: str | None) -> tuple[str, float]:
    """The rendered panel's query (macros as Prometheus receives them) and the step its series turns colour at."""
    model = json.loads(render_stack("prod").files[f"dashboards/{uid}.json"])
    (panel,) = [p for p in lint._panels(model["panels"]) if p.get("title") == title]
    expr = str(panel["targets"][0]["expr"])
    for macro, value in MACROS.items():
        expr = expr.replace(macro, value)
    config = panel["fieldConfig"]
    thresholds = [p["value"] for o in config.get("overrides", []) if o["matcher"]["options"] == service
                  for p in o["properties"] if p["id"] == "thresholds"] or [config["defaults"]["thresholds"]]
    (steps,) = thresholds
    (step,) = [s["value"] for s in steps["steps"] if s["value"] is not None]
    return expr, float(step)


@pytest.mark.parametrize(("case", "per_minute", "fires"), MIXES, ids=[f"{c}-{m}" for c, m, _ in MIXES])
def test_the_quantile_panel_crosses_the_bound_exactly_when_the_alert_holds(render_stack: RenderStack, tmp_path: Path, case: str,
                                                                          per_minute: dict[float, int], fires: bool) -> None:
    ratio, slow_ratio, firing, panels = _evaluate(render_stack, tmp_path, case, per_minute)
    # The alert's own condition, the alert firing and every panel's colour agree, and on the side expected.
    assert (ratio > slow_ratio) is fires, (ratio, slow_ratio)
    assert bool(firing) is fires, firing
    for uid, title, value, step in panels:
        assert (value >= step) is fires, (uid, title, value, step, ratio)


def _evaluate(render_stack: RenderStack, tmp_path: Path, case: str, per_minute: dict[float, int]
              ) -> tuple[float, float, list[FiringAlert], list[tuple[str, str, float, float]]]:
    """The alert's ratio, the ratio it compares with, its firing alerts, and each panel's (uid, title, value, step)."""
    alert, labels, series_labels, panels = CASES[case]
    # Both sides from the render: the rule as Prometheus loads it, the panels as Grafana sends them.
    (rule,) = [r for spec in _rules(render_stack) for g in spec["groups"] for r in g["rules"]
               if r.get("alert") == alert and all(r["labels"].get(k) == v for k, v in labels.items())]
    found = comparison(rule["expr"])
    assert found is not None and found[1] == ">", rule["expr"]
    ratio_expr, _, slow_ratio = found
    les = [le for le in re.findall(r'le="([^"]+)"', ratio_expr) if le != "+Inf"]
    assert len(les) == 1, f"{alert} {labels} is no longer in bucket-ratio form: {rule['expr']}"
    bound = float(les[0])
    family = next(n for n in load_catalog().series_names() if n.endswith("_bucket") and n in ratio_expr)
    shown = [_panel(render_stack, uid, title, labels.get("service")) for uid, title in panels]
    cases: list[dict[str, Any]] = [{
        "rule_files": [_rule_file(render_stack, tmp_path, alert)], "interval": "1m",
        "input_series": _series(family, series_labels, per_minute), "eval_times": [AT],
        "queries": [{"expr": e, "eval_time": AT} for e in (ratio_expr, *(e for e, _ in shown))],
    }]
    result = evaluate(cases)[0]
    (ratio,), *values = [[v for _, v in q.samples] for q in result.queries]
    firing = [a for a in result.firing(AT, alert) if a.labels.get("service") == rule["labels"].get("service")]
    out = []
    for (uid, title), (_, step), (value,) in zip(panels, shown, values, strict=True):
        # A Grafana step colours values >= its value; the panel's step is the next float after the bound, in seconds.
        assert step == math.nextafter(bound, math.inf), (uid, title, step, bound)
        out.append((uid, title, value, step))
    return ratio, slow_ratio, firing, out
