"""The local stack itself: it refuses taken ports, cleans up every process, and its state survives restarts."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import paths
from tooling.localstack import (
    DEMO_PORTS,
    E2E,
    LocalStack,
    LocalStackError,
    Ports,
    Profile,
    compress_rules,
    duration_seconds,
    free_ports,
    require_binaries,
    rewrite_alertmanager,
    wait_until,
    write_configs,
)

ROUTES: dict[str, Any] = {
    "global": {"resolve_timeout": "5m", "slack_api_url": "[secret]"},
    "templates": ["/etc/alertmanager/templates/*.tmpl"],
    "route": {
        "receiver": "slack",
        "group_wait": "30s",
        "routes": [{"matchers": ['severity="critical"'], "receiver": "pagerduty", "group_wait": "10s"}],
    },
    "receivers": [{"name": "slack", "slack_configs": [{"channel": "#a"}]}, {"name": "pagerduty", "pagerduty_configs": [{"routing_key": "[secret]"}]}],
}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie awaiting its parent is gone for our purposes.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ", 1)[1][0] != "Z"


REPO = paths.REPO_ROOT
# A process that holds a local stack and never closes it: it prints its components' pids, then waits to be killed.
HOLDER = """
import time
from tooling.localstack import E2E, LocalStack, free_ports
stack = LocalStack({}, E2E, ports=free_ports(), require_routes=False)
stack.__enter__()
print(" ".join(str(c.process.pid) for c in stack.components.values() if c.process), flush=True)
time.sleep(300)
"""


def test_demo_ports_are_not_the_default_ports() -> None:
    assert {p for _, p in DEMO_PORTS.items()}.isdisjoint({9090, 9091, 9093, 9094})


def test_a_taken_port_is_refused_and_nothing_starts() -> None:
    ports = free_ports()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", ports.alertmanager))
        squatter.listen()
        stack = LocalStack({}, E2E, ports=ports, require_routes=False)
        with pytest.raises(LocalStackError, match=rf"port\(s\) already in use: 127\.0\.0\.1:{ports.alertmanager} \(alertmanager\)"):
            stack.__enter__()
        assert not stack.components


def test_closing_the_stack_stops_every_process_and_frees_its_ports() -> None:
    ports = free_ports()
    with LocalStack({}, E2E, ports=ports, require_routes=False) as stack:
        pids = [c.process.pid for c in stack.components.values() if c.process]
        assert len(pids) == 3 and all(alive(p) for p in pids)
    assert not any(alive(p) for p in pids)
    for _, port in ports.items():
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))  # nobody listens any more


def test_the_stack_runs_the_builds_and_a_missing_one_fails_naming_make_tools(tmp_path: Path) -> None:
    """The stack runs the programs of build/tools/bin (the deployed versions), never a same-named one elsewhere on PATH."""
    assert require_binaries() == {name: str(paths.TOOLS_DIR / "bin" / binary) for name, binary in
                                  (("prometheus", "prometheus"), ("alertmanager", "alertmanager"), ("pushgateway", "pushgateway"))}
    (tmp_path / "prometheus").touch()
    with pytest.raises(LocalStackError, match=r"missing build of alertmanager, pushgateway in .*: run `make tools`"):
        require_binaries(tmp_path)


def test_a_component_that_cannot_start_is_reported_with_its_log() -> None:
    files = {"rules/broken.yaml": "groups: [{name: g, rules: [{alert: A, expr: 'rate(x['}]}]\n"}
    stack = LocalStack(files, E2E, ports=free_ports(), require_routes=False, ready_timeout=10)
    with pytest.raises(LocalStackError, match=r"prometheus did not become ready \(exited\)"), stack:
        pass


def test_rules_are_compressed_on_copies_only() -> None:
    spec: dict[str, Any] = {"groups": [{"name": "g", "interval": "1m", "rules": [
        {"alert": "Slow", "expr": "x > 1", "for": "15m"},
        {"alert": "Now", "expr": "x > 2", "for": "0m"},
        {"record": "r", "expr": "sum(x)"},
    ]}]}
    out = compress_rules(spec, E2E)
    assert [r.get("for") for r in out["groups"][0]["rules"]] == [E2E.for_, "0m", None]
    assert out["groups"][0]["interval"] == E2E.evaluation_interval
    assert spec["groups"][0]["rules"][0]["for"] == "15m"
    assert spec["groups"][0]["interval"] == "1m"


def test_routes_are_kept_and_every_receiver_goes_to_the_sink() -> None:
    out = rewrite_alertmanager(ROUTES, "http://127.0.0.1:1", E2E)
    assert out["global"] == {"resolve_timeout": "5m"}
    assert "templates" not in out
    assert out["receivers"] == [
        {"name": "slack", "webhook_configs": [{"url": "http://127.0.0.1:1/slack", "send_resolved": False}]},
        {"name": "pagerduty", "webhook_configs": [{"url": "http://127.0.0.1:1/pagerduty", "send_resolved": False}]},
    ]
    assert out["route"]["group_wait"] == E2E.group_wait
    assert out["route"]["routes"][0] == {"matchers": ['severity="critical"'], "receiver": "pagerduty", "group_wait": E2E.group_wait}
    assert ROUTES["route"]["group_wait"] == "30s"
    assert "[secret]" not in yaml.safe_dump(out)


def test_bad_routes_name_the_file_and_the_expected_keys() -> None:
    with pytest.raises(LocalStackError, match=r"alertmanager\.yaml: expected 'route'"):
        rewrite_alertmanager({"receivers": []}, "http://127.0.0.1:1", E2E)


def _push(stack: LocalStack, job: str, text: str) -> None:
    request = urllib.request.Request(f"{stack.pushgateway_url}/metrics/job/{job}", data=text.encode(), method="PUT")
    with urllib.request.urlopen(request, timeout=5):
        pass


def test_a_restarted_pushgateway_keeps_pushed_metrics(storage_stack: LocalStack) -> None:
    _push(storage_stack, "restart-check", "# TYPE batch_last_success_seconds gauge\nbatch_last_success_seconds 1234\n")
    storage_stack.wait_for_series('batch_last_success_seconds{job="restart-check"}', 10)
    storage_stack.restart("pushgateway")
    # Served again by the new process, and scraped again by Prometheus.
    text = urllib.request.urlopen(f"{storage_stack.pushgateway_url}/metrics", timeout=5).read().decode()
    assert 'batch_last_success_seconds{instance="",job="restart-check"} 1234' in text
    since = time.time()
    wait_until(lambda: any(float(r["value"][0]) > since for r in storage_stack.query('batch_last_success_seconds{job="restart-check"}')),
               10, "a scrape after the restart")


def test_a_restarted_prometheus_keeps_its_data(storage_stack: LocalStack) -> None:
    _push(storage_stack, "tsdb-check", "# TYPE tsdb_marker gauge\ntsdb_marker 42\n")
    before = storage_stack.wait_for_series('tsdb_marker{job="tsdb-check"}', 10)
    at = float(before[0]["value"][0])
    storage_stack.restart("prometheus")
    after = storage_stack.query('tsdb_marker{job="tsdb-check"}', at=at)
    assert [r["value"] for r in after] == [[at, "42"]]


def test_fixed_ports_are_checked_before_anything_starts() -> None:
    taken = free_ports()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", taken.webhook))
        squatter.listen()
        ports = Ports(taken.prometheus, taken.alertmanager, taken.pushgateway, taken.webhook)
        with pytest.raises(LocalStackError, match="webhook sink"):
            LocalStack({}, E2E, ports=ports, require_routes=False).start()


def test_receivers_without_integrations_are_known_as_silent(tmp_path) -> None:
    routes = {**ROUTES, "receivers": [*ROUTES["receivers"], {"name": "null"}]}
    files = {"alertmanager.yaml": yaml.safe_dump(routes)}
    written = write_configs(files, tmp_path, free_ports(), E2E, "observability")
    assert written.silent_receivers == {"null"}
    assert written.receivers == ["slack", "pagerduty", "null"]
    assert written.group_wait == 1.0


def test_components_die_with_a_holder_killed_outright() -> None:
    """SIGKILL leaves the holder no chance to close its stack (as when pytest-xdist's worker is killed): the
    binaries must still go, not run on as orphans."""
    holder = subprocess.Popen([sys.executable, "-c", HOLDER], cwd=REPO, stdout=subprocess.PIPE, text=True)
    pids: list[int] = []
    try:
        assert holder.stdout is not None
        pids = [int(pid) for pid in holder.stdout.readline().split()]
        assert len(pids) == 3 and all(alive(p) for p in pids), pids
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        wait_until(lambda: not any(alive(p) for p in pids), 10, "the components of a killed holder to exit")
    finally:
        holder.kill()
        holder.wait()
        for pid in pids:  # on failure, do not leave them running
            if alive(pid):
                os.killpg(pid, signal.SIGKILL)


def test_the_quiet_window_covers_the_longest_for_the_stack_loads(tmp_path: Path) -> None:
    """The silence a stack must show: its longest (compressed) `for` plus whole evaluations, read from the rule
    files it loads, so it follows the profile and the render together."""
    rules = {"groups": [
        {"name": "slow", "rules": [{"alert": "A", "expr": "up == 0", "for": "15m"}, {"alert": "B", "expr": "up == 0", "for": "0m"}]},
        {"name": "fast", "interval": "30s", "rules": [{"record": "r", "expr": "up"}]},
    ]}
    files = {"rules/r.yaml": yaml.safe_dump(rules)}
    compressed = LocalStack(files, E2E, ports=free_ports(), require_routes=False)
    compressed.config = write_configs(files, tmp_path / "e2e", compressed.ports, E2E, "observability", require_routes=False)
    # E2E: every non-zero `for` becomes the profile's, every group interval its evaluation interval.
    assert compressed.quiet_window(3) == duration_seconds(E2E.for_ or "0s") + 3 * duration_seconds(E2E.evaluation_interval) == 5.0
    real = Profile("real", scrape_interval="30s", evaluation_interval="30s")
    kept = LocalStack(files, real, ports=free_ports(), require_routes=False)
    kept.config = write_configs(files, tmp_path / "real", kept.ports, real, "observability", require_routes=False)
    assert kept.quiet_window(3) == 15 * 60 + 3 * 30
