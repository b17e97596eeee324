"""Reads of a replicated store are consistent: each reader sees one replica's answers, not a mix.

Two Prometheus replicas scrape at different instants and keep different samples; Alertmanager
replicas learn silences by gossip, a moment apart. A reader that meets a different replica on each
request sees a query change between refreshes (prometheus-operator/prometheus-operator#2203), or a
silence it just created vanish. Read from both sides of the render: the reader's URL (Grafana's
datasources) and the Service it names, with the pods that Service selects and how many replicas
run them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from components.kit.labels import NAME_LABEL
from components.wiring import endpoints
from tests.support.k8s_objects import find, manifests
from tests.support.netpol_eval import selector_matches
from tooling.render import Render

# The Services the Prometheus Operator makes for its resources (not in the render): headless,
# selecting every pod of the kind (operator pkg/prometheus/statefulset.go, pkg/alertmanager/statefulset.go).
OPERATED = {
    endpoints.PROMETHEUS_SERVICE: {NAME_LABEL: endpoints.PROMETHEUS_NAME},
    endpoints.ALERTMANAGER_SERVICE: {NAME_LABEL: endpoints.ALERTMANAGER_NAME},
}
OPERATED_KINDS = {"Prometheus": endpoints.PROMETHEUS_NAME, "Alertmanager": endpoints.ALERTMANAGER_NAME}
# The label in which the operator (v0.85.0) names each resource on its pods, beside app.kubernetes.io/name.
OPERATOR_NAME_LABEL = {"Prometheus": "operator.prometheus.io/name", "Alertmanager": "alertmanager"}


@dataclass(frozen=True)
class Target:
    """What a reader's host name reaches: a Service (or one pod of it) and the replicas behind it."""

    service: str
    headless: bool
    affinity: str
    replicas: int
    one_pod: bool  # <pod>.<service>.<namespace>.svc: a single replica by name


def _pod_templates(render: Render) -> list[tuple[dict[str, str], int]]:
    """(pod labels, replicas) of every workload of the render, the operator's resources as their pods carry them."""
    found = []
    for manifest in manifests(render):
        spec = manifest.get("spec") or {}
        if manifest["kind"] in OPERATED_KINDS:
            labels = {**((spec.get("podMetadata") or {}).get("labels") or {}), NAME_LABEL: OPERATED_KINDS[manifest["kind"]],
                      OPERATOR_NAME_LABEL[manifest["kind"]]: manifest["metadata"]["name"], "app.kubernetes.io/instance": manifest["metadata"]["name"]}
            found.append((labels, int(spec.get("replicas", 1))))
        elif manifest["kind"] in ("Deployment", "StatefulSet"):
            found.append((spec["template"]["metadata"]["labels"], int(spec.get("replicas", 1))))
    return found


def target(render: Render, url: str) -> Target:
    """The Service ``url`` names in ``render`` and how many replicas answer behind it."""
    labels = (urlparse(url).hostname or "").split(".")
    assert labels[-1] == "svc" and labels[-2] == render.settings.namespace, f"{url}: not a Service of the stack's namespace"
    name = labels[-3]
    if name in OPERATED:
        selector, headless, affinity = OPERATED[name], True, "None"
    else:
        service: dict[str, Any] = find(render, "Service", name)["spec"]
        selector, headless, affinity = service["selector"], service.get("clusterIP") == "None", service.get("sessionAffinity", "None")
    replicas = sum(count for pod_labels, count in _pod_templates(render) if selector_matches({"matchLabels": selector}, pod_labels))
    assert replicas, f"{url}: {name} selects no pods of the render"
    return Target(name, headless, affinity, replicas, one_pod=len(labels) == 4)


def _grafana_clients(render: Render) -> int:
    """How many addresses Grafana's datasource requests leave from: its pods (the stack's own Grafana)."""
    deployment: dict[str, Any] = find(render, "Deployment", endpoints.GRAFANA_NAME)["spec"]
    return int(deployment.get("replicas", 1))


def inconsistent_reads(render: Render) -> list[str]:
    """Every datasource of ``render`` whose successive queries can meet different replicas."""
    problems = []
    for path, text in sorted(render.files.items()):
        if not (path.startswith("grafana/datasource-") and path.endswith(".json")):
            continue
        datasource = json.loads(text)
        found = target(render, datasource["url"])
        if found.replicas == 1 or found.one_pod:
            continue
        if found.headless or found.affinity != "ClientIP":
            problems.append(f"{datasource['uid']}: {datasource['url']} spreads queries over {found.replicas} replicas "
                            f"({found.service}: {'headless' if found.headless else 'sessionAffinity ' + found.affinity})")
        # ClientIP stickiness is per client address: it holds while every query leaves from one Grafana pod,
        # which makes the request itself (access "proxy"), never the user's browser.
        elif datasource.get("accessMode") != "proxy" or _grafana_clients(render) != 1:
            problems.append(f"{datasource['uid']}: sticky by client address, but queries leave from more than one address")
    return problems


def test_every_datasource_reads_one_replica_at_a_time(rendered: Render) -> None:
    assert inconsistent_reads(rendered) == []


def test_prod_has_replicated_stores_to_read(render_stack) -> None:
    """The check above is not vacuous: prod's Prometheus and Alertmanager run more than one replica."""
    render = render_stack("prod")
    replicated = {name: target(render, url).replicas for name, url in (
        ("prometheus", endpoints.prometheus_url(render.settings.namespace)),
        ("alertmanager", endpoints.alertmanager_url(render.settings.namespace)),
    )}
    assert replicated == {"prometheus": 2, "alertmanager": 3}


def test_the_operators_headless_service_would_be_refused(render_stack) -> None:
    """Through `prometheus-operated` each query resolves to either replica: what #2203 reports."""
    render = render_stack("prod")
    url = endpoints.service_url(endpoints.PROMETHEUS_SERVICE, render.settings.namespace, endpoints.PROMETHEUS.port)
    found = target(render, url)
    assert found.headless and found.replicas == 2
    # One replica by its stable name is consistent (and has no failover: docs/metrics.md, "Reads from replicas").
    one = f"http://{endpoints.PROMETHEUS_STATEFULSET}-0.{endpoints.PROMETHEUS_SERVICE}.{render.settings.namespace}.svc:9090"
    assert target(render, one).one_pod


def test_the_read_services_select_the_same_pods_as_the_operators(rendered: Render) -> None:
    """The sticky Service reaches every replica the operator's headless Service does (failover has somewhere to go)."""
    namespace = rendered.settings.namespace
    for read, operated, port in (
        (endpoints.prometheus_url(namespace), endpoints.PROMETHEUS_SERVICE, endpoints.PROMETHEUS.port),
        (endpoints.alertmanager_url(namespace), endpoints.ALERTMANAGER_SERVICE, endpoints.ALERTMANAGER.port),
    ):
        assert target(rendered, read).replicas == target(rendered, endpoints.service_url(operated, namespace, port)).replicas
        service = find(rendered, "Service", target(rendered, read).service)["spec"]
        assert port in [p["port"] for p in service["ports"]]
