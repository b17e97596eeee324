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

from components.kit.context import StackContext, StorageRequest
from components.kit.protection import stateful_options

# pulumi-kubernetes skips its readiness wait for an object carrying this annotation (provider/pkg/await:
# Deployments, StatefulSets, DaemonSets, Jobs, Pods, Services, claims, Ingresses).
SKIP_AWAIT = "pulumi.com/skipAwait"

# Fields whose change would replace a StatefulSet or make the operator recreate it.
STATEFULSET_TEMPLATES = "spec.volumeClaimTemplates"
OPERATOR_STORAGE = "spec.storage"
# Kubernetes cannot change an existing claim's class, so the Kubernetes provider would replace
# the claim (a delete of the volume): the claim keeps its class and a different one is refused.
CLAIM_CLASS = "spec.storageClassName"
STORAGE_CLASS_PROCEDURE = "docs/data-safety.md#changing-a-storage-class"


class StorageClassChangeError(pulumi.RunError):
    """The settings name another storage class than an existing claim has; shown without a traceback."""


def storage_class_problem(key: str, claim_name: str, wanted: str | None, live: str | None) -> str | None:
    """Why ``wanted`` cannot apply to the claim that has class ``live``; None when it can (or nothing is set)."""
    if not wanted or not live or wanted == live:
        return None
    return (
        f"refusing {key} = '{wanted}': the claim {claim_name} exists with storage class '{live}', and Kubernetes "
        f"cannot change a claim's class (replacing the claim would delete its volume). The claim keeps '{live}'. "
        f"Set {key} back to '{live}', or move the data to a '{wanted}' volume first: {STORAGE_CLASS_PROCEDURE}."
    )


# The output when the claim names no class (the cluster's default class, if it has one, is used).
NO_CLASS = "(default)"


def _checked_class(key: str, claim_name: str, wanted: str | None, spec: Any) -> str:
    live = getattr(spec, "storage_class_name", None) if spec is not None else None
    problem = storage_class_problem(key, claim_name, wanted, live)
    if problem is not None:
        raise StorageClassChangeError(problem)
    return live or NO_CLASS


def claim_spec(storage: StorageRequest) -> dict[str, Any]:
    """The spec of a ReadWriteOnce claim, also used in volume claim templates."""
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": storage.size}}}
    if storage.storage_class:
        spec["storageClassName"] = storage.storage_class
    return spec


def claim(
    name: str,
    context: StackContext,
    storage: StorageRequest,
    storage_key: str,
    *,
    labels: Mapping[str, str],
    parent: pulumi.Resource,
    annotations: Mapping[str, str] | None = None,
) -> k8s.core.v1.PersistentVolumeClaim:
    """A claim owned by the stack: protected in protected stacks, resized in place."""
    metadata: dict[str, Any] = {"name": name, "namespace": context.namespace, "labels": dict(labels)}
    if annotations:
        metadata["annotations"] = dict(annotations)
    volume = k8s.core.v1.PersistentVolumeClaim(
        name, metadata=metadata, spec=claim_spec(storage), opts=stateful_options(context, parent, ignore_changes=[CLAIM_CLASS])
    )
    # The class the claim really has (with the change ignored, the existing claim's): a stack output,
    # so a different class in the settings fails preview and up with the key and the procedure.
    key = f"{storage_key}.storageClass"
    pulumi.export(f"storageClass/{name}", volume.spec.apply(lambda spec: _checked_class(key, name, storage.storage_class, spec)))
    return volume


def statefulset_claim_name(template: str, statefulset: str, ordinal: int) -> str:
    """The name the StatefulSet controller gives (and looks for) for one replica's volume."""
    return f"{template}-{statefulset}-{ordinal}"


def replica_claims(
    context: StackContext,
    storage: StorageRequest,
    storage_key: str,
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
            context,
            storage,
            storage_key,
            labels=labels,
            parent=parent,
            # Bound only when the StatefulSet's pod arrives, which comes after this claim.
            annotations={SKIP_AWAIT: "true"},
        )
        for ordinal in range(replicas)
    ]
