"""Dashboards: every seed dashboard exists in its folder, every query passes the lint, and the lint catches mistakes."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pulumi
import pulumiverse_grafana as grafana
import pytest
import yaml

from components import paths
from components.grafana.access import FOLDERS, GrafanaAccess, grafana_scope
from components.grafana.dashboards import SIDECAR_FOLDER_ANNOTATION, SIDECAR_LABEL, Dashboards
from components.rules.catalog import load_catalog
from components.settings import Settings
from components.wiring.endpoints import LOKI_UID, PROMETHEUS_UID, TEMPO_UID
from dashboards import lint
from dashboards.lint import born_counted, check_logql, check_promql, lint_dashboard, recorded_series
from dashboards.registry import build_dashboards
from tests.conftest import STACKS, RenderStack
from tooling.mock_runtime import run_program
from tooling.render import Render, render_files, stand_in_missing_secrets
from tooling.stack_config import apply_overrides, read_stack_config

ROOT = paths.REPO_ROOT

# Seed titles (used as given) -> folder of their system.
SEED_DASHBOARDS = {
    "Seamless SLA Overview": "qmtl",
    "Backfill Coordinator Health": "qmtl",
    "Conformance Quality": "qmtl",
    "QMTL DAG Manager and Gateway": "qmtl",
    "DVT Platform Health": "dvt",
    "DVT Operations": "dvt",
    "DVT Development": "dvt",
    "System Health": "copilot",
    "Queue Status": "copilot",
    "Service Metrics": "copilot",
    "MongoDB Status": "copilot",
    "Vectorstore Status": "copilot",
    "Document Processing": "copilot",
    "SLO Dashboard": "copilot",
    "Failed Queues": "copilot",
    "Resource Usage": "copilot",
    "Logs Overview": "copilot",
    "Observability Stack Health": "platform",
}
# Changing a UID breaks every bookmark and link to the dashboard: they are pinned here.
UIDS = {
    "qmtl-seamless-sla", "qmtl-backfill-coordinator", "qmtl-conformance-quality", "qmtl-dagmanager-gateway",
    "dvt-platform-health", "dvt-operations", "dvt-development",
    "copilot-system-health", "copilot-queue-status", "copilot-service-metrics", "copilot-mongodb", "copilot-vectorstore",
    "copilot-document-processing", "copilot-slo", "copilot-failed-queues", "copilot-resource-usage", "copilot-logs-overview",
    "platform-stack-health",
}


def _models(render_stack: RenderStack, stack: str) -> list[dict[str, Any]]:
    return [d.model() for d in build_dashboards(render_stack(stack).settings)]


def _recorded(render_stack: RenderStack, stack: str) -> frozenset[str]:
    files = render_stack(stack).files
    return recorded_series(yaml.safe_load(text) for path, text in sorted(files.items()) if path.startswith("rules/"))


def _panels(model: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in model["panels"]:
        yield panel
        yield from panel.get("panels", [])


def _panel(model: dict[str, Any], title: str) -> dict[str, Any]:
    return next(p for p in _panels(model) if p["title"] == title)


def _by_uid(models: list[dict[str, Any]], uid: str) -> dict[str, Any]:
    return next(m for m in models if m["uid"] == uid)


def test_every_seed_dashboard_exists_with_a_stable_uid(render_stack: RenderStack) -> None:
    built = build_dashboards(render_stack("dev").settings)
    assert {d.title: d.folder for d in built} == SEED_DASHBOARDS
    assert {d.uid for d in built} == UIDS


@pytest.mark.parametrize("stack", STACKS)
def test_every_dashboard_passes_the_lint(render_stack: RenderStack, stack: str) -> None:
    recorded = _recorded(render_stack, stack)
    files = render_stack(stack).files
    counted = born_counted([yaml.safe_load(text) for path, text in sorted(files.items()) if path.startswith("rules/")])
    assert {"dvt_statestore_write_errors_total", "seamless_conformance_flag_total", "node_process_failure_total"} <= counted
    problems = [str(p) for model in _models(render_stack, stack) for p in lint_dashboard(model, recorded=recorded, counted=counted)]
    assert problems == []


def test_the_lint_covers_every_query(render_stack: RenderStack) -> None:
    models = _models(render_stack, "prod")
    targets = [t for m in models for p in _panels(m) for t in p.get("targets", [])]
    by_source = {uid: sum(1 for t in targets if t["datasource"]["uid"] == uid) for uid in (PROMETHEUS_UID, LOKI_UID, TEMPO_UID)}
    assert by_source[PROMETHEUS_UID] > 200 and by_source[LOKI_UID] > 15 and by_source[TEMPO_UID] >= 4
    assert sum(by_source.values()) == len(targets)


def _mutate_first(model: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    mutated = copy.deepcopy(model)
    for panel in _panels(mutated):
        for target in panel.get("targets", []):
            if old in target.get("expr", ""):
                target["expr"] = target["expr"].replace(old, new)
                return mutated
    raise AssertionError(f"no target uses {old}")


def test_a_typo_in_a_metric_name_fails_the_lint(render_stack: RenderStack) -> None:
    from components.rules.all_rules import load_all_rules
    from tooling.rules.build import TEST_CONTEXT

    model = _by_uid(_models(render_stack, "dev"), "qmtl-dagmanager-gateway")
    # The World apply panels read the WorldService sums recorded by the rules.
    recorded = recorded_series(load_all_rules(TEST_CONTEXT).values())
    assert lint_dashboard(model, recorded=recorded) == []
    problems = lint_dashboard(_mutate_first(model, "diff_requests_total", "diff_requets_total"), recorded=recorded)
    assert len(problems) == 1
    assert "'diff_requets_total' is not in the metric catalog" in str(problems[0])
    assert "panel 'Diff failure rate' target A" in str(problems[0])


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('phase="total"', 'request_id="x"', "label 'request_id' is forbidden"),
        ('phase="total"', 'stage="total"', "label 'stage' is not carried by seamless_sla_deadline_seconds_bucket"),
        ("sum by (le)", "sum by (le, trace_id)", "label 'trace_id' is forbidden"),
        ("histogram_quantile(0.99,", "histogram_quantile(0.99", "PromQL does not parse"),
        ('world_id=~"$world_id"', 'world_id=~"$world"', "template variable $world is used but not defined"),
    ],
)
def test_the_lint_catches_mistakes_in_promql(render_stack: RenderStack, old: str, new: str, message: str) -> None:
    model = _by_uid(_models(render_stack, "dev"), "qmtl-seamless-sla")
    problems = [str(p) for p in lint_dashboard(_mutate_first(model, old, new), recorded={"slo:error_budget_remaining:ratio"})]
    assert any(message in p for p in problems), problems


def test_the_lint_checks_datasources_and_log_queries(render_stack: RenderStack) -> None:
    model = _by_uid(_models(render_stack, "dev"), "dvt-operations")
    recorded = {"slo:error_budget_remaining:ratio"}
    wrong_uid = copy.deepcopy(model)
    next(t for p in _panels(wrong_uid) for t in p.get("targets", []))["datasource"] = {"type": "prometheus", "uid": "promethues"}
    assert any("datasource UID 'promethues' does not exist" in str(p) for p in lint_dashboard(wrong_uid, recorded=recorded))
    logs_on_prometheus = copy.deepcopy(model)
    target = next(t for p in _panels(logs_on_prometheus) for t in p.get("targets", []) if t["datasource"]["uid"] == LOKI_UID)
    target["datasource"] = {"type": "prometheus", "uid": PROMETHEUS_UID}
    assert [str(p) for p in lint_dashboard(logs_on_prometheus, recorded=recorded)] == [
        "dvt-operations: panel 'DVT errors' target A: selector {service=\"dvt\",level=~\"ERROR|FATAL\"} names no metric; "
        "accepted: a metric name or a __name__ matcher"
    ]
    assert check_logql('{service="dvt", trace_id="abc"}') != []
    assert check_logql('{namespace="observability"}') != []  # not a stream label the pipeline writes
    assert check_logql('{service="dvt"} |= "trace_id=abc"') == []  # a line filter is fine
    assert check_logql('sum(rate(x[5m]))') != []


def test_name_regexes_must_match_the_catalog() -> None:
    catalog = load_catalog()
    assert check_promql('sum(rate({__name__=~"copilot_.+_failures_total", service="parsing"}[5m]))', catalog) == []
    assert check_promql('sum(rate({__name__=~"copilot_.+_failurez_total"}[5m]))', catalog) != []
    assert check_promql('sum by (service) ({__name__=~"copilot_.+_failures_total", queue="x"})', catalog) != []


def test_seed_panels_are_there(render_stack: RenderStack) -> None:
    models = _models(render_stack, "dev")
    sla = _by_uid(models, "qmtl-seamless-sla")
    assert _panel(sla, "Error budget remaining (30d)")["type"] == "gauge"
    assert sum(1 for p in _panels(sla) if p["type"] == "heatmap") >= 4
    assert _panel(_by_uid(models, "qmtl-conformance-quality"), "Flag Breakdown")["type"] == "table"
    for model in models:
        panels = list(_panels(model))
        # Every histogram_quantile goes over rate() of _bucket series summed by le.
        for target in (t for p in panels for t in p.get("targets", [])):
            if "histogram_quantile" in target.get("expr", ""):
                assert "_bucket" in target["expr"] and "by (le" in target["expr"] and "rate(" in target["expr"], target["expr"]
        names = {a["name"] for a in model["annotations"]["list"]}
        assert {"Alerts firing", "Rollouts", "Deployments (CI/CD)"} <= names, model["uid"]


def test_copilot_dashboards_have_the_seed_variables_and_a_loki_logs_row(render_stack: RenderStack) -> None:
    for stack in STACKS:
        for model in _models(render_stack, stack):
            if not model["uid"].startswith("copilot-"):
                continue
            variables = {v["name"]: v for v in model["templating"]["list"]}
            assert {"environment", "service"} <= set(variables), model["uid"]
            assert variables["environment"]["current"]["value"] == stack
            logs_panels = [p for p in _panels(model) if p["type"] == "logs"]
            assert logs_panels and all(p["datasource"]["uid"] == LOKI_UID for p in logs_panels), model["uid"]
            assert any("/explore?" in link["url"] for p in logs_panels for link in p.get("links", [])), model["uid"]


def test_the_stack_health_dashboard_shows_this_stacks_retention(render_stack: RenderStack) -> None:
    for stack, days in (("dev", "7d"), ("prod", "90d")):
        model = _by_uid(_models(render_stack, stack), "platform-stack-health")
        assert f"metrics {days}" in model["description"]


def _deploy(stack: str, *overrides: str) -> tuple[Settings, dict[str, str], list[Any]]:
    config = read_stack_config(stack)
    apply_overrides(config, list(overrides))
    stand_in_missing_secrets(config)  # the program refuses a stack without its receivers' credentials

    def build(settings: Settings) -> None:
        provider = grafana.Provider("grafana", url="http://grafana:3000")
        folders = {
            key: grafana.oss.Folder(f"folder-{key}", uid=uid, title=title, opts=pulumi.ResourceOptions(provider=provider))
            for key, (uid, title) in FOLDERS.items()
        }
        scope = grafana_scope(settings.stack, settings.grafana.external is not None)
        Dashboards(settings.dashboards, settings.context, scope, build_dashboards(settings), GrafanaAccess(provider, folders))

    settings, records = run_program(config.stack, config.engine_form(), config.secret_keys, build)
    return settings, render_files(records), records


def test_dashboards_are_deployed_in_the_folder_of_their_system() -> None:
    settings, files, records = _deploy("staging")
    deployed = [r for r in records if r.type == "grafana:oss/dashboard:Dashboard"]
    assert len(deployed) == len(SEED_DASHBOARDS)
    for record in deployed:
        model = json.loads(record.inputs["configJson"])
        assert record.inputs["folder"] == FOLDERS[SEED_DASHBOARDS[model["title"]]][0]
        assert record.inputs["overwrite"] is True
        assert f"dashboards/{model['uid']}.json" in files
        assert record.parent.endswith("observability:grafana:Dashboards::dashboards")
    built = {d.uid: d.model() for d in build_dashboards(settings)}
    assert {uid: json.loads(files[f"dashboards/{uid}.json"]) for uid in built} == built
    assert not any(r.type == "kubernetes:core/v1:ConfigMap" for r in records)


def test_dashboards_can_also_be_configmaps_for_a_sidecar() -> None:
    _, _, records = _deploy("dev", "dashboards.configMaps=true")
    maps = [r.inputs for r in records if r.type == "kubernetes:core/v1:ConfigMap"]
    assert len(maps) == len(SEED_DASHBOARDS)
    for inputs in maps:
        assert inputs["metadata"]["labels"][SIDECAR_LABEL] == "1"
        (name, text), = inputs["data"].items()
        model = json.loads(text)
        assert name == f"{model['uid']}.json"
        assert inputs["metadata"]["annotations"][SIDECAR_FOLDER_ANNOTATION] == FOLDERS[SEED_DASHBOARDS[model["title"]]][1]


def test_runbook_links_point_at_alerts_of_the_stack(render_stack: RenderStack) -> None:
    render = render_stack("prod")
    alerts = {
        rule["alert"]
        for path, text in render.files.items() if path.startswith("rules/")
        for group in yaml.safe_load(text)["groups"] for rule in group["rules"] if "alert" in rule
    }
    base = render.settings.rules.runbook_base_url
    linked = set()
    for model in _models(render_stack, "prod"):
        for panel in _panels(model):
            for link in panel.get("links", []):
                if link["title"].startswith("Runbook: "):
                    alert = link["title"].removeprefix("Runbook: ")
                    assert alert in alerts, (model["uid"], panel["title"], alert)
                    assert link["url"] == f"{base}/docs/runbooks/{alert}.md"
                    assert (paths.RUNBOOKS_DIR / f"{alert}.md").is_file(), alert
                    linked.add(alert)
    assert len(linked) >= 50


def test_the_render_shows_every_dashboard_in_its_folder(rendered: Render) -> None:
    placed = {
        json.loads(text)["title"]: json.loads(text)["folder"]
        for path, text in rendered.files.items() if path.startswith("grafana/dashboard-")
    }
    assert placed == {title: FOLDERS[folder][0] for title, folder in SEED_DASHBOARDS.items()}
    folders = {json.loads(text)["uid"] for path, text in rendered.files.items() if path.startswith("grafana/folder-")}
    assert set(placed.values()) <= folders
    assert {path for path in rendered.files if path.startswith("dashboards/")} == {f"dashboards/{uid}.json" for uid in UIDS}


def _write(render: Render, out: Path) -> Path:
    for relative, text in render.files.items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return out


def _lint_cli(out: Path, as_typed: bool, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of ``python -m dashboards.lint OUT``: typed into a new interpreter, or its main()
    in this process (the same code path: the module's ``__main__`` block only passes main's status to sys.exit)."""
    if as_typed:
        done = subprocess.run([sys.executable, "-m", "dashboards.lint", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=120)
        return done.returncode, done.stdout, done.stderr
    capsys.readouterr()
    code = lint.main([str(out)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_lint_cli_passes_a_render_and_fails_on_a_typo(rendered: Render, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The command as typed for one stack; the other stacks differ only in the render they read.
    as_typed = rendered.stack == STACKS[0]
    out = _write(rendered, tmp_path / "render")
    code, stdout, stderr = _lint_cli(out, as_typed, capsys)
    assert code == 0, stderr
    assert "18 dashboards, 0 problems" in stdout
    path = out / "dashboards" / "dvt-operations.json"
    path.write_text(path.read_text().replace("dvt_projection_lag_events", "dvt_projection_lag_event", 1))
    code, stdout, stderr = _lint_cli(out, as_typed, capsys)
    assert code == 1
    assert "dvt-operations: panel 'Projection lag (events)' target A: metric 'dvt_projection_lag_event' is not in the metric catalog" in stderr


def test_layout_is_valid_grafana(render_stack: RenderStack) -> None:
    for model in _models(render_stack, "dev"):
        panels = list(_panels(model))
        ids = [p["id"] for p in panels]
        assert len(ids) == len(set(ids)), model["uid"]
        cells: set[tuple[int, int]] = set()
        for panel in panels:
            grid = panel["gridPos"]
            assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, (model["uid"], panel["title"])
            covered = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"]) for y in range(grid["y"], grid["y"] + grid["h"])}
            if panel["type"] != "row" or not panel.get("collapsed"):
                assert not covered & cells, f"{model['uid']}: {panel['title']} overlaps another panel"
                cells |= covered
            if panel["type"] not in ("row", "text"):
                assert [t["refId"] for t in panel["targets"]] == [chr(ord("A") + i) for i in range(len(panel["targets"]))]


def _rendered_panel(render: Render, uid: str, title: str) -> dict[str, Any]:
    model = json.loads(render.files[f"dashboards/{uid}.json"])
    found = [p for p in _panels(model) if p.get("title") == title]
    assert len(found) == 1, (uid, title, sorted(p.get("title", "") for p in _panels(model)))
    return found[0]


def test_executive_dashboard_shows_the_runs_trend_and_plugin_errors_over_invocations(rendered: Render) -> None:
    """Seed 003 3.1: "Runs/min 250 ↑ 12%" and "Plugin Errors 0/120"."""
    change = _rendered_panel(rendered, "dvt-platform-health", "Runs / min vs previous hour")["targets"][0]["expr"]
    # Increases that count runs of a plan first seen in the window (a child born holding its first run).
    assert "offset 2h) unless on (job, instance) (up offset 2h == 0) or increase(dvt_runs_started_total" in change
    assert change.endswith("- 1")
    plugins = _rendered_panel(rendered, "dvt-platform-health", "Plugin errors / invocations (24h)")
    expr = plugins["targets"][0]["expr"]
    assert 'increase(dvt_plugin_invocations_total{status!="success"}[24h])' in expr and "or increase(dvt_plugin_invocations_total[24h])" in expr
    assert plugins["fieldConfig"]["defaults"]["unit"] == "percentunit"


def test_seamless_overview_shows_downgrades_per_minute_and_their_log_events(rendered: Render) -> None:
    """Seeds 000/001: downgrades per minute, and the seamless.domain_gate.downgrade events with dataset_fingerprint and as_of."""
    per_min = _rendered_panel(rendered, "qmtl-seamless-sla", "Downgraded responses / min")["targets"][0]["expr"]
    assert per_min.startswith("60 * (")
    events = _rendered_panel(rendered, "qmtl-seamless-sla", "Downgrade events (seamless.domain_gate.downgrade)")
    expr = events["targets"][0]["expr"]
    assert '|= "seamless.domain_gate.downgrade"' in expr and "dataset_fingerprint" in expr and "as_of" in expr
    assert events["datasource"]["uid"] == LOKI_UID
    assert check_logql(expr) == []
