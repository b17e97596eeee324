"""NetworkPolicies: every flow the stack needs is open, and nothing else, judged on the rendered policies."""

from __future__ import annotations

from typing import Any

import pytest

from components.logs.alloy_config import SAMPLING_PORT as ALLOY_SAMPLING_PORT
from components.wiring import endpoints
from components.wiring import network_policies as np
from tests.support.netpol_eval import Host, Pod, allowed, selector_matches
from tests.support.workload_rules import pod_specs
from tooling.render import Render

NODE_IP = "10.0.3.7"
API_SERVER_IP = "10.0.0.1"
SLACK_IP = "34.1.2.3"
OPERATOR_KINDS = {"Prometheus": np.PROMETHEUS, "Alertmanager": np.ALERTMANAGER}


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
    pods = {name: Pod(namespace, {np.NAME_LABEL: name}) for name in _component_names()}
    for manifest in render.manifests():
        if manifest["kind"] in OPERATOR_KINDS:
            name = OPERATOR_KINDS[manifest["kind"]]
            extra = ((manifest["spec"].get("podMetadata") or {}).get("labels")) or {}
            pods[name] = Pod(namespace, {**extra, np.NAME_LABEL: name, "app.kubernetes.io/instance": manifest["metadata"]["name"]})
        elif list(pod_specs(manifest)) and manifest["kind"] != "CronJob":
            labels = manifest["spec"]["template"]["metadata"]["labels"]
            if labels.get(np.NAME_LABEL) in pods:
                pods[labels[np.NAME_LABEL]] = Pod(manifest["metadata"]["namespace"], labels)
    return pods


def _component_names() -> set[str]:
    return {
        np.PROMETHEUS, np.ALERTMANAGER, np.PUSHGATEWAY, np.OPERATOR, np.KUBE_STATE_METRICS,
        np.BLACKBOX_EXPORTER, np.GRAFANA, np.LOKI, np.TEMPO, np.ALLOY,
    }


def _app(namespace: str) -> Pod:
    return Pod(namespace, {"app": "gateway"})


# (source, destination, port, protocol): "monitored"/"ingress"/"random" name a pod in such a namespace.
NEEDED = [
    (np.PROMETHEUS, np.PUSHGATEWAY, endpoints.PUSHGATEWAY.port, "TCP"),
    (np.PROMETHEUS, np.ALERTMANAGER, endpoints.ALERTMANAGER.port, "TCP"),
    (np.PROMETHEUS, np.GRAFANA, endpoints.GRAFANA.port, "TCP"),
    (np.PROMETHEUS, np.LOKI, endpoints.LOKI.port, "TCP"),
    (np.PROMETHEUS, np.TEMPO, endpoints.TEMPO.port, "TCP"),
    (np.PROMETHEUS, np.ALLOY, endpoints.ALLOY.port, "TCP"),
    (np.PROMETHEUS, np.KUBE_STATE_METRICS, endpoints.KUBE_STATE_METRICS.port, "TCP"),
    (np.PROMETHEUS, np.KUBE_STATE_METRICS, endpoints.KUBE_STATE_METRICS_TELEMETRY.port, "TCP"),
    (np.PROMETHEUS, np.BLACKBOX_EXPORTER, endpoints.BLACKBOX_EXPORTER.port, "TCP"),
    (np.PROMETHEUS, np.OPERATOR, endpoints.OPERATOR.port, "TCP"),
    (np.PROMETHEUS, "node", endpoints.NODE_EXPORTER.port, "TCP"),
    (np.PROMETHEUS, "node", endpoints.KUBELET_PORT, "TCP"),
    (np.PROMETHEUS, "apiserver", 443, "TCP"),
    (np.PROMETHEUS, "monitored", endpoints.MONGODB_EXPORTER.port, "TCP"),
    (np.PROMETHEUS, "monitored", endpoints.RABBITMQ_PROMETHEUS.port, "TCP"),
    (np.PROMETHEUS, "monitored", endpoints.QDRANT.port, "TCP"),
    (np.ALLOY, np.LOKI, endpoints.LOKI.port, "TCP"),
    (np.ALLOY, np.TEMPO, endpoints.OTLP_GRPC_PORT, "TCP"),
    (np.ALLOY, "apiserver", 6443, "TCP"),
    (np.GRAFANA, np.PROMETHEUS, endpoints.PROMETHEUS.port, "TCP"),
    (np.GRAFANA, np.LOKI, endpoints.LOKI.port, "TCP"),
    (np.GRAFANA, np.TEMPO, endpoints.TEMPO.port, "TCP"),
    (np.GRAFANA, np.ALERTMANAGER, endpoints.ALERTMANAGER.port, "TCP"),
    ("ingress", np.GRAFANA, endpoints.GRAFANA.port, "TCP"),
    ("monitored", np.ALLOY, endpoints.OTLP_GRPC_PORT, "TCP"),
    ("monitored", np.ALLOY, endpoints.OTLP_HTTP_PORT, "TCP"),
    ("monitored", np.PUSHGATEWAY, endpoints.PUSHGATEWAY.port, "TCP"),
    (np.OPERATOR, "apiserver", 443, "TCP"),
    (np.KUBE_STATE_METRICS, "apiserver", 443, "TCP"),
    (np.ALERTMANAGER, "internet", 443, "TCP"),
    (np.ALERTMANAGER, "internet", 587, "TCP"),
    (np.ALERTMANAGER, np.ALERTMANAGER, endpoints.ALERTMANAGER_CLUSTER_PORT, "TCP"),
    (np.ALERTMANAGER, np.ALERTMANAGER, endpoints.ALERTMANAGER_CLUSTER_PORT, "UDP"),
    (np.BLACKBOX_EXPORTER, np.GRAFANA, endpoints.GRAFANA.port, "TCP"),
    (np.BLACKBOX_EXPORTER, "monitored", 8080, "TCP"),
    (np.TEMPO, np.PROMETHEUS, endpoints.PROMETHEUS.port, "TCP"),
    (np.ALLOY, np.ALLOY, ALLOY_SAMPLING_PORT, "TCP"),
]

DENIED = [
    (np.GRAFANA, np.PUSHGATEWAY, endpoints.PUSHGATEWAY.port, "TCP"),
    ("random", np.LOKI, endpoints.LOKI.port, "TCP"),
    ("monitored", np.LOKI, endpoints.LOKI.port, "TCP"),
    ("monitored", np.PROMETHEUS, endpoints.PROMETHEUS.port, "TCP"),
    ("monitored", np.GRAFANA, endpoints.GRAFANA.port, "TCP"),
    ("random", np.ALLOY, endpoints.OTLP_GRPC_PORT, "TCP"),
    ("random", np.PUSHGATEWAY, endpoints.PUSHGATEWAY.port, "TCP"),
    ("ingress", np.PROMETHEUS, endpoints.PROMETHEUS.port, "TCP"),
    ("ingress", np.GRAFANA, 22, "TCP"),
    (np.ALLOY, np.PROMETHEUS, endpoints.PROMETHEUS.port, "TCP"),
    (np.LOKI, "internet", 443, "TCP"),
    (np.GRAFANA, "internet", 443, "TCP"),
    (np.PUSHGATEWAY, "internet", 443, "TCP"),
    (np.PUSHGATEWAY, "apiserver", 443, "TCP"),
    (np.GRAFANA, "apiserver", 443, "TCP"),
    (np.PROMETHEUS, "random", 9090, "TCP"),
    (np.PROMETHEUS, "internet", 80, "TCP"),
    (np.ALERTMANAGER, "internet", 25, "TCP"),
    (np.PROMETHEUS, np.ALERTMANAGER, endpoints.ALERTMANAGER_CLUSTER_PORT, "TCP"),
    (np.TEMPO, np.LOKI, endpoints.LOKI.port, "TCP"),
    (np.GRAFANA, np.LOKI, 9095, "TCP"),
    ("monitored", np.ALLOY, ALLOY_SAMPLING_PORT, "TCP"),
    (np.ALLOY, np.TEMPO, endpoints.OTLP_HTTP_PORT, "TCP"),
]


def _endpoint(render: Render, name: str) -> Pod | Host:
    network = render.settings.network
    special: dict[str, Pod | Host] = {
        "node": Host(NODE_IP),
        "apiserver": Host(API_SERVER_IP),
        "internet": Host(SLACK_IP),
        "monitored": _app(network.monitored_namespaces[0]),
        "ingress": Pod(network.ingress_namespaces[0], {"app.kubernetes.io/name": "ingress-nginx"}),
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
    stranger = Pod(rendered.settings.namespace, {np.NAME_LABEL: "debug-shell"})
    for pod in _pods(rendered).values():
        assert not allowed(policies, stranger, pod, 9090)
        assert not allowed(policies, pod, stranger, 8080)
    assert not allowed(policies, stranger, Host(SLACK_IP), 443)


def test_monitored_namespaces_come_from_settings(render_stack) -> None:
    render = render_stack("staging", "network.monitoredNamespaces=[billing]")
    policies = _policies(render)
    alloy = _pods(render)[np.ALLOY]
    assert allowed(policies, _app("billing"), alloy, endpoints.OTLP_GRPC_PORT)
    assert not allowed(policies, _app("qmtl"), alloy, endpoints.OTLP_GRPC_PORT)


def test_narrow_cidrs_confine_egress(render_stack) -> None:
    render = render_stack("prod", "network.nodeCidrs=[10.0.0.0/16]", "network.receiverCidrs=[203.0.113.0/24]")
    policies = _policies(render)
    prometheus = _pods(render)[np.PROMETHEUS]
    alertmanager = _pods(render)[np.ALERTMANAGER]
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
    loki, tempo, grafana = (_pods(render)[name] for name in (np.LOKI, np.TEMPO, np.GRAFANA))
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
        assert selecting, f"no policy opens any flow of {pod.labels.get(np.NAME_LABEL)}"
