"""The flow table (components/wiring/flows.py) is the one source of who talks to whom: the NetworkPolicies
open exactly its rows, and the monitors are exactly its scrape and probe rows."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

import pytest

from components.kit.labels import NAME_LABEL
from components.settings import Settings
from components.settings.loader import load_settings
from components.wiring import endpoints, flows, monitors, network_policies
from components.wiring.endpoints import ALLOY_NAME, BLACKBOX_EXPORTER_NAME, LOKI_NAME, PROMETHEUS_NAME, PUSHGATEWAY_NAME, Endpoint
from components.wiring.flows import Cidrs, Flow, HealthProbe, Namespaces, Peer, Pods, Scrape, table, tcp
from tests.support.netpol_eval import Pod, allowed
from tooling.render import Render

STACKS = ("dev", "staging", "prod")
OWN_POLICIES = ("default-deny", "allow-dns")


def _settings(stack: str) -> Settings:
    return load_settings({}, stack)


def _of(render: Render, kind: str) -> list[dict[str, Any]]:
    return [m for m in render.manifests() if m["kind"] == kind]


def _selects(name: str) -> list[dict[str, Any]]:
    return [{"podSelector": {"matchLabels": {NAME_LABEL: name}}}]


# --- the table itself -----------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_every_row_names_components_from_endpoints(stack: str) -> None:
    names = {value for key, value in vars(endpoints).items() if key.endswith("_NAME") and isinstance(value, str)}
    for row in table(_settings(stack)):
        for peer in (row.source, row.destination):
            assert not isinstance(peer, Pods) or peer.name in names, f"{row.why}: {peer.name} is not a name from endpoints.py"


@pytest.mark.parametrize("stack", STACKS)
def test_each_kind_of_row_has_its_source_and_receiver_side(stack: str) -> None:
    settings = _settings(stack)
    for row in table(settings):
        if row.kind == "scrape":
            assert row.source == Pods(PROMETHEUS_NAME), row.why
            assert row.monitor is None or isinstance(row.monitor, Scrape)
        if row.kind == "probe":
            assert row.source == Pods(BLACKBOX_EXPORTER_NAME), row.why
            assert row.monitor is None or isinstance(row.monitor, HealthProbe)
        if row.kind == "api":
            assert isinstance(row.source, Pods) and row.source.name in flows.API_CLIENTS
            assert row.destination == Cidrs(settings.network.api_server_cidrs, "the API server")
        if isinstance(row.monitor, Scrape):
            # The policy opens exactly the ports the monitor scrapes.
            assert row.ports == tcp(*(e.port for e in row.monitor.endpoints)), row.why
        if isinstance(row.monitor, HealthProbe):
            assert row.destination == Pods(row.monitor.target) and row.ports == tcp(row.monitor.endpoint.port), row.why
        assert row.requires == () or row.kind == "data", f"{row.why}: only a data flow puts settings on its receiver"


@pytest.mark.parametrize("stack", STACKS)
def test_data_flows_are_rows_and_their_requirements_come_from_the_table(stack: str) -> None:
    settings = _settings(stack)
    data = flows.data_flows(settings)
    assert [row for row in table(settings) if row.kind == "data"] == [flow.row() for flow in data]
    for consumer in {flow.consumer for flow in data}:
        assert flows.requirements(settings, consumer) == [r for flow in data if flow.consumer == consumer for r in flow.requires]


# --- the NetworkPolicies are derived from it ------------------------------------------------------


def test_a_new_row_opens_exactly_that_flow_on_both_sides(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings("prod")
    before = network_policies.policy_specs(settings)
    row = Flow("push", Pods(ALLOY_NAME), Pods(PUSHGATEWAY_NAME), tcp(endpoints.PUSHGATEWAY.port), "a flow the table did not have")
    monkeypatch.setattr(network_policies, "table", lambda s: [*table(s), row])
    after = network_policies.policy_specs(settings)
    assert {name for name in after if after[name] != before.get(name)} == {ALLOY_NAME, PUSHGATEWAY_NAME}
    ports = [{"port": endpoints.PUSHGATEWAY.port, "protocol": "TCP"}]
    assert after[ALLOY_NAME]["egress"] == [*before[ALLOY_NAME]["egress"], {"to": _selects(PUSHGATEWAY_NAME), "ports": ports}]
    assert after[PUSHGATEWAY_NAME]["ingress"] == [*before[PUSHGATEWAY_NAME]["ingress"], {"from": _selects(ALLOY_NAME), "ports": ports}]


def test_a_removed_row_closes_exactly_that_flow(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings("prod")
    before = network_policies.policy_specs(settings)
    (push,) = [f.row() for f in flows.data_flows(settings) if f.name == "alloy-loki-push"]
    monkeypatch.setattr(network_policies, "table", lambda s: [row for row in table(s) if row != push])
    after = network_policies.policy_specs(settings)
    assert {name for name in after if after[name] != before.get(name)} == {ALLOY_NAME, LOKI_NAME}
    ports = [{"port": endpoints.LOKI.port, "protocol": "TCP"}]
    assert after[ALLOY_NAME]["egress"] == [r for r in before[ALLOY_NAME]["egress"] if r != {"to": _selects(LOKI_NAME), "ports": ports}]
    assert after[LOKI_NAME]["ingress"] == [r for r in before[LOKI_NAME]["ingress"] if r != {"from": _selects(ALLOY_NAME), "ports": ports}]


def _peer(rendered: list[dict[str, Any]]) -> Peer:
    """The table's peer a rendered rule's peers stand for."""
    first = rendered[0]
    if "podSelector" in first:
        return Pods(first["podSelector"]["matchLabels"][NAME_LABEL])
    if "namespaceSelector" in first:
        (expression,) = first["namespaceSelector"]["matchExpressions"]
        return Namespaces(tuple(expression["values"]))
    return Cidrs(tuple(p["ipBlock"]["cidr"] for p in rendered), "")


def _same(peer: Peer, rendered: Peer) -> bool:
    if isinstance(peer, Namespaces) and isinstance(rendered, Namespaces):
        return sorted(peer.names) == list(rendered.names)
    if isinstance(peer, Cidrs) and isinstance(rendered, Cidrs):
        return peer.cidrs == rendered.cidrs
    return peer == rendered


def test_every_rendered_rule_is_a_row_of_the_table(rendered: Render) -> None:
    rows = network_policies.flows(rendered.settings)
    for policy in _of(rendered, "NetworkPolicy"):
        name = policy["metadata"]["name"]
        if name in OWN_POLICIES:
            continue
        for direction, key, near, far in (("ingress", "from", "destination", "source"), ("egress", "to", "source", "destination")):
            for rule in policy["spec"].get(direction, []):
                ports = tuple((p["port"], p["protocol"]) for p in rule.get("ports", []))
                matching = [r for r in rows if getattr(r, near) == Pods(name) and _same(getattr(r, far), _peer(rule[key])) and r.ports == ports]
                assert matching, f"{name} {direction} {rule}: no row of the table"


def test_every_row_between_two_components_is_open(rendered: Render) -> None:
    if not rendered.settings.network.policies:
        pytest.skip("this stack renders no NetworkPolicies")
    policies = _of(rendered, "NetworkPolicy")
    namespace = rendered.settings.namespace
    for row in table(rendered.settings):
        if isinstance(row.source, Pods) and isinstance(row.destination, Pods):
            source, destination = Pod(namespace, {NAME_LABEL: row.source.name}), Pod(namespace, {NAME_LABEL: row.destination.name})
            for port, protocol in row.ports:
                assert allowed(policies, source, destination, port, protocol), f"{row.why}: {port}/{protocol} is closed"


# --- the monitors are derived from it -------------------------------------------------------------


def test_every_pod_monitor_is_a_scrape_row(rendered: Render) -> None:
    scrapes = {row.monitor.target: row.monitor for row in table(rendered.settings) if isinstance(row.monitor, Scrape)}
    found = {m["metadata"]["name"]: m["spec"]["podMetricsEndpoints"] for m in _of(rendered, "PodMonitor")}
    assert set(found) == {target for target in scrapes if monitors.runs(rendered.settings, target)}
    for name, rendered_endpoints in found.items():
        assert [(e["port"], e["path"]) for e in rendered_endpoints] == [(e.port_name, e.metrics_path) for e in scrapes[name].endpoints]


def test_every_probe_of_a_component_is_a_probe_row(rendered: Render) -> None:
    probes = {row.monitor.target: row.monitor for row in table(rendered.settings) if isinstance(row.monitor, HealthProbe)}
    found = {p["metadata"]["name"]: p["spec"] for p in _of(rendered, "Probe") if not p["metadata"]["name"].startswith("service-")}
    assert set(found) == {target for target in probes if monitors.runs(rendered.settings, target)}
    for name, spec in found.items():
        (url,) = spec["targets"]["staticConfig"]["static"]
        parsed = urlparse(url)
        assert (parsed.hostname or "").split(".")[0] == name
        assert (parsed.port, parsed.path) == (probes[name].endpoint.port, probes[name].endpoint.healthy_path)


def test_the_kubelet_monitor_is_a_scrape_row(rendered: Render) -> None:
    (kubelet,) = _of(rendered, "ServiceMonitor")
    assert kubelet["spec"]["selector"]["matchLabels"] == {NAME_LABEL: endpoints.KUBELET_NAME}
    nodes = Cidrs(rendered.settings.network.node_cidrs, "the nodes")
    assert any(row.kind == "scrape" and row.destination == nodes and row.ports == tcp(endpoints.KUBELET_PORT) for row in table(rendered.settings))


def test_a_new_scrape_row_gets_its_pod_monitor_and_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings("dev")
    served = Endpoint(7070, "http", "/ready", "/healthy")
    row = Flow("scrape", Pods(PROMETHEUS_NAME), Pods("example"), tcp(served.port), "Prometheus scrapes example", monitor=Scrape("example", (served,)))
    probes = monitors.health_targets(settings)
    for module in (monitors, network_policies):
        monkeypatch.setattr(module, "table", lambda s: [*table(s), row])
    assert monitors.scraped(settings)[-1] == Scrape("example", (served,))
    assert monitors.health_targets(settings) == probes
    spec = network_policies.policy_specs(settings)["example"]
    assert spec["ingress"] == [{"from": _selects(PROMETHEUS_NAME), "ports": [{"port": served.port, "protocol": "TCP"}]}]
