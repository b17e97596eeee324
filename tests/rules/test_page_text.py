"""What a page says: every alert's summary and description rendered from a firing case, at Prometheus 3.5.0, read.

The promtool copies of the rules carry no annotations (promtool compares them verbatim), so the text of a page
was never rendered in a test. Here every case that expects an alert to fire runs through ``rule-eval`` (the
deployed release's rule engine) on the annotated rules, and each rendered page is read: the value printed is
the expression's value in the unit the rule declares, thresholds are printed in that unit, templates expand,
and every metric the text names exists (tooling/rules/page_text.py says what is checked).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from components.rules.catalog import load_catalog
from components.rules.loader import rule_files
from tooling.rule_eval import FiringAlert, evaluate
from tooling.rules import page_text
from tooling.rules.page_text import Page, RuleRef


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, dict[str, Any]], list[Page]]:
    return page_text.render_pages(tmp_path_factory.mktemp("pages"))


def test_every_alert_page_is_rendered_from_a_firing_case_and_reads_right(rendered) -> None:
    specs, pages = rendered
    catalog = load_catalog()
    known = page_text.known_series(specs, catalog)
    found = [p for page in pages for p in page_text.problems(page, known, catalog)]
    assert not found, f"{len(found)} problems in rendered pages:\n" + "\n".join(found)
    assert len(pages) > 100 and all(page.fired for page in pages)


def test_rules_print_thresholds_in_the_unit_of_their_value(rendered) -> None:
    _, pages = rendered
    raw = page_text.raw_alert_rules(rule_files())
    found = [p for page in pages if (r := raw.get((page.ref.set_name, page.ref.group, page.ref.index)))
             for p in page_text.rule_problems(page.ref, r)]
    assert not found, "\n".join(found)


def _page(rule: dict[str, Any], fired: FiringAlert) -> Page:
    return Page(RuleRef("t", "g", 0, rule), [("case @ 10m", fired)])


def test_the_reader_catches_a_value_in_the_wrong_unit_and_an_unknown_metric() -> None:
    """The checks can fail: the issue's own examples, as they read before."""
    rule: dict[str, Any] = {"alert": "NodeCacheMemoryHigh", "labels": {}, "annotations": {
        "summary": "x", "description": "is {{ $value | humanize1024 }}B (threshold 5000000000 bytes)"}}
    fired = FiringAlert({"alertname": "NodeCacheMemoryHigh"}, {"summary": "x", "description": "is 4.843GiB"}, 5.2e9, 0)
    assert page_text.problems(_page(rule, fired), set()) == []  # the value itself reads right in bytes
    rule["annotations"]["description"] = "is {{ $value | humanize }}ms"
    fired = FiringAlert({"alertname": "P"}, {"summary": "x", "description": "is 9.95kms; see controlbus_lag_ms"}, 9950, 0)
    found = page_text.problems(_page(rule | {"alert": "P"}, fired), set())
    assert any("prints $value with no unit" in p for p in found)
    assert any("'controlbus_lag_ms'" in p for p in found)
    rule["annotations"]["description"] = 'fail at {{ printf "%.0f" $value }} events'
    fired = FiringAlert({"alertname": "P"}, {"summary": "x", "description": "fail at 60 events"}, 0.2, 0)
    assert any("reads '0 events'" in p for p in page_text.problems(_page(rule | {"alert": "P"}, fired), set()))
    # A label the alert does not carry prints as a blank ("1 projection gaps ... on ."): named; a guarded one is not.
    rule["annotations"]["description"] = "gaps on {{ $labels.instance }}{{ with $labels.reason }} ({{ . }}){{ end }}."
    fired = FiringAlert({"alertname": "P"}, {"summary": "x", "description": "gaps on ."}, 1, 0)
    found = page_text.problems(_page(rule | {"alert": "P"}, fired), set())
    assert [p for p in found if "prints label" in p] == ["t/g/P{}: prints label 'instance', which the alert does not carry, as a blank (case @ 10m)"]


def test_the_reader_catches_selectors_on_labels_that_do_not_exist() -> None:
    catalog = load_catalog()
    assert page_text.selector_problems('{service="dvt", level=~"ERROR|FATAL"}', catalog, set()) == []
    assert "not stream labels" in page_text.selector_problems('{component="dvt-engine"}', catalog, set())[0]
    assert "carries no label ['flavour']" in page_text.selector_problems('up{flavour="x"}', catalog, set())[0]


def test_the_rule_reader_catches_bare_thresholds_and_mismatched_units() -> None:
    ref = RuleRef("t", "g", 0, {"alert": "X"})
    assert any("bare number" in p for p in page_text.rule_problems(ref, {
        "expr": "x > 1", "annotations": {"description": "threshold {{threshold:dvt_error_ratio_slo}}"}}))
    assert any("whose unit is s" in p for p in page_text.rule_problems(ref, {
        "unit": "ms", "expr": "x > {{threshold:dvt_run_completion_p99_seconds}}", "annotations": {}}))
    assert any("per-second" in p for p in page_text.rule_problems(ref, {
        "unit": "errors/s", "expr": "increase(x[5m]) > 0", "annotations": {}}))


def _fire(tmp_path: Path, set_name: str, series: list[dict[str, str]], at: str, alert: str) -> list[FiringAlert]:
    """``alert`` as it fires at ``at`` on ``series``, from the whole annotated rule set ``set_name``."""
    from components.rules.all_rules import load_all_rules
    from tooling.rules.build import TEST_CONTEXT

    spec = load_all_rules(TEST_CONTEXT)[set_name]
    path = tmp_path / f"{set_name}.yaml"
    path.write_text(json.dumps(spec), encoding="utf-8")
    result = evaluate([{"rule_files": [str(path)], "input_series": series, "eval_times": [at]}])[0]
    return result.firing(at, alert)


def test_the_issue_examples_read_in_the_unit_of_their_value(tmp_path: Path) -> None:
    cache = _fire(tmp_path, "qmtl-core", [{"series": 'nodecache_resident_bytes{scope="total"}', "values": "5.2e9x20"}],
                  "15m", "NodeCacheMemoryHigh")
    assert len(cache) == 1
    text = cache[0].annotations["summary"] + cache[0].annotations["description"]
    assert "4.843GiB" in text and "4.657GiB" in text and "5000000000" not in text

    # 0.2 StateStore write errors a second: the 5-minute count the rule compares, never a per-second "60/s".
    store = _fire(tmp_path, "dvt", [{"series": 'dvt_statestore_write_errors_total{event_type="run_started"}',
                                     "values": "0+12x20"}], "10m", "StateStoreWriteFailure")
    assert len(store) == 1 and store[0].value == pytest.approx(60)
    text = store[0].annotations["description"]
    assert "60 failed writes in the last 5 minutes" in text and "/s" not in text

    # A 9.95 s PAUSE p99 (interpolated in the 5000-10000 ms bucket) in milliseconds, as its threshold.
    pause = _fire(tmp_path, "dvt", [
        {"series": f'dvt_signal_processing_duration_ms_bucket{{signal_type="PAUSE", le="{le}"}}', "values": values}
        for le, values in (("1000.0", "0x20"), ("5000.0", "0x20"), ("10000.0", "0+10x20"), ("+Inf", "0+10x20"))],
        "10m", "PauseLatencySLAViolation")
    assert len(pause) == 1
    text = pause[0].annotations["summary"] + pause[0].annotations["description"]
    assert "9950ms" in text and "5000ms" in text and "kms" not in text

    # 6% of runs failing: the ratio, its threshold and the SLO in one unit ("6% ... alert threshold 0.01" before).
    errors = _fire(tmp_path, "dvt", [
        {"series": 'dvt_runs_completed_total{planId="p1", status="failed", error_code="E1"}', "values": "0+6x30"},
        {"series": 'dvt_runs_completed_total{planId="p1", status="success", error_code=""}', "values": "0+94x30"}],
        "25m", "DvtErrorRateAboveSlo")
    assert len(errors) == 1
    text = errors[0].annotations["summary"] + errors[0].annotations["description"]
    assert "6% of runs failed" in text and "alert threshold 1%" in text and "0.01" not in text

    # ControlBus ACK p95 9.75 s: the action queries series that exist (controlbus_lag_ms exists nowhere).
    acks = _fire(tmp_path, "qmtl-core", [
        {"series": f'controlbus_apply_ack_latency_ms_bucket{{world_id="w1", run_id="r1", phase="freeze", le="{le}"}}',
         "values": values}
        for le, values in (("5000.0", "0x20"), ("10000.0", "0+10x20"), ("+Inf", "0+10x20"))],
        "10m", "ControlBusApplyAckLatencyHigh")
    assert len(acks) == 1
    text = acks[0].annotations["description"]
    assert "9750ms" in text and "controlbus_lag_ms" not in text
    assert 'instance_world_phase:controlbus_apply_acks:sum{world_id="w1"}' in text


# --- the rule reader reads the parsed expression (issue 23, second review: each of these read as sound before) ---

RULE_READER_HOLES = [
    # (unit, expression, what the problem says)
    ("requests/min", "sum(increase(x_total[10m])) * 60 > 1", "per-minute value (requests/min) but its expression returns scaled"),
    ("requests/min", "rate(x_total[5m]) * 600 > 1", "per-minute value (requests/min) but its expression returns scaled"),
    ("requests/s", "rate(x_total[5m]) * 600 > 1", "per-second value (requests/s) but its expression returns scaled"),
    ("errors/s", "delta(x[5m]) > 0", "per-second value (errors/s) but its expression returns delta"),
    ("s", "max(x > {{threshold:dvt_error_ratio_slo}}) and on () y > 0", "compares its value (s) with dvt_error_ratio_slo, whose unit is ratio"),
    ("s", "(x > {{threshold:dvt_run_completion_p99_seconds}}) * 1000", "arithmetic then changes"),
    ("failed writes", "sum(rate(x_total[5m])) > 0", "declares a count (failed writes) but its expression returns a rate"),
]


@pytest.mark.parametrize(("unit", "expr", "said"), RULE_READER_HOLES, ids=[f"{h[0]}: {h[1]}" for h in RULE_READER_HOLES])
def test_the_rule_reader_reads_the_parsed_expression(unit: str, expr: str, said: str) -> None:
    found = page_text.rule_problems(RuleRef("t", "g", 0, {"alert": "X"}), {"unit": unit, "expr": expr, "annotations": {}})
    assert any(said in p for p in found), found


SOUND_EXPRESSIONS = [
    ("requests/min", "sum(rate(x_total[5m])) * 60 < {{threshold:diff_throughput_min_per_minute}}"),
    ("requests/min", "sum(increase(x_total[10m])) / 10 < 1"),
    ("requests/min", "sum(increase(x_total[1m])) < 1"),
    ("errors/s", "sum by (job) (rate(x_total[5m])) > 0"),
    ("errors/s", "sum(increase(x_total[5m])) / 300 > 0"),
    ("ratio", "{{threshold:dvt_error_ratio_slo}} < sum(rate(a_total[5m])) / sum(rate(b_total[5m]))"),
    ("ratio", "x < {{threshold:seamless_backfill_stuck_ratio}} and changes(x[{{threshold:seamless_backfill_stall_seconds}}s]) == 0"),
]


@pytest.mark.parametrize(("unit", "expr"), SOUND_EXPRESSIONS, ids=[f"{s[0]}: {s[1]}" for s in SOUND_EXPRESSIONS])
def test_the_rule_reader_accepts_what_returns_its_unit(unit: str, expr: str) -> None:
    assert page_text.rule_problems(RuleRef("t", "g", 0, {"alert": "X"}), {"unit": unit, "expr": expr, "annotations": {}}) == []


# --- what a page claims about time (tooling/rules/claims.py) ---


def _records(specs: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    from components.rules.loader import recording_rules

    out: dict[str, list[str]] = {}
    for rule in recording_rules(specs):
        out.setdefault(str(rule["record"]), []).append(str(rule["expr"]))
    return out


def test_every_page_claims_only_the_durations_its_rule_knows(rendered) -> None:
    """Fails on the rules before: StackReplicasUnavailable "for 25 minutes" (for: 15m), and ProjectionGapDetected and
    LostRequests "in the last 5 minutes" while held an hour (keep_firing_for)."""
    specs, pages = rendered
    records = _records(specs)
    found = [p for page in pages for p in page_text.claim_problems(page.ref, records)]
    assert not found, "\n".join(found)


def test_held_alerts_are_rendered_inside_their_hold_and_say_so(rendered) -> None:
    """Each alert with keep_firing_for is rendered at a time its expression no longer returns it; the page then
    claims no count over a window and names the hold. Before: "detected 1 projection gaps in the last 5 minutes"
    at 15m and 68m, when the 5-minute increase had been 0 for minutes."""
    _, pages = rendered
    held = [page for page in pages if page.ref.rule.get("keep_firing_for")]
    assert sorted(page.ref.alert for page in held) == ["LostRequests", "ProjectionGapDetected"]
    for page in held:
        assert page.held, f"{page.ref}: no case renders it inside its hold"
        assert page_text.held_problems(page) == []


def _rule(**fields: Any) -> RuleRef:
    return RuleRef("t", "g", 0, {"alert": "X", "expr": "x > 0", "labels": {}} | fields)


def test_the_claim_reader_catches_durations_the_rule_cannot_know() -> None:
    def said(rule: RuleRef, records: dict[str, list[str]] | None = None) -> str:
        return "\n".join(page_text.claim_problems(rule, records or {}))

    shortfall = "(a - b) > 0 and changes(c[10m]) == 0"
    wrong = _rule(expr=shortfall, **{"for": "15m"}, annotations={"description": "has been 1 replicas short, with no progress, for 25 minutes.\nImpact: x"})
    assert "says 'for 25 minutes', but its for: is 15 minutes" in said(wrong)
    right = _rule(expr=shortfall, **{"for": "15m"}, annotations={"description": "short for at least 15 minutes.\nImpact: x"})
    assert said(right) == ""
    assert said(_rule(expr=shortfall, **{"for": "15m"}, annotations={"description": "short for 10 minutes"}))  # a window, bare, with for:
    assert said(_rule(expr="min_over_time(x[30m]) > 0", annotations={"summary": "in flight for 30 minutes"})) == ""
    assert said(_rule(expr="time() - x > 600", annotations={"summary": "has not run for over 10m 0s"})) == ""
    assert "reads no 10 minutes window" in said(_rule(expr="increase(x[5m]) > 0", annotations={"summary": "3 in the last 10 minutes"}))
    assert said(_rule(expr="slo:x:rate1h > 1", annotations={"summary": "over the last 1h"}), {"slo:x:rate1h": ["rate(y[1h])"]}) == ""
    held = _rule(expr="increase(x[5m]) > 0", keep_firing_for="1h", annotations={"description": "lost 3 in the last 5 minutes"})
    assert "it holds 1h (keep_firing_for)" in said(held) and "does not say so" in said(held)
    fixed = _rule(expr="increase(x[5m]) > 0", keep_firing_for="1h",
                  annotations={"description": "lost 3 (counted over 5 minutes when last seen); the page holds for 1h after the last loss"})
    assert said(fixed) == ""


def test_a_retention_prints_as_a_duration(rendered) -> None:
    """Before: "fills up within the prometheus retention period of 604800 seconds"."""
    ref = RuleRef("t", "g", 0, {"alert": "X"})
    assert any("retention_text:loki" in p for p in page_text.rule_problems(ref, {
        "expr": "x > 0", "annotations": {"description": "within {{retention_seconds:loki}} seconds"}}))
    _, pages = rendered
    volume = [alert for page in pages if page.ref.alert == "StackVolumeFillsBeforeRetention" for _, alert in page.fired]
    assert volume
    for alert in volume:
        text = alert.annotations["description"]
        assert "604800" not in text and "259200" not in text
        assert "retention period of 7d 0h 0m 0s." in text or "retention period of 3d 0h 0m 0s." in text, text
