"""Resource options for stateful objects: protected from deletion where the settings ask for it."""

from __future__ import annotations

import pulumi

from components.kit.context import StackContext


def stateful_options(context: StackContext, parent: pulumi.Resource, **kwargs: object) -> pulumi.ResourceOptions:
    """Volumes, StatefulSets and stateful custom resources: protect and keep on delete in protected stacks."""
    protect = context.protect_stateful
    return pulumi.ResourceOptions(parent=parent, protect=protect, retain_on_delete=protect, **kwargs)  # type: ignore[arg-type]
