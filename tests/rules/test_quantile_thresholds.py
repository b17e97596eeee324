"""Numbers compared with an interpolated histogram quantile are bucket bounds (issue 23, item 2).

The lint (tooling/rules/quantile_thresholds.py, run by tooling/rules/lint.py) reads both sides: the rule's
comparison and the catalog's buckets of the histogram under the quantile, through recording rules. These
cases feed it rules written the way the stack's are; the last one runs it on the stack's own rule set.
"""

from __future__ import annotations

from typing import Any

from components.rules.catalog import load_catalog
from tooling.rules import quantile_thresholds
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


def test_a_scaled_quantile_cannot_be_checked_and_is_refused() -> None:
    [problem] = _problems({"alert": "A", "expr": f"{CHUNKING} * 1000 > 2500"})
    assert "cannot tell which bucket bounds" in problem


def test_the_fraction_above_a_bound_is_not_a_quantile() -> None:
    expr = ("1 - (sum(rate(copilot_chunking_processing_duration_seconds_bucket{le=\"2.5\"}[5m]))"
            " / sum(rate(copilot_chunking_processing_duration_seconds_bucket{le=\"+Inf\"}[5m]))) > 0.05")
    assert _problems({"alert": "A", "expr": expr}) == []


def test_lint_reports_it() -> None:
    spec = {"t": {"groups": [{"name": "g", "rules": [{"record": "t:x:y", "expr": f"{CHUNKING} > bool 2"}]}]}}
    assert [p for p in lint(spec) if "not a bucket bound" in p] == _problems({"record": "t:x:y", "expr": f"{CHUNKING} > bool 2"})

