"""What every component shares about its stack, and the shapes kit helpers read from a settings section.

Components receive their own settings section plus a :class:`StackContext`; kit helpers take only the
fields they use. The shapes below are Protocols so that kit never imports the settings model: any object
with these attributes (the validated settings sections are such objects) is accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

SpreadMode = Literal["off", "preferred", "required"]


class AvailabilityPolicy(Protocol):
    """How replicas of every component are kept apart and how many may be disrupted at once."""

    @property
    def max_unavailable(self) -> int: ...
    @property
    def node_spread(self) -> SpreadMode: ...
    @property
    def zone_spread(self) -> SpreadMode: ...


class StorageRequest(Protocol):
    """A persistent volume request: a Kubernetes quantity (``50Gi``) and an optional storage class."""

    @property
    def size(self) -> str: ...
    @property
    def storage_class(self) -> str | None: ...


# <namespace>-host: see StackContext.host_namespace.
HOST_NAMESPACE_SUFFIX = "-host"


@dataclass(frozen=True)
class StackContext:
    """The stack-wide facts a component needs beside its own section.

    ``stack`` is the Pulumi stack name (the stack label's value), ``environment`` one of dev, staging or
    prod, ``namespace`` the stack's Kubernetes namespace, ``protect_stateful`` whether volumes and stateful
    custom resources are protected from deletion, ``availability`` the spread and disruption policy.
    """

    stack: str
    environment: str
    namespace: str
    protect_stateful: bool
    availability: AvailabilityPolicy

    @property
    def host_namespace(self) -> str:
        """The namespace of the collectors that need the node's own namespaces and files (node-exporter): the
        one namespace of the stack whose Pod Security level is privileged (components/namespace.py)."""
        return f"{self.namespace}{HOST_NAMESPACE_SUFFIX}"


class HttpEndpoint(Protocol):
    """A named port serving HTTP and the paths that answer readiness and liveness (an Endpoint of
    components/wiring/endpoints.py)."""

    @property
    def port(self) -> int: ...
    @property
    def port_name(self) -> str: ...
    @property
    def ready_path(self) -> str: ...
    @property
    def liveness_path(self) -> str: ...


class ResourceAmounts(Protocol):
    """A container's requests and limits, as the Kubernetes ``resources`` field."""

    def as_kubernetes(self) -> dict[str, dict[str, str]]: ...


class ObjectStore(Protocol):
    """A bucket on S3 (or an S3-compatible store) or GCS, and where its credentials come from.

    ``service_account_annotations`` go on the ServiceAccount of the pods that use the bucket
    (workload identity: eks.amazonaws.com/role-arn, iam.gke.io/gcp-service-account).
    """

    @property
    def backend(self) -> str: ...
    @property
    def bucket(self) -> str: ...
    @property
    def region(self) -> str | None: ...
    @property
    def endpoint(self) -> str | None: ...
    @property
    def insecure(self) -> bool: ...
    @property
    def credentials(self) -> str: ...
    @property
    def service_account_annotations(self) -> Mapping[str, str]: ...


class WorkloadSection(Protocol):
    """A workload's settings: its pinned image, replica count and container resources."""

    @property
    def image(self) -> str: ...
    @property
    def replicas(self) -> int: ...
    @property
    def resources(self) -> ResourceAmounts: ...


class StoreSection(WorkloadSection, Protocol):
    """A single-binary store's settings (Loki, Tempo): a workload with a volume and an optional bucket."""

    @property
    def storage(self) -> StorageRequest: ...
    @property
    def object_storage(self) -> ObjectStore | None: ...
