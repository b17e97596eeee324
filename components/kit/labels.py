"""Labels every object carries, and the labels that tie monitors and rules to this stack's Prometheus."""

from __future__ import annotations

from components.kit.context import StackContext

PART_OF = "observability-stack"
MANAGED_BY = "pulumi"
# Prometheus selects rules and monitors by this label, valued with the stack
# name, so it picks up exactly what this stack creates and nothing else.
STACK_LABEL = "observability.stack/instance"
# Names a component's pods: Services, workloads, NetworkPolicies and monitors select on it.
NAME_LABEL = "app.kubernetes.io/name"


def image_tag(image: str) -> str:
    return image.split("@", 1)[0].rsplit(":", 1)[1]


def selector_labels(component: str, context: StackContext) -> dict[str, str]:
    """The immutable subset used in Deployment/StatefulSet selectors and Services."""
    return {
        NAME_LABEL: component,
        "app.kubernetes.io/instance": f"{component}-{context.stack}",
    }


def standard_labels(component: str, context: StackContext, *, role: str, image: str | None = None) -> dict[str, str]:
    labels = {
        **selector_labels(component, context),
        "app.kubernetes.io/component": role,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "environment": context.environment,
        STACK_LABEL: context.stack,
    }
    if image is not None:
        labels["app.kubernetes.io/version"] = image_tag(image)
    return labels


def stack_selector(context: StackContext) -> dict[str, str]:
    """Labels a PrometheusRule, ServiceMonitor or PodMonitor needs to be selected by this stack's Prometheus."""
    return {STACK_LABEL: context.stack}
