"""Availability of replicated components: disruption budgets and spreading replicas apart.

Both apply only to a component with two or more replicas. A budget on a single
pod can only either block every node drain (minAvailable 1) or allow the one
pod to go (maxUnavailable 1, the same as no budget), so none is made.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.kit.context import StackContext

NODE_KEY = "kubernetes.io/hostname"
ZONE_KEY = "topology.kubernetes.io/zone"


def spread(selector: Mapping[str, str], replicas: int, context: StackContext) -> dict[str, Any]:
    """Pod-spec fields (also valid in a Prometheus or Alertmanager spec) that keep replicas apart.

    Nodes: pod anti-affinity, so ``required`` means never two replicas on one node.
    Zones: a topology spread constraint with a skew of one.
    """
    if replicas < 2:
        return {}
    availability = context.availability
    fields: dict[str, Any] = {}
    term = {"labelSelector": {"matchLabels": dict(selector)}, "topologyKey": NODE_KEY}
    if availability.node_spread == "required":
        fields["affinity"] = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}
    elif availability.node_spread == "preferred":
        fields["affinity"] = {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "podAffinityTerm": term}]}}
    if availability.zone_spread != "off":
        fields["topologySpreadConstraints"] = [
            {
                "maxSkew": 1,
                "topologyKey": ZONE_KEY,
                "whenUnsatisfiable": "DoNotSchedule" if availability.zone_spread == "required" else "ScheduleAnyway",
                "labelSelector": {"matchLabels": dict(selector)},
            }
        ]
    return fields


def disruption_budget(
    name: str,
    context: StackContext,
    *,
    replicas: int,
    selector: Mapping[str, str],
    labels: Mapping[str, str],
    parent: pulumi.Resource,
) -> k8s.policy.v1.PodDisruptionBudget | None:
    """A PodDisruptionBudget for a component with two or more replicas; None otherwise."""
    if replicas < 2:
        return None
    return k8s.policy.v1.PodDisruptionBudget(
        name,
        metadata={"name": name, "namespace": context.namespace, "labels": dict(labels)},
        spec={
            "maxUnavailable": context.availability.max_unavailable,
            "selector": {"matchLabels": dict(selector)},
            # A pod that is not ready serves nothing: let a drain evict it rather than hang.
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
        opts=pulumi.ResourceOptions(parent=parent),
    )
