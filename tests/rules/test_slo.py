"""SLO specs: validation errors name file, field, value and accepted form."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.rules import slo
from components.rules.catalog import stored_bound
from components.rules.thresholds import format_number
from tooling.rules.build import TEST_CONTEXT


def _spec(**overrides: Any) -> dict[str, Any]:
    entry = {"name": "demo-errors", "description": "d.", "objective": 99.5, "window": "30d",
             "sli": {"ratio": {"errors": {"metric": "diff_failures_total"}, "total": {"metric": "diff_requests_total"}}},
             "impact": "i", "actions": ["a"]}
    entry.update(overrides)
    return {"service": "demo", "slos": [entry]}


def _write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "demo.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(("override", "pattern"), [
    ({"objective": 120}, r"demo\.yaml: slos\[0\] \(demo-errors\)\.objective: got 120; accepted: a percentage between 0 and 100"),
    ({"objective": "high"}, r"\.objective: got 'high'"),
    ({"window": "7d"}, r"slos\[0\] \(demo-errors\)\.window: got '7d'; accepted: one of \['30d'\]"),
    ({"target": 1}, r"slos\[0\]\.target: got 'target'; accepted: one of \["),
    ({"name": "Demo Errors"}, r"slos\[0\]\.name: got 'Demo Errors'; accepted: kebab-case"),
    ({"sli": {"latency": {"metric": "x", "le": -1}}}, r"\.sli\.latency\.le: got -1; accepted: a positive number"),
    ({"sli": {"ratio": {"errors": {"metric": "a", "matchers": "status=failed"}, "total": {"metric": "b"}}}},
     r"\.sli\.ratio\.errors\.matchers: got 'status=failed'; accepted: PromQL label matchers"),
    ({"sli": {"quantile": {}}}, r"\.sli: got .*accepted: exactly one of latency"),
    ({"impact": "slower than {{le}}"}, r"\.impact: got 'slower than \{\{le\}\}'; accepted: \{\{le\}\} only in a latency SLO"),
])
def test_bad_spec_names_file_field_value_and_form(tmp_path: Path, override: dict[str, Any], pattern: str) -> None:
    path = _write(tmp_path, _spec(**override))
    with pytest.raises(slo.SloSpecError, match=pattern) as err:
        slo.load_slos(path)
    assert str(path) in str(err.value)


def test_latency_bound_must_be_a_bucket(tmp_path: Path) -> None:
    _write(tmp_path, _spec(sli={"latency": {"metric": "dvt_run_completion_duration_seconds", "le": 4}}))
    with pytest.raises(slo.SloSpecError, match=r"\.sli\.latency\.le: got 4.0; accepted: one of the bucket bounds"):
        slo.generate_all(TEST_CONTEXT, tmp_path)


def test_duplicate_names_across_files_are_rejected(tmp_path: Path) -> None:
    _write(tmp_path, _spec())
    (tmp_path / "other.yaml").write_text(yaml.safe_dump(_spec()))
    with pytest.raises(slo.SloSpecError, match="a name not already used in"):
        slo.all_slos(tmp_path)


def test_burn_rate_windows_follow_the_workbook() -> None:
    assert slo.PAGE_BURNS == (("1h", "5m", 14.4), ("6h", "30m", 6.0))
    assert slo.TICKET_BURNS == (("1d", "2h", 3.0), ("3d", "6h", 1.0))


def test_latency_sli_accepts_go_and_python_bucket_labels() -> None:
    spec = slo.parse_spec(_spec(sli={"latency": {"metric": "dvt_run_completion_duration_seconds", "le": 5}}), "x")[0]
    assert 'le=~"5(\\\\.0+)?"' in slo.sli_error_expr(spec, "5m")
    assert spec.budget == 0.005


@pytest.mark.parametrize("le", [5, 0.5, 240, 1000, 999999, 1e6, 1234567.5, 0.0001, 5e-05])
def test_latency_sli_matches_the_bucket_as_prometheus_3_stores_it(le: float) -> None:
    """Prometheus 3 normalises a scraped bucket's le on ingestion (prometheus/prometheus#15164): 5 -> "5.0",
    1e6 -> "1e+06", 5e-05 -> "5e-05" (catalog.stored_bound, checked against promtool in test_catalog.py). The
    SLI's good-events matcher matches that text, and still the clients' spellings for series that are not
    scraped (remote write); on Prometheus 2.42 le=1e6 was matched by "1000000" only, which 3.5.0 never stores."""
    spec = slo.parse_spec(_spec(sli={"latency": {"metric": "dvt_run_completion_duration_seconds", "le": le}}), "x")[0]
    matcher = re.search(r'le=~"((?:[^"\\]|\\.)*)"', slo.sli_error_expr(spec, "5m"))
    assert matcher
    pattern = matcher.group(1).replace("\\\\", "\\")  # the PromQL string's escapes undone
    plain = format_number(le)
    for text in (stored_bound(le), plain, f"{plain}.0" if float(le).is_integer() else plain):
        assert re.fullmatch(pattern, text), (pattern, text)
    assert not re.fullmatch(pattern, stored_bound(le * 2))


def test_latency_bound_can_be_a_threshold(tmp_path: Path) -> None:
    spec = _spec(sli={"latency": {"metric": "seamless_sla_deadline_seconds", "le": "{{threshold:seamless_sla_p99_budget_seconds}}"}})
    assert slo.parse_spec(spec, "x")[0].sli["latency"]["le"] == 240.0
    spec = _spec(sli={"latency": {"metric": "seamless_sla_deadline_seconds", "le": "{{threshold:nope}}"}})
    with pytest.raises(slo.SloSpecError, match=r"x: slos\[0\] \(demo-errors\)\.sli\.latency\.le: .*no threshold named 'nope'"):
        slo.parse_spec(spec, "x")


def test_burn_alerts_print_budget_and_limits_as_percentages_of_the_expression() -> None:
    """The page reads the limits its expression compares with, in the value's unit (a ratio, as a percentage):
    "above 14.4% (14.4x the budget) over both 1h and 5m", never "a budget of 0.01" next to "50%" (issue 23)."""
    from components.rules import units

    checked = 0
    for spec in slo.generate_all(TEST_CONTEXT).values():
        for group in spec["groups"]:
            for rule in (r for r in group["rules"] if "alert" in r):
                text = rule["annotations"]["description"]
                limits = [float(a) * float(b) for a, b in re.findall(r"> \(([\d.]+) \* ([\d.]+)\)", rule["expr"])]
                limits += [float(b) for b in re.findall(r"ratio_rate15d\{[^}]*\} > ([\d.]+)$", rule["expr"])]
                assert limits, rule["expr"]
                budget = float(re.search(r"an error budget of ([\d.]+)%", text).group(1)) / 100  # type: ignore[union-attr]
                for limit in limits:
                    assert units.render(limit, "ratio") in text, (rule["alert"], limit, text)
                assert units.go_template("ratio") in text
                prose = text.split("\nImpact:")[0]  # the Actions hold queries, whose 0.99 is a quantile
                assert not re.search(r"(?<![\d.])0\.\d+(?![\d.]*%)", prose), (rule["alert"], prose)  # no bare ratio
                assert 1 - budget == pytest.approx(float(re.search(r"Objective ([\d.]+)%", text).group(1)) / 100)  # type: ignore[union-attr]
                checked += 1
    assert checked >= 40
