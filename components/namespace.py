"""The stack's namespace, created and owned by the stack."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.kit.labels import PART_OF, STACK_LABEL
from components.settings import Settings


def stack_namespace(settings: Settings) -> k8s.core.v1.Namespace:
    return k8s.core.v1.Namespace(
        "namespace",
        metadata={
            "name": settings.namespace,
            "labels": {
                "app.kubernetes.io/part-of": PART_OF,
                "app.kubernetes.io/managed-by": "pulumi",
                "environment": settings.environment,
                STACK_LABEL: settings.stack,
            },
        },
        # Deleting a namespace deletes every claim in it: kept like the volumes themselves.
        opts=pulumi.ResourceOptions(protect=settings.protect_stateful, retain_on_delete=settings.protect_stateful),
    )
