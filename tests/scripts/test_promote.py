"""The promotion tool: config drift, refusals, and the deploy seam.

Stack files are written to a temporary root; settings validation and the
offline render are the real ones. Only the Pulumi CLI (Automation API) and the
nested test-suite run are replaced, by recorders.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts import promote
from scripts.promote import AutomationDeployer, Promotion, PromotionRefusedError, compare, main
from tooling.stack_config import StackConfig, read_stack_config, stack_file


def write_stack(root: Path, stack: str, **config: Any) -> None:
    """Set config keys in a stack file, keeping what it already sets."""
    path = root / f"Pulumi.{stack}.yaml"
    document = yaml.safe_load(path.read_text()) if path.exists() else {"config": {"observability:environment": stack}}
    document["config"].update(config)
    path.write_text(yaml.safe_dump(document))


def add_secrets(root: Path, stack: str, *keys: str) -> None:
    """Encrypted values as `pulumi config set --secret` writes them (never decrypted here)."""
    path = root / f"Pulumi.{stack}.yaml"
    document = yaml.safe_load(path.read_text())
    for key in keys:
        document["config"][f"observability:{key}"] = {"secure": "v1:placeholder"}
    path.write_text(yaml.safe_dump(document))


@pytest.fixture
def committed(tmp_path: Path) -> Path:
    """The committed stack files as they are (no secrets set)."""
    for stack in ("dev", "staging", "prod"):
        shutil.copy(stack_file(stack), tmp_path)
    return tmp_path


@pytest.fixture
def root(committed: Path) -> Path:
    """The committed stack files with the secrets their receivers need, as a deployed repo has them."""
    for stack in ("dev", "staging", "prod"):
        config = read_stack_config(stack, committed)
        add_secrets(committed, stack, *promote.unset_required_secrets(config))
    return committed


class RecordingDeployer:
    def __init__(self, changes: dict[str, int] | None = None) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.changes = changes if changes is not None else {"same": 140, "update": 1}

    def preview(self, stack: str) -> dict[str, int]:
        self.calls.append(("preview", stack))
        return dict(self.changes)

    def up(self, stack: str, message: str) -> None:
        self.calls.append(("up", stack, message))


def passing_tests(root: Path) -> int:
    return 0


@dataclass
class RecordingRender:
    """Stands in for the offline render where a test is about the decision, not
    the render (test_the_real_render_runs_on_the_target runs the real one)."""

    stacks: list[str] = field(default_factory=list)
    records: list[Any] = field(default_factory=list)

    def __call__(self, config: StackConfig) -> RecordingRender:
        self.stacks.append(config.stack)
        return self


def run_main(root: Path, *args: str, deployer: RecordingDeployer | None = None, renders: RecordingRender | None = None) -> int:
    recorder = deployer or RecordingDeployer()
    return main(["--root", str(root), "--skip-tests", *args], deployer_factory=lambda _root: recorder, render_stack=renders or RecordingRender())


# --- the done-when ----------------------------------------------------------


def test_key_set_in_staging_but_missing_in_prod_is_reported_and_refused(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_stack(root, "staging", **{"observability:alertmanager": {"retention": "240h"}})
    deployer = RecordingDeployer()

    code = run_main(root, "--source", "staging", "--target", "prod", "--up", deployer=deployer)

    out, err = capsys.readouterr()
    assert code == 1
    assert "Missing in prod" in out and "observability:alertmanager.retention" in out
    assert "refusing to promote to prod" in err
    assert "observability:alertmanager.retention: set it in Pulumi.prod.yaml" in err
    assert deployer.calls == []  # nothing was previewed or deployed


def test_missing_secret_names_the_command_that_sets_it(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    add_secrets(root, "staging", "grafanaAdminPassword")
    assert run_main(root, "--source", "staging", "--target", "prod") == 1
    err = capsys.readouterr().err
    expected = "observability:grafanaAdminPassword (a secret): pulumi config set --secret observability:grafanaAdminPassword <value> --stack prod"
    assert expected in err


def test_a_secret_the_target_s_receivers_need_is_required(committed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Prod pages: without its PagerDuty keys `pulumi up` would fail after the approval; refuse before."""
    add_secrets(committed, "staging", "slackWebhookUrl", "smtpPassword")
    add_secrets(committed, "prod", "slackWebhookUrl", "smtpPassword")
    assert run_main(committed, "--source", "staging", "--target", "prod") == 1
    err = capsys.readouterr().err
    assert "refusing to promote to prod: its settings need secret(s) that Pulumi.prod.yaml does not set:" in err
    assert (
        "observability:pagerdutyRoutingKey (needed by alerting.paging (critical alerts page)): "
        "pulumi config set --secret observability:pagerdutyRoutingKey <value> --stack prod"
    ) in err
    add_secrets(committed, "prod", "pagerdutyRoutingKey", "pagerdutyEscalationRoutingKey")
    # Prod's dead-man's switch (alerting.heartbeat) needs its URL too.
    assert run_main(committed, "--source", "staging", "--target", "prod") == 1
    assert "observability:heartbeatUrl (needed by alerting.heartbeat" in capsys.readouterr().err
    add_secrets(committed, "prod", "heartbeatUrl")
    assert run_main(committed, "--source", "staging", "--target", "prod") == 0


def test_the_same_key_in_both_stacks_promotes(root: Path) -> None:
    override = {"observability:alertmanager": {"retention": "240h"}}
    write_stack(root, "staging", **override)
    write_stack(root, "prod", **override)
    deployer, renders = RecordingDeployer(), RecordingRender()
    assert run_main(root, "--source", "staging", "--target", "prod", "--preview", deployer=deployer, renders=renders) == 0
    assert renders.stacks == ["prod"] and deployer.calls == [("preview", "prod")]


def test_a_key_only_the_target_sets_is_not_missing(root: Path) -> None:
    # Committed files: prod sets observability:cluster, staging does not.
    comparison = compare(read_stack_config("staging", root), read_stack_config("prod", root))
    assert comparison.missing == []


# --- drift ------------------------------------------------------------------


def test_per_environment_defaults_are_expected_and_overrides_are_drift(root: Path) -> None:
    write_stack(root, "staging", **{"observability:prometheus": {"replicas": 2}})
    write_stack(root, "prod", **{"observability:prometheus": {"replicas": 2, "retention": "60d"}})
    comparison = compare(read_stack_config("staging", root), read_stack_config("prod", root))

    expected = {d.path: (d.source, d.target) for d in comparison.expected}
    drift = {d.path: (d.source, d.target, d.explicit_in) for d in comparison.drift}
    # From defaults.yaml: staging 30d/15s, prod 90d/10s; nobody overrides the interval.
    assert expected["prometheus.scrapeInterval"] == ("15s", "10s")
    # Prod's file sets retention: a deliberate override is shown as drift.
    assert drift["prometheus.retention"] == ("30d", "60d", ("prod",))
    # Both files set the same replicas: no difference at all.
    assert "prometheus.replicas" not in expected and "prometheus.replicas" not in drift


def test_report_lists_missing_drift_and_expected(root: Path) -> None:
    # Grafana's replicas must stay 1 (SQLite on one volume); its volume size may differ.
    write_stack(root, "staging", **{"observability:grafana": {"storage": {"size": "2Gi"}}})
    comparison = compare(read_stack_config("staging", root), read_stack_config("prod", root))
    text = promote.report(comparison)
    assert "  - observability:grafana.storage.size" in text
    assert "  - grafana.storage.size: staging=2Gi prod=1Gi (set in Pulumi.staging.yaml)" in text
    assert "  - prometheus.retention: staging=30d prod=90d" in text


def test_identical_stacks_report_no_difference(root: Path) -> None:
    write_stack(root, "staging")
    shutil.copy(root / "Pulumi.staging.yaml", root / "Pulumi.qa.yaml")
    comparison = compare(read_stack_config("staging", root), read_stack_config("qa", root))
    assert comparison.missing == []
    # Only the stack's name differs; the environment (staging) is the same.
    assert comparison.drift == [] and comparison.expected == []


# --- render and tests -------------------------------------------------------


def test_invalid_target_settings_refuse_naming_the_key(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_stack(root, "prod", **{"observability:cluster": "production", "observability:prometheus": {"retention": "banana"}})
    assert run_main(root, "--source", "staging", "--target", "prod") == 1
    err = capsys.readouterr().err
    assert "observability:prometheus.retention" in err and "banana" in err


def test_a_render_failure_refuses(root: Path) -> None:
    def broken_render(config: Any) -> Any:
        raise RuntimeError("component exploded")

    promotion = Promotion("staging", "prod", root=root, skip_tests=True, render_stack=broken_render, out=lambda _: None)
    with pytest.raises(PromotionRefusedError, match="the prod stack does not render: RuntimeError: component exploded"):
        promotion.check()


def test_the_real_render_runs_on_the_target(root: Path) -> None:
    lines: list[str] = []
    Promotion("staging", "prod", root=root, skip_tests=True, out=lines.append).check()
    assert any(line.startswith("\nRendered prod offline:") for line in lines)


def test_failing_tests_refuse_and_passing_tests_allow(root: Path) -> None:
    seen: list[Path] = []

    def failing(where: Path) -> int:
        seen.append(where)
        return 1

    with pytest.raises(PromotionRefusedError, match=r"the test suite failed \(exit status 1\)"):
        Promotion("dev", "staging", root=root, run_tests=failing, render_stack=RecordingRender(), out=lambda _: None).check()
    assert seen == [root]
    Promotion("dev", "staging", root=root, run_tests=passing_tests, render_stack=RecordingRender(), out=lambda _: None).check()


def test_promoting_a_stack_to_itself_is_refused(root: Path) -> None:
    with pytest.raises(PromotionRefusedError, match="both 'prod'"):
        Promotion("prod", "prod", root=root, skip_tests=True).check()


def test_unknown_stack_is_refused_with_the_known_ones(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_main(root, "--source", "staging", "--target", "production") == 1
    assert "no stack file Pulumi.production.yaml; known stacks: dev, prod, staging" in capsys.readouterr().err


# --- the exact commit -------------------------------------------------------


def git(root: Path, *args: str) -> str:
    command = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args]
    return subprocess.run(command, cwd=root, capture_output=True, text=True, check=True).stdout.strip()


def test_expect_sha_must_be_the_clean_checkout(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-qm", "stacks")
    sha = git(root, "rev-parse", "HEAD")
    deployer = RecordingDeployer()

    assert run_main(root, "--source", "dev", "--target", "staging", "--expect-sha", "0" * 40) == 1
    assert f"checked out {sha}, but the commit to promote is {'0' * 40}" in capsys.readouterr().err

    assert run_main(root, "--source", "dev", "--target", "staging", "--expect-sha", sha, "--up", deployer=deployer) == 0
    assert deployer.calls == [("preview", "staging"), ("up", "staging", f"promote {sha} from dev")]

    (root / "Pulumi.staging.yaml").write_text((root / "Pulumi.staging.yaml").read_text() + "# edited\n")
    assert run_main(root, "--source", "dev", "--target", "staging", "--expect-sha", sha) == 1
    assert "with uncommitted changes" in capsys.readouterr().err


# --- the Automation API seam ------------------------------------------------


def test_deploying_without_the_pulumi_cli_is_refused(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(root))  # a directory with no `pulumi` in it
    with pytest.raises(PromotionRefusedError, match="the Pulumi CLI is not on PATH"):
        AutomationDeployer(root)


def test_main_reports_a_missing_cli_instead_of_a_traceback(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(root))
    argv = ["--root", str(root), "--skip-tests", "--source", "dev", "--target", "staging", "--preview"]
    assert main(argv, render_stack=RecordingRender()) == 1
    assert "the Pulumi CLI is not on PATH" in capsys.readouterr().err


def test_a_list_is_one_key_so_an_empty_list_satisfies_it() -> None:
    targets = [{"name": "orders-db", "kind": "mongodb", "address": "mongo.orders:27017"}]
    source = promote.leaf_keys({"observability:serviceExporters": {"targets": targets, "mongodbUsername": "exporter"}})
    assert source == {"observability:serviceExporters.targets": targets, "observability:serviceExporters.mongodbUsername": "exporter"}
    target = promote.leaf_keys({"observability:serviceExporters": {"targets": [], "mongodbUsername": "exporter"}})
    assert set(source) == set(target)


# --- preview before approval, then exactly that ----------------------------


def test_the_preview_writes_its_change_summary_for_the_approval(root: Path, tmp_path: Path) -> None:
    out = tmp_path / "changes.json"
    deployer = RecordingDeployer({"same": 140, "update": 2, "create": 1})
    assert run_main(root, "--source", "dev", "--target", "staging", "--preview", "--changes-out", str(out), deployer=deployer) == 0
    assert deployer.calls == [("preview", "staging")]
    assert json.loads(out.read_text()) == {"same": 140, "update": 2, "create": 1}


def test_up_refuses_when_the_plan_differs_from_the_approved_one(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    deployer = RecordingDeployer({"same": 139, "update": 1, "delete": 1})
    approved = json.dumps({"same": 140, "update": 1})
    assert run_main(root, "--source", "dev", "--target", "staging", "--up", "--expect-changes", approved, deployer=deployer) == 1
    assert ("up",) not in {call[:1] for call in deployer.calls}
    assert "the approved preview showed update 1" in capsys.readouterr().err


def test_up_applies_the_approved_plan(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(promote, "head_commit", lambda _root: ("c0ffee", False))
    deployer = RecordingDeployer({"same": 140, "update": 1})
    approved = json.dumps({"update": 1, "same": 140, "replace": 0})
    assert run_main(root, "--source", "dev", "--target", "staging", "--up", "--expect-changes", approved, deployer=deployer) == 0
    assert deployer.calls[0] == ("preview", "staging") and deployer.calls[1] == ("up", "staging", "promote c0ffee from dev")


def test_in_place_update_counts_may_differ_but_creates_deletes_and_replaces_may_not(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(promote, "head_commit", lambda _root: ("c0ffee", False))
    approved = json.dumps({"same": 140, "update": 1, "replace": 1})
    deployer = RecordingDeployer({"same": 138, "update": 3, "replace": 1})  # server-side dry run counts more updates
    assert run_main(root, "--source", "dev", "--target", "staging", "--up", "--expect-changes", approved, deployer=deployer) == 0
    deployer = RecordingDeployer({"same": 140, "update": 1, "replace": 2})
    assert run_main(root, "--source", "dev", "--target", "staging", "--up", "--expect-changes", approved, deployer=deployer) == 1
    assert [call[0] for call in deployer.calls] == ["preview"]


def test_a_malformed_change_summary_is_refused_before_anything_runs(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    deployer = RecordingDeployer()
    assert run_main(root, "--source", "dev", "--target", "staging", "--up", "--expect-changes", "{not json", deployer=deployer) == 1
    assert deployer.calls == [] and "accepted form" in capsys.readouterr().err


def test_a_first_promotion_creates_the_stack(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Automation API call the deployer makes: create_or_select, never select (which fails on a new backend)."""
    from pulumi import automation as auto

    calls: list[str] = []

    class FakeStack:
        def preview(self, **_: Any) -> Any:
            return type("Result", (), {"change_summary": {auto.OpType.CREATE: 150}})()

    def create_or_select_stack(stack_name: str, **_: Any) -> FakeStack:
        calls.append(stack_name)
        return FakeStack()

    def select_stack(**_: Any) -> None:
        raise AssertionError("select_stack fails when the stack does not exist yet")

    monkeypatch.setattr(auto, "create_or_select_stack", create_or_select_stack)
    monkeypatch.setattr(auto, "select_stack", select_stack)
    monkeypatch.setattr("scripts.promote.shutil.which", lambda _name: "/usr/bin/pulumi")
    assert AutomationDeployer(root).preview("prod") == {"create": 150}
    assert calls == ["prod"]
