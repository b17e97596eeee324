"""scripts/seamless_health_check.py against the live local Prometheus (dev render under synthetic load) and a loopback coordinator."""

from __future__ import annotations

import subprocess
import sys

import pytest

from components import paths
from scripts import seamless_health_check as hc
from tests.support.loopback_coordinator import Coordinator
from tooling.localstack import LocalStack

ROOT = paths.REPO_ROOT
SEED_METRICS = ("backfill_completion_ratio", "seamless_sla_deadline_seconds")


def call(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = hc.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv(hc.COORDINATOR_ENV, raising=False)
    monkeypatch.delenv(hc.PROMETHEUS_ENV, raising=False)
    return monkeypatch


def test_seed_command_passes_on_a_healthy_deployment(live_stack: LocalStack) -> None:
    """The seed 001 invocation, as a file, configured by the environment only."""
    with Coordinator({}) as coordinator:
        environment = {"PATH": "/usr/bin:/bin", hc.COORDINATOR_ENV: coordinator.url, hc.PROMETHEUS_ENV: live_stack.prometheus_url}
        args = [arg for metric in SEED_METRICS for arg in ("--prometheus-metric", metric)]
        result = subprocess.run([sys.executable, str(paths.SCRIPTS_DIR / "seamless_health_check.py"), *args],
                                capture_output=True, text=True, timeout=60, cwd=ROOT, env=environment)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[:2] == [f"ok   env {hc.COORDINATOR_ENV}: set", f"ok   env {hc.PROMETHEUS_ENV}: set"]
    assert f"ok   coordinator: {coordinator.url}/health answered HTTP 200" in lines
    assert any(line.startswith("ok   metric backfill_completion_ratio: present: backfill_completion_ratio (") for line in lines)
    # A histogram family is found by its exposition series.
    assert any(line.startswith("ok   metric seamless_sla_deadline_seconds: present: seamless_sla_deadline_seconds_bucket (") for line in lines)
    assert lines[-1] == "6 check(s), 0 failed"
    assert [r.path for r in coordinator.received] == ["/v1/health"]


def test_flags_override_the_environment(live_stack: LocalStack, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    env.setenv(hc.COORDINATOR_ENV, "not a url")
    env.setenv(hc.PROMETHEUS_ENV, "http://127.0.0.1:1")
    with Coordinator({}) as coordinator:
        code, out, err = call(capsys, "--coordinator-url", coordinator.url, "--prometheus-url", live_stack.prometheus_url,
                              "--prometheus-metric", "coverage_ratio")
    assert code == 0, err
    assert f"ok   env {hc.COORDINATOR_ENV}: overridden by --coordinator-url" in out
    assert "ok   metric coverage_ratio: present" in out


def test_missing_metric_fails_with_one_line(live_stack: LocalStack, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    env.setenv(hc.PROMETHEUS_ENV, live_stack.prometheus_url)
    with Coordinator({}) as coordinator:
        env.setenv(hc.COORDINATOR_ENV, coordinator.url)
        code, out, err = call(capsys, "--prometheus-metric", "backfill_completion_ratio", "--prometheus-metric", "seamless_no_such_metric")
    assert code == 1
    assert err.splitlines() == [f"FAIL metric seamless_no_such_metric: no series of seamless_no_such_metric in Prometheus at {live_stack.prometheus_url} "
                                "(is its target scraped and up?)"]
    assert out.splitlines()[-1] == "6 check(s), 1 failed"


def test_unhealthy_and_slow_coordinator_fail(live_stack: LocalStack, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    with Coordinator({}, healthy=False) as coordinator:
        code, _, err = call(capsys, "--coordinator-url", coordinator.url, "--prometheus-url", live_stack.prometheus_url)
    assert code == 1
    assert f"FAIL coordinator: {coordinator.url}/health answered HTTP 503" in err
    with Coordinator({}, health_delay=1.0) as coordinator:
        code, _, err = call(capsys, "--coordinator-url", coordinator.url, "--prometheus-url", live_stack.prometheus_url, "--timeout", "0.2")
    assert code == 1
    assert f"FAIL coordinator: no answer from {coordinator.url}/health within the timeout" in err


def test_unreachable_endpoints_fail_and_dependent_checks_are_marked(env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    with Coordinator({}) as coordinator:
        closed = coordinator.url  # closed on exit: the port refuses connections
    code, _, err = call(capsys, "--coordinator-url", closed, "--prometheus-url", "http://127.0.0.1:1", "--prometheus-metric", "coverage_ratio")
    assert code == 1
    lines = err.splitlines()
    assert not any(line.startswith("FAIL env") for line in lines)  # flags given: the variables are not required
    assert any(line.startswith(f"FAIL coordinator: cannot reach {closed}/health: ConnectError") for line in lines)
    assert any(line.startswith("FAIL prometheus: cannot reach http://127.0.0.1:1/-/ready: ConnectError") for line in lines)
    assert "FAIL metric coverage_ratio: not checked: Prometheus is not reachable" in lines
    assert "Traceback" not in err


def test_unset_and_malformed_environment(env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    env.setenv(hc.PROMETHEUS_ENV, "prometheus:9090")
    code, out, err = call(capsys, "--prometheus-metric", "coverage_ratio")
    assert code == 1
    lines = err.splitlines()
    assert lines[0] == f"FAIL env {hc.COORDINATOR_ENV}: unset; export {hc.COORDINATOR_ENV}=http(s)://HOST[:PORT][/PATH] or pass --coordinator-url"
    assert lines[1] == f"FAIL env {hc.PROMETHEUS_ENV}: 'prometheus:9090' is not an http(s) base URL; accepted form: http(s)://HOST[:PORT][/PATH]"
    assert "FAIL coordinator: not checked: no usable URL" in lines
    assert "FAIL metric coverage_ratio: not checked: no usable Prometheus URL" in lines
    assert out.splitlines()[-1] == "5 check(s), 5 failed"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--prometheus-metric", "seamless-sla"], "got 'seamless-sla'; accepted: a Prometheus metric name"),
        (["--prometheus-metric", 'up{job="x"}'], "accepted: a Prometheus metric name"),
        (["--timeout", "0"], "got '0'; accepted: a positive number of seconds"),
        (["--timeout", "fast"], "got 'fast'; accepted: a positive number of seconds"),
        (["--prometheus-url", "localhost:9090"], "--prometheus-url 'localhost:9090' is not an http(s) base URL"),
        (["--coordinator-url", "ftp://coordinator"], "--coordinator-url 'ftp://coordinator' is not an http(s) base URL"),
    ],
)
def test_bad_arguments_are_refused_before_any_check(args: list[str], message: str, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        hc.main(args)
    assert exit_.value.code == 2
    out, err = capsys.readouterr()
    assert message in err and out == ""
