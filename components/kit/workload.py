"""The one builder of pod and container specs.

Resources, probes and the hardened security context are required arguments
or fixed here, so a container without limits, probes or the restricted
context cannot be written by accident: every component calls this module.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from components.kit.context import HttpEndpoint, ResourceAmounts

NOBODY = 65534


@dataclass(frozen=True)
class HttpCheck:
    path: str
    port: int | str


@dataclass(frozen=True)
class TcpCheck:
    port: int | str


@dataclass(frozen=True)
class ExecCheck:
    command: tuple[str, ...]


Check = HttpCheck | TcpCheck | ExecCheck


@dataclass(frozen=True)
class Probes:
    liveness: Check
    readiness: Check
    # For components that replay a WAL or load an index before serving:
    # liveness waits until the startup probe has passed once.
    startup: Check | None = None
    startup_budget_seconds: int = 300

    @classmethod
    def http(cls, endpoint: HttpEndpoint, *, slow_start: bool = False) -> Probes:
        """Readiness on the ready path, liveness on the liveness path of a component's endpoint."""
        ready = HttpCheck(endpoint.ready_path, endpoint.port_name)
        return cls(
            liveness=HttpCheck(endpoint.liveness_path, endpoint.port_name),
            readiness=ready,
            startup=ready if slow_start else None,
        )


@dataclass(frozen=True)
class Port:
    name: str
    port: int
    protocol: str = "TCP"

    @classmethod
    def of(cls, endpoint: HttpEndpoint) -> Port:
        """The container port serving ``endpoint``, under the endpoint's port name."""
        return cls(endpoint.port_name, endpoint.port)


@dataclass(frozen=True)
class ContainerSpec:
    name: str
    image: str
    resources: ResourceAmounts
    probes: Probes
    ports: tuple[Port, ...] = ()
    args: tuple[str, ...] = ()
    command: tuple[str, ...] = ()
    env: tuple[Mapping[str, Any], ...] = ()
    volume_mounts: tuple[Mapping[str, Any], ...] = ()
    # The root filesystem is read-only; these paths get an emptyDir each.
    scratch_dirs: tuple[str, ...] = ()
    run_as_user: int = NOBODY
    extra: Mapping[str, Any] = field(default_factory=dict)


def _probe(check: Check, *, period: int, timeout: int, failures: int) -> dict[str, Any]:
    probe: dict[str, Any] = {"periodSeconds": period, "timeoutSeconds": timeout, "failureThreshold": failures}
    if isinstance(check, HttpCheck):
        probe["httpGet"] = {"path": check.path, "port": check.port}
    elif isinstance(check, TcpCheck):
        probe["tcpSocket"] = {"port": check.port}
    else:
        probe["exec"] = {"command": list(check.command)}
    return probe


def container_security_context(run_as_user: int = NOBODY) -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": run_as_user,
        "runAsGroup": run_as_user,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_security_context(run_as_user: int = NOBODY, fs_group: int = NOBODY) -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": run_as_user,
        "runAsGroup": run_as_user,
        "fsGroup": fs_group,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _scratch_volume_name(container: str, path: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "root"
    return f"{container}-{slug}"[:63].rstrip("-")


def container(spec: ContainerSpec) -> dict[str, Any]:
    probes = spec.probes
    built: dict[str, Any] = {
        "name": spec.name,
        "image": spec.image,
        "imagePullPolicy": "IfNotPresent",
        "resources": spec.resources.as_kubernetes(),
        "securityContext": container_security_context(spec.run_as_user),
        "livenessProbe": _probe(probes.liveness, period=20, timeout=5, failures=3),
        "readinessProbe": _probe(probes.readiness, period=10, timeout=5, failures=3),
        "volumeMounts": [dict(m) for m in spec.volume_mounts]
        + [{"name": _scratch_volume_name(spec.name, path), "mountPath": path} for path in spec.scratch_dirs],
    }
    if probes.startup is not None:
        built["startupProbe"] = _probe(probes.startup, period=10, timeout=5, failures=max(1, probes.startup_budget_seconds // 10))
    if spec.ports:
        built["ports"] = [{"name": p.name, "containerPort": p.port, "protocol": p.protocol} for p in spec.ports]
    if spec.command:
        built["command"] = list(spec.command)
    if spec.args:
        built["args"] = list(spec.args)
    if spec.env:
        built["env"] = [dict(e) for e in spec.env]
    if not built["volumeMounts"]:
        del built["volumeMounts"]
    built.update(spec.extra)
    return built


def pod_spec(
    *,
    containers: Sequence[ContainerSpec],
    service_account_name: str,
    automount_service_account_token: bool = False,
    volumes: Sequence[Mapping[str, Any]] = (),
    init_containers: Sequence[ContainerSpec] = (),
    run_as_user: int = NOBODY,
    fs_group: int = NOBODY,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A pod spec whose every container is built by ``container``; the API token is mounted only when asked for."""
    if not containers:
        raise ValueError("a pod needs at least one container")
    scratch = [
        {"name": _scratch_volume_name(spec.name, path), "emptyDir": {}}
        for spec in (*init_containers, *containers)
        for path in spec.scratch_dirs
    ]
    spec: dict[str, Any] = {
        "serviceAccountName": service_account_name,
        "automountServiceAccountToken": automount_service_account_token,
        "securityContext": pod_security_context(run_as_user, fs_group),
        "containers": [container(c) for c in containers],
    }
    if init_containers:
        # Init containers run to completion: Kubernetes refuses probes on them.
        spec["initContainers"] = [
            {k: v for k, v in container(c).items() if k not in ("livenessProbe", "readinessProbe", "startupProbe")} for c in init_containers
        ]
    all_volumes = [dict(v) for v in volumes] + scratch
    if all_volumes:
        spec["volumes"] = all_volumes
    if extra:
        spec.update(extra)
    return spec


def pod_template(*, labels: Mapping[str, str], spec: Mapping[str, Any], annotations: Mapping[str, str] | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"labels": dict(labels)}
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {"metadata": metadata, "spec": dict(spec)}
