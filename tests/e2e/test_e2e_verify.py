"""python -m scripts.verify against real Prometheus and Alertmanager binaries: equal, a rule file missing, a target down, drifted routes."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from scripts import verify
from tooling import render as render_module
from tooling.localstack import Component, LocalStack, free_ports, http_get, require_binaries, wait_until
from tooling.render import Render

MISSING_FILE = "rules/qmtl-seamless.yaml"


def by_name(sections: list[verify.Section]) -> dict[str, verify.Section]:
    return {s.name: s for s in sections}


def test_the_loaded_dev_stack_equals_its_render_except_the_rewritten_routes(live_stack: LocalStack, dev_render: Render) -> None:
    sections = by_name(verify.verify(dev_render.files, dev_render.settings.namespace, live_stack.prometheus_url, live_stack.alertmanager_url))
    assert sections["rules"].problems == []
    assert sections["rules"].notes[0].startswith(f"{len(verify.rendered_groups(dev_render.files))} group(s)")
    assert sections["targets"].problems == [] and sections["targets"].notes == ["3/3 active target(s) up"]
    # The synthetic load covers every catalog family of the monitored systems.
    assert sections["metrics"].problems == []
    assert {note.split()[0] for note in sections["metrics"].notes} == set(verify.monitored_systems()) >= {"qmtl-seamless", "dvt", "copilot"}
    # The local stack sends every receiver to its webhook sink and compresses group_wait: verify sees both.
    am = sections["alertmanager"].problems
    assert "config.route.group_wait: rendered 30.0, live 1.0" in am
    assert any("receiver 'null' has integrations ['webhook_configs'] live, rendered []" in p for p in am)
    assert not sections["alertmanager"].ok


def test_the_command_reports_and_exits_non_zero_on_a_difference(live_stack: LocalStack, dev_render: Render, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(render_module, "render", lambda config: dev_render)  # the cached render of the same stack
    code = verify.main(["--stack", "dev", "--prometheus-url", live_stack.prometheus_url, "--alertmanager-url", live_stack.alertmanager_url])
    out = capsys.readouterr().out
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith("ok   rules: ") and lines[1] == "ok   targets: 3/3 active target(s) up"
    assert any(line.startswith("DIFF alertmanager: ") for line in lines)
    assert lines[-1] == "stack 'dev': live differs from the render in alertmanager"


@pytest.fixture(scope="module")
def alertmanager_with_the_render(prod_render: Render, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real Alertmanager running the prod render's alertmanager.yaml as it is (credentials are *_file paths)."""
    work = tmp_path_factory.mktemp("am")
    (work / "alertmanager.yml").write_text(prod_render.files["alertmanager.yaml"])
    port = free_ports().alertmanager
    component = Component("alertmanager", [require_binaries()["alertmanager"], f"--config.file={work / 'alertmanager.yml'}",
                                           f"--storage.path={work / 'data'}", f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
                          port, work / "alertmanager.log")
    component.start()
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: http_get(f"{url}/-/ready", 2.0) is not None, 30.0, "alertmanager ready")
        yield url
    finally:
        component.stop()


def test_alertmanager_running_the_render_equals_it(alertmanager_with_the_render: str, prod_render: Render) -> None:
    status = httpx.get(f"{alertmanager_with_the_render}/api/v2/status", timeout=10).json()
    section = verify.compare_alertmanager(prod_render.files["alertmanager.yaml"], status)
    assert section.problems == [] and section.ok
    # ... and a drifted render is told apart from it: another receiver on the critical route.
    drifted = yaml.safe_load(prod_render.files["alertmanager.yaml"])
    critical = next(r for r in drifted["route"]["routes"] if r.get("matchers") == ['severity="critical"'])
    critical["receiver"] = "slack"
    section = verify.compare_alertmanager(yaml.safe_dump(drifted), status)
    assert [p for p in section.problems if "receiver" in p] == [
        f"config.route.routes[{drifted['route']['routes'].index(critical)}].receiver: rendered 'slack', live 'pagerduty'"]


@contextlib.contextmanager
def reloaded(stack: LocalStack, change: Callable[[dict[str, Any]], None]) -> Iterator[None]:
    """The live stack's Prometheus reloaded with a changed config, restored (and reloaded) afterwards.

    Reuses the session's live stack instead of starting one more: Prometheus keeps the state of
    unchanged rule groups across a reload.
    """
    path = stack.config.prometheus_config
    original = path.read_text()
    config = yaml.safe_load(original)
    change(config)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    try:
        httpx.post(f"{stack.prometheus_url}/-/reload", timeout=10).raise_for_status()
        yield
    finally:
        path.write_text(original)
        httpx.post(f"{stack.prometheus_url}/-/reload", timeout=10).raise_for_status()


def test_a_missing_rule_file_and_a_down_target(live_stack: LocalStack, dev_render: Render) -> None:
    """One rule file not loaded (as when Prometheus does not select a PrometheusRule) and one target that refuses scrapes."""
    closed = free_ports().prometheus

    def change(config: dict[str, Any]) -> None:
        config["rule_files"] = [f for f in config["rule_files"] if Path(f).name != Path(MISSING_FILE).name]
        config["scrape_configs"].append({"job_name": "seamless-coordinator", "static_configs": [{"targets": [f"127.0.0.1:{closed}"]}]})

    with reloaded(live_stack, change):
        wait_until(lambda: any(t["health"] == "down" for t in live_stack.api("/api/v1/targets")["activeTargets"]), 30.0, "the closed target scraped")
        sections = by_name(verify.verify(dev_render.files, dev_render.settings.namespace, live_stack.prometheus_url, live_stack.alertmanager_url))
    missing = [name for name, (path, _) in verify.rendered_groups(dev_render.files).items() if path == MISSING_FILE]
    assert missing
    assert sections["rules"].problems == [f"group {name} (from {MISSING_FILE}) is not loaded" for name in missing]
    assert not sections["rules"].ok
    targets = sections["targets"]
    assert not targets.ok and targets.notes == ["3/4 active target(s) up"]
    (problem,) = targets.problems
    assert problem.startswith(f"seamless-coordinator http://127.0.0.1:{closed}/metrics (job=seamless-coordinator, instance=127.0.0.1:{closed}) is down: ")
    assert "connection refused" in problem
    # Restored: the same live stack equals the render again.
    wait_until(lambda: not by_name(verify.verify(dev_render.files, "observability", live_stack.prometheus_url, live_stack.alertmanager_url))["rules"].problems,
               30.0, "the rule file loaded again")


def test_missing_metrics_warn_unless_required(live_stack: LocalStack, tmp_path: Path) -> None:
    """A catalog with one family the load emits and one nobody emits: listed as missing, failing only with --require-metrics."""
    catalog = tmp_path / "metrics.yaml"
    catalog.write_text(yaml.safe_dump({"common_labels": ["job", "instance"], "systems": {
        "qmtl-seamless": {"source": "seed 000", "metrics": {
            "backfill_completion_ratio": {"type": "gauge", "labels": ["lease_key"], "help": "emitted by the synthetic load"},
            "seamless_never_emitted_ratio": {"type": "gauge", "labels": [], "help": "emitted by nothing"}}},
        "observability-stack": {"source": "upstream metrics",
                                "metrics": {"up_never_emitted": {"type": "gauge", "labels": [], "help": "not a monitored system"}}},
    }}))
    with httpx.Client(timeout=10) as client:
        warn = verify.check_metrics(client, live_stack.prometheus_url, "hint", required=False, catalog_path=catalog)
        required = verify.check_metrics(client, live_stack.prometheus_url, "hint", required=True, catalog_path=catalog)
    assert warn.problems == required.problems == ["qmtl-seamless: seamless_never_emitted_ratio has no series"]
    assert warn.ok and not required.ok
    assert list(warn.lines()) == ["warn metrics: qmtl-seamless 1/2", "       - qmtl-seamless: seamless_never_emitted_ratio has no series"]
    assert next(required.lines()).startswith("DIFF metrics: ")


def test_unreachable_prometheus_explains_the_port_forward(dev_render: Render, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(render_module, "render", lambda config: dev_render)
    closed = f"http://127.0.0.1:{free_ports().prometheus}"
    code = verify.main(["--stack", "dev", "--prometheus-url", closed, "--alertmanager-url", closed, "--timeout", "2"])
    captured = capsys.readouterr()
    assert code == 2
    assert f"verify: cannot reach Prometheus at {closed}: ConnectError" in captured.err
    assert "pass --prometheus-url, or run: kubectl -n observability port-forward svc/prometheus-operated 9090:9090" in captured.err
    assert "Traceback" not in captured.err


def test_default_urls_print_the_port_forward_they_expect(dev_render: Render, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(render_module, "render", lambda config: dev_render)
    monkeypatch.setattr(verify, "DEFAULT_PROMETHEUS", f"http://127.0.0.1:{free_ports().prometheus}")
    code = verify.main(["--stack", "dev", "--timeout", "2"])
    out = capsys.readouterr().out
    assert code == 2
    assert "(expects: kubectl -n observability port-forward svc/prometheus-operated 9090:9090)" in out
    assert "(expects: kubectl -n observability port-forward svc/alertmanager-operated 9093:9093)" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--stack", "dev", "--prometheus-url", "prometheus:9090"], "got 'prometheus:9090'; accepted: an http(s) URL"),
        (["--stack", "dev", "--timeout", "-3"], "got '-3'; accepted: a positive number of seconds"),
        ([], "the following arguments are required: --stack"),
    ],
)
def test_bad_arguments(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        verify.main(args)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_unknown_stack_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert verify.main(["--stack", "qa"]) == 2
    assert "verify: cannot render stack 'qa'" in capsys.readouterr().err


def test_subset_comparison_finds_each_kind_of_alertmanager_drift() -> None:
    rendered = {"route": {"receiver": "a", "group_wait": "30s", "routes": [{"receiver": "b", "matchers": ['severity="critical"']}]},
                "receivers": [{"name": "a"}, {"name": "b", "pagerduty_configs": [{"routing_key_file": "/k"}]}]}
    same = {"route": {"receiver": "a", "group_wait": "30s", "continue": False, "routes": [{"receiver": "b", "matchers": ['severity="critical"']}]},
            "receivers": [{"name": "a"}, {"name": "b", "pagerduty_configs": [{"routing_key_file": "/k", "send_resolved": True}]}]}
    assert list(verify.subset_differences(rendered, same, "config")) == []
    drift = yaml.safe_load(yaml.safe_dump(same))
    drift["route"]["group_wait"] = "1m"
    drift["route"]["routes"].append({"receiver": "a"})
    drift["receivers"][1]["pagerduty_configs"][0]["routing_key_file"] = "/other"
    drift["receivers"].append({"name": "c"})
    assert list(verify.subset_differences(rendered, drift, "config")) == [
        "config.route.group_wait: rendered 30.0, live 60.0",
        "config.route.routes: rendered 1 item(s), live has 2",
        "config.receivers[b].pagerduty_configs[0].routing_key_file: rendered '/k', live '/other'",
        "config.receivers: receiver 'c' is configured live but not in the render",
    ]
