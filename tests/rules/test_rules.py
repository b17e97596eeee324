"""Rules: seed coverage, lint, promtool check/test on everything, coverage of tests, PrometheusRule objects."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
import yaml

from components.kit import yaml_load
from components.rules import guards, thresholds
from components.rules.all_rules import load_all_rules
from components.rules.catalog import stored_bound
from components.rules.causes import with_onsets
from components.rules.loader import (
    RULES_DIR,
    RuleContext,
    RuleFileError,
    alerts,
    load_guards,
    load_static_rules,
    recording_rules,
    runbook_path,
)
from components.rules.slo import load_slos, spec_files
from tests.support.tools import tool
from tooling.rules import deps, slo_tests
from tooling.rules.build import TEST_CONTEXT, TESTS_DIR, build, write_rules, write_tests
from tooling.rules.lint import coverage, lint


@pytest.fixture(scope="module")
def promtool() -> str:
    """The promtool of the deployed Prometheus release, built by `make tools`; its absence fails the tests, naming `make tools`."""
    return tool("promtool")

# Alert name -> (threshold name, the number the seed gives) for every alert of seeds 000, 002 and 003.
SEED_ALERTS: dict[str, tuple[str, float] | None] = {
    # seed 000
    "SeamlessSla99thDegraded": ("seamless_sla_p99_budget_seconds", 240),
    "SeamlessBackfillStuckLease": ("seamless_backfill_stuck_ratio", 0.5),
    "SeamlessConformanceFlagSpike": ("seamless_conformance_flags_per_15m", 50),
    # seed 002
    "DiffDurationHigh": ("diff_duration_p95_ms", 200),
    "DiffFailureRateHigh": ("diff_failure_ratio", 0.05),
    "DiffThroughputLow": ("diff_throughput_min_per_minute", 0.6),
    "NodeCacheMemoryHigh": ("nodecache_resident_bytes_max", 5e9),
    "QueueCreateErrors": None,
    "SentinelGap": None,
    "OrphanQueuesGrowing": None,
    "QueueLagHigh": None,  # the threshold is the metric queue_lag_threshold_seconds
    "GatewayLatencyHigh": ("gateway_e2e_latency_p95_ms", 150),
    "LostRequests": None,
    "GCSchedulerStall": ("gc_stall_seconds", 600),
    "NodeSlowProcessing": ("node_process_p95_ms", 500),
    "NodeFailures": None,
    "CrossContextCacheHit": None,
    "WorldApplyFailureDetected": None,
    "WorldApplyFailureRateHigh": ("world_apply_failure_ratio", 0.05),
    "WorldAllocationSnapshotStale": ("world_allocation_stale_ratio", 0.1),
    "ControlBusApplyAckLatencyHigh": ("controlbus_ack_latency_ms", 5000),
    # seed 003
    "ProjectionGapDetected": None,
    "StateStoreWriteFailure": None,
    "RunCompletionSLAViolation": ("dvt_run_completion_p99_seconds", 30),
    "AdapterHeartbeatLost": ("dvt_adapter_heartbeat_max_age_seconds", 60),
    "HighErrorRate": ("dvt_error_ratio", 0.05),
    "ProjectionLag": ("dvt_projection_lag_events", 100),
    "DeferredSignalsQueueBuildup": ("dvt_deferred_signals_max", 1000),
    "PluginRejectRate": ("dvt_plugin_reject_ratio", 0.01),
}
# Alerts whose seed number falls between two bucket bounds measure at a bound instead (its threshold entry);
# tests/rules/test_quantile_thresholds.py checks that bound against the seed number and the catalog.
MEASURED_AT_BOUND = {"SeamlessSla99thDegraded": "seamless_sla_p99_approach_measured_seconds"}
# P1 pages: critical, or emergency where seed 004's "data loss risk" applies (events not persisted; issue 23).
DVT_SEVERITY = {"ProjectionGapDetected": "critical", "StateStoreWriteFailure": "emergency",
                "RunCompletionSLAViolation": "critical", "AdapterHeartbeatLost": "critical",
                "HighErrorRate": "warning", "ProjectionLag": "warning", "DeferredSignalsQueueBuildup": "warning",
                "PluginRejectRate": "warning"}


@pytest.fixture(scope="module")
def specs() -> dict[str, dict[str, Any]]:
    return load_all_rules(TEST_CONTEXT)


def _by_alert(specs: dict[str, dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for rule in alerts(specs):
        out.setdefault(rule["alert"], []).append(rule)
    return out


def test_every_seed_alert_is_present_with_the_seed_threshold(specs) -> None:
    by_alert = _by_alert(specs)
    for name, expected in SEED_ALERTS.items():
        assert name in by_alert, f"seed alert {name} is missing"
        if expected is None:
            continue
        key, number = expected
        assert thresholds.threshold(key) == number, name
        literal = thresholds.format_number(number)
        if name in MEASURED_AT_BOUND:
            literal = f'le="{stored_bound(thresholds.threshold(MEASURED_AT_BOUND[name]))}"'
        assert any(literal in r["expr"] for r in by_alert[name]), f"{name} does not use {literal}: {by_alert[name][0]['expr']}"


def test_dvt_priorities_map_to_severities(specs) -> None:
    by_alert = _by_alert(specs)
    for name, severity in DVT_SEVERITY.items():
        assert {r["labels"]["severity"] for r in by_alert[name]} == {severity}, name


def test_copilot_tables_and_storage_alert_are_covered(specs) -> None:
    by_alert = _by_alert(specs)
    assert {r["labels"]["service"] for r in by_alert["CopilotLatencyHigh"]} == {
        "ingestion", "parsing", "chunking", "embedding", "summarization", "reporting"}
    assert len(by_alert["CopilotErrorRateHigh"]) == 7
    assert {r["labels"]["service"] for r in by_alert["CopilotQueueLagHigh"]} == {"parsing", "chunking", "embedding", "summarization"}
    assert {r["labels"]["service"] for r in by_alert["CopilotThroughputLow"]} == {"parsing", "chunking", "embedding"}
    assert {r["labels"]["service"] for r in by_alert["CopilotDependencyDown"]} == {"mongodb", "rabbitmq", "qdrant", "ollama"}
    assert "prometheus_tsdb_storage_blocks_bytes / prometheus_tsdb_retention_limit_bytes > 0.9" in (
        by_alert["PrometheusStorageAlmostFull"][0]["expr"])


def test_stack_self_health_alerts_exist(specs) -> None:
    by_alert = _by_alert(specs)
    wanted = {"StackComponentDown": "probe_success", "ScrapeTargetDown": "up",
              "PrometheusRuleEvaluationFailures": "prometheus_rule_evaluation_failures_total",
              "AlertmanagerNotificationsFailing": "alertmanager_notifications_failed_total",
              "LokiIngestionErrors": "loki_discarded_samples_total", "TempoIngestionErrors": "tempo_receiver_refused_spans",
              "StackVolumeFillsBeforeRetention": "predict_linear(kubelet_volume_stats_available_bytes"}
    for name, fragment in wanted.items():
        assert any(fragment in r["expr"] for r in by_alert[name]), name


def test_every_seed_slo_generates_page_and_ticket_alerts(specs) -> None:
    slo_alerts = [r for r in alerts(specs) if "slo" in r["labels"] and r["alert"].endswith("ErrorBudgetBurn")]
    slos = {r["labels"]["slo"] for r in slo_alerts}
    assert {"dvt-run-completion-latency", "dvt-pause-latency", "dvt-availability", "dvt-error-rate",
            "seamless-sla-budget", "copilot-ingestion-errors", "copilot-reporting-latency"} <= slos
    for slo in slos:
        sevs = sorted(r["labels"]["severity"] for r in slo_alerts if r["labels"]["slo"] == slo)
        assert sevs == ["critical", "warning"], slo
    page = next(r for r in slo_alerts if r["labels"]["slo"] == "dvt-error-rate" and r["labels"]["severity"] == "critical")
    assert "ratio_rate1h" in page["expr"] and "ratio_rate5m" in page["expr"] and "(14.4 * 0.001)" in page["expr"]
    assert "ratio_rate6h" in page["expr"] and "ratio_rate30m" in page["expr"] and "(6 * 0.001)" in page["expr"]
    records = {(r["record"], r["labels"]["slo"]) for r in recording_rules(specs) if "slo" in (r.get("labels") or {})}
    assert ("slo:error_budget_remaining:ratio", "dvt-error-rate") in records
    # Seed 003 7.2: 50% of the budget consumed before 50% of the period elapsed.
    half = {r["labels"]["slo"]: r for r in alerts(specs) if r["alert"].endswith("ErrorBudgetHalfSpent")}
    assert set(half) == {"dvt-run-completion-latency", "dvt-pause-latency", "dvt-availability", "dvt-error-rate"}
    assert half["dvt-error-rate"]["expr"] == 'slo:sli_error:ratio_rate15d{slo="dvt-error-rate"} > 0.001'
    assert ("slo:sli_error:ratio_rate15d", "dvt-error-rate") in records


def test_lint_is_clean(specs) -> None:
    assert lint(specs, base_url=TEST_CONTEXT.runbook_base_url) == []


def test_every_runbook_link_resolves_to_a_file(specs) -> None:
    for rule in alerts(specs):
        url = rule["annotations"]["runbook_url"]
        assert url == f"{TEST_CONTEXT.runbook_base_url}/docs/runbooks/{rule['alert']}.md"
        assert runbook_path(rule["alert"]).is_file(), url


def test_seed_runbooks_are_written_out() -> None:
    cache = runbook_path("CrossContextCacheHit").read_text()
    for step in ("Acknowledge the alert", "Freeze promotions", "Trace the offending context",
                 "Purge the polluted cache", "Reset the counter", "at least 10 minutes"):
        assert step in cache
    sla = runbook_path("SeamlessSla99thDegraded").read_text()
    for step in ("Seamless SLA Overview", "Backfill Coordinator Health", "lease_recover.py", "seamless.pipeline",
                 "postmortem tracker"):
        assert step in sla


# --- lint must fail on broken rules (on copies; the repository is not edited) ---


def _copy_rules(tmp_path: Path) -> Path:
    dst = tmp_path / "rules"
    shutil.copytree(RULES_DIR, dst)
    return dst


def _lint_modified(tmp_path: Path, file: str, old: str, new: str) -> list[str]:
    rules = _copy_rules(tmp_path)
    text = (rules / file).read_text()
    assert old in text
    (rules / file).write_text(text.replace(old, new, 1))
    return lint(load_static_rules(TEST_CONTEXT, rules))


def test_typo_in_a_metric_name_fails_the_lint(tmp_path: Path) -> None:
    problems = _lint_modified(tmp_path, "dvt.yaml", "dvt_deferred_signals_queue_length", "dvt_deferred_signal_queue_length")
    assert any("'dvt_deferred_signal_queue_length' is not in the metric catalog" in p for p in problems), problems


def test_typo_in_a_label_fails_the_lint(tmp_path: Path) -> None:
    problems = _lint_modified(tmp_path, "qmtl-core.yaml", "sum by (node_id, le) (rate(node_process_duration_ms_bucket",
                              "sum by (nodeid, le) (rate(node_process_duration_ms_bucket")
    assert any("label 'nodeid'" in p for p in problems), problems


def test_forbidden_label_fails_the_lint(tmp_path: Path) -> None:
    problems = _lint_modified(tmp_path, "dvt.yaml", 'dvt_adapter_last_heartbeat_seconds{adapter="temporal"}',
                              'dvt_adapter_last_heartbeat_seconds{adapter="temporal", trace_id!=""}')
    assert any("forbidden high-cardinality label 'trace_id'" in p for p in problems), problems


def test_the_seeds_invalid_histogram_quantile_fails_the_lint(tmp_path: Path) -> None:
    problems = _lint_modified(
        tmp_path, "dvt.yaml",
        "histogram_quantile(0.99, sum by (le) (rate(dvt_run_completion_duration_seconds_bucket[5m])))",
        "histogram_quantile(0.99, dvt_run_completion_duration_seconds)")
    assert any("histogram_quantile must run over rate(<histogram>_bucket" in p for p in problems), problems


def test_dropping_le_before_histogram_quantile_fails_the_lint(tmp_path: Path) -> None:
    problems = _lint_modified(tmp_path, "qmtl-core.yaml", "sum by (node_id, le) (rate(node_process_duration_ms_bucket",
                              "sum by (node_id) (rate(node_process_duration_ms_bucket")
    assert any("aggregates away the le label" in p for p in problems), problems


@pytest.mark.parametrize(("old", "new", "message"), [
    ("severity: warning\n          service: dvt", "severity: P2\n          service: dvt", "labels.severity is 'P2'"),
    ("summary: DVT holds more than {{threshold_text:dvt_deferred_signals_max}} in its deferred queue.", "summary: Signals deferred. Check it.",
     "one plain sentence"),
    ("Impact: PAUSE, RESUME", "PAUSE, RESUME", "contain 'Impact:' and 'Actions:'"),
    ("alert: ProjectionLag\n", "alert: ProjectionLagRenamed\n", "runbook docs/runbooks/ProjectionLagRenamed.md does not exist"),
])
def test_alert_conventions_are_enforced(tmp_path: Path, old: str, new: str, message: str) -> None:
    problems = _lint_modified(tmp_path, "dvt.yaml", old, new)
    assert any(message in p for p in problems), problems


def test_unknown_threshold_names_the_file(tmp_path: Path) -> None:
    rules = _copy_rules(tmp_path)
    path = rules / "dvt.yaml"
    path.write_text(path.read_text().replace("{{threshold:dvt_projection_lag_events}}", "{{threshold:dvt_projection_lag}}"))
    with pytest.raises(RuleFileError, match=r"dvt\.yaml.*no threshold named 'dvt_projection_lag'"):
        load_static_rules(TEST_CONTEXT, rules)


def test_unknown_retention_names_the_accepted_components() -> None:
    ctx = RuleContext(namespace="x", runbook_base_url="https://x", retention_seconds={"prometheus": 1})
    with pytest.raises(RuleFileError, match=r"no retention known for 'loki'; accepted: one of \['prometheus'\]"):
        load_static_rules(ctx)


def test_threshold_api() -> None:
    assert thresholds.threshold("dvt_projection_lag_events") == 100.0
    assert thresholds.format_percent(thresholds.threshold("diff_failure_ratio")) == "5%"
    assert thresholds.format_percent(0.001) == "0.1%"
    assert isinstance(thresholds.threshold("diff_failure_ratio"), float)
    with pytest.raises(thresholds.ThresholdError, match="no threshold named 'nope'"):
        thresholds.threshold("nope")


# --- promtool on everything ---


def test_promtool_check_rules_on_every_rendered_stack(promtool: str, rendered, tmp_path: Path) -> None:
    files = {p: t for p, t in rendered.files.items() if p.startswith("rules/")}
    assert {"rules/dvt.yaml", "rules/qmtl-core.yaml", "rules/slo-dvt.yaml", "rules/observability-stack.yaml"} <= set(files)
    paths = []
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        paths.append(str(path))
    result = subprocess.run([promtool, "check", "rules", *paths], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One build of the rules and their tests (``rules/``, ``tests/``); copy before editing."""
    out = tmp_path_factory.mktemp("promtool")
    build(out, for_tests=True)
    return out


@pytest.fixture(scope="module")
def built_tests(built: Path) -> list[Path]:
    return sorted((built / "tests").glob("*.test.yaml"))


def test_promtool_unit_tests_pass_for_every_rule(promtool: str, built_tests: list[Path]) -> None:
    """The hand-written and SLO cases, in one promtool run."""
    tests = [str(p) for p in built_tests if not p.name.startswith("guards-")]
    result = subprocess.run([promtool, "test", "rules", *tests], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_generated_failure_mode_cases_pass(promtool: str, built_tests: list[Path]) -> None:
    """The generated vanish / churn / born-non-zero cases, in one promtool run (its own test, so a parallel run spreads the two)."""
    tests = [str(p) for p in built_tests if p.name.startswith("guards-")]
    assert len(tests) > 20
    result = subprocess.run([promtool, "test", "rules", *tests], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


# --- each case loads only the rule groups it reads (issue 17) ---


def _source_cases(specs: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Every case as its source writes it: the hand-written files, the SLO and the failure-mode generators."""
    docs = [yaml.safe_load(p.read_text()) for p in sorted(TESTS_DIR.glob("*.yaml"))]
    docs += [slo_tests.test_file(load_slos(p), "unused") for p in spec_files()]
    generated = guards.guard_tests(specs, docs, load_guards())
    return [c for d in docs for c in d["tests"]] + [c for cases in generated.values() for c in cases]


def test_every_case_is_built_once_and_unchanged(specs, built_tests: list[Path]) -> None:
    want = Counter(json.dumps(c, sort_keys=True) for c in _source_cases(specs))
    got = Counter(json.dumps(c, sort_keys=True) for p in built_tests for c in yaml_load.safe_load(p.read_text())["tests"])
    assert len(want) > 250 and got == want


def test_no_test_file_loads_the_groups_of_two_slos(built_tests: list[Path]) -> None:
    """Every SLO group records the same series names under its own ``slo`` label: a case about one
    SLO loads that SLO's group only (a name-only resolution loaded all 18 for every SLO case)."""
    slo_files = 0
    for path in built_tests:
        files = yaml_load.safe_load(path.read_text())["rule_files"]
        loaded = [g["name"] for f in files for g in yaml_load.safe_load(Path(f).read_text())["groups"]]
        assert len([g for g in loaded if g.startswith("slo-")]) <= 1, (path.name, loaded)
        slo_files += any(g.startswith("slo-") for g in loaded)
    assert slo_files >= 18


def _asserted_reads(doc: dict[str, Any], pool: deps.Pool) -> set[int]:
    """The loaded groups the positive assertions of a test file read through: the groups recording
    what its firing alerts' rules and its expected samples' expressions read, transitively."""
    firing = {t["alertname"] for case in doc["tests"] for t in case.get("alert_rule_test") or [] if t.get("exp_alerts")}
    exprs = [str(r["expr"]) for g in pool.groups for r in g["rules"] if r.get("alert") in firing]
    exprs += [str(t["expr"]) for case in doc["tests"] for t in case.get("promql_expr_test") or [] if t.get("exp_samples")]
    return set(pool.closure(set().union(*(pool.producers(e) for e in exprs))))


def test_a_case_fails_without_a_group_it_reads(promtool: str, built_tests: list[Path], tmp_path: Path) -> None:
    """Besides the groups holding its alerts, a file loads the groups recording what they read: leave
    out one that a firing alert or an expected sample reads through, and the file fails."""
    variants = []
    for path in built_tests:
        doc = json.loads(path.read_text())
        groups = [json.loads(Path(f).read_text())["groups"][0] for f in doc["rule_files"]]
        pool = deps.Pool(groups)
        roots = {i for case in doc["tests"] for i in pool.case_roots(case)}
        for i in sorted(_asserted_reads(doc, pool) - roots):
            variant = tmp_path / f"{path.name.removesuffix('.test.yaml')}--without-{groups[i]['name']}.test.yaml"
            variant.write_text(json.dumps({**doc, "rule_files": [f for j, f in enumerate(doc["rule_files"]) if j != i]}))
            variants.append(variant)
    names = {v.name.rsplit("--without-", 1)[1] for v in variants}
    assert len(variants) >= 4 and {"dvt-records.test.yaml", "qmtl-worldservice-records.test.yaml",
                                   "copilot-queue-age.test.yaml"} <= names, names
    # Per-file results from promtool's JUnit report: promtool 3.5.0 prints no "Unit Testing: <file>" line (2.42 did),
    # only SUCCESS on stdout or FAILED on stderr per file; the report (--junit, prometheus/prometheus#14506, in
    # 2.55.0) has one testsuite per file, named by its path, with its failure and error counts.
    report = tmp_path / "junit.xml"
    result = subprocess.run([promtool, "test", "rules", f"--junit={report}", *map(str, variants)], capture_output=True, text=True, check=False)
    suites = {suite.get("name"): suite for suite in ElementTree.parse(report).getroot().iter("testsuite")}
    passed = [name for name, suite in suites.items() if int(suite.get("failures", "0")) + int(suite.get("errors", "0")) == 0]
    assert set(suites) == set(map(str, variants)) and passed == [], result.stdout + result.stderr


def test_promtool_unit_tests_catch_a_changed_threshold(promtool: str, tmp_path: Path) -> None:
    """The tests pin the seed numbers: a rule whose threshold moved fails them."""
    specs = load_all_rules(TEST_CONTEXT)
    rule = next(r for r in alerts(specs) if r["alert"] == "ProjectionLag")
    rule["expr"] = rule["expr"].replace("> 100", "> 200")
    write_rules(tmp_path / "rules", specs, for_tests=True)
    tests = write_tests(tmp_path / "tests", tmp_path / "rules")
    dvt = [str(t) for t in tests if t.name.startswith("dvt--")]
    assert len(dvt) > 1
    result = subprocess.run([promtool, "test", "rules", *dvt], capture_output=True, text=True, check=False)
    assert result.returncode != 0 and "ProjectionLag" in result.stdout + result.stderr


def _test_docs(tests_dir: Path) -> list[dict[str, Any]]:
    return [yaml.safe_load(p.read_text()) for p in sorted(tests_dir.glob("*.yaml"))]


@pytest.fixture(scope="module")
def built_docs(built: Path) -> list[dict[str, Any]]:
    """The test documents of one build (hand-written, SLO and generated cases); copy before editing."""
    return _test_docs(built / "tests")


def test_every_alert_and_recording_rule_has_promtool_cases(specs, built_docs) -> None:
    assert coverage(specs, built_docs) == []


def test_coverage_fails_when_an_alerts_tests_are_missing(specs, built_docs) -> None:
    docs = copy.deepcopy(built_docs)
    for doc in docs:
        doc["tests"] = [t for t in doc["tests"] if "ProjectionLag fires" not in t.get("name", "")]
    problems = coverage(specs, docs)
    assert problems == ["alert ProjectionLag has no promtool case where it fires (exp_alerts non-empty)",
                        "alert ProjectionLag has no promtool case where it stays silent (exp_alerts: [])"]


def test_coverage_fails_when_a_test_file_is_missing(specs, built: Path, tmp_path: Path) -> None:
    shutil.copytree(built / "tests", tmp_path / "tests")
    seamless = list((tmp_path / "tests").glob("qmtl-seamless--*.test.yaml"))
    assert seamless
    for path in seamless:
        path.unlink()
    problems = coverage(specs, _test_docs(tmp_path / "tests"))
    assert "alert SeamlessBackfillStuckLease has no promtool case where it fires (exp_alerts non-empty)" in problems


# --- the deployed objects ---


def test_prometheusrule_objects_carry_the_stack_selector(rendered) -> None:
    rules = [m for m in rendered.manifests() if m["kind"] == "PrometheusRule"]
    # Every rule set, and the causes' onset companions (components/rules/causes.py with_onsets).
    assert {m["metadata"]["name"] for m in rules} == set(with_onsets(load_all_rules(TEST_CONTEXT)))
    for m in rules:
        assert m["apiVersion"] == "monitoring.coreos.com/v1"
        assert m["metadata"]["namespace"] == rendered.settings.namespace
        assert m["metadata"]["labels"]["observability.stack/instance"] == rendered.settings.stack


def test_rendered_rules_use_the_stacks_retention_and_runbook_base(rendered) -> None:
    from components.settings.units import duration_seconds

    stack = yaml.safe_load(rendered.files["rules/observability-stack.yaml"])
    volume = [r for g in stack["groups"] for r in g["rules"] if r.get("alert") == "StackVolumeFillsBeforeRetention"]
    horizon = str(int(duration_seconds(rendered.settings.prometheus.retention)))
    assert any(f"[6h], {horizon})" in r["expr"] and r["labels"]["service"] == "prometheus" for r in volume)
    base = rendered.settings.rules.runbook_base_url
    assert all(r["annotations"]["runbook_url"].startswith(base) for r in volume)


def test_generated_runbooks_match_the_rules() -> None:
    """A changed rule or threshold must not leave a stale number in a generated runbook."""
    from scripts.new_runbooks import generated_runbooks, is_generated

    expected = generated_runbooks()
    stale = [p.name for p, text in expected.items() if is_generated(p) and p.read_text() != text]
    assert stale == [], "run: python -m scripts.new_runbooks --refresh"
    hand_written = sorted(p.stem for p in expected if not is_generated(p))
    assert hand_written == ["CrossContextCacheHit", "MetricsSourceAbsent", "SeamlessBackfillStuckLease",
                            "SeamlessConformanceFlagSpike", "SeamlessSla99thDegraded"]


def test_hand_written_runbooks_quote_the_current_thresholds() -> None:
    th, num, pct = thresholds.threshold, thresholds.format_number, thresholds.format_percent
    quotes = {
        "SeamlessSla99thDegraded": f"approaching the {num(th('seamless_sla_p99_budget_seconds'))}s SLA budget",
        "SeamlessBackfillStuckLease": f"is below {pct(th('seamless_backfill_stuck_ratio'))} and has not moved for 15 minutes",
        "SeamlessConformanceFlagSpike": f"More than {num(th('seamless_conformance_flags_per_15m'))} conformance flags",
    }
    for alert, quote in quotes.items():
        assert quote in " ".join(runbook_path(alert).read_text().split()), alert


# --- failure modes: a source that vanishes, per-run churn, children born non-zero (issue 14) ---


def _lint_expr(expr: str) -> list[str]:
    spec = {"t": {"groups": [{"name": "g", "rules": [{"record": "t:x:y", "expr": expr}]}]}}
    return lint(spec)


@pytest.mark.parametrize("expr", [
    "sum by (world_id) (increase(world_apply_failure_total[5m]))",
    "sum by (world_id) (rate(world_apply_run_total[15m]))",
    'histogram_quantile(0.95, sum by (world_id, le) (rate(controlbus_apply_ack_latency_ms_bucket{phase="freeze"}[5m])))',
])
def test_rate_over_a_per_run_series_fails_the_lint(expr: str) -> None:
    assert any("over a per-run series: label(s) ['run_id']" in p for p in _lint_expr(expr)), _lint_expr(expr)


@pytest.mark.parametrize("expr", [
    "increase(sum without (run_id) (world_apply_failure_total)[5m:1m])",
    "rate(instance_world:world_apply_failures:sum[5m])",
])
def test_rate_after_the_run_label_is_aggregated_away_passes(expr: str) -> None:
    spec = {"t": {"groups": [{"name": "g", "rules": [
        {"record": "instance_world:world_apply_failures:sum", "expr": "sum without (run_id, stage) (world_apply_failure_total)"},
        {"record": "t:x:y", "expr": expr}]}]}}
    assert [p for p in lint(spec) if "per-run" in p] == []


def test_le_outside_the_catalog_buckets_fails_the_lint() -> None:
    problems = _lint_expr('sum(rate(dvt_signal_processing_duration_ms_bucket{le="1500"}[5m]))')
    assert any("has no bucket le '1500'" in p and "'1000'" in p for p in problems), problems
    assert _lint_expr('sum(rate(dvt_signal_processing_duration_ms_bucket{le=~"1000(\\\\.0+)?"}[5m]))') == []


@pytest.mark.parametrize("matcher", ['le="1000"', 'le=~"1000"', 'le=~"1000|2500"'])
def test_le_spelled_as_a_client_exposes_it_fails_the_lint(matcher: str) -> None:
    """Prometheus 3 stores a scraped bucket's le normalised (prometheus/prometheus#15164): bucket 1000 is
    le="1000.0" whether the client wrote "1000" or "1000.0". On Prometheus 2.42 le="1000" matched Go clients'
    series and the lint accepted it; on the deployed 3.5.0 it matches nothing, so the lint names the text to write."""
    problems = _lint_expr(f"sum(rate(dvt_signal_processing_duration_ms_bucket{{{matcher}}}[5m]))")
    assert any("matches no series on Prometheus 3" in p and "1000.0" in p for p in problems), problems
    assert _lint_expr('sum(rate(dvt_signal_processing_duration_ms_bucket{le="1000.0"}[5m]))') == []


_FLOAT_LABEL = re.compile(r'\b(le|quantile)="([^"]*)"')


def test_test_series_carry_le_and_quantile_as_prometheus_stores_them(built_tests: list[Path]) -> None:
    """promtool takes input series as written, but the deployed Prometheus 3 normalises a scraped le or quantile
    on ingestion (prometheus/prometheus#15164): le="1" is stored as "1.0". Test data in another spelling would let
    a rule that matches le="1" pass its tests and match nothing in the cluster, so every series of every built
    test (hand-written, SLO and generated) spells them as stored (catalog.stored_bound)."""
    checked, wrong = 0, []
    for path in built_tests:
        for case in yaml_load.safe_load(path.read_text())["tests"]:
            texts = [s["series"] for s in case.get("input_series") or []]
            texts += [s["labels"] for t in case.get("promql_expr_test") or [] for s in t.get("exp_samples") or [] if s.get("labels")]
            for text in texts:
                for label, value in _FLOAT_LABEL.findall(text):
                    checked += 1
                    if value != stored_bound(float(value)):
                        wrong.append(f"{path.name}: {case.get('name')}: {label}={value!r}, stored as {stored_bound(float(value))!r}")
    assert checked > 100 and wrong == [], wrong


def test_every_alert_is_guarded_by_a_companion_or_itself(specs) -> None:
    from components.rules.guards import COMPANION, jobs_by_alert

    companions = {r["labels"]["service"] for r in alerts(specs) if r["alert"] == COMPANION}
    jobs = jobs_by_alert(specs)
    for rule in alerts(specs):
        # The Watchdog reads no series: nothing can vanish under it (guard: {vanish: self}).
        if rule["alert"] not in (COMPANION, "Watchdog"):
            assert jobs[id(rule)] and jobs[id(rule)] <= companions, rule["alert"]
    # The P1 heartbeat's source job pages as the heartbeat alert does.
    dvt = next(r for r in alerts(specs) if r["alert"] == COMPANION and r["labels"]["service"] == "dvt-engine")
    assert dvt["labels"]["severity"] == "critical"


@pytest.mark.parametrize(("kind", "alert", "drop"), [
    ("vanish", "ProjectionLag", "vanish: ProjectionLag"),
    ("churn", "WorldApplyFailureRateHigh", "churn: WorldApplyFailureRateHigh"),
    ("born-non-zero", "NodeFailures", "born-non-zero: NodeFailures"),
])
def test_coverage_requires_the_generated_failure_mode_cases(specs, built_docs, kind: str, alert: str, drop: str) -> None:
    docs = copy.deepcopy(built_docs)
    for doc in docs:
        doc["tests"] = [t for t in doc["tests"] if not t.get("name", "").startswith(drop)]
    assert coverage(specs, docs) == [f"alert {alert} has no generated {kind} case that asserts a firing alert"]


# The expressions of these alerts before issue 14: each one goes silent in a failure the generated
# cases produce, so those cases must fail on them.
OLD_EXPRESSIONS = {
    "AdapterHeartbeatLost": ('(time() - max by (adapter) (dvt_adapter_last_heartbeat_seconds{adapter="temporal"})) > 60',
                             "vanish: AdapterHeartbeatLost"),
    "NodeFailures": ("sum by (node_id) (increase(node_process_failure_total[5m])) > 0", "born-non-zero: NodeFailures"),
    "WorldApplyFailureDetected": ("sum by (world_id) (increase(world_apply_failure_total[5m])) > 0",
                                  "churn: WorldApplyFailureDetected"),
    "WorldApplyFailureRateHigh": ("sum by (world_id) (rate(world_apply_failure_total[15m])) / "
                                  "sum by (world_id) (rate(world_apply_run_total[15m])) > 0.05",
                                  "churn: WorldApplyFailureRateHigh"),
    "ControlBusApplyAckLatencyHigh": ('histogram_quantile(0.95, sum by (world_id, le) '
                                      '(rate(controlbus_apply_ack_latency_ms_bucket{phase="freeze"}[5m]))) > 5000',
                                      "churn: ControlBusApplyAckLatencyHigh"),
    "GCSchedulerStall": ("time() - max(gc_last_run_timestamp) > 600", "vanish: GCSchedulerStall"),
    # Issue 23: the generated case bore the child at its first increment (5 flags, then +5 a minute), so plain
    # increase() still saw more than 50; born late holding 95 it sees one minute's worth.
    "SeamlessConformanceFlagSpike": ("sum(increase(seamless_conformance_flag_total[15m])) > 50",
                                     "born-non-zero: SeamlessConformanceFlagSpike"),
}


def test_generated_cases_fail_on_the_old_expressions(promtool: str, tmp_path: Path) -> None:
    specs = load_all_rules(TEST_CONTEXT)
    for rule in alerts(specs):
        if rule["alert"] in OLD_EXPRESSIONS:
            rule["expr"] = OLD_EXPRESSIONS[rule["alert"]][0]
    mongodb = next(r for r in alerts(specs) if r["labels"]["service"] == "mongodb")
    mongodb["expr"] = "max(mongodb_up) == 0"
    write_rules(tmp_path / "rules", specs, for_tests=True)
    groups = ("qmtl-core--qmtl-", "dvt--dvt-p1", "copilot--copilot-availability", "qmtl-seamless--qmtl-seamless")
    tests = [p for p in write_tests(tmp_path / "tests", tmp_path / "rules", specs=specs)
             if p.name.startswith("guards-") and any(g in p.name for g in groups)]
    result = subprocess.run([promtool, "test", "rules", *map(str, tests)], capture_output=True, text=True, check=False)
    out = result.stdout + result.stderr
    assert result.returncode != 0
    failed = {line.split("name: ", 1)[1].split(" (")[0].split(":")[0] + ": " + line.split("name: ", 1)[1].split(": ")[1].split(" ")[0]
              for line in out.splitlines() if "name: " in line}
    for alert, (_, case) in OLD_EXPRESSIONS.items():
        assert case in failed, (alert, sorted(failed))
    assert "vanish: CopilotDependencyDown" in failed


def test_every_alert_names_its_component_and_links_a_dashboard_the_stack_deploys(rendered) -> None:
    """Seed 004 alert template: labels.component and a dashboard link on every alert."""
    uids = {path.removeprefix("dashboards/").removesuffix(".json") for path in rendered.files if path.startswith("dashboards/")}
    base = rendered.files["rules/dvt.yaml"]
    assert "dashboard_url" in base
    for path, text in rendered.files.items():
        if not path.startswith("rules/"):
            continue
        for group in yaml.safe_load(text)["groups"]:
            for rule in group["rules"]:
                if "alert" not in rule:
                    continue
                assert rule["labels"].get("component"), (path, rule["alert"])
                url = rule["annotations"]["dashboard_url"]
                assert url.rsplit("/d/", 1)[1] in uids, (rule["alert"], url, sorted(uids))


def test_seed_004_core_runbooks_each_have_their_alert(specs) -> None:
    by_alert = _by_alert(specs)
    for alert in ("DatabaseConnectionFailures", "MemoryExhaustion", "DiskSpaceLow", "FailedQueueGrowing"):
        assert alert in by_alert and runbook_path(alert).is_file(), alert


def test_a_missing_dashboard_fails_with_the_rule_and_the_accepted_form(tmp_path: Path) -> None:
    rules = _copy_rules(tmp_path)
    path = rules / "dvt.yaml"
    path.write_text(path.read_text().replace("  dashboard: dvt-operations\n", "\n", 1))
    with pytest.raises(RuleFileError, match=r"dvt\.yaml: groups\[1\]\.rules\[0\]\.annotations\.dashboard: got None; accepted: the uid"):
        load_static_rules(TEST_CONTEXT, rules)
