"""The plain objects around one component's pods: their metadata, ServiceAccount and Services.

Every component names its objects after itself, labels them with the standard labels and selects its
pods by the selector labels; these helpers write those facts once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.kit.context import StackContext
from components.kit.labels import selector_labels, standard_labels
from components.kit.workload import Port


@dataclass(frozen=True)
class ComponentMeta:
    """One component's name, namespace, standard labels (every object) and selector labels (its pods)."""

    name: str
    namespace: str
    labels: Mapping[str, str]
    selector: Mapping[str, str]

    @classmethod
    def of(cls, name: str, context: StackContext, *, role: str, image: str | None = None) -> ComponentMeta:
        """``role`` is the app.kubernetes.io/component label; ``image`` gives the version label."""
        return cls(name, context.namespace, standard_labels(name, context, role=role, image=image), selector_labels(name, context))

    def metadata(self, name: str | None = None, *, annotations: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Object metadata named ``name`` (default: the component's); ``annotations`` are set when given, even empty."""
        metadata: dict[str, Any] = {"name": name or self.name, "namespace": self.namespace, "labels": dict(self.labels)}
        if annotations is not None:
            metadata["annotations"] = dict(annotations)
        return metadata


def service_account(
    meta: ComponentMeta, parent: pulumi.Resource, *, annotations: Mapping[str, str] | None = None
) -> k8s.core.v1.ServiceAccount:
    """The component's ServiceAccount; its API token is mounted only where a pod spec asks for it."""
    return k8s.core.v1.ServiceAccount(
        meta.name, metadata=meta.metadata(annotations=annotations), automount_service_account_token=False, opts=pulumi.ResourceOptions(parent=parent)
    )


def service_ports(ports: Sequence[Port]) -> list[dict[str, Any]]:
    """Service ports that publish each container port under its own name and number."""
    return [{"name": p.name, "port": p.port, "targetPort": p.name} for p in ports]


def service(
    meta: ComponentMeta, ports: Sequence[Port], parent: pulumi.Resource, *, name: str | None = None, headless: bool = False, sticky: bool = False
) -> k8s.core.v1.Service:
    """A Service (named ``name``, default the component's) selecting the component's pods.

    ``headless`` gives one DNS record per ready pod instead of a virtual IP: for StatefulSet pod names
    and for clients that spread load over the pods themselves. ``sticky`` sends every connection of one
    client address to the same ready pod (``sessionAffinity: ClientIP``): for reads of replicas that hold
    different data, so one reader sees one replica's answers (docs/metrics.md, "Reads from replicas").
    """
    spec: dict[str, Any] = {"selector": dict(meta.selector), "ports": service_ports(ports)}
    if headless:
        spec = {"clusterIP": "None", **spec}
    if sticky:
        # kube-proxy keeps a client on its pod until the pod leaves the Service's ready endpoints or the
        # client is idle for the Kubernetes default timeout (sessionAffinityConfig.clientIP, 3 hours).
        spec["sessionAffinity"] = "ClientIP"
    resource_name = name or meta.name
    return k8s.core.v1.Service(resource_name, metadata=meta.metadata(resource_name), spec=spec, opts=pulumi.ResourceOptions(parent=parent))
