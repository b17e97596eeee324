"""A workload the Prometheus Operator runs: a monitoring.coreos.com/v1 custom resource (Prometheus,
Alertmanager) that the operator turns into a StatefulSet, and the objects around it the stack owns.

Registered under the component in this order: the pods' ServiceAccount; whatever the component
adds (RBAC, Secrets); one claim per replica (components/kit/volumes.py); the custom resource,
protected like stateful data; its Service; and, from two replicas on, its disruption budget.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pulumi
import pulumi_kubernetes as k8s

from components.kit.availability import disruption_budget, spread
from components.kit.context import HttpEndpoint, StackContext, StorageRequest, WorkloadSection
from components.kit.labels import NAME_LABEL, image_tag, stack_selector, standard_labels
from components.kit.objects import ComponentMeta, service
from components.kit.protection import stateful_options
from components.kit.rbac import account
from components.kit.volumes import claim_spec, replica_claims
from components.kit.workload import Port, pod_security_context

MONITORING_GROUP = "monitoring.coreos.com"
API_VERSION = f"{MONITORING_GROUP}/v1"
# Changing the claim template makes the operator delete and recreate the StatefulSet (every replica
# at once) and still leaves the existing volumes at their old size. The stack owns each replica's
# claim instead (components/kit/volumes.py) and grows it in place, so later size changes are not sent
# to the resource (docs/data-safety.md).
KEEP_VOLUME_SIZE = "spec.storage.volumeClaimTemplate.spec.resources"


class OperatedSection(WorkloadSection, Protocol):
    """The settings every operated workload reads: a workload's (image, replicas, resources) and each replica's volume."""

    @property
    def storage(self) -> StorageRequest: ...


@dataclass(frozen=True)
class OperatedKind:
    """What a component declares about its operated resource (Prometheus or Alertmanager).

    ``kind``: the custom resource's kind; ``name``: its name, which its ServiceAccount and Service share
    (components/kit/objects.py); ``statefulset``: the name the operator gives its StatefulSet
    (components/wiring/endpoints.py, which also builds the replicas' URLs from it);
    ``role``: the app.kubernetes.io/component label; ``name_label``: the label in which the operator gives
    the resource's pods its name (it differs by kind); ``endpoint``: what the Service exposes.
    """

    kind: str
    name: str
    statefulset: str
    role: str
    name_label: str
    endpoint: HttpEndpoint

    @property
    def pod_selector(self) -> dict[str, str]:
        """The labels the operator puts on the resource's pods: the kind in lower case and the resource's name."""
        return {NAME_LABEL: self.kind.lower(), self.name_label: self.name}

    @property
    def volume(self) -> str:
        """The name of each replica's volume claim template."""
        return f"{self.name}-data"



def object_selector(context: StackContext) -> dict[str, Any]:
    """Selects the stack's own objects (rules, monitors, AlertmanagerConfigs) by its stack label."""
    return {"matchLabels": dict(stack_selector(context))}


def selected_metadata(name: str, context: StackContext, *, role: str) -> dict[str, Any]:
    """Metadata of an object ``name`` in the stack's namespace that :func:`object_selector` selects."""
    return {"name": name, "namespace": context.namespace, "labels": {**standard_labels(name, context, role=role), **stack_selector(context)}}


def namespace_selector(context: StackContext) -> dict[str, Any]:
    """Selects the stack's namespace; the API server sets this label on every namespace (Kubernetes 1.21+)."""
    return {"matchLabels": {"kubernetes.io/metadata.name": context.namespace}}


def volume_claim_template(name: str, storage: StorageRequest) -> dict[str, Any]:
    """The resource's ``storage.volumeClaimTemplate``: the claim each replica's pod mounts."""
    return {"metadata": {"name": name}, "spec": claim_spec(storage)}


class OperatedWorkload:
    """The objects around one operated resource, registered under ``parent``.

    Creating it registers the pods' ServiceAccount (``account``); the component then registers what its
    resource needs and calls :meth:`register` with the spec (:meth:`spec` plus its own fields).
    ``storage_key`` is the storage setting's config key, named when a claim's class cannot change.
    """

    def __init__(self, kind: OperatedKind, config: OperatedSection, context: StackContext, *, storage_key: str, parent: pulumi.Resource) -> None:
        self.kind = kind
        self.config = config
        self.context = context
        self.storage_key = storage_key
        self.parent = parent
        # The operator's labels select the pods; every object carries the standard labels.
        self.meta = ComponentMeta(kind.name, context.namespace, standard_labels(kind.name, context, role=kind.role, image=config.image), kind.pod_selector)
        self.account = account(self.meta, parent)

    def spec(self, *, api_token: bool) -> dict[str, Any]:
        """The spec fields every operated resource has: image, replicas, identity, resources, security, storage, spread.

        ``api_token``: whether the pods mount the account's API token (only a pod that calls the Kubernetes API needs it).
        """
        kind, config = self.kind, self.config
        return {
            "image": config.image,
            "version": image_tag(config.image),
            "replicas": config.replicas,
            "serviceAccountName": kind.name,
            "automountServiceAccountToken": api_token,
            "podMetadata": {"labels": dict(self.meta.labels)},
            "resources": config.resources.as_kubernetes(),
            "securityContext": pod_security_context(),
            "storage": {"volumeClaimTemplate": volume_claim_template(kind.volume, config.storage)},
            **spread(kind.pod_selector, config.replicas, self.context),
        }

    def register(self, spec: Mapping[str, Any], *, depends_on: Sequence[pulumi.Resource] = ()) -> tuple[k8s.apiextensions.CustomResource, k8s.core.v1.Service]:
        """Register each replica's claim, the resource (after the account, ``depends_on`` and the claims), its Service
        and its disruption budget; returns the resource and the Service."""
        kind, config, meta, parent = self.kind, self.config, self.meta, self.parent
        claims = replica_claims(
            self.context, config.storage, self.storage_key,
            template=kind.volume, statefulset=kind.statefulset, replicas=config.replicas, labels=meta.labels, parent=parent
        )
        resource = k8s.apiextensions.CustomResource(
            kind.name,
            api_version=API_VERSION,
            kind=kind.kind,
            metadata=meta.metadata(),
            spec=dict(spec),
            opts=stateful_options(self.context, parent, depends_on=[self.account.resource, *depends_on, *claims], ignore_changes=[KEEP_VOLUME_SIZE]),
        )
        # The replicas of an operated resource do not share data (two Prometheus scrape at different instants,
        # Alertmanager silences spread by gossip): readers go through this Service, sticky to one replica, not the
        # operator's headless `<kind>-operated` (prometheus-operator/prometheus-operator#2203).
        endpoint = service(meta, [Port.of(kind.endpoint)], parent, sticky=True)
        disruption_budget(kind.name, self.context, replicas=config.replicas, selector=meta.selector, labels=meta.labels, parent=parent)
        return resource, endpoint
