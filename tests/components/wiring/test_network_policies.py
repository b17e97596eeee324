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
    (namespace,) = rendered.settings.network.dns_namespaces
    dns = Pod(namespace, {"k8s-app": "kube-dns"})
    other = Pod(namespace, {"k8s-app": "metrics-server"})
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


# CoreDNS's port as most distributions run it, the default of network.dnsPorts.
DNS_PORT = 53
# OpenShift's cluster DNS: the dns-default pods of namespace openshift-dns answer on 5353 behind the Service's
# port 53 (openshift/cluster-dns-operator), so the policy, which sees the packet after DNAT, must open 5353.
OPENSHIFT_DNS = Pod("openshift-dns", {"dns.operator.openshift.io/daemonset-dns": "default"})
OPENSHIFT_DNS_PORT = 5353
# NodeLocal DNSCache's default listen address (kubernetes/dns, cmd/node-cache -localip; k8s.io docs "Using NodeLocal DNSCache").
NODE_LOCAL_DNS = "169.254.20.10"


def test_a_resolver_on_the_host_network_is_reached_only_through_dns_cidrs(render_stack) -> None:
    """NodeLocal DNSCache answers on a link-local address of each node, not from a pod of dnsNamespaces."""
    without = render_stack("prod")
    render = render_stack("prod", f"network.dnsCidrs=[{NODE_LOCAL_DNS}/32]")
    resolver = Host(NODE_LOCAL_DNS)
    for name, pod in _pods(render).items():
        for protocol in ("UDP", "TCP"):
            assert not allowed(_policies(without), _pods(without)[name], resolver, DNS_PORT, protocol), name
            assert allowed(_policies(render), pod, resolver, DNS_PORT, protocol), name
        assert not allowed(_policies(render), pod, resolver, 8080), name
        assert not allowed(_policies(render), pod, Host("169.254.20.11"), DNS_PORT, "UDP"), name
    # The resolver pods of dnsNamespaces stay reachable beside it.
    assert allowed(_policies(render), _pods(render)[GRAFANA_NAME], Pod("kube-system", {"k8s-app": "kube-dns"}), DNS_PORT, "UDP")


def test_a_resolver_in_another_namespace_on_another_port_is_reached_through_the_settings(render_stack) -> None:
    """OpenShift: resolver pods in openshift-dns listening on 5353; closed by default, opened by dnsNamespaces/dnsPorts."""
    without = render_stack("prod")
    render = render_stack("prod", "network.dnsNamespaces=[openshift-dns]", f"network.dnsPorts=[{OPENSHIFT_DNS_PORT}]")
    assert render.settings.network.dns_namespaces == ("openshift-dns",) and render.settings.network.dns_ports == (OPENSHIFT_DNS_PORT,)
    for name, pod in _pods(render).items():
        for protocol in ("UDP", "TCP"):
            assert not allowed(_policies(without), _pods(without)[name], OPENSHIFT_DNS, OPENSHIFT_DNS_PORT, protocol), name
            assert allowed(_policies(render), pod, OPENSHIFT_DNS, OPENSHIFT_DNS_PORT, protocol), name
        # Only the DNS port, and only that namespace.
        assert not allowed(_policies(render), pod, OPENSHIFT_DNS, DNS_PORT, "UDP"), name
        assert not allowed(_policies(render), pod, Pod("kube-system", {"k8s-app": "kube-dns"}), OPENSHIFT_DNS_PORT, "UDP"), name
        assert not allowed(_policies(render), pod, Pod("openshift-monitoring", {}), OPENSHIFT_DNS_PORT, "UDP"), name


def test_the_dns_ports_open_to_every_resolver_kind(render_stack) -> None:
    """Several ports (CoreDNS as root and as non-root), several namespaces and a CIDR: each port to each of them."""
    render = render_stack("dev", "network.dnsNamespaces=[kube-system, dns]", "network.dnsPorts=[53, 1053]",
                          f"network.dnsCidrs=[{NODE_LOCAL_DNS}/32]")
    grafana = _pods(render)[GRAFANA_NAME]
    for resolver in (Pod("kube-system", {}), Pod("dns", {}), Host(NODE_LOCAL_DNS)):
        for port in (53, 1053):
            assert allowed(_policies(render), grafana, resolver, port, "UDP") and allowed(_policies(render), grafana, resolver, port, "TCP")
        assert not allowed(_policies(render), grafana, resolver, 5353, "UDP")


def test_a_bare_resolver_address_is_taken_as_one_host(render_stack) -> None:
    render = render_stack("dev", f"network.dnsCidrs=[{NODE_LOCAL_DNS}]")
    assert render.settings.network.dns_cidrs == (f"{NODE_LOCAL_DNS}/32",)


def test_the_api_server_port_follows_the_distribution(render_stack) -> None:
    """The policies see the API server's own port after the kubernetes Service's DNAT: 8443 with minikube."""
    default, minikube = render_stack("dev"), render_stack("dev", "network.apiServerPorts=[8443]")
    api_server = Host(API_SERVER_IP)
    for client in (PROMETHEUS_NAME, OPERATOR_NAME, KUBE_STATE_METRICS_NAME, ALLOY_NAME):
        assert not allowed(_policies(default), _pods(default)[client], api_server, 8443), client
        assert allowed(_policies(minikube), _pods(minikube)[client], api_server, 8443), client
        assert not allowed(_policies(minikube), _pods(minikube)[client], api_server, 6443), client


def test_an_ingress_controller_off_the_pod_network_reaches_grafana_only_through_ingress_cidrs(render_stack) -> None:
    """A controller on the host network (or a load balancer sending to pod IPs) is no pod of ingressNamespaces."""
    default, render = render_stack("prod"), render_stack("prod", "network.ingressCidrs=[10.0.3.0/24]")
    controller = Host(NODE_IP)
    assert not allowed(_policies(default), controller, _pods(default)[GRAFANA_NAME], endpoints.GRAFANA.port)
    assert allowed(_policies(render), controller, _pods(render)[GRAFANA_NAME], endpoints.GRAFANA.port)
    assert not allowed(_policies(render), controller, _pods(render)[GRAFANA_NAME], 22)
    assert not allowed(_policies(render), controller, _pods(render)[PROMETHEUS_NAME], endpoints.PROMETHEUS.port)
    assert not allowed(_policies(render), Host("10.0.4.1"), _pods(render)[GRAFANA_NAME], endpoints.GRAFANA.port)


def test_grafana_does_not_fetch_plugins_the_policies_would_cut_off(rendered: Render) -> None:
    """Grafana 12 installs its default plugins from grafana.com at start unless told not to; the policies give it no
    Internet egress, so the stack's Grafana must not try (grafana/grafana#106871)."""
    if not any(m["kind"] == "Deployment" and m["metadata"]["name"] == GRAFANA_NAME for m in rendered.manifests()):
        return  # an external Grafana: not this stack's pods
    grafana_com = Host("34.120.177.193")  # grafana.com's address in the public report of the failure
    assert not allowed(_policies(rendered), _pods(rendered)[GRAFANA_NAME], grafana_com, 443) or not rendered.settings.network.policies
    deployment = next(m for m in rendered.manifests() if m["kind"] == "Deployment" and m["metadata"]["name"] == GRAFANA_NAME)
    (container,) = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == GRAFANA_NAME]
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    assert env.get("GF_PLUGINS_PREINSTALL_DISABLED") == "true"
    assert "GF_INSTALL_PLUGINS" not in env and "GF_PLUGINS_PREINSTALL" not in env and "GF_PLUGINS_PREINSTALL_SYNC" not in env


def test_e_mail_leaves_on_the_smarthost_port(render_stack) -> None:
    """Submission (587), implicit TLS (465) and plain relay (25) are all in use: the policy follows the smarthost."""
    alertmanager, smtp = ALERTMANAGER_NAME, Host(SLACK_IP)
    for port in (25, 465, 587):
        render = render_stack("prod", f"alerting.email.smarthost=smtp.example.org:{port}")
        assert allowed(_policies(render), _pods(render)[alertmanager], smtp, port)
        assert all(not allowed(_policies(render), _pods(render)[alertmanager], smtp, other) for other in {25, 465, 587} - {port})
    no_email = render_stack("staging", "alerting.email=null")
    assert not allowed(_policies(no_email), _pods(no_email)[alertmanager], smtp, 587)
    assert allowed(_policies(no_email), _pods(no_email)[alertmanager], smtp, 443)


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
