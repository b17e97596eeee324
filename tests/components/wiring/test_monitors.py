"""Exporters and monitors: every component's pods are scraped, every health endpoint is probed, service targets scraped."""

from __future__ import annotations

from urllib.parse import urlparse

from components.kit.labels import NAME_LABEL
from components.metrics.service_availability import PROBED_KINDS
from components.wiring import endpoints
from components.wiring.monitors import health_targets
from tests.support.selectors import matches
from tests.support.workload_rules import pod_specs
from tooling.render import Render

# The components other helpers add: their monitors exist regardless (keyed off components/wiring/endpoints.py).
ALWAYS_MONITORED = {
    endpoints.PROMETHEUS_NAME, endpoints.ALERTMANAGER_NAME, endpoints.PUSHGATEWAY_NAME, endpoints.LOKI_NAME, endpoints.TEMPO_NAME,
    endpoints.ALLOY_NAME, endpoints.GRAFANA_NAME, endpoints.NODE_EXPORTER_NAME, endpoints.KUBE_STATE_METRICS_NAME, endpoints.BLACKBOX_EXPORTER_NAME,
}


def _of(render: Render, kind: str) -> list[dict]:
    return [m for m in render.manifests() if m["kind"] == kind]


def _pods(render: Render) -> dict[str, tuple[dict[str, str], list[dict]]]:
    """kind/name -> (pod labels, containers) of every workload, the operator's Prometheus and Alertmanager pods included."""
    pods = {}
    for manifest in render.manifests():
        for spec in pod_specs(manifest):
            pods[f"{manifest['kind']}/{manifest['metadata']['name']}"] = (manifest["spec"]["template"]["metadata"]["labels"], spec["containers"])
    for kind, port in (("Prometheus", endpoints.PROMETHEUS), ("Alertmanager", endpoints.ALERTMANAGER)):
        for manifest in _of(render, kind):
            # The operator names the pods' app.kubernetes.io/name after the kind and the port after the endpoint.
            pods[f"{kind}/{manifest['metadata']['name']}"] = ({NAME_LABEL: kind.lower()}, [{"ports": [{"name": port.port_name}]}])
    return pods


def test_every_component_has_a_monitor_that_selects_its_pods_on_a_port_they_have(rendered: Render) -> None:
    monitors = _of(rendered, "PodMonitor")
    # Exporters of service targets are scraped through their Service by a ScrapeConfig.
    static_hosts = {t.split(".")[0] for c in _of(rendered, "ScrapeConfig") for s in c["spec"]["staticConfigs"] for t in s["targets"]}
    unscraped = []
    for where, (labels, containers) in _pods(rendered).items():
        if where.split("/")[1] in static_hosts:
            continue
        ports = {p["name"] for c in containers for p in c.get("ports", [])}
        scraping = [m for m in monitors if matches(m["spec"]["selector"], labels)]
        if not any(e["port"] in ports for m in scraping for e in m["spec"]["podMetricsEndpoints"]):
            unscraped.append(where)
    assert unscraped == []


def test_monitors_exist_for_every_component_before_it_lands(rendered: Render) -> None:
    names = {m["metadata"]["name"] for m in _of(rendered, "PodMonitor")}
    assert names >= ALWAYS_MONITORED
    assert endpoints.OPERATOR_NAME in names


# Exporters whose series carry labels of their own that the target's would overwrite (issue 22; the operator's
# generated config is held against the exporters in tests/components/metrics/test_scrape_semantics.py).
HONOURED = {endpoints.PUSHGATEWAY_NAME, endpoints.KUBE_STATE_METRICS_NAME}


def test_only_exporters_that_label_for_others_keep_their_labels(rendered: Render) -> None:
    """The Pushgateway keeps the pushed job and instance, kube-state-metrics the namespace/pod/container it
    describes; every other target's series get the target's labels."""
    honoured = {m["metadata"]["name"] for m in _of(rendered, "PodMonitor") if any(e["honorLabels"] for e in m["spec"]["podMetricsEndpoints"])}
    assert honoured == HONOURED
    for monitor in _of(rendered, "PodMonitor"):
        if monitor["metadata"]["name"] in HONOURED:
            assert all(e["honorLabels"] is True for e in monitor["spec"]["podMetricsEndpoints"])


def test_each_monitor_sets_the_job_to_its_component(rendered: Render) -> None:
    for monitor in _of(rendered, "PodMonitor"):
        for endpoint in monitor["spec"]["podMetricsEndpoints"]:
            assert {"action": "replace", "targetLabel": "job", "replacement": monitor["metadata"]["name"]} in endpoint["relabelings"]


def test_kubelet_and_cadvisor_are_scraped(rendered: Render) -> None:
    (kubelet,) = _of(rendered, "ServiceMonitor")
    assert {e["path"] for e in kubelet["spec"]["endpoints"]} == {"/metrics", "/metrics/cadvisor"}
    assert kubelet["spec"]["namespaceSelector"] == {"matchNames": [rendered.settings.operator.kubelet_service.split("/")[0]]}
    operator = next((m for m in rendered.manifests() if m["kind"] == "Deployment" and m["metadata"]["name"] == endpoints.OPERATOR_NAME), None)
    assert operator is not None
    assert f"--kubelet-service={rendered.settings.operator.kubelet_service}" in operator["spec"]["template"]["spec"]["containers"][0]["args"]


def test_every_health_endpoint_is_probed_through_a_service_that_exists(rendered: Render) -> None:
    # The stack's own components; service-* Probes check monitored services (tests/components/wiring/test_wiring.py).
    probes = {p["metadata"]["name"]: p for p in _of(rendered, "Probe") if not p["metadata"]["name"].startswith("service-")}
    assert set(probes) == set(health_targets(rendered.settings))
    services = {s["metadata"]["name"]: s for s in _of(rendered, "Service")}
    for name, probe in probes.items():
        (url,) = probe["spec"]["targets"]["staticConfig"]["static"]
        parsed = urlparse(url)
        service_name, namespace = parsed.hostname.split(".")[:2]
        assert namespace == rendered.settings.namespace
        assert service_name in services, f"{name} probes {url}: no Service {service_name}"
        assert parsed.port in {p["port"] for p in services[service_name]["spec"]["ports"]}
        prober_host, prober_port = probe["spec"]["prober"]["url"].split(":")
        blackbox = services[prober_host.split(".")[0]]
        assert int(prober_port) in {p["port"] for p in blackbox["spec"]["ports"]}


def test_probe_job_names_match_what_the_stack_alert_expects(rendered: Render) -> None:
    # Probe objects get job="probe/<namespace>/<name>" (rules/observability-stack.yaml matches on that).
    for probe in _of(rendered, "Probe"):
        if not probe["metadata"]["name"].startswith("service-"):
            assert "jobName" not in probe["spec"]


def test_service_targets_are_scraped_under_their_kind(rendered: Render) -> None:
    configs = {c["spec"]["jobName"]: c["spec"] for c in _of(rendered, "ScrapeConfig")}
    scraped = [t for t in rendered.settings.service_exporters.targets if t.kind not in PROBED_KINDS]
    assert set(configs) == {t.kind for t in scraped}
    for target in scraped:
        (static,) = [s for s in configs[target.kind]["staticConfigs"] if s["labels"]["service"] == target.name]
        if target.kind == "mongodb":
            name = f"{endpoints.MONGODB_EXPORTER_NAME}-{target.name}"
            exporter = next(m for m in rendered.manifests() if m["kind"] == "Deployment" and m["metadata"]["name"] == name)
            container = exporter["spec"]["template"]["spec"]["containers"][0]
            assert container["ports"][0]["containerPort"] == 9216
            assert static["targets"] == [f"{endpoints.MONGODB_EXPORTER_NAME}-{target.name}.{rendered.settings.namespace}.svc:9216"]
            assert container["resources"]["limits"] == {"cpu": "250m", "memory": "256Mi"}
        else:
            assert static["targets"] == [target.address]
    assert configs["rabbitmq"]["staticConfigs"][0]["targets"][0].endswith(":15692")
    # Per-queue series (labels queue, vhost) come only from the per-object endpoint.
    assert configs["rabbitmq"]["metricsPath"] == "/metrics/per-object"


def test_a_mongodb_exporter_password_reaches_only_a_secret(render_stack) -> None:
    canary = "canary-mongo-3c9e"
    render = render_stack("dev", "serviceExporters.mongodbUsername=exporter", secrets={"mongodbExporterPassword": canary})
    assert all(canary not in text for text in render.files.values())
    exporter = next(m for m in render.manifests() if m["kind"] == "Deployment" and m["metadata"]["name"].startswith(f"{endpoints.MONGODB_EXPORTER_NAME}-"))
    assert exporter["spec"]["template"]["spec"]["containers"][0]["envFrom"] == [{"secretRef": {"name": endpoints.MONGODB_EXPORTER_NAME}}]


def test_no_targets_no_service_exporters(render_stack) -> None:
    render = render_stack("dev", "serviceExporters.targets=[]")
    assert not _of(render, "ScrapeConfig")
    assert not [p for p in _of(render, "Probe") if p["metadata"]["name"].startswith("service-")]
    assert not [m for m in render.manifests() if m["kind"] == "Deployment" and m["metadata"]["name"].startswith(endpoints.MONGODB_EXPORTER_NAME)]


def test_kube_state_metrics_reads_no_secrets(rendered: Render) -> None:
    (role,) = [m for m in _of(rendered, "ClusterRole") if m["metadata"]["name"].startswith(endpoints.KUBE_STATE_METRICS_NAME)]
    resources = {r for rule in role["rules"] for r in rule["resources"]}
    assert "secrets" not in resources and "configmaps" not in resources
    assert {v for rule in role["rules"] for v in rule["verbs"]} == {"list", "watch"}
