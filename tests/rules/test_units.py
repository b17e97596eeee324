"""The units pages print numbers in: components/rules/units.py's text equals what Prometheus 3.5.0 renders.

Every unit's Go template is rendered by the deployed release's rule engine (tools/rule-eval) on values across
the ranges of each formatter (sub-milli, seconds to days, kibi to tebi), and compared with ``render``, the
text thresholds are printed with: a value and its threshold read alike on a page only if these agree.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.rules import units
from tooling.rule_eval import evaluate

UNITS = ["s", "ms", "ratio", "bytes", "requests/min", "spans/s", "events"]
FIXED = [0.0, 0.0004, 0.011, 0.2, 0.48, 0.999, 1.0, 2.425, 9.95, 59.9, 60.0, 181.0, 192.0, 240.0, 3599.0,
         3600.0, 86400.0, 90061.5, 1023.0, 1024.0, 5.2e9, 5e9, 1e15, -3.5, 2048.0, 2.5]


def _rendered(tmp_path: Path, values: list[float]) -> list[dict[str, str]]:
    """Each value's text in every unit, as the rule engine renders an alert's annotations."""
    rule = {"alert": "Units", "expr": "units_probe",
            "annotations": {u: units.go_template(u) for u in UNITS}}
    path = tmp_path / "units.yaml"
    path.write_text(json.dumps({"groups": [{"name": "units", "rules": [rule]}]}), encoding="utf-8")
    series = [{"series": f'units_probe{{i="{i}"}}', "values": f"{v!r}x2"} for i, v in enumerate(values)]
    result = evaluate([{"rule_files": [str(path)], "input_series": series, "eval_times": ["1m"]}])[0]
    by_index = {int(a.labels["i"]): a.annotations for a in result.firing("1m", "Units")}
    assert sorted(by_index) == list(range(len(values))), "every probe series fires once"
    return [by_index[i] for i in range(len(values))]


def test_go_templates_and_python_text_agree_on_chosen_values(tmp_path: Path) -> None:
    for value, texts in zip(FIXED, _rendered(tmp_path, FIXED), strict=True):
        for unit in UNITS:
            assert texts[unit] == units.render(value, unit), (value, unit)


def test_examples_from_the_issue_read_in_their_unit() -> None:
    assert units.render(9950, "ms") == "9950ms"  # was "9.95kms" through humanize
    assert units.render(5.2e9, "bytes") == "4.843GiB"
    assert units.render(5e9, "bytes") == "4.657GiB"  # the threshold, in the value's unit
    assert units.render(0.06, "ratio") == "6%" and units.render(0.01, "ratio") == "1%"
    assert units.render(240, "s") == "4m 0s" and units.render(0.2, "s") == "200ms"
    # A rate below 1 without humanize's milli prefix ("100m requests/min" reads as a hundred million).
    assert units.render(0.1, "requests/min") == "0.1 requests/min" and units.render(0.6, "requests/min") == "0.6 requests/min"
    assert units.render(2048, "spans/s") == "2.048k spans/s"


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.floats(min_value=-1e12, max_value=1e18, allow_nan=False, allow_infinity=False), min_size=1, max_size=40))
def test_go_templates_and_python_text_agree_on_any_value(tmp_path: Path, values: list[float]) -> None:
    for value, texts in zip(values, _rendered(tmp_path, values), strict=True):
        for unit in UNITS:
            assert texts[unit] == units.render(value, unit), (value, unit)


@pytest.mark.parametrize("bad", ["", " s", None])
def test_a_unit_that_cannot_format_is_refused(bad: object) -> None:
    with pytest.raises(units.UnitError, match="accepted: s, ms, ratio"):
        units.go_template(bad)  # type: ignore[arg-type]
