"""What every rendered workload must satisfy; used over every object of every stack."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from components.settings.units import cpu_cores, quantity_bytes

POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}
HARDENED_CONTAINER = {
    "runAsNonRoot": True,
    "readOnlyRootFilesystem": True,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def pod_specs(manifest: dict[str, Any]) -> Iterator[dict[str, Any]]:
    kind = manifest.get("kind")
    if kind in POD_TEMPLATE_KINDS:
        yield manifest["spec"]["template"]["spec"]
    elif kind == "CronJob":
        yield manifest["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    elif kind == "Pod":
        yield manifest["spec"]


def _image_problem(image: str) -> str | None:
    name = image.split("@", 1)[0]
    if ":" not in name.rsplit("/", 1)[-1]:
        return f"image {image} has no tag"
    if name.rsplit(":", 1)[1] == "latest":
        return f"image {image} uses 'latest'"
    return None


def resource_problems(resources: dict[str, Any]) -> list[str]:
    """Both requests and limits for CPU and memory, each request at most its limit."""
    problems = [
        f"no {bound}.{name}" for bound in ("requests", "limits") for name in ("cpu", "memory") if not (resources.get(bound) or {}).get(name)
    ]
    if not problems:
        if cpu_cores(str(resources["requests"]["cpu"])) > cpu_cores(str(resources["limits"]["cpu"])):
            problems.append("cpu request above limit")
        if quantity_bytes(str(resources["requests"]["memory"])) > quantity_bytes(str(resources["limits"]["memory"])):
            problems.append("memory request above limit")
    return problems


def container_violations(container: dict[str, Any]) -> list[str]:
    problems = resource_problems(container.get("resources") or {})
    for probe in ("livenessProbe", "readinessProbe"):
        if not container.get(probe):
            problems.append(f"no {probe}")
    context = container.get("securityContext") or {}
    for key, wanted in HARDENED_CONTAINER.items():
        if context.get(key) != wanted:
            problems.append(f"securityContext.{key} is {context.get(key)!r}, wanted {wanted!r}")
    if context.get("privileged"):
        problems.append("privileged container")
    image_problem = _image_problem(container.get("image", ""))
    if image_problem:
        problems.append(image_problem)
    return [f"container {container.get('name')}: {p}" for p in problems]


def workload_violations(manifest: dict[str, Any]) -> list[str]:
    problems = []
    for spec in pod_specs(manifest):
        context = spec.get("securityContext") or {}
        if context.get("runAsNonRoot") is not True:
            problems.append("pod securityContext.runAsNonRoot is not true")
        if (context.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
            problems.append("pod seccompProfile is not RuntimeDefault")
        for container in spec.get("containers", []):
            problems += container_violations(container)
        if not spec.get("containers"):
            problems.append("pod has no containers")
    return problems


# Custom resources whose pods the Prometheus Operator builds from the resource's spec.
OPERATOR_WORKLOAD_KINDS = {"Prometheus", "Alertmanager"}


def operator_workload_violations(manifest: dict[str, Any]) -> list[str]:
    """Requests and limits, a non-root RuntimeDefault pod context and a pinned image on a Prometheus/Alertmanager resource."""
    spec = manifest.get("spec") or {}
    problems = resource_problems(spec.get("resources") or {})
    context = spec.get("securityContext") or {}
    if context.get("runAsNonRoot") is not True:
        problems.append("securityContext.runAsNonRoot is not true")
    if (context.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        problems.append("securityContext.seccompProfile is not RuntimeDefault")
    image_problem = _image_problem(spec.get("image", ""))
    if image_problem:
        problems.append(image_problem)
    return problems
