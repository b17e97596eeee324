"""Every container of every stack: requests and limits, probes, hardened context, pinned image, labels.

The walk covers whatever components exist, so a new component is checked
without new test code.
"""

from __future__ import annotations

import copy

import pytest

from components.kit.workload import ContainerSpec, HttpCheck, Probes
from components.settings.loader import load_settings
from tests.support.workload_rules import OPERATOR_WORKLOAD_KINDS, operator_workload_violations, pod_specs, workload_violations
from tooling.render import Render

REQUIRED_LABELS = ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/part-of", "app.kubernetes.io/managed-by", "environment")


def _workloads(render: Render) -> list[dict]:
    return [m for m in render.manifests() if list(pod_specs(m))]


def test_every_stack_has_workloads_to_check(rendered: Render) -> None:
    assert len(_workloads(rendered)) >= 1


def test_every_container_has_limits_probes_and_hardened_context(rendered: Render) -> None:
    problems = {f"{m['kind']}/{m['metadata']['name']}": workload_violations(m) for m in _workloads(rendered)}
    assert {name: p for name, p in problems.items() if p} == {}


def test_every_object_carries_the_standard_labels(rendered: Render) -> None:
    for manifest in _workloads(rendered):
        for labels in (manifest["metadata"]["labels"], manifest["spec"]["template"]["metadata"]["labels"]):
            missing = [label for label in REQUIRED_LABELS if label not in labels]
            assert missing == [], f"{manifest['kind']}/{manifest['metadata']['name']} lacks {missing}"
            assert labels["environment"] == rendered.settings.environment


def test_service_account_token_not_mounted_unless_needed(rendered: Render) -> None:
    for manifest in _workloads(rendered):
        for spec in pod_specs(manifest):
            assert "automountServiceAccountToken" in spec, f"{manifest['metadata']['name']} leaves token mounting to the default"


@pytest.mark.parametrize(
    ("path", "change", "expected"),
    [
        (("resources", "limits"), None, "no limits.cpu"),
        (("livenessProbe",), None, "no livenessProbe"),
        (("securityContext", "readOnlyRootFilesystem"), False, "readOnlyRootFilesystem"),
        (("securityContext", "capabilities"), {"drop": []}, "capabilities"),
        (("image",), "quay.io/prometheus/pushgateway:latest", "latest"),
        (("image",), "quay.io/prometheus/pushgateway", "no tag"),
    ],
)
def test_the_walk_catches_a_weakened_container(render_stack, path: tuple[str, ...], change: object, expected: str) -> None:
    manifest = copy.deepcopy(_workloads(render_stack("dev"))[0])
    target = next(pod_specs(manifest))["containers"][0]
    for key in path[:-1]:
        target = target[key]
    if change is None:
        del target[path[-1]]
    else:
        target[path[-1]] = change
    assert any(expected in problem for problem in workload_violations(manifest))


def test_builder_refuses_a_container_without_resources_or_probes() -> None:
    with pytest.raises(TypeError):
        ContainerSpec(name="x", image="example.org/x:1.0", probes=Probes(HttpCheck("/", 1), HttpCheck("/", 1)))  # type: ignore[call-arg]
    resources = load_settings({}, "dev").pushgateway.resources
    with pytest.raises(TypeError):
        ContainerSpec(name="x", image="example.org/x:1.0", resources=resources)  # type: ignore[call-arg]


def _operator_workloads(render: Render) -> list[dict]:
    return [m for m in render.manifests() if m["kind"] in OPERATOR_WORKLOAD_KINDS]


def test_prometheus_and_alertmanager_resources_have_limits_and_hardened_pods(rendered: Render) -> None:
    found = _operator_workloads(rendered)
    assert {m["kind"] for m in found} == OPERATOR_WORKLOAD_KINDS
    problems = {f"{m['kind']}/{m['metadata']['name']}": operator_workload_violations(m) for m in found}
    assert {name: p for name, p in problems.items() if p} == {}


@pytest.mark.parametrize(
    ("key", "change", "expected"),
    [
        ("resources", {"limits": {"cpu": "1", "memory": "1Gi"}}, "no requests.cpu"),
        ("securityContext", {}, "runAsNonRoot"),
        ("image", "quay.io/prometheus/prometheus:latest", "latest"),
    ],
)
def test_the_walk_catches_a_weakened_custom_resource(render_stack, key: str, change: object, expected: str) -> None:
    manifest = copy.deepcopy(_operator_workloads(render_stack("dev"))[0])
    manifest["spec"][key] = change
    assert any(expected in problem for problem in operator_workload_violations(manifest))
