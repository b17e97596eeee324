"""Which rule groups a selector, a group or a promtool case reads (tooling/rules/deps.py)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.rules.all_rules import load_all_rules
from tooling.rules import deps
from tooling.rules.build import TEST_CONTEXT

SLI = "slo:sli_error:ratio_rate5m"


def _slo_group(slo: str, expr: str = "sum(rate(x_errors_total[5m])) / sum(rate(x_total[5m]))") -> dict[str, Any]:
    return {"name": f"slo-{slo}", "rules": [
        {"record": SLI, "expr": expr, "labels": {"slo": slo, "service": "svc"}},
        {"alert": f"{slo.capitalize()}Burn", "expr": f'{SLI}{{slo="{slo}"}} > 0.1', "labels": {"severity": "critical"}},
    ]}


@pytest.fixture
def two_slos() -> deps.Pool:
    return deps.Pool([_slo_group("a"), _slo_group("b")])


@pytest.mark.parametrize(("expr", "read"), [
    # The static slo label picks one SLO's group.
    (f'{SLI}{{slo="a"}}', {0}),
    (f'{SLI}{{slo="b"}} > 0.1', {1}),
    (f'{SLI}{{slo="c"}}', set()),
    # Without the label, or with a matcher that could accept either value, both.
    (SLI, {0, 1}),
    (f'{SLI}{{slo=~"a|b"}}', {0, 1}),
    (f'{SLI}{{slo=~".+"}}', {0, 1}),
    (f'{SLI}{{slo!="c"}}', {0, 1}),
    (f'{SLI}{{slo!~"c.*"}}', {0, 1}),
    # Regex and negative matchers that accept one value only.
    (f'{SLI}{{slo=~"a.*"}}', {0}),
    (f'{SLI}{{slo!="a"}}', {1}),
    (f'{SLI}{{slo!~"a"}}', {1}),
    # A label the rule sets statically and the selector wants absent ("" = missing) rules it out.
    (f'{SLI}{{slo=""}}', set()),
    # A label the rules do not set statically comes from the data: it cannot rule a rule out.
    (f'{SLI}{{instance="x", slo="a"}}', {0}),
    (f'{SLI}{{instance=""}}', {0, 1}),
    # Name matchers, and names no rule records.
    ('{__name__=~"slo:sli_error:.*", slo="b"}', {1}),
    ('{__name__="slo:other"}', set()),
    ("x_total", set()),
    # Patterns Python's re may read differently from RE2 (POSIX class, \\pL) are kept.
    (f'{SLI}{{slo=~"[[:upper:]]"}}', {0, 1}),
    (f'{SLI}{{slo=~"\\\\pL"}}', {0, 1}),
    # Alert rules write ALERTS and ALERTS_FOR_STATE under their name.
    ('ALERTS{alertname="ABurn"}', {0}),
    ('ALERTS_FOR_STATE{alertname!="ABurn"}', {1}),
    # An expression that does not parse may read anything.
    (f"{SLI} >", {0, 1}),
])
def test_a_selector_reads_the_groups_whose_rules_could_write_what_it_matches(two_slos: deps.Pool, expr: str,
                                                                                read: set[int]) -> None:
    assert two_slos.producers(expr) == read


def test_a_conflicting_static_label_excludes_a_recording_rule() -> None:
    pool = deps.Pool([{"name": "g", "rules": [{"record": "job:x:sum", "expr": "sum(x)", "labels": {"job": "other"}}]}])
    assert pool.producers('job:x:sum{job="mine"}') == set()
    assert pool.producers('job:x:sum{job="other"}') == {0}
    assert pool.producers("job:x:sum") == {0}


def test_chained_recording_rules_resolve_transitively() -> None:
    pool = deps.Pool([
        {"name": "alerting", "rules": [{"alert": "High", "expr": 'c:x:ratio{slo="a"} > 1'}]},
        {"name": "ratio", "rules": [{"record": "c:x:ratio", "expr": 'b:x:sum{slo="a"} / 2', "labels": {"slo": "a"}}]},
        {"name": "sum-a", "rules": [{"record": "b:x:sum", "expr": "sum(a:x:rate5m)", "labels": {"slo": "a"}}]},
        {"name": "sum-b", "rules": [{"record": "b:x:sum", "expr": "sum(a:x:rate5m)", "labels": {"slo": "b"}}]},
        {"name": "rate", "rules": [{"record": "a:x:rate5m", "expr": "rate(x_total[5m])"}]},
        {"name": "unrelated", "rules": [{"record": "z:x:sum", "expr": "sum(x_total)"}]},
    ])
    assert pool.closure([0]) == [0, 1, 2, 4]
    case = {"alert_rule_test": [{"eval_time": "5m", "alertname": "High", "exp_alerts": []}]}
    assert pool.case_roots(case) == [0]
    assert pool.case_groups(case) == [0, 1, 2, 4]
    # An expression test reading the middle of the chain needs only what lies below it.
    assert pool.case_groups({"promql_expr_test": [{"expr": "b:x:sum", "eval_time": "5m"}]}) == [2, 3, 4]


def test_alerts_are_looked_up_only_in_the_given_groups(two_slos: deps.Pool) -> None:
    case = {"alert_rule_test": [{"eval_time": "5m", "alertname": "BBurn", "exp_alerts": []}]}
    assert two_slos.case_groups(case) == [1]
    assert two_slos.case_groups(case, alert_pool=[0]) == []


def test_every_slo_group_of_the_rule_set_reads_only_itself() -> None:
    """Before the label-aware resolution every SLO group pulled in all 18 SLO groups."""
    specs = load_all_rules(TEST_CONTEXT)
    groups = [g for spec in specs.values() for g in spec["groups"]]
    pool = deps.Pool(groups)
    slo_groups = [i for i, g in enumerate(groups) if g["name"].startswith("slo-")]
    assert len(slo_groups) >= 18
    for i in slo_groups:
        assert pool.closure([i]) == [i], groups[i]["name"]


# --- soundness: a rule that could write a selected series is never left out ---

_LABELS = ("slo", "job", "env")
_VALUES = ("", "a", "b", "ab")
_PATTERNS = ("a", "b", "a|b", "a.*", ".*", ".+", "b+", "", "(a|ab)")


@st.composite
def _matchers(draw: st.DrawFn) -> list[tuple[str, str, str]]:
    out = []
    for label in draw(st.lists(st.sampled_from(_LABELS), max_size=3, unique=True)):
        op = draw(st.sampled_from(("=", "!=", "=~", "!~")))
        value = draw(st.sampled_from(_PATTERNS if "~" in op else _VALUES))
        out.append((label, op, value))
    return out


def _accepts(op: str, value: str, actual: str) -> bool:
    if op in ("=", "!="):
        return (actual == value) == (op == "=")
    return (re.fullmatch(f"(?:{value})", actual) is not None) == (op == "=~")


@given(static=st.dictionaries(st.sampled_from(_LABELS), st.sampled_from(_VALUES), max_size=3),
       data=st.dictionaries(st.sampled_from(_LABELS), st.sampled_from(_VALUES[1:]), max_size=3),
       matchers=_matchers())
def test_a_group_that_could_write_a_selected_series_is_read(static: dict[str, str], data: dict[str, str],
                                                           matchers: list[tuple[str, str, str]]) -> None:
    """Prometheus writes the expression's labels (``data``) with the rule's static labels set over
    them (an empty one removed); whenever such a series matches the selector, the group is read."""
    series = {**data, **static}
    series = {k: v for k, v in series.items() if v}
    pool = deps.Pool([{"name": "g", "rules": [{"record": "r:x:sum", "expr": "sum(x)", "labels": static}]}])
    inner = ", ".join(f'{label}{op}"{value}"' for label, op, value in matchers)
    selected = all(_accepts(op, value, series.get(label, "")) for label, op, value in matchers)
    if selected:
        assert pool.producers(f"r:x:sum{{{inner}}}") == {0}
