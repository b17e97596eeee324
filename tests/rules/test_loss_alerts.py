"""Loss alerts fire on a one-off loss (issue 22, review F1), on the real promtool.

A lost batch moves a loss counter once. ``rate(x[5m]) > 0`` held for a ``for:`` of 10 or 15 minutes is true
for 5 minutes of it, so it never fired. For every loss alert and every counter it reads, a case here moves the
counter once, on a child created at zero and on a child born holding its loss (most of these children are
created by their first increment, catalog ``preinitialised``), and asks promtool whether the alert is firing
just after the loss, still near the end of the window, and no longer once the loss is older than it.
Series labels come from the alert's own selectors (``guards.source_selectors``), so a new counter in a loss
alert is covered without a new case.
"""

from __future__ import annotations

import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

from components.rules import guards
from components.rules.all_rules import load_all_rules
from components.rules.catalog import load_catalog
from components.rules.windows import _windows
from tests.support.tools import tool
from tooling.rules.build import TEST_CONTEXT, build

# Alerts that count lost data: each must fire for a single loss.
LOSS_ALERTS = {
    "AlloyTraceExportFailing", "AlloyTraceReceiverRefusing", "AlloyTraceRequestsRefused", "AlloyLogsDropped",
    "AlloyRemoteWriteFailing", "AlloyTracesDroppedUndecided", "AlloyServiceGraphSpansDropped",
    "LokiIngestionErrors", "TempoIngestionErrors",
}
# stack-delivery alerts on a state, not on a loss counter (the overflow series exists while it lasts).
STATE_ALERTS = {"SpanMetricsSeriesLimited"}
LOSS_AT_MIN = 10  # the one step of every case, in minutes
WINDOW_MIN = 15  # the loss window written in the rules ([15m])


@pytest.fixture(scope="module")
def specs() -> dict[str, dict[str, Any]]:
    return load_all_rules(TEST_CONTEXT)


def _loss_rules(specs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for _, r in guards.alert_rules(specs) if r["alert"] in LOSS_ALERTS}


def test_every_stack_delivery_alert_is_classified(specs) -> None:
    """A new alert in stack-delivery must be named a loss alert (and get the cases below) or a state alert."""
    group = [r["alert"] for g in specs["observability-stack"]["groups"] if g["name"] == "stack-delivery"
             for r in g["rules"] if "alert" in r]
    assert set(group) - LOSS_ALERTS - STATE_ALERTS == set()
    assert set(_loss_rules(specs)) == LOSS_ALERTS


def test_loss_alerts_share_one_window_and_hold_no_for(specs) -> None:
    """The window the cases below assume, the one the rules select over and the one their text names agree."""
    for alert, rule in _loss_rules(specs).items():
        windows = set(_windows(promql_parser.parse(str(rule["expr"]))))
        assert windows == {Decimal(WINDOW_MIN * 60)}, (alert, windows)
        assert "for" not in rule, f"{alert}: a for: delays (or, for a one-off loss, suppresses) the alert"
        assert f"in the last {WINDOW_MIN} minutes" in rule["annotations"]["description"], alert


def _firing(alert: str, minute: int, firing: bool) -> dict[str, Any]:
    expr = f'count(ALERTS{{alertname="{alert}", alertstate="firing"}}) > 0'
    return {"expr": expr, "eval_time": f"{minute}m", "exp_samples": [{"labels": "{}", "value": 1}] if firing else []}


def _cases(alert: str, rule: dict[str, Any]) -> list[dict[str, Any]]:
    catalog = load_catalog()
    cases: list[dict[str, Any]] = []
    seen: set[str] = set()
    for sel in guards.source_selectors(str(rule["expr"]), {}, catalog):
        fam = guards.family(catalog, sel.name)
        assert fam is not None
        labels = {**{k: guards._label_value(k, v, fam) for k, v in sel.regex.items()}, **sel.equal}
        labels.setdefault("job", guards.source_job(sel, catalog) or guards.DEFAULT_JOB)
        series = guards.series_text(sel.name, labels)
        if series in seen:  # the same selector read again (`unless ... offset`, increase)
            continue
        seen.add(series)
        for how, values in (("a child at zero moves once", f"0x{LOSS_AT_MIN - 1} 1x30"),
                            ("a child born holding its one loss", f"_x{LOSS_AT_MIN} 1x30")):
            cases.append({
                "name": f"{alert}: {series}: {how}",
                "interval": "1m",
                "input_series": [{"series": series, "values": values}],
                "promql_expr_test": [
                    _firing(alert, LOSS_AT_MIN - 1, False),
                    _firing(alert, LOSS_AT_MIN + 1, True),
                    _firing(alert, LOSS_AT_MIN + WINDOW_MIN - 2, True),
                    _firing(alert, LOSS_AT_MIN + WINDOW_MIN + 1, False),
                ],
            })
    return cases


def test_a_single_loss_fires_every_loss_alert_until_it_leaves_the_window(specs, tmp_path: Path) -> None:
    promtool = tool("promtool")
    rules, _ = build(tmp_path, for_tests=True)
    rule_file = next(p for p in rules if p.name == "observability-stack.yaml")
    cases = [c for alert, rule in sorted(_loss_rules(specs).items()) for c in _cases(alert, rule)]
    assert len(cases) >= 2 * len(LOSS_ALERTS)
    doc = {"rule_files": [str(rule_file)], "evaluation_interval": "1m", "tests": cases}
    test_file = tmp_path / "loss.test.yaml"
    test_file.write_text(yaml.safe_dump(doc, sort_keys=False))
    result = subprocess.run([promtool, "test", "rules", str(test_file)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
