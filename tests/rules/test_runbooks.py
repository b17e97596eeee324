"""A runbook's first step is right: its first query returns the series the alert fired on, its log
searches use the stream labels Alloy attaches, its kubectl commands name a namespace (issue 23, item 5).

The first query (the first ``promql`` block under Diagnosis, placeholders filled from the firing alert's
labels and the test context) runs with Prometheus 3.5.0's engine (``tooling.rule_eval``) on every firing
case of the promtool tests (hand-written, SLO and generated), at the time the case expects the alert.
It must return a series carrying the alert's identifying labels: every label of the firing alert except
``alertname`` and the labels every rule of the alert sets to one value. Non-empty is not enough: the
first rule's query of a several-service alert returns nothing, or the wrong service, for the others.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import pytest

from components.rules.all_rules import load_all_rules
from components.rules.loader import runbook_path
from scripts import runbook_text
from scripts.new_runbooks import DOCS_CONTEXT
from tests.support.alloy_parser import parse
from tests.support.k8s_objects import find
from tooling.render import Render
from tooling.rule_eval import FiringAlert, evaluate
from tooling.rules.build import TEST_CONTEXT, build


def _alerts() -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for spec in load_all_rules(TEST_CONTEXT).values():
        for group in spec["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    out[rule["alert"]].append(rule)
    return dict(out)


ALERTS = _alerts()
STACK_SET = "observability-stack"  # the rule set of the stack's own workloads


def _wanted(name: str, labels: Mapping[str, str], used: set[str]) -> dict[str, str]:
    """The labels the first query's series must carry for one firing of ``name``: those the expression
    gave the alert (every label no rule of the alert sets) and those that tell its rules apart; a label
    the query was filled in with is matched already, and a query filled from the alert is its rule's."""
    rules = ALERTS[name]
    static = {k for r in rules for k in r["labels"]}
    telling = [] if used else runbook_text.distinguishing_labels([r["labels"] for r in rules])
    return {k: v for k, v in labels.items()
            if k != "alertname" and k not in used and (k not in static or k in telling)}


def _context_values() -> dict[str, str]:
    """Placeholder text in the docs -> the value the promtool tests are written against."""
    values = {DOCS_CONTEXT.namespace: TEST_CONTEXT.namespace, DOCS_CONTEXT.grafana_url: TEST_CONTEXT.grafana_url}
    for part, text in DOCS_CONTEXT.retention_seconds.items():
        values[str(text)] = str(TEST_CONTEXT.retention_seconds[part])
    return values


def _fill(query: str, labels: Mapping[str, str]) -> tuple[str, set[str]]:
    """The query with docs placeholders and ``<label>`` placeholders filled; the labels it was filled with."""
    for text, value in _context_values().items():
        query = query.replace(text, value)
    used: set[str] = set()

    def label(m: re.Match[str]) -> str:
        name = m.group(1)
        assert name in labels, f"placeholder <{name}> is neither a docs placeholder nor a label of the firing alert {dict(labels)}"
        used.add(name)
        return labels[name]

    return re.sub(r"<([A-Za-z_][A-Za-z0-9_]*)>", label, query), used


@pytest.fixture(scope="module")
def firings(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[dict[str, Any], str, str, list[FiringAlert]]]:
    """(rule-eval case, alert name, eval time, firing alerts) for every firing expectation of the built
    promtool tests (tooling/rules/build.py: hand-written, SLO and generated cases), run with rule-eval."""
    out = tmp_path_factory.mktemp("rules")
    _, tests = build(out)
    cases = []
    for path in tests:
        doc = json.loads(path.read_text(encoding="utf-8"))
        for test in doc["tests"]:
            for check in test.get("alert_rule_test") or []:
                if check.get("exp_alerts"):
                    case = {"rule_files": doc["rule_files"], "interval": test.get("interval", "1m"),
                            "evaluation_interval": doc.get("evaluation_interval", "1m"),
                            "input_series": test.get("input_series") or [], "eval_times": [check["eval_time"]],
                            "name": f"{path.name}: {test.get('name', '')}"}
                    cases.append((case, check["alertname"], check["eval_time"]))
    results = evaluate([c for c, _, _ in cases])
    return [(case, name, at, result.firing(at, name)) for (case, name, at), result in zip(cases, results, strict=True)]


def test_every_alert_has_a_firing_case(firings: list[tuple[dict[str, Any], str, str, list[FiringAlert]]]) -> None:
    assert [f"{c['name']}: {name}" for c, name, _, fired in firings if not fired] == []
    assert sorted(set(ALERTS) - {name for _, name, _, _ in firings}) == []


def test_every_rule_of_every_alert_has_a_firing_case(firings: list[tuple[dict[str, Any], str, str, list[FiringAlert]]]) -> None:
    """Each rule's own runbook text and its part of the first query are checked only where it fires."""
    seen: dict[str, list[dict[str, str]]] = defaultdict(list)
    for _, name, _, fired in firings:
        seen[name] += [a.labels for a in fired]
    missing = []
    for name, rules in ALERTS.items():
        keys = runbook_text.distinguishing_labels([r["labels"] for r in rules])
        for rule in rules:
            if not any(all(labels.get(k) == rule["labels"].get(k) for k in keys) for labels in seen[name]):
                missing.append(f"{name} {[rule['labels'].get(k) for k in keys]}")
    assert missing == []


def test_every_runbooks_first_query_returns_the_series_the_alert_fired_on(
        firings: list[tuple[dict[str, Any], str, str, list[FiringAlert]]]) -> None:
    first = {name: runbook_text.first_promql(runbook_path(name).read_text(encoding="utf-8")) for name in ALERTS}
    missing = sorted(name for name, q in first.items() if q is None)
    assert missing == [], f"runbooks without a promql block under Diagnosis: {missing}"
    queries: list[dict[str, Any]] = []
    expected: list[tuple[str, str, dict[str, str], set[str]]] = []
    for case, name, at, fired in firings:
        for alert in fired:
            query, used = _fill(str(first[name]), alert.labels)
            queries.append({**case, "queries": [{"expr": query, "eval_time": at}]})
            expected.append((case["name"], name, alert.labels, used))
    failures = []
    for (where, name, labels, used), result in zip(expected, evaluate(queries, allow_errors=True), strict=True):
        (answer,) = result.queries
        wanted = _wanted(name, labels, used)
        matching = [s for s, _ in answer.samples
                    if all(s.get(k) == v for k, v in wanted.items())
                    and all(labels.get(k) == v for k, v in s.items() if k != "__name__")]
        if answer.error or not matching:
            got = answer.error or [s for s, _ in answer.samples]
            failures.append(f"{name} ({where}): wanted a series with {wanted}, got {got}")
    assert {name for _, name, _, _ in expected} == set(ALERTS)
    assert failures == [], f"{len(failures)} of {len(expected)} firings:\n" + "\n".join(failures)


def test_kubectl_namespaces_read_from_the_alert_are_labels_it_carries(
        firings: list[tuple[dict[str, Any], str, str, list[FiringAlert]]]) -> None:
    """``-n <namespace>`` in a runbook is the alert's ``namespace`` label: every firing must carry it."""
    labels_seen: dict[str, list[dict[str, str]]] = defaultdict(list)
    for _, name, _, fired in firings:
        labels_seen[name] += [a.labels for a in fired]
    wrong = []
    for name in sorted(ALERTS):
        for command in runbook_text.kubectl_commands(runbook_path(name).read_text(encoding="utf-8")):
            namespace = runbook_text.namespace_of(command) or ""
            label = re.fullmatch(r"<([A-Za-z_][A-Za-z0-9_]*)>", namespace)
            if label and not all(label.group(1) in labels for labels in labels_seen[name]):
                wrong.append(f"{name}: {command}: not every firing carries {label.group(1)}")
    assert wrong == []


# --- log searches and commands -------------------------------------------------------------------


def _stream_labels_and_levels(render: Render) -> tuple[set[str], set[str]]:
    """The stream labels the rendered Alloy pipeline attaches (label_keep + loki.write external labels) and
    the values its level template can write."""
    from components.logs.alloy_config import CONFIG
    from components.wiring import endpoints

    text = find(render, "ConfigMap", f"{endpoints.ALLOY_SERVICE}-config")["data"][CONFIG.name]
    blocks = parse(text)
    (process,) = [b for b in blocks if b.name == "loki.process"]
    (write,) = [b for b in blocks if b.name == "loki.write"]
    labels = set(process.child("stage.label_keep").attributes["values"]) | set(write.attributes["external_labels"])
    template = process.child("stage.template").attributes["template"]
    known = re.search(r"if eq \$l((?: \"[A-Z]+\")+) \}\}", template)
    assert known, template
    levels = set(re.findall(r'"([A-Z]+)"', known.group(1))) | set(re.findall(r"\}\}([A-Z]+)\{\{", template))
    return labels, levels


def test_every_log_search_uses_stream_labels_and_levels_alloy_writes(rendered: Render) -> None:
    labels, levels = _stream_labels_and_levels(rendered)
    severe = runbook_text.severe_levels(levels)
    problems = []
    count = 0
    for path in sorted(runbook_path("x").parent.glob("*.md")):
        for selector in runbook_text.logql_selectors(path.read_text(encoding="utf-8")):
            count += 1
            for name, op, value in runbook_text.matchers(selector):
                if name not in labels:
                    problems.append(f"{path.name}: {selector}: {name} is not a stream label (they are {sorted(labels)})")
                if name == "level":
                    named = runbook_text.level_values(op, value, levels)
                    if not named:
                        problems.append(f"{path.name}: {selector}: level {op}{value!r} matches no level Alloy writes {sorted(levels)}")
                    elif named & severe and not severe <= named:
                        problems.append(f"{path.name}: {selector}: searches {sorted(named & severe)} but not {sorted(severe - named)}")
    assert count > 0
    assert problems == [], "\n".join(problems)


def test_every_kubectl_command_names_a_namespace() -> None:
    problems = []
    count = 0
    for path in sorted(runbook_path("x").parent.glob("*.md")):
        for command in runbook_text.kubectl_commands(path.read_text(encoding="utf-8")):
            count += 1
            if not runbook_text.names_namespace(command):
                problems.append(f"{path.name}: {command}")
    assert count > 0
    assert problems == [], "kubectl without -n/--namespace/-A:\n" + "\n".join(problems)


def test_the_stack_namespace_is_named_only_for_the_stacks_own_workloads() -> None:
    """``<stack namespace>`` is where this stack runs; a watched system's pods are elsewhere."""
    own = {r["alert"] for g in load_all_rules(TEST_CONTEXT)[STACK_SET]["groups"] for r in g["rules"] if "alert" in r}
    wrong = []
    for name in sorted(set(ALERTS) - own):
        for command in runbook_text.kubectl_commands(runbook_path(name).read_text(encoding="utf-8")):
            if runbook_text.namespace_of(command) == DOCS_CONTEXT.namespace:
                wrong.append(f"{name}: {command}")
    assert wrong == []


def test_placeholders_of_the_docs_cannot_be_read_as_alert_labels() -> None:
    for text in (DOCS_CONTEXT.namespace, *map(str, DOCS_CONTEXT.retention_seconds.values())):
        assert not re.fullmatch(r"<[A-Za-z_][A-Za-z0-9_]*>", text), text
