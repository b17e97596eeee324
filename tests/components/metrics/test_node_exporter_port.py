"""nodeExporter.port: the host-network DaemonSet, its probes, Service, monitor and network policy follow it,
and the real node-exporter listens where the rendered arguments say."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from components.settings.errors import SettingsError
from components.settings.loader import load_settings
from components.wiring import endpoints
from components.wiring.endpoints import PROMETHEUS_NAME
from tests.components.wiring.test_network_policies import NODE_IP, _pods, _policies
from tests.conftest import RenderStack
from tests.support.k8s_objects import container, find, pod
from tests.support.netpol_eval import Host, allowed
from tests.support.tools import tool
from tooling.localstack import Component, http_get, wait_until
from tooling.render import Render


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# Chosen once per session so the cached render and the live binary agree.
PORT = _free_port()


@pytest.fixture(scope="module")
def moved(render_stack: RenderStack) -> Render:
    return render_stack("staging", f"nodeExporter.port={PORT}")


def test_the_daemonset_probes_service_and_monitor_follow_the_port(moved: Render) -> None:
    exporter = container(moved, "DaemonSet", endpoints.NODE_EXPORTER_NAME)
    assert f"--web.listen-address=:{PORT}" in exporter["args"]
    [port] = exporter["ports"]
    assert port["containerPort"] == PORT
    for probe in ("livenessProbe", "readinessProbe"):
        assert exporter[probe]["httpGet"]["port"] == port["name"]
    assert pod(moved, "DaemonSet", endpoints.NODE_EXPORTER_NAME)["hostNetwork"] is True
    service = find(moved, "Service", endpoints.NODE_EXPORTER_NAME)["spec"]["ports"]
    assert [(p["port"], p["targetPort"]) for p in service] == [(PORT, port["name"])]
    [endpoint] = find(moved, "PodMonitor", endpoints.NODE_EXPORTER_NAME)["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] == port["name"]


def test_prometheus_may_reach_the_new_port_and_not_the_old_one(moved: Render) -> None:
    policies = _policies(moved)
    prometheus = _pods(moved)[PROMETHEUS_NAME]
    assert allowed(policies, prometheus, Host(NODE_IP), PORT)
    assert not allowed(policies, prometheus, Host(NODE_IP), 9100)


def test_the_real_node_exporter_listens_on_the_rendered_address(moved: Render, tmp_path: Path) -> None:
    args = container(moved, "DaemonSet", endpoints.NODE_EXPORTER_NAME)["args"]
    listen = next(a for a in args if a.startswith("--web.listen-address="))
    # The host mounts (/host/proc, ...) exist only in the pod; the listen address is what is under test.
    exporter = Component("node-exporter", [tool("node_exporter"), listen, "--collector.disable-defaults", "--collector.loadavg"], PORT, tmp_path / "log")
    exporter.start()
    try:
        wait_until(lambda: b"node_exporter_build_info" in http_get(f"http://127.0.0.1:{PORT}/metrics"), 20, "node-exporter on the rendered port")
    finally:
        exporter.stop()


@pytest.mark.parametrize(("port", "form"), [(80, "from 1024 to 65535"), (10250, "kubelet"), (70000, "from 1024 to 65535"), ("９１００", "whole number")])
def test_a_port_that_cannot_work_is_refused(port: object, form: str) -> None:
    with pytest.raises(SettingsError) as error:
        load_settings({"observability:nodeExporter": {"port": port}}, "dev")
    assert "observability:nodeExporter.port " in str(error.value) and form in str(error.value)
