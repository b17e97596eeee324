"""A component serving one of the stack's endpoints (components/wiring/endpoints.py): the container that
listens on it, probed on its health paths; the Deployment that runs its pods; the Service in front of
them, forwarding by port name."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import pulumi
import pulumi_kubernetes as k8s

from components.kit.context import ResourceAmounts
from components.kit.workload import ContainerSpec, Port, Probes, pod_template
from components.wiring.endpoints import Endpoint


class ContainerSection(Protocol):
    """The settings of one container: a pinned image and its resources."""

    @property
    def image(self) -> str: ...
    @property
    def resources(self) -> ResourceAmounts: ...


def serving_container(name: str, config: ContainerSection, endpoint: Endpoint, **fields: Any) -> ContainerSpec:
    """The container ``name`` listening on ``endpoint`` (its one port), probed on the endpoint's health paths;
    ``fields`` are the rest of the ContainerSpec (args, mounts, ...)."""
    return ContainerSpec(
        name=name,
        image=config.image,
        resources=config.resources,
        probes=Probes.http(endpoint),
        ports=(Port(endpoint.port_name, endpoint.port),),
        **fields,
    )


def deployment(
    name: str,
    *,
    metadata: Mapping[str, Any],
    replicas: int,
    selector: Mapping[str, str],
    pod: Mapping[str, Any],
    depends_on: Sequence[pulumi.Resource],
    parent: pulumi.Resource,
    strategy: Mapping[str, Any] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> k8s.apps.v1.Deployment:
    """The Deployment ``name`` of ``replicas`` pods (spec ``pod``, from components.kit.workload.pod_spec) carrying the
    labels of ``metadata`` and the pod ``annotations``; ``strategy`` replaces the rolling update."""
    spec: dict[str, Any] = {"replicas": replicas}
    if strategy is not None:
        spec["strategy"] = dict(strategy)
    spec["selector"] = {"matchLabels": dict(selector)}
    spec["template"] = pod_template(labels=metadata["labels"], spec=pod, annotations=annotations)
    return k8s.apps.v1.Deployment(name, metadata=dict(metadata), spec=spec, opts=pulumi.ResourceOptions(parent=parent, depends_on=list(depends_on)))


def service_ports(endpoints: Sequence[Endpoint]) -> list[dict[str, Any]]:
    """Each endpoint's port, sent to the container port of the same name (so a port number lives only in the pod)."""
    return [{"name": endpoint.port_name, "port": endpoint.port, "targetPort": endpoint.port_name} for endpoint in endpoints]


def service(
    name: str,
    *,
    metadata: Mapping[str, Any],
    selector: Mapping[str, str],
    endpoints: Sequence[Endpoint],
    parent: pulumi.Resource,
) -> k8s.core.v1.Service:
    """A ClusterIP Service ``name`` (also its metadata name; namespace and labels from ``metadata``) selecting ``selector``."""
    return k8s.core.v1.Service(
        name,
        metadata={**metadata, "name": name},
        spec={"selector": dict(selector), "ports": service_ports(endpoints)},
        opts=pulumi.ResourceOptions(parent=parent),
    )
