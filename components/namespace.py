"""The stack's namespaces, created and owned by the stack, each enforcing the strictest Pod Security level its pods allow.

Pod Security admission (built into the API server since Kubernetes 1.25) judges every pod against the
level its namespace names in ``pod-security.kubernetes.io/enforce``; a cluster whose default is baseline or
restricted rejects what a namespace without the label would need. node-exporter reads the node's
processes, network and filesystems (hostPID, hostNetwork, hostPath): only the privileged level admits it,
so it alone runs in ``<namespace>-host``; every other pod of the stack meets restricted, which the stack's
namespace enforces (the deploy test has the API server admit each, docs/deploy-test.md).
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.cluster import SUPPORTED_KUBERNETES
from components.kit.context import StackContext
from components.kit.labels import PART_OF, STACK_LABEL

PSA = "pod-security.kubernetes.io"
RESTRICTED = "restricted"
PRIVILEGED = "privileged"


# The level's definition as of the oldest supported Kubernetes: a cluster upgrade that tightens "latest" does not
# start refusing the stack's pods on their next rollout.
PSA_VERSION = f"v{SUPPORTED_KUBERNETES[0]}"


def pod_security(level: str) -> dict[str, str]:
    """Enforce ``level``; audit and warn at restricted, so anything below it is reported even where admitted."""
    labels = {f"{PSA}/enforce": level, f"{PSA}/audit": RESTRICTED, f"{PSA}/warn": RESTRICTED}
    return labels | {f"{key}-version": PSA_VERSION for key in list(labels)}


def _labels(context: StackContext, level: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": "pulumi",
        "environment": context.environment,
        STACK_LABEL: context.stack,
        **pod_security(level),
    }


def stack_namespace(context: StackContext) -> k8s.core.v1.Namespace:
    """The namespace ``context.namespace`` (restricted), labelled with the environment and the stack, protected with the volumes."""
    return k8s.core.v1.Namespace(
        "namespace",
        metadata={"name": context.namespace, "labels": _labels(context, RESTRICTED)},
        # Deleting a namespace deletes every claim in it: kept like the volumes themselves.
        opts=pulumi.ResourceOptions(protect=context.protect_stateful, retain_on_delete=context.protect_stateful),
    )


def host_namespace(context: StackContext) -> k8s.core.v1.Namespace:
    """The namespace ``context.host_namespace`` (privileged) of the host-level collectors; protected like the stack's
    (a namespace's deletion takes everything in it)."""
    return k8s.core.v1.Namespace(
        "host-namespace",
        metadata={"name": context.host_namespace, "labels": _labels(context, PRIVILEGED)},
        opts=pulumi.ResourceOptions(protect=context.protect_stateful, retain_on_delete=context.protect_stateful),
    )
