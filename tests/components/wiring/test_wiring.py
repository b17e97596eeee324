"""Seams between components outside the data-flow table: operator Events, probes on the paths served,
per-queue RabbitMQ data, and one availability series for each dependency's alert, probe and panel."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import promql_parser as pp
import yaml

from components.metrics.service_availability import AVAILABILITY_SERIES, PROBED_KINDS
from components.wiring import endpoints
from components.wiring.endpoints import BLACKBOX_EXPORTER_NAME, MONGODB_EXPORTER_NAME, OPERATOR_NAME
from tests.support.k8s_objects import manifests
from tooling.render import Render

# --- operator Events ----------------------------------------------------------------------------


def _rules_granted(render: Render, account: str, namespace: str | None) -> Iterator[Mapping[str, Any]]:
    """RBAC rules that apply to the ServiceAccount in ``namespace`` (None: a cluster-wide request)."""
    objects = manifests(render)
    for binding in objects:
        if binding["kind"] not in ("ClusterRoleBinding", "RoleBinding"):
            continue
        if binding["kind"] == "RoleBinding" and (namespace is None or binding["metadata"]["namespace"] != namespace):
            continue  # a RoleBinding grants nothing outside its namespace
        if not any(s["kind"] == "ServiceAccount" and s["name"] == account and s["namespace"] == render.settings.namespace for s in binding["subjects"]):
            continue
        ref = binding["roleRef"]
        for role in objects:
            same_namespace = ref["kind"] == "ClusterRole" or role["metadata"].get("namespace") == binding["metadata"].get("namespace")
            if role["kind"] == ref["kind"] and role["metadata"]["name"] == ref["name"] and same_namespace:
                yield from role.get("rules", [])


def can(render: Render, account: str, verb: str, group: str, resource: str, namespace: str | None) -> bool:
    """What a SelfSubjectAccessReview of the account answers (RBAC only; ``namespace`` None asks for all namespaces)."""
    return any(
        (verb in r["verbs"] or "*" in r["verbs"]) and (group in r["apiGroups"] or "*" in r["apiGroups"])
        and (resource in r["resources"] or "*" in r["resources"])
        for r in _rules_granted(render, account, namespace)
    )


def test_the_operator_may_emit_events_as_it_checks_for(rendered: Render) -> None:
    # cmd/operator/main.go (v0.85): k8s.IsAllowed(..., nil namespaces, events.k8s.io/v1 events, create+patch);
    # false makes it fall back to a recorder that emits nothing.
    for verb in ("create", "patch"):
        assert can(rendered, OPERATOR_NAME, verb, "events.k8s.io", "events", None)
    # Events about its objects land in the stack's namespace too.
    assert can(rendered, OPERATOR_NAME, "create", "events.k8s.io", "events", rendered.settings.namespace)


def test_the_operator_events_grant_is_nothing_more(rendered: Render) -> None:
    granted = [r for r in _rules_granted(rendered, OPERATOR_NAME, None) if "events" in r["resources"]]
    assert granted and all(set(r["verbs"]) <= {"create", "patch"} and r["resources"] == ["events"] for r in granted)


# --- probes ask the paths the components serve ----------------------------------------------------


def _declared_paths() -> dict[int, set[str]]:
    """Container port -> the paths components/wiring/endpoints.py declares served there."""
    paths: dict[int, set[str]] = {}
    for value in vars(endpoints).values():
        if isinstance(value, endpoints.Endpoint):
            paths.setdefault(value.port, set()).update(p for p in (value.ready_path, value.healthy_path, value.metrics_path, value.live_path) if p)
    return paths


def test_every_http_probe_asks_a_path_its_endpoint_serves(rendered: Render) -> None:
    declared = _declared_paths()
    for manifest in manifests(rendered):
        if manifest["kind"] not in ("Deployment", "StatefulSet", "DaemonSet"):
            continue
        for item in manifest["spec"]["template"]["spec"]["containers"]:
            ports = {p["name"]: p["containerPort"] for p in item.get("ports", [])}
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                check = item.get(probe, {}).get("httpGet")
                if check is None:
                    continue
                port = ports[check["port"]] if isinstance(check["port"], str) else check["port"]
                where = f"{manifest['kind']}/{manifest['metadata']['name']} {probe}"
                assert check["path"] in declared.get(port, set()), f"{where} asks {check['path']} on {port}; served: {declared.get(port)}"


def test_the_mongodb_exporter_is_probed_on_metrics(rendered: Render) -> None:
    exporters = [m for m in manifests(rendered) if m["kind"] == "Deployment" and m["metadata"]["name"].startswith(f"{MONGODB_EXPORTER_NAME}-")]
    assert exporters
    for exporter in exporters:
        (item,) = exporter["spec"]["template"]["spec"]["containers"]
        for probe in ("livenessProbe", "readinessProbe"):
            assert item[probe]["httpGet"] == {"path": "/metrics", "port": "metrics"}


# --- RabbitMQ per queue, and the seed's queue age -------------------------------------------------


def test_per_queue_rabbitmq_series_are_scraped_and_the_queue_age_is_recorded(rendered: Render) -> None:
    (config,) = [m["spec"] for m in manifests(rendered) if m["kind"] == "ScrapeConfig" and m["spec"]["jobName"] == "rabbitmq"]
    # /metrics aggregates all queues into one series without a queue label (RabbitMQ prometheus plugin).
    assert config["metricsPath"] == "/metrics/per-object"
    rules = [r for path, text in rendered.files.items() if path.startswith("rules/") for g in yaml.safe_load(text)["groups"] for r in g["rules"]]
    (age,) = [r for r in rules if r.get("record") == "rabbitmq_queue_message_age_seconds"]
    selectors = _selectors(age["expr"])
    assert selectors == {("rabbitmq_queue_head_message_timestamp", ())}
    users = [r for r in rules if "alert" in r and "rabbitmq_queue_message_age_seconds" in r["expr"]]
    assert users, "the queue-lag alerts read the recorded age"


# --- one availability series per dependency -------------------------------------------------------


def _selectors(expr: str) -> set[tuple[str, tuple[tuple[str, str, str], ...]]]:
    """(metric, matchers) of every vector selector in ``expr``; matchers as (label, op, value), sorted."""
    found: set[tuple[str, tuple[tuple[str, str, str], ...]]] = set()

    def visit(node: Any) -> None:
        if isinstance(node, pp.VectorSelector):
            matchers = tuple(sorted((m.name, str(m.op).rsplit(".", 1)[-1], m.value) for m in node.matchers.matchers if m.name != "__name__"))
            found.add((node.name or "", matchers))

    pp.walk(pp.parse(expr), visit)
    return found


def test_each_dependency_alert_and_panel_read_its_availability_series(rendered: Render) -> None:
    rules = [r for path, text in rendered.files.items() if path.startswith("rules/") for g in yaml.safe_load(text)["groups"] for r in g["rules"]]
    alerts = {r["labels"]["service"]: r for r in rules if r.get("alert") == "CopilotDependencyDown"}
    panels = {p["title"]: p for p in _panels(json.loads(rendered.files["dashboards/copilot-system-health.json"]))}
    for target in rendered.settings.service_exporters.targets:
        series = _selectors(AVAILABILITY_SERIES[target.kind])
        assert _selectors(alerts[target.name]["expr"]) == series, f"{target.name}: the alert reads another series"
        panel = next(p for title, p in panels.items() if title.lower().startswith(target.kind))
        assert {s for t in panel["targets"] for s in _selectors(t["expr"])} == series, f"{target.name}: the panel reads another series"


def test_ollama_gets_the_probe_its_alert_watches(rendered: Render) -> None:
    ollama = [t for t in rendered.settings.service_exporters.targets if t.kind in PROBED_KINDS]
    assert ollama
    probes = {m["metadata"]["name"]: m["spec"] for m in manifests(rendered) if m["kind"] == "Probe"}
    for target in ollama:
        spec = probes[f"service-{target.name}"]
        # The operator sets job=<spec.jobName>: exactly the alert's matcher.
        assert ("job", "Equal", spec["jobName"]) in next(iter(_selectors(AVAILABILITY_SERIES[target.kind])))[1]
        (url,) = spec["targets"]["staticConfig"]["static"]
        assert url == f"http://{target.address}/"
        assert spec["module"] == "http_2xx"
        assert spec["prober"]["url"].startswith(f"{BLACKBOX_EXPORTER_NAME}.")


def _panels(dashboard: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for panel in dashboard.get("panels", []):
        yield panel
        yield from _panels(panel)
