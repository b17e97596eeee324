"""Persistent volumes that grow in place when their size setting grows (see docs/data-safety.md).

A PersistentVolumeClaim's storage request is the one field of its spec that
Kubernetes lets change, and Pulumi updates it in place. A StatefulSet's
volumeClaimTemplates cannot change at all: Pulumi would replace the
StatefulSet, and the Prometheus Operator deletes and recreates its StatefulSet
(foreground, so every replica stops at once). So each replica's claim is made
here, by the name the StatefulSet controller looks for, and the template's
size is left as first created (``ignore_changes``): the claim is where a new
size lands.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.protection import stateful_options
from components.settings import Settings
from components.settings.types import Storage

# Fields whose change would replace a StatefulSet or make the operator recreate it.
STATEFULSET_TEMPLATES = "spec.volumeClaimTemplates"
OPERATOR_STORAGE = "spec.storage"


def claim_spec(storage: Storage) -> dict[str, Any]:
    """The spec of a ReadWriteOnce claim, also used in volume claim templates."""
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": storage.size}}}
    if storage.storage_class:
        spec["storageClassName"] = storage.storage_class
    return spec


def claim(
    name: str,
    settings: Settings,
    storage: Storage,
    *,
    labels: Mapping[str, str],
    parent: pulumi.Resource,
    annotations: Mapping[str, str] | None = None,
) -> k8s.core.v1.PersistentVolumeClaim:
    """A claim owned by the stack: protected in protected stacks, resized in place."""
    metadata: dict[str, Any] = {"name": name, "namespace": settings.namespace, "labels": dict(labels)}
    if annotations:
        metadata["annotations"] = dict(annotations)
    return k8s.core.v1.PersistentVolumeClaim(name, metadata=metadata, spec=claim_spec(storage), opts=stateful_options(settings, parent))


def statefulset_claim_name(template: str, statefulset: str, ordinal: int) -> str:
    """The name the StatefulSet controller gives (and looks for) for one replica's volume."""
    return f"{template}-{statefulset}-{ordinal}"


def replica_claims(
    settings: Settings,
    storage: Storage,
    *,
    template: str,
    statefulset: str,
    replicas: int,
    labels: Mapping[str, str],
    parent: pulumi.Resource,
) -> list[k8s.core.v1.PersistentVolumeClaim]:
    """One claim per replica, made before the StatefulSet so its controller adopts them.

    Make the StatefulSet (or the Prometheus/Alertmanager resource) depend on
    these, and give it ``ignore_changes`` on its template (STATEFULSET_TEMPLATES
    or OPERATOR_STORAGE).
    """
    return [
        claim(
            statefulset_claim_name(template, statefulset, ordinal),
            settings,
            storage,
            labels=labels,
            parent=parent,
            # Bound only when the StatefulSet's pod arrives, which comes after this claim.
            annotations={"pulumi.com/skipAwait": "true"},
        )
        for ordinal in range(replicas)
    ]
