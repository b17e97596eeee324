"""Pushgateway: persisted pushes, health probes on 9091, limits from DESIGN.md."""

from __future__ import annotations

from components.wiring import endpoints
from tooling.render import Render

CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "PriorityClass", "StorageClass"}


def _object(render: Render, kind: str, name: str) -> dict:
    return next(m for m in render.manifests() if m["kind"] == kind and m["metadata"]["name"] == name)


def test_pushed_metrics_persist_on_a_volume(rendered: Render) -> None:
    deployment = _object(rendered, "Deployment", endpoints.PUSHGATEWAY_NAME)
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    persistence = next(a for a in container["args"] if a.startswith("--persistence.file="))
    state_dir = persistence.split("=", 1)[1].rsplit("/", 1)[0]
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == state_dir)
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    claim = _object(rendered, "PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])
    assert claim["spec"]["resources"]["requests"]["storage"] == rendered.settings.pushgateway.storage.size
    assert deployment["spec"]["strategy"]["type"] == "Recreate"


def test_probes_and_service_use_port_9091(rendered: Render) -> None:
    container = _object(rendered, "Deployment", endpoints.PUSHGATEWAY_NAME)["spec"]["template"]["spec"]["containers"][0]
    assert container["ports"] == [{"name": "http", "containerPort": 9091, "protocol": "TCP"}]
    assert container["readinessProbe"]["httpGet"] == {"path": "/-/ready", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/-/healthy", "port": "http"}
    service = _object(rendered, "Service", endpoints.PUSHGATEWAY_NAME)
    assert service["spec"]["ports"][0]["port"] == 9091


def test_limits_are_the_designed_ones(rendered: Render) -> None:
    container = _object(rendered, "Deployment", endpoints.PUSHGATEWAY_NAME)["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"] == {"cpu": "500m", "memory": "512Mi"}


def test_everything_lands_in_the_stack_namespace(rendered: Render) -> None:
    namespace = _object(rendered, "Namespace", rendered.settings.namespace)
    assert namespace["metadata"]["labels"]["environment"] == rendered.settings.environment
    # The exceptions: access to the kubelet Service's namespace for the operator and Prometheus, and
    # node-exporter with Prometheus's discovery of it in the privileged host namespace (components/namespace.py).
    kubelet_namespace = rendered.settings.operator.kubelet_service.split("/", 1)[0]
    host = rendered.settings.context.host_namespace
    in_host = set()
    for manifest in rendered.manifests():
        if manifest["kind"] in ("Role", "RoleBinding") and manifest["metadata"]["namespace"] == kubelet_namespace:
            assert manifest["metadata"]["name"].endswith(f"-{rendered.settings.namespace}") or "-kubelet" in manifest["metadata"]["name"]
        elif manifest["kind"] not in CLUSTER_SCOPED and manifest["metadata"]["namespace"] == host:
            in_host.add((manifest["kind"], manifest["metadata"]["name"]))
        elif manifest["kind"] not in CLUSTER_SCOPED:
            assert manifest["metadata"]["namespace"] == rendered.settings.namespace
    discovery = f"prometheus-{rendered.settings.namespace}"
    assert in_host == {
        ("DaemonSet", "node-exporter"),
        ("ServiceAccount", "node-exporter"),
        ("Service", "node-exporter"),
        ("Role", discovery),
        ("RoleBinding", discovery),
    }
