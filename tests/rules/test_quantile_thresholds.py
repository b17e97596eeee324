"""Numbers compared with an interpolated histogram quantile are bucket bounds (issue 23, item 2).

The lint (tooling/rules/quantile_thresholds.py, run by tooling/rules/lint.py) reads both sides: the rule's
comparison and the catalog's buckets of the histogram under the quantile, through recording rules. These
cases feed it rules written the way the stack's are, then the stack's own rule set; the stack's latency alerts
run on Prometheus 3.5.0's rule engine (tools/rule-eval) with traffic just under and past their targets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from components.rules import thresholds
from components.rules.all_rules import load_all_rules
from components.rules.catalog import load_catalog, stored_bound
from tooling.rule_eval import CaseResult, evaluate
from tooling.rules import quantile_thresholds
from tooling.rules.build import TEST_CONTEXT, write_rules
from tooling.rules.lint import lint

CHUNKING = "histogram_quantile(0.95, sum by (le) (rate(copilot_chunking_processing_duration_seconds_bucket[5m])))"
SEAMLESS = 'histogram_quantile(0.99, sum by (le) (rate(seamless_sla_deadline_seconds_bucket{phase="total"}[5m])))'
ACK_SUM = "instance_world_phase:controlbus_apply_ack_latency_ms_bucket:sum"


def _problems(*rules: dict[str, Any]) -> list[str]:
    spec = {"t": {"groups": [{"name": "g", "rules": list(rules)}]}}
    return quantile_thresholds.problems(spec, load_catalog())


def test_a_threshold_between_two_buckets_is_refused_naming_rule_metric_threshold_and_bounds() -> None:
    [problem] = _problems({"alert": "ChunkingSlow", "expr": f"{CHUNKING} > 2"})
    assert problem.startswith("t/g/ChunkingSlow: compares the 0.95-quantile of copilot_chunking_processing_duration_seconds")
    assert "with 2, which is not a bucket bound" in problem
    assert "between the bounds 1 and 2.5" in problem
    # The figure: every request at 1.1 s reads p95 2.425 s.
    assert "every observation just above 1 reads 2.425" in problem and "traffic entirely below 2" in problem


def test_a_bound_passes_whichever_side_and_operator() -> None:
    assert _problems({"alert": "A", "expr": f"{CHUNKING} > 2.5"}, {"alert": "B", "expr": f"1 <= {CHUNKING}"},
                     {"record": "t:x:y", "expr": f"{CHUNKING} > bool 5"}) == []


def test_the_number_may_be_arithmetic_of_literals() -> None:
    [problem] = _problems({"alert": "Approach", "expr": f"{SEAMLESS} > 0.8 * 240"})
    assert "with 192" in problem and "between the bounds 180 and 240" in problem and "reads 239.4" in problem
    assert _problems({"alert": "Approach", "expr": f"{SEAMLESS} > 0.75 * 240"}) == []


def test_a_recorded_quantile_compared_in_another_rule_is_checked() -> None:
    record = {"record": "job:copilot_chunking_latency:p95", "expr": CHUNKING}
    [problem] = _problems(record, {"alert": "A", "expr": "max(job:copilot_chunking_latency:p95) > 2"})
    assert problem.startswith("t/g/A: compares the 0.95-quantile of copilot_chunking_processing_duration_seconds")
    assert _problems(record, {"alert": "A", "expr": "max_over_time(job:copilot_chunking_latency:p95[10m]) > 2.5"}) == []


def test_a_quantile_over_recorded_buckets_is_checked_against_the_source_family() -> None:
    record = {"record": ACK_SUM, "expr": "sum without (run_id) (controlbus_apply_ack_latency_ms_bucket)"}
    quantile = f'histogram_quantile(0.95, sum by (world_id, le) (rate({ACK_SUM}{{phase="freeze"}}[5m])))'
    [problem] = _problems(record, {"alert": "Ack", "expr": f"{quantile} > 4000"})
    assert "of controlbus_apply_ack_latency_ms" in problem and "between the bounds 2500 and 5000" in problem
    assert _problems(record, {"alert": "Ack", "expr": f"{quantile} > 5000"}) == []


def test_a_number_outside_the_buckets_is_refused() -> None:
    [above] = _problems({"alert": "A", "expr": f"{CHUNKING} > 120"})
    assert "above the largest finite bound 60" in above and "cannot hold" in above
    [below] = _problems({"alert": "A", "expr": f"{CHUNKING} > 0.005"})
    assert "between the bounds 0 and 0.01" in below  # the first bucket starts at 0


def test_a_quantile_below_a_threshold_is_refused_without_the_firing_example() -> None:
    [problem] = _problems({"alert": "TooFast", "expr": f"{CHUNKING} < 2"})
    assert "between the bounds 1 and 2.5" in problem and "reads" not in problem


def test_a_quantile_scaled_by_a_number_is_checked_at_its_scale() -> None:
    """Before, ``* 1000 > 2500`` was refused and a recorded ``* 1000`` read as a bucket series: ``> 2000`` passed."""
    assert _problems({"alert": "A", "expr": f"{CHUNKING} * 1000 > 2500"}) == []
    [direct] = _problems({"alert": "A", "expr": f"1000 * {CHUNKING} > 2000"})
    assert "with 2000 (2 in copilot_chunking_processing_duration_seconds's unit: the quantile is scaled by 1000)" in direct
    assert "between the bounds 1 and 2.5" in direct
    record = {"record": "job:copilot_chunking_latency_ms:p95", "expr": f"{CHUNKING} * 1000"}
    [recorded] = _problems(record, {"alert": "A", "expr": "max(job:copilot_chunking_latency_ms:p95) > 2000"})
    assert recorded.startswith("t/g/A: compares the 0.95-quantile of copilot_chunking_processing_duration_seconds")
    assert "between the bounds 1 and 2.5" in recorded
    assert _problems(record, {"alert": "A", "expr": "job:copilot_chunking_latency_ms:p95 > 2500"}) == []
    # A record of a record, scaled back: checked in seconds again.
    back = {"record": "job:copilot_chunking_latency:p95", "expr": "job:copilot_chunking_latency_ms:p95 / 1000"}
    [chained] = _problems(record, back, {"alert": "A", "expr": "job:copilot_chunking_latency:p95 > 2"})
    assert "with 2, which is not a bucket bound" in chained


def test_a_sum_or_other_function_of_quantiles_is_refused_recorded_or_not() -> None:
    """Before, a recorded ``sum(histogram_quantile(...))`` compared in another rule passed unread."""
    [direct] = _problems({"alert": "A", "expr": f"sum({CHUNKING}) > 2"})
    assert "cannot tell which bucket bounds" in direct and "is no quantile" in direct
    record = {"record": "job:copilot_chunking_latency:p95_sum", "expr": f"sum({CHUNKING})"}
    [recorded] = _problems(record, {"alert": "A", "expr": "job:copilot_chunking_latency:p95_sum > 2"})
    assert recorded.startswith("t/g/A: compares an expression built on a histogram quantile")
    plus = {"record": "job:copilot_chunking_latency:p95_plus", "expr": f"{CHUNKING} + 1"}
    assert len(_problems(plus, {"alert": "A", "expr": "job:copilot_chunking_latency:p95_plus > 2.5"})) == 1


@pytest.mark.parametrize("other", ["on () group_left vector(2)", "scalar(vector(2))", "vector(2)", "(scalar(vector(1)) * 2)"])
def test_a_number_written_as_vector_or_scalar_is_checked(other: str) -> None:
    """Before, ``vector(2)`` and ``scalar(vector(2))`` were no number to the lint: nothing was checked."""
    [problem] = _problems({"alert": "A", "expr": f"{CHUNKING} > {other}"})
    assert "with 2, which is not a bucket bound" in problem and "between the bounds 1 and 2.5" in problem
    assert _problems({"alert": "A", "expr": f"{CHUNKING} > {other.replace('2', '2.5')}"}) == []


def test_a_quantile_compared_with_what_the_lint_cannot_evaluate_is_refused() -> None:
    [problem] = _problems({"alert": "A", "expr": f"{CHUNKING} > on () group_left max(queue_lag_threshold_seconds)"})
    assert "which is no number the lint can evaluate" in problem
    [timed] = _problems({"alert": "A", "expr": f"{CHUNKING} > scalar(vector(time())) * 0 + 2"})
    assert "which is no number the lint can evaluate" in timed


def test_the_fraction_above_a_bound_is_not_a_quantile() -> None:
    expr = ("1 - (sum(rate(copilot_chunking_processing_duration_seconds_bucket{le=\"2.5\"}[5m]))"
            " / sum(rate(copilot_chunking_processing_duration_seconds_bucket{le=\"+Inf\"}[5m]))) > 0.05")
    assert _problems({"alert": "A", "expr": expr}) == []


def test_lint_reports_it() -> None:
    spec = {"t": {"groups": [{"name": "g", "rules": [{"record": "t:x:y", "expr": f"{CHUNKING} > bool 2"}]}]}}
    assert [p for p in lint(spec) if "not a bucket bound" in p] == _problems({"record": "t:x:y", "expr": f"{CHUNKING} > bool 2"})



def test_the_stack_rules_compare_quantiles_with_bucket_bounds_only() -> None:
    """Fails on the rules before issue 23: CopilotLatencyHigh chunking (2 between 1 and 2.5) and reporting
    (0.2 between 0.1 and 0.5), SeamlessSla99thDegraded (0.8 * 240 = 192 between 180 and 240)."""
    assert quantile_thresholds.problems(load_all_rules(TEST_CONTEXT), load_catalog()) == []


# Each bound an alert measures instead of a target between two buckets: (target, histogram, which neighbour).
# "above": the first bound at or above the target, so traffic under the target never fires (a latency target);
# "below": the largest bound at or below it, so the seed's validation at the budget fires (an approach warning).
MEASURED = {
    "copilot_latency_p95_measured_seconds_chunking":
        ("copilot_latency_p95_seconds_chunking", "copilot_chunking_processing_duration_seconds", "above"),
    "copilot_latency_p95_measured_seconds_reporting":
        ("copilot_latency_p95_seconds_reporting", "copilot_reporting_processing_duration_seconds", "above"),
    "seamless_sla_p99_approach_measured_seconds":
        (("seamless_sla_p99_approach_ratio", "seamless_sla_p99_budget_seconds"), "seamless_sla_deadline_seconds", "below"),
}


@pytest.mark.parametrize("measured", sorted(MEASURED))
def test_a_measured_bound_is_the_neighbour_of_its_seed_target(measured: str) -> None:
    target_names, family, side = MEASURED[measured]
    names = target_names if isinstance(target_names, tuple) else (target_names,)
    target = 1.0
    for name in names:
        target *= thresholds.threshold(name)
    buckets = load_catalog().metrics[family].buckets
    assert target not in buckets, f"{names} is a bucket bound of {family} now: compare the quantile with it again"
    expected = min(b for b in buckets if b >= target) if side == "above" else max(b for b in buckets if b <= target)
    assert thresholds.threshold(measured) == expected


# --- the stack's rules on Prometheus 3.5.0's rule engine (tools/rule-eval): what fires, what the page says ---


def _histogram(family: str, labels: str, shares: dict[float, int]) -> list[dict[str, str]]:
    """Input series of ``family``: ``shares`` maps an observed latency to requests per minute."""
    series = []
    for bound in (*load_catalog().metrics[family].buckets, float("inf")):
        per_minute = sum(n for latency, n in shares.items() if latency <= bound)
        series.append({"series": f'{family}_bucket{{{labels}, le="{stored_bound(bound)}"}}', "values": f"0+{per_minute}x30"})
    return series


CHUNKING_H = ("copilot_chunking_processing_duration_seconds", 'service="chunking"')
REPORTING_H = ("copilot_reporting_processing_duration_seconds", 'service="reporting"')
PARSING_H = ("copilot_parsing_processing_duration_seconds", 'service="parsing"')
SEAMLESS_H = ("seamless_sla_deadline_seconds", 'phase="total"')
# (name, histogram, {latency: requests per minute}, alert, fires)
TRAFFIC: list[tuple[str, tuple[str, str], dict[float, int], str, bool]] = [
    ("chunking all at 1.1s (target 2s)", CHUNKING_H, {1.1: 10}, "CopilotLatencyHigh", False),
    ("chunking 96% at 1.1s, 4% at 3s", CHUNKING_H, {1.1: 96, 3: 4}, "CopilotLatencyHigh", False),
    ("chunking 94% at 1.1s, 6% at 3s", CHUNKING_H, {1.1: 94, 3: 6}, "CopilotLatencyHigh", True),
    ("chunking all at 3s", CHUNKING_H, {3: 10}, "CopilotLatencyHigh", True),
    ("reporting all at 0.11s (target 0.2s)", REPORTING_H, {0.11: 10}, "CopilotLatencyHigh", False),
    ("reporting all at 0.6s", REPORTING_H, {0.6: 10}, "CopilotLatencyHigh", True),
    ("parsing all at 4.9s (target 5s, a bound)", PARSING_H, {4.9: 10}, "CopilotLatencyHigh", False),
    ("parsing all at 6s", PARSING_H, {6: 10}, "CopilotLatencyHigh", True),
    ("seamless all at 170s", SEAMLESS_H, {170: 10}, "SeamlessSla99thDegraded", False),
    ("seamless all at 181s", SEAMLESS_H, {181: 10}, "SeamlessSla99thDegraded", True),
    ("seamless all at the 240s budget (seed 000 validation)", SEAMLESS_H, {240: 10}, "SeamlessSla99thDegraded", True),
]


@pytest.fixture(scope="module")
def traffic_results(tmp_path_factory: pytest.TempPathFactory) -> list[CaseResult]:
    specs = load_all_rules(TEST_CONTEXT)
    out: Path = tmp_path_factory.mktemp("quantile-rules")
    files = [str(p) for p in write_rules(out, {k: specs[k] for k in ("copilot", "qmtl-seamless")})]
    cases = [{"name": name, "rule_files": files, "input_series": _histogram(*hist, shares), "eval_times": ["16m"]}
             for name, hist, shares, _, _ in TRAFFIC]
    return evaluate(cases)


@pytest.mark.parametrize("index", range(len(TRAFFIC)), ids=[t[0] for t in TRAFFIC])
def test_latency_alerts_fire_on_traffic_past_the_bound_only(traffic_results: list[CaseResult], index: int) -> None:
    """Before issue 23, chunking at 1.1s fired "p95 2.425s (target 2s)", reporting at 0.11s "480ms (target 0.2s)"."""
    name, _, _, alert, fires = TRAFFIC[index]
    assert bool(traffic_results[index].firing("16m", alert)) == fires, name


def _page(results: list[CaseResult], name: str, alert: str) -> Any:
    [firing] = results[[t[0] for t in TRAFFIC].index(name)].firing("16m", alert)
    return firing


def test_the_page_prints_the_share_above_the_bound_measured_and_the_target(traffic_results: list[CaseResult]) -> None:
    chunking = _page(traffic_results, "chunking 94% at 1.1s, 6% at 3s", "CopilotLatencyHigh")
    assert chunking.value == pytest.approx(0.06)
    assert chunking.annotations["summary"] == \
        "More than 5% of chunking requests take longer than 2.5s, so its p95 is past its 2s target."
    assert chunking.annotations["description"].startswith("6% of the chunking service's requests took longer than 2.5s")
    assert "no bucket at 2s, so the alert measures at 2.5s" in chunking.annotations["description"]
    reporting = _page(traffic_results, "reporting all at 0.6s", "CopilotLatencyHigh")
    assert "took longer than 500ms" in reporting.annotations["description"]
    assert "p95 target of 200ms" in reporting.annotations["description"]
    seamless = _page(traffic_results, "seamless all at 181s", "SeamlessSla99thDegraded")
    assert seamless.annotations["description"].startswith(
        '100% of Seamless requests (seamless_sla_deadline_seconds_bucket{phase="total"}) took longer than 3m 0s')
    assert "the p99 is past 3m 0s, approaching the 4m 0s budget" in seamless.annotations["description"]


def test_the_hand_written_seamless_runbook_names_the_bound_measured() -> None:
    from components.rules.loader import runbook_path

    text = " ".join(runbook_path("SeamlessSla99thDegraded").read_text(encoding="utf-8").split())
    bound = thresholds.threshold("seamless_sla_p99_approach_measured_seconds")
    assert f"longer than {thresholds.format_number(bound)}s" in text and f'le="{stored_bound(bound)}"' in text
