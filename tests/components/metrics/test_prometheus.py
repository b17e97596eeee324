"""Prometheus and its operator: sizing per environment, CRDs first, least privilege, exact selectors."""

from __future__ import annotations

import copy

import pytest

from components.kit.labels import stack_selector
from components.metrics.operator_crds import USED_KINDS, crd_directory, load_crds
from components.rules.catalog import FORBIDDEN_LABELS
from components.settings.units import byte_size_bytes, quantity_bytes
from components.wiring import endpoints
from tests.support.selectors import matches
from tooling.render import Render

# DESIGN.md's table, in the units the Prometheus resource uses.
EXPECTED = {
    "dev": {"retention": "7d", "volume": "5Gi", "replicas": 1, "scrape": "15s"},
    "staging": {"retention": "30d", "volume": "20Gi", "replicas": 1, "scrape": "15s"},
    "prod": {"retention": "90d", "volume": "100Gi", "replicas": 2, "scrape": "10s"},
}
SELECTED_KINDS = {
    "PrometheusRule": ("ruleSelector", "ruleNamespaceSelector"),
    "ServiceMonitor": ("serviceMonitorSelector", "serviceMonitorNamespaceSelector"),
    "PodMonitor": ("podMonitorSelector", "podMonitorNamespaceSelector"),
    "Probe": ("probeSelector", "probeNamespaceSelector"),
    "ScrapeConfig": ("scrapeConfigSelector", "scrapeConfigNamespaceSelector"),
}


def _one(render: Render, kind: str, name: str | None = None) -> dict:
    found = [m for m in render.manifests() if m["kind"] == kind and (name is None or m["metadata"]["name"] == name)]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} objects"
    return found[0]


def _namespace_labels(render: Render, namespace: str) -> dict[str, str]:
    # The API server adds kubernetes.io/metadata.name to every namespace.
    return {"kubernetes.io/metadata.name": namespace}


def selected(prometheus: dict, render: Render, manifest: dict) -> bool:
    selector_key, namespace_key = SELECTED_KINDS[manifest["kind"]]
    spec = prometheus["spec"]
    namespace = manifest["metadata"]["namespace"]
    return matches(spec.get(selector_key), manifest["metadata"].get("labels") or {}) and matches(
        spec.get(namespace_key), _namespace_labels(render, namespace)
    )


def test_retention_size_volume_and_replicas_follow_the_environment(rendered: Render) -> None:
    expected = EXPECTED[rendered.settings.environment]
    spec = _one(rendered, "Prometheus")["spec"]
    assert spec["retention"] == expected["retention"]
    assert spec["replicas"] == expected["replicas"]
    assert spec["scrapeInterval"] == expected["scrape"]
    volume = spec["storage"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"]
    assert volume == expected["volume"]
    assert byte_size_bytes(spec["retentionSize"]) < quantity_bytes(volume)
    assert spec["walCompression"] is True
    assert spec["externalLabels"] == {"environment": rendered.settings.environment, "cluster": rendered.settings.cluster}


def test_limits_are_the_designed_ones_in_staging_and_prod(render_stack) -> None:
    for stack in ("staging", "prod"):
        assert _one(render_stack(stack), "Prometheus")["spec"]["resources"]["limits"] == {"cpu": "2", "memory": "2Gi"}


def test_storage_class_is_configurable(render_stack) -> None:
    spec = _one(render_stack("staging", "prometheus.storage.storageClass=fast-ssd"), "Prometheus")["spec"]
    assert spec["storage"]["volumeClaimTemplate"]["spec"]["storageClassName"] == "fast-ssd"
    assert "storageClassName" not in _one(render_stack("staging"), "Prometheus")["spec"]["storage"]["volumeClaimTemplate"]["spec"]


def test_prod_replicas_spread_over_nodes_and_keep_a_disruption_budget(render_stack) -> None:
    prod = render_stack("prod")
    for kind, name in (("Prometheus", endpoints.PROMETHEUS_NAME), ("Alertmanager", endpoints.ALERTMANAGER_NAME)):
        spec = _one(prod, kind)["spec"]
        (rules,) = spec["affinity"]["podAntiAffinity"].values()
        selector = (rules[0].get("podAffinityTerm") or rules[0])["labelSelector"]
        budget = _one(prod, "PodDisruptionBudget", name)
        assert budget["spec"]["selector"] == selector
        service = _one(prod, "Service", name)
        assert service["spec"]["selector"] == selector["matchLabels"]
        assert budget["spec"]["maxUnavailable"] < spec["replicas"]
        assert "affinity" not in _one(render_stack("dev"), kind)["spec"]


def test_cardinality_is_bounded_and_forbidden_labels_are_dropped(rendered: Render) -> None:
    spec = _one(rendered, "Prometheus")["spec"]
    limits = rendered.settings.prometheus.scrape_limits
    assert spec["enforcedSampleLimit"] == limits.sample_limit
    assert spec["enforcedLabelLimit"] == limits.label_limit
    assert spec["enforcedLabelNameLengthLimit"] == limits.label_name_length_limit
    assert spec["enforcedLabelValueLengthLimit"] == limits.label_value_length_limit
    assert spec["enforcedTargetLimit"] == limits.target_limit
    (scrape_class,) = spec["scrapeClasses"]
    assert scrape_class["default"] is True
    (drop,) = scrape_class["metricRelabelings"]
    assert drop["action"] == "labeldrop"
    assert set(drop["regex"].split("|")) == FORBIDDEN_LABELS


def test_selectors_are_exactly_the_stack_labels_in_the_stack_namespace(rendered: Render) -> None:
    spec = _one(rendered, "Prometheus")["spec"]
    for selector_key, namespace_key in SELECTED_KINDS.values():
        assert spec[selector_key] == {"matchLabels": stack_selector(rendered.settings.context)}
        assert spec[namespace_key] == {"matchLabels": {"kubernetes.io/metadata.name": rendered.settings.namespace}}


def test_every_rule_and_monitor_in_the_render_is_selected(rendered: Render) -> None:
    prometheus = _one(rendered, "Prometheus")
    objects = [m for m in rendered.manifests() if m["kind"] in SELECTED_KINDS]
    missed = [f"{m['kind']}/{m['metadata']['name']}" for m in objects if not selected(prometheus, rendered, m)]
    assert missed == []


@pytest.mark.parametrize("kind", sorted(SELECTED_KINDS))
def test_an_object_without_the_stack_label_or_elsewhere_is_not_selected(rendered: Render, kind: str) -> None:
    prometheus = _one(rendered, "Prometheus")
    labels = {**stack_selector(rendered.settings.context), "app.kubernetes.io/name": "x"}
    ours: dict = {"kind": kind, "metadata": {"name": "x", "namespace": rendered.settings.namespace, "labels": labels}}
    assert selected(prometheus, rendered, ours)
    unlabelled = copy.deepcopy(ours)
    del unlabelled["metadata"]["labels"][next(iter(stack_selector(rendered.settings.context)))]
    assert not selected(prometheus, rendered, unlabelled)
    other_stack = copy.deepcopy(ours)
    other_stack["metadata"]["labels"].update({k: v + "-other" for k, v in stack_selector(rendered.settings.context).items()})
    assert not selected(prometheus, rendered, other_stack)
    elsewhere = copy.deepcopy(ours)
    elsewhere["metadata"]["namespace"] = "default"
    assert not selected(prometheus, rendered, elsewhere)


def test_alerts_go_to_this_stacks_alertmanager(rendered: Render) -> None:
    (target,) = _one(rendered, "Prometheus")["spec"]["alerting"]["alertmanagers"]
    service = _one(rendered, "Service", target["name"])
    assert target["namespace"] == rendered.settings.namespace
    assert [p["name"] for p in service["spec"]["ports"]] == [target["port"]]


def test_vendored_crds_match_the_operator_release(rendered: Render) -> None:
    operator_version = rendered.settings.operator.image.rsplit(":v", 1)[1]
    reloader_version = rendered.settings.operator.config_reloader_image.rsplit(":v", 1)[1]
    assert reloader_version == operator_version
    documents = load_crds(crd_directory(rendered.settings.operator.image))
    assert {d["metadata"]["annotations"]["operator.prometheus.io/version"] for d in documents} == {operator_version}
    assert set(USED_KINDS) <= {d["spec"]["names"]["kind"] for d in documents}
    registered = {m["metadata"]["name"] for m in rendered.manifests() if m["kind"] == "CustomResourceDefinition"}
    assert registered == {d["metadata"]["name"] for d in documents}


def test_custom_resources_wait_for_their_crds(rendered: Render) -> None:
    crds = {r.urn for r in rendered.records if r.type == "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"}
    assert crds
    custom = [r for r in rendered.records if r.type.startswith("kubernetes:monitoring.coreos.com/")]
    assert custom
    for record in custom:
        assert crds <= set(record.dependencies), f"{record.type} {record.name} does not wait for the CRDs"


def test_crds_are_protected_where_state_is(render_stack) -> None:
    for stack, protected in (("dev", False), ("prod", True)):
        records = [r for r in render_stack(stack).records if r.type.endswith(":CustomResourceDefinition")]
        assert records and all(r.protect is protected for r in records)


def test_existing_operator_means_no_crds_and_no_operator(render_stack) -> None:
    render = render_stack("dev", "operator.install=false")
    kinds = {m["kind"] for m in render.manifests()}
    assert "CustomResourceDefinition" not in kinds
    assert not [m for m in render.manifests() if m["kind"] in ("Deployment", "ServiceAccount") and m["metadata"]["name"] == endpoints.OPERATOR_NAME]
    assert {"Prometheus", "Alertmanager"} <= kinds


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_switching_to_an_existing_operator_never_deletes_a_crd(render_stack, stack: str) -> None:
    """operator.install: false drops the CRDs from the program; the engine then deletes every resource
    that left it unless it is retained (retainOnDelete) - and deleting a CRD deletes every object of its kind."""
    before = {r.urn: r for r in render_stack(stack).records}
    after = {r.urn for r in render_stack(stack, "operator.install=false").records}
    dropped = [before[urn] for urn in set(before) - after]
    crds = [r for r in dropped if r.type == "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"]
    assert len(crds) == len(load_crds(crd_directory(render_stack(stack).settings.operator.image)))
    assert [r.name for r in crds if not r.retain_on_delete] == []


def test_operator_is_scoped_to_the_stack_namespace(rendered: Render) -> None:
    deployment = _one(rendered, "Deployment", endpoints.OPERATOR_NAME)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert f"--namespaces={rendered.settings.namespace}" in container["args"]
    assert f"--prometheus-config-reloader={rendered.settings.operator.config_reloader_image}" in container["args"]
    assert deployment["spec"]["template"]["spec"]["automountServiceAccountToken"] is True


def test_cluster_wide_access_is_read_only(rendered: Render) -> None:
    writes = {"create", "update", "patch", "delete", "deletecollection", "*"}
    for role in (m for m in rendered.manifests() if m["kind"] == "ClusterRole"):
        for rule in role["rules"]:
            if rule.get("resources") == ["events"]:
                # The one exception: the operator emits Events only with a cluster-wide grant (docs/metrics.md).
                assert set(rule["verbs"]) <= {"create", "patch"} and role["metadata"]["name"].startswith("prometheus-operator-")
                continue
            assert not writes & set(rule["verbs"]), f"ClusterRole {role['metadata']['name']} may {rule['verbs']} {rule.get('resources')}"
            assert "secrets" not in rule.get("resources", [])


def test_cluster_scoped_names_are_unique_per_namespace(rendered: Render) -> None:
    for manifest in rendered.manifests():
        if manifest["kind"] in ("ClusterRole", "ClusterRoleBinding"):
            assert manifest["metadata"]["name"].endswith(f"-{rendered.settings.namespace}")
