"""The stack's namespace, created and owned by the stack."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.kit.context import StackContext
from components.kit.labels import PART_OF, STACK_LABEL


def stack_namespace(context: StackContext) -> k8s.core.v1.Namespace:
    """The namespace ``context.namespace``, labelled with the environment and the stack, protected with the volumes."""
    return k8s.core.v1.Namespace(
        "namespace",
        metadata={
            "name": context.namespace,
            "labels": {
                "app.kubernetes.io/part-of": PART_OF,
                "app.kubernetes.io/managed-by": "pulumi",
                "environment": context.environment,
                STACK_LABEL: context.stack,
            },
        },
        # Deleting a namespace deletes every claim in it: kept like the volumes themselves.
        opts=pulumi.ResourceOptions(protect=context.protect_stateful, retain_on_delete=context.protect_stateful),
    )
