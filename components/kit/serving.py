"""A component serving one of the stack's endpoints from a Deployment: the container that listens on the
endpoint, probed on its health paths, and the Deployment that runs the component's pods."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.kit.context import HttpEndpoint, WorkloadSection
from components.kit.objects import ComponentMeta
from components.kit.workload import ContainerSpec, Port, Probes, pod_template


def serving_container(name: str, config: WorkloadSection, endpoint: HttpEndpoint, **fields: Any) -> ContainerSpec:
    """The container ``name`` (image and resources from ``config``) listening on ``endpoint``, its one port,
    and probed on the endpoint's health paths; ``fields`` are the rest of the ContainerSpec (args, mounts, ...)."""
    return ContainerSpec(name=name, image=config.image, resources=config.resources, probes=Probes.http(endpoint), ports=(Port.of(endpoint),), **fields)


def deployment(
    meta: ComponentMeta,
    *,
    replicas: int,
    pod: Mapping[str, Any],
    depends_on: Sequence[pulumi.Resource],
    parent: pulumi.Resource,
    strategy: Mapping[str, Any] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> k8s.apps.v1.Deployment:
    """The component's Deployment: ``replicas`` pods (spec ``pod``, from components.kit.workload.pod_spec) with its
    labels and the pod ``annotations``, selected by its selector labels; ``strategy`` replaces the rolling update."""
    spec: dict[str, Any] = {"replicas": replicas}
    if strategy is not None:
        spec["strategy"] = dict(strategy)
    spec["selector"] = {"matchLabels": dict(meta.selector)}
    spec["template"] = pod_template(labels=meta.labels, spec=pod, annotations=annotations)
    return k8s.apps.v1.Deployment(meta.name, metadata=meta.metadata(), spec=spec, opts=pulumi.ResourceOptions(parent=parent, depends_on=list(depends_on)))
