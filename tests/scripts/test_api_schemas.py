"""Every rendered object against the Kubernetes API schemas of the supported versions (strict) and the vendored CRDs."""

from __future__ import annotations

import copy
import re
from typing import Any

import kubernetes_validate
import pytest

from components import paths
from components.cluster import SUPPORTED_KUBERNETES
from scripts.api_check import Finding, check_objects, check_render, kubernetes_objects, structural_to_json_schema
from tooling.render import Render

README = paths.README
OPERATOR = "quay.io/prometheus-operator/prometheus-operator:v0.85.0"
# Settings that add objects or fields the committed stacks do not have (one render: renders are slow).
VARIANT = (
    "prod",
    "grafana.ingress={enabled: true, host: grafana.example.com, className: nginx, tlsSecretName: grafana-tls}",
    "loki.objectStorage={backend: s3, bucket: logs-1, region: eu-west-1, credentials: workloadIdentity, since: 2027-01-04}",
    "tempo.objectStorage={backend: gcs, bucket: traces-1, credentials: workloadIdentity}",
)


_OBJECTS: dict[int, tuple[Render, list[dict[str, Any]]]] = {}


def _objects(render: Render) -> list[dict[str, Any]]:
    """kubernetes_objects(render), once per render (renders are cached for the session; the CRDs make it megabytes).
    Shared: _one() deep-copies before a test changes an object."""
    cached = _OBJECTS.get(id(render))
    if cached is None or cached[0] is not render:
        cached = _OBJECTS[id(render)] = (render, kubernetes_objects(render))
    return cached[1]


def _one(render: Render, kind: str, name: str | None = None) -> dict[str, Any]:
    found = [o for o in _objects(render) if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert found, f"no {kind} in the render"
    return copy.deepcopy(found[0])


def _problems(obj: dict[str, Any]) -> list[tuple[str, str]]:
    return [(f.problem, f.path) for f in check_objects([obj], OPERATOR)]


def test_every_object_of_every_stack_passes(rendered: Render) -> None:
    objects = _objects(rendered)
    kinds = {o["kind"] for o in objects}
    # The check covers built-in kinds, the CRDs themselves and the custom resources.
    assert {"Deployment", "StatefulSet", "DaemonSet", "Secret", "NetworkPolicy", "CustomResourceDefinition"} <= kinds
    assert {"Prometheus", "Alertmanager", "PrometheusRule", "PodMonitor", "Probe", "ScrapeConfig"} <= kinds
    assert [str(f) for f in check_render(rendered)] == []


def test_optional_objects_pass(render_stack) -> None:
    render = render_stack(*VARIANT)
    assert "Ingress" in {o["kind"] for o in _objects(render)}
    assert [str(f) for f in check_render(render)] == []


def test_an_unknown_field_in_a_built_in_object_is_refused(render_stack) -> None:
    deployment = _one(render_stack("dev"), "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    assert _problems(deployment) == [("unknown field", "spec.template.spec.containers.0.imagePullPolicyy")]


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (lambda o: o["spec"].__setitem__("replicas", "2"), "spec.replicas"),  # a string where the API wants an integer
        (lambda o: o["spec"]["template"]["spec"]["containers"][0].pop("name"), "spec.template.spec.containers.0"),  # required
        (lambda o: o["spec"]["template"]["spec"]["containers"][0].__setitem__("ports", {"containerPort": 80}), "spec.template.spec.containers.0.ports"),
    ],
)
def test_a_wrong_built_in_value_is_refused(render_stack, change: Any, path: str) -> None:
    deployment = _one(render_stack("dev"), "Deployment")
    change(deployment)
    assert _problems(deployment) == [("invalid", path)]


def test_a_kind_missing_from_a_version_is_reported() -> None:
    # PodSecurityPolicy left the API in 1.25: no supported version knows it.
    obj = {"apiVersion": "policy/v1beta1", "kind": "PodSecurityPolicy", "metadata": {"name": "x"}, "spec": {}}
    findings = check_objects([obj], OPERATOR)
    assert [(f.problem, f.versions) for f in findings] == [("no schema", ", ".join(SUPPORTED_KUBERNETES))]


def test_a_field_the_crd_does_not_define_is_reported_as_pruned(render_stack) -> None:
    prometheus = _one(render_stack("dev"), "Prometheus")
    prometheus["spec"]["retentionPeriod"] = "15d"  # the field is spec.retention
    prometheus["spec"]["storage"]["volumeClaimTemplate"]["spec"]["storageClass"] = "fast"  # storageClassName
    assert sorted(_problems(prometheus)) == [
        ("pruned field", "spec.retentionPeriod"),
        ("pruned field", "spec.storage.volumeClaimTemplate.spec.storageClass"),
    ]


def test_a_field_under_preserve_unknown_fields_is_kept() -> None:
    schema = structural_to_json_schema(
        {"type": "object", "properties": {"a": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}, "b": {"type": "object", "properties": {}}}}
    )
    assert schema["additionalProperties"] is False
    assert "additionalProperties" not in schema["properties"]["a"]
    assert schema["properties"]["b"]["additionalProperties"] is False


@pytest.mark.parametrize(
    ("kind", "change", "path"),
    [
        ("Prometheus", lambda o: o["spec"].__setitem__("replicas", "2"), "spec.replicas"),  # type
        ("Prometheus", lambda o: o["spec"].__setitem__("logLevel", "verbose"), "spec.logLevel"),  # enum
        ("Prometheus", lambda o: o["spec"].__setitem__("retention", "15 days"), "spec.retention"),  # pattern
        ("Prometheus", lambda o: o["spec"].__setitem__("enableFeatures", ["exemplar-storage", "exemplar-storage"]), "spec.enableFeatures"),  # list set
        ("PrometheusRule", lambda o: o["spec"]["groups"][0].pop("name"), "spec.groups.0"),  # required
        ("PrometheusRule", lambda o: o["spec"]["groups"].append(copy.deepcopy(o["spec"]["groups"][0])), "spec.groups"),  # list-map key twice
        ("PodMonitor", lambda o: o["metadata"].__setitem__("labels", ["a"]), "metadata.labels"),  # ObjectMeta
    ],
)
def test_a_wrong_custom_resource_value_is_refused(render_stack, kind: str, change: Any, path: str) -> None:
    obj = _one(render_stack("dev"), kind)
    change(obj)
    assert _problems(obj) == [("invalid", path)]


def test_an_embedded_resource_keeps_its_type_and_metadata() -> None:
    schema = structural_to_json_schema({"type": "object", "x-kubernetes-embedded-resource": True, "properties": {"spec": {"type": "object"}}})
    assert set(schema["properties"]) == {"apiVersion", "kind", "metadata", "spec"}
    assert schema["additionalProperties"] is False


def test_int_or_string_and_nullable_follow_the_api_server() -> None:
    port = {"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": True}
    schema = structural_to_json_schema({"type": "object", "properties": {"port": port, "n": {"type": "string", "nullable": True}}})
    assert schema["properties"]["port"]["type"] == ["integer", "string"]
    assert schema["properties"]["n"]["type"] == ["string", "null"]


def test_a_custom_resource_without_a_vendored_crd_is_reported() -> None:
    obj = {"apiVersion": "monitoring.coreos.com/v2", "kind": "Prometheus", "metadata": {"name": "x"}, "spec": {}}
    assert [f.problem for f in check_objects([obj], OPERATOR)] == ["no schema"]


def test_findings_name_the_object_path_and_versions() -> None:
    finding = Finding("Deployment/observability/grafana", "spec.replicas", "invalid", "'2' is not of type 'integer'", "1.33, 1.34")
    assert str(finding) == "Deployment/observability/grafana at spec.replicas: invalid: '2' is not of type 'integer' (Kubernetes 1.33, 1.34)"


def test_the_check_agrees_with_kubernetes_validate(render_stack) -> None:
    """The library's own entry point gives the same verdicts for a sample of objects, good and bad."""
    render = render_stack("prod")
    for kind in ("Deployment", "StatefulSet", "DaemonSet", "Service", "NetworkPolicy", "ClusterRole", "PersistentVolumeClaim", "Secret"):
        obj = _one(render, kind)
        for version in (SUPPORTED_KUBERNETES[0], SUPPORTED_KUBERNETES[-1]):
            kubernetes_validate.validate(obj, version, strict=True)
        obj["spec" if "spec" in obj else "metadata"]["unknownField"] = 1
        assert check_objects([obj], OPERATOR)
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(obj, SUPPORTED_KUBERNETES[-1], strict=True)


def test_every_supported_version_has_schemas() -> None:
    # The library maps a newer version to its newest schema; a supported version must have its own.
    assert {kubernetes_validate.utils.major_minor(v) for v in kubernetes_validate.utils.all_versions()} >= set(SUPPORTED_KUBERNETES)


def test_the_readme_names_the_supported_versions() -> None:
    match = re.search(r"Supported Kubernetes versions: ([0-9., ]+)\.", README.read_text())
    assert match, "README: no 'Supported Kubernetes versions: ...' line"
    assert tuple(v.strip() for v in match.group(1).split(",")) == SUPPORTED_KUBERNETES


def test_a_field_with_cel_rules_is_reported_as_unchecked() -> None:
    # PrometheusAgent's spec carries a CEL rule (mode DaemonSet excludes replicas) that this check cannot evaluate.
    agent = {"apiVersion": "monitoring.coreos.com/v1alpha1", "kind": "PrometheusAgent", "metadata": {"name": "a"}, "spec": {"mode": "DaemonSet"}}
    findings = check_objects([agent], OPERATOR)
    assert [(f.problem, f.path) for f in findings] == [("no schema", "spec")]
    assert "x-kubernetes-validations" in findings[0].message
