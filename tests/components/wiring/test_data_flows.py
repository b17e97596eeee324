"""Every row of the data-flow table (components/wiring/flows.py), in every stack, read from both sides' rendered configs.

For each flow: the producer's rendered config sends to the consumer (its Service, its
port, its path); the consumer's rendered config switches on what the flow needs; the
consumer listens on that port; and the rendered NetworkPolicies let the producer's pods
reach the consumer's pods there.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

import pytest

from components.kit.labels import NAME_LABEL
from components.wiring import endpoints, flows
from components.wiring.endpoints import ALERTMANAGER_NAME, ALLOY_NAME, LOKI_NAME, PROMETHEUS_NAME, TEMPO_NAME
from components.wiring.flows import DataFlow, Requirement
from tests.support.alloy_parser import Block, parse
from tests.support.k8s_objects import container, find, manifests, mounted_file, mounted_yaml
from tests.support.netpol_eval import Pod, allowed
from tooling.render import Render

# Services the Prometheus Operator makes for its resources (not in the render): the governing
# Service of each kind selects that kind's pods and serves its web port.
OPERATED = {
    endpoints.PROMETHEUS_SERVICE: (PROMETHEUS_NAME, endpoints.PROMETHEUS.port),
    endpoints.ALERTMANAGER_SERVICE: (ALERTMANAGER_NAME, endpoints.ALERTMANAGER.port),
}


# --- the consumer side: its main config document -------------------------------------------------


def _custom_resource(render: Render, kind: str) -> dict[str, Any]:
    (found,) = [m for m in manifests(render) if m["kind"] == kind]
    spec: dict[str, Any] = found["spec"]
    return spec


def _file(render: Render, workload: str, path: str) -> dict[str, Any]:
    return mounted_yaml(render, "StatefulSet", workload, path)


CONSUMER_DOCUMENT: dict[str, Callable[[Render], dict[str, Any]]] = {
    PROMETHEUS_NAME: lambda r: _custom_resource(r, "Prometheus"),
    ALERTMANAGER_NAME: lambda r: _custom_resource(r, "Alertmanager"),
    LOKI_NAME: lambda r: _file(r, LOKI_NAME, "/etc/loki/loki.yaml"),
    TEMPO_NAME: lambda r: _file(r, TEMPO_NAME, "/etc/tempo/tempo.yaml"),
}


def consumer_ports(render: Render, consumer: str) -> set[int]:
    """Ports the consumer's pods listen on: container ports, or the operator's web port for its resources."""
    for app, port in OPERATED.values():
        if app == consumer:
            _custom_resource(render, consumer.capitalize())  # the resource the operator serves it from exists
            return {port}
    ports: set[int] = set()
    for manifest in manifests(render):
        if manifest["kind"] in ("StatefulSet", "Deployment", "DaemonSet") and manifest["spec"]["selector"]["matchLabels"].get(NAME_LABEL) == consumer:
            for item in manifest["spec"]["template"]["spec"]["containers"]:
                ports |= {p["containerPort"] for p in item.get("ports", [])}
    return ports


# --- the producer side: where its rendered config sends --------------------------------------------


def _alloy_blocks(render: Render) -> list[Block]:
    alloy = container(render, "StatefulSet", ALLOY_NAME)
    return parse(mounted_file(render, "StatefulSet", ALLOY_NAME, alloy["args"][1]))


def _remote_writes(render: Render, exemplars: bool) -> list[str]:
    writes = [e.attributes for b in _alloy_blocks(render) if b.name == "prometheus.remote_write" for e in b.children("endpoint")]
    return [w["url"] for w in writes if not exemplars or w.get("send_exemplars") is True]


def _loki_push(render: Render) -> list[str]:
    return [e.attributes["url"] for b in _alloy_blocks(render) if b.name == "loki.write" for e in b.children("endpoint")]


def _otlp_to_tempo(render: Render) -> list[str]:
    return ["grpc://" + b.child("client").attributes["endpoint"] for b in _alloy_blocks(render) if b.name == "otelcol.exporter.otlp"]


def _alerts(render: Render) -> list[str]:
    urls = []
    for target in _custom_resource(render, "Prometheus")["alerting"]["alertmanagers"]:
        service = find(render, "Service", target["name"])
        (port,) = [p["port"] for p in service["spec"]["ports"] if p["name"] == target["port"]]
        assert target["apiVersion"] == "v2"
        urls.append(f"http://{target['name']}.{target['namespace']}.svc:{port}{flows.ALERTMANAGER_ALERTS_PATH}")
    return urls


def _datasource(uid: str) -> Callable[[Render], list[str]]:
    def urls(render: Render) -> list[str]:
        document = json.loads(render.files[f"grafana/datasource-{uid}.json"])
        return [str(document["url"])]

    return urls


PRODUCER_URLS: dict[str, Callable[[Render], list[str]]] = {
    "alloy-remote-write": lambda r: _remote_writes(r, exemplars=False),
    "alloy-exemplars": lambda r: _remote_writes(r, exemplars=True),
    "alloy-loki-push": _loki_push,
    "alloy-tempo-otlp": _otlp_to_tempo,
    "prometheus-alertmanager": _alerts,
    "grafana-prometheus": _datasource(endpoints.PROMETHEUS_UID),
    "grafana-loki": _datasource(endpoints.LOKI_UID),
    "grafana-tempo": _datasource(endpoints.TEMPO_UID),
    "grafana-alertmanager": _datasource(endpoints.ALERTMANAGER_UID),
}
# Datasource URLs are base URLs: Grafana adds the API path itself.
BASE_URL_FLOWS = frozenset({"grafana-prometheus", "grafana-loki", "grafana-tempo", "grafana-alertmanager"})


def _service_app(render: Render, host: str) -> str:
    """The app.kubernetes.io/name of the pods behind a Service host name (<svc>.<ns>.svc or <pod>.<svc>.<ns>.svc)."""
    labels = host.split(".")
    assert labels[-1] == "svc", f"{host}: not an in-cluster Service name"
    service, namespace = labels[-3], labels[-2]
    assert namespace == render.settings.namespace, f"{host}: another namespace"
    if service in OPERATED:
        return OPERATED[service][0]
    selector: dict[str, str] = find(render, "Service", service)["spec"]["selector"]
    return selector[NAME_LABEL]


def check_flow(render: Render, flow: DataFlow, consumer_document: dict[str, Any] | None = None) -> list[str]:
    """Every way ``flow`` is broken in ``render`` (empty when it works); ``consumer_document`` overrides the rendered one."""
    problems = []
    urls = PRODUCER_URLS[flow.name](render)
    if not urls:
        problems.append(f"{flow.name}: {flow.producer}'s rendered config sends nothing to {flow.consumer}")
    for url in urls:
        parsed = urlparse(url)
        if _service_app(render, parsed.hostname or "") != flow.consumer:
            problems.append(f"{flow.name}: {url} is not {flow.consumer}")
        if parsed.port != flow.port:
            problems.append(f"{flow.name}: {url} is not port {flow.port}")
        if flow.name not in BASE_URL_FLOWS and parsed.scheme != "grpc" and parsed.path != flow.path:
            problems.append(f"{flow.name}: {url} is not path {flow.path}")
    if flow.port not in consumer_ports(render, flow.consumer):
        problems.append(f"{flow.name}: {flow.consumer} does not listen on {flow.port}")
    document = consumer_document if consumer_document is not None else (CONSUMER_DOCUMENT[flow.consumer](render) if flow.requires else {})
    problems += [f"{flow.name}: {flow.consumer} lacks {r.describe()}" for r in flow.requires if not r.holds(document)]
    policies = [m for m in manifests(render) if m["kind"] == "NetworkPolicy"]
    namespace = render.settings.namespace
    source, destination = Pod(namespace, {NAME_LABEL: flow.producer}), Pod(namespace, {NAME_LABEL: flow.consumer})
    if render.settings.network.policies and not allowed(policies, source, destination, flow.port):
        problems.append(f"{flow.name}: the NetworkPolicies do not let {flow.producer} reach {flow.consumer}:{flow.port}")
    return problems


# --- the tests ----------------------------------------------------------------------------------


def test_every_row_works_in_every_stack(rendered: Render) -> None:
    rows = flows.data_flows(rendered.settings)
    assert {"alloy-remote-write", "alloy-exemplars", "alloy-loki-push", "alloy-tempo-otlp", "prometheus-alertmanager"} <= {f.name for f in rows}
    problems = [p for flow in rows for p in check_flow(rendered, flow)]
    assert problems == []


def test_every_row_has_a_check_of_its_producer() -> None:
    """A new row fails here until the test reads where its producer sends."""
    from components.settings.loader import load_settings

    for stack in ("dev", "staging", "prod"):
        for flow in flows.data_flows(load_settings({}, stack)):
            assert flow.name in PRODUCER_URLS, f"{flow.name}: add how its producer's rendered config names the consumer"
            assert flow.requires == () or flow.consumer in CONSUMER_DOCUMENT


def test_prometheus_takes_alloy_remote_write_with_exemplars(rendered: Render) -> None:
    spec = _custom_resource(rendered, "Prometheus")
    # The operator's fields for --web.enable-remote-write-receiver and --enable-feature=exemplar-storage
    # (components/metrics/crds/prometheus-operator-v0.85.0, prometheuses: enableRemoteWriteReceiver, enableFeatures).
    assert spec["enableRemoteWriteReceiver"] is True
    assert "exemplar-storage" in spec["enableFeatures"]


@pytest.mark.parametrize(
    ("flow_name", "remove"),
    [("alloy-remote-write", ("enableRemoteWriteReceiver",)), ("alloy-exemplars", ("enableFeatures",))],
)
def test_a_consumer_setting_removed_from_the_render_fails_its_row(render_stack, flow_name: str, remove: tuple[str, ...]) -> None:
    render = render_stack("prod")
    (flow,) = [f for f in flows.data_flows(render.settings) if f.name == flow_name]
    document = copy.deepcopy(_custom_resource(render, "Prometheus"))
    del document[remove[0]]
    assert check_flow(render, flow, document) == [f"{flow_name}: prometheus lacks {flow.requires[0].describe()}"]


def test_a_row_the_producer_does_not_send_fails(render_stack) -> None:
    render = render_stack("dev")
    wrong = DataFlow("alloy-loki-push", ALLOY_NAME, LOKI_NAME, 3101, flows.LOKI_PUSH_PATH, (), "a wrong port")
    problems = check_flow(render, wrong)
    assert any("is not port 3101" in p for p in problems)
    assert any("does not listen on 3101" in p for p in problems)


def test_a_flow_the_policies_do_not_carry_fails(render_stack) -> None:
    render = render_stack("dev")
    (flow,) = [f for f in flows.data_flows(render.settings) if f.name == "alloy-loki-push"]
    copied = copy.copy(render)
    object.__setattr__(copied, "_manifests", [m for m in manifests(render) if not (m["kind"] == "NetworkPolicy" and m["metadata"]["name"] == LOKI_NAME)]
                       + [{"kind": "NetworkPolicy", "metadata": {"name": LOKI_NAME, "namespace": render.settings.namespace},
                           "spec": {"podSelector": {"matchLabels": {NAME_LABEL: LOKI_NAME}}, "policyTypes": ["Ingress"], "ingress": []}}])
    assert check_flow(copied, flow) == [f"alloy-loki-push: the NetworkPolicies do not let alloy reach loki:{endpoints.LOKI.port}"]


def test_without_the_metrics_generator_prometheus_needs_no_receiver(render_stack) -> None:
    render = render_stack("dev", "tempo.metricsGenerator.enabled=false")
    assert not any(f.consumer == PROMETHEUS_NAME and f.path == flows.REMOTE_WRITE_PATH for f in flows.data_flows(render.settings))
    assert "enableRemoteWriteReceiver" not in _custom_resource(render, "Prometheus")
    assert [p for flow in flows.data_flows(render.settings) for p in check_flow(render, flow)] == []


def test_requirements_hold_only_as_written() -> None:
    assert Requirement(("a", "b"), True).holds({"a": {"b": True}})
    assert not Requirement(("a", "b"), True).holds({"a": {}})
    assert Requirement(("f",), "x", "contains").holds({"f": ["y", "x"]})
    assert not Requirement(("f",), "x", "contains").holds({"f": "x"})
    assert Requirement(("n",), 3, "at_least").holds({"n": 4}) and not Requirement(("n",), 3, "at_least").holds({"n": 2})
    assert not Requirement(("n",), 1, "at_least").holds({"n": True})
    document: dict[str, Any] = {"f": ["b"], "n": 5}
    flows.apply(document, [Requirement(("f",), "a", "contains"), Requirement(("n",), 3, "at_least"), Requirement(("x", "y"), 1)])
    assert document == {"f": ["a", "b"], "n": 5, "x": {"y": 1}}
