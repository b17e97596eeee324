"""NetworkPolicies: every flow the stack needs is open, and nothing else, judged on the rendered policies."""

from __future__ import annotations

from typing import Any

import pytest

from components.kit.labels import NAME_LABEL
from components.wiring import endpoints
from components.wiring.endpoints import (
    ALERTMANAGER_NAME,
    ALLOY_NAME,
    BLACKBOX_EXPORTER_NAME,
    GRAFANA_NAME,
    KUBE_STATE_METRICS_NAME,
    LOKI_NAME,
    OPERATOR_NAME,
    PROMETHEUS_NAME,
    PUSHGATEWAY_NAME,
    TEMPO_NAME,
)
from tests.support.netpol_eval import Host, Pod, allowed, selector_matches
from tests.support.workload_rules import pod_specs
from tooling.render import Render

NODE_IP = "10.0.3.7"
API_SERVER_IP = "10.0.0.1"
SLACK_IP = "34.1.2.3"
OPERATOR_KINDS = {"Prometheus": PROMETHEUS_NAME, "Alertmanager": ALERTMANAGER_NAME}


_VIEWS: dict[int, tuple[list[dict[str, Any]], dict[str, Pod]]] = {}


def _view(render: Render) -> tuple[list[dict[str, Any]], dict[str, Pod]]:
    # Renders are cached for the session; parse each one's YAML once.
    if id(render) not in _VIEWS:
        _VIEWS[id(render)] = ([m for m in render.manifests() if m["kind"] == "NetworkPolicy"], _pods_of(render))
    return _VIEWS[id(render)]


def _policies(render: Render) -> list[dict[str, Any]]:
    return _view(render)[0]


def _pods(render: Render) -> dict[str, Pod]:
    return _view(render)[1]


def _pods_of(render: Render) -> dict[str, Pod]:
    """Each component's pod as the cluster would label it: from the rendered pod templates,
    the operator's labels for Prometheus and Alertmanager, and the bare name label for a
    component not rendered in this stack."""
    namespace = render.settings.namespace
    pods = {name: Pod(namespace, {NAME_LABEL: name}) for name in _component_names()}
    for manifest in render.manifests():
        if manifest["kind"] in OPERATOR_KINDS:
            name = OPERATOR_KINDS[manifest["kind"]]
            extra = ((manifest["spec"].get("podMetadata") or {}).get("labels")) or {}
            pods[name] = Pod(namespace, {**extra, NAME_LABEL: name, "app.kubernetes.io/instance": manifest["metadata"]["name"]})
        elif list(pod_specs(manifest)) and manifest["kind"] != "CronJob":
            labels = manifest["spec"]["template"]["metadata"]["labels"]
            if labels.get(NAME_LABEL) in pods:
                pods[labels[NAME_LABEL]] = Pod(manifest["metadata"]["namespace"], labels)
    return pods


def _component_names() -> set[str]:
    return {
        PROMETHEUS_NAME, ALERTMANAGER_NAME, PUSHGATEWAY_NAME, OPERATOR_NAME, KUBE_STATE_METRICS_NAME,
        BLACKBOX_EXPORTER_NAME, GRAFANA_NAME, LOKI_NAME, TEMPO_NAME, ALLOY_NAME,
    }


def _app(namespace: str) -> Pod:
    return Pod(namespace, {"app": "gateway"})


# (source, destination, port, protocol): "monitored"/"ingress"/"random" name a pod in such a namespace.
NEEDED = [
    (PROMETHEUS_NAME, PUSHGATEWAY_NAME, endpoints.PUSHGATEWAY.port, "TCP"),
    (PROMETHEUS_NAME, ALERTMANAGER_NAME, endpoints.ALERTMANAGER.port, "TCP"),
    (PROMETHEUS_NAME, GRAFANA_NAME, endpoints.GRAFANA.port, "TCP"),
    (PROMETHEUS_NAME, LOKI_NAME, endpoints.LOKI.port, "TCP"),
    (PROMETHEUS_NAME, TEMPO_NAME, endpoints.TEMPO.port, "TCP"),
    (PROMETHEUS_NAME, ALLOY_NAME, endpoints.ALLOY.port, "TCP"),
    (PROMETHEUS_NAME, KUBE_STATE_METRICS_NAME, endpoints.KUBE_STATE_METRICS.port, "TCP"),
    (PROMETHEUS_NAME, KUBE_STATE_METRICS_NAME, endpoints.KUBE_STATE_METRICS_TELEMETRY.port, "TCP"),
    (PROMETHEUS_NAME, BLACKBOX_EXPORTER_NAME, endpoints.BLACKBOX_EXPORTER.port, "TCP"),
    (PROMETHEUS_NAME, OPERATOR_NAME, endpoints.OPERATOR.port, "TCP"),
    (PROMETHEUS_NAME, "node", endpoints.NODE_EXPORTER.port, "TCP"),
    (PROMETHEUS_NAME, "node", endpoints.KUBELET_PORT, "TCP"),
    (PROMETHEUS_NAME, "apiserver", 443, "TCP"),
    (PROMETHEUS_NAME, "monitored", endpoints.MONGODB_EXPORTER.port, "TCP"),
    (PROMETHEUS_NAME, "monitored", endpoints.RABBITMQ_PROMETHEUS.port, "TCP"),
    (PROMETHEUS_NAME, "monitored", endpoints.QDRANT.port, "TCP"),
    (ALLOY_NAME, LOKI_NAME, endpoints.LOKI.port, "TCP"),
    (ALLOY_NAME, TEMPO_NAME, endpoints.OTLP_GRPC_PORT, "TCP"),
    (ALLOY_NAME, "apiserver", 6443, "TCP"),
    (GRAFANA_NAME, PROMETHEUS_NAME, endpoints.PROMETHEUS.port, "TCP"),
    (GRAFANA_NAME, LOKI_NAME, endpoints.LOKI.port, "TCP"),
    (GRAFANA_NAME, TEMPO_NAME, endpoints.TEMPO.port, "TCP"),
    (GRAFANA_NAME, ALERTMANAGER_NAME, endpoints.ALERTMANAGER.port, "TCP"),
    ("ingress", GRAFANA_NAME, endpoints.GRAFANA.port, "TCP"),
    ("monitored", ALLOY_NAME, endpoints.OTLP_GRPC_PORT, "TCP"),
    ("monitored", ALLOY_NAME, endpoints.OTLP_HTTP_PORT, "TCP"),
    ("monitored", PUSHGATEWAY_NAME, endpoints.PUSHGATEWAY.port, "TCP"),
    (OPERATOR_NAME, "apiserver", 443, "TCP"),
    (KUBE_STATE_METRICS_NAME, "apiserver", 443, "TCP"),
    (ALERTMANAGER_NAME, "internet", 443, "TCP"),
    (ALERTMANAGER_NAME, "internet", 587, "TCP"),
    (ALERTMANAGER_NAME, ALERTMANAGER_NAME, endpoints.ALERTMANAGER_CLUSTER_PORT, "TCP"),
    (ALERTMANAGER_NAME, ALERTMANAGER_NAME, endpoints.ALERTMANAGER_CLUSTER_PORT, "UDP"),
    (BLACKBOX_EXPORTER_NAME, GRAFANA_NAME, endpoints.GRAFANA.port, "TCP"),
    (BLACKBOX_EXPORTER_NAME, "monitored", 8080, "TCP"),
    # Span metrics and the service graph, remote-written from Alloy (before sampling; Tempo's generator is off).
    (ALLOY_NAME, PROMETHEUS_NAME, endpoints.PROMETHEUS.port, "TCP"),
    (ALLOY_NAME, ALLOY_NAME, endpoints.ALLOY_SAMPLING_PORT, "TCP"),
]

DENIED = [
    (GRAFANA_NAME, PUSHGATEWAY_NAME, endpoints.PUSHGATEWAY.port, "TCP"),
    ("random", LOKI_NAME, endpoints.LOKI.port, "TCP"),
    ("monitored", LOKI_NAME, endpoints.LOKI.port, "TCP"),
    ("monitored", PROMETHEUS_NAME, endpoints.PROMETHEUS.port, "TCP"),
    ("monitored", GRAFANA_NAME, endpoints.GRAFANA.port, "TCP"),
    ("random", ALLOY_NAME, endpoints.OTLP_GRPC_PORT, "TCP"),
    ("random", PUSHGATEWAY_NAME, endpoints.PUSHGATEWAY.port, "TCP"),
    ("ingress", PROMETHEUS_NAME, endpoints.PROMETHEUS.port, "TCP"),
    ("ingress", GRAFANA_NAME, 22, "TCP"),
    (TEMPO_NAME, PROMETHEUS_NAME, endpoints.PROMETHEUS.port, "TCP"),
    (LOKI_NAME, "internet", 443, "TCP"),
    (GRAFANA_NAME, "internet", 443, "TCP"),
    (PUSHGATEWAY_NAME, "internet", 443, "TCP"),
    (PUSHGATEWAY_NAME, "apiserver", 443, "TCP"),
    (GRAFANA_NAME, "apiserver", 443, "TCP"),
    (PROMETHEUS_NAME, "random", 9090, "TCP"),
    (PROMETHEUS_NAME, "internet", 80, "TCP"),
    (ALERTMANAGER_NAME, "internet", 25, "TCP"),
    (PROMETHEUS_NAME, ALERTMANAGER_NAME, endpoints.ALERTMANAGER_CLUSTER_PORT, "TCP"),
    (TEMPO_NAME, LOKI_NAME, endpoints.LOKI.port, "TCP"),
    (GRAFANA_NAME, LOKI_NAME, 9095, "TCP"),
    ("monitored", ALLOY_NAME, endpoints.ALLOY_SAMPLING_PORT, "TCP"),
    (ALLOY_NAME, TEMPO_NAME, endpoints.OTLP_HTTP_PORT, "TCP"),
]


def _endpoint(render: Render, name: str) -> Pod | Host:
    network = render.settings.network
    special: dict[str, Pod | Host] = {
        "node": Host(NODE_IP),
        "apiserver": Host(API_SERVER_IP),
        "internet": Host(SLACK_IP),
        "monitored": _app(network.monitored_namespaces[0]),
        "ingress": Pod(network.ingress_namespaces[0], {NAME_LABEL: "ingress-nginx"}),
        "random": _app("someone-elses"),
    }
    return special.get(name) or _pods(render)[name]


@pytest.mark.parametrize(("source", "destination", "port", "protocol"), NEEDED, ids=lambda v: str(v))
def test_needed_flow_is_allowed(rendered: Render, source: str, destination: str, port: int, protocol: str) -> None:
    policies = _policies(rendered)
    assert allowed(policies, _endpoint(rendered, source), _endpoint(rendered, destination), port, protocol)


@pytest.mark.parametrize(("source", "destination", "port", "protocol"), DENIED, ids=lambda v: str(v))
def test_unneeded_flow_is_denied(rendered: Render, source: str, destination: str, port: int, protocol: str) -> None:
    policies = _policies(rendered)
    assert not allowed(policies, _endpoint(rendered, source), _endpoint(rendered, destination), port, protocol)


def test_every_pod_resolves_names_and_nothing_else_in_kube_system(rendered: Render) -> None:
    policies = _policies(rendered)
    dns = Pod(rendered.settings.network.dns_namespace, {"k8s-app": "kube-dns"})
    other = Pod(rendered.settings.network.dns_namespace, {"k8s-app": "metrics-server"})
    for pod in _pods(rendered).values():
        assert allowed(policies, pod, dns, 53, "UDP") and allowed(policies, pod, dns, 53, "TCP")
        assert not allowed(policies, pod, other, 443)


def test_a_new_pod_in_the_namespace_is_denied_both_ways(rendered: Render) -> None:
    policies = _policies(rendered)
    stranger = Pod(rendered.settings.namespace, {NAME_LABEL: "debug-shell"})
    for pod in _pods(rendered).values():
        assert not allowed(policies, stranger, pod, 9090)
        assert not allowed(policies, pod, stranger, 8080)
    assert not allowed(policies, stranger, Host(SLACK_IP), 443)


def test_monitored_namespaces_come_from_settings(render_stack) -> None:
    render = render_stack("staging", "network.monitoredNamespaces=[billing]")
    policies = _policies(render)
    alloy = _pods(render)[ALLOY_NAME]
    assert allowed(policies, _app("billing"), alloy, endpoints.OTLP_GRPC_PORT)
    assert not allowed(policies, _app("qmtl"), alloy, endpoints.OTLP_GRPC_PORT)


def test_narrow_cidrs_confine_egress(render_stack) -> None:
    render = render_stack("prod", "network.nodeCidrs=[10.0.0.0/16]", "network.receiverCidrs=[203.0.113.0/24]")
    policies = _policies(render)
    prometheus = _pods(render)[PROMETHEUS_NAME]
    alertmanager = _pods(render)[ALERTMANAGER_NAME]
    assert allowed(policies, prometheus, Host(NODE_IP), endpoints.NODE_EXPORTER.port)
    assert not allowed(policies, prometheus, Host("192.168.1.1"), endpoints.NODE_EXPORTER.port)
    assert allowed(policies, alertmanager, Host("203.0.113.9"), 443)
    assert not allowed(policies, alertmanager, Host(SLACK_IP), 443)


def test_an_object_store_opens_https_from_its_user_only(render_stack) -> None:
    bucket = "loki.objectStorage={backend: s3, bucket: logs-prod, region: eu-west-1, since: 2027-01-04, credentials: workloadIdentity}"
    minio = "tempo.objectStorage={backend: s3, bucket: traces, endpoint: 'minio.storage:9000', credentials: workloadIdentity}"
    without = render_stack("prod")
    render = render_stack("prod", bucket, minio)
    store = Host("52.95.1.1")
    loki, tempo, grafana = (_pods(render)[name] for name in (LOKI_NAME, TEMPO_NAME, GRAFANA_NAME))
    assert not allowed(_policies(without), loki, store, 443)
    assert allowed(_policies(render), loki, store, 443)
    assert not allowed(_policies(render), loki, store, 9000)
    assert allowed(_policies(render), tempo, store, 9000)
    assert not allowed(_policies(render), grafana, store, 443)


def test_policies_can_be_turned_off(render_stack) -> None:
    assert not _policies(render_stack("dev", "network.policies=false"))


def test_evaluator_denies_what_no_rule_allows_and_leaves_unselected_pods_open() -> None:
    deny = {"metadata": {"namespace": "a"}, "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}
    inside, outside = Pod("a", {"x": "1"}), Pod("b", {"x": "1"})
    assert not allowed([deny], outside, inside, 80)
    assert allowed([deny], inside, outside, 80)
    opened = {
        "metadata": {"namespace": "a"},
        "spec": {"podSelector": {"matchLabels": {"x": "1"}}, "policyTypes": ["Ingress"],
                 "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "b"}}}], "ports": [{"port": 80}]}]},
    }
    assert allowed([deny, opened], outside, inside, 80)
    assert not allowed([deny, opened], outside, inside, 81)
    assert not allowed([deny, opened], Pod("c", {"x": "1"}), inside, 80)


def test_every_pod_the_stack_runs_has_its_flows(rendered: Render) -> None:
    """A component whose pods only the default deny selects would be cut off: every one has its own policy."""
    own = [p for p in _policies(rendered) if p["metadata"]["name"] not in ("default-deny", "allow-dns")]
    rendered_pods = []
    for manifest in rendered.manifests():
        if manifest["kind"] in OPERATOR_KINDS:
            rendered_pods.append(_pods(rendered)[OPERATOR_KINDS[manifest["kind"]]])
        for spec in pod_specs(manifest):
            if not spec.get("hostNetwork"):  # policies do not apply to the host's network
                template = manifest["spec"]["jobTemplate"]["spec"] if manifest["kind"] == "CronJob" else manifest["spec"]
                rendered_pods.append(Pod(manifest["metadata"]["namespace"], template["template"]["metadata"]["labels"]))
    assert len(rendered_pods) >= 8
    for pod in rendered_pods:
        selecting = [p["metadata"]["name"] for p in own if selector_matches(p["spec"]["podSelector"], pod.labels)]
        assert selecting, f"no policy opens any flow of {pod.labels.get(NAME_LABEL)}"
